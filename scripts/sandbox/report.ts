/**
 * The sandbox's report: what report.json holds (SandboxReport) and how
 * report.md shows it. Presentation only: the figures come from verdict.ts.
 */
import type { DmarcFigures } from "./dmarc-figures";
import type { AwsFaultKind, DnsFaultKind } from "./faults";
import type { PublisherEndState, SandboxPublisher } from "./publishers";

export interface FaultReport {
  seed: number;
  rate: number;
  /** Injected faults by kind (AWS emulator and both DNS servers). */
  injected: Partial<Record<AwsFaultKind | DnsFaultKind, number>>;
  /** Control-plane calls the emulator answered with an error or not at all (the SDK retried most). */
  failedCalls: number;
  /** Engine runs (plan, verify/activate, retire) that stopped on an error and were retried by the next schedule. */
  errorsSurvived: number;
  /** Each failed run; `retriedAt`: when the same job next ran and concluded (succeeded, refused or rolled back). */
  errors: { at: string; job: string; message: string; retriedAt?: string }[];
  /** Activations refused by the engine (each names the server and the difference). */
  refusals: { at: string; message: string }[];
  /** Refusals whose message does not name a server and what it served. */
  refusalsWithoutServer: number;
  /** Activations that rolled back (SES did not verify the new key). */
  rollbacks: { at: string; message: string }[];
  /** Longest unsigned window after a DNS-verified swap (minutes). */
  longestVerifiedUnsignedMinutes: number;
}

export interface RotationRecord {
  domain: string;
  /** What this rotation cost, from the plan run that made its key to the run that activated it (schedule.ts). */
  costs?: RotationCosts;
  from?: string;
  to: string;
  generatedAt?: string;
  mergedAt?: string;
  publishedAt?: string;
  activatedAt?: string;
  retiredAt?: string;
  /** The activation failed and every Region went back to `from`; the candidate was abandoned. */
  rolledBackAt?: string;
  pendingMinutes?: number;
  /** The canary's verdict per Region swapped (docs/design.md#canary). */
  canary?: { region: string; ok: boolean; line: string }[];
  /** When the old selector's record left every authoritative server (the retirement's removal). */
  recordRemovedAt?: string;
  /** Minutes from the record PR's merge until every authoritative server served the record. */
  mergeToPublished?: number;
  /** Minutes from the record PR's merge until SES signed with the key in every Region. */
  mergeToActive?: number;
}

/** Who published, and how long records took from merge to DNS and to SES (medians over the rotations). */
export interface PublicationFigures {
  publisher: SandboxPublisher;
  /** Rotations with a merge and a publication (the medians' sample). */
  rotations: number;
  mergeToPublishedMedianMinutes?: number;
  mergeToActiveMedianMinutes?: number;
}

/** One canary verdict, as the activation logged it. */
export interface CanaryRecord {
  domain: string;
  selector: string;
  at: string;
  region: string;
  ok: boolean;
  /** Not sent: SES did not reach SUCCESS with the key, and the activation rolled back without it. */
  notRun?: boolean;
  line: string;
}

