/**
 * The lifecycle planner: a pure function from what is true now to what should
 * happen next, one decision per identity, each with a reason a person can
 * read. It performs no I/O, so it can be tested over random clocks and states.
 *
 * Lifecycle of a selector (docs/design.md#lifecycle); the state itself is
 * derived once, in lifecycle.ts:
 *   generated (key stored, record PR open)  → await-approval
 *   record on main, DNS not yet serving it  → await-publication
 *   every authoritative NS serves the key   → activate (gated job)
 *   SES SUCCESS in every Region             → active
 *   newer key active for graceDays          → retire (remove record, then delete key)
 */
import { reportQuiet } from "./report-evidence";
import { addDays, DAY_MS, isoDate } from "./clock";
import { ROTATION_BUFFER_DAYS, type IdentityConfig } from "./config";
import {
  deriveLifecycle,
  graceEndOf,
  keyClock,
  publishByOf,
  keyStoreActive,
  type Candidate,
  type Lifecycle,
  type LifecycleInput,
  type RollbackTarget,
} from "./lifecycle";
import type { RecordOnMain, SesIdentityState, StoredKey } from "./ports";

export type { DnsObservation, RollbackTarget } from "./lifecycle";

export type DecisionKind =
  "idle" | "rotate" | "await-approval" | "await-publication" | "activate" | "retire" | "alert";

export type AlertKind =
  | "expiring"
  | "ses-failed"
  | "drift"
  | "unknown-state"
  | "age-unknown"
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

export type PlannerInput = LifecycleInput;

/** What every decision carries: the identity, why, and the active key's clock. */
interface DecisionCommon {
  domain: string;
  reason: string;
  /** The selector SES signs with in every Region, if they agree (or the unknown one, on drift). */
  activeSelector?: string;
  /** When the active key is due to be replaced (recorded activation + rotationDays). */
  expiresAt?: Date;
  daysToExpiry?: number;
  keyAgeDays?: number;
  /** Non-blocking warnings that ride along with the decision. */
  alerts: Alert[];
}

/** One decision per identity, typed per kind: each kind carries exactly what it needs. */
export type Decision = DecisionCommon &
  (
    | {
        kind: "idle";
        /** The earliest time the next step can act. */
        notBefore: Date;
        /** The old selector waiting out its grace period, when that is the next step. */
        selector?: string;
      }
    | {
        kind: "rotate";
        /** Where a failure of the key this rotation makes will go back to. */
        rollback: RollbackTarget;
      }
    | { kind: "await-approval"; selector: string; rollback: RollbackTarget }
    | {
        kind: "await-publication";
        selector: string;
        rollback: RollbackTarget;
        /** Days since the candidate's record reached main. */
        pendingPublicationDays: number;
      }
    | {
        kind: "activate";
        selector: string;
        rollback: RollbackTarget;
        pendingPublicationDays?: number;
      }
    | { kind: "retire"; selector: string; retireStep: "remove-record" | "delete-key" }
    | { kind: "alert"; selector?: string }
  );

/** A decision before the identity and its alerts are attached (Omit distributed over the kinds). */
type DecisionDraft = Decision extends infer D
  ? D extends Decision
    ? Omit<D, "domain" | "alerts">
    : never
  : never;

/** The day rotation must start so lead time + buffer ends before the expiry alert. */
export function rotationStart(identity: IdentityConfig, activatedAt: Date): Date {
  return addDays(
    activatedAt,
    identity.rotationDays - identity.alertDays - identity.dnsLeadDays - ROTATION_BUFFER_DAYS,
  );
}

/** The selector that a rollback target names, for texts that show one. */
export function rollbackSelector(r: RollbackTarget): string | undefined {
  return r.kind === "byodkim" ? r.selector : undefined;
}

export function plan(input: PlannerInput): Decision {
  return decide(deriveLifecycle(input));
}

