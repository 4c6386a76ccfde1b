/**
 * The lifecycle planner: a pure function from what is true now to what should
 * happen next, one decision per identity, each with a reason a person can
 * read. It performs no I/O, so it can be tested over random clocks and states.
 *
 * Lifecycle of a selector (docs/design.md#lifecycle):
 *   generated (key stored, record PR open)  → await-approval
 *   record on main, DNS not yet serving it  → await-publication
 *   every authoritative NS serves the key   → activate (gated job)
 *   SES SUCCESS in every Region             → active
 *   newer key active for graceDays          → retire (remove record, then delete key)
 */
import { addDays, DAY_MS, daysBetween, isoDate } from "./clock";
import { ROTATION_BUFFER_DAYS, type IdentityConfig } from "./config";
import type { RecordOnMain, SesIdentityState, StoredKey } from "./ports";

export type DecisionKind =
  "idle" | "rotate" | "await-approval" | "await-publication" | "activate" | "retire" | "alert";

export type AlertKind =
  | "expiring"
  | "ses-failed"
  | "drift"
  | "regions-disagree"
  | "identity-missing"
  | "publication-overdue"
  | "record-mismatch"
  /** A key's tags contradict its name, creation date or public key (the key store used the facts). */
  | "key-store-tampered";

export interface Alert {
  kind: AlertKind;
  message: string;
}

/** DNS observation for one selector, gathered by the caller (planner stays pure). */
export interface DnsObservation {
  ok: boolean;
  /** One line, e.g. "ns2.example.jp: missing (NXDOMAIN)". */
  summary: string;
}

export interface PlannerInput {
  identity: IdentityConfig;
  /** Record files for this domain on the main branch. */
  records: RecordOnMain[];
  /** Keys for this domain in the key store, including ones scheduled for deletion. */
  keys: StoredKey[];
  /** One entry per configured Region. */
  ses: SesIdentityState[];
  /** DNS results keyed by selector (only candidates need one). */
  dns?: Record<string, DnsObservation>;
  now: Date;
}

export interface Decision {
  domain: string;
  kind: DecisionKind;
  reason: string;
  /** The selector the decision is about (new key, or the one to retire). */
  selector?: string;
  /** The selector SES signs with in every Region, if they agree. */
  activeSelector?: string;
  /** For activate: the selector a failed activation rolls back to. */
  previousSelector?: string;
  /** For retire: which half is due. */
  retireStep?: "remove-record" | "delete-key";
  /** For idle (and a retire not yet due): the earliest time the next step can act. */
  notBefore?: Date;
  /** When the active key is due to be replaced (activation + rotationDays). */
  expiresAt?: Date;
  daysToExpiry?: number;
  keyAgeDays?: number;
  /** Days since the candidate's record reached main, while awaiting publication. */
  pendingPublicationDays?: number;
  /** Non-blocking warnings that ride along with the decision. */
  alerts: Alert[];
}

const EASY_DKIM_ORIGINS = /^AWS_SES/;

/** When a key was activated: its tag, else SES's last success, else its creation. */
export function activationTime(
  key: StoredKey | undefined,
  ses: SesIdentityState[],
): Date | undefined {
  if (key?.activatedAt) return key.activatedAt;
  const successes = ses
    .map((s) => s.lastSuccessAt?.getTime())
    .filter((t): t is number => t !== undefined);
  if (successes.length) return new Date(Math.min(...successes));
  return key?.createdAt;
}

/** The day rotation must start so lead time + buffer ends before the expiry alert. */
export function rotationStart(identity: IdentityConfig, activatedAt: Date): Date {
  return addDays(
    activatedAt,
    identity.rotationDays - identity.alertDays - identity.dnsLeadDays - ROTATION_BUFFER_DAYS,
  );
}

/** The selector SES signs with, per Region (undefined for Easy DKIM, none, or a missing identity). */
export function externalSelector(state: SesIdentityState): string | undefined {
  if (!state.exists || state.origin !== "EXTERNAL") return undefined;
  return state.tokens[0];
}

