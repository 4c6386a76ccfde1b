/**
 * One measured engine run, in its own process so its peak RSS is the
 * engine's alone (the emulator and DNS servers live in the parent).
 *
 * Usage (by index.ts): node --import tsx engine-child.ts '<task JSON>'
 * Prints one line `BENCH_RESULT <json>` on stdout; progress on stderr.
 *
 * The engine is wired exactly as the action wires it (buildAwsAdapters,
 * DnsVerifier, RepoRecords over a git checkout), with two counting wrappers
 * around the ports so we can see what the engine itself asked for and which
 * errors reached it (as opposed to throttles the SDK retried away).
 */
import { readFileSync } from "node:fs";
import { markdownChangeText } from "../../actions/dkim-rotation/src/pr-body";
import { systemClock } from "../../actions/dkim-rotation/src/engine/clock";
import { loadConfig } from "../../actions/dkim-rotation/src/load-config";
import { runPlan, type PlanOutcome } from "../../actions/dkim-rotation/src/engine/plan";
import {
  snapshotAll,
  snapshotForVerify,
  type IdentitySnapshot,
  type SesReads,
} from "../../actions/dkim-rotation/src/engine/snapshot";
import type { EngineContext } from "../../actions/dkim-rotation/src/engine/engine-context";
import type {
  ChangeRequestPort,
  DnsPort,
  DnsVerification,
  KeyStorePort,
  SesPort,
} from "../../actions/dkim-rotation/src/engine/ports";
import { RepoRecords } from "../../actions/dkim-rotation/src/adapters/repo-records";
import { buildAwsAdapters } from "../../actions/dkim-rotation/src/context";
import { DnsVerifier } from "../../actions/dkim-rotation/src/adapters/dns";
import {
  createOctokit,
  GitHubChangeRequests,
} from "../../actions/dkim-rotation/src/adapters/github";
import { BENCH_CREDENTIALS, mapLimit } from "./common";
import { plainChangeText } from "../../actions/dkim-rotation/src/format";

export interface FleetTask {
  kind: "fleet";
  configFile: string;
  workspace: string;
  endpoint: string;
  rate: number;
  command: "status" | "plan" | "verify";
  apply: boolean;
  /** `skip`: a DNS port that answers at once without asking anyone. */
  dns: "real" | "skip";
  /** The GitHub fake the record PRs go to (GitHubChangeRequests, as in the action). */
  github: { url: string; owner: string; repo: string; codeowners: string };
  /**
   * Diagnostic: the pacer's margin in ms instead of its default (5 % of the
   * interval), passed to buildAwsAdapters.
   */
  pacerMarginMs?: number;
  /** plan --apply: records-per-pr (docs/design.md#bulk-onboarding); default the stack file's. */
  recordsPerPr?: number;
}

export interface DnsTask {
  kind: "dns";
  nameservers: string[];
  /** JSON file: [{ domain, selector, publicKey }]. */
  selectorsFile: string;
  concurrency: number;
}

export type ChildTask = FleetTask | DnsTask;

export interface FleetChildResult {
  kind: "fleet";
  identities: number;
  regions: number;
  /** The engine call alone (snapshotAll / runPlan). */
  wallMs: number;
  /** Reading the stack file and building the adapters. */
  setupMs: number;
  decisions: Record<string, number>;
  /** getIdentity calls the engine made, per (Region, identity). */
  getIdentity: { pairs: number; min: number; max: number; total: number };
  keyStore: { list: number; create: number; other: number };
  dnsVerify: { calls: number; totalMs: number; ok: number };
  /** Errors that reached the engine from the SES port, by error name. */
  sesErrors: Record<string, number>;
  /** Outcomes that failed (plan) or the whole run's error. */
  failures: string[];
  keysGenerated: number;
  proposals: number;
  /** The daily plan's SES reads by reason (engine/snapshot.ts SesReads). */
  sesReads?: SesReads;
  peakRssMb: number;
  maxRssMb: number;
  peakHeapMb: number;
  /** CPU (user + system) the engine process spent during the run. */
  cpuMs: number;
}

export interface DnsChildResult {
  kind: "dns";
  selectors: number;
  servers: number;
  concurrency: number;
  wallMs: number;
  ok: number;
  notOk: string[];
}

export type ChildResult = FleetChildResult | DnsChildResult;

const MB = 1024 * 1024;