export interface SandboxReport {
  mode: "pipeline" | "naive";
  /** Receivers' DMARC aggregate reports as the `reports` command read them (dmarc-figures.ts). */
  dmarc?: DmarcFigures;
  /** The emulated SES's reading of a switch back to Easy DKIM (docs/design.md, ses-easy-dkim-switch-back). */
  easyDkimSwitchBack: "new-tokens" | "same-tokens";
  start: string;
  end: string;
  messages: number;
  verified: number;
  unsigned: number;
  failed: number;
  /**
   * `--approval pull-request`: approval request PRs opened, the decisions
   * they asked about (one PR per decision when equal), and how many were
   * reviewed and merged.
   */
  approvals?: { prs: number; decisions: number; merged: number };
  /** Unsigned messages sent outside a short SES pending check after a verified swap. */
  unsignedOutsidePending: number;
  unsignedMinutes: number;
  rotations: RotationRecord[];
  /** Every canary verdict; `swapsWithoutCanary`: Region swaps by an activation that has none. */
  canary: {
    verdicts: CanaryRecord[];
    passed: number;
    failed: number;
    /** Verdicts "not run": SES FAILED first, so no message could be sent. */
    notRun: number;
    swapsWithoutCanary: number;
  };
  publication: PublicationFigures;
  /** Automatic publishers: per domain, what main, ns1, ns2 and the primary / Route 53 hold at the end. */
  publisherEnd?: Record<string, PublisherEndState>;
  zonesServed: number;
  sesCalls: number;
  /** SES key swaps (PutEmailIdentityDkimSigningAttributes by the engine), and those made while some authoritative server did not serve the key. */
  swaps: number;
  unverifiedSwaps: number;
  /** More than one stored key awaiting activation for a domain at once (never two keys for one rotation). */
  duplicateKeys: number;
  /** Secrets written more than once (a stored key is immutable). */
  overwrittenSecrets: number;
  /** A second rotation PR opened while one was open for the domain, or two PRs for one selector. */
  duplicatePrs: number;
  /** Domains whose last activation is older than rotationDays at the end: rotation stalled. */
  stalledDomains: string[];
  /** Rotations published for days but never activated, each naming the jobs of the run that should have. */
  stuckRotations: string[];
  /** Jobs that failed without injected faults (with faults they are retried, in `faults.errors`). */
  failedJobs: string[];
  /**
   * Keys stored during the run, by how they were made (counted at the key
   * store boundary): `kms` by the emulated KMS, `local` on the runner (the
   * 1024-bit exception), `operator` the hand-made keys of the starting world.
   * `local2048` (2048-bit keys made outside KMS) must stay 0.
   */
  custody: { kms: number; local: number; operator: number; local2048: number };
  faults?: FaultReport;
  /** Pipeline mode: the shipped workflows as they ran (schedule.ts). */
  workflows?: WorkflowFigures;
  /**
   * Where the real time went: building the world (servers, starting states,
   * adoption), the simulated years (of which the workflow runs), and the
   * mail verdicts still on the verifier thread when the years ended.
   */
  wall: {
    setUpSeconds: number;
    simulationSeconds: number;
    workflowSeconds: number;
    lastVerdictsSeconds: number;
  };
  /** With --ses-quirks: how often SES answered the documented odd ways. */
  sesQuirks?: { temporaryFailureSpells: number; getEmailIdentityCalls: number };
  ok: boolean;
  verdict: string;
}

/**
 * Per rotation: the approval requests for its activation (GitHub's "review
 * pending deployments" requests naming its job), and the workflow runs,
 * GitHub API requests and SES control-plane calls made from the plan run that
 * generated its key through the run that activated it. Rotations of two
 * domains whose windows overlap share the runs of the overlap.
 */
export interface RotationCosts {
  approvalRequests: number;
  /**
   * `--approval pull-request`: the approval request PRs of this rotation (its
   * activation, and the retirement of the key it replaced), and the minutes
   * from the activation request's opening (the selector ready) to its merge.
   */
  approvalPrs?: number;
  readyToApprovedMinutes?: number;
  workflowRuns: number;
  githubRequests: number;
  sesCalls: number;
}

export interface WorkflowFigures {
  /** Runs started, by caller workflow file and event. */
  runs: Record<string, number>;
  /** Hourly schedule events not delivered: nothing had changed since a run that found nothing to do. */
  quietHoursSkipped: number;
  jobs: { success: number; failure: number; skipped: number };
  approvalRequests: number;
  githubRequests: number;
  sesCalls: number;
}

