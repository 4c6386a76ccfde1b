/**
 * The approval gate in pull-request mode (docs/design.md#approval-by-pull-request):
 * the human decision is a merged pull request that adds this decision's
 * approvals file. What makes that a gate is what GitHub refuses: the default
 * branch's ruleset blocks a merge without the required code-owner approvals
 * of the last push, dismisses approvals on a later push, and nobody may
 * bypass it; only the App may write the bot's branches. The gate reads all of
 * that back through GitHub's API before any key is read, and refuses on any
 * doubt with one line naming the check and its fix.
 */
import type { Octokit } from "@octokit/rest";
import { approvalBranch, approvalFilePath, type ApprovalKind } from "./engine/approval-files";
import { countApprovals, reviewRuleGaps } from "./engine/approval-count";
import { readApprovalFile } from "./engine/approval-request";
import { CODEOWNERS_PATHS, codeownersFor } from "./engine/codeowners";

export interface PullRequestGate {
  octokit: Octokit;
  owner: string;
  repo: string;
  defaultBranch: string;
  domain: string;
  kind: ApprovalKind;
  /** The approvals file's selector (a rollback's target); the workflow passes it. */
  selector?: string;
  requiredApprovals: number;
  /** The commit the job runs at (its OIDC token's `sha`), on the default branch. */
  sha?: string;
  /**
   * The fingerprint of the stored key this job would act on (its public
   * half, read from the key store's metadata, not the private key): the
   * approved file must name the same key.
   */
  fingerprint?: string;
}

type Refuse = (what: string, fix: string) => never;

/**
 * What the gate's token needs to see a ruleset's `bypass_actors`: GitHub
 * returns them "only if the user making the API request has write access to
 * the ruleset", and editing a ruleset needs Administration write
 * (docs/design.md#gate-token).
 */
export const GATE_TOKEN_PERMISSION = "Administration: write";

export function statusOf(err: unknown): string {
  const s = (err as { status?: unknown }).status;
  return typeof s === "number" ? String(s) : "error";
}

