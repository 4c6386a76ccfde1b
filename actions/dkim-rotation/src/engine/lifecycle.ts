/**
 * The lifecycle model: ONE derivation, from one snapshot (config, record files
 * on main, SES per Region, key store, now), of where an identity stands. The
 * planner maps this state to a decision; `activate`, `rollback` and `retire`
 * check their preconditions against the same state. Nothing else works out
 * which selector is active, which key is the candidate, or where a failed
 * activation goes back to (docs/design.md, "Lifecycle model").
 *
 * SES answers are read as AWS documents them, under every documented reading:
 * - `DkimAttributes.Tokens` of a BYODKIM identity holds the selector per the
 *   API reference, but the developer guide's own example shows `EXTERNAL`,
 *   `SUCCESS` with `"Tokens": []`. An empty list never means "no key": the
 *   selector is then the key store's active record, or unknown.
 * - `VerificationInfo.LastSuccessTimestamp` moves forward on every successful
 *   re-check, so a key's age is never read from it: only from the activation
 *   time this project recorded (or the operator gave to `adopt`).
 * - `TEMPORARY_FAILURE` may follow SUCCESS for a while: it is not SUCCESS
 *   (retirement waits), and not a failure of the key (no rollback).
 */
import { addDays, DAY_MS, daysBetween } from "./clock";
import type { IdentityConfig } from "./config";
import { type EasyDkimCname, easyDkimCnames, unjudgedWhy } from "./easy-dkim";
import type { RecordOnMain, SesIdentityState, StoredKey } from "./ports";
import { reportQuiet } from "./report-evidence";

/** DNS observation for one selector, gathered by the caller (the model stays pure). */
export interface DnsObservation {
  ok: boolean;
  /** One line, e.g. "ns2.example.jp: missing (NXDOMAIN)". */
  summary: string;
}

export interface LifecycleInput {
  identity: IdentityConfig;
  /** Record files for this domain on the main branch. */
  records: RecordOnMain[];
  /** Keys for this domain in the key store, including ones scheduled for deletion. */
  keys: StoredKey[];
  /** One entry per configured Region. */
  ses: SesIdentityState[];
  /** DNS results keyed by selector (only a candidate needs one). */
  dns?: Record<string, DnsObservation>;
  now: Date;
  /** `dmarcReports.quietDays`, when reports are configured: retirement also waits for them (dmarc.ts `reportQuiet`). */
  reportQuietDays?: number;
  /**
   * What this process itself just imported per Region: an answer with empty
   * `Tokens` right after our own PUT means the selector we put.
   */
  putByThisRun?: ReadonlyMap<string, string>;
}

/** What SES signs with in one Region. */
export type RegionSigning =
  | { kind: "missing" }
  | { kind: "byodkim"; selector: string; source: "tokens" | "key-store" | "this-run" }
  /** EXTERNAL with empty `Tokens`, and nothing else knows the selector. */
  | { kind: "byodkim-unknown" }
  /** `AWS_SES` or deterministic `AWS_SES_<REGION>`; `working` = SUCCESS/TEMPORARY_FAILURE with signing on. */
  | { kind: "easy-dkim"; origin: string; tokens: string[]; working: boolean };

export interface RegionState {
  region: string;
  ses: SesIdentityState;
  signing: RegionSigning;
}

/** Where a failed or timed-out activation goes back to (invariant 2). */
export type RollbackTarget =
  | { kind: "byodkim"; selector: string }
  /**
   * Easy DKIM (`SigningAttributesOrigin=AWS_SES`) in every Region. `cnames`
   * are the CNAMEs SES asked for before the switch (each Region's tokens and
   * SigningHostedZone, docs/design.md#ses-signing-hosted-zone), when known (an
   * activation that crashed after swapping every Region no longer sees them).
   */
  | { kind: "easy-dkim"; cnames?: EasyDkimCname[] }
  | { kind: "none"; why: string };

