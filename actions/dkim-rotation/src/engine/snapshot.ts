/**
 * Reading where an identity stands: records, stored keys, SES per Region and,
 * for a key awaiting publication, DNS. The lifecycle is derived from that once
 * per snapshot (lifecycle.ts); the planner and every command read that state.
 */
import type { IdentityConfig } from "./config";
import { mapLimit } from "./map-limit";
import { type Lifecycle, deriveLifecycle, verifyNeedsSes } from "./lifecycle";
import {
  type Decision,
  type DnsObservation,
  type SesReadReason,
  SWEEP_DAYS,
  decide,
  planNeedsSes,
  sweepSlot,
  sweepSlotOf,
} from "./planner";
import type { DnsVerification, RecordOnMain, SesIdentityState, StoredKey } from "./ports";
import { type EngineContext, findIdentity } from "./engine-context";
import { judgeCustody } from "./custody";

export interface IdentitySnapshot {
  identity: IdentityConfig;
  records: RecordOnMain[];
  keys: StoredKey[];
  ses: SesIdentityState[];
  dns: Record<string, DnsObservation & { verification?: DnsVerification }>;
  lifecycle: Lifecycle;
  decision: Decision;
  /**
   * Set when the daily plan did not read SES: `ses` is empty and the
   * lifecycle and decision are those over the SES state the key store
   * expects (planNeedsSes). Nothing acts on such a snapshot.
   */
  sesAssumed?: true;
}

export function summarizeDns(v: DnsVerification): string {
  if (!v.servers.length) return "no authoritative nameservers found";
  const bad = v.servers.filter((s) => s.status !== "ok");
  if (!bad.length) return `ok on ${v.servers.map((s) => s.server).join(", ")}`;
  return bad.map((s) => `${s.server}: ${s.status} (${s.detail})`).join("; ");
}

export async function readSes(
  ctx: EngineContext,
  identity: IdentityConfig,
): Promise<SesIdentityState[]> {
  return Promise.all(
    identity.regions.map((region) => ctx.ses.getIdentity(region, identity.domain)),
  );
}

/**
 * The stored keys, then the records: a record's merge time (git history) is
 * read only for a pending key's selector, the one the planner counts
 * publication days for (docs/design.md#record-merge-times).
 */
export async function readKeysAndRecords(
  ctx: EngineContext,
  domain: string,
  listed?: ReadonlyMap<string, StoredKey[] | Error>,
): Promise<{ records: RecordOnMain[]; keys: StoredKey[] }> {
  const found = listed ? (listed.get(domain) ?? []) : await ctx.keys.list(domain);
  if (found instanceof Error) throw found;
  // One place for every command (plan, verify, activate): a pending key whose
  // custody is not what the pipeline makes is refused here (docs/design.md#key-origins).
  const keys = judgeCustody(findIdentity(ctx.config, domain), found);
  const pending = new Set(keys.filter((k) => k.state === "pending").map((k) => k.selector));
  return { keys, records: await ctx.records.read(domain, { mergeTimesFor: pending }) };
}

/**
 * The key store for these identities: the whole fleet in one listing
 * (docs/design.md#key-store-listing), or, for domains named one by one,
 * undefined (each is listed on its own: cheaper than the fleet's pages).
 */
async function keyListing(
  ctx: EngineContext,
  domains?: string[],
): Promise<ReadonlyMap<string, StoredKey[] | Error> | undefined> {
  return domains?.length ? undefined : ctx.keys.listAll();
}

/** Everything the planner needs for one identity, read once (one GetEmailIdentity per Region). */
export async function snapshotIdentity(
  ctx: EngineContext,
  identity: IdentityConfig,
  read?: { records: RecordOnMain[]; keys: StoredKey[] },
): Promise<IdentitySnapshot> {
  const [{ records, keys }, ses] = await Promise.all([
    read ?? readKeysAndRecords(ctx, identity.domain),
    readSes(ctx, identity),
  ]);
  const dns: IdentitySnapshot["dns"] = {};
  const now = ctx.clock.now();
  let lifecycle = deriveLifecycle({
    identity,
    records,
    keys,
    ses,
    now,
    reportQuietDays: ctx.config.dmarcReports?.quietDays,
  });
  const candidate = lifecycle.candidate;
  if (candidate?.phase === "awaiting-publication") {
    // The planner role cannot read private keys; the public key recorded with
    // the stored key at generation is the same key. Activation re-derives it.
    const key = candidate.key;
    const verification = await ctx.dns.verify(
      identity.domain,
      key.selector,
      key.publicKey,
      identity.nameservers,
    );
    dns[key.selector] = { ok: verification.ok, summary: summarizeDns(verification), verification };
    lifecycle = deriveLifecycle({
      identity,
      records,
      keys,
      ses,
      dns,
      now,
      reportQuietDays: ctx.config.dmarcReports?.quietDays,
    });
  }
  return { identity, records, keys, ses, dns, lifecycle, decision: decide(lifecycle) };
}

/** `mapLimit` at the context's concurrency, reporting progress. */
export async function forEachIdentity<T, R>(
  ctx: EngineContext,
  items: readonly T[],
  what: string,
  each: (item: T) => Promise<R>,
): Promise<R[]> {
  let done = 0;
  return mapLimit(items, ctx.concurrency ?? 16, async (item) => {
    const result = await each(item);
    ctx.log.progress(what, ++done, items.length);
    return result;
  });
}

