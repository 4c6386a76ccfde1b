/**
 * The sandbox's own record of what happened, kept from the world's side
 * (GitHub's PR list, the key store's tags, SES's history, the jobs'
 * conclusions), never from what the engine says of itself: each rotation's
 * dates, the keys and how they were made, duplicate PRs or keys, refusals,
 * rollbacks and failed jobs. `version` moves whenever something a workflow
 * reads has changed (docs/design.md#sandbox, the quiet hours).
 */
import { MINUTE_MS, type Clock } from "../../actions/dkim-rotation/src/engine/clock";
import type { ProjectConfig } from "../../actions/dkim-rotation/src/engine/config";
import {
  TAG_DOMAIN,
  TAG_KEY_BITS,
  TAG_KEY_ORIGIN,
  TAG_STATE,
} from "../../actions/dkim-rotation/src/engine/key-store-schema";
import type { GitHubFake } from "../github-fake";
import type { RunRecord } from "../workflow-runner";
import type { AwsEmulator } from "./aws-emulator";
import type { DnsEvent, DnsTeam } from "./dns-team";
import { stamp, type CanaryRecord, type FaultReport, type RotationRecord } from "./report";
import type { TimelineInput } from "./timeline";
import type { RunCost } from "./schedule";

export interface LedgerOptions {
  config: ProjectConfig;
  emulator: AwsEmulator;
  github: GitHubFake;
  clock: Clock;
  /** The gated environment's name, for the timeline. */
  environment: string;
  /** The seed flow: its PRs are not rotations of the pipeline's. */
  naive: boolean;
  /** One timeline event (printed and kept, timeline.ts). */
  event: (e: TimelineInput) => void;
  /** Every secret a step masked (the secret scan's input). */
  onSecret: (secret: string) => void;
  /** A swap is expected at `at`: the mail stream sends densely around it. */
  expectSwap: (domain: string, at: number) => void;
  /**
   * An automatic publisher: the swap follows the merge by hours, so it is
   * expected this long after the rotation PR opens (the review time), and the
   * mail stream is dense from then on (absent: expected at the planned publication).
   */
  swapAfterOpenMs?: number;
}

export class Ledger {
  readonly rotations: RotationRecord[] = [];
  /** The selector (or `easy-dkim`) each domain signs with, as the world last saw. */
  readonly active = new Map<string, string>();
  readonly refusals: FaultReport["refusals"] = [];
  readonly rollbacks: FaultReport["rollbacks"] = [];
  /** Every canary verdict the activations logged, in order. */
  readonly canaryVerdicts: CanaryRecord[] = [];
  readonly jobErrors: FaultReport["errors"] = [];
  readonly duplicateKeySets = new Set<string>();
  duplicatePrs = 0;
  /** Moves whenever records, keys, DNS or a job's state changed. */
  version = 0;
  /**
   * How every stored key was made, from the key store's own tags, noted as
   * keys appear (a deleted secret leaves the store): `kms` by the emulated
   * KMS, `local` on the runner (the 1024-bit exception), `operator` the
   * hand-made keys of the starting world. `local2048` must stay 0.
   */
  private readonly keyOrigins = new Map<string, { origin: string; bits: string }>();
  private prsSeen = 0;
  /** Failed jobs not yet seen to run again, by `<workflow>: <job>`. */
  private readonly awaitingRetry = new Map<string, FaultReport["errors"]>();

  /** How many PRs GitHub's list held at the last look. */
  get pullsSeen(): number {
    return this.prsSeen;
  }

  constructor(private readonly o: LedgerOptions) {}

  rotationFor(domain: string, selector: string): RotationRecord | undefined {
    return this.rotations.find((r) => r.domain === domain && r.to === selector);
  }

  /** The rotation that replaced `selector` for good (not one that was rolled back). */
  retirementOf(domain: string, selector: string): RotationRecord | undefined {
    return this.rotations.find((r) => r.domain === domain && r.from === selector && r.activatedAt);
  }

  onDnsEvents(events: DnsEvent[]): void {
    for (const e of events) {
      this.version++;
      const when = new Date(e.at).toISOString();
      if (e.kind === "published") {
        const r = this.rotationFor(e.domain, e.selector);
        if (r && !r.publishedAt) r.publishedAt = when;
      } else {
        const r = this.retirementOf(e.domain, e.selector);
        if (r && !r.retiredAt) r.retiredAt = when;
        if (r && !r.recordRemovedAt) r.recordRemovedAt = when;
      }
    }
  }