export interface ActiveKey {
  selector: string;
  /** The stored key, if the key store holds one (not scheduled for deletion). */
  key?: StoredKey;
  record?: RecordOnMain;
  /** When it started signing: the recorded activation time, never SES's last success. */
  since?: Date;
  /** SES signs with it, but its activation was never recorded (a run died while polling). */
  unrecorded: boolean;
}

export type CandidatePhase =
  "awaiting-approval" | "record-mismatch" | "awaiting-publication" | "ready";

export interface Candidate {
  key: StoredKey;
  record?: RecordOnMain;
  phase: CandidatePhase;
  dns?: DnsObservation;
  /** Days since the record reached main (or the key was stored, without a merge time). */
  pendingPublicationDays?: number;
}

export type SigningSummary =
  /** The identity does not exist in these Regions. */
  | { kind: "missing"; regions: string[] }
  /** A selector SES signs with that the repository cannot place. */
  | { kind: "unknown"; what: string }
  /** SES signs with a selector that has neither a stored key nor a record file. */
  | { kind: "drift"; selectors: string[] }
  /** Regions disagree: an activation or rollback stopped half-way (or a Region was added). */
  | { kind: "split"; detail: string; finish?: StoredKey; rollback: RollbackTarget }
  /** No BYODKIM key anywhere: Easy DKIM (working or not) or no DKIM. */
  | { kind: "onboarding"; from: "easy-dkim" | "none" }
  | { kind: "byodkim"; active: ActiveKey };

export interface Lifecycle {
  identity: IdentityConfig;
  now: Date;
  regions: RegionState[];
  signing: SigningSummary;
  /** Convenience: the active key when `signing.kind === "byodkim"`. */
  active?: ActiveKey;
  candidate?: Candidate;
  /** Where a failed activation of the candidate (or the split's finish) goes back to. */
  rollback: RollbackTarget;
  /**
   * Selectors that are neither active nor the candidate: retirable after the
   * grace period (with keys already scheduled for deletion, so a re-run converges).
   */
  history: { selector: string; key?: StoredKey; record?: RecordOnMain }[];
  /** Regions where SES reports FAILED. */
  failed: SesIdentityState[];
  /** SES SUCCESS in every Region right now. */
  allSuccess: boolean;
  /** What this snapshot cannot tell; the planner refuses to guess. */
  unknowns: string[];
  /** Keys whose tags contradict their name, date or public key (the key store used the facts). */
  tampered: { secretName: string; what: string }[];
  /** `dmarcReports.quietDays`; undefined when production proof from reports is off. */
  reportQuietDays?: number;
}

const EASY_DKIM_ORIGIN = /^AWS_SES/;
const liveKey = (k: StoredKey | undefined): StoredKey | undefined =>
  k && !k.deletionDate ? k : undefined;

/** The key store's active record: the newest live key whose activation was recorded. */
export function keyStoreActive(keys: StoredKey[]): StoredKey | undefined {
  return newestKey(keys.filter((k) => k.state === "active" && !k.deletionDate));
}

