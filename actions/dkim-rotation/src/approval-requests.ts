/**
 * One approval request per decision (docs/design.md, "One approval request
 * per decision").
 *
 * GitHub keeps one running and one pending job per concurrency group, and a
 * newly queued job cancels the pending one; a job waiting for a reviewer is
 * (by field reports) that pending job. So an hourly workflow that queues the
 * gated job whenever a selector is ready asks the reviewers again every hour,
 * brings a rejected request back an hour later, never lets the 30-day expiry
 * happen, and can cancel a rollback that is waiting in the same group.
 *
 * The fix is to not queue: before the verify job offers a selector to the
 * gated jobs, it holds back
 * - every domain that already has a gated job of another run waiting,
 *   queued or running (activation, retirement or rollback): the open request
 *   stands until it is approved, rejected or expires;
 * - on a scheduled run, a selector whose latest request was rejected: it is
 *   asked again only when something changes: a new merge to `dns/` (a push
 *   run), a new key (a new selector), or a manual dispatch.
 */
import type { GatedJob, GatedKind } from "./adapters/github-runs";

export interface Candidate {
  domain: string;
  selector: string;
}

export interface HeldBack extends Candidate {
  reason: string;
}

export function holdBack(
  kind: Exclude<GatedKind, "rollback">,
  candidates: Candidate[],
  open: GatedJob[],
  failures: GatedJob[],
  event: string,
): { offer: Candidate[]; held: HeldBack[] } {
  const offer: Candidate[] = [];
  const held: HeldBack[] = [];
  for (const c of candidates) {
    const busy = open.find((j) => j.domain === c.domain);
    if (busy) {
      const what =
        busy.status === "waiting"
          ? `waits for approval`
          : busy.status === "in_progress"
            ? "is running"
            : "is queued";
      held.push({
        ...c,
        reason: `not asking again: the ${busy.kind} job for ${busy.selector} ${what} in run ${busy.runId} (${busy.runUrl})`,
      });
      continue;
    }
    // The newest finished request for exactly this decision.
    const last = failures.find(
      (j) => j.kind === kind && j.domain === c.domain && j.selector === c.selector,
    );
    if (last?.rejectedBy && event === "schedule") {
      held.push({
        ...c,
        reason: `rejected by ${last.rejectedBy} in run ${last.runId}; asked again after a new merge to dns/, a new key, or a manual run of the workflow`,
      });
      continue;
    }
    offer.push(c);
  }
  return { offer, held };
}
