/**
 * The sandbox's verdict, from the world's own records (not the engine's
 * word): every message's DKIM result, SES's status history, the swap audit
 * (what both authoritative servers served at each swap) and the key store.
 */
import { DAY_MS, MINUTE_MS } from "../../actions/dkim-rotation/src/engine/clock";
import type { ProjectConfig } from "../../actions/dkim-rotation/src/engine/config";
import type { AwsEmulator } from "./aws-emulator";
import { addCounts, type AwsFaultKind, type DnsFaultKind } from "./faults";
import type { RunRecord } from "../workflow-runner";
import type { MailStream } from "./mail";
import type { PublisherEndState, SandboxPublisher } from "./publishers";
import type {
  CanaryRecord,
  FaultReport,
  PublicationFigures,
  RotationRecord,
  SandboxReport,
  WorkflowFigures,
} from "./report";

/** Longest pending window we call "SES's own check" (SES checks within minutes of a swap). */
const MAX_CONFINED_PENDING_MINUTES = 60;

/** One BYODKIM key set in SES, and whether every authoritative server served it then. */
export interface SwapAudit {
  region: string;
  domain: string;
  selector: string;
  at: number;
  verified: boolean;
}

export interface VerdictInput {
  naive: boolean;
  easyDkimSwitchBack: "new-tokens" | "same-tokens";
  faults?: { rate: number; seed: number };
  config: ProjectConfig;
  emulator: AwsEmulator;
  mail: MailStream;
  start: Date;
  end: Date;
  legacyActivatedAt: Date;
  rotations: RotationRecord[];
  swapAudit: SwapAudit[];
  duplicateKeys: number;
  duplicatePrs: number;
  custody: SandboxReport["custody"];
  zonesServed: number;
  dnsFaultCounts: Partial<Record<DnsFaultKind, number>>[];
  jobErrors: FaultReport["errors"];
  refusals: FaultReport["refusals"];
  rollbacks: FaultReport["rollbacks"];
  /** Every canary verdict the activations logged (docs/design.md#canary). */
  canaryVerdicts?: CanaryRecord[];
  workflows?: WorkflowFigures;
  sesQuirks: boolean;
  wall: SandboxReport["wall"];
  /** The activation workflow's runs, when each started (pipeline mode). */
  activateRuns?: { at: number; run: RunRecord }[];
  /** Who put merged records into DNS (default manual). */
  publisher?: SandboxPublisher;
  publisherEnd?: Record<string, PublisherEndState>;
}

/** Each rotation with its merge → published and merge → active durations (minutes). */
function withDurations(rotations: RotationRecord[]): RotationRecord[] {
  const minutes = (from?: string, to?: string) =>
    from && to ? Math.round((Date.parse(to) - Date.parse(from)) / MINUTE_MS) : undefined;
  return rotations.map((r) => {
    const toPublished = minutes(r.mergedAt, r.publishedAt);
    const toActive = minutes(r.mergedAt, r.activatedAt);
    return {
      ...r,
      ...(toPublished !== undefined ? { mergeToPublished: toPublished } : {}),
      ...(toActive !== undefined ? { mergeToActive: toActive } : {}),
    };
  });
}

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function publicationFigures(
  publisher: SandboxPublisher,
  rotations: RotationRecord[],
): PublicationFigures {
  const published = rotations.flatMap((r) =>
    r.mergeToPublished !== undefined ? [r.mergeToPublished] : [],
  );
  const active = rotations.flatMap((r) => (r.mergeToActive !== undefined ? [r.mergeToActive] : []));
  const p = median(published);
  const a = median(active);
  return {
    publisher,
    rotations: published.length,
    ...(p !== undefined ? { mergeToPublishedMedianMinutes: p } : {}),
    ...(a !== undefined ? { mergeToActiveMedianMinutes: a } : {}),
  };
}

/** A published candidate still not active (or rolled back) this long after publication is stuck. */
const STUCK_AFTER_MS = 3 * DAY_MS;

/**
 * Rotations whose record every server served for days while SES never took
 * the key, each with what the first activation run after publication did:
 * the jobs that did not succeed, by the names GitHub gives them.
 */