/** The pure map from lifecycle state to the next step. */
export function decide(lc: Lifecycle): Decision {
  const { identity, now } = lc;
  const domain = identity.domain;
  const alerts: Alert[] = [];
  const out = (d: DecisionDraft): Decision => ({ domain, alerts, ...d });
  const s = lc.signing;
  for (const t of lc.tampered)
    alerts.push({ kind: "key-store-tampered", message: `${t.secretName}: ${t.what}` });

  switch (s.kind) {
    case "missing":
      alerts.push({
        kind: "identity-missing",
        message: `no SES identity in ${s.regions.join(", ")}`,
      });
      return out({
        kind: "alert",
        reason: `SES identity does not exist in ${s.regions.join(", ")}; run pulumi up to create it`,
      });
    case "unknown":
      alerts.push({ kind: "unknown-state", message: s.what });
      return out({ kind: "alert", reason: `refusing to act: ${s.what}` });
    case "drift": {
      const sel = s.selectors.join(", ");
      alerts.push({
        kind: "drift",
        message: `SES signs with ${sel}, which has no stored key or record file; fix: npm run dkim -- adopt --domain ${domain} --selector ${s.selectors[0]} (docs/operations.md, onboarding)`,
      });
      return out({
        kind: "alert",
        reason: `drift: SES signs with ${sel}, unknown to this repository; refusing to act until it is adopted (npm run dkim -- adopt)`,
        activeSelector: s.selectors[0],
      });
    }
    case "split": {
      alerts.push({ kind: "regions-disagree", message: `Regions disagree (${s.detail})` });
      if (!s.finish) {
        const names = [
          ...new Set(
            lc.regions
              .map((r) => (r.signing.kind === "byodkim" ? r.signing.selector : ""))
              .filter(Boolean),
          ),
        ];
        return out({
          kind: "alert",
          reason: `Regions disagree (${s.detail}) and no stored key exists for ${names.join(", ")}; reconcile by hand`,
        });
      }
      return out({
        kind: "activate",
        selector: s.finish.selector,
        rollback: s.rollback,
        reason: `Regions disagree (${s.detail}); finish activating ${s.finish.selector} everywhere (it was started, so its DNS was verified) or roll back`,
      });
    }
    case "onboarding":
    case "byodkim":
      break;
  }

  const active = lc.active;
  const activeSelector = active?.selector;
  if (active && lc.failed.length) {
    alerts.push({
      kind: "ses-failed",
      message: `SES DKIM status FAILED in ${lc.failed.map((f) => f.region).join(", ")} (${lc.failed[0]!.errorType ?? "no error type"})`,
    });
  }
  const unverified = lc.regions.filter((r) => r.ses.status === "PENDING");
  if (active?.key?.state === "active" && !active.unrecorded && unverified.length) {
    // Only a candidate tried twice with no way back is recorded active unverified.
    alerts.push({
      kind: "ses-failed",
      message: `SES has not verified the active key ${active.selector} in ${unverified.map((r) => r.region).join(", ")} (PENDING): mail is not signed with the domain key`,
    });
  }
  const clock = keyClock(identity, active?.since, now);
  if (clock.daysToExpiry !== undefined && clock.daysToExpiry < identity.alertDays) {
    alerts.push({
      kind: "expiring",
      message: `active key ${activeSelector} reaches ${identity.rotationDays} days in ${clock.daysToExpiry} days (alert threshold ${identity.alertDays})`,
    });
  }
  const common = { activeSelector, ...clock };

  if (active?.unrecorded) {
    const summary = lc.regions.map((r) => `${r.region}: ${r.ses.status}`).join(", ");
    return out({
      ...common,
      kind: "activate",
      selector: active.selector,
      rollback: lc.rollback,
      reason: lc.allSuccess
        ? `SES signs with ${active.selector} in every Region but its activation was not recorded; re-run activate to record it`
        : `activation of ${active.selector} is in progress (SES ${summary}); re-run activate to finish polling`,
    });
  }

  if (active?.key?.proof === "unverified" && !active.unrecorded && lc.allSuccess) {
    // docs/design.md#unproven-activation: recorded active after SES's second
    // try did not verify; SES has verified it since, and nothing proved it.
    return out({
      ...common,
      kind: "activate",
      selector: active.selector,
      rollback: { kind: "none", why: "already active" },
      reason: `SES verified ${active.selector} in every Region after its activation was recorded unverified; re-run activate to prove it (the canary, where configured) and record it`,
    });
  }

  if (active && lc.failed.length) {
    return out({
      ...common,
      kind: "alert",
      reason: `SES DKIM status is FAILED for ${active.selector}; mail is not signed with the domain key. Check that ${active.selector}._domainkey.${domain} is still published, then roll back or re-activate`,
    });
  }

  if (active && !active.since) {
    alerts.push({
      kind: "age-unknown",
      message: `${active.selector} has no recorded activation time (${active.key ? "never recorded" : "record file without a stored key"}); its age is not read from SES's LastSuccessTimestamp, which moves on every re-check. Record it: npm run dkim -- adopt --domain ${domain} --selector ${active.selector} --activated-at <date>`,
    });
  }

  const c = lc.candidate;
  if (c) return candidateDecision(lc, c, common, alerts, out);

  // Nothing in flight. Is an old selector due for retirement?
  const retirable = active
    ? lc.history.filter((h) => h.record || (h.key && !h.key.deletionDate))
    : [];
  let retireNotBefore: Date | undefined;
  let quietWait: { why: string; notBefore: Date } | undefined;
  if (active && retirable.length && active.since) {
    const entry = retirable[0]!;
    const step = entry.record ? "remove-record" : "delete-key";
    const retireAfter = graceEndOf(identity, active.since);
    // Evidence from receivers' reports, once a record is still to be removed.
    const quiet =
      step === "remove-record"
        ? reportQuiet(lc.reportQuietDays, entry.key, active.key, now)
        : undefined;
    if (now >= retireAfter && lc.allSuccess && quiet && !quiet.ok) {
      quietWait = quiet;
    } else if (now >= retireAfter && lc.allSuccess) {
      return out({
        ...common,
        kind: "retire",
        selector: entry.selector,
        retireStep: step,
        reason:
          step === "remove-record"
            ? `${active.selector} has signed for ${identity.graceDays}+ days with SES SUCCESS; remove the record for ${entry.selector} (${quiet!.why})`
            : `record for ${entry.selector} is gone from main; schedule its key for deletion (recoverable window)`,
      });
    }
    retireNotBefore = quietWait?.notBefore ?? retireAfter;
  }

  if (lc.signing.kind === "onboarding") {
    const live = lc.history.filter((h) => h.key && !h.key.deletionDate).length;
    return out({
      kind: "rotate",
      rollback: lc.rollback,
      reason:
        live === 0
          ? `onboarding: SES uses ${lc.signing.from === "easy-dkim" ? "Easy DKIM" : "no DKIM"}; generate the first BYODKIM key and open its record PR`
          : `no active BYODKIM key; generate one`,
    });
  }

  // An unknown age is read as "due": rotating early is safe, rotating late is not.
  const rotateAt = active?.since ? rotationStart(identity, active.since) : now;
  if (now >= rotateAt) {
    return out({
      ...common,
      kind: "rotate",
      rollback: lc.rollback,
      reason: active?.since
        ? `${active.selector} is ${clock.keyAgeDays} days old; rotation starts at day ${identity.rotationDays - identity.alertDays - identity.dnsLeadDays - ROTATION_BUFFER_DAYS} so DNS lead (${identity.dnsLeadDays} d) + buffer (${ROTATION_BUFFER_DAYS} d) end before the expiry alert`
        : `${activeSelector}'s age is unknown (no recorded activation); rotating now`,
    });
  }

  const next = retireNotBefore && retireNotBefore < rotateAt ? retireNotBefore : rotateAt;
  const waitingRetire = retireNotBefore !== undefined && next === retireNotBefore;
  return out({
    ...common,
    kind: "idle",
    notBefore: next,
    ...(waitingRetire ? { selector: retirable[0]!.selector } : {}),
    reason: waitingRetire
      ? quietWait
        ? `nothing to do until ${next.toISOString()}: ${retirable[0]!.selector} stays published: ${quietWait.why}`
        : `nothing to do until ${next.toISOString()}: ${retirable[0]!.selector} stays published for rollback until ${activeSelector} has signed ${identity.graceDays} days${lc.allSuccess ? "" : " with SES SUCCESS everywhere"}`
      : `nothing to do until ${isoDate(next)}: ${activeSelector} is ${clock.keyAgeDays} days old, rotation starts ${isoDate(rotateAt)}`,
  });
}