  onMerged(merged: ReturnType<DnsTeam["reviewDue"]>): void {
    for (const m of merged) {
      this.version++;
      if (m.kind !== "rotation") continue;
      const r = this.rotationFor(m.domain, m.selector);
      if (r) r.mergedAt = new Date(m.mergedAt).toISOString();
      if (!this.o.naive) this.o.expectSwap(m.domain, m.publishAt);
    }
  }

  noteKeys(): void {
    for (const k of this.o.emulator.secrets.list())
      if (!this.keyOrigins.has(k.name) && k.tags[TAG_KEY_ORIGIN])
        this.keyOrigins.set(k.name, {
          origin: k.tags[TAG_KEY_ORIGIN]!,
          bits: k.tags[TAG_KEY_BITS]!,
        });
  }

  custody(): { kms: number; local: number; operator: number; local2048: number } {
    const c = { kms: 0, local: 0, operator: 0, local2048: 0 };
    for (const { origin, bits } of this.keyOrigins.values()) {
      if (origin === "kms" || origin === "local" || origin === "operator") c[origin]++;
      if (origin === "local" && bits === "2048") c.local2048++;
    }
    return c;
  }

  /** At most one stored key awaiting activation per domain: never two keys for one rotation. */
  checkKeys(): void {
    this.noteKeys();
    for (const identity of this.o.config.identities) {
      const pending = this.o.emulator.secrets
        .list()
        .filter(
          (s) =>
            s.tags[TAG_DOMAIN] === identity.domain &&
            s.tags[TAG_STATE] === "pending" &&
            !s.deletedAt,
        );
      if (pending.length > 1)
        this.duplicateKeySets.add(
          pending
            .map((p) => p.name)
            .sort()
            .join(" + "),
        );
    }
  }

  /** The key store as the engine would see it: names, states and deletions. */
  keyStoreState(): string {
    return JSON.stringify(
      this.o.emulator.secrets.list().map((k) => [k.name, k.tags[TAG_STATE], k.deletedAt ?? null]),
    );
  }

  /** PRs opened since the last look: printed, checked against GitHub's one-PR rules, recorded. */
  onNewPulls(): void {
    const pulls = this.o.github.listPulls();
    for (const pr of pulls.slice(this.prsSeen)) {
      const [, prefix, domain, selector] =
        /^(dkim|dkim-retire)\/([^/]+)\/([^/]+)$/.exec(pr.head) ?? [];
      if (!domain || !selector) continue;
      const opened = Date.parse(pr.createdAt);
      // Production refuses a second rotation PR while one is open, and one selector gets one PR.
      const earlier = pulls.filter(
        (p) =>
          p.number < pr.number &&
          p.head.startsWith(`${prefix}/${domain}/`) &&
          (p.head === pr.head ||
            (prefix === "dkim" &&
              (p.state === "open" || Date.parse(p.mergedAt ?? p.updatedAt) > opened))),
      );
      if (earlier.length) this.duplicatePrs++;
      this.o.event({
        at: opened,
        kind: "pr-opened",
        domain,
        selector,
        detail: `${domain}: PR #${pr.number} "${pr.title}" opened for DNS review`,
      });
      if (prefix === "dkim" && !this.o.naive) {
        if (this.o.swapAfterOpenMs !== undefined)
          this.o.expectSwap(domain, opened + this.o.swapAfterOpenMs);
        this.rotations.push({
          domain,
          from: this.active.get(domain),
          to: selector,
          generatedAt: this.o.clock.now().toISOString(),
        });
      }
    }
    this.prsSeen = pulls.length;
  }

  jobError(job: string, message: string): void {
    const now = this.o.clock.now();
    const error = { at: now.toISOString(), job, message };
    this.jobErrors.push(error);
    this.awaitingRetry.set(job, [...(this.awaitingRetry.get(job) ?? []), error]);
    this.o.event({
      at: now,
      kind: "job-failed",
      ...jobSubject(job),
      detail: `${job} failed (retried by the next schedule): ${message}`,
    });
  }