/**
 * Whether a non-active selector's key is history (retirable) rather than a
 * candidate still on its way to activation. A key newer than the active one
 * is a candidate, unless it was abandoned: a failed or rolled-back activation
 * marks it retired. Shared by the planner and `runRetire` so the two never
 * disagree (a disagreement stalls the rotation: the plan proposes, retire refuses).
 */
export function isHistory(key: StoredKey | undefined, activeKey: StoredKey | undefined): boolean {
  return (
    !activeKey ||
    !key ||
    key.state === "retired" ||
    key.createdAt.getTime() < activeKey.createdAt.getTime()
  );
}

export function plan(input: PlannerInput): Decision {
  const { identity, records, keys, ses, now } = input;
  const domain = identity.domain;
  const alerts: Alert[] = [];
  const decide = (d: Omit<Decision, "domain" | "alerts">): Decision => ({ domain, alerts, ...d });
  for (const key of keys)
    for (const what of key.tampering ?? [])
      alerts.push({ kind: "key-store-tampered", message: `${key.secretName}: ${what}` });

  const missing = ses.filter((s) => !s.exists).map((s) => s.region);
  if (missing.length) {
    alerts.push({ kind: "identity-missing", message: `no SES identity in ${missing.join(", ")}` });
    return decide({
      kind: "alert",
      reason: `SES identity does not exist in ${missing.join(", ")}; run pulumi up to create it`,
    });
  }

  const keyBySelector = new Map(keys.map((k) => [k.selector, k]));
  const recordBySelector = new Map(records.map((r) => [r.selector, r]));
  const perRegion = ses.map((s) => ({ region: s.region, selector: externalSelector(s), state: s }));
  const externalSelectors = [
    ...new Set(perRegion.map((r) => r.selector).filter(Boolean)),
  ] as string[];
  const onboarding = perRegion.every((r) => r.selector === undefined);

  // Drift: SES signs with a selector this repository never made.
  const unknown = externalSelectors.filter(
    (s) => !keyBySelector.has(s) && !recordBySelector.has(s),
  );
  if (unknown.length) {
    alerts.push({
      kind: "drift",
      message: `SES signs with ${unknown.join(", ")}, which has no stored key or record file`,
    });
    return decide({
      kind: "alert",
      reason: `drift: SES signs with ${unknown.join(", ")}, unknown to this repository; refusing to act until a person reconciles it`,
      activeSelector: unknown[0],
    });
  }

  // Regions disagree: an activation or rollback stopped half-way. Finish it.
  if (
    externalSelectors.length > 1 ||
    (externalSelectors.length === 1 && perRegion.some((r) => !r.selector))
  ) {
    const newest = newestKey(externalSelectors.map((s) => keyBySelector.get(s)).filter(isKey));
    const detail = perRegion
      .map((r) => `${r.region}: ${r.selector ?? r.state.origin ?? "none"}`)
      .join(", ");
    alerts.push({ kind: "regions-disagree", message: `Regions disagree (${detail})` });
    if (!newest) {
      // Known only from record files: without a stored key nothing can be imported anywhere.
      return decide({
        kind: "alert",
        reason: `Regions disagree (${detail}) and no stored key exists for ${externalSelectors.join(", ")}; reconcile by hand`,
      });
    }
    const others = externalSelectors.filter((s) => s !== newest.selector);
    return decide({
      kind: "activate",
      selector: newest.selector,
      previousSelector: others[0],
      reason: `Regions disagree (${detail}); finish activating ${newest.selector} everywhere (it was started, so its DNS was verified) or roll back`,
    });
  }

  const activeSelector = externalSelectors[0];
  const activeKey = activeSelector ? keyBySelector.get(activeSelector) : undefined;

  const failed = ses.filter((s) => s.status === "FAILED");
  if (activeSelector && failed.length) {
    alerts.push({
      kind: "ses-failed",
      message: `SES DKIM status FAILED in ${failed.map((s) => s.region).join(", ")} (${failed[0]!.errorType ?? "no error type"})`,
    });
  }

  const activatedAt = activeSelector ? activationTime(activeKey, ses) : undefined;
  const expiresAt = activatedAt ? addDays(activatedAt, identity.rotationDays) : undefined;
  const daysToExpiry = expiresAt
    ? Math.floor((expiresAt.getTime() - now.getTime()) / DAY_MS)
    : undefined;
  const keyAgeDays = activatedAt ? daysBetween(activatedAt, now) : undefined;
  if (daysToExpiry !== undefined && daysToExpiry < identity.alertDays) {
    alerts.push({
      kind: "expiring",
      message: `active key ${activeSelector} reaches ${identity.rotationDays} days in ${daysToExpiry} days (alert threshold ${identity.alertDays})`,
    });
  }
  const common = { activeSelector, expiresAt, daysToExpiry, keyAgeDays };

  // A key that SES already signs with but whose activation was never recorded.
  if (activeKey && activeKey.state !== "active" && activeKey.state !== "retired") {
    const allSuccess = ses.every((s) => s.status === "SUCCESS");
    return decide({
      ...common,
      kind: "activate",
      selector: activeSelector,
      reason: allSuccess
        ? `SES signs with ${activeSelector} in every Region but its activation was not recorded; re-run activate to record it`
        : `activation of ${activeSelector} is in progress (SES ${ses.map((s) => `${s.region}: ${s.status}`).join(", ")}); re-run activate to finish polling`,
    });
  }

  if (failed.length && activeSelector) {
    return decide({
      ...common,
      kind: "alert",
      reason: `SES DKIM status is FAILED for ${activeSelector}; mail is not signed with the domain key. Check that ${activeSelector}._domainkey.${domain} is still published, then roll back or re-activate`,
    });
  }

  // The candidate: the newest stored key that is newer than the active one and not retired.
  const candidates = keys.filter(
    (k) =>
      k.selector !== activeSelector &&
      !k.deletionDate &&
      k.state === "pending" &&
      (!activeKey || k.createdAt.getTime() > activeKey.createdAt.getTime()),
  );
  const candidate = newestKey(candidates);
  if (candidate) {
    const record = recordBySelector.get(candidate.selector);
    const publishBy = addDays(candidate.createdAt, identity.dnsLeadDays);
    if (!record) {
      return decide({
        ...common,
        kind: "await-approval",
        selector: candidate.selector,
        previousSelector: activeSelector,
        reason: `key ${candidate.selector} stored ${isoDate(candidate.createdAt)}; its record file awaits DNS review and merge (publish by ${isoDate(publishBy)})`,
      });
    }
    if (record.publicKey !== candidate.publicKey) {
      alerts.push({
        kind: "record-mismatch",
        message: `record file ${record.path} does not carry the stored public key of ${candidate.selector}`,
      });
      return decide({
        ...common,
        kind: "alert",
        selector: candidate.selector,
        reason: `record file ${record.path} on main differs from the stored key for ${candidate.selector}; fix the file (never the key)`,
      });
    }
    const since = record.mergedAt ?? candidate.createdAt;
    const pendingPublicationDays = Math.max(0, daysBetween(since, now));
    if (pendingPublicationDays > identity.dnsLeadDays + 7) {
      alerts.push({
        kind: "publication-overdue",
        message: `record for ${candidate.selector} merged ${pendingPublicationDays} days ago and is still not served (lead time ${identity.dnsLeadDays} days)`,
      });
    }
    const dns = input.dns?.[candidate.selector];
    if (!dns?.ok) {
      return decide({
        ...common,
        kind: "await-publication",
        selector: candidate.selector,
        previousSelector: activeSelector,
        pendingPublicationDays,
        reason: dns
          ? `record for ${candidate.selector} is on main but not yet served everywhere: ${dns.summary}`
          : `record for ${candidate.selector} is on main; DNS not checked yet`,
      });
    }
    return decide({
      ...common,
      kind: "activate",
      selector: candidate.selector,
      previousSelector: activeSelector,
      pendingPublicationDays,
      reason: `every authoritative nameserver serves ${candidate.selector}; ready to activate${activeSelector ? ` (replacing ${activeSelector})` : " (first BYODKIM key)"}`,
    });
  }

  // Nothing in flight. Is an old selector due for retirement?
  const allSuccess = ses.every((s) => s.status === "SUCCESS");
  const retireAfter = activatedAt ? addDays(activatedAt, identity.graceDays) : undefined;
  const activeSelectors = new Set(externalSelectors);
  const old = new Set<string>();
  for (const r of records) if (!activeSelectors.has(r.selector)) old.add(r.selector);
  for (const k of keys)
    if (!activeSelectors.has(k.selector) && !k.deletionDate) old.add(k.selector);
  // Only selectors older than the active key: a newer one is a candidate, not history.
  const retirable = [...old].filter((s) => isHistory(keyBySelector.get(s), activeKey));
  retirable.sort();
  let retireNotBefore: Date | undefined;
  if (retirable.length && activeSelector) {
    const selector = retirable[0]!;
    const step = recordBySelector.has(selector) ? "remove-record" : "delete-key";
    if (retireAfter && now >= retireAfter && allSuccess) {
      return decide({
        ...common,
        kind: "retire",
        selector,
        retireStep: step,
        reason:
          step === "remove-record"
            ? `${activeSelector} has signed for ${identity.graceDays}+ days with SES SUCCESS; remove the record for ${selector}`
            : `record for ${selector} is gone from main; schedule its key for deletion (recoverable window)`,
      });
    }
    retireNotBefore = retireAfter;
  }

  if (onboarding && keys.filter((k) => !k.deletionDate).length === 0) {
    const origin = ses.find((s) => s.origin && EASY_DKIM_ORIGINS.test(s.origin))
      ? "Easy DKIM"
      : "no DKIM";
    return decide({
      kind: "rotate",
      reason: `onboarding: SES uses ${origin}; generate the first BYODKIM key and open its record PR`,
    });
  }

  const rotateAt = activatedAt ? rotationStart(identity, activatedAt) : now;
  if (now >= rotateAt) {
    return decide({
      ...common,
      kind: "rotate",
      previousSelector: activeSelector,
      reason: activeSelector
        ? `${activeSelector} is ${keyAgeDays} days old; rotation starts at day ${identity.rotationDays - identity.alertDays - identity.dnsLeadDays - ROTATION_BUFFER_DAYS} so DNS lead (${identity.dnsLeadDays} d) + buffer (${ROTATION_BUFFER_DAYS} d) end before the expiry alert`
        : `no active BYODKIM key; generate one`,
    });
  }

  const next = retireNotBefore && retireNotBefore < rotateAt ? retireNotBefore : rotateAt;
  return decide({
    ...common,
    kind: "idle",
    notBefore: next,
    selector: retireNotBefore && next === retireNotBefore ? retirable[0] : undefined,
    reason:
      retireNotBefore && next === retireNotBefore
        ? `nothing to do until ${next.toISOString()}: ${retirable[0]} stays published for rollback until ${activeSelector} has signed ${identity.graceDays} days${allSuccess ? "" : " with SES SUCCESS everywhere"}`
        : `nothing to do until ${isoDate(next)}: ${activeSelector} is ${keyAgeDays} days old, rotation starts ${isoDate(rotateAt)}`,
  });
}

function isKey(k: StoredKey | undefined): k is StoredKey {
  return k !== undefined;
}

function newestKey(keys: StoredKey[]): StoredKey | undefined {
  return [...keys].sort(
    (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.selector.localeCompare(a.selector),
  )[0];
}

/** Every selector name ever used for the domain: never reuse one. */
export function takenSelectors(
  records: RecordOnMain[],
  keys: StoredKey[],
  ses: SesIdentityState[],
): Set<string> {
  const taken = new Set<string>();
  for (const r of records) taken.add(r.selector);
  for (const k of keys) taken.add(k.selector);
  for (const s of ses) for (const t of s.tokens) taken.add(t);
  return taken;
}
