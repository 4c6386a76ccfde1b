/**
 * The engine's commands. The CLI, the GitHub Action and the sandbox all call
 * these; they differ only in the adapters they hand in.
 *
 * Every command follows dkim-rotate's discipline: it tries its steps in
 * order, and each step either acts or says why not. Re-running any command
 * after a crash converges (docs/design.md#invariant-5-idempotent-and-crash-safe).
 *
 * Where an identity stands is derived once per snapshot, by lifecycle.ts; the
 * planner and every command here read that one state.
 */
import { addDays, type Clock, isoDate, MINUTE_MS } from "./clock";
import type { IdentityConfig, ProjectConfig } from "./config";
import { InputError, RefusalError } from "./errors";
import { mapLimit } from "./map-limit";
import { localKeyWarning, storeNewKey } from "./custody";
import { fromSesPrivateKey, publicKeyFingerprint } from "./keys";
import { probeSignature } from "./probe";
import {
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_PENDING_PUBLICATION_DAYS,
} from "./metrics";
import {
  checkRetirement,
  checkSwap,
  deriveLifecycle,
  describeRollback,
  regionSigning,
  verifyNeedsSes,
  type Lifecycle,
  type RollbackTarget,
} from "./lifecycle";
import {
  decide,
  rollbackSelector,
  takenSelectors,
  type Decision,
  type DnsObservation,
} from "./planner";
import type {
  ChangeRequestPort,
  DnsPort,
  DnsVerification,
  KeyStorePort,
  MetricsPort,
  RecordOnMain,
  SesDkimStatus,
  SesIdentityState,
  SesPort,
  StoredKey,
} from "./ports";
import {
  dkimRecordValue,
  recordFolderOf,
  recordOwner,
  recordPath,
  renderRecordFile,
} from "./record";
import type { RecordSource } from "./records";
import { nextSelector } from "./selector";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Long work reports progress; front ends decide how to show it. */
  progress(label: string, done: number, total: number): void;
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, progress: () => {} };

export interface LockPort {
  /** Take the per-domain lock or throw LockedError; returns the release function. */
  acquire(domain: string, purpose: string): Promise<() => Promise<void>>;
}

export class LockedError extends Error {
  constructor(domain: string, holder: string) {
    super(
      `${domain}: another run holds the lock (${holder}); refusing to run two activations at once`,
    );
    this.name = "LockedError";
  }
}

/** Text for a record PR; the action renders Markdown for the DNS team, the CLI plain text. */
export interface ChangeText {
  rotation(info: RotationInfo): { title: string; body: string };
  retirement(info: { domain: string; selector: string; activeSelector?: string; path: string }): {
    title: string;
    body: string;
  };
}

export interface RotationInfo {
  identity: IdentityConfig;
  selector: string;
  previousSelector?: string;
  /** Where a failed activation of this key goes back to, said plainly in the PR (invariant 2). */
  rollback: RollbackTarget;
  path: string;
  recordFileText: string;
  joinedValue: string;
  nameservers: string[];
  generatedAt: Date;
  publishBy: Date;
  earliestActivation: Date;
  retireOldAfter: Date;
}

export const plainChangeText: ChangeText = {
  rotation: (i) => ({
    title: `DKIM rotation: ${i.identity.domain} → ${i.selector}`,
    body: [
      `Publish ${recordOwner(i.identity.domain, i.selector)} TXT by ${isoDate(i.publishBy)}.`,
      "",
      `Rollback: ${describeRollback(i.rollback)}.`,
      "",
      i.recordFileText,
      "Joined value:",
      i.joinedValue,
      "",
      ...i.nameservers.map(
        (ns) => `dig +short TXT ${i.selector}._domainkey.${i.identity.domain} @${ns}`,
      ),
    ].join("\n"),
  }),
  retirement: (i) => ({
    title: `DKIM retirement: ${i.domain} ← ${i.selector}`,
    body: `Remove ${recordOwner(i.domain, i.selector)} TXT. SES signs with ${i.activeSelector ?? "another selector"}.`,
  }),
};

export interface EngineContext {
  config: ProjectConfig;
  ses: SesPort;
  keys: KeyStorePort;
  dns: DnsPort;
  records: RecordSource;
  changes: ChangeRequestPort;
  metrics?: MetricsPort;
  lock?: LockPort;
  clock: Clock;
  log: Logger;
  /** Called synchronously the moment private key material exists in this process. */
  onSecret: (secret: string) => void;
  changeText?: ChangeText;
  /** Activation polling: SES usually verifies in minutes; bounded so a job never hangs. */
  activation?: { pollIntervalMs: number; timeoutMs: number };
  /** How many identities are gathered at once (SES calls are paced anyway). */
  concurrency?: number;
}