function candidateDecision(
  lc: Lifecycle,
  c: Candidate,
  common: Pick<Decision, "activeSelector" | "expiresAt" | "daysToExpiry" | "keyAgeDays">,
  alerts: Alert[],
  out: (d: DecisionDraft) => Decision,
): Decision {
  const { identity } = lc;
  const selector = c.key.selector;
  const activeSelector = lc.active?.selector;
  const rollback = lc.rollback;
  switch (c.phase) {
    case "awaiting-approval": {
      const publishBy = publishByOf(identity, c.key);
      return out({
        ...common,
        kind: "await-approval",
        selector,
        rollback,
        reason: `key ${selector} stored ${isoDate(c.key.createdAt)}; its record file awaits DNS review and merge (publish by ${isoDate(publishBy)})`,
      });
    }
    case "record-mismatch":
      alerts.push({
        kind: "record-mismatch",
        message: `record file ${c.record!.path} does not carry the stored public key of ${selector}`,
      });
      return out({
        ...common,
        kind: "alert",
        selector,
        reason: `record file ${c.record!.path} on main differs from the stored key for ${selector}; fix the file (never the key)`,
      });
    case "awaiting-publication":
    case "ready": {
      const days = c.pendingPublicationDays ?? 0;
      if (days > identity.dnsLeadDays + 7) {
        alerts.push({
          kind: "publication-overdue",
          message: `record for ${selector} merged ${days} days ago and is still not served (lead time ${identity.dnsLeadDays} days)`,
        });
      }
      if (c.phase === "awaiting-publication") {
        return out({
          ...common,
          kind: "await-publication",
          selector,
          rollback,
          pendingPublicationDays: days,
          reason: c.dns
            ? `record for ${selector} is on main but not yet served everywhere: ${c.dns.summary}`
            : `record for ${selector} is on main; DNS not checked yet`,
        });
      }
      return out({
        ...common,
        kind: "activate",
        selector,
        rollback,
        pendingPublicationDays: days,
        reason: `every authoritative nameserver serves ${selector}; ready to activate${activeSelector ? ` (replacing ${activeSelector})` : rollback.kind === "easy-dkim" ? " (first BYODKIM key, from Easy DKIM)" : " (first BYODKIM key)"}`,
      });
    }
  }
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

/** Why the daily plan reads (or skips) SES for an identity (docs/design.md#plan-ses-reads). */
export type SesReadReason = "due" | "sweep" | "skipped";

/** Days in the drift sweep's cycle: every identity's SES state is read at least once in this many days. */
export const SWEEP_DAYS = 7;
/** An idle identity whose next step is this close is read (the scheduled run may be late). */
export const NEAR_DAYS = 1;

/**
 * The day of the sweep cycle an identity's SES state is read on, whatever is
 * due: FNV-1a of the domain, mod SWEEP_DAYS. A hash of the name (not its
 * position in the stack file) so that adding or removing an identity moves no
 * other, and the same every run: a re-run on the same day reads the same set.
 */
export function sweepSlot(domain: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < domain.length; i++) {
    h ^= domain.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % SWEEP_DAYS;
}

/** Today's slot of the sweep cycle: the UTC day number mod SWEEP_DAYS. */
export function sweepSlotOf(now: Date): number {
  return Math.floor(now.getTime() / DAY_MS) % SWEEP_DAYS;
}

/**
 * Whether the daily plan must read SES for an identity, decided from what is
 * known without SES (the stack file, the key store, the records on main, the
 * clock): the planner itself decides over the SES state the key store
 * expects (its active key signing in every Region, SUCCESS). If that decision
 * is anything but a quiet idle, more than NEAR_DAYS away from its next step,
 * SES is read, because a step would act on it. A skipped identity is never
 * acted on; what SES could say against the expectation (drift, FAILED, a
 * missing identity) is what the weekly sweep reads for
 * (docs/design.md#plan-ses-reads).
 */
export function planNeedsSes(input: Omit<PlannerInput, "ses" | "dns">): {
  needed: boolean;
  why: string;
  /** The decision over the expected SES state, when SES is not needed. */
  expected?: { lifecycle: Lifecycle; decision: Decision };
} {
  const { identity, keys, now } = input;
  const active = keyStoreActive(keys);
  if (!active)
    return {
      needed: true,
      why: "no active key recorded in the key store (onboarding or adoption)",
    };
  const ses = identity.regions.map((region) => ({
    region,
    domain: identity.domain,
    exists: true,
    signingEnabled: true,
    status: "SUCCESS" as const,
    tokens: [active.selector],
    origin: "EXTERNAL",
  }));
  const lifecycle = deriveLifecycle({ ...input, ses });
  const decision = decide(lifecycle);
  const why: Record<Exclude<DecisionKind, "idle">, string> = {
    rotate: "rotation due",
    "await-approval": "pending key",
    "await-publication": "pending key",
    activate: "pending key",
    retire: "retirement due",
    alert: "alert to confirm",
  };
  if (decision.kind !== "idle") return { needed: true, why: why[decision.kind] };
  if (decision.alerts.length || lifecycle.unknowns.length)
    return {
      needed: true,
      why: `alert to confirm (${[...decision.alerts.map((a) => a.kind), ...lifecycle.unknowns].join(", ")})`,
    };
  if (decision.notBefore.getTime() - now.getTime() <= NEAR_DAYS * DAY_MS)
    return { needed: true, why: `next step near (${isoDate(decision.notBefore)})` };
  return {
    needed: false,
    why: `SES expected to sign with ${active.selector}; nothing due until ${isoDate(decision.notBefore)}`,
    expected: { lifecycle, decision },
  };
}
