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
 *   stands until it is approved, rejected or expires. Only that domain: an
 *   open job never holds back another domain's activation, so a bogus
 *   dispatch can stall nothing but its own domain, and the rollback workflow
 *   refuses a dispatch that could not run before it queues a gated job
 *   (docs/design.md#github-rollback-validation);
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
      held.push({ ...c, reason: `not asking again: ${describeOpen(busy)}` });
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

/** "the rollback job for s1 waits for approval in run 7 (url)". */
function describeOpen(job: GatedJob): string {
  const what =
    job.status === "waiting"
      ? "waits for approval"
      : job.status === "in_progress"
        ? "is running"
        : "is queued";
  return `the ${job.kind} job for ${job.selector} ${what} in run ${job.runId} (${job.runUrl})`;
}

/**
 * Why a rollback dispatch for `domain` must not queue its gated job: another
 * rollback of the domain is open. GitHub would not keep both (a concurrency
 * group cancels the older pending job, docs/design.md#github-concurrency), and
 * a reviewer should decide the one already asked; undefined when none is open.
 */
export function openRollbackOf(open: GatedJob[], domain: string): string | undefined {
  const other = open.find((j) => j.kind === "rollback" && j.domain === domain);
  return other
    ? `${describeOpen(other)}; approve, reject or cancel that run before dispatching another`
    : undefined;
}
