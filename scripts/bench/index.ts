/**
 * `npm run bench`: what a run costs, measured side by side in one process
 * tree on this machine, medians over repeated runs.
 *
 *   npm run bench                 readable tables (progress on stderr at a terminal)
 *   npm run bench -- --json       one JSON document on stdout
 *   npm run bench -- --smoke      tiny sizes, for CI (well under a minute)
 *
 * Sections (docs/benchmarks.md explains each figure and records a run):
 *   fleet     status and plan over 10/100/1,000 identities against the AWS
 *             emulator at a per-Region SES limit (default 50 req/s, --rate 1
 *             is the real one), wall time vs the floor (calls ÷ rate),
 *             throttles, calls per identity, peak RSS; DNS overlap; 2 Regions
 *   dns       1,000 selectors × 2 authoritative loopback servers
 *   keys      RSA-2048: engine vs `openssl genrsa -traditional 2048`
 *   startup   the action bundle running `status` vs `node -e 0`
 *   rotation  the sandbox, pipeline vs naive: unsigned minutes per rotation
 *   sandbox   the default sandbox run as a user runs it, timed (median of --sandbox-repeats)
 */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { HOME_REGION, SECOND_REGION, startWorld, type Fleet, type World } from "./world";
import {
  measureDns,
  measureFleet,
  measureFleetPair,
  type DnsFigures,
  type FleetFigures,
} from "./fleet";
import { measureKeys, type KeyFigures } from "./keys";
import { measureCustody, type CustodyFigures } from "./custody";
import { measureStartup, STARTUP_GOAL_MS, type StartupFigures } from "./startup";
import {
  measureSandboxTime,
  SANDBOX_GOAL_SECONDS,
  SANDBOX_MEMORY_GOAL_MB,
  type SandboxTimeFigures,
} from "./sandbox-time";
import { measureRotation, type RotationFigures } from "./rotation";
import { measureScale, renderScale, scaleGoals, type ScaleFigures } from "./scale";
import {
  clearProgress,
  configureProgress,
  machineInfo,
  progress,
  round,
  table,
  type Goal,
  type MachineInfo,
} from "./common";

export const SECTIONS = [
  "fleet",
  "scale",
  "dns",
  "keys",
  "custody",
  "startup",
  "rotation",
  "sandbox",
] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  json: boolean;
  smoke: boolean;
  rate: number;
  sizes: number[];
  repeats: number;
  applySizes: number[];
  /** Undefined: 3, and 1 for sizes ≥ 1,000 (each such run generates 1,000 RSA keys). */
  applyRepeats?: number;
  twoRegionSize: number;
  overlapSize: number;
  /** Identities for the diagnostic status run with the pacer margin at 0 (0: skip). */
  marginCheckSize: number;
  keys: number;
  keyConcurrency: number;
  dnsSelectors: number;
  dnsConcurrency: number;
  startupRepeats: number;
  startupBaseline?: string;
  sandboxRepeats: number;
  years: number;
  /** Fleet sizes of the scale section (plan and verify with 0 and `scaleDue` due). */
  scaleSizes: number[];
  scaleDue: number;
  /** Identities onboarded at once, for the paced onboarding figures. */
  onboardSizes: number[];
  only: Section[];
  out?: string;
}

export interface OverlapFigures {
  identities: number;
  withDnsMs: number;
  withoutDnsMs: number;
  addedMs: number;
  addedPercent: number;
  dnsVerifications: number;
  /** Sum of the individual verification times, all hidden behind the paced SES calls. */
  dnsTimeSummedMs: number;
}

export interface BenchReport {
  schema: "ses-dkim-rotation-bench/1";
  startedAt: string;
  durationSeconds: number;
  smoke: boolean;
  machine: MachineInfo;
  options: BenchOptions;
  fleet?: {
    rate: number;
    pacerMargin: string;
    runs: FleetFigures[];
    growth: { identities: number; wallMs: number; msPerIdentity: number; maxRssMb: number }[];
    overlap?: OverlapFigures;
  };
  scale?: ScaleFigures;
  dns?: DnsFigures;
  keys?: KeyFigures;
  custody?: CustodyFigures;
  startup?: StartupFigures;
  rotation?: RotationFigures;
  sandbox?: SandboxTimeFigures;
  goals: Goal[];
}

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};
const nonNegativeInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("must be 0 or more");
  return n;
};
const rateArg = (v: string) => {
  const n = Number(v);
  if (!(n >= 1 && n <= 1000)) throw new InvalidArgumentError("must be 1–1000 requests/s");
  return n;
};
const sizeList = (v: string) => {
  const list = v.split(",").map((s) => positiveInt(s.trim()));
  return [...new Set(list)].sort((a, b) => a - b);
};
const sectionList = (v: string): Section[] => {
  const list = v.split(",").map((s) => s.trim());
  for (const s of list)
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new InvalidArgumentError(`unknown section ${s} (one of ${SECTIONS.join(", ")})`);
  return list as Section[];
};

