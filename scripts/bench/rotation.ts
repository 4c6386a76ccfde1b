/**
 * Rotation window, from the embedded sandbox (simulated clock, real engine,
 * real SDK → emulator, loopback DNS, mail verified with mailauth): per
 * rotation, the minutes SES was not signing with the domain key, and per
 * mode the unsigned and failed messages — pipeline vs the seed documents'
 * naive flow in the same world.
 *
 * Publication → activation: the sandbox marks a selector published when the
 * second nameserver serves it. The activation workflow runs hourly and on
 * push to dns/** (the merge; that push comes dnsLeadDays *before*
 * publication, so it finds nothing to do here), then waits for the
 * environment approval (2 h in the sandbox).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSandbox, type SandboxReport } from "../sandbox/run";
import type { SandboxPublisher } from "../sandbox/publishers";
import { progress, round } from "./common";

export interface RotationRow {
  domain: string;
  from?: string;
  to: string;
  generatedAt?: string;
  publishedAt?: string;
  /** When the hourly run saw every nameserver serve the key (pipeline). */
  readyAt?: string;
  activatedAt?: string;
  pendingMinutes?: number;
  publishToReadyMinutes?: number;
  readyToActivatedMinutes?: number;
  publishToActivatedMinutes?: number;
}

export interface ModeFigures {
  mode: "pipeline" | "naive";
  years: number;
  messages: number;
  verified: number;
  unsigned: number;
  failed: number;
  unsignedOutsidePending: number;
  pendingMinutesTotal: number;
  rotations: RotationRow[];
  ok: boolean;
  verdict: string;
  wallSeconds: number;
}

/** One publisher's run: how long a merged record took to DNS and to SES (sandbox minutes). */
export interface PublisherFigures {
  publisher: SandboxPublisher;
  rotations: number;
  mergeToPublishedMedianMinutes?: number;
  mergeToActiveMedianMinutes?: number;
  failed: number;
  ok: boolean;
  wallSeconds: number;
}

export interface RotationFigures {
  pipeline: ModeFigures;
  naive: ModeFigures;
  /** The pipeline under each publisher, `manual` being the pipeline run above. */
  publishers: PublisherFigures[];
  schedule: string;
}

const minutesBetween = (a?: string, b?: string) =>
  a && b ? Math.round((Date.parse(b) - Date.parse(a)) / 60000) : undefined;

/** `2027-05-03 14:00 shop.example: verify: every authoritative nameserver serves shop-20270428; …` */
const READY_LINE =
  /^(\d{4}-\d\d-\d\d \d\d:\d\d) (\S+): verify: every authoritative nameserver serves (\S+?);/;

async function runMode(
  naive: boolean,
  years: number,
  publisher: SandboxPublisher = "manual",
): Promise<ModeFigures & { publication: SandboxReport["publication"] }> {
  const label = naive ? "naive" : publisher === "manual" ? "pipeline" : publisher;
  const out = mkdtempSync(join(tmpdir(), `dkim-bench-sandbox-${label}-`));
  const lines: string[] = [];
  const t = performance.now();
  let report: SandboxReport;
  try {
    report = await runSandbox({
      out: join(out, "run"),
      years,
      naive,
      ...(publisher === "manual" ? {} : { publisher }),
      print: (l) => lines.push(l),
      progress: (l) => progress(() => `rotation (${label}): ${l()}`),
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const wallSeconds = (performance.now() - t) / 1000;
  const ready = new Map<string, string>();
  for (const l of lines) {
    const m = READY_LINE.exec(l);
    if (m && !ready.has(`${m[2]}/${m[3]}`))
      ready.set(`${m[2]}/${m[3]}`, `${m[1]!.replace(" ", "T")}:00.000Z`);
  }
  return {
    mode: report.mode,
    years,
    messages: report.messages,
    verified: report.verified,
    unsigned: report.unsigned,
    failed: report.failed,
    unsignedOutsidePending: report.unsignedOutsidePending,
    pendingMinutesTotal: report.unsignedMinutes,
    ok: report.ok,
    verdict: report.verdict,
    wallSeconds: round(wallSeconds, 1),
    publication: report.publication,
    rotations: report.rotations.map((r) => {
      const readyAt = ready.get(`${r.domain}/${r.to}`);
      return {
        domain: r.domain,
        from: r.from,
        to: r.to,
        generatedAt: r.generatedAt,
        publishedAt: r.publishedAt,
        readyAt,
        activatedAt: r.activatedAt,
        pendingMinutes: r.pendingMinutes,
        publishToReadyMinutes: minutesBetween(r.publishedAt, readyAt),
        readyToActivatedMinutes: minutesBetween(readyAt, r.activatedAt),
        publishToActivatedMinutes: minutesBetween(r.publishedAt, r.activatedAt),
      };
    }),
  };
}

function publisherFigures(
  run: ModeFigures & { publication: SandboxReport["publication"] },
): PublisherFigures {
  return {
    publisher: run.publication.publisher,
    rotations: run.publication.rotations,
    mergeToPublishedMedianMinutes: run.publication.mergeToPublishedMedianMinutes,
    mergeToActiveMedianMinutes: run.publication.mergeToActiveMedianMinutes,
    failed: run.failed,
    ok: run.ok,
    wallSeconds: run.wallSeconds,
  };
}

/** `parallel` (smoke): pipeline and naive at once; their wall times then mean nothing. */
export async function measureRotation(opts: {
  years: number;
  parallel?: boolean;
}): Promise<RotationFigures> {
  // Only the naive flow may run beside a pipeline: pipelines run the action
  // in this process, and its steps set the process's GITHUB_* environment.
  const [pipeline, naive] = opts.parallel
    ? await Promise.all([runMode(false, opts.years), runMode(true, opts.years)])
    : [await runMode(false, opts.years), await runMode(true, opts.years)];
  const rfc2136 = await runMode(false, opts.years, "rfc2136");
  const route53 = await runMode(false, opts.years, "route53");
  const strip = ({ publication: _p, ...m }: typeof pipeline): ModeFigures => m;
  return {
    pipeline: strip(pipeline),
    naive: strip(naive),
    publishers: [pipeline, rfc2136, route53].map(publisherFigures),
    schedule:
      "activation workflow hourly + on push to dns/** (the merge, dnsLeadDays before publication); environment approval 2 h; sandbox step 10 min",
  };
}
