/**
 * Fleet and DNS sections: run the engine in a child process against the
 * world, repeat, and read both sides of every run — what the engine asked
 * for and saw (from the child) and what reached the emulator (its call log,
 * which also holds the throttles the SDK retried away).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CallRecord } from "../sandbox/aws-emulator";
import type {
  ChildResult,
  ChildTask,
  DnsChildResult,
  DnsTask,
  FleetChildResult,
  FleetTask,
} from "./engine-child";
import { median, progress, round } from "./common";
import { BENCH_CODEOWNERS, BENCH_REPOSITORY, type Fleet, type World } from "./world";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHILD = fileURLToPath(new URL("./engine-child.ts", import.meta.url));
/** The pacer's default spacing on top of 1/rate (adapters/pacer.ts): 5 %. */
export const PACER_MARGIN = 0.05;
const THROTTLE_ERRORS = ["TooManyRequestsException", "ThrottlingException", "Throttling"];

export function runChild<T extends ChildResult>(task: ChildTask): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(task)], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      process.stderr.write(d);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
      if (code !== 0 || !line) {
        reject(
          new Error(
            `engine child (${task.kind}) exited ${code}: ${err.trim().split("\n").pop() ?? "no output"}`,
          ),
        );
        return;
      }
      resolve(JSON.parse(line.slice("BENCH_RESULT ".length)) as T);
    });
  });
}

export interface FleetScenario {
  scenario: string;
  command: "status" | "plan" | "verify";
  apply: boolean;
  dns: "real" | "skip";
  identities: number;
  regions: string[];
  /** Diagnostic only: the pacer's margin in ms (default: the engine's 5 %). */
  pacerMarginMs?: number;
}

export interface FleetFigures extends FleetScenario {
  repeats: number;
  rate: number;
  wallMs: number;
  wallRunsMs: number[];
  /** SES calls needed per Region ÷ rate: the fastest any client could go. */
  floorMs: number;
  ratio: number;
  /** Where the pacer (5 % margin) puts the last call: (calls − 1) × interval. */
  pacerScheduleMs: number;
  ratioToPacerSchedule: number;
  /** wall − pacer schedule: the first call's cold start plus the last identity's tail. */
  overheadMs: number;
  sesCalls: Record<string, number>;
  sesCallsPerIdentity: number;
  getIdentityPerIdentityRegion: { min: number; max: number };
  oneGetPerIdentityRegion: boolean;
  /** 429s the emulator sent (the SDK may have retried them). */
  throttled429: number;
  /** Throttling errors that reached the engine. */
  throttlesSurfaced: number;
  /** Every error that reached the engine, throttling or not. */
  errorsSurfaced: number;
  failures: string[];
  keyStoreCalls: number;
  keyStoreCallsPerIdentity: number;
  cloudWatchCalls: number;
  dnsVerify: { calls: number; medianTotalMs: number };
  decisions: Record<string, number>;
  keysGenerated: number;
  peakRssMb: number;
  maxRssMb: number;
  peakHeapMb: number;
  setupMs: number;
  /** CPU the engine process spent in the run (median): > wall would mean CPU-bound. */
  engineCpuMs: number;
  /** CPU the parent (emulator + DNS servers) spent while the child ran (median; includes child start). */
  worldCpuMs: number;
}

function countBy(calls: CallRecord[], key: (c: CallRecord) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) out[key(c)] = (out[key(c)] ?? 0) + 1;
  return out;
}

export interface FleetRunOptions {
  rate: number;
  repeats: number;
  /** The fleet and its stack file for run `rep`; `once` fleets are closed after their run. */
  prepare: (rep: number) => Promise<{ fleet: Fleet; stack: string; once?: boolean }>;
}

type FleetRun = { child: FleetChildResult; calls: CallRecord[]; worldCpuMs: number };