export function parseOptions(argv: string[]): BenchOptions {
  const program = new Command("bench")
    .description(
      "Benchmarks: fleet scale at SES's per-Region limit, DNS, keys, start-up, rotation window",
    )
    .option("--json", "print one JSON document on stdout", false)
    .option("--smoke", "tiny sizes for CI (50 identities, 2 repeats, 5 keys)", false)
    .option(
      "--rate <n>",
      "SES requests/s per Region (emulator limit and engine pacer)",
      rateArg,
      50,
    )
    .option("--sizes <list>", "fleet sizes for status and plan", sizeList)
    .option("--repeats <n>", "repeats per fleet/DNS/start-up measurement (median)", positiveInt)
    .option(
      "--apply-sizes <list>",
      "fleet sizes for plan --apply (each run generates one key per identity)",
      sizeList,
    )
    .option(
      "--apply-repeats <n>",
      "repeats for plan --apply (default 3; 1 at ≥1,000 identities)",
      positiveInt,
    )
    .option("--two-region <n>", "identities for the 2-Region variant (0: skip)", nonNegativeInt)
    .option("--overlap <n>", "identities for the DNS-overlap comparison (0: skip)", nonNegativeInt)
    .option(
      "--margin-check <n>",
      "identities for a diagnostic status run with the pacer margin at 0 (0: skip)",
      nonNegativeInt,
    )
    .option("--keys <n>", "RSA-2048 keys per generator", positiveInt)
    .option(
      "--key-concurrency <n>",
      "concurrent async generations for the throughput figure",
      positiveInt,
      4,
    )
    .option("--dns-selectors <n>", "selectors to verify in the DNS section", positiveInt)
    .option("--dns-concurrency <n>", "verifications in flight", positiveInt, 64)
    .option("--startup-repeats <n>", "repeats of the start-up comparison", positiveInt)
    .option(
      "--startup-baseline <commit>",
      "also time that commit's committed dist/, alternated with the current one",
    )
    .option("--sandbox-repeats <n>", "runs of the timed default sandbox (median)", positiveInt)
    .option("--years <n>", "simulated years for the rotation section", (v) => {
      const n = Number(v);
      if (!(n > 0 && n <= 5)) throw new InvalidArgumentError("must be 0–5 years");
      return n;
    })
    .option("--scale-sizes <list>", "fleet sizes of the scale section", sizeList)
    .option("--scale-due <n>", "identities due in the scale section's fleets", nonNegativeInt, 3)
    .option("--onboard-sizes <list>", "identities onboarded at once (paced figures)", sizeList)
    .option("--only <list>", `sections to run (${SECTIONS.join(",")})`, sectionList)
    .option("--out <file>", "also write the JSON document to this file")
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: () => {} })
    .parse(argv, { from: "user" });
  const o = program.opts<{
    json: boolean;
    smoke: boolean;
    rate: number;
    sizes?: number[];
    repeats?: number;
    applySizes?: number[];
    applyRepeats?: number;
    twoRegion?: number;
    overlap?: number;
    marginCheck?: number;
    keys?: number;
    keyConcurrency: number;
    dnsSelectors?: number;
    dnsConcurrency: number;
    startupRepeats?: number;
    startupBaseline?: string;
    sandboxRepeats?: number;
    years?: number;
    scaleSizes?: number[];
    scaleDue: number;
    onboardSizes?: number[];
    only?: Section[];
    out?: string;
  }>();
  const smoke = o.smoke;
  const sizes = o.sizes ?? (smoke ? [50] : [10, 100, 1000]);
  const largest = sizes[sizes.length - 1]!;
  const repeats = o.repeats ?? (smoke ? 2 : 5);
  return {
    json: o.json,
    smoke,
    rate: o.rate,
    sizes,
    repeats,
    applySizes: o.applySizes ?? (smoke ? [10] : sizes),
    applyRepeats: o.applyRepeats ?? (smoke ? 1 : undefined),
    // Smoke keeps CI under a minute: no 2-Region or margin diagnostic there.
    twoRegionSize: o.twoRegion ?? (smoke ? 0 : largest),
    overlapSize: o.overlap ?? largest,
    marginCheckSize: o.marginCheck ?? (smoke ? 0 : largest),
    keys: o.keys ?? (smoke ? 5 : 20),
    keyConcurrency: o.keyConcurrency,
    dnsSelectors: o.dnsSelectors ?? (smoke ? 100 : 1000),
    dnsConcurrency: o.dnsConcurrency,
    startupRepeats: o.startupRepeats ?? repeats,
    startupBaseline: o.startupBaseline,
    sandboxRepeats: o.sandboxRepeats ?? (smoke ? 1 : 3),
    // 0.37 years (135 days) still holds one rotation per domain (day ~114, live by ~131).
    years: o.years ?? (smoke ? 0.37 : 2),
    scaleSizes: o.scaleSizes ?? (smoke ? [50] : [1000, 10000]),
    scaleDue: o.scaleDue,
    onboardSizes: o.onboardSizes ?? (smoke ? [10] : [100, 1000]),
    only: o.only ?? [...SECTIONS],
    ...(o.out ? { out: o.out } : {}),
  };
}

