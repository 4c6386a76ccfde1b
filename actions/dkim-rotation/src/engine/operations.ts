/**
 * The engine's commands. The CLI, the GitHub Action and the sandbox all call
 * these; they differ only in the adapters they hand in.
 *
 * Every command follows dkim-rotate's discipline: it tries its steps in
 * order, and each step either acts or says why not. Re-running any command
 * after a crash converges (docs/design.md#invariant-5-idempotent-and-crash-safe).
 */
import { addDays, type Clock, isoDate, MINUTE_MS } from "./clock";
import type { IdentityConfig, ProjectConfig } from "./config";
import { InputError, RefusalError } from "./errors";
import { localKeyWarning, storeNewKey } from "./custody";
import { fromSesPrivateKey, publicKeyFingerprint } from "./keys";
import { probeSignature } from "./probe";
import {
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_PENDING_PUBLICATION_DAYS,
} from "./metrics";
import {
  plan,
  takenSelectors,
  externalSelector,
  activationTime,
  isHistory,
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
  SesIdentityState,
  SesPort,
  StoredKey,
} from "./ports";
import { dkimRecordValue, recordOwner, recordPath, renderRecordFile } from "./record";
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

/** Everything the planner needs for one identity, read once (one GetEmailIdentity per Region). */
export async function snapshotIdentity(
  ctx: EngineContext,
  identity: IdentityConfig,
): Promise<IdentitySnapshot> {
  const [records, keys, ses] = await Promise.all([
    ctx.records.read(identity.domain),
    ctx.keys.list(identity.domain),
    readSes(ctx, identity),
  ]);
  const dns: IdentitySnapshot["dns"] = {};
  let decision = plan({ identity, records, keys, ses, now: ctx.clock.now() });
  if (decision.kind === "await-publication" && decision.selector) {
    // The planner role cannot read private keys; the public key recorded with
    // the stored key at generation is the same key. Activation re-derives it.
    const key = keys.find((k) => k.selector === decision.selector)!;
    const verification = await ctx.dns.verify(
      identity.domain,
      key.selector,
      key.publicKey,
      identity.nameservers,
    );
    dns[key.selector] = { ok: verification.ok, summary: summarizeDns(verification), verification };
    decision = plan({ identity, records, keys, ses, dns, now: ctx.clock.now() });
  }
  return { identity, records, keys, ses, dns, decision };
}

/** Snapshot many identities with bounded concurrency, reporting progress. */
export async function snapshotAll(
  ctx: EngineContext,
  domains?: string[],
): Promise<IdentitySnapshot[]> {
  const identities = domains?.length
    ? domains.map((d) => findIdentity(ctx.config, d))
    : ctx.config.identities;
  const out: IdentitySnapshot[] = new Array(identities.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < identities.length) {
      const index = next++;
      out[index] = await snapshotIdentity(ctx, identities[index]!);
      done++;
      ctx.log.progress("reading SES, key store and DNS", done, identities.length);
    }
  };
  const width = Math.max(1, Math.min(ctx.concurrency ?? 16, identities.length));
  await Promise.all(Array.from({ length: width }, worker));
  return out;
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
      const result = await createKeyAndPropose(ctx, snap, selector);
      return { ...base, selector, pullRequest: result.pr, action: result.action };
    }
    case "await-approval": {
      const key = snap.keys.find((k) => k.selector === d.selector)!;
      if (!apply)
        return {
          ...base,
          selector: key.selector,
          action: `would make sure the record PR for ${key.selector} is open`,
        };
      const pr = await proposeRecordFor(ctx, snap, key, d.previousSelector);
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
      const pr = await proposeRemovalFor(ctx, snap.identity.domain, d.selector!, d.activeSelector);
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
    default:
      return { ...base, selector: d.selector, action: "nothing" };
  }
}

