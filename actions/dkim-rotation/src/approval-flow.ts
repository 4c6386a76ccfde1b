/**
 * The verify job's side of github.approval: pull-request
 * (docs/design.md#approval-request-flow). Where environment mode offers a
 * ready selector to the gated jobs, this mode opens (or brings up to date)
 * one approval request PR per decision; and on the push that merges one, it
 * reads from the pushed commit which decision was approved and offers only
 * that one to its gated job.
 */
import type { ProjectConfig } from "./engine/config";
import {
  APPROVAL_VALIDITY_DAYS,
  approvalFilePath,
  approvalStillValid,
  type ApprovalFile,
} from "./engine/approval-files";
import { activationRequest, retirementRequest } from "./engine/approval-request";
import type { IdentitySnapshot } from "./engine/snapshot";
import type { GitHubApprovalRequests } from "./adapters/github-approvals";

export type ApprovalMode = "environment" | "pull-request";

export function approvalModeOf(config: ProjectConfig): ApprovalMode {
  return config.github?.approval ?? "environment";
}

export interface Target {
  domain: string;
  selector: string;
}

/**
 * Open or update the requests this snapshot calls for, one line each:
 * - the activation of every ready selector;
 * - an open activation request of a candidate that is no longer ready (its
 *   evidence went stale): updated in place, so the approvers see it;
 * - the retirement of every old key whose record has left main.
 */
export async function requestApprovals(
  requests: GitHubApprovalRequests,
  snaps: IdentitySnapshot[],
  opts: { event: string; now: Date; recoveryDays: number },
): Promise<string[]> {
  const open = await requests.open();
  const files: ApprovalFile[] = [];
  for (const s of snaps) {
    const d = s.decision;
    const selector = s.lifecycle.candidate?.key.selector;
    const activation = selector
      ? activationRequest(s.lifecycle, s.dns[selector]?.verification)
      : undefined;
    const asked = open.some(
      (p) => p.kind === "activate" && p.domain === d.domain && p.selector === selector,
    );
    // Only a ready selector (every nameserver serves it: the planner's
    // "activate") opens a request; an open one follows the evidence either way.
    if (activation && (asked || d.kind === "activate")) files.push(activation);
    if (d.kind === "retire" && d.retireStep === "delete-key") {
      const retirement = retirementRequest(s.lifecycle, d.selector, opts.now, opts.recoveryDays);
      if (retirement) files.push(retirement);
    }
  }
  const notes: string[] = [];
  for (const file of files) {
    const r = await requests.request(file, opts.event);
    const what = `${file.domain}: ${file.kind} ${file.selector}`;
    notes.push(
      r.action === "held"
        ? `${what}: ${r.reason}`
        : `${what}: approval request #${r.number} ${r.action} (${r.url})`,
    );
  }
  return notes;
}

/** What the gated jobs of a push run carry out: the decisions its commit added, by kind. */
export function targetsOf(files: ApprovalFile[]): {
  ready: Target[];
  retire: Target[];
  rollback: Target[];
} {
  const of = (kind: ApprovalFile["kind"]) =>
    files.filter((f) => f.kind === kind).map((f) => ({ domain: f.domain, selector: f.selector }));
  return { ready: of("activate"), retire: of("retire"), rollback: of("rollback") };
}

/**
 * A scheduled run's retry (docs/design.md#approval-request-flow): of the
 * decisions the planner calls ready now (`due`), those whose approvals file
 * is already on the default branch, merged within APPROVAL_VALIDITY_DAYS, are
 * offered to the gated jobs again (their push run's job failed: SES never
 * reached SUCCESS, a nameserver stopped answering). The gate still reads the
 * merged, reviewed PR back before any key is read. An older approval has
 * expired: a note says how to ask again.
 */
export async function approvedRetries(
  requests: Pick<GitHubApprovalRequests, "mergedAt">,
  due: { ready: Target[]; retire: Target[] },
  now: Date,
): Promise<{ ready: Target[]; retire: Target[]; notes: string[] }> {
  const notes: string[] = [];
  const still = async (kind: "activate" | "retire", targets: Target[]) => {
    const out: Target[] = [];
    for (const t of targets) {
      const path = approvalFilePath(t.domain, t.selector, kind);
      const mergedAt = await requests.mergedAt(path, t.domain);
      if (!mergedAt) continue;
      const what = `${t.domain}: ${kind} ${t.selector}`;
      if (approvalStillValid(mergedAt, now)) {
        out.push(t);
        notes.push(
          `${what}: approved (${path} merged ${mergedAt.toISOString()}) and not carried out yet: offered to the gated job again`,
        );
      } else
        notes.push(
          `${what}: the approval merged ${mergedAt.toISOString()} expired after ${APPROVAL_VALIDITY_DAYS} days; to ask again, remove ${path} from the default branch by a reviewed PR, and the next verify opens a new request`,
        );
    }
    return out;
  };
  return {
    ready: await still("activate", due.ready),
    retire: await still("retire", due.retire),
    notes,
  };
}
