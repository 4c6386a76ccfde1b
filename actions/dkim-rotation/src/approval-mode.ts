/**
 * doctor's checks of the approval mode (docs/design.md#approval-by-pull-request):
 * which of `github.approval: environment | pull-request` can work in this
 * repository, from its visibility and its owner's plan, and in pull-request
 * mode the rules, bypass actors and CODEOWNERS lines the gate relies on.
 *
 * GitHub Docs ("Managing environments for deployment"): required reviewers
 * protect environments of public repositories on every plan, of private and
 * internal ones only on GitHub Enterprise. ("About rulesets"): rulesets are
 * enforced in public repositories on Free, in public and private ones on Pro,
 * Team and Enterprise.
 */
import type { Octokit } from "@octokit/rest";
import { approvalFilePath, APPROVALS_DIR } from "./engine/approval-files";
import { codeownersFor } from "./engine/codeowners";
import type { ProjectConfig } from "./engine/config";
import { defaultBranchReviewRules, readCodeowners, statusOf } from "./pr-gate";

type Add = (check: string, status: "ok" | "warn" | "fail", detail: string, fix?: string) => void;

/** Which approval modes can work, from visibility and plan (undefined: unknown). */
export function workingModes(
  visibility: string,
  plan: string | undefined,
): { environment: boolean | undefined; pullRequest: boolean | undefined } {
  if (visibility === "public") return { environment: true, pullRequest: true };
  if (plan === undefined) return { environment: undefined, pullRequest: undefined };
  return { environment: plan === "enterprise", pullRequest: plan !== "free" };
}

export async function approvalModeChecks(
  octokit: Octokit,
  owner: string,
  repo: string,
  config: ProjectConfig,
  add: Add,
): Promise<void> {
  const mode = config.github?.approval ?? "environment";
  const required = config.github?.requiredApprovals ?? 2;
  const check = "github approval mode";
  let visibility: string;
  let defaultBranch: string;
  try {
    const r = (await octokit.rest.repos.get({ owner, repo })).data;
    visibility = r.visibility ?? (r.private ? "private" : "public");
    defaultBranch = r.default_branch;
  } catch (err) {
    add(
      check,
      "fail",
      `cannot read the repository (${statusOf(err)})`,
      "give the token metadata: read",
    );
    return;
  }
  let plan: string | undefined;
  try {
    plan = (await octokit.rest.orgs.get({ org: owner })).data.plan?.name?.toLowerCase();
  } catch {
    plan = undefined; // a user's repository, or a token that may not see the plan
  }
  const modes = workingModes(visibility, plan);
  const where = `${visibility} repository${plan ? ` on the ${plan} plan` : " (plan not readable)"}`;
  const works = [
    ...(modes.environment ? ["environment"] : []),
    ...(modes.pullRequest ? ["pull-request"] : []),
  ];
  if (mode === "environment") {
    if (modes.environment === false)
      add(
        check,
        "fail",
        `${where}: environment reviewers need GitHub Enterprise here, so nobody can approve a gated job`,
        modes.pullRequest
          ? "set github.approval: pull-request in the stack file (a merged, reviewed request PR is the approval; docs/operations.md)"
          : "make the repository public, or move to Pro or Team and set github.approval: pull-request",
      );
    else if (modes.environment === undefined)
      add(
        check,
        "warn",
        `${where}: environment reviewers work in a private or internal repository only on GitHub Enterprise`,
        "without Enterprise, set github.approval: pull-request in the stack file",
      );
    else add(check, "ok", `environment (${where}; works here: ${works.join(", ")})`);
  } else if (modes.pullRequest === false)
    add(
      check,
      "fail",
      `${where}: rulesets are not enforced in private repositories on Free, so a request PR's approvals bind nobody`,
      "move to Pro or Team, or make the repository public",
    );
  else
    add(
      check,
      modes.pullRequest ? "ok" : "warn",
      `pull-request (${where}${works.length ? `; works here: ${works.join(", ")}` : ""})`,
      modes.pullRequest
        ? undefined
        : "rulesets need Pro, Team or Enterprise in a private repository",
    );
  if (mode !== "pull-request") return;

  // The default branch's review rules and bypass actors, as the gate reads them.
  const rules = await defaultBranchReviewRules(octokit, owner, repo, defaultBranch, required);
  if ("problem" in rules) add("github rules approvals", "fail", ...rules.problem);
  else
    add(
      "github rules approvals",
      "ok",
      `${defaultBranch}: ${rules.count} code-owner approvals of the last push, stale ones dismissed, no bypass actor`,
    );

  // CODEOWNERS: approvals/ has owners, and CODEOWNERS itself is owned.
  const codeownersCheck = "github codeowners";
  const found = await readCodeowners(octokit, owner, repo, defaultBranch);
  const sample = approvalFilePath(
    config.identities[0]?.domain ?? "example.com",
    "doctor-probe",
    "activate",
  );
  const snippet = `/${APPROVALS_DIR}/ <approvers> and /.github/CODEOWNERS <approvers or admins> (docs/infrastructure.md shows the lines)`;
  if ("problem" in found) return add(codeownersCheck, "fail", ...found.problem);
  if (found.text === undefined || found.path === undefined)
    return add(
      codeownersCheck,
      "fail",
      `no CODEOWNERS on ${defaultBranch}: nobody approves ${APPROVALS_DIR}/`,
      `add ${snippet}`,
    );
  const approvers = codeownersFor(sample, found.text);
  const guardians = codeownersFor(found.path, found.text);
  if (!approvers.users.length && !approvers.orgTeams.length)
    add(
      codeownersCheck,
      "fail",
      `${found.path} names no owner of ${APPROVALS_DIR}/`,
      `add ${snippet}`,
    );
  else if (!guardians.users.length && !guardians.orgTeams.length)
    add(
      codeownersCheck,
      "fail",
      `${found.path} names no owner of itself: a writer's PR could make themselves approvers with nobody's review`,
      `add ${snippet}`,
    );
  else if (!approvers.orgTeams.length && approvers.users.length < required)
    add(
      codeownersCheck,
      "fail",
      `${approvers.users.length} owner(s) of ${APPROVALS_DIR}/ for ${required} required approvals: no request can pass the gate`,
      "name more approvers, or a team, or lower github.requiredApprovals",
    );
  else if (!approvers.orgTeams.length && approvers.users.length === required)
    add(
      codeownersCheck,
      "warn",
      `${approvers.users.length} owner(s) of ${APPROVALS_DIR}/ for ${required} required approvals: one absence blocks every decision`,
      "name more approvers, or a team",
    );
  else
    add(
      codeownersCheck,
      "ok",
      `${APPROVALS_DIR}/ owned by ${[...approvers.users.map((u) => `@${u}`), ...approvers.orgTeams.map((t) => `@${t.org}/${t.slug}`)].join(" ")}; ${found.path} owned`,
    );
}