export function renderReportMd(report: SandboxReport, failures: string[]): string {
  const lines = [
    `# Sandbox report (${report.mode})`,
    "",
    `Simulated ${report.start.slice(0, 10)} → ${report.end.slice(0, 10)}; a switch back to Easy DKIM gives ${report.easyDkimSwitchBack === "new-tokens" ? "new tokens" : "the same tokens"}.`,
    "",
    `| messages | verified | unsigned | failed | unsigned outside SES pending checks | pending minutes |`,
    `|---:|---:|---:|---:|---:|---:|`,
    `| ${report.messages} | ${report.verified} | ${report.unsigned} | ${report.failed} | ${report.unsignedOutsidePending} | ${report.unsignedMinutes} |`,
    "",
    `**Verdict:** ${report.ok ? "PASS" : "FAIL"} — ${report.verdict}`,
    "",
    `Real time: ${report.wall.setUpSeconds} s setting up, ${report.wall.simulationSeconds} s simulating (${report.wall.workflowSeconds} s of it in workflow runs), ${report.wall.lastVerdictsSeconds} s for the last mail verdicts.`,
    "",
    "## Rotations",
    "",
    "| domain | from | to | generated | merged | published | activated | retired | pending min | merge → published | merge → active |",
    "|---|---|---|---|---|---|---|---|---:|---:|---:|",
    ...report.rotations.map(
      (r) =>
        `| ${r.domain} | ${r.from ?? "-"} | ${r.to} | ${d(r.generatedAt)} | ${d(r.mergedAt)} | ${d(r.publishedAt)} | ${r.activatedAt ? d(r.activatedAt) : r.rolledBackAt ? `rolled back ${d(r.rolledBackAt)}` : "-"} | ${d(r.retiredAt)} | ${r.pendingMinutes ?? "-"} | ${duration(r.mergeToPublished)} | ${duration(r.mergeToActive)} |`,
    ),
    "",
    publicationLine(report.publication),
    "",
    ...publisherEndLines(report.publisherEnd),
  ];
  lines.push(
    ...workflowLines(report),
    "## Safety checks",
    "",
    "| swaps | swaps without DNS on every server | duplicate keys | duplicate PRs | overwritten secrets | rotation stalled | keys by KMS / local / operator | 2048-bit keys outside KMS |",
    "|---:|---:|---:|---:|---:|---|---|---:|",
    `| ${report.swaps} | ${report.unverifiedSwaps} | ${report.duplicateKeys} | ${report.duplicatePrs} | ${report.overwrittenSecrets} | ${report.stalledDomains.join(", ") || "none"} | ${report.custody.kms} / ${report.custody.local} / ${report.custody.operator} | ${report.custody.local2048} |`,
    "",
    `## Canary (docs/design.md#canary): ${report.canary.passed} passed, ${report.canary.failed} failed, ${report.canary.notRun} not run (SES failed first), ${report.canary.swapsWithoutCanary} Region swap(s) without a verdict`,
    "",
    ...report.canary.verdicts.map((v) => `- ${d(v.at)} ${v.domain} ${v.selector}: ${v.line}`),
    "",
  );
  const f = report.faults;
  if (f) {
    lines.push(
      `## Faults (rate ${f.rate}, seed ${f.seed})`,
      "",
      "| kind | injected |",
      "|---|---:|",
      ...Object.entries(f.injected).map(([k, v]) => `| ${k} | ${v} |`),
      "",
      `Control-plane calls answered with an error or not at all: ${f.failedCalls} (the SDK retried them; ${f.errorsSurvived} run(s) still failed and were retried by the next schedule).`,
      "",
      "Unsigned mail is confined when every SES swap that opened its window was made while both authoritative servers served the key (audited against the zones, not the engine's word) and SES reached SUCCESS again. Injected SES status faults (a key stuck in PENDING or FAILED) lengthen such windows until the activation rolls back; " +
        `the longest was ${f.longestVerifiedUnsignedMinutes} min.`,
      "",
      `### Refusals (${f.refusals.length}; ${f.refusalsWithoutServer} without the server named)`,
      "",
      ...f.refusals.slice(0, 50).map((r) => `- ${d(r.at)} ${r.message}`),
      "",
      `### Rollbacks (${f.rollbacks.length})`,
      "",
      ...f.rollbacks.map((r) => `- ${d(r.at)} ${r.message}`),
      "",
      `### Failed runs retried by the next schedule (${f.errorsSurvived})`,
      "",
      ...groupErrors(f.errors)
        .slice(0, 50)
        .map(
          (g) =>
            `- ${g.count}× ${g.job}: ${g.message} (${d(g.first)}${g.count > 1 ? ` … ${d(g.last)}` : ""}; ${g.retriedAt ? `ran again ${d(g.retriedAt)}` : "never ran again"})`,
        ),
      "",
    );
  }
  const problems = [...report.stuckRotations, ...report.failedJobs];
  if (problems.length) lines.push("## Problems", "", ...problems.map((p) => `- ${p}`), "");
  if (failures.length)
    lines.push("## Failed signatures", "", ...failures.slice(0, 50).map((f) => `- ${f}`), "");
  return lines.join("\n");
}

