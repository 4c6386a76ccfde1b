/**
 * The approval gate, checked before `activate`, `rollback` or `retire` reads
 * any private key (docs/design.md, "A gate that fails closed").
 *
 * The `environment:` line of a workflow proves nothing by itself: GitHub
 * creates a missing environment on first use with no protection rules,
 * required reviewers need GitHub Enterprise on private repositories, and a
 * job without the line runs unapproved. So the job confirms, through GitHub:
 *
 * 1. that it runs in the expected environment: its own OIDC token (issued by
 *    GitHub to this job only) names the environment, this run and this
 *    repository;
 * 2. that the environment requires reviewers (its `required_reviewers`
 *    protection rule names at least one);
 * 3. that a reviewer approved this run for that environment (the run's
 *    review history, GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals);
 * 4. that no other gated job acts on the same domain right now (an
 *    activation and a rollback run in different concurrency groups);
 * 5. that the job runs from the default branch (the token's `ref`) and is
 *    defined by the tool's reusable workflow for this command (the token's
 *    `job_workflow_ref`), so a job from another branch or another workflow
 *    file is refused even where the environment lets it in. This guards the
 *    tool's own code only: a branch's own workflow never calls the gate, so
 *    GitHub's deployment branch policy and the activator's trust are what
 *    refuse it (docs/design.md#github-approval-gate).
 *
 * In pull-request mode (github.approval: pull-request), checks 2 and 3 are
 * replaced by the merged, reviewed request PR (pr-gate.ts,
 * docs/design.md#approval-by-pull-request).
 *
 * Any doubt (a missing token, a 403, an unexpected answer) is a refusal: one
 * line that says which check failed and how to fix it. Nothing else runs.
 */
import type { Octokit } from "@octokit/rest";
import { RefusalError } from "./engine/errors";
import { GATED_WORKFLOW_FILE, jobWorkflowRefOf, type WorkflowPin } from "./engine/config";
import { GitHubRuns } from "./adapters/github-runs";
import { confirmPullRequestApproval, GATE_TOKEN_PERMISSION } from "./pr-gate";

/** The audience of the token the gate asks for: not STS's, so it cannot be replayed to assume a role. */
export const GATE_AUDIENCE = "ses-dkim-rotation-gate";

export interface GateRequest {
  command: "activate" | "rollback" | "retire";
  domain: string;
  environment: string;
  owner: string;
  repo: string;
  /** GITHUB_RUN_ID. */
  runId?: string;
  /** Undefined when the action was given no token. */
  octokit?: Octokit;
  /** The job's OIDC token (core.getIDToken on a runner). */
  idToken: (audience: string) => Promise<string>;
  /** github.workflowPin of the stack file: the exact job_workflow_ref expected. */
  workflowPin?: WorkflowPin;
  /**
   * github.approval: pull-request, with the decision's selector and the
   * gate-token's client (an App token with Administration write: only it
   * sees the rulesets' bypass actors, docs/design.md#gate-token); environment
   * reviewers otherwise.
   */
  pullRequest?: {
    requiredApprovals: number;
    octokit?: Octokit;
    selector?: string;
    fingerprint?: string;
  };
}

/**
 * Checks the token's `ref` and `job_workflow_ref` claims against the default
 * branch and the reusable workflow that defines this command's job; returns
 * the refusal (what, fix) or the confirmed workflow.
 * Unpinned, a workflow of this repository must be at the default branch; a
 * workflow of another repository (an adopter calling the tool's repository)
 * is accepted at any ref, and said so (docs/design.md#github-approval-gate).
 */