  /**
   * The job ran again and concluded (succeeded, or was refused or rolled
   * back, which the engine says in its own words): its earlier failures were
   * retried, and the timeline says so.
   */
  private ranAgain(job: string, outcome: string): void {
    const failed = this.awaitingRetry.get(job);
    if (!failed) return;
    this.awaitingRetry.delete(job);
    const now = this.o.clock.now();
    for (const e of failed) e.retriedAt = now.toISOString();
    this.o.event({
      at: now,
      kind: "retried",
      ...jobSubject(job),
      detail: `${job} ${outcome} on retry (${failed.length === 1 ? "the run" : `${failed.length} runs`} that failed from ${stamp(new Date(failed[0]!.at))})`,
    });
  }

  /**
   * What a run did, read from GitHub's and SES's side: PRs it opened, jobs
   * that wait for approval, activations and retirements. Returns whether a
   * gated job ran or was queued (the world changed, or will).
   */
  onRun(run: RunRecord): boolean {
    const { clock, config, emulator, event, environment } = this.o;
    for (const step of run.steps) for (const secret of step.masked ?? []) this.o.onSecret(secret);
    this.noteKeys();
    this.onNewPulls();
    let acted = false;
    for (const job of run.jobs) {
      const gated = gatedJobOf(job.name);
      const failure = () => {
        const step = run.steps.find((s) => s.job === job.name && s.outcome === "failure");
        const line = step?.log?.split("\n").find((l) => l.startsWith("::error")) ?? "";
        return unescape(line.replace(/^::error[^:]*::/, "")) || job.error || "failed";
      };
      const label = `${run.workflow}: ${job.name}`;
      if (!gated) {
        if (job.conclusion === "failure") this.jobError(label, failure());
        else if (job.conclusion === "success") this.ranAgain(label, "succeeded");
        continue;
      }
      const { what, selector, domain } = gated;
      const regions = config.identities.find((i) => i.domain === domain)?.regions ?? [];
      acted = true;
      if (job.conclusion === "waiting" || job.conclusion === "pending") {
        if (job.conclusion === "waiting")
          event({
            at: clock.now(),
            kind: "approval-requested",
            domain,
            selector,
            regions: what === "Activate" ? regions : [],
            detail: `${domain}: verify: ${what === "Activate" ? `every authoritative nameserver serves ${selector}; its activation` : `${selector} is gone from main; its key's deletion`} waits for approval in ${environment}`,
          });
        continue;
      }
      this.version++;
      if (what === "Retire") {
        if (job.conclusion === "success") {
          const r = this.retirementOf(domain, selector);
          if (r && !r.retiredAt) r.retiredAt = clock.now().toISOString();
          event({
            at: clock.now(),
            kind: "key-deletion-scheduled",
            domain,
            selector,
            detail: `${domain}: deletion of ${selector}'s key scheduled (recoverable for the recovery window)`,
          });
          this.ranAgain(label, "succeeded");
        } else this.jobError(label, failure());
        continue;
      }
      const r = this.rotationFor(domain, selector);
      const identity = config.identities.find((i) => i.domain === domain)!;
      // The canary's verdict per Region, in the action's own words (docs/design.md#canary).
      for (const line of run.steps
        .filter((st) => st.job === job.name)
        .flatMap((st) => st.log?.split("\n") ?? [])) {
        const m = /(canary (\S+)(: pass: | failed \(| not run \().*)$/.exec(line);
        if (!m || !line.includes(`${domain}: canary: `)) continue;
        const verdict = {
          region: m[2]!,
          ok: m[3] === ": pass: ",
          ...(m[3] === " not run (" ? { notRun: true } : {}),
          line: m[1]!,
        };
        if (r) (r.canary ??= []).push(verdict);
        this.canaryVerdicts.push({ domain, selector, at: clock.now().toISOString(), ...verdict });
        event({
          at: clock.now(),
          kind: verdict.ok ? "canary-pass" : verdict.notRun ? "canary-not-run" : "canary-failed",
          domain,
          selector,
          regions: [verdict.region],
          detail: `${domain}: ${verdict.line}`,
        });
      }
      const signing = identity.regions.every((region) => {
        const v = emulator.ses.identity(region, domain);
        return v?.origin === "EXTERNAL" && v.selector === selector && v.status === "SUCCESS";
      });
      if (job.conclusion === "success" && signing) {
        const pendingMinutes = pendingAfterSwap(emulator, identity.regions, domain, selector);
        if (r) {
          r.activatedAt = clock.now().toISOString();
          r.pendingMinutes = pendingMinutes;
        }
        this.active.set(domain, selector);
        this.o.expectSwap(domain, clock.now().getTime());
        // The action's own words for the outcome, from the job's log.
        const said = run.steps
          .filter((st) => st.job === job.name)
          .flatMap((st) => st.log?.split("\n") ?? [])
          .find((l) => l.startsWith(`${domain}: SES signs with ${selector}`));
        event({
          at: clock.now(),
          kind: "activated",
          domain,
          selector,
          regions,
          detail:
            said ??
            `${domain}: SES signs with ${selector} in ${identity.regions.join(", ")} (pending ${pendingMinutes} min)`,
        });
        this.ranAgain(label, "succeeded");
        continue;
      }
      const message = failure();
      const at = clock.now().toISOString();
      const refused = / refused[: ]/.test(message);
      const rolledBack = !refused && /rolled back/.test(message);
      if (refused) this.refusals.push({ at, message });
      else if (rolledBack) {
        this.rollbacks.push({ at, message });
        if (r) r.rolledBackAt = at;
      } else this.jobError(label, message);
      event({
        at: clock.now(),
        kind: refused ? "refused" : rolledBack ? "rolled-back" : "activation-failed",
        domain,
        selector,
        regions,
        detail: `${domain}: activate ${selector} stopped: ${message}`,
      });
      if (/ refused[: ]/.test(message)) this.ranAgain(label, "was refused");
      else if (/rolled back/.test(message)) this.ranAgain(label, "rolled back");
    }
    return acted;
  }

  /** Each rotation with its costs: its activation's approval requests, and the runs from its key to its activation. */
  withCosts(costs: RunCost[]): RotationRecord[] {
    return this.rotations.map((r) => {
      if (!r.generatedAt) return r;
      const from = Date.parse(r.generatedAt);
      const to = Date.parse(r.activatedAt ?? r.rolledBackAt ?? "9999-12-31T00:00:00Z");
      const window = costs.filter((c) => c.at >= from && c.at <= to);
      const job = new RegExp(`/ Activate ${r.to} for ${r.domain.replace(/\./g, "\\.")}$`);
      return {
        ...r,
        costs: {
          approvalRequests: costs.flatMap((c) => c.approvalRequests).filter((n) => job.test(n))
            .length,
          workflowRuns: window.filter((c) => c.event !== "approval").length,
          githubRequests: window.reduce((n, c) => n + c.githubRequests, 0),
          sesCalls: window.reduce((n, c) => n + c.sesCalls, 0),
        },
      };
    });
  }
}

/** Workflow-command data unescaped (%25, %0D, %0A). */
function unescape(s: string): string {
  return s.replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%25/g, "%");
}

/** Minutes from the swap to SES's SUCCESS for the selector, the longest over the Regions. */
function pendingAfterSwap(
  emulator: AwsEmulator,
  regions: string[],
  domain: string,
  selector: string,
): number {
  let longest = 0;
  for (const region of regions) {
    const h = emulator.ses.identity(region, domain)?.history ?? [];
    const swap = h.findLastIndex((c) =>
      c.reason.startsWith(`signing attributes set: EXTERNAL selector ${selector}`),
    );
    const success = h.slice(swap + 1).find((c) => c.status === "SUCCESS");
    if (swap >= 0 && success)
      longest = Math.max(longest, (success.at.getTime() - h[swap]!.at.getTime()) / MINUTE_MS);
  }
  return Math.round(longest);
}

/** A gated job's name (`… / Activate <selector> for <domain>`, `… / Retire <selector> of <domain>`), read apart. */
export function gatedJobOf(
  name: string,
): { what: "Activate" | "Retire"; selector: string; domain: string } | undefined {
  const m = /\/ (Activate|Retire) (\S+) (?:for|of) (\S+)$/.exec(name);
  return m ? { what: m[1] as "Activate" | "Retire", selector: m[2]!, domain: m[3]! } : undefined;
}

/** The domain and selector a job's name gives (a gated job's), for its timeline events. */
export function jobSubject(name: string): { domain?: string; selector?: string } {
  const g = gatedJobOf(name);
  return g ? { domain: g.domain, selector: g.selector } : {};
}
