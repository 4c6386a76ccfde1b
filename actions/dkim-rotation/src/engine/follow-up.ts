/**
 * What happens between a record's merge and its activation:
 * - `followUp`, run by the plan (daily) and the verify job (on the merge's
 *   push, then hourly) with the planner role: the DNS team and the approvers
 *   get the messages now due (notify.ts). It changes no DNS record.
 * - `publishMerged`, run by the `publish` job only (the publisher role, its
 *   own environment, on the merge's push to main or a manual run from main,
 *   never on a schedule): an identity with an automatic publisher
 *   (`rfc2136`, `route53`) gets its merged record put into DNS. Route 53
 *   refuses a CREATE over an existing record, so the publisher role cannot
 *   overwrite the active one (docs/design.md#publishers).
 * Removing a retired selector's record is the gated retire job's
 * (engine/retire.ts). Whatever published the record, activation still
 * verifies every authoritative nameserver and still needs approval
 * (docs/design.md#invariant-1-no-swap-without-dns).
 */
import { publisherOf } from "./config";
import type { EngineContext } from "./engine-context";
import { publicationEventsDue, sendOnce } from "./notify";
import { publishByOf } from "./lifecycle";
import { renderRotation } from "./plan";
import { dkimRecordValue, splitTxt } from "./record";
import { type IdentitySnapshot, snapshotIdentity } from "./snapshot";

export interface FollowUpReport {
  domain: string;
  /** What was published, removed or sent, in words. */
  notes: string[];
  /** Set when a publisher or notifier failed: the job fails after the others are done. */
  error?: string;
}

/** Notify for each snapshot (the messages now due); returns the snapshots unchanged. */
export function followUp(
  ctx: EngineContext,
  snapshots: IdentitySnapshot[],
): Promise<{ snapshots: IdentitySnapshot[]; reports: FollowUpReport[] }> {
  return eachSnapshot(ctx, snapshots, followUpOne);
}

/**
 * Publish each merged record that DNS does not serve yet, for identities with
 * an automatic publisher; returns the snapshots as they stand afterwards (an
 * identity whose record was just published is read again). Sends nothing:
 * the next verify run announces what it finds served.
 */
export function publishMerged(
  ctx: EngineContext,
  snapshots: IdentitySnapshot[],
): Promise<{ snapshots: IdentitySnapshot[]; reports: FollowUpReport[] }> {
  return eachSnapshot(ctx, snapshots, publishOne);
}

/** The merged selectors an automatic publisher has yet to put into DNS (the `publish` job's work). */
export function awaitingAutomaticPublication(
  snapshots: IdentitySnapshot[],
): { domain: string; selector: string }[] {
  return snapshots.flatMap(({ identity, lifecycle }) =>
    publisherOf(identity) !== "manual" && lifecycle.candidate?.phase === "awaiting-publication"
      ? [{ domain: identity.domain, selector: lifecycle.candidate.key.selector }]
      : [],
  );
}

/** One step per snapshot; a failure is reported and the others still run. */
async function eachSnapshot(
  ctx: EngineContext,
  snapshots: IdentitySnapshot[],
  step: (ctx: EngineContext, snap: IdentitySnapshot, notes: string[]) => Promise<IdentitySnapshot>,
): Promise<{ snapshots: IdentitySnapshot[]; reports: FollowUpReport[] }> {
  const out: IdentitySnapshot[] = [];
  const reports: FollowUpReport[] = [];
  for (const snap of snapshots) {
    const notes: string[] = [];
    let current = snap;
    try {
      current = await step(ctx, snap, notes);
    } catch (err) {
      const error = (err as Error).message;
      ctx.log.warn(`${snap.identity.domain}: ${error}`);
      reports.push({ domain: snap.identity.domain, notes, error });
      out.push(current);
      continue;
    }
    if (notes.length) reports.push({ domain: snap.identity.domain, notes });
    out.push(current);
  }
  return { snapshots: out, reports };
}

async function followUpOne(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  notes: string[],
): Promise<IdentitySnapshot> {
  if (snap.lifecycle.candidate?.phase === "awaiting-publication")
    await notifyPublication(ctx, snap, notes);
  if (snap.decision.kind === "activate") await notifyReady(ctx, snap, notes);
  return snap;
}

async function publishOne(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  notes: string[],
): Promise<IdentitySnapshot> {
  const { identity } = snap;
  const candidate = snap.lifecycle.candidate;
  if (publisherOf(identity) === "manual" || candidate?.phase !== "awaiting-publication")
    return snap;
  const publisher = ctx.publisherFor?.(identity);
  if (!publisher) return snap;
  const key = candidate.key;
  const published = await publisher.publish({
    domain: identity.domain,
    selector: key.selector,
    strings: splitTxt(dkimRecordValue(key.publicKey)),
    ttl: identity.recordTtl,
  });
  notes.push(`published ${key.selector} by ${publisher.kind}: ${published.detail}`);
  ctx.log.info(`${identity.domain}: published ${key.selector} by ${publisher.kind}`);
  return snapshotIdentity(ctx, identity, { records: snap.records, keys: snap.keys });
}

/** `merged`, the reminder now due, `overdue`: for a record on main that DNS does not serve yet. */
async function notifyPublication(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  notes: string[],
): Promise<void> {
  const notices = ctx.notices;
  const candidate = snap.lifecycle.candidate!;
  if (!notices) return;
  const due = publicationEventsDue(
    candidate,
    publishByOf(snap.identity, candidate.key),
    notices.reminderDays,
    ctx.clock.now(),
  );
  // The message's facts (with a nameserver lookup) only when something is due.
  if (!due.length) return;
  const rotation = await renderRotation(ctx, snap.identity, candidate.key, snap.lifecycle.rollback);
  for (const event of due) {
    const result = await sendOnce(
      ctx,
      candidate.key,
      {
        event: event.event,
        kind: event.kind,
        identity: snap.identity,
        selector: candidate.key.selector,
        rotation,
        days: event.days,
        dns: snap.dns[candidate.key.selector]?.verification,
      },
      event.skip,
    );
    if (result === "sent") notes.push(`sent ${event.event}`);
  }
}

/** `published` to the DNS team and `awaiting-approval` to the approvers: DNS verified everywhere. */
async function notifyReady(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  notes: string[],
): Promise<void> {
  const candidate = snap.lifecycle.candidate;
  if (!ctx.notices || !candidate) return;
  const sent = candidate.key.notified ?? [];
  if (sent.includes("published") && sent.includes("awaiting-approval")) return;
  const rotation = await renderRotation(ctx, snap.identity, candidate.key, snap.lifecycle.rollback);
  for (const kind of ["published", "awaiting-approval"] as const) {
    const result = await sendOnce(ctx, candidate.key, {
      event: kind,
      kind,
      identity: snap.identity,
      selector: candidate.key.selector,
      rotation,
      dns: snap.dns[candidate.key.selector]?.verification,
    });
    if (result === "sent") notes.push(`sent ${kind}`);
  }
}