function stuckRotations(input: VerdictInput): string[] {
  if (input.naive || !input.activateRuns) return [];
  return input.rotations
    .filter(
      (r) =>
        r.publishedAt &&
        !r.activatedAt &&
        !r.rolledBackAt &&
        input.end.getTime() - Date.parse(r.publishedAt) > STUCK_AFTER_MS,
    )
    .map((r) => {
      const after = input.activateRuns!.find((a) => a.at >= Date.parse(r.publishedAt!));
      const jobs = after?.run.jobs.filter((j) => j.conclusion !== "success") ?? [];
      const why = !after
        ? "no activation run followed"
        : jobs.length
          ? jobs
              .map(
                (j) =>
                  `${after.run.workflow}: job "${j.name}" ${j.conclusion === "skipped" ? "was skipped" : j.conclusion}${j.error ? ` (${j.error})` : ""}`,
              )
              .join("; ")
          : `${after.run.workflow}: every job succeeded, yet SES does not sign with ${r.to}`;
      return `${r.domain}: ${r.to} published ${r.publishedAt!.slice(0, 10)} but never activated; ${why}`;
    });
}

export function judge(input: VerdictInput): SandboxReport {
  const rotations = withDurations(input.rotations);
  const history = (region: string, domain: string) =>
    input.emulator.ses.identity(region, domain)?.history ?? [];
  // Confinement: an unsigned message is acceptable only inside a window in
  // which SES did not sign (PENDING/FAILED) that (1) was opened by swaps made
  // while BOTH authoritative servers served the key (the swap audit, not the
  // engine's own word), and (2) closed with SUCCESS — within 60 min without
  // faults (SES's first check), with no bound under injected SES status faults
  // (a stuck PENDING lasts until the activation times out and rolls back, or
  // until the next scheduled run does). The longest such window is reported.
  let unsignedOutsidePending = 0;
  let longestVerifiedUnsignedMinutes = 0;
  for (const u of input.mail.unsignedLog) {
    const h = history(u.region, u.domain);
    let i = h.findLastIndex((c) => c.at.getTime() <= u.at);
    let windowStart: number | undefined;
    const puts: { selector: string; at: number }[] = [];
    while (i >= 0 && h[i]!.status !== "SUCCESS" && h[i]!.status !== "TEMPORARY_FAILURE") {
      const swap = /^signing attributes set: EXTERNAL selector (\S+)/.exec(h[i]!.reason);
      if (swap) puts.push({ selector: swap[1]!, at: h[i]!.at.getTime() });
      windowStart = h[i]!.at.getTime();
      i--;
    }
    const nextSuccess = h.find((c) => c.at.getTime() > u.at && c.status === "SUCCESS");
    const verified =
      puts.length > 0 &&
      puts.every((p) =>
        input.swapAudit.some(
          (a) =>
            a.region === u.region &&
            a.domain === u.domain &&
            a.selector === p.selector &&
            a.at === p.at &&
            a.verified,
        ),
      );
    const minutes =
      nextSuccess && windowStart !== undefined
        ? (nextSuccess.at.getTime() - windowStart) / MINUTE_MS
        : Infinity;
    const confined =
      verified &&
      nextSuccess !== undefined &&
      (input.faults !== undefined || minutes <= MAX_CONFINED_PENDING_MINUTES);
    if (!confined) unsignedOutsidePending++;
    else longestVerifiedUnsignedMinutes = Math.max(longestVerifiedUnsignedMinutes, minutes);
  }
  const duplicateKeys = input.duplicateKeys;
  const overwrittenSecrets = input.emulator.secrets.list().filter((s) => s.overwritten).length;
  const unverifiedSwaps = input.swapAudit.filter((a) => !a.verified).length;
  // Liveness: safety alone would be met by never rotating at all.
  const stalledDomains = input.config.identities
    .filter((identity) => {
      const last = Math.max(
        input.legacyActivatedAt.getTime(),
        ...input.rotations
          .filter((r) => r.domain === identity.domain && r.activatedAt)
          .map((r) => Date.parse(r.activatedAt!)),
      );
      return input.end.getTime() - last > identity.rotationDays * DAY_MS;
    })
    .map((identity) => identity.domain);
  const faultCounts = input.faults
    ? addCounts<AwsFaultKind | DnsFaultKind>(
        addCounts<AwsFaultKind | DnsFaultKind>(
          input.emulator.faults.counts(),
          input.dnsFaultCounts[0]!,
        ),
        input.dnsFaultCounts[1]!,
      )
    : {};
  // A refusal must say which server served what: "<server>: <status> (<detail>)".
  const namesServer = (m: string) =>
    /\d+\.\d+\.\d+\.\d+:\d+\S*: (missing|mismatch|malformed|revoked|unreachable|error) \(/.test(m);
  const faultReport: FaultReport | undefined = input.faults
    ? {
        seed: input.faults.seed,
        rate: input.faults.rate,
        injected: faultCounts,
        failedCalls: input.emulator.calls().filter((c) => c.status < 200 || c.status >= 300).length,
        errorsSurvived: input.jobErrors.length,
        errors: input.jobErrors,
        refusals: input.refusals,
        refusalsWithoutServer: input.refusals.filter((r) => !namesServer(r.message)).length,
        rollbacks: input.rollbacks,
        longestVerifiedUnsignedMinutes: Math.round(longestVerifiedUnsignedMinutes),
      }
    : undefined;
  const unsignedMinutes = pendingMinutesTotal(input.emulator, input.config, input.start);
  const sesQuirks = input.sesQuirks
    ? {
        temporaryFailureSpells: input.config.identities
          .flatMap((i) => i.regions.flatMap((r) => history(r, i.domain)))
          .filter((c) => c.reason.endsWith("(quirk)")).length,
        // GetEmailIdentity answers; every BYODKIM one carried "Tokens": [].
        getEmailIdentityCalls: input.emulator.callCount({
          service: "ses",
          operation: "GetEmailIdentity",
        }),
      }
    : undefined;
  const stuck = stuckRotations(input);
  // Without injected faults a failed job is a defect, not weather: it fails the verdict, by name.
  // Under faults it is weather only if the same job ran again and concluded
  // (ledger.ts: retriedAt); one that never did (a re-run that still refuses,
  // or nothing left to re-run) is a defect too. The last two days may not
  // have had their next schedule yet.
  const failedJobs = input.naive
    ? []
    : input.faults
      ? [
          ...input.jobErrors
            .filter((e) => !e.retriedAt && Date.parse(e.at) < input.end.getTime() - 2 * DAY_MS)
            .map((e) => `${e.job}: ${e.message} (failed ${e.at}; the job never ran again)`),
          ...jobCountsDisagree(input),
        ]
      : input.jobErrors.map((e) => `${e.job}: ${e.message}`);
  // Every Region swap to a rotation's new key has the canary's verdict
  // (pipeline mode). A rollback's swap back to a key whose canary already
  // passed in that Region restores proven signing: that earlier pass is its verdict.
  const verdicts = input.canaryVerdicts ?? [];
  const targets = new Set(rotations.map((r) => `${r.domain}/${r.to}`));
  const same = (v: CanaryRecord, s: SwapAudit) =>
    v.domain === s.domain && v.selector === s.selector && v.region === s.region;
  const swapsWithoutCanary = input.naive
    ? 0
    : input.swapAudit.filter(
        (s) =>
          targets.has(`${s.domain}/${s.selector}`) &&
          !verdicts.some((v) => same(v, s) && Date.parse(v.at) >= s.at) &&
          !verdicts.some((v) => same(v, s) && v.ok && Date.parse(v.at) < s.at),
      ).length;
  const canary = {
    verdicts,
    passed: verdicts.filter((v) => v.ok).length,
    failed: verdicts.filter((v) => !v.ok && !v.notRun).length,
    notRun: verdicts.filter((v) => v.notRun).length,
    swapsWithoutCanary,
  };
  const ok =
    swapsWithoutCanary === 0 &&
    stuck.length === 0 &&
    failedJobs.length === 0 &&
    input.mail.stats.failed === 0 &&
    unsignedOutsidePending === 0 &&
    (input.naive ||
      (unverifiedSwaps === 0 &&
        stalledDomains.length === 0 &&
        duplicateKeys === 0 &&
        input.duplicatePrs === 0 &&
        overwrittenSecrets === 0 &&
        input.custody.local2048 === 0 &&
        (faultReport?.refusalsWithoutServer ?? 0) === 0));
  return {
    mode: input.naive ? "naive" : "pipeline",
    easyDkimSwitchBack: input.easyDkimSwitchBack ?? "new-tokens",
    start: input.start.toISOString(),
    end: input.end.toISOString(),
    ...input.mail.stats,
    unsignedOutsidePending,
    unsignedMinutes,
    rotations,
    canary,
    publication: publicationFigures(input.publisher ?? "manual", rotations),
    ...(input.publisherEnd ? { publisherEnd: input.publisherEnd } : {}),
    zonesServed: input.zonesServed,
    sesCalls: input.emulator.callCount({ service: "ses" }),
    ...(input.workflows ? { workflows: input.workflows } : {}),
    wall: input.wall,
    swaps: input.swapAudit.length,
    unverifiedSwaps,
    duplicateKeys,
    overwrittenSecrets,
    duplicatePrs: input.duplicatePrs,
    stalledDomains,
    stuckRotations: stuck,
    failedJobs,
    custody: input.custody,
    ...(faultReport ? { faults: faultReport } : {}),
    ...(sesQuirks ? { sesQuirks } : {}),
    ok,
    verdict: ok
      ? `0 failed signatures; ${input.mail.stats.unsigned} unsigned message(s), all inside SES's pending checks right after a verified swap (${unsignedMinutes} pending minutes in all)${input.naive ? "" : `; every new 2048-bit key made by KMS (${input.custody.kms} KMS, ${input.custody.local} local 1024-bit, ${input.custody.operator} operator)`}${faultReport ? `; under ${faultReport.rate * 100}% faults (seed ${faultReport.seed}): ${Object.values(faultReport.injected).reduce((a, b) => a + (b ?? 0), 0)} injected, ${faultReport.errorsSurvived + input.refusals.length + input.rollbacks.length} failed job(s): ${faultReport.errorsSurvived} error(s) each run again by the next schedule, ${input.refusals.length} refusal(s), ${input.rollbacks.length} rollback(s); no duplicate key or PR` : ""}`
      : `${swapsWithoutCanary ? `${swapsWithoutCanary} Region swap(s) without a canary verdict; ` : ""}${input.mail.stats.failed} failed signature(s), ${unsignedOutsidePending} unsigned message(s) outside SES's pending checks (${unsignedMinutes} minutes of unsigned mail)${input.naive ? "" : `; ${unverifiedSwaps} swap(s) without DNS, ${stalledDomains.length ? `rotation stalled for ${stalledDomains.join(", ")} (active key older than rotationDays), ` : ""}${duplicateKeys} duplicate key(s), ${input.duplicatePrs} duplicate PR(s), ${overwrittenSecrets} overwritten secret(s), ${input.custody.local2048} 2048-bit key(s) made outside KMS, ${faultReport?.refusalsWithoutServer ?? 0} refusal(s) not naming the server`}${[...stuck, ...failedJobs].map((p) => `; ${p}`).join("")}`,
  };
}

/**
 * The runs' own count of failed jobs (report.md "Jobs: … failed") must be the
 * ledger's errors, refusals and rollbacks: each failed job is exactly one of them.
 */
function jobCountsDisagree(input: VerdictInput): string[] {
  const failed = input.workflows?.jobs.failure;
  const ledger = input.jobErrors.length + input.refusals.length + input.rollbacks.length;
  return failed === undefined || failed === ledger
    ? []
    : [
        `job counts disagree: the runs had ${failed} failed job(s), the ledger ${input.jobErrors.length} error(s) + ${input.refusals.length} refusal(s) + ${input.rollbacks.length} rollback(s)`,
      ];
}

/** Minutes each identity spent not signing with its domain key after a swap (PENDING/FAILED). */
function pendingMinutesTotal(emulator: AwsEmulator, config: ProjectConfig, since: Date): number {
  let total = 0;
  for (const identity of config.identities) {
    for (const region of identity.regions) {
      const h = emulator.ses.identity(region, identity.domain)?.history ?? [];
      for (let i = 0; i < h.length; i++) {
        const c = h[i]!;
        if ((c.status !== "PENDING" && c.status !== "FAILED") || c.at < since) continue;
        const next = h
          .slice(i + 1)
          .find((n) => n.status === "SUCCESS" || n.status === "TEMPORARY_FAILURE");
        if (next) total += (next.at.getTime() - c.at.getTime()) / MINUTE_MS;
        if (next) i = h.indexOf(next);
      }
    }
  }
  return Math.round(total);
}