async function runScenarioOnce(
  world: World,
  scenario: FleetScenario,
  opts: FleetRunOptions,
  rep: number,
): Promise<FleetRun> {
  const { fleet, stack: configFile, once } = await opts.prepare(rep);
  const emulator = fleet.emulator;
  emulator.setSesRateLimit(opts.rate);
  const before = emulator.callCount();
  const task: FleetTask = {
    kind: "fleet",
    configFile,
    workspace: world.workspace,
    endpoint: emulator.url,
    github: { url: world.github.url, ...BENCH_REPOSITORY, codeowners: BENCH_CODEOWNERS },
    rate: opts.rate,
    command: scenario.command,
    apply: scenario.apply,
    dns: scenario.dns,
    ...(scenario.pacerMarginMs !== undefined ? { pacerMarginMs: scenario.pacerMarginMs } : {}),
  };
  const cpu0 = process.cpuUsage();
  const child = await runChild<FleetChildResult>(task);
  const cpu = process.cpuUsage(cpu0);
  const calls = emulator.calls().slice(before);
  if (once) await fleet.close();
  progress(
    `${scenario.scenario} ${scenario.identities} × ${scenario.regions.length} Region(s) run ${rep + 1}/${opts.repeats}: ${round(child.wallMs / 1000, 2)} s`,
  );
  return { child, calls, worldCpuMs: (cpu.user + cpu.system) / 1000 };
}

/**
 * Measure one scenario `repeats` times. `prepare(rep)` returns the stack file
 * for that repeat (a fresh fleet for runs that change state).
 */
export async function measureFleet(
  world: World,
  scenario: FleetScenario,
  opts: FleetRunOptions,
): Promise<FleetFigures> {
  const runs: FleetRun[] = [];
  for (let rep = 0; rep < opts.repeats; rep++)
    runs.push(await runScenarioOnce(world, scenario, opts, rep));
  return summarizeFleet(scenario, opts.rate, runs);
}

/**
 * Two scenarios alternated run by run (a, b, a, b, …), so drifting machine
 * load hits both alike: for comparisons such as DNS verified vs skipped.
 */
export async function measureFleetPair(
  world: World,
  a: FleetScenario,
  b: FleetScenario,
  opts: FleetRunOptions,
): Promise<[FleetFigures, FleetFigures]> {
  const runsA: FleetRun[] = [];
  const runsB: FleetRun[] = [];
  for (let rep = 0; rep < opts.repeats; rep++) {
    runsA.push(await runScenarioOnce(world, a, opts, rep));
    runsB.push(await runScenarioOnce(world, b, opts, rep));
  }
  return [summarizeFleet(a, opts.rate, runsA), summarizeFleet(b, opts.rate, runsB)];
}

export function summarizeFleet(
  scenario: FleetScenario,
  rate: number,
  runs: FleetRun[],
): FleetFigures {
  const n = scenario.identities;
  const regions = scenario.regions.length;
  const walls = runs.map((r) => r.child.wallMs);
  const wallMs = median(walls);
  const intervalMs = 1000 / rate + (scenario.pacerMarginMs ?? (1000 / rate) * PACER_MARGIN);
  // SES calls needed: one GetEmailIdentity per identity per Region (Regions are
  // paced independently); none for the hourly verify over a settled fleet.
  const reads = scenario.command === "verify" ? 0 : n;
  const floorMs = (reads / rate) * 1000;
  const pacerScheduleMs = Math.max(0, reads - 1) * intervalMs;
  const last = runs[runs.length - 1]!;
  const ses = last.calls.filter((c) => c.service === "ses");
  const sesCalls = countBy(ses, (c) => c.operation);
  const throttled = runs.map(
    (r) =>
      r.calls.filter((c) => c.service === "ses" && THROTTLE_ERRORS.includes(c.errorCode ?? ""))
        .length,
  );
  const surfacedThrottles = runs.map((r) =>
    THROTTLE_ERRORS.reduce((a, name) => a + (r.child.sesErrors[name] ?? 0), 0),
  );
  const surfaced = runs.map(
    (r) => Object.values(r.child.sesErrors).reduce((a, b) => a + b, 0) + r.child.failures.length,
  );
  const oneGet = runs.every(
    (r) =>
      r.child.getIdentity.pairs === reads * regions &&
      (reads === 0 || (r.child.getIdentity.min === 1 && r.child.getIdentity.max === 1)) &&
      // and the server saw exactly that many successful reads: no hidden repeats
      r.calls.filter((c) => c.operation === "GetEmailIdentity" && c.status === 200).length ===
        reads * regions,
  );
  const keyStoreCalls = last.calls.filter((c) => c.service === "secretsmanager").length;
  return {
    ...scenario,
    repeats: runs.length,
    rate,
    wallMs: round(wallMs, 1),
    wallRunsMs: walls.map((w) => round(w, 1)),
    floorMs: round(floorMs, 1),
    ratio: floorMs ? round(wallMs / floorMs, 3) : NaN,
    pacerScheduleMs: round(pacerScheduleMs, 1),
    ratioToPacerSchedule: pacerScheduleMs ? round(wallMs / pacerScheduleMs, 3) : NaN,
    overheadMs: round(wallMs - pacerScheduleMs, 1),
    sesCalls,
    sesCallsPerIdentity: round(ses.length / n, 3),
    getIdentityPerIdentityRegion: {
      min: Math.min(...runs.map((r) => r.child.getIdentity.min)),
      max: Math.max(...runs.map((r) => r.child.getIdentity.max)),
    },
    oneGetPerIdentityRegion: oneGet,
    throttled429: throttled.reduce((a, b) => a + b, 0),
    throttlesSurfaced: surfacedThrottles.reduce((a, b) => a + b, 0),
    errorsSurfaced: surfaced.reduce((a, b) => a + b, 0),
    failures: runs.flatMap((r) => r.child.failures).slice(0, 5),
    keyStoreCalls,
    keyStoreCallsPerIdentity: round(keyStoreCalls / n, 3),
    cloudWatchCalls: last.calls.filter((c) => c.service === "monitoring").length,
    dnsVerify: {
      calls: last.child.dnsVerify.calls,
      medianTotalMs: round(median(runs.map((r) => r.child.dnsVerify.totalMs)), 1),
    },
    decisions: last.child.decisions,
    keysGenerated: last.child.keysGenerated,
    peakRssMb: round(Math.max(...runs.map((r) => r.child.peakRssMb)), 1),
    maxRssMb: round(Math.max(...runs.map((r) => r.child.maxRssMb)), 1),
    peakHeapMb: round(Math.max(...runs.map((r) => r.child.peakHeapMb)), 1),
    setupMs: round(median(runs.map((r) => r.child.setupMs)), 1),
    engineCpuMs: round(median(runs.map((r) => r.child.cpuMs)), 0),
    worldCpuMs: round(median(runs.map((r) => r.worldCpuMs)), 0),
  };
}

