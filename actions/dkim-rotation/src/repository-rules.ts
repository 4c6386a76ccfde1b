/**
 * The repository rules that keep a record PR the bot's (docs/design.md#bot-branches):
 * what `infra/` creates (github.manageRepository), what docs/operations.md
 * asks for, what the GitHub fake enforces, and doctor's check of them through
 * `GET /repos/{o}/{r}/rules/branches/{branch}` (the active rules that would
 * apply to a branch of that name; it need not exist). Rulesets only: classic
 * branch protection is not visible there.
 */
import type { Octokit } from "@octokit/rest";
import { BATCH_BRANCH_PREFIX, retirementBranch, rotationBranch } from "./adapters/branches";
import { BOT_BRANCH_RULES, botBranchPatterns } from "./engine/config";
import { approvalBranch } from "./engine/approval-files";

export {
  BOT_BRANCH_PATTERNS,
  BOT_BRANCH_RULES,
  DEFAULT_BRANCH_PULL_REQUEST,
} from "./engine/config";

type Add = (check: string, status: "ok" | "warn" | "fail", detail: string, fix?: string) => void;

const DEFAULT_BRANCH_REVIEW_PARAMS = [
  "dismiss_stale_reviews_on_push",
  "require_last_push_approval",
  "require_code_owner_review",
] as const;

interface Rule {
  type: string;
  parameters?: Record<string, unknown>;
}

async function rulesFor(octokit: Octokit, owner: string, repo: string, branch: string) {
  return (await octokit.paginate(octokit.rest.repos.getBranchRules, {
    owner,
    repo,
    branch,
    per_page: 100,
  })) as Rule[];
}

/**
 * Fail unless (1) the bot branches `dkim/**` and `dkim-retire/**` (and
 * `dkim-batch/**` with records-per-pr > 1) are
 * restricted (creation, update, deletion: only bypass actors, the App, may
 * push), and (2) the default branch's `pull_request` rule dismisses stale
 * approvals on push, requires approval of the most recent push and
 * code-owner review. Each failure names the missing rule.
 */
export async function branchRuleChecks(
  octokit: Octokit,
  owner: string,
  repo: string,
  sampleDomain: string,
  add: Add,
  approval: "environment" | "pull-request" = "environment",
  /** records-per-pr > 1: the batch branches are checked too (docs/design.md#bulk-onboarding). */
  batches = false,
): Promise<void> {
  const msg = (err: unknown) =>
    `${(err as { status?: number }).status ?? "Error"}: ${String((err as Error).message ?? err).split("\n")[0]}`;
  const rulesetFix = `add a branch ruleset on ${botBranchPatterns(approval).join(" and ")} with Restrict creations, Restrict updates and Restrict deletions, the DKIM GitHub App as the only bypass actor (docs/operations.md, One-time setup), or set github.manageRepository: true`;
  for (const branch of [
    rotationBranch(sampleDomain, "doctor-probe"),
    retirementBranch(sampleDomain, "doctor-probe"),
    ...(batches ? [`${BATCH_BRANCH_PREFIX}/${sampleDomain}/doctor-probe`] : []),
    // Pull-request mode: only the App may write a request branch (docs/design.md#approval-by-pull-request).
    ...(approval === "pull-request"
      ? [approvalBranch(sampleDomain, "doctor-probe", "activate")]
      : []),
  ]) {
    const check = `github rules ${branch.split("/")[0]}/**`;
    try {
      const types = new Set((await rulesFor(octokit, owner, repo, branch)).map((r) => r.type));
      const missing = BOT_BRANCH_RULES.filter((t) => !types.has(t));
      if (missing.length)
        add(
          check,
          "fail",
          `no active ruleset applies ${missing.join(", ")} to ${branch}: anyone with push rights can add a commit to a record PR`,
          rulesetFix,
        );
      else add(check, "ok", `${BOT_BRANCH_RULES.join(", ")} restricted on ${branch}`);
    } catch (err) {
      add(
        check,
        "fail",
        `cannot read the rules of ${branch} (${msg(err)})`,
        "give the token metadata: read",
      );
    }
  }

  const check = "github rules default branch";
  try {
    const base = (await octokit.rest.repos.get({ owner, repo })).data.default_branch;
    const prRules = (await rulesFor(octokit, owner, repo, base)).filter(
      (r) => r.type === "pull_request",
    );
    // Several rulesets may apply; GitHub enforces the strictest of each setting.
    const has = (p: string) => prRules.some((r) => r.parameters?.[p] === true);
    const approvals = Math.max(
      0,
      ...prRules.map((r) => Number(r.parameters?.required_approving_review_count ?? 0)),
    );
    const missing = [
      ...(prRules.length ? [] : ["pull_request"]),
      ...(prRules.length && approvals < 1 ? ["required_approving_review_count >= 1"] : []),
      ...(prRules.length ? DEFAULT_BRANCH_REVIEW_PARAMS.filter((p) => !has(p)) : []),
    ];
    if (missing.length)
      add(
        check,
        "fail",
        `${base}: the pull_request rule lacks ${missing.join(", ")}: an approval would survive a commit pushed after it`,
        `in a ruleset on ${base}, require a pull request with ≥ 1 approval, Dismiss stale approvals, Require approval of the most recent reviewable push and Require review from Code Owners (or github.manageRepository: true)`,
      );
    else
      add(
        check,
        "ok",
        `${base}: approvals dismissed on push, last push approved, code owners review`,
      );
  } catch (err) {
    add(
      check,
      "fail",
      `cannot read the default branch's rules (${msg(err)})`,
      "give the token metadata: read",
    );
  }
}