export interface IdentitySnapshot {
  identity: IdentityConfig;
  records: RecordOnMain[];
  keys: StoredKey[];
  ses: SesIdentityState[];
  dns: Record<string, DnsObservation & { verification?: DnsVerification }>;
  lifecycle: Lifecycle;
  decision: Decision;
}

export function findIdentity(
  config: ProjectConfig,
  domain: string,
  source = "argv",
): IdentityConfig {
  const identity = config.identities.find((i) => i.domain === domain);
  if (!identity) {
    throw new InputError({
      file: source,
      identity: domain,
      field: "domain",
      problem: `is not an identity in ${config.file}`,
      hint: `configured: ${config.identities.map((i) => i.domain).join(", ")}`,
    });
  }
  return identity;
}

export function summarizeDns(v: DnsVerification): string {
  if (!v.servers.length) return "no authoritative nameservers found";
  const bad = v.servers.filter((s) => s.status !== "ok");
  if (!bad.length) return `ok on ${v.servers.map((s) => s.server).join(", ")}`;
  return bad.map((s) => `${s.server}: ${s.status} (${s.detail})`).join("; ");
}

async function readSes(ctx: EngineContext, identity: IdentityConfig): Promise<SesIdentityState[]> {
  return Promise.all(
    identity.regions.map((region) => ctx.ses.getIdentity(region, identity.domain)),
  );
}

/**
 * The stored keys, then the records: a record's merge time (git history) is
 * read only for a pending key's selector, the one the planner counts
 * publication days for (docs/design.md#record-merge-times).
 */
async function readKeysAndRecords(
  ctx: EngineContext,
  domain: string,
): Promise<{ records: RecordOnMain[]; keys: StoredKey[] }> {
  const keys = await ctx.keys.list(domain);
  const pending = new Set(keys.filter((k) => k.state === "pending").map((k) => k.selector));
  return { keys, records: await ctx.records.read(domain, { mergeTimesFor: pending }) };
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
  let lifecycle = deriveLifecycle({ identity, records, keys, ses, now });
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
    lifecycle = deriveLifecycle({ identity, records, keys, ses, dns, now });
  }
  return { identity, records, keys, ses, dns, lifecycle, decision: decide(lifecycle) };
}