export interface DnsFigures {
  selectors: number;
  servers: number;
  concurrency: number;
  repeats: number;
  wallMs: number;
  wallRunsMs: number[];
  queries: number;
  udpQueries: number;
  tcpQueries: number;
  queriesPerSecond: number;
  verificationsPerSecond: number;
  ok: number;
  notOk: string[];
}

/** DNS verification of every candidate selector of `fleet` on both loopback servers. */
export async function measureDns(
  world: World,
  fleet: Fleet,
  opts: { selectors: number; concurrency: number; repeats: number },
): Promise<DnsFigures> {
  const list = fleet.identities
    .filter((i) => i.candidate)
    .slice(0, opts.selectors)
    .map((i) => ({ domain: i.domain, ...i.candidate! }));
  const file = join(world.workspace, `bench-dns-selectors-${list.length}.json`);
  writeFileSync(file, JSON.stringify(list));
  const task: DnsTask = {
    kind: "dns",
    nameservers: world.nameservers,
    selectorsFile: file,
    concurrency: opts.concurrency,
  };
  const runs: { r: DnsChildResult; udp: number; tcp: number }[] = [];
  for (let rep = 0; rep < opts.repeats; rep++) {
    const before = world.ns.map((s) => s.queryLog.length);
    const r = await runChild<DnsChildResult>(task);
    const logs = world.ns.flatMap((s, i) => s.queryLog.slice(before[i]));
    runs.push({
      r,
      udp: logs.filter((q) => q.transport === "udp").length,
      tcp: logs.filter((q) => q.transport === "tcp").length,
    });
    progress(
      `dns ${list.length} selectors × ${world.nameservers.length} servers run ${rep + 1}/${opts.repeats}: ${round(r.wallMs, 0)} ms`,
    );
  }
  const wallMs = median(runs.map((x) => x.r.wallMs));
  const last = runs[runs.length - 1]!;
  const queries = last.udp + last.tcp;
  return {
    selectors: list.length,
    servers: world.nameservers.length,
    concurrency: opts.concurrency,
    repeats: runs.length,
    wallMs: round(wallMs, 1),
    wallRunsMs: runs.map((x) => round(x.r.wallMs, 1)),
    queries,
    udpQueries: last.udp,
    tcpQueries: last.tcp,
    queriesPerSecond: round(queries / (wallMs / 1000), 0),
    verificationsPerSecond: round(list.length / (wallMs / 1000), 0),
    ok: last.r.ok,
    notOk: last.r.notOk,
  };
}
