/**
 * What an approval request PR holds (docs/design.md#approval-request-flow):
 * the approvals file for one decision, built from the same snapshot the
 * planner decides on, and whether an open request's file still says what the
 * world says. Pure: the verify job reads, the GitHub adapter writes.
 */
import { parse, stringify } from "yaml";
import { approvalFileSchema, type ApprovalFile, type ApprovalKind } from "./approval-files";
import { describeRollback, type Lifecycle, type RegionState } from "./lifecycle";
import { publicKeyFingerprint } from "./keys";
import type { DnsVerification } from "./ports";

/**
 * The probe needs the private key, which only the gated job may read
 * (docs/design.md#invariant-4-key-material-stays-secret): the request says
 * where that verdict comes from instead of claiming one.
 */
export const PROBE_IN_GATED_JOB =
  "not run yet: the gated job signs a probe message with the stored private key and verifies it against each nameserver's own answer before any SES change, and refuses if one fails (the verify job's planner role cannot read the key)";

/** What SES signs with now, per Region, in one line. */
export function describeSigningNow(regions: RegionState[]): string {
  return regions
    .map((r) => {
      const s = r.signing;
      const what =
        s.kind === "byodkim"
          ? `BYODKIM ${s.selector}`
          : s.kind === "easy-dkim"
            ? `Easy DKIM${s.working ? "" : " (not working)"}`
            : s.kind === "byodkim-unknown"
              ? "BYODKIM with a selector SES does not name"
              : "no identity";
      return `${r.region}: ${what}`;
    })
    .join("; ");
}

function nameserverEvidence(v: DnsVerification): ApprovalFile["evidence"]["nameservers"] {
  return v.servers.map((s) => ({
    nameserver: s.server,
    serves: s.status === "ok",
    ...(s.status === "ok" ? {} : { detail: `${s.status}: ${s.detail}` }),
  }));
}

/**
 * The activation request for the lifecycle's candidate, with the nameservers'
 * answers the snapshot just read. Undefined when there is no candidate or no
 * DNS reading of it (nothing to ask about).
 */
export function activationRequest(
  lc: Lifecycle,
  verification: DnsVerification | undefined,
): ApprovalFile | undefined {
  const key = lc.candidate?.key;
  if (!key || !verification || verification.selector !== key.selector) return undefined;
  return {
    version: 1,
    kind: "activate",
    domain: lc.identity.domain,
    selector: key.selector,
    fingerprint: publicKeyFingerprint(key.publicKey),
    regions: [...lc.identity.regions],
    signsNow: describeSigningNow(lc.regions),
    wayBack: describeRollback(lc.rollback),
    evidence: {
      checkedAt: verification.checkedAt.toISOString(),
      nameservers: nameserverEvidence(verification),
      probe: PROBE_IN_GATED_JOB,
    },
  };
}

/**
 * The retirement request for an old selector whose record has left main: the
 * gated retire job removes it from DNS (automatic publishers) and schedules
 * its key's deletion with a recovery window.
 */
export function retirementRequest(
  lc: Lifecycle,
  selector: string,
  now: Date,
  recoveryDays: number,
): ApprovalFile | undefined {
  const old = lc.history.find((h) => h.selector === selector);
  if (!old?.key) return undefined;
  return {
    version: 1,
    kind: "retire",
    domain: lc.identity.domain,
    selector,
    fingerprint: publicKeyFingerprint(old.key.publicKey),
    regions: [...lc.identity.regions],
    signsNow: describeSigningNow(lc.regions),
    wayBack: `the key's deletion is scheduled with a ${recoveryDays}-day recovery window (Secrets Manager RestoreSecret until then); ${selector} no longer signs and its record has left main`,
    evidence: {
      checkedAt: now.toISOString(),
      nameservers: [],
      probe: `not applicable: ${selector} signs no mail`,
    },
  };
}

/**
 * The emergency rollback request: SES goes back to `selector`, whose record
 * on main every nameserver must serve (`verification`), for `reason`.
 */
export function rollbackRequest(
  lc: Lifecycle,
  selector: string,
  verification: DnsVerification,
  publicKey: string,
  reason: string,
): ApprovalFile {
  return {
    version: 1,
    kind: "rollback",
    domain: lc.identity.domain,
    selector,
    fingerprint: publicKeyFingerprint(publicKey),
    regions: [...lc.identity.regions],
    signsNow: describeSigningNow(lc.regions),
    wayBack: `${selector} was signing before; if SES does not reach SUCCESS with it, the job switches back to what signs now`,
    reason,
    evidence: {
      checkedAt: verification.checkedAt.toISOString(),
      nameservers: nameserverEvidence(verification),
      probe: PROBE_IN_GATED_JOB,
    },
  };
}

/** The file as committed: YAML, validated on the way out as on the way in. */
export function renderApprovalFile(file: ApprovalFile): string {
  return stringify(approvalFileSchema.parse(file), { lineWidth: 0 });
}

/** A committed file's decision, or undefined when it does not validate (a request to rewrite). */
export function readApprovalFile(text: string): ApprovalFile | undefined {
  try {
    const r = approvalFileSchema.safeParse(parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether an open request still says what the world says. The time of the
 * check is left out: an hourly run that finds the same answers must not push
 * (a push dismisses the approvals, docs/design.md#approval-request-flow).
 */
export function sameDecision(a: ApprovalFile, b: ApprovalFile): boolean {
  const strip = (f: ApprovalFile) => ({ ...f, evidence: { ...f.evidence, checkedAt: "" } });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

/** The PR title; a rollback's says it is urgent. */
export function approvalTitle(kind: ApprovalKind, domain: string, selector: string): string {
  switch (kind) {
    case "activate":
      return `DKIM approval: activate ${selector} for ${domain}`;
    case "retire":
      return `DKIM approval: retire ${selector} of ${domain}`;
    case "rollback":
      return `URGENT DKIM approval: roll ${domain} back to ${selector}`;
  }
}