/** Identical failures (the same run failing every hour) as one line with a count. */
function groupErrors(errors: FaultReport["errors"]) {
  const groups = new Map<
    string,
    { job: string; message: string; count: number; first: string; last: string; retriedAt?: string }
  >();
  for (const e of errors) {
    const key = `${e.job}\n${e.message}`;
    const g = groups.get(key);
    if (g) {
      g.count++;
      g.last = e.at;
      g.retriedAt = e.retriedAt;
    } else
      groups.set(key, {
        job: e.job,
        message: e.message,
        count: 1,
        first: e.at,
        last: e.at,
        ...(e.retriedAt ? { retriedAt: e.retriedAt } : {}),
      });
  }
  return [...groups.values()];
}

/** Minutes as `6 min`, `3 h 12 min`, `14 d 2 h`. */
export function duration(minutes?: number): string {
  if (minutes === undefined) return "-";
  const m = Math.round(minutes);
  if (m < 60) return `${m} min`;
  if (m < 24 * 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
}

export function publicationLine(p: PublicationFigures): string {
  return `Publisher ${p.publisher}: merge → published median ${duration(p.mergeToPublishedMedianMinutes)}, merge → active median ${duration(p.mergeToActiveMedianMinutes)} (${p.rotations} rotation(s); published = served by every authoritative server, active = SES signing in every Region).`;
}

function publisherEndLines(end?: Record<string, PublisherEndState>): string[] {
  if (!end) return [];
  const list = (xs?: string[]) => (xs === undefined ? "-" : xs.join(", ") || "none");
  return [
    "At the end, `_domainkey` TXT records by selector:",
    "",
    "| domain | record files on main | ns1 | ns2 | primary (dig) | Route 53 zone |",
    "|---|---|---|---|---|---|",
    ...Object.entries(end).map(
      ([domain, e]) =>
        `| ${domain} | ${list(e.main)} | ${list(e.ns1)} | ${list(e.ns2)} | ${list(e.primary)} | ${list(e.route53)} |`,
    ),
    "",
  ];
}

function d(iso?: string): string {
  return iso ? iso.slice(0, 16).replace("T", " ") : "-";
}

function workflowLines(report: SandboxReport): string[] {
  const w = report.workflows;
  if (!w) return [];
  return [
    "## The shipped workflows",
    "",
    ...(report.rotations.some((r) => r.costs?.approvalPrs !== undefined)
      ? [
          "| rotation | approval PRs | ready → approved | workflow runs | GitHub API requests | SES calls |",
          "|---|---:|---:|---:|---:|---:|",
          ...report.rotations
            .filter((r) => r.costs)
            .map(
              (r) =>
                `| ${r.domain} → ${r.to} | ${r.costs!.approvalPrs ?? 0} | ${r.costs!.readyToApprovedMinutes === undefined ? "—" : `${(r.costs!.readyToApprovedMinutes / 60).toFixed(1)} h`} | ${r.costs!.workflowRuns} | ${r.costs!.githubRequests} | ${r.costs!.sesCalls} |`,
            ),
        ]
      : [
          "| rotation | approval requests | workflow runs | GitHub API requests | SES calls |",
          "|---|---:|---:|---:|---:|",
          ...report.rotations
            .filter((r) => r.costs)
            .map(
              (r) =>
                `| ${r.domain} → ${r.to} | ${r.costs!.approvalRequests} | ${r.costs!.workflowRuns} | ${r.costs!.githubRequests} | ${r.costs!.sesCalls} |`,
            ),
        ]),
    "",
    `Runs: ${Object.entries(w.runs)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ", ",
      )}; ${w.quietHoursSkipped} hourly events not delivered (nothing had changed since a run that found nothing to do). Jobs: ${w.jobs.success} succeeded, ${w.jobs.failure} failed${failedBreakdown(report)}, ${w.jobs.skipped} skipped. In all: ${w.approvalRequests} approval requests, ${w.githubRequests} GitHub API requests, ${w.sesCalls} SES control-plane calls.`,
    "",
  ];
}

/** What the failed jobs were, under faults: " (3 errors run again, 9 refusals, 3 rollbacks)". */
function failedBreakdown(report: SandboxReport): string {
  const f = report.faults;
  if (!f) return "";
  const again = f.errors.filter((e) => e.retriedAt).length;
  return ` (${f.errorsSurvived} error(s), ${again} of them run again by the next schedule; ${f.refusals.length} refusal(s); ${f.rollbacks.length} rollback(s))`;
}

export function stamp(d: Date): string {
  return d.toISOString().slice(0, 16).replace("T", " ");
}