export function identitiesOf(ctx: EngineContext, domains?: string[]): IdentityConfig[] {
  return domains?.length ? domains.map((d) => findIdentity(ctx.config, d)) : ctx.config.identities;
}

/** Snapshot many identities with bounded concurrency, reporting progress. */
export async function snapshotAll(
  ctx: EngineContext,
  domains?: string[],
): Promise<IdentitySnapshot[]> {
  return forEachIdentity(ctx, identitiesOf(ctx, domains), "reading SES, key store and DNS", (i) =>
    snapshotIdentity(ctx, i),
  );
}

/**
 * The hourly verify's snapshot: the key store and the records for every
 * identity, SES (1 request/s per Region) only where `verifyNeedsSes` says an
 * activation or a deletion may be due. `skipped` counts the others.
 */
export async function snapshotForVerify(
  ctx: EngineContext,
  domains?: string[],
): Promise<{ snapshots: IdentitySnapshot[]; skipped: number }> {
  const identities = identitiesOf(ctx, domains);
  const listed = await keyListing(ctx, domains);
  const read = await forEachIdentity(ctx, identities, "reading the key store", async (i) => {
    const { records, keys } = await readKeysAndRecords(ctx, i.domain, listed);
    return { identity: i, records, keys, ...verifyNeedsSes(keys, records) };
  });
  const due = read.filter((r) => r.needed);
  const snapshots = await forEachIdentity(ctx, due, "reading SES and DNS", (r) =>
    snapshotIdentity(ctx, r.identity, { records: r.records, keys: r.keys }),
  );
  return { snapshots, skipped: read.length - due.length };
}

/** How many identities the daily plan read SES for, and why (its summary line). */
export interface SesReads {
  /** A step is due or near, a key is pending, or an alert needs confirming. */
  due: number;
  /** Nothing due: read by today's share of the drift sweep. */
  sweep: number;
  /** Named on the command line: every one is read. */
  named: number;
  skipped: number;
  total: number;
}

/** `SES reads: 3 due, 143 drift sweep (1/7 of 1,000), 854 skipped`. */
export function describeSesReads(r: SesReads): string {
  const n = (x: number) => x.toLocaleString("en-US");
  if (r.named) return `SES reads: ${n(r.named)} named identities (all read)`;
  return `SES reads: ${n(r.due)} due, ${n(r.sweep)} drift sweep (1/${SWEEP_DAYS} of ${n(r.total)}), ${n(r.skipped)} skipped`;
}

/**
 * The daily plan's snapshot: the key store once and the records for every
 * identity, then SES only for those whose decision needs it (planNeedsSes)
 * plus today's share of the drift sweep, which reads every identity at least
 * once every SWEEP_DAYS days (docs/design.md#plan-ses-reads). Named domains
 * are all read. `assumed` are the others, decided over the expected state:
 * for their metrics only, never acted on.
 */
export async function snapshotForPlan(
  ctx: EngineContext,
  domains?: string[],
): Promise<{ snapshots: IdentitySnapshot[]; assumed: IdentitySnapshot[]; reads: SesReads }> {
  const identities = identitiesOf(ctx, domains);
  const listed = await keyListing(ctx, domains);
  const now = ctx.clock.now();
  const today = sweepSlotOf(now);
  const read = await forEachIdentity(ctx, identities, "reading the key store", async (identity) => {
    const { records, keys } = await readKeysAndRecords(ctx, identity.domain, listed);
    const need = planNeedsSes({ identity, records, keys, now });
    const reason: SesReadReason = need.needed
      ? "due"
      : sweepSlot(identity.domain) === today
        ? "sweep"
        : "skipped";
    return { identity, records, keys, need, reason };
  });
  const named = domains?.length ? read.length : 0;
  const toRead = named ? read : read.filter((r) => r.reason !== "skipped");
  const snapshots = await forEachIdentity(ctx, toRead, "reading SES and DNS", (r) =>
    snapshotIdentity(ctx, r.identity, { records: r.records, keys: r.keys }),
  );
  const assumed: IdentitySnapshot[] = [];
  for (const r of named ? [] : read) {
    if (r.reason !== "skipped" || !r.need.expected) continue;
    const { lifecycle, decision } = r.need.expected;
    assumed.push({
      identity: r.identity,
      records: r.records,
      keys: r.keys,
      ses: [],
      dns: {},
      lifecycle,
      decision,
      sesAssumed: true,
    });
  }
  const count = (reason: SesReadReason) =>
    named ? 0 : read.filter((r) => r.reason === reason).length;
  return {
    snapshots,
    assumed,
    reads: {
      due: count("due"),
      sweep: count("sweep"),
      named,
      skipped: count("skipped"),
      total: read.length,
    },
  };
}

/** Read one identity's records, keys and SES state, and derive its lifecycle (one derivation). */
export async function readLifecycle(
  ctx: EngineContext,
  identity: IdentityConfig,
): Promise<{ records: RecordOnMain[]; keys: StoredKey[]; ses: SesIdentityState[]; lc: Lifecycle }> {
  const [{ records, keys }, ses] = await Promise.all([
    readKeysAndRecords(ctx, identity.domain),
    readSes(ctx, identity),
  ]);
  return {
    records,
    keys,
    ses,
    lc: deriveLifecycle({
      identity,
      records,
      keys,
      ses,
      now: ctx.clock.now(),
      reportQuietDays: ctx.config.dmarcReports?.quietDays,
    }),
  };
}