function countingSes(
  inner: SesPort,
  counts: Map<string, number>,
  errors: Record<string, number>,
): SesPort {
  const noteError = (err: unknown) => {
    const name = (err as Error)?.name ?? "Error";
    errors[name] = (errors[name] ?? 0) + 1;
  };
  return {
    async getIdentity(region, domain) {
      const key = `${region}\n${domain}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      try {
        return await inner.getIdentity(region, domain);
      } catch (err) {
        noteError(err);
        throw err;
      }
    },
    async putExternalKey(region, domain, selector, key) {
      try {
        return await inner.putExternalKey(region, domain, selector, key);
      } catch (err) {
        noteError(err);
        throw err;
      }
    },
    async useEasyDkim(region, domain) {
      try {
        return await inner.useEasyDkim(region, domain);
      } catch (err) {
        noteError(err);
        throw err;
      }
    },
  };
}

function countingKeys(inner: KeyStorePort, counts: FleetChildResult["keyStore"]): KeyStorePort {
  return {
    list: (d) => (counts.list++, inner.list(d)),
    listAll: () => (counts.list++, inner.listAll()),
    generate: (d, s, at) => (counts.create++, inner.generate(d, s, at)),
    create: (d, s, p, at, origin) => (counts.create++, inner.create(d, s, p, at, origin)),
    readPrivateKey: (d, s, a) => (counts.other++, inner.readPrivateKey(d, s, a)),
    markState: (d, s, st, at, p) => (counts.other++, inner.markState(d, s, st, at, p)),
    markProof: (d, s, p) => (counts.other++, inner.markProof(d, s, p)),
    markNotified: (d, s, e) => (counts.other++, inner.markNotified(d, s, e)),
    scheduleDeletion: (d, s, days) => (counts.other++, inner.scheduleDeletion(d, s, days)),
  };
}

function countingDns(inner: DnsPort, stats: FleetChildResult["dnsVerify"]): DnsPort {
  return {
    nameservers: (d, c) => inner.nameservers(d, c),
    verifyEasyDkim: (d, t, c) => inner.verifyEasyDkim(d, t, c),
    async verify(domain, selector, key, configured) {
      const t = performance.now();
      const v = await inner.verify(domain, selector, key, configured);
      stats.calls++;
      stats.totalMs += performance.now() - t;
      if (v.ok) stats.ok++;
      return v;
    },
  };
}

/** A DNS port that checks nothing: the "DNS skipped" side of the overlap comparison. */
const skippedDns: DnsPort = {
  nameservers: async (_d, configured) => configured ?? [],
  verify: async (domain, selector): Promise<DnsVerification> => ({
    domain,
    selector,
    ok: false,
    servers: [],
    checkedAt: new Date(),
  }),
  verifyEasyDkim: async (domain, cnames): Promise<DnsVerification> => ({
    domain,
    selector: cnames[0]?.token ?? "",
    ok: false,
    servers: [],
    checkedAt: new Date(),
  }),
};

/**
 * Record PRs go to the GitHub fake through the action's own adapter, with
 * Octokit's pacing (1 content-creating request/s, 3 s between PRs) scaled
 * away: the engine's work is measured, not GitHub's limit (docs/benchmarks.md).
 */
function countingChanges(
  inner: ChangeRequestPort,
  counter: { proposals: number },
): ChangeRequestPort {
  return {
    proposeRecord: async (c) => {
      counter.proposals++;
      return inner.proposeRecord(c);
    },
    proposeRemoval: async (c) => {
      counter.proposals++;
      return inner.proposeRemoval(c);
    },
    ...(inner.proposeRecords
      ? {
          proposeRecords: async (cs, perPr, text) => {
            counter.proposals += cs.length;
            return inner.proposeRecords!(cs, perPr, text);
          },
        }
      : {}),
    findOpen: (domain) => inner.findOpen(domain),
  };
}

function rssSampler() {
  let peakRss = process.memoryUsage().rss;
  let peakHeap = process.memoryUsage().heapUsed;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 20);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const m = process.memoryUsage();
      return {
        peakRssMb: Math.max(peakRss, m.rss) / MB,
        peakHeapMb: Math.max(peakHeap, m.heapUsed) / MB,
        // ru_maxrss over the process lifetime, kB on Linux.
        maxRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
      };
    },
  };
}

export async function runFleetTask(task: FleetTask): Promise<FleetChildResult> {
  const sampler = rssSampler();
  const t0 = performance.now();
  const config = loadConfig(task.configFile);
  const aws = buildAwsAdapters({
    config,
    endpoint: task.endpoint,
    credentials: BENCH_CREDENTIALS,
    requestsPerSecond: task.rate,
    pacerMarginMs: task.pacerMarginMs,
    onSecret: () => {},
  });
  const getCounts = new Map<string, number>();
  const sesErrors: Record<string, number> = {};
  const keyStore = { list: 0, create: 0, other: 0 };
  const dnsVerify = { calls: 0, totalMs: 0, ok: 0 };
  const counter = { proposals: 0 };
  let keysGenerated = 0;
  const total = config.identities.length;
  const ctx: EngineContext = {
    config,
    // A batch PR's body as the action writes it (records-per-pr > 1).
    changeText: { ...plainChangeText, rotationBatch: markdownChangeText.rotationBatch! },
    ses: countingSes(aws.ses, getCounts, sesErrors),
    keys: {
      ...countingKeys(aws.keys, keyStore),
      // KMS makes 2048-bit keys: count what the store created, not secrets seen.
      generate: async (d, s, at) => {
        keyStore.create++;
        const r = await aws.keys.generate(d, s, at);
        if (r.created) keysGenerated++;
        return r;
      },
    },
    // As in the action: metrics are published by an applying plan only.
    ...(task.command === "plan" && task.apply ? { metrics: aws.metrics } : {}),
    dns: countingDns(
      task.dns === "real" ? new DnsVerifier({ timeoutMs: 2000, tries: 3 }) : skippedDns,
      dnsVerify,
    ),
    records: new RepoRecords(task.workspace, config),
    changes: countingChanges(
      new GitHubChangeRequests(
        createOctokit({
          token: "ghs_benchToken0123456789abcdefghijklmnop",
          baseUrl: task.github.url,
          pacing: { retryAfterBaseMs: 5, writeIntervalMs: 0, notificationIntervalMs: 0 },
        }),
        { owner: task.github.owner, repo: task.github.repo, codeowners: task.github.codeowners },
      ),
      counter,
    ),
    clock: systemClock,
    log: {
      info: () => {},
      warn: (m) => process.stderr.write(`bench child: ${m}\n`),
      progress: (label, done, all) => {
        if (all >= 500 && done % Math.ceil(all / 4) === 0)
          process.stderr.write(`bench child: ${label} ${done}/${all}\n`);
      },
    },
    onSecret: () => {},
  };
  const setupMs = performance.now() - t0;
  const failures: string[] = [];
  let snapshots: IdentitySnapshot[] = [];
  let outcomes: PlanOutcome[] = [];
  let sesReads: SesReads | undefined;
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  try {
    if (task.command === "status") snapshots = await snapshotAll(ctx);
    else if (task.command === "verify") ({ snapshots } = await snapshotForVerify(ctx));
    else
      ({ snapshots, outcomes, sesReads } = await runPlan(ctx, {
        apply: task.apply,
        ...(task.recordsPerPr ? { recordsPerPr: task.recordsPerPr } : {}),
      }));
  } catch (err) {
    failures.push(`run: ${(err as Error).name}: ${(err as Error).message}`);
  }
  const wallMs = performance.now() - t1;
  const cpu = process.cpuUsage(cpu0);
  aws.destroy();
  for (const o of outcomes) if (o.error) failures.push(`${o.domain}: ${o.error}`);
  const decisions: Record<string, number> = {};
  for (const s of snapshots) decisions[s.decision.kind] = (decisions[s.decision.kind] ?? 0) + 1;
  const counts = [...getCounts.values()];
  const mem = sampler.stop();
  return {
    kind: "fleet",
    identities: total,
    regions: Math.max(...config.identities.map((i) => i.regions.length)),
    wallMs,
    setupMs,
    decisions,
    getIdentity: {
      pairs: getCounts.size,
      min: counts.length ? Math.min(...counts) : 0,
      max: counts.length ? Math.max(...counts) : 0,
      total: counts.reduce((a, b) => a + b, 0),
    },
    keyStore,
    dnsVerify,
    sesErrors,
    failures: failures.slice(0, 20),
    keysGenerated,
    proposals: counter.proposals,
    ...(sesReads ? { sesReads } : {}),
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...mem,
  };
}

export async function runDnsTask(task: DnsTask): Promise<DnsChildResult> {
  const selectors = JSON.parse(readFileSync(task.selectorsFile, "utf8")) as {
    domain: string;
    selector: string;
    publicKey: string;
  }[];
  const verifier = new DnsVerifier({ timeoutMs: 2000, tries: 3 });
  const t = performance.now();
  const results = await mapLimit(selectors, task.concurrency, (s) =>
    verifier.verify(s.domain, s.selector, s.publicKey, task.nameservers),
  );
  const wallMs = performance.now() - t;
  const bad = results.filter((r) => !r.ok);
  return {
    kind: "dns",
    selectors: selectors.length,
    servers: task.nameservers.length,
    concurrency: task.concurrency,
    wallMs,
    ok: results.length - bad.length,
    notOk: bad
      .slice(0, 5)
      .map(
        (r) => `${r.selector}._domainkey.${r.domain}: ${r.servers.map((s) => s.status).join(",")}`,
      ),
  };
}

async function main() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const task = JSON.parse(process.argv[2] ?? "{}") as ChildTask;
  const result = task.kind === "dns" ? await runDnsTask(task) : await runFleetTask(task);
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

// This file is only ever a child's entry point; index.ts imports its types only.
main().catch((err) => {
  process.stderr.write(`bench child: ${(err as Error).message}\n`);
  process.exit(1);
});
