/**
 * The default sandbox (`npm run sandbox`: two simulated years, pipeline,
 * manual publisher) timed end to end as a user runs it, in a child process,
 * `repeats` times: wall, CPU (user + sys) and peak memory of each run, and the
 * median. CPU and peak memory come from GNU time (`/usr/bin/time`) when the
 * machine has it; wall alone otherwise.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, progress, round } from "./common";
import { REPO_ROOT } from "./fleet";

/** The goal for the default two-year run, in seconds. */
export const SANDBOX_GOAL_SECONDS = 45;
/** Peak memory goal (MB). */
export const SANDBOX_MEMORY_GOAL_MB = 400;
/** The same run before issue 27's work, on a quiet machine (docs/benchmarks.md). */
export const SANDBOX_BEFORE_SECONDS = 68;

const GNU_TIME = "/usr/bin/time";

export interface SandboxRun {
  wallSeconds: number;
  cpuSeconds?: number;
  maxRssMB?: number;
  /** The sandbox's verdict line (PASS/FAIL …), to show the runs did the same work. */
  verdict: string;
}

export interface SandboxTimeFigures {
  years: number;
  repeats: number;
  command: string;
  runs: SandboxRun[];
  medianWallSeconds: number;
  medianCpuSeconds?: number;
  maxRssMB?: number;
  beforeWallSeconds: number;
}

/**
 * `npm run sandbox` as package.json spells it (with its V8 flags), started
 * with this Node: the bench measures what a user runs, without npm's start-up.
 */
export function sandboxCommand(): string[] {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  };
  const [node, ...rest] = pkg.scripts.sandbox!.split(/\s+/);
  if (node !== "node")
    throw new Error(
      `package.json scripts.sandbox: expected "node …", got "${pkg.scripts.sandbox}"`,
    );
  return [process.execPath, ...rest];
}

function runOnce(years: number): Promise<SandboxRun> {
  const out = mkdtempSync(join(tmpdir(), "dkim-bench-sandbox-"));
  const timeFile = join(out, "time.txt");
  const sandboxOut = join(out, "out");
  const args = [...sandboxCommand(), "--years", String(years), "--out", sandboxOut];
  const gnu = existsSync(GNU_TIME);
  const [cmd, ...rest] = gnu ? [GNU_TIME, "-f", "%U %S %M", "-o", timeFile, ...args] : args;
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd!, rest, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.resume();
    child.on("error", reject);
    child.on("close", () => {
      const wallSeconds = (performance.now() - t) / 1000;
      const verdict = /^(PASS|FAIL).*$/m.exec(stdout)?.[0] ?? "(no verdict line)";
      let cpuSeconds: number | undefined;
      let maxRssMB: number | undefined;
      if (gnu && existsSync(timeFile)) {
        const [user, sys, rssKb] = readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number);
        cpuSeconds = round(user! + sys!, 1);
        maxRssMB = round(rssKb! / 1024, 0);
      }
      rmSync(out, { recursive: true, force: true });
      resolve({ wallSeconds: round(wallSeconds, 1), cpuSeconds, maxRssMB, verdict });
    });
  });
}

export async function measureSandboxTime(opts: {
  years: number;
  repeats: number;
}): Promise<SandboxTimeFigures> {
  const runs: SandboxRun[] = [];
  for (let i = 0; i < opts.repeats; i++) {
    runs.push(await runOnce(opts.years));
    progress(`sandbox: run ${i + 1}/${opts.repeats}: ${runs.at(-1)!.wallSeconds} s`);
  }
  const cpu = runs.flatMap((r) => (r.cpuSeconds === undefined ? [] : [r.cpuSeconds]));
  const rss = runs.flatMap((r) => (r.maxRssMB === undefined ? [] : [r.maxRssMB]));
  return {
    years: opts.years,
    repeats: opts.repeats,
    command: `npm run sandbox -- --years ${opts.years}`,
    runs,
    medianWallSeconds: round(median(runs.map((r) => r.wallSeconds)), 1),
    ...(cpu.length ? { medianCpuSeconds: round(median(cpu), 1) } : {}),
    ...(rss.length ? { maxRssMB: Math.max(...rss) } : {}),
    beforeWallSeconds: SANDBOX_BEFORE_SECONDS,
  };
}