function applyRepeatsFor(opts: BenchOptions, size: number): number {
  return opts.applyRepeats ?? (size >= 1000 ? 1 : 3);
}

async function fleetSection(world: World, opts: BenchOptions, fleets: Fleets) {
  const runs: FleetFigures[] = [];
  const { rate, repeats } = opts;
  const once = (fleet: Fleet, stack: string) => async () => ({ fleet, stack });
  /** A read-only run over a prebuilt fleet: the fleet's state does not change between repeats. */
  const measureStatic = async (
    kind: "idle" | "due",
    scenario: string,
    command: "status" | "plan" | "verify",
    n: number,
    extra: { regions?: string[]; pacerMarginMs?: number; repeats?: number } = {},
  ) => {
    const fleet = await fleets.get(kind, n);
    const regions = extra.regions ?? [HOME_REGION];
    return measureFleet(
      world,
      {
        scenario,
        command,
        apply: false,
        dns: "real",
        identities: n,
        regions,
        ...(extra.pacerMarginMs !== undefined ? { pacerMarginMs: extra.pacerMarginMs } : {}),
      },
      {
        rate,
        repeats: extra.repeats ?? repeats,
        prepare: once(fleet, world.stackFile(fleet, n, regions, rate)),
      },
    );
  };
  for (const n of opts.sizes) runs.push(await measureStatic("idle", "status", "status", n));
  for (const n of opts.sizes) runs.push(await measureStatic("due", "plan (dry run)", "plan", n));
  // The hourly verify over a settled fleet: the key store and records, SES for none.
  for (const n of opts.sizes)
    runs.push(await measureStatic("idle", "verify (hourly)", "verify", n));
  if (opts.twoRegionSize)
    runs.push(
      await measureStatic("idle", "status", "status", opts.twoRegionSize, {
        regions: [HOME_REGION, SECOND_REGION],
      }),
    );
  let overlap: OverlapFigures | undefined;
  if (opts.overlapSize) {
    const n = opts.overlapSize;
    const pub = await fleets.get("publish", n);
    const file = world.stackFile(pub, n, [HOME_REGION], rate);
    const base = {
      command: "status" as const,
      apply: false,
      identities: n,
      regions: [HOME_REGION],
    };
    const [withDns, withoutDns] = await measureFleetPair(
      world,
      { ...base, scenario: "status, DNS verified", dns: "real" },
      { ...base, scenario: "status, DNS skipped", dns: "skip" },
      { rate, repeats, prepare: once(pub, file) },
    );
    runs.push(withDns, withoutDns);
    overlap = {
      identities: n,
      withDnsMs: withDns.wallMs,
      withoutDnsMs: withoutDns.wallMs,
      addedMs: round(withDns.wallMs - withoutDns.wallMs, 1),
      addedPercent: round(((withDns.wallMs - withoutDns.wallMs) / withoutDns.wallMs) * 100, 2),
      dnsVerifications: withDns.dnsVerify.calls,
      dnsTimeSummedMs: withDns.dnsVerify.medianTotalMs,
    };
  }
  if (opts.marginCheckSize)
    runs.push(
      await measureStatic(
        "idle",
        "status, pacer margin 0 (diagnostic)",
        "status",
        opts.marginCheckSize,
        { pacerMarginMs: 0, repeats: Math.min(repeats, 3) },
      ),
    );
  // Last: every plan --apply run builds a fresh fleet, which grows the emulator's state.
  for (const n of opts.applySizes) {
    runs.push(
      await measureFleet(
        world,
        {
          scenario: "plan --apply",
          command: "plan",
          apply: true,
          dns: "real",
          identities: n,
          regions: [HOME_REGION],
        },
        {
          rate,
          repeats: applyRepeatsFor(opts, n),
          // Every run needs identities that are all due: a fresh fleet each time.
          prepare: async (rep) => {
            const fresh = await world.createFleet(`f${n}r${rep}x`, "due", n, [HOME_REGION]);
            return {
              fleet: fresh,
              stack: world.stackFile(fresh, n, [HOME_REGION], rate),
              once: true,
            };
          },
        },
      ),
    );
  }
  const growth = runs
    .filter((r) => r.scenario === "status" && r.regions.length === 1)
    .map((r) => ({
      identities: r.identities,
      wallMs: r.wallMs,
      msPerIdentity: round(r.wallMs / r.identities, 2),
      maxRssMb: r.maxRssMb,
    }));
  return { rate, pacerMargin: "5 % (adapters/pacer.ts default)", runs, growth, overlap };
}