async function createKeyAndPropose(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  selector: string,
): Promise<{ action: string; pr: PlanOutcome["pullRequest"] }> {
  const domain = snap.identity.domain;
  const { key, created } = await storeNewKey(ctx, snap.identity, selector);
  if (!created) {
    // Another run stored this selector first (two plans at once, or a crash
    // and re-run). The stored key wins; ours is discarded, never stored.
    ctx.log.info(`${domain}: ${selector} already stored by another run; using the stored key`);
  }
  const pr = await proposeRecordFor(ctx, snap, key, snap.decision.previousSelector);
  return {
    action: `${created ? "stored key" : "found stored key"} ${selector}; record PR ${pr.created ? "opened" : "updated"}${pr.number ? ` (#${pr.number})` : ""}`,
    pr,
  };
}

export async function renderRotation(
  ctx: EngineContext,
  identity: IdentityConfig,
  key: StoredKey,
  previousSelector?: string,
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
    previousSelector,
    path: recordPath(identity.domain, key.selector),
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
  previousSelector?: string,
) {
  const info = await renderRotation(ctx, snap.identity, key, previousSelector);
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
  const path = recordPath(domain, selector);
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
    if (!record) throw new RefusalError(domain, `${recordPath(domain, selector)} is not on main`);
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
  previousSelector?: string;
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

/**
 * `activate`: swap SES to `selector` in every Region, only if at this moment
 * every authoritative nameserver serves the key derived from the *stored*
 * private key (invariant 1); poll until SUCCESS; roll back on failure.
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

    const [records, keys, ses] = await Promise.all([
      ctx.records.read(domain),
      ctx.keys.list(domain),
      readSes(ctx, identity),
    ]);
    const record = records.find((r) => r.selector === selector);
    if (!record)
      refuse(`${recordPath(domain, selector)} is not on main (the DNS team has not approved it)`);
    const key = keys.find((k) => k.selector === selector);
    if (!key) refuse(`no stored key for ${selector}`);
    if (key!.deletionDate)
      refuse(`key ${selector} is scheduled for deletion on ${key!.deletionDate.toISOString()}`);
    const missing = ses.filter((s) => !s.exists);
    if (missing.length)
      refuse(`SES identity missing in ${missing.map((s) => s.region).join(", ")}`);

    const current = ses.map((s) => ({ region: s.region, selector: externalSelector(s), state: s }));
    const others = [
      ...new Set(current.map((c) => c.selector).filter((s): s is string => !!s && s !== selector)),
    ];
    if (others.length > 1)
      refuse(`Regions sign with several other selectors (${others.join(", ")}); reconcile by hand`);
    // Invariant 2 across a crash (invariant 5): if an earlier run swapped every
    // Region and died while polling, SES no longer shows what it replaced. The
    // key store still does: the newest older key whose activation was recorded.
    const previousSelector =
      others[0] ??
      (mode === "activate" && key && current.every((c) => c.selector === selector)
        ? keys
            .filter(
              (k) =>
                k.selector !== selector &&
                k.state === "active" &&
                !k.deletionDate &&
                k.createdAt.getTime() < key.createdAt.getTime(),
            )
            .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0]?.selector
        : undefined);
    if (previousSelector && !keys.some((k) => k.selector === previousSelector)) {
      refuse(
        `SES signs with ${previousSelector}, which has no stored key here (drift); refusing to replace a key we cannot roll back to`,
      );
    }
    if (mode === "activate" && previousSelector) {
      const prev = keys.find((k) => k.selector === previousSelector)!;
      if (prev.createdAt.getTime() > key!.createdAt.getTime()) {
        refuse(
          `${selector} is older than the active ${previousSelector}; use rollback to go back to an older key`,
        );
      }
    }
    event(
      "precondition",
      `record on main, key stored, SES on ${others[0] ?? current.find((c) => c.selector)?.selector ?? "no BYODKIM key (onboarding)"}`,
    );

    const done = current.every((c) => c.selector === selector && c.state.status === "SUCCESS");
    if (done) {
      if (key!.state !== "active") {
        await ctx.keys.markState(
          domain,
          selector,
          "active",
          activationTime(key, ses) ?? ctx.clock.now(),
        );
        event("record", `recorded activation of ${selector}`);
      }
      return {
        domain,
        selector,
        previousSelector,
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
    const pendingRegions = current.filter((c) => c.selector !== selector).map((c) => c.region);
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
    } else {
      event("dns", "every Region already carries the key; polling only");
    }
    if (opts.dryRun) {
      return {
        domain,
        selector,
        previousSelector,
        outcome: "dry-run",
        timeline,
        message: `${domain}: would swap ${pendingRegions.join(", ")} to ${selector}`,
      };
    }

    const swapStart = ctx.clock.now();
    for (const region of pendingRegions) {
      const r = await ctx.ses.putExternalKey(region, domain, selector, secret);
      event("swap", `${region}: now ${selector} (SES ${r.status ?? "?"})`);
    }
    const polled = await pollUntilSettled(ctx, identity, selector, event);
    if (polled.ok) {
      // A rollback restores an older key: keep its first activation time, so
      // its age (and the next rotation date) stays true.
      const at = mode === "rollback" && key!.activatedAt ? key!.activatedAt : ctx.clock.now();
      await ctx.keys.markState(domain, selector, "active", at);
      event("record", `activation of ${selector} recorded`);
      if (mode === "rollback" && previousSelector) {
        // The key we left is abandoned: never offered for activation again,
        // retired after the grace period like any old selector.
        await ctx.keys.markState(domain, previousSelector, "retired", ctx.clock.now());
        event("record", `${previousSelector} marked retired (rolled back from)`);
      }
      const pendingMinutes = Math.round(
        (polled.successAt!.getTime() - swapStart.getTime()) / MINUTE_MS,
      );
      return {
        domain,
        selector,
        previousSelector,
        outcome: "activated",
        timeline,
        pendingMinutes,
        message: `${domain}: SES signs with ${selector} in ${identity.regions.join(", ")} (pending ${pendingMinutes} min)`,
      };
    }

    // Invariant 2: roll back every Region to the previous selector.
    if (!previousSelector) {
      const report: SwapReport = {
        domain,
        selector,
        outcome: "failed",
        timeline,
        message: `${domain}: ${selector} did not verify (${polled.why}) and there is no previous BYODKIM key to roll back to; SES signs only with its own domain until fixed`,
      };
      throw new ActivationFailedError(report);
    }
    event("rollback", `${polled.why}; rolling back to ${previousSelector}`, false);
    const prevSecret = await readKey(ctx, domain, previousSelector);
    for (const s of await readSes(ctx, identity)) {
      if (externalSelector(s) !== previousSelector) {
        await ctx.ses.putExternalKey(s.region, domain, previousSelector, prevSecret);
        event("rollback", `${s.region}: back on ${previousSelector}`);
      }
    }
    const back = await pollUntilSettled(ctx, identity, previousSelector, event);
    // The failed key is not offered again (it would fail again until someone
    // fixes what SES saw); the planner rotates to a fresh key instead.
    await ctx.keys.markState(domain, selector, "retired", ctx.clock.now());
    event("record", `${selector} marked retired after the failed activation`, false);
    const report: SwapReport = {
      domain,
      selector,
      previousSelector,
      outcome: "rolled-back",
      timeline,
      message: `${domain}: activation of ${selector} failed (${polled.why}); rolled back to ${previousSelector}${back.ok ? " (SES SUCCESS)" : ` but SES has not confirmed it yet (${back.why})`}`,
    };
    throw new ActivationFailedError(report);
  });
}

async function pollUntilSettled(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  event: (step: TimelineEvent["step"], detail: string, ok?: boolean) => void,
): Promise<{ ok: boolean; why?: string; successAt?: Date }> {
  const { pollIntervalMs, timeoutMs } = ctx.activation ?? {
    pollIntervalMs: 30_000,
    timeoutMs: 30 * MINUTE_MS,
  };
  const deadline = ctx.clock.now().getTime() + timeoutMs;
  let polls = 0;
  for (;;) {
    const states = await readSes(ctx, identity);
    polls++;
    const summary = states.map((s) => `${s.region}: ${s.status}`).join(", ");
    const wrong = states.find((s) => externalSelector(s) !== selector);
    if (wrong)
      return {
        ok: false,
        why: `${wrong.region} now signs with ${externalSelector(wrong) ?? "no BYODKIM key"}`,
      };
    if (states.every((s) => s.status === "SUCCESS")) {
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
    const [records, keys, ses] = await Promise.all([
      ctx.records.read(domain),
      ctx.keys.list(domain),
      readSes(ctx, identity),
    ]);
    const refuse = (why: string): never => {
      throw new RefusalError(domain, `retire ${selector} refused: ${why}`);
    };
    const signing = ses.filter((s) => s.tokens.includes(selector));
    if (signing.length)
      refuse(
        `SES signs with ${selector} in ${signing.map((s) => s.region).join(", ")} (the active record is never removed)`,
      );
    const active = [...new Set(ses.map(externalSelector))];
    if (active.length !== 1 || !active[0])
      refuse(
        `Regions do not agree on one active BYODKIM selector (${active.join(", ") || "none"})`,
      );
    const activeSelector = active[0]!;
    const notSuccess = ses.filter((s) => s.status !== "SUCCESS");
    if (notSuccess.length)
      refuse(
        `SES is ${notSuccess.map((s) => `${s.status} in ${s.region}`).join(", ")} for ${activeSelector}; the old key stays for rollback`,
      );
    const activeKey = keys.find((k) => k.selector === activeSelector);
    const key = keys.find((k) => k.selector === selector);
    const record = records.find((r) => r.selector === selector);
    if (!key && !record)
      refuse(`nothing is known about ${selector} (no record file, no stored key)`);
    if (!isHistory(key, activeKey))
      refuse(
        `${selector} is newer than the active ${activeSelector}: it is a candidate, not history`,
      );
    const activatedAt = activationTime(activeKey, ses)!;
    const after = addDays(activatedAt, identity.graceDays);
    if (ctx.clock.now() < after)
      refuse(
        `not until ${after.toISOString()} (${activeSelector} activated ${activatedAt.toISOString()}, grace ${identity.graceDays} days)`,
      );

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
        detail: `${recordPath(domain, selector)} is already gone from main`,
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
      value: d.pendingPublicationDays ?? 0,
    });
  }
  await ctx.metrics!.publish(data);
}