/** `mapLimit` at the context's concurrency, reporting progress. */
async function forEachIdentity<T, R>(
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

function identitiesOf(ctx: EngineContext, domains?: string[]): IdentityConfig[] {
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
  const read = await forEachIdentity(ctx, identities, "reading the key store", async (i) => {
    const { records, keys } = await readKeysAndRecords(ctx, i.domain);
    return { identity: i, records, keys, ...verifyNeedsSes(keys, records) };
  });
  const due = read.filter((r) => r.needed);
  const snapshots = await forEachIdentity(ctx, due, "reading SES and DNS", (r) =>
    snapshotIdentity(ctx, r.identity, { records: r.records, keys: r.keys }),
  );
  return { snapshots, skipped: read.length - due.length };
}

export interface PlanOutcome {
  domain: string;
  decision: Decision;
  /** What this run did (or would do with --apply), in words. */
  action: string;
  selector?: string;
  pullRequest?: { number?: number; url?: string; created: boolean };
  error?: string;
}

/**
 * `plan`: decide for every identity and, with `apply`, carry out the steps the
 * planner role may take: generate + store a key, propose its record, propose
 * retirement of an old record. It never swaps SES keys.
 */
export async function runPlan(
  ctx: EngineContext,
  opts: { apply: boolean; domains?: string[] },
): Promise<{ snapshots: IdentitySnapshot[]; outcomes: PlanOutcome[] }> {
  const snapshots = await snapshotAll(ctx, opts.domains);
  for (const snap of snapshots) {
    const warning = localKeyWarning(snap.identity);
    if (warning) ctx.log.warn(warning);
  }
  const outcomes: PlanOutcome[] = [];
  let index = 0;
  for (const snap of snapshots) {
    index++;
    const d = snap.decision;
    try {
      outcomes.push(await applyDecision(ctx, snap, opts.apply));
    } catch (err) {
      if (err instanceof InputError) throw err;
      outcomes.push({
        domain: d.domain,
        decision: d,
        action: "failed",
        error: (err as Error).message,
      });
      ctx.log.warn(`${d.domain}: ${(err as Error).message}`);
    }
    ctx.log.progress(opts.apply ? "applying plan" : "planning", index, snapshots.length);
  }
  if (ctx.metrics) await publishMetrics(ctx, snapshots);
  return { snapshots, outcomes };
}

async function applyDecision(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  apply: boolean,
): Promise<PlanOutcome> {
  const d = snap.decision;
  const base = { domain: d.domain, decision: d };
  switch (d.kind) {
    case "rotate": {
      const selector = nextSelector(
        snap.identity.selectorPrefix,
        ctx.clock.now(),
        takenSelectors(snap.records, snap.keys, snap.ses),
      );
      if (!apply)
        return { ...base, selector, action: `would generate ${selector} and open its record PR` };
      const result = await createKeyAndPropose(ctx, snap, selector, d.rollback);
      return { ...base, selector, pullRequest: result.pr, action: result.action };
    }
    case "await-approval": {
      const key = snap.lifecycle.candidate!.key;
      if (!apply)
        return {
          ...base,
          selector: key.selector,
          action: `would make sure the record PR for ${key.selector} is open`,
        };
      const pr = await proposeRecordFor(ctx, snap, key, d.rollback);
      return {
        ...base,
        selector: key.selector,
        pullRequest: pr,
        action: pr.created
          ? `re-opened the record PR for ${key.selector} (the key was stored by an earlier run)`
          : `record PR for ${key.selector} is open; waiting for DNS review`,
      };
    }
    case "retire": {
      if (d.retireStep !== "remove-record") {
        return {
          ...base,
          selector: d.selector,
          action: `key ${d.selector} is due for deletion: the gated retire job does that`,
        };
      }
      if (!apply)
        return {
          ...base,
          selector: d.selector,
          action: `would open the retirement PR for ${d.selector}`,
        };
      const pr = await proposeRemovalFor(ctx, snap.identity.domain, d.selector, d.activeSelector);
      return {
        ...base,
        selector: d.selector,
        pullRequest: pr,
        action: `retirement PR for ${d.selector} ${pr.created ? "opened" : "is open"}`,
      };
    }
    case "activate":
      return {
        ...base,
        selector: d.selector,
        action: "ready: the gated activate job swaps SES after approval",
      };
    case "idle":
    case "await-publication":
    case "alert":
      return { ...base, selector: d.selector, action: "nothing" };
  }
}

async function createKeyAndPropose(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  selector: string,
  rollback: RollbackTarget,
): Promise<{ action: string; pr: PlanOutcome["pullRequest"] }> {
  const domain = snap.identity.domain;
  const { key, created } = await storeNewKey(ctx, snap.identity, selector);
  if (!created) {
    // Another run stored this selector first (two plans at once, or a crash
    // and re-run). The stored key wins; ours is discarded, never stored.
    ctx.log.info(`${domain}: ${selector} already stored by another run; using the stored key`);
  }
  const pr = await proposeRecordFor(ctx, snap, key, rollback);
  return {
    action: `${created ? "stored key" : "found stored key"} ${selector}; record PR ${pr.created ? "opened" : "updated"}${pr.number ? ` (#${pr.number})` : ""}`,
    pr,
  };
}

export async function renderRotation(
  ctx: EngineContext,
  identity: IdentityConfig,
  key: StoredKey,
  rollback: RollbackTarget,
): Promise<RotationInfo> {
  const nameservers = await ctx.dns
    .nameservers(identity.domain, identity.nameservers)
    .catch(() => []);
  const publishBy = addDays(key.createdAt, identity.dnsLeadDays);
  const recordFileText = renderRecordFile({
    domain: identity.domain,
    selector: key.selector,
    keyBits: key.keyBits,
    fingerprint: publicKeyFingerprint(key.publicKey),
    createdAt: key.createdAt.toISOString(),
    publishBy: isoDate(publishBy),
    publicKey: key.publicKey,
    ttl: identity.recordTtl,
    nameservers,
  });
  return {
    identity,
    selector: key.selector,
    previousSelector: rollbackSelector(rollback),
    rollback,
    path: recordPath(identity.domain, key.selector, recordFolderOf(ctx.config)),
    recordFileText,
    joinedValue: dkimRecordValue(key.publicKey),
    nameservers,
    generatedAt: key.createdAt,
    publishBy,
    earliestActivation: publishBy,
    retireOldAfter: addDays(publishBy, identity.graceDays),
  };
}

async function proposeRecordFor(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  key: StoredKey,
  rollback: RollbackTarget,
) {
  const info = await renderRotation(ctx, snap.identity, key, rollback);
  const text = (ctx.changeText ?? plainChangeText).rotation(info);
  return ctx.changes.proposeRecord({
    domain: snap.identity.domain,
    selector: key.selector,
    path: info.path,
    content: info.recordFileText,
    title: text.title,
    body: text.body,
  });
}

async function proposeRemovalFor(
  ctx: EngineContext,
  domain: string,
  selector: string,
  activeSelector?: string,
) {
  const path = recordPath(domain, selector, recordFolderOf(ctx.config));
  const text = (ctx.changeText ?? plainChangeText).retirement({
    domain,
    selector,
    activeSelector,
    path,
  });
  return ctx.changes.proposeRemoval({ domain, selector, path, title: text.title, body: text.body });
}

/** `verify`: DNS check of one selector on every authoritative nameserver. */
export async function runVerify(
  ctx: EngineContext,
  domain: string,
  selector: string,
  keySource: "stored" | "record",
): Promise<DnsVerification & { keySource: string }> {
  const identity = findIdentity(ctx.config, domain);
  let publicKey: string;
  if (keySource === "stored") {
    const keys = await ctx.keys.list(domain);
    if (!keys.some((k) => k.selector === selector)) {
      throw new RefusalError(domain, `no stored key for ${selector}; nothing to verify against`);
    }
    publicKey = fromSesPrivateKey(await readKey(ctx, domain, selector)).publicKey;
  } else {
    const record = (await ctx.records.read(domain)).find((r) => r.selector === selector);
    if (!record)
      throw new RefusalError(
        domain,
        `${recordPath(domain, selector, recordFolderOf(ctx.config))} is not on main`,
      );
    publicKey = record.publicKey;
  }
  const v = await ctx.dns.verify(domain, selector, publicKey, identity.nameservers);
  return { ...v, keySource };
}

async function readKey(ctx: EngineContext, domain: string, selector: string): Promise<string> {
  const secret = await ctx.keys.readPrivateKey(domain, selector);
  ctx.onSecret(secret);
  return secret;
}

export interface TimelineEvent {
  at: Date;
  step:
    "lock" | "precondition" | "dns" | "probe" | "swap" | "poll" | "rollback" | "record" | "retire";
  detail: string;
  ok: boolean;
}

export interface SwapReport {
  domain: string;
  selector: string;
  /** The BYODKIM selector a failure goes (or went) back to, when that is the way back. */
  previousSelector?: string;
  /** Where a failure goes (or went) back to: said plainly in every summary (invariant 2). */
  rollback: RollbackTarget;
  outcome: "activated" | "already-active" | "rolled-back" | "failed" | "dry-run";
  timeline: TimelineEvent[];
  /** Minutes from the first swap until SES reported SUCCESS everywhere. */
  pendingMinutes?: number;
  message: string;
}

export class ActivationFailedError extends Error {
  constructor(readonly report: SwapReport) {
    super(report.message);
    this.name = "ActivationFailedError";
  }
}

async function withLock<T>(
  ctx: EngineContext,
  domain: string,
  purpose: string,
  fn: () => Promise<T>,
): Promise<T> {
  if (!ctx.lock) return fn();
  const release = await ctx.lock.acquire(domain, purpose);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Read one identity's records, keys and SES state, and derive its lifecycle (one derivation). */
async function readLifecycle(
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
    lc: deriveLifecycle({ identity, records, keys, ses, now: ctx.clock.now() }),
  };
}

/**
 * `activate`: swap SES to `selector` in every Region, only if at this moment
 * every authoritative nameserver serves the key derived from the *stored*
 * private key (invariant 1); poll until SUCCESS; roll back on failure to the
 * lifecycle's rollback target: the previous BYODKIM key, or Easy DKIM.
 */
export async function runActivate(
  ctx: EngineContext,
  domain: string,
  selector: string,
  opts: { dryRun?: boolean; mode?: "activate" | "rollback" } = {},
): Promise<SwapReport> {
  const identity = findIdentity(ctx.config, domain);
  const mode = opts.mode ?? "activate";
  return withLock(ctx, domain, mode, async () => {
    const timeline: TimelineEvent[] = [];
    const event = (step: TimelineEvent["step"], detail: string, ok = true) => {
      timeline.push({ at: ctx.clock.now(), step, detail, ok });
      (ok ? ctx.log.info : ctx.log.warn)(`${domain}: ${step}: ${detail}`);
    };
    const refuse = (why: string): never => {
      event("precondition", why, false);
      throw new RefusalError(domain, `${mode} ${selector} refused: ${why}`);
    };

    const { records, keys, lc } = await readLifecycle(ctx, identity);
    const record = records.find((r) => r.selector === selector);
    if (!record)
      refuse(
        `${recordPath(domain, selector, recordFolderOf(ctx.config))} is not on main (the DNS team has not approved it)`,
      );
    const key = keys.find((k) => k.selector === selector);
    if (!key) refuse(`no stored key for ${selector}`);
    if (key!.deletionDate)
      refuse(`key ${selector} is scheduled for deletion on ${key!.deletionDate.toISOString()}`);
    const check = checkSwap(lc, selector, mode);
    if (!check.ok) return refuse(check.why);
    const { pendingRegions, rollback, from, leaving } = check.value;
    const previousSelector = rollbackSelector(rollback);
    event(
      "precondition",
      `record on main, key stored, SES on ${from}; ${describeRollback(rollback)}`,
    );

    if (pendingRegions.length === 0 && lc.allSuccess) {
      if (key!.state !== "active") {
        // A run swapped every Region and died before recording it. SES's
        // LastSuccessTimestamp moves on every re-check, so it cannot date the
        // activation: the time we first see it settled is the honest bound.
        await ctx.keys.markState(domain, selector, "active", ctx.clock.now());
        event("record", `recorded activation of ${selector}`);
      }
      return {
        domain,
        selector,
        previousSelector,
        rollback,
        outcome: "already-active",
        timeline,
        message: `${domain}: SES already signs with ${selector} in every Region; nothing to do`,
      };
    }

    const secret = await readKey(ctx, domain, selector);
    const derived = fromSesPrivateKey(secret);
    if (derived.publicKey !== record!.publicKey) {
      refuse(
        `${record!.path} does not carry the public key of the stored private key (stored ${derived.fingerprint.slice(0, 19)}…)`,
      );
    }
    if (pendingRegions.length) {
      // Invariant 1: checked now, against the key derived from the stored private key.
      const dns = await ctx.dns.verify(domain, selector, derived.publicKey, identity.nameservers);
      for (const s of dns.servers)
        event(
          "dns",
          `${s.server}: ${s.status}${s.status === "ok" ? "" : ` (${s.detail})`}`,
          s.status === "ok",
        );
      if (!dns.ok) refuse(`DNS not verified: ${summarizeDns(dns)}`);
      // Invariant 1: a real signature, verified against each server's own answer.
      const probe = await probeSignature(domain, selector, secret, dns.servers, ctx.clock.now());
      for (const p of probe.results)
        event(
          "probe",
          `${p.server}: ${p.result}${p.detail ? ` (${p.detail})` : ""}`,
          p.result === "pass",
        );
      if (!probe.ok)
        refuse(
          `probe signature does not verify: ${probe.results
            .filter((p) => p.result !== "pass")
            .map((p) => `${p.server}: DKIM ${p.result}${p.detail ? ` (${p.detail})` : ""}`)
            .join("; ")}`,
        );
      if (rollback.kind === "easy-dkim" && rollback.tokens?.length) {
        // Invariant 2: the way back to Easy DKIM exists only while its three
        // CNAMEs resolve on every authoritative server.
        const cn = await ctx.dns.verifyEasyDkim(domain, rollback.tokens, identity.nameservers);
        if (!cn.ok)
          refuse(
            `the Easy DKIM CNAMEs (the way back) are not served everywhere: ${summarizeDns(cn)}`,
          );
        event("dns", `Easy DKIM CNAMEs served everywhere (the way back)`);
      }
    } else {
      event("dns", "every Region already carries the key; polling only");
    }
    if (opts.dryRun) {
      return {
        domain,
        selector,
        previousSelector,
        rollback,
        outcome: "dry-run",
        timeline,
        message: `${domain}: would swap ${pendingRegions.join(", ")} to ${selector}; ${describeRollback(rollback)}`,
      };
    }

    const swapStart = ctx.clock.now();
    const put = await putKey(ctx, domain, pendingRegions, selector, secret, (region, status) =>
      event("swap", `${region}: now ${selector} (SES ${status ?? "?"})`),
    );
    const polled = await pollUntilSettled(ctx, identity, selector, event, keys, put);
    if (polled.ok) {
      // A rollback restores an older key: keep its first activation time, so
      // its age (and the next rotation date) stays true.
      const at = mode === "rollback" && key!.activatedAt ? key!.activatedAt : ctx.clock.now();
      await ctx.keys.markState(domain, selector, "active", at);
      event("record", `activation of ${selector} recorded`);
      if (mode === "rollback" && leaving && keys.some((k) => k.selector === leaving)) {
        // The key we left is abandoned: never offered for activation again,
        // retired after the grace period like any old selector.
        await ctx.keys.markState(domain, leaving, "retired", ctx.clock.now());
        event("record", `${leaving} marked retired (rolled back from)`);
      }
      const pendingMinutes = Math.round(
        (polled.successAt!.getTime() - swapStart.getTime()) / MINUTE_MS,
      );
      return {
        domain,
        selector,
        previousSelector,
        rollback,
        outcome: "activated",
        timeline,
        pendingMinutes,
        message: `${domain}: SES signs with ${selector} in ${identity.regions.join(", ")} (pending ${pendingMinutes} min)`,
      };
    }
    const after = await rollBack(
      ctx,
      identity,
      selector,
      secret,
      rollback,
      polled.why!,
      timeline,
      event,
      keys,
    );
    // Easy DKIM gave no way back and the second try verified: activated after all.
    if (after.outcome === "activated") return after;
    throw new ActivationFailedError(after);
  });
}

/** Invariant 2: take every Region back to the rollback target after a failed activation. */
async function rollBack(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  secret: string,
  rollback: RollbackTarget,
  why: string,
  timeline: TimelineEvent[],
  event: (step: TimelineEvent["step"], detail: string, ok?: boolean) => void,
  keys: StoredKey[],
): Promise<SwapReport> {
  const domain = identity.domain;
  const report = (
    r: Pick<SwapReport, "outcome" | "message"> & Partial<SwapReport>,
  ): SwapReport => ({
    domain,
    selector,
    rollback,
    timeline,
    ...r,
  });
  if (rollback.kind === "none")
    return report({
      outcome: "failed",
      message: `${domain}: ${selector} did not verify (${why}) and there is no way back: ${rollback.why}`,
    });
  let back: { ok: boolean; why?: string };
  let to: string;
  if (rollback.kind === "byodkim") {
    to = rollback.selector;
    event("rollback", `${why}; rolling back to ${to}`, false);
    const prevSecret = await readKey(ctx, domain, to);
    const away = (await readSes(ctx, identity))
      .filter((s) => regionSigning(s, keys).kind !== "byodkim" || s.tokens[0] !== to)
      .map((s) => s.region);
    const put = await putKey(ctx, domain, away, to, prevSecret, (region) =>
      event("rollback", `${region}: back on ${to}`),
    );
    back = await pollUntilSettled(ctx, identity, to, event, keys, put);
  } else {
    to = "Easy DKIM";
    event("rollback", `${why}; returning to Easy DKIM (AWS_SES) in every Region`, false);
    const tokens: string[] = [];
    for (const region of identity.regions) {
      tokens.push(...(await ctx.ses.useEasyDkim(region, domain)).tokens);
      event("rollback", `${region}: back on Easy DKIM`);
    }
    // The API reference does not say whether a switch back to AWS_SES keeps
    // the identity's three tokens (docs/design.md, "ses-easy-dkim-switch-back"):
    // the PUT answers with them (DkimTokens). Tokens whose CNAMEs no server
    // serves mean Easy DKIM cannot sign. An answer without them: read SES.
    const given = [
      ...new Set(tokens.length ? tokens : (await readSes(ctx, identity)).flatMap((s) => s.tokens)),
    ];
    const served = new Set(rollback.tokens ?? []);
    const fresh = given.filter((t) => !served.has(t));
    const cn =
      given.length && !fresh.length
        ? { ok: true as const }
        : await ctx.dns.verifyEasyDkim(domain, given, identity.nameservers);
    if (!cn.ok) {
      const retry = await retryCandidate(ctx, identity, selector, secret, given, event, keys);
      if (retry.ok) {
        return report({
          outcome: "activated",
          pendingMinutes: retry.pendingMinutes,
          message: `${domain}: SES signs with ${selector} in ${identity.regions.join(", ")} on a second try (the first did not verify: ${why}; Easy DKIM was no way back: SES gave it new tokens whose CNAMEs are not published)`,
        });
      }
      return report({
        outcome: "failed",
        message: `${domain}: ${selector} did not verify twice (${why}; then ${retry.why}) and Easy DKIM is no way back: SES gave it new tokens whose CNAMEs are not published (${easyDkimCnames(domain, given)}); publish those CNAMEs or find why SES does not verify ${selector}`,
      });
    }
    back = await pollUntilSettled(ctx, identity, EASY_DKIM, event, keys, new Map());
  }
  // The failed key is not offered again (it would fail again until someone
  // fixes what SES saw); the planner rotates to a fresh key instead.
  await ctx.keys.markState(domain, selector, "retired", ctx.clock.now());
  event("record", `${selector} marked retired after the failed activation`, false);
  return report({
    previousSelector: rollbackSelector(rollback),
    outcome: "rolled-back",
    message: `${domain}: activation of ${selector} failed (${why}); rolled back to ${to}${back.ok ? " (SES SUCCESS)" : ` but SES has not confirmed it yet (${back.why})`}`,
  });
}

/**
 * Put the candidate back in every Region when going back to Easy DKIM turned
 * out to be no way back: its record is on every server (checked before the
 * first swap, with a real signature), so a second SES check is the best
 * chance of signed mail.
 */
async function retryCandidate(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  secret: string,
  tokens: string[],
  event: (step: TimelineEvent["step"], detail: string, ok?: boolean) => void,
  keys: StoredKey[],
): Promise<{ ok: boolean; why?: string; pendingMinutes?: number }> {
  const domain = identity.domain;
  event(
    "rollback",
    `Easy DKIM is no way back: SES gave new tokens (${tokens.join(", ") || "none"}) whose CNAMEs are not served; trying ${selector} once more`,
    false,
  );
  const start = ctx.clock.now();
  const put = await putKey(ctx, domain, identity.regions, selector, secret, (region, status) =>
    event("swap", `${region}: ${selector} again (SES ${status ?? "?"})`),
  );
  const again = await pollUntilSettled(ctx, identity, selector, event, keys, put);
  // Recorded active either way. If SES did not verify it, nothing better
  // exists: SES stays set to the candidate, whose record every server serves;
  // as the active key it is not offered for activation again (each offer would
  // cycle Easy DKIM's tokens and ask the approvers anew), and every plan
  // raises ses-failed until SES verifies it.
  await ctx.keys.markState(domain, selector, "active", ctx.clock.now());
  if (!again.ok) {
    event("record", `${selector} recorded as what SES is set to (not verified by SES)`, false);
    return { ok: false, why: again.why! };
  }
  event("record", `activation of ${selector} recorded (second try)`);
  return {
    ok: true,
    pendingMinutes: Math.round((again.successAt!.getTime() - start.getTime()) / MINUTE_MS),
  };
}

/** Import `selector`'s key in each of `regions`; the map says what this run put where. */
async function putKey(
  ctx: EngineContext,
  domain: string,
  regions: readonly string[],
  selector: string,
  secret: string,
  done: (region: string, status: SesDkimStatus | undefined) => void,
): Promise<Map<string, string>> {
  const put = new Map<string, string>();
  for (const region of regions) {
    const r = await ctx.ses.putExternalKey(region, domain, selector, secret);
    put.set(region, selector);
    done(region, r.status);
  }
  return put;
}

/** The Easy DKIM CNAMEs for `tokens`, as the DNS team would publish them. */
function easyDkimCnames(domain: string, tokens: string[]): string {
  return tokens.map((t) => `${t}._domainkey.${domain} CNAME ${t}.dkim.amazonses.com`).join("; ");
}

/** The poll target meaning "Easy DKIM in every Region". */
const EASY_DKIM = "\0easy-dkim";

/**
 * Poll SES until every Region has reached SUCCESS on `selector` since the
 * swap. A Region that reached SUCCESS and then shows TEMPORARY_FAILURE (SES
 * re-checks, and such spells are documented) has verified the key: that is
 * not a reason to roll back. Empty `Tokens` right after our own PUT mean the
 * selector we put (the developer guide's BYODKIM example shows `"Tokens": []`).
 */
async function pollUntilSettled(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  event: (step: TimelineEvent["step"], detail: string, ok?: boolean) => void,
  keys: StoredKey[],
  put: ReadonlyMap<string, string>,
): Promise<{ ok: boolean; why?: string; successAt?: Date }> {
  const { pollIntervalMs, timeoutMs } = ctx.activation ?? {
    pollIntervalMs: 30_000,
    timeoutMs: 30 * MINUTE_MS,
  };
  const deadline = ctx.clock.now().getTime() + timeoutMs;
  const verified = new Set<string>();
  let polls = 0;
  for (;;) {
    const states = await readSes(ctx, identity);
    polls++;
    const summary = states.map((s) => `${s.region}: ${s.status}`).join(", ");
    for (const s of states) {
      const on = regionSigning(s, keys, put.get(s.region));
      const label =
        on.kind === "byodkim" ? on.selector : on.kind === "easy-dkim" ? EASY_DKIM : undefined;
      if (label !== selector)
        return {
          ok: false,
          why: `${s.region} now signs with ${on.kind === "byodkim" ? on.selector : on.kind === "easy-dkim" ? "Easy DKIM" : "no known BYODKIM key"}`,
        };
      if (s.status === "SUCCESS") verified.add(s.region);
    }
    if (states.every((s) => verified.has(s.region))) {
      event("poll", `poll ${polls}: ${summary}`);
      return { ok: true, successAt: ctx.clock.now() };
    }
    const failed = states.find((s) => s.status === "FAILED");
    if (failed) {
      event("poll", `poll ${polls}: ${summary}`, false);
      return {
        ok: false,
        why: `SES FAILED in ${failed.region} (${failed.errorType ?? "no error type"})`,
      };
    }
    if (ctx.clock.now().getTime() >= deadline) {
      event("poll", `poll ${polls}: ${summary}`, false);
      return {
        ok: false,
        why: `SES not SUCCESS after ${Math.round(timeoutMs / MINUTE_MS)} min (${summary})`,
      };
    }
    if (polls === 1 || polls % 10 === 0) event("poll", `poll ${polls}: ${summary}`);
    await ctx.clock.sleep(pollIntervalMs);
  }
}

/** `rollback --to`: the same guarded swap, to an older selector that is still published. */
export function runRollback(
  ctx: EngineContext,
  domain: string,
  to: string,
  opts: { dryRun?: boolean } = {},
) {
  return runActivate(ctx, domain, to, { ...opts, mode: "rollback" });
}

export interface RetireReport {
  domain: string;
  selector: string;
  steps: { step: "remove-record" | "delete-key"; acted: boolean; detail: string }[];
  message: string;
}

/**
 * `retire`: remove an old selector's record and schedule its key for deletion,
 * once the active key has signed with SES SUCCESS for graceDays. Refuses to
 * touch the selector SES signs with (invariant 3).
 */
export async function runRetire(
  ctx: EngineContext,
  domain: string,
  selector: string,
  opts: { dryRun?: boolean } = {},
): Promise<RetireReport> {
  const identity = findIdentity(ctx.config, domain);
  return withLock(ctx, domain, "retire", async () => {
    const { lc } = await readLifecycle(ctx, identity);
    const check = checkRetirement(lc, selector);
    if (!check.ok) throw new RefusalError(domain, `retire ${selector} refused: ${check.why}`);
    const activeSelector = check.value.activeSelector;
    const entry = lc.history.find((h) => h.selector === selector)!;
    const { key, record } = entry;

    const steps: RetireReport["steps"] = [];
    if (record) {
      if (opts.dryRun)
        steps.push({
          step: "remove-record",
          acted: false,
          detail: `would propose removing ${record.path}`,
        });
      else {
        const pr = await proposeRemovalFor(ctx, domain, selector, activeSelector);
        steps.push({
          step: "remove-record",
          acted: pr.created,
          detail: `${pr.created ? "proposed" : "already proposed"} removing ${record.path}${pr.number ? ` (#${pr.number})` : ""}`,
        });
      }
    } else {
      steps.push({
        step: "remove-record",
        acted: false,
        detail: `${recordPath(domain, selector, recordFolderOf(ctx.config))} is already gone from main`,
      });
    }
    if (!key)
      steps.push({ step: "delete-key", acted: false, detail: `no stored key for ${selector}` });
    else if (key.deletionDate)
      steps.push({
        step: "delete-key",
        acted: false,
        detail: `already scheduled for deletion on ${isoDate(key.deletionDate)}`,
      });
    else if (opts.dryRun)
      steps.push({
        step: "delete-key",
        acted: false,
        detail: `would schedule deletion with a ${ctx.config.deletionRecoveryDays}-day recovery window`,
      });
    else {
      await ctx.keys.markState(domain, selector, "retired", ctx.clock.now());
      const when = await ctx.keys.scheduleDeletion(
        domain,
        selector,
        ctx.config.deletionRecoveryDays,
      );
      steps.push({
        step: "delete-key",
        acted: true,
        detail: `deletion scheduled for ${isoDate(when)} (recoverable until then)`,
      });
    }
    return {
      domain,
      selector,
      steps,
      message: `${domain}: ${steps.map((s) => s.detail).join("; ")}`,
    };
  });
}

/** Publish the figures the alarms watch. Missing data is itself an alarm (dead-man's switch). */
export async function publishMetrics(
  ctx: EngineContext,
  snapshots: IdentitySnapshot[],
): Promise<void> {
  const data: Parameters<MetricsPort["publish"]>[0] = [];
  for (const s of snapshots) {
    const d = s.decision;
    if (d.daysToExpiry !== undefined)
      data.push({ name: METRIC_DAYS_UNTIL_EXPIRY, domain: d.domain, value: d.daysToExpiry });
    data.push({
      name: METRIC_DKIM_STATUS_NOT_SUCCESS,
      domain: d.domain,
      value: s.ses.every((r) => r.status === "SUCCESS") ? 0 : 1,
      unit: "Count",
    });
    data.push({
      name: METRIC_PENDING_PUBLICATION_DAYS,
      domain: d.domain,
      value:
        d.kind === "await-publication" || d.kind === "activate"
          ? (d.pendingPublicationDays ?? 0)
          : 0,
    });
  }
  await ctx.metrics!.publish(data);
}