export function checkJobOrigin(
  claims: Record<string, unknown>,
  g: Pick<GateRequest, "command" | "owner" | "repo" | "environment" | "workflowPin">,
  defaultBranch: string,
): { refused: [string, string] } | { workflow: string } {
  const branch = `refs/heads/${defaultBranch}`;
  const file = GATED_WORKFLOW_FILE[g.command];
  if (claims.ref !== branch)
    return {
      refused: [
        `this job runs from ${typeof claims.ref === "string" ? claims.ref : "no ref"}, not the default branch ${branch}`,
        `run the workflow from ${defaultBranch}, and limit environment ${g.environment}'s deployment branches to ${defaultBranch} (doctor checks it)`,
      ],
    };
  const got = claims.job_workflow_ref;
  const want = g.workflowPin ? jobWorkflowRefOf(g.workflowPin, file) : undefined;
  const m =
    typeof got === "string"
      ? /^([^/]+\/[^/]+)\/\.github\/workflows\/([^@]+)@(.+)$/.exec(got)
      : null;
  const here = `${g.owner}/${g.repo}`;
  const ok = want ? got === want : !!m && m[2] === file && (m[1] !== here || m[3] === branch);
  if (!ok)
    return {
      refused: [
        `this job is defined by ${typeof got === "string" ? got : "no job_workflow_ref"}, not ${want ?? `${file} of the tool${m?.[1] === here ? ` at ${branch}` : ""}`}`,
        want
          ? `run ${g.command} only through ${want} (github.workflowPin in the stack file)`
          : `run ${g.command} only through the tool's ${file} called from ${defaultBranch}`,
      ],
    };
  return {
    workflow: want
      ? `${got as string} (pinned)`
      : m![1] === here
        ? (got as string)
        : `${got as string} (not pinned: set github.workflowPin)`,
  };
}

function claimsOf(jwt: string): Record<string, unknown> {
  const payload = jwt.split(".")[1];
  if (!payload) throw new Error("not a JWT");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status;
  return typeof s === "number" ? s : undefined;
}