/** Fleets are built once at their largest needed size; smaller runs use a prefix. */
class Fleets {
  private readonly made = new Map<string, Fleet>();
  constructor(
    private readonly world: World,
    private readonly need: Record<"idle" | "due" | "publish", number>,
  ) {}
  async get(kind: "idle" | "due" | "publish", atLeast: number): Promise<Fleet> {
    let fleet = this.made.get(kind);
    if (!fleet || fleet.identities.length < atLeast) {
      const count = Math.max(atLeast, this.need[kind]);
      progress(`building ${kind} fleet: ${count} identities`);
      const regions = kind === "idle" ? [HOME_REGION, SECOND_REGION] : [HOME_REGION];
      fleet = await this.world.createFleet(`${kind}${this.made.size}x`, kind, count, regions);
      this.made.set(kind, fleet);
    }
    return fleet;
  }
}

function evaluateGoals(r: BenchReport): Goal[] {
  const goals: Goal[] = [...scaleGoals(r.scale)];
  if (r.fleet) {
    // The goal is about the engine as shipped: the margin-0 run is a diagnostic.
    const shipped = r.fleet.runs.filter((x) => x.pacerMarginMs === undefined);
    for (const f of shipped.filter((x) => x.command === "verify")) {
      // No SES read over a settled fleet: the rate limit does not apply, so
      // the measured wall is the real one; dkim-activate.yml's verify job has
      // timeout-minutes: 15.
      goals.push({
        section: "fleet",
        name: `${f.scenario}, ${f.identities} × ${f.regions.length} Region(s): wall, SES reads`,
        goal: "< 15 min, 0 reads",
        value: `${round(f.wallMs / 1000, 2)} s, ${f.sesCallsPerIdentity} reads/identity`,
        met: f.wallMs < 15 * 60_000 && f.sesCallsPerIdentity === 0,
      });
    }
    for (const f of shipped.filter((x) => !x.apply && x.dns === "real" && x.command !== "verify")) {
      goals.push({
        section: "fleet",
        name: `${f.scenario}, ${f.identities} × ${f.regions.length} Region(s): wall ÷ floor`,
        goal: "≤ 1.05",
        value: `${f.ratio} (${round(f.wallMs / 1000, 2)} s vs ${round(f.floorMs / 1000, 2)} s)`,
        met: f.ratio <= 1.05,
      });
    }
    const all = r.fleet.runs;
    const surfaced = all.reduce((a, f) => a + f.throttlesSurfaced, 0);
    goals.push({
      section: "fleet",
      name: "throttling errors surfaced to the engine (all runs)",
      goal: "0",
      value: `${surfaced} (server-side 429s: ${all.reduce((a, f) => a + f.throttled429, 0)})`,
      met: surfaced === 0,
      invariant: true,
    });
    goals.push({
      section: "fleet",
      name: "one GetEmailIdentity per identity per Region per run (all runs)",
      goal: "exactly 1",
      value: all.every((f) => f.oneGetPerIdentityRegion)
        ? "1 (asserted)"
        : `min ${Math.min(...all.map((f) => f.getIdentityPerIdentityRegion.min))}, max ${Math.max(...all.map((f) => f.getIdentityPerIdentityRegion.max))}`,
      met: all.every((f) => f.oneGetPerIdentityRegion),
      invariant: true,
    });
    const rss = Math.max(...all.map((f) => f.maxRssMb));
    goals.push({
      section: "fleet",
      name: "peak RSS of the engine process (max over runs)",
      goal: "≤ 200 MB",
      value: `${rss} MB`,
      met: rss <= 200,
    });
    if (r.fleet.overlap) {
      const o = r.fleet.overlap;
      goals.push({
        section: "fleet",
        name: `DNS checks add to fleet wall time (${o.identities} identities)`,
        goal: "≈ 0 (≤ 1 %)",
        value: `${o.addedMs} ms (${o.addedPercent} %)`,
        met: o.addedPercent <= 1,
      });
    }
  }
  if (r.dns) {
    goals.push({
      section: "dns",
      name: `${r.dns.selectors} selectors × ${r.dns.servers} servers verified`,
      goal: "all ok",
      value: `${r.dns.ok}/${r.dns.selectors} ok, ${r.dns.queriesPerSecond} queries/s`,
      met: r.dns.ok === r.dns.selectors,
      invariant: true,
    });
  }
  if (r.keys) {
    goals.push({
      section: "keys",
      name: "RSA-2048 generation, ours ÷ openssl (medians)",
      goal: "≤ 1.0",
      value: `${r.keys.ratio} (${r.keys.oursMedianMs} ms vs ${r.keys.opensslMedianMs} ms)`,
      met: r.keys.ratio <= 1.0,
    });
  }
  if (r.startup) {
    goals.push({
      section: "startup",
      name: "action status (1 identity) over node -e 0",
      goal: `≤ ${STARTUP_GOAL_MS} ms`,
      value: `+${r.startup.addedMs} ms (× ${r.startup.ratio})`,
      met: r.startup.addedMs <= STARTUP_GOAL_MS,
    });
    goals.push({
      section: "startup",
      name: "bundle size (dist/*.js, every chunk)",
      goal: "≤ 2 MB",
      value: `${r.startup.bundleMB} MB`,
      met: r.startup.bundleBytes <= 2e6,
    });
  }
  if (r.sandbox) {
    const sb = r.sandbox;
    goals.push({
      section: "sandbox",
      name: `default sandbox (${sb.years} years), median of ${sb.repeats} (before: ${sb.beforeWallSeconds} s)`,
      goal: `≤ ${SANDBOX_GOAL_SECONDS} s`,
      value: `${sb.medianWallSeconds} s${sb.medianCpuSeconds === undefined ? "" : ` (CPU ${sb.medianCpuSeconds} s)`}`,
      met: sb.medianWallSeconds <= SANDBOX_GOAL_SECONDS,
    });
    if (sb.maxRssMB !== undefined)
      goals.push({
        section: "sandbox",
        name: "default sandbox, peak memory",
        goal: `< ${SANDBOX_MEMORY_GOAL_MB} MB`,
        value: `${sb.maxRssMB} MB`,
        met: sb.maxRssMB < SANDBOX_MEMORY_GOAL_MB,
      });
  }
  if (r.rotation) {
    const p = r.rotation.pipeline;
    goals.push({
      section: "rotation",
      name: "pipeline: failed signatures, unsigned mail outside SES's pending check",
      goal: "0, 0",
      value: `${p.failed}, ${p.unsignedOutsidePending}`,
      met: p.failed === 0 && p.unsignedOutsidePending === 0,
      invariant: true,
    });
    for (const pub of r.rotation.publishers) {
      goals.push({
        section: "rotation",
        name: `publisher ${pub.publisher}: failed signatures, verdict`,
        goal: "0, PASS",
        value: `${pub.failed}, ${pub.ok ? "PASS" : "FAIL"}`,
        met: pub.failed === 0 && pub.ok,
        invariant: true,
      });
      if (pub.publisher !== "manual")
        goals.push({
          section: "rotation",
          name: `publisher ${pub.publisher}: merge → published (median)`,
          goal: "≤ 120 min (manual: dnsLeadDays)",
          value: `${pub.mergeToPublishedMedianMinutes ?? "none"} min`,
          met: (pub.mergeToPublishedMedianMinutes ?? Infinity) <= 120,
        });
    }
  }
  return goals;
}