/** Confirms the merged, reviewed request PR; returns what it confirmed, or refuses. */
export async function confirmPullRequestApproval(
  g: PullRequestGate,
  refuse: Refuse,
): Promise<string> {
  const { octokit, owner, repo, defaultBranch } = g;
  const at = { owner, repo };
  if (!g.selector)
    return refuse(
      "pull-request mode needs the selector whose approvals file was merged",
      "pass the selector input (the request's workflow passes it from the merged file)",
    );
  const path = approvalFilePath(g.domain, g.selector, g.kind);
  const branch = approvalBranch(g.domain, g.selector, g.kind);
  const read = async <T>(what: string, fix: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      return refuse(`cannot read ${what} (${statusOf(err)})`, fix);
    }
  };
  const contentsFix = "give the job `permissions: contents: read`";

  // 1. The commit that added the file, on the default branch at the job's commit.
  const history = await read(
    `the history of ${path}`,
    contentsFix,
    async () =>
      (
        await octokit.rest.repos.listCommits({
          ...at,
          sha: g.sha ?? defaultBranch,
          path,
          per_page: 1,
        })
      ).data,
  );
  const added = history[0]?.sha;
  if (!added)
    return refuse(
      `${path} is not on ${defaultBranch}`,
      `merge the approval request PR from ${branch} (the verify job opens it)`,
    );
  const commit = await read(
    `commit ${added.slice(0, 7)}`,
    contentsFix,
    async () => (await octokit.rest.repos.getCommit({ ...at, ref: added })).data,
  );
  const files = commit.files ?? [];
  const mine = files.find((f) => f.filename === path);
  if (mine?.status !== "added" || files.length !== 1)
    return refuse(
      `commit ${added.slice(0, 7)}, the last to touch ${path}, ${
        mine?.status === "added"
          ? `also changes ${files
              .filter((f) => f !== mine)
              .map((f) => f.filename)
              .join(", ")}`
          : `${mine?.status ?? "changes"} it instead of adding it alone`
      }`,
      `revert that commit; an approvals file is added only by merging the bot's request PR from ${branch}`,
    );

  // 1b. The approved file names the key this job acts on: an approval of one
  // key never carries out another (docs/design.md#approval-by-pull-request).
  if (g.fingerprint !== undefined) {
    const approved = await read(
      `${path} at ${added.slice(0, 7)}`,
      contentsFix,
      async () => (await octokit.rest.repos.getContent({ ...at, path, ref: added })).data,
    );
    const file = readApprovalFile(
      Buffer.from((approved as { content?: string }).content ?? "", "base64").toString("utf8"),
    );
    if (file?.fingerprint !== g.fingerprint)
      return refuse(
        `${path} approves key ${file?.fingerprint.slice(0, 19) ?? "(unreadable)"}…, not the stored key of ${g.selector} (${g.fingerprint.slice(0, 19)}…)`,
        `revert ${added.slice(0, 7)}; the verify job then asks again for the stored key`,
      );
  }

  // 2. That commit is the merge of a PR from the bot's branch into the default branch.
  const pulls = await read(
    `the pull requests of ${added.slice(0, 7)}`,
    contentsFix,
    async () =>
      (await octokit.rest.repos.listPullRequestsAssociatedWithCommit({ ...at, commit_sha: added }))
        .data,
  );
  const pr = pulls.find(
    (p) => p.merged_at && p.merge_commit_sha === added && p.base.ref === defaultBranch,
  );
  if (!pr)
    return refuse(
      `${path} was added by commit ${added.slice(0, 7)}, which is not the merge of a pull request`,
      `revert ${added.slice(0, 7)} and approve through the bot's request PR from ${branch}`,
    );
  if (pr.head.ref !== branch || pr.head.repo?.full_name !== `${owner}/${repo}`)
    return refuse(
      `PR #${pr.number} merged ${path} from ${pr.head.repo?.full_name ?? "a deleted repository"}:${pr.head.ref}, not from the bot's branch ${branch}`,
      `revert it and approve through the bot's request PR from ${branch}`,
    );

  // 3. The default branch's active rules: reviews that GitHub enforces, and nobody may bypass them.
  const rules = await defaultBranchReviewRules(
    octokit,
    owner,
    repo,
    defaultBranch,
    g.requiredApprovals,
  );
  if ("problem" in rules) return refuse(...rules.problem);
  const count = rules.count;

  // 4. Approvals on the PR's last commit by code owners of the file (CODEOWNERS at the base).
  const base = commit.parents[0]?.sha ?? added;
  const found = await readCodeowners(octokit, owner, repo, base);
  if ("problem" in found) return refuse(...found.problem);
  const codeowners = found.text ?? "";
  const owners = codeownersFor(path, codeowners);
  if (!owners.users.length && !owners.orgTeams.length)
    return refuse(
      `CODEOWNERS on ${defaultBranch} before the merge names no owner of ${path}`,
      `add "/approvals/ <approvers>" to .github/CODEOWNERS (docs/infrastructure.md shows the lines)`,
    );
  const reviews = await read(
    `the reviews of PR #${pr.number}`,
    "give the job `permissions: pull-requests: read`",
    () =>
      octokit.paginate(octokit.rest.pulls.listReviews, {
        ...at,
        pull_number: pr.number,
        per_page: 100,
      }),
  );
  const teamMember = new Set<string>();
  for (const login of new Set(reviews.map((r) => r.user?.login ?? ""))) {
    if (!login || owners.users.includes(login)) continue;
    for (const t of owners.orgTeams) {
      let state: string;
      try {
        state = (
          await octokit.rest.teams.getMembershipForUserInOrg({
            org: t.org,
            team_slug: t.slug,
            username: login,
          })
        ).data.state;
      } catch (err) {
        // 404 is GitHub's answer for "no membership"; anything else (403
        // without Members: read) leaves the question open: refuse, never guess.
        if ((err as { status?: number }).status === 404) continue;
        return refuse(
          `cannot read whether ${login} is a member of @${t.org}/${t.slug}, a code owner of ${path} (${statusOf(err)})`,
          `give the gate App the Members: read organization permission; the gated job mints its token with permission-members: read (docs/design.md#gate-token)`,
        );
      }
      // A pending invitation is no membership (GitHub Docs, "Get team membership for a user").
      if (state === "active") teamMember.add(login);
    }
  }
  const head = pr.head.sha;
  const tally = countApprovals(
    reviews.map((r) => ({
      user: r.user?.login ?? "",
      userType: r.user?.type ?? "",
      state: r.state,
      commitId: r.commit_id,
    })),
    { author: pr.user?.login ?? "", head },
    (login) => owners.users.includes(login) || teamMember.has(login),
  );
  if (tally.counted.length < g.requiredApprovals)
    return refuse(
      `PR #${pr.number} has ${tally.counted.length} of ${g.requiredApprovals} required approvals of its last commit ${head.slice(0, 7)} by code owners of ${path}${tally.notCounted.length ? ` (not counted: ${tally.notCounted.join("; ")})` : ""}`,
      `have ${g.requiredApprovals} code owners of ${path} (${[...owners.users.map((u) => `@${u}`), ...owners.orgTeams.map((t) => `@${t.org}/${t.slug}`)].join(", ")}) approve a new request PR`,
    );
  return `PR #${pr.number} from ${branch}, merged as ${added.slice(0, 7)}, approved on ${head.slice(0, 7)} by ${tally.counted.join(", ")}; ${defaultBranch} requires ${count} code-owner approvals of the last push, dismisses stale ones, and has no bypass actor`;
}