/** Throws a RefusalError naming the failed check and its fix; returns what it confirmed. */
export async function confirmApproval(g: GateRequest): Promise<string> {
  const refuse = (what: string, fix: string): never => {
    throw new RefusalError(g.domain, `${g.command} refused by the approval gate: ${what}; ${fix}`);
  };
  const env = g.environment;
  if (!g.runId || !/^\d+$/.test(g.runId))
    refuse(
      "not inside a GitHub Actions run (GITHUB_RUN_ID is unset)",
      "run it from the gated workflow",
    );
  if (!g.octokit)
    refuse(
      "no GitHub token to read the environment and the run's approvals",
      "pass github-token (the default ${{ github.token }}) and give the job `permissions: actions: read`",
    );
  const octokit = g.octokit!;
  const runId = Number(g.runId);

  // 1. This job's environment, from its own OIDC token.
  let claims: Record<string, unknown>;
  try {
    claims = claimsOf(await g.idToken(GATE_AUDIENCE));
  } catch (err) {
    return refuse(
      `cannot obtain this job's OIDC token (${String((err as Error).message ?? err).split("\n")[0]})`,
      "give the job `permissions: id-token: write`",
    );
  }
  if (claims.environment !== env)
    refuse(
      `this job is not in the ${env} environment (its OIDC token names ${typeof claims.environment === "string" ? `"${claims.environment}"` : "no environment"})`,
      `set \`environment: ${env}\` on the job`,
    );
  if (claims.run_id !== String(runId) || claims.repository !== `${g.owner}/${g.repo}`)
    refuse(
      `the OIDC token is for run ${String(claims.run_id)} of ${String(claims.repository)}, not run ${runId} of ${g.owner}/${g.repo}`,
      "run the action only inside the gated workflow",
    );

  // 5 (checked early: nothing else matters for a job from elsewhere). Its branch and workflow file.
  let defaultBranch: string;
  try {
    defaultBranch = (await octokit.rest.repos.get({ owner: g.owner, repo: g.repo })).data
      .default_branch;
  } catch (err) {
    return refuse(
      `cannot read the default branch of ${g.owner}/${g.repo} (${statusOf(err) ?? "error"})`,
      "give the job `permissions: contents: read`",
    );
  }
  const origin = checkJobOrigin(claims, g, defaultBranch);
  if ("refused" in origin) refuse(...origin.refused);
  const workflow = (origin as { workflow: string }).workflow;

  if (g.pullRequest) {
    // GitHub shows a ruleset's bypass actors only to a token that may edit it,
    // which GITHUB_TOKEN can never be (docs/design.md#gate-token).
    if (!g.pullRequest.octokit)
      return refuse(
        "no gate-token to read the bypass actors of the default branch's rulesets (GitHub shows them only to a token that may edit the ruleset, never to GITHUB_TOKEN)",
        `set the reusable workflow's gate-app-client-id input and gate-app-private-key secret (an environment secret of the gated environment): its gated job then mints the gate App's token with ${GATE_TOKEN_PERMISSION}`,
      );
    const approved = await confirmPullRequestApproval(
      {
        octokit: g.pullRequest.octokit,
        owner: g.owner,
        repo: g.repo,
        defaultBranch,
        domain: g.domain,
        kind: g.command,
        selector: g.pullRequest.selector,
        requiredApprovals: g.pullRequest.requiredApprovals,
        sha: typeof claims.sha === "string" ? claims.sha : undefined,
        fingerprint: g.pullRequest.fingerprint,
      },
      refuse,
    );
    await refuseWhileBusy(g, octokit, runId, refuse);
    return `approval gate: job in ${env}; ${approved}; from ${workflow}`;
  }

  // 2. The environment requires reviewers.
  let rules: { type?: string; reviewers?: { reviewer?: { login?: string; slug?: string } }[] }[];
  try {
    const res = await octokit.rest.repos.getEnvironment({
      owner: g.owner,
      repo: g.repo,
      environment_name: env,
    });
    rules = (res.data.protection_rules ?? []) as typeof rules;
  } catch (err) {
    if (statusOf(err) === 404)
      return refuse(
        `environment ${env} does not exist`,
        `create it with required reviewers (Settings → Environments, or github.manageRepository: true)`,
      );
    return refuse(
      `cannot read environment ${env} (${statusOf(err) ?? "error"} ${String((err as Error).message).split("\n")[0]})`,
      "give the job `permissions: actions: read`",
    );
  }
  const reviewers = rules
    .filter((r) => r.type === "required_reviewers")
    .flatMap((r) => r.reviewers ?? [])
    .map((r) => r.reviewer?.login ?? r.reviewer?.slug)
    .filter((x): x is string => !!x);
  if (!reviewers.length)
    refuse(
      `environment ${env} requires no reviewers, so nobody approved this run`,
      "add required reviewers to it (Settings → Environments; on a private repository this needs GitHub Enterprise), or set github.manageRepository: true",
    );

  // 3. This run was approved for that environment.
  let approvals: {
    state?: string;
    user?: { login?: string } | null;
    environments?: { name?: string }[];
  }[];
  try {
    approvals = (
      await octokit.rest.actions.getReviewsForRun({ owner: g.owner, repo: g.repo, run_id: runId })
    ).data;
  } catch (err) {
    return refuse(
      `cannot read the approvals of run ${runId} (${statusOf(err) ?? "error"})`,
      "give the job `permissions: actions: read`",
    );
  }
  const approval = approvals.find(
    (a) => a.state === "approved" && (a.environments ?? []).some((e) => e.name === env),
  );
  if (!approval)
    refuse(
      `run ${runId} has no approval for environment ${env}`,
      `a required reviewer (${reviewers.join(", ")}) must approve the job in ${env}`,
    );

  // 4. Nobody else acts on this domain now.
  await refuseWhileBusy(g, octokit, runId, refuse);

  return `approval gate: job in ${env} (required reviewers: ${reviewers.join(", ")}); run ${runId} approved by ${approval!.user?.login ?? "a reviewer"}; from ${workflow}`;
}

/** Check 4: no other gated job acts on the same domain right now. */
async function refuseWhileBusy(
  g: GateRequest,
  octokit: Octokit,
  runId: number,
  refuse: (what: string, fix: string) => never,
): Promise<void> {
  const busy = (
    await new GitHubRuns(octokit, { owner: g.owner, repo: g.repo }, runId).openGatedJobs()
  ).filter((j) => j.domain === g.domain && j.status === "in_progress");
  if (busy.length)
    refuse(
      `the ${busy[0]!.kind} job for ${busy[0]!.selector} is running in run ${busy[0]!.runId}`,
      "re-run this job when that one has finished",
    );
}