export function newestKey(keys: StoredKey[]): StoredKey | undefined {
  return [...keys].sort(
    (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.selector.localeCompare(a.selector),
  )[0];
}

/**
 * Whether the hourly verify must read SES for an identity, from the key store
 * and the records on main alone: only an active key recorded before SES
 * verified it (to prove it once SES has), or a live key that is not the newest active
 * one and is either pending (a candidate, or an activation a crashed run left)
 * or has lost its record on main (a deletion now due) can lead verify to an
 * activation or a retirement. Everything else is the daily plan's
 * (planner.ts planNeedsSes, docs/design.md#plan-ses-reads).
 */
export function verifyNeedsSes(
  keys: StoredKey[],
  records: RecordOnMain[],
): { needed: boolean; why: string } {
  const active = keyStoreActive(keys);
  const onMain = new Set(records.map((r) => r.selector));
  for (const k of keys) {
    if (k === active && !k.deletionDate && k.proof === "unverified")
      return {
        needed: true,
        why: `${k.selector} was recorded active before SES verified it (docs/design.md#unproven-activation)`,
      };
    if (k.deletionDate || k === active) continue;
    if (k.state === "pending") return { needed: true, why: `${k.selector} is a pending key` };
    if (!onMain.has(k.selector))
      return { needed: true, why: `${k.selector}'s record has left main (deletion due)` };
  }
  return { needed: false, why: "no pending key and no deletion due" };
}

/** What SES signs with in one Region, read under every documented `Tokens` answer. */
export function regionSigning(
  state: SesIdentityState,
  keys: StoredKey[],
  putByThisRun?: string,
): RegionSigning {
  if (!state.exists) return { kind: "missing" };
  if (state.origin === "EXTERNAL") {
    if (state.tokens[0]) return { kind: "byodkim", selector: state.tokens[0], source: "tokens" };
    if (putByThisRun) return { kind: "byodkim", selector: putByThisRun, source: "this-run" };
    const active = keyStoreActive(keys);
    if (active) return { kind: "byodkim", selector: active.selector, source: "key-store" };
    return { kind: "byodkim-unknown" };
  }
  const working =
    state.signingEnabled && (state.status === "SUCCESS" || state.status === "TEMPORARY_FAILURE");
  return {
    kind: "easy-dkim",
    origin: state.origin ?? "AWS_SES",
    tokens: state.tokens,
    working: working && (state.origin === undefined || EASY_DKIM_ORIGIN.test(state.origin)),
  };
}

/** The selector a Region signs with, when BYODKIM and known. */
export function signingSelector(r: RegionState): string | undefined {
  return r.signing.kind === "byodkim" ? r.signing.selector : undefined;
}

/**
 * Whether a non-active selector's key is history (retirable) rather than a
 * candidate still on its way: a key newer than the active one is a candidate
 * unless a failed or rolled-back activation marked it retired.
 */
function isHistory(key: StoredKey | undefined, activeKey: StoredKey | undefined): boolean {
  return (
    !activeKey ||
    !key ||
    key.state === "retired" ||
    key.createdAt.getTime() < activeKey.createdAt.getTime()
  );
}

/** Where going back from `selector` would land, once SES signs with it everywhere. */
function rollbackBehind(selector: string, keys: StoredKey[]): RollbackTarget {
  const key = keys.find((k) => k.selector === selector);
  const older = newestKey(
    keys.filter(
      (k) =>
        k.selector !== selector &&
        k.state === "active" &&
        !k.deletionDate &&
        (!key || k.createdAt.getTime() < key.createdAt.getTime()),
    ),
  );
  if (older) return { kind: "byodkim", selector: older.selector };
  // No earlier BYODKIM key was ever activated here: the identity came from
  // Easy DKIM (or from no DKIM, where AWS_SES is still no worse than a key
  // SES cannot verify).
  return { kind: "easy-dkim" };
}

function rollbackFromActive(active: ActiveKey): RollbackTarget {
  if (active.key) return { kind: "byodkim", selector: active.selector };
  return {
    kind: "none",
    why: `the private key of ${active.selector} is not in the key store (lost, or never adopted): if the new key fails, nothing signs for the domain until it is fixed`,
  };
}

/** Each Easy DKIM Region's CNAMEs (its own tokens and zone: without deterministic Easy DKIM each Region has its own three). */
function cnamesOf(regions: RegionState[]): EasyDkimCname[] {
  return regions.flatMap((r) =>
    r.signing.kind === "easy-dkim"
      ? easyDkimCnames(r.ses.domain, r.region, r.signing.tokens, r.ses.signingHostedZone)
      : [],
  );
}

function rollbackFromOnboarding(regions: RegionState[]): RollbackTarget {
  const easy = regions.map((r) => r.signing).filter((s) => s.kind === "easy-dkim");
  if (easy.length === regions.length && easy.every((s) => s.working)) {
    return { kind: "easy-dkim", cnames: cnamesOf(regions) };
  }
  return {
    kind: "none",
    why: "SES has no working DKIM for the identity today (Easy DKIM not verified), so there is nothing signing to go back to",
  };
}

export function deriveLifecycle(input: LifecycleInput): Lifecycle {
  const { identity, records, keys, ses, now } = input;
  const keyBySelector = new Map(keys.map((k) => [k.selector, k]));
  const recordBySelector = new Map(records.map((r) => [r.selector, r]));
  const regions: RegionState[] = ses.map((s) => ({
    region: s.region,
    ses: s,
    signing: regionSigning(s, keys, input.putByThisRun?.get(s.region)),
  }));
  const failed = ses.filter((s) => s.exists && s.status === "FAILED");
  const allSuccess = ses.every((s) => s.exists && s.status === "SUCCESS");
  const unknowns: string[] = [];
  const tampered = keys.flatMap((k) =>
    (k.tampering ?? []).map((what) => ({ secretName: k.secretName, what })),
  );
  const base = {
    identity,
    now,
    regions,
    failed,
    allSuccess,
    unknowns,
    tampered,
    ...(input.reportQuietDays !== undefined ? { reportQuietDays: input.reportQuietDays } : {}),
  };
  const nothing = {
    rollback: { kind: "none", why: "no activation is possible in this state" } as RollbackTarget,
    history: [],
  };

  const missing = regions.filter((r) => r.signing.kind === "missing").map((r) => r.region);
  if (missing.length)
    return { ...base, ...nothing, signing: { kind: "missing", regions: missing } };

  const tokenless = regions
    .filter((r) => r.signing.kind === "byodkim-unknown")
    .map((r) => r.region);
  if (tokenless.length) {
    const what = `SES ${tokenless.join(", ")} signs with BYODKIM (EXTERNAL) but answers empty Tokens, and the key store records no active key: the signing selector is unknown`;
    unknowns.push(what);
    return { ...base, ...nothing, signing: { kind: "unknown", what } };
  }

  const selectors = [...new Set(regions.map(signingSelector).filter((s): s is string => !!s))];
  const drift = selectors.filter((s) => !keyBySelector.has(s) && !recordBySelector.has(s));
  if (drift.length) return { ...base, ...nothing, signing: { kind: "drift", selectors: drift } };

  const history = (exclude: Set<string>, activeKey: StoredKey | undefined) => {
    const names = new Set<string>();
    for (const r of records) if (!exclude.has(r.selector)) names.add(r.selector);
    // Keys scheduled for deletion stay: a re-run of retire must converge on them.
    for (const k of keys) if (!exclude.has(k.selector)) names.add(k.selector);
    return [...names]
      .filter((s) => isHistory(keyBySelector.get(s), activeKey))
      .sort()
      .map((s) => ({ selector: s, key: keyBySelector.get(s), record: recordBySelector.get(s) }));
  };

  const byodkimRegions = regions.filter((r) => r.signing.kind === "byodkim");
  if (selectors.length > 1 || (selectors.length === 1 && byodkimRegions.length < regions.length)) {
    const detail = regions
      .map((r) => `${r.region}: ${signingSelector(r) ?? r.ses.origin ?? "none"}`)
      .join(", ");
    const finish = newestKey(selectors.map((s) => liveKey(keyBySelector.get(s))).filter(isKey));
    let rollback: RollbackTarget;
    if (!finish) rollback = { kind: "none", why: "no stored key for any selector SES signs with" };
    else {
      const other = selectors.find((s) => s !== finish.selector);
      if (other && liveKey(keyBySelector.get(other)))
        rollback = { kind: "byodkim", selector: other };
      else if (other) rollback = { kind: "none", why: `${other} has no stored key` };
      else if (finish.state === "pending") {
        // A first switch that stopped half-way: the other Regions are still on
        // Easy DKIM (or none), and going back means AWS_SES everywhere.
        const cnames = cnamesOf(regions);
        const behind = rollbackBehind(finish.selector, keys);
        rollback =
          behind.kind === "easy-dkim" && cnames.length ? { kind: "easy-dkim", cnames } : behind;
      } else {
        // A Region added later: the key already signs elsewhere and stays there.
        rollback = {
          kind: "none",
          why: `${finish.selector} already signs in the other Regions; if it fails in ${regions
            .filter((r) => signingSelector(r) !== finish.selector)
            .map((r) => r.region)
            .join(", ")}, fix it there`,
        };
      }
    }
    return {
      ...base,
      signing: { kind: "split", detail, ...(finish ? { finish } : {}), rollback },
      rollback,
      history: history(new Set(selectors), finish),
    };
  }

  if (selectors.length === 0) {
    const from = rollbackFromOnboarding(regions).kind === "easy-dkim" ? "easy-dkim" : "none";
    const rollback = rollbackFromOnboarding(regions);
    const candidate = deriveCandidate(input, undefined);
    return {
      ...base,
      signing: { kind: "onboarding", from },
      rollback,
      ...(candidate ? { candidate } : {}),
      history: history(new Set(candidate ? [candidate.key.selector] : []), candidate?.key),
    };
  }

  const selector = selectors[0]!;
  const key = liveKey(keyBySelector.get(selector));
  const unrecorded = key !== undefined && key.state === "pending";
  const since = key?.state === "active" || key?.state === "retired" ? key.activatedAt : undefined;
  if (!since && !unrecorded) {
    unknowns.push(
      key
        ? `the activation time of ${selector} was never recorded`
        : `${selector} has a record file but no stored key: its activation time is unknown (run adopt to record it)`,
    );
  }
  const active: ActiveKey = {
    selector,
    ...(key ? { key } : {}),
    ...(recordBySelector.get(selector) ? { record: recordBySelector.get(selector) } : {}),
    ...(since ? { since } : {}),
    unrecorded,
  };
  if (unrecorded) {
    // SES already signs with a key still marked pending: the run that swapped
    // died before recording it. Going back means what was active before it.
    return {
      ...base,
      signing: { kind: "byodkim", active },
      active,
      rollback: rollbackBehind(selector, keys),
      history: history(new Set([selector]), key),
    };
  }
  const candidate = deriveCandidate(input, active);
  return {
    ...base,
    signing: { kind: "byodkim", active },
    active,
    ...(candidate ? { candidate } : {}),
    rollback: rollbackFromActive(active),
    history: history(new Set([selector, ...(candidate ? [candidate.key.selector] : [])]), key),
  };
}

/** The candidate: the newest live pending key newer than the active one. */
function deriveCandidate(
  input: LifecycleInput,
  active: ActiveKey | undefined,
): Candidate | undefined {
  const activeKey = active?.key;
  const key = newestKey(
    input.keys.filter(
      (k) =>
        k.selector !== active?.selector &&
        !k.deletionDate &&
        k.state === "pending" &&
        !k.refused &&
        (!activeKey || k.createdAt.getTime() > activeKey.createdAt.getTime()),
    ),
  );
  if (!key) return undefined;
  const record = input.records.find((r) => r.selector === key.selector);
  if (!record) return { key, phase: "awaiting-approval" };
  if (record.publicKey !== key.publicKey) return { key, record, phase: "record-mismatch" };
  const since = record.mergedAt ?? key.createdAt;
  const pendingPublicationDays = Math.max(0, daysBetween(since, input.now));
  const dns = input.dns?.[key.selector];
  return {
    key,
    record,
    phase: dns?.ok ? "ready" : "awaiting-publication",
    ...(dns ? { dns } : {}),
    pendingPublicationDays,
  };
}

function isKey(k: StoredKey | undefined): k is StoredKey {
  return k !== undefined;
}

/** When the active key is due, and its age, from the recorded activation only. */
export function keyClock(
  identity: IdentityConfig,
  since: Date | undefined,
  now: Date,
): { expiresAt?: Date; daysToExpiry?: number; keyAgeDays?: number } {
  if (!since) return {};
  const expiresAt = addDays(since, identity.rotationDays);
  return {
    expiresAt,
    daysToExpiry: Math.floor((expiresAt.getTime() - now.getTime()) / DAY_MS),
    keyAgeDays: daysBetween(since, now),
  };
}

/** The date the DNS team is asked to publish a key's record by: its creation + dnsLeadDays. */
export function publishByOf(identity: IdentityConfig, key: { createdAt: Date }): Date {
  return addDays(key.createdAt, identity.dnsLeadDays);
}

/** When the previous selector may go: the new key has signed for graceDays (invariant 2). */
export function graceEndOf(identity: IdentityConfig, activatedAt: Date): Date {
  return addDays(activatedAt, identity.graceDays);
}

/**
 * A rotation's dates, each from the rule the engine acts on
 * (docs/design.md#rotation-dates): what the record PR, the job summary and
 * the sandbox's pictures show.
 */
export interface RotationDates {
  /** The key was stored and its record PR opened. */
  generatedAt: Date;
  /** The DNS team is asked to publish by: generatedAt + dnsLeadDays. */
  publishBy: Date;
  /** Activation is offered once every authoritative server serves the record: planned for publishBy. */
  earliestActivation: Date;
  /** When SES signed with the key in every Region (recorded), once it has. */
  activatedAt?: Date;
  /** The previous selector stays for rollback until the key has signed graceDays (from the activation, or the planned one). */
  retireOldAfter: Date;
  /** The removal PR opens at retireOldAfter; the DNS team removes the old record within dnsLeadDays. */
  retiredBy: Date;
}

export function rotationDates(
  identity: IdentityConfig,
  key: { createdAt: Date },
  activatedAt?: Date,
): RotationDates {
  const publishBy = publishByOf(identity, key);
  const retireOldAfter = graceEndOf(identity, activatedAt ?? publishBy);
  return {
    generatedAt: key.createdAt,
    publishBy,
    earliestActivation: publishBy,
    ...(activatedAt ? { activatedAt } : {}),
    retireOldAfter,
    retiredBy: publishByOf(identity, { createdAt: retireOldAfter }),
  };
}

/**
 * The rotation an identity is in, if any: the candidate on its way (not yet
 * active), or the active key whose predecessor still awaits retirement.
 */
export function rotationInFlight(
  lc: Lifecycle,
): { selector: string; previousSelector?: string; dates: RotationDates } | undefined {
  const active = lc.signing.kind === "byodkim" ? lc.signing.active : undefined;
  if (lc.candidate)
    return {
      selector: lc.candidate.key.selector,
      ...(active ? { previousSelector: active.selector } : {}),
      dates: rotationDates(lc.identity, lc.candidate.key),
    };
  const old = lc.history.find((h) => h.record || (h.key && !h.key.deletionDate));
  if (active?.key && active.since && old)
    return {
      selector: active.selector,
      previousSelector: old.selector,
      dates: rotationDates(lc.identity, active.key, active.since),
    };
  return undefined;
}

/** Plain words for a rollback target, for PR bodies, summaries and approvals. */
export function describeRollback(r: RollbackTarget): string {
  switch (r.kind) {
    case "byodkim":
      return `a failed activation rolls back to ${r.selector} (its record and key are kept until the grace period ends)`;
    case "easy-dkim": {
      const unjudged = r.cnames ? unjudgedWhy(r.cnames) : undefined;
      return `a failed activation returns the identity to Easy DKIM (SigningAttributesOrigin=AWS_SES) in every Region${unjudged ? ` (whether its CNAMEs are served cannot be judged: ${unjudged})` : ""}`;
    }
    case "none":
      return `NO ROLLBACK EXISTS: ${r.why}`;
  }
}

// ---- preconditions of the commands, checked against the same state ---------

export type Check<T> = { ok: true; value: T } | { ok: false; why: string };

export interface SwapPlan {
  /** Regions that do not sign with the target yet. */
  pendingRegions: string[];
  /** Where a failure goes back to (for `rollback` mode: nothing further). */
  rollback: RollbackTarget;
  /** What SES signs with now, for the timeline. */
  from: string;
  /** The BYODKIM selector the swap leaves behind, if any (a rollback abandons it). */
  leaving?: string;
}

/**
 * Whether `activate <selector>` (or `rollback --to <selector>`) may swap, in
 * this state. The record and stored key are checked by the caller's lookups
 * of the same snapshot; DNS is verified by the caller right before the swap.
 */
export function checkSwap(
  lc: Lifecycle,
  selector: string,
  mode: "activate" | "rollback",
): Check<SwapPlan> {
  const no = (why: string): Check<SwapPlan> => ({ ok: false, why });
  const s = lc.signing;
  const pendingRegions = lc.regions
    .filter((r) => signingSelector(r) !== selector)
    .map((r) => r.region);
  const from = (): string => {
    const on = [...new Set(lc.regions.map((r) => signingSelector(r) ?? easyLabel(r)))];
    return on.join(" / ");
  };
  switch (s.kind) {
    case "missing":
      return no(`SES identity missing in ${s.regions.join(", ")}`);
    case "unknown":
      return no(s.what);
    case "drift":
      return no(
        `SES signs with ${s.selectors.join(", ")}, which has no stored key or record file here (drift); refusing to replace a key we cannot roll back to (fix: adopt it)`,
      );
    case "split": {
      const others = [
        ...new Set(
          lc.regions.map(signingSelector).filter((x): x is string => !!x && x !== selector),
        ),
      ];
      if (others.length > 1)
        return no(
          `Regions sign with several other selectors (${others.join(", ")}); reconcile by hand`,
        );
      if (mode === "activate" && s.finish?.selector !== selector) {
        if (s.finish)
          return no(`Regions disagree (${s.detail}); finish ${s.finish.selector} first`);
        return no(`Regions disagree (${s.detail}) and no stored key exists to finish with`);
      }
      if (mode === "rollback") {
        // Going back: if it fails, the key we leave still signs in the other Regions.
        const leaving = others[0];
        const target: RollbackTarget = leaving
          ? { kind: "byodkim", selector: leaving }
          : s.rollback;
        return {
          ok: true,
          value: {
            pendingRegions,
            rollback: target,
            from: from(),
            ...(leaving ? { leaving } : {}),
          },
        };
      }
      return { ok: true, value: { pendingRegions, rollback: s.rollback, from: from() } };
    }
    case "onboarding":
      if (mode === "rollback")
        return no("SES signs with no BYODKIM key: there is nothing to roll back from");
      if (lc.candidate?.key.selector !== selector) return no(candidateMismatch(lc, selector));
      return { ok: true, value: { pendingRegions, rollback: lc.rollback, from: from() } };
    case "byodkim": {
      const active = s.active;
      if (active.selector === selector) {
        // Already set everywhere: finish polling / record it. For a recorded
        // active key, where SES shows FAILED it has stopped looking (DkimStatus
        // FAILED): a fresh PUT, after the same DNS and signature checks, makes
        // it look again. An unrecorded one (a crashed run) rolls back instead.
        return {
          ok: true,
          value: {
            pendingRegions: active.unrecorded
              ? []
              : lc.regions.filter((r) => r.ses.status === "FAILED").map((r) => r.region),
            rollback: active.unrecorded ? lc.rollback : { kind: "none", why: "already active" },
            from: selector,
          },
        };
      }
      if (mode === "rollback") {
        const target = lc.history.find((h) => h.selector === selector);
        if (!target) return no(`${selector} is not an older selector of this identity`);
        // Going back is the rollback; if it fails, the key we left is still there.
        return {
          ok: true,
          value: {
            pendingRegions,
            rollback: rollbackFromActive(active),
            from: active.selector,
            leaving: active.selector,
          },
        };
      }
      if (lc.candidate?.key.selector !== selector) {
        const key = lc.history.find((h) => h.selector === selector)?.key;
        if (key && active.key && key.createdAt.getTime() < active.key.createdAt.getTime())
          return no(
            `${selector} is older than the active ${active.selector}; use rollback to go back to an older key`,
          );
        return no(candidateMismatch(lc, selector));
      }
      return { ok: true, value: { pendingRegions, rollback: lc.rollback, from: active.selector } };
    }
  }
}

function easyLabel(r: RegionState): string {
  return r.signing.kind === "easy-dkim" ? `Easy DKIM (${r.signing.origin})` : r.signing.kind;
}

/** Why retirement has no active BYODKIM key to count from, in the words of the signing state. */
function noActiveByodkim(lc: Lifecycle, s: Exclude<SigningSummary, { kind: "byodkim" }>): string {
  const where = lc.regions.map((r) => signingSelector(r) ?? easyLabel(r)).join(", ");
  switch (s.kind) {
    case "unknown":
      return s.what;
    case "onboarding":
      return `the identity has no BYODKIM selector to retire: SES is on ${where}`;
    case "missing":
      return `the identity does not exist in SES in ${s.regions.join(", ")}`;
    case "drift":
      return `SES signs with ${s.selectors.join(", ")}, which has neither a stored key nor a record file`;
    case "split":
      return `Regions do not agree on one active BYODKIM selector (${where})`;
  }
}

function candidateMismatch(lc: Lifecycle, selector: string): string {
  const c = lc.candidate;
  if (!c) return `${selector} is not the candidate: no stored key is waiting for activation`;
  return `${selector} is not the candidate (the candidate is ${c.key.selector})`;
}

export interface RetirementPlan {
  activeSelector: string;
  activatedAt: Date;
  retireAfter: Date;
  /** What DMARC reports say, or why they were not asked (report-evidence.ts). */
  evidence: string;
}

/**
 * Whether `selector` may be retired now: SES signs with one known BYODKIM
 * key in every Region, SUCCESS everywhere, `selector` is history, and the
 * active key has signed for graceDays (invariants 2 and 3).
 */
export function checkRetirement(lc: Lifecycle, selector: string): Check<RetirementPlan> {
  const no = (why: string): Check<RetirementPlan> => ({ ok: false, why });
  const signing = lc.regions.filter(
    (r) => signingSelector(r) === selector || r.ses.tokens.includes(selector),
  );
  if (signing.length)
    return no(
      `SES signs with ${selector} in ${signing.map((r) => r.region).join(", ")} (the active record is never removed)`,
    );
  const s = lc.signing;
  if (s.kind !== "byodkim") return no(noActiveByodkim(lc, s));
  const active = s.active;
  const notSuccess = lc.regions.filter((r) => r.ses.status !== "SUCCESS");
  if (notSuccess.length)
    return no(
      `SES is ${notSuccess.map((r) => `${r.ses.status} in ${r.region}`).join(", ")} for ${active.selector}; the old key stays for rollback`,
    );
  const entry = lc.history.find((h) => h.selector === selector);
  if (!entry) {
    if (lc.candidate?.key.selector === selector)
      return no(
        `${selector} is newer than the active ${active.selector}: it is a candidate, not history`,
      );
    return no(`nothing is known about ${selector} (no record file, no stored key)`);
  }
  if (!active.since)
    return no(
      `the activation time of ${active.selector} is unknown; the grace period cannot be counted (record it with adopt)`,
    );
  const retireAfter = graceEndOf(lc.identity, active.since);
  if (lc.now < retireAfter)
    return no(
      `not until ${retireAfter.toISOString()} (${active.selector} activated ${active.since.toISOString()}, grace ${lc.identity.graceDays} days)`,
    );
  const quiet = reportQuiet(lc.reportQuietDays, entry.key, active.key, lc.now);
  if (!quiet.ok) return no(quiet.why);
  return {
    ok: true,
    value: {
      activeSelector: active.selector,
      activatedAt: active.since,
      retireAfter,
      evidence: quiet.why,
    },
  };
}