/**
 * The default branch's active `pull_request` rules (GET rules/branches) and
 * the bypass actors of every ruleset on it (GET rulesets/{id}): the
 * problem as (what, fix), or the required approval count. The gate and
 * doctor both ask it (docs/design.md#approval-by-pull-request).
 */
export async function defaultBranchReviewRules(
  octokit: Octokit,
  owner: string,
  repo: string,
  branch: string,
  required: number,
): Promise<{ problem: [string, string] } | { count: number }> {
  const rulesetFix = `read it with a GitHub App token with ${GATE_TOKEN_PERMISSION} (GitHub shows bypass actors only to a token that may edit the ruleset; the gated job's gate-token)`;
  let rules: { type: string; ruleset_id?: number; parameters?: Record<string, unknown> }[];
  try {
    rules = (await octokit.paginate(octokit.rest.repos.getBranchRules, {
      owner,
      repo,
      branch,
      per_page: 100,
    })) as typeof rules;
  } catch (err) {
    return {
      problem: [
        `cannot read the rules of ${branch} (${statusOf(err)})`,
        "give the token metadata: read",
      ],
    };
  }
  const prRules = rules.filter((r) => r.type === "pull_request").map((r) => r.parameters ?? {});
  const { count, missing } = reviewRuleGaps(prRules, required);
  if (missing.length)
    return {
      problem: [
        `${branch}'s active rules do not require ${missing.join(", ")}`,
        `set them on ${branch}'s ruleset (github.manageRepository: true does it; doctor checks it)`,
      ],
    };
  for (const id of [...new Set(rules.map((r) => r.ruleset_id))]) {
    if (id === undefined) continue;
    let set: { name: string; bypass_actors?: { actor_type: string; actor_id?: number | null }[] };
    try {
      set = (
        await octokit.rest.repos.getRepoRuleset({
          owner,
          repo,
          ruleset_id: id,
          includes_parents: true,
        })
      ).data;
    } catch (err) {
      return { problem: [`cannot read ruleset ${id} (${statusOf(err)})`, rulesetFix] };
    }
    if (!set.bypass_actors)
      return {
        problem: [
          `cannot read the bypass actors of ruleset "${set.name}" (${id}) on ${branch}`,
          rulesetFix,
        ],
      };
    if (set.bypass_actors.length)
      return {
        problem: [
          `ruleset "${set.name}" (${id}) on ${branch} names bypass actors (${set.bypass_actors.map((a) => `${a.actor_type}${a.actor_id == null ? "" : ` ${a.actor_id}`}`).join(", ")}), who can merge without the approvals`,
          "remove every bypass actor from it (Settings → Rules), then re-open the request",
        ],
      };
  }
  return { count };
}

/** CODEOWNERS at `ref` in GitHub's lookup order, and its path; no text when there is none. */
export async function readCodeowners(
  octokit: Octokit,
  owner: string,
  repo: string,
  ref: string,
): Promise<{ problem: [string, string] } | { text?: string; path?: string }> {
  for (const path of CODEOWNERS_PATHS) {
    try {
      const res = await octokit.rest.repos.getContent({ owner, repo, path, ref });
      const data = res.data as { content?: string };
      return { text: Buffer.from(data.content ?? "", "base64").toString("utf8"), path };
    } catch (err) {
      if (statusOf(err) !== "404")
        return {
          problem: [
            `cannot read ${path} at ${ref.slice(0, 12)} (${statusOf(err)})`,
            "give the job `permissions: contents: read`",
          ],
        };
    }
  }
  return {};
}
