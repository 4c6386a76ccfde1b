/**
 * What happens between a record's merge and its activation, run by the plan
 * (daily) and the verify job (on the merge's push, then hourly):
 * - an identity with an automatic publisher (`rfc2136`, `route53`) gets its
 *   merged record put into DNS, and an old selector's record taken out once
 *   its removal is on main (after the grace period, never the active one);
 * - the DNS team and the approvers get the messages now due (notify.ts).
 * Whatever published the record, activation still verifies every
 * authoritative nameserver and still needs approval
 * (docs/design.md#invariant-1-no-swap-without-dns).
 */
import { addDays } from "./clock";
import { publisherOf } from "./config";
import type { EngineContext } from "./engine-context";
import { checkRetirement } from "./lifecycle";
import { publicationEventsDue, sendOnce } from "./notify";
import { publishByOf, renderRotation } from "./plan";
import type { DnsPublisherPort } from "./ports";
import { dkimRecordValue, splitTxt } from "./record";
import { type IdentitySnapshot, snapshotIdentity } from "./snapshot";

export interface FollowUpReport {
  domain: string;
  /** What was published, removed or sent, in words. */
  notes: string[];
  /** Set when a publisher or notifier failed: the job fails after the others are done. */
  error?: string;
}

/**
 * Publish, remove and notify for each snapshot; returns the snapshots as they
 * stand afterwards (an identity whose record was just published is read
 * again, so the verify job can offer it for activation in the same run).
 */
export async function followUp(
  ctx: EngineContext,
  snapshots: IdentitySnapshot[],
): Promise<{ snapshots: IdentitySnapshot[]; reports: FollowUpReport[] }> {
  const out: IdentitySnapshot[] = [];
  const reports: FollowUpReport[] = [];
  for (const snap of snapshots) {
    const notes: string[] = [];
    let current = snap;
    try {
      current = await followUpOne(ctx, snap, notes);
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
  const { identity } = snap;
  const publisher = publisherOf(identity) === "manual" ? undefined : ctx.publisherFor?.(identity);
  const candidate = snap.lifecycle.candidate;
  if (candidate?.phase === "awaiting-publication") {
    await notifyPublication(ctx, snap, notes);
    if (publisher) {
      const key = candidate.key;
      const published = await publisher.publish({
        domain: identity.domain,
        selector: key.selector,
        strings: splitTxt(dkimRecordValue(key.publicKey)),
        ttl: identity.recordTtl,
      });
      notes.push(`published ${key.selector} by ${publisher.kind}: ${published.detail}`);
      ctx.log.info(`${identity.domain}: published ${key.selector} by ${publisher.kind}`);
      snap = await snapshotIdentity(ctx, identity, { records: snap.records, keys: snap.keys });
    }
  }
  if (snap.decision.kind === "activate") await notifyReady(ctx, snap, notes);
  if (publisher) await removeRetired(ctx, snap, publisher, notes);
  return snap;
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

/**
 * An old selector whose record file has left main (the retirement PR was
 * merged) is removed from DNS, only if the lifecycle allows its retirement:
 * the grace period is over and SES does not sign with it (invariant 3).
 * Keys already purged leave the history, so this stays bounded.
 */
async function removeRetired(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  publisher: DnsPublisherPort,
  notes: string[],
): Promise<void> {
  const lc = snap.lifecycle;
  for (const h of lc.history) {
    if (h.record) continue;
    const check = checkRetirement(lc, h.selector);
    if (!check.ok) {
      ctx.log.info(`${snap.identity.domain}: ${h.selector} stays in DNS: ${check.why}`);
      continue;
    }
    // A key purged long ago needs no further look; one deleted within its window still does.
    if (h.key?.deletionDate && addDays(h.key.deletionDate, 1) < ctx.clock.now()) continue;
    const removed = await publisher.remove({ domain: snap.identity.domain, selector: h.selector });
    if (removed.acted) {
      notes.push(`removed ${h.selector} by ${publisher.kind}: ${removed.detail}`);
      ctx.log.info(`${snap.identity.domain}: removed ${h.selector} by ${publisher.kind}`);
    }
  }
}