const s = (ms: number) => round(ms / 1000, 2);

export function renderTables(r: BenchReport): string {
  const out: string[] = [];
  const scaleText = r.scale ? renderScale(r.scale) : undefined;
  const m = r.machine;
  out.push(
    `ses-dkim-rotation benchmarks — ${r.startedAt}${r.smoke ? " (smoke)" : ""}`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}, ${m.platform}, load ${m.loadAverage.join(" ")}`,
    `duration: ${r.durationSeconds} s`,
    "",
  );
  if (r.fleet) {
    out.push(
      `FLEET — SES limit ${r.fleet.rate} req/s per Region (emulator) = engine pacer rate; pacer margin ${r.fleet.pacerMargin}; medians; overhead = wall − pacer schedule ((calls − 1) × interval)`,
      table(
        [
          "scenario",
          "ids",
          "Regions",
          "runs",
          "wall s",
          "floor s",
          "wall/floor",
          "overhead ms",
          "SES/id",
          "1 Get/id/Region",
          "429s",
          "surfaced",
          "keystore/id",
          "keys",
          "engine CPU s",
          "world CPU s",
          "max RSS MB",
          "decisions",
        ],
        r.fleet.runs.map((f) => [
          f.scenario,
          f.identities,
          f.regions.length,
          f.repeats,
          s(f.wallMs),
          s(f.floorMs),
          f.ratio,
          f.overheadMs,
          f.sesCallsPerIdentity,
          f.oneGetPerIdentityRegion ? "yes" : "NO",
          f.throttled429,
          f.errorsSurfaced,
          f.keyStoreCallsPerIdentity,
          f.keysGenerated,
          s(f.engineCpuMs),
          s(f.worldCpuMs),
          f.maxRssMb,
          Object.entries(f.decisions)
            .map(([k, v]) => `${k} ${v}`)
            .join(", "),
        ]),
      ),
      "",
      "growth (status, 1 Region):",
      table(
        ["identities", "wall s", "ms/identity", "max RSS MB"],
        r.fleet.growth.map((g) => [g.identities, s(g.wallMs), g.msPerIdentity, g.maxRssMb]),
      ),
      "",
    );
    if (r.fleet.overlap) {
      const o = r.fleet.overlap;
      out.push(
        `DNS overlap (${o.identities} identities awaiting publication): with DNS ${s(o.withDnsMs)} s, DNS skipped ${s(o.withoutDnsMs)} s, added ${o.addedMs} ms (${o.addedPercent} %); ${o.dnsVerifications} verifications summing ${s(o.dnsTimeSummedMs)} s ran under the paced SES calls`,
        "",
      );
    }
  }
  if (r.dns) {
    const d = r.dns;
    out.push(
      "DNS — DnsVerifier.verify against 2 authoritative loopback servers",
      table(
        [
          "selectors",
          "servers",
          "concurrency",
          "runs",
          "wall ms",
          "queries",
          "udp",
          "tcp",
          "queries/s",
          "verifications/s",
          "ok",
        ],
        [
          [
            d.selectors,
            d.servers,
            d.concurrency,
            d.repeats,
            d.wallMs,
            d.queries,
            d.udpQueries,
            d.tcpQueries,
            d.queriesPerSecond,
            d.verificationsPerSecond,
            `${d.ok}/${d.selectors}`,
          ],
        ],
      ),
      "",
    );
  }
  if (r.keys) {
    const k = r.keys;
    out.push(
      `KEYS — RSA-2048, ${k.keys} keys each, alternated (${k.openssl})`,
      table(
        ["generator", "median ms", "p25 ms", "p75 ms"],
        [
          ["engine generateDkimKeyPair (async)", k.oursMedianMs, k.oursP25Ms, k.oursP75Ms],
          ["openssl genrsa -traditional 2048", k.opensslMedianMs, k.opensslP25Ms, k.opensslP75Ms],
        ],
      ),
      `ratio ours/openssl: ${k.ratio}`,
      `concurrent: ${k.concurrent.keys} keys, ${k.concurrent.concurrency} in flight (libuv pool ${k.concurrent.libuvThreadpool}, ${k.concurrent.cores} cores): ${k.concurrent.keysPerSecond} keys/s vs ${k.concurrent.sequentialKeysPerSecond} sequential (× ${k.concurrent.speedup})`,
      "",
    );
  }
  if (r.custody) {
    const c = r.custody;
    out.push(
      `CUSTODY — KMS through the emulator, ${c.keys} keys (the emulated KMS makes its RSA pairs in-process)`,
      table(
        ["step", "median ms", "p95 ms"],
        [
          ["planner generate (KMS pair + CreateSecret)", c.generateMedianMs, c.generateP95Ms],
          ["activator decrypt (KMS Decrypt + PKCS#8→PKCS#1)", c.decryptMedianMs, c.decryptP95Ms],
          [
            "activator readPrivateKey (GetSecretValue + decrypt)",
            c.readPrivateKeyMedianMs,
            c.readPrivateKeyP95Ms,
          ],
        ],
      ),
      "",
    );
  }
  if (r.startup) {
    const st = r.startup;
    out.push(
      "START-UP — medians",
      table(
        ["command", "median ms", "runs ms"],
        [
          [st.command, st.actionMedianMs, st.actionRunsMs.join(" ")],
          ...(st.baseline
            ? [
                [
                  `the same, ${st.baseline.commit}'s dist/`,
                  st.baseline.medianMs,
                  st.baseline.runsMs.join(" "),
                ],
              ]
            : []),
          ["node -e 0", st.nodeMedianMs, st.nodeRunsMs.join(" ")],
        ],
      ),
      `added ${st.addedMs} ms (× ${st.ratio}); bundle ${st.bundleMB} MB (${st.bundleBytes} bytes in ${st.bundleFiles} files, every chunk); status loads ${st.loadedMB} MB (the entry and the chunks it imports statically); decision: ${st.decision}`,
      ...(st.cpu
        ? [
            `CPU (user + sys, GNU time): status ${st.cpu.actionMedianMs} ms, node -e 0 ${st.cpu.nodeMedianMs} ms, added ${st.cpu.addedMs} ms`,
          ]
        : []),
      ...(st.baseline
        ? [
            `baseline ${st.baseline.commit}, alternated with it: added ${st.baseline.addedMs} ms${st.baseline.addedCpuMs === undefined ? "" : ` (CPU ${st.baseline.addedCpuMs} ms)`}; bundle ${st.baseline.bundleBytes} bytes, status loads ${st.baseline.loadedBytes} bytes`,
          ]
        : []),
      "",
    );
  }
  if (r.sandbox) {
    const sb = r.sandbox;
    out.push(
      `SANDBOX — ${sb.command}, ${sb.repeats} run(s) in a child process`,
      table(
        ["run", "wall s", "CPU s (user+sys)", "peak MB", "verdict"],
        sb.runs.map((x, i) => [
          i + 1,
          x.wallSeconds,
          x.cpuSeconds ?? "",
          x.maxRssMB ?? "",
          x.verdict.slice(0, 60),
        ]),
      ),
      `median ${sb.medianWallSeconds} s wall${sb.medianCpuSeconds === undefined ? "" : `, ${sb.medianCpuSeconds} s CPU`}; before issue 27: ${sb.beforeWallSeconds} s on a quiet machine`,
      "",
    );
  }
  if (r.rotation) {
    const rot = r.rotation;
    out.push(`ROTATION WINDOW — sandbox, ${rot.pipeline.years} simulated years; ${rot.schedule}`);
    out.push(
      table(
        [
          "mode",
          "messages",
          "verified",
          "unsigned",
          "failed",
          "unsigned outside pending",
          "pending min total",
          "sim wall s",
        ],
        [rot.pipeline, rot.naive].map((x) => [
          x.mode,
          x.messages,
          x.verified,
          x.unsigned,
          x.failed,
          x.unsignedOutsidePending,
          x.pendingMinutesTotal,
          x.wallSeconds,
        ]),
      ),
      "",
      table(
        [
          "mode",
          "domain",
          "to",
          "published",
          "ready",
          "activated",
          "pending min",
          "publish→ready min",
          "ready→active min",
          "publish→active min",
        ],
        [rot.pipeline, rot.naive].flatMap((x) =>
          x.rotations.map((row) => [
            x.mode,
            row.domain,
            row.to,
            row.publishedAt?.slice(0, 16),
            row.readyAt?.slice(0, 16),
            row.activatedAt?.slice(0, 16),
            row.pendingMinutes,
            row.publishToReadyMinutes,
            row.readyToActivatedMinutes,
            row.publishToActivatedMinutes,
          ]),
        ),
      ),
      "",
      `PUBLISHERS — merge of the record PR → served by every authoritative server → SES signing (sandbox minutes, medians)`,
      table(
        [
          "publisher",
          "rotations",
          "merge→published min",
          "merge→active min",
          "failed",
          "verdict",
          "sim wall s",
        ],
        rot.publishers.map((p) => [
          p.publisher,
          p.rotations,
          p.mergeToPublishedMedianMinutes,
          p.mergeToActiveMedianMinutes,
          p.failed,
          p.ok ? "PASS" : "FAIL",
          p.wallSeconds,
        ]),
      ),
      "",
    );
  }
  if (scaleText) out.push(scaleText);
  out.push(
    "GOALS",
    table(
      ["section", "figure", "goal", "value", "met"],
      r.goals.map((g) => [g.section, g.name, g.goal, g.value, g.met ? "yes" : "NO"]),
    ),
  );
  return `${out.join("\n")}\n`;
}

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const started = new Date();
  const t0 = performance.now();
  const machine = machineInfo();
  const report: BenchReport = {
    schema: "ses-dkim-rotation-bench/1",
    startedAt: started.toISOString(),
    durationSeconds: 0,
    smoke: opts.smoke,
    machine,
    options: opts,
    goals: [],
  };
  const want = (s: Section) => opts.only.includes(s);
  const largest = opts.sizes[opts.sizes.length - 1]!;
  if (want("scale")) {
    // A world of its own: one emulator per fleet, closed after its runs.
    const world = await startWorld();
    try {
      report.scale = await measureScale(world, {
        sizes: opts.scaleSizes,
        due: opts.scaleDue,
        rate: opts.rate,
        onboardSizes: opts.onboardSizes,
      });
    } finally {
      await world.close();
    }
  }
  if (want("fleet") || want("dns") || want("startup")) {
    const world = await startWorld();
    try {
      const fleets = new Fleets(world, {
        idle: Math.max(largest, opts.twoRegionSize, 1),
        due: largest,
        publish: Math.max(opts.overlapSize, want("dns") ? opts.dnsSelectors : 0, 1),
      });
      if (want("fleet")) report.fleet = await fleetSection(world, opts, fleets);
      if (want("dns")) {
        const pub = await fleets.get("publish", opts.dnsSelectors);
        report.dns = await measureDns(world, pub, {
          selectors: opts.dnsSelectors,
          concurrency: opts.dnsConcurrency,
          repeats: opts.repeats,
        });
      }
      if (want("startup"))
        report.startup = await measureStartup(world, await fleets.get("idle", 1), {
          repeats: opts.startupRepeats,
          rate: opts.rate,
          baseline: opts.startupBaseline,
        });
    } finally {
      await world.close();
    }
  }
  if (want("keys"))
    report.keys = await measureKeys({ keys: opts.keys, concurrency: opts.keyConcurrency });
  if (want("custody")) report.custody = await measureCustody({ keys: opts.keys });
  if (want("rotation"))
    report.rotation = await measureRotation({ years: opts.years, parallel: opts.smoke });
  if (want("sandbox"))
    report.sandbox = await measureSandboxTime({ years: opts.years, repeats: opts.sandboxRepeats });
  report.goals = evaluateGoals(report);
  report.durationSeconds = round((performance.now() - t0) / 1000, 1);
  return report;
}

async function main() {
  let opts: BenchOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return;
    process.stderr.write(`bench: ${e.message.replace(/^error: /, "")}\n`);
    process.exitCode = 2;
    return;
  }
  configureProgress(opts);
  let report: BenchReport;
  try {
    report = await runBench(opts);
  } finally {
    clearProgress();
  }
  if (opts.out) writeFileSync(opts.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderTables(report));
  const broken = report.goals.filter((g) => g.invariant && !g.met);
  if (broken.length) {
    process.stderr.write(
      `bench: invariant broken: ${broken.map((g) => `${g.name} (${g.value})`).join("; ")}\n`,
    );
    process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
