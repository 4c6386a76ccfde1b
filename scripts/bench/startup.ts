/**
 * Action start-up: the committed bundle (`node actions/dkim-rotation/dist/index.js`)
 * running `status` for one identity against the emulator, exactly as a
 * runner starts it (inputs as INPUT_* variables, outputs and the job summary
 * to files), versus bare `node -e 0`. Alternated, after one warm-up each.
 */
import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { median, progress, round } from "./common";
import { REPO_ROOT } from "./fleet";
import { HOME_REGION, type Fleet, type World } from "./world";

export const BUNDLE = join(REPO_ROOT, "actions/dkim-rotation/dist/index.js");

/** The issue's goal: `status` at most this much slower than `node -e 0`, on Node 24. */
export const STARTUP_GOAL_MS = 200;

/**
 * The bundle's size counted honestly: every `.js` file in dist/ (the entry and
 * all its chunks, whether a command loads them or not), and apart from it
 * what `status` loads: the entry and the chunks it imports statically,
 * followed transitively (`import()` chunks load only when their command runs).
 */
export function bundleSizes(entry: string = BUNDLE): {
  totalBytes: number;
  files: number;
  loadedBytes: number;
  /** The files `status` loads, by name. */
  loaded: string[];
} {
  const dir = dirname(entry);
  const js = readdirSync(dir).filter((f) => f.endsWith(".js"));
  const totalBytes = js.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  const seen = new Set<string>();
  const todo = [basename(entry)];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    // esbuild's static imports: `import{a as b}from"./x.js"` and `import"./x.js"`; not `import("./x.js")`.
    const text = readFileSync(join(dir, f), "utf8");
    for (const m of text.matchAll(/(?:from|import)\s*"\.\/([^"]+\.js)"/g)) todo.push(m[1]!);
  }
  const loadedBytes = [...seen].reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  return { totalBytes, files: js.length, loadedBytes, loaded: [...seen].sort() };
}

export interface StartupFigures {
  repeats: number;
  actionMedianMs: number;
  actionRunsMs: number[];
  nodeMedianMs: number;
  nodeRunsMs: number[];
  /**
   * Median CPU time (user + sys, from GNU time, when installed) of the action
   * and of `node -e 0`, and the difference: steadier than wall time on a
   * shared machine.
   */
  cpu?: { actionMedianMs: number; nodeMedianMs: number; addedMs: number };
  addedMs: number;
  ratio: number;
  /** Every dist/*.js file: the entry and all chunks. */
  bundleBytes: number;
  bundleMB: number;
  bundleFiles: number;
  /** What `status` loads: the entry and its static imports. */
  loadedBytes: number;
  loadedMB: number;
  command: string;
  /** The action's `decisions` output, to show the run did real work. */
  decision: string;
  /** The same runs of another commit's committed bundle, alternated with these (`--startup-baseline`). */
  baseline?: {
    commit: string;
    medianMs: number;
    runsMs: number[];
    addedMs: number;
    /** Its median CPU time over `node -e 0`'s, when GNU time is installed. */
    addedCpuMs?: number;
    bundleBytes: number;
    loadedBytes: number;
  };
}

/**
 * Another commit's committed `dist/`, extracted into a temporary folder whose
 * package.json says `"type": "module"` as the repository's does, so that
 * both bundles run side by side under the same load.
 */
function extractBaseline(commit: string): { entry: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "bench-startup-baseline-"));
  const tar = execFileSync("git", ["archive", commit, "actions/dkim-rotation/dist"], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  return {
    entry: join(dir, "actions/dkim-rotation/dist/index.js"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const GNU_TIME = "/usr/bin/time";

interface Timed {
  ms: number;
  /** user + sys, when GNU time is installed. */
  cpuMs?: number;
}

/** One run, wall-timed; under GNU time (the same for every command compared) for its CPU time. */
function runTimed(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<Timed & { code: number | null; stdout: string; stderr: string }> {
  const timeFile = existsSync(GNU_TIME)
    ? join(mkdtempSync(join(tmpdir(), "bench-startup-time-")), "time.txt")
    : undefined;
  const [cmd, ...rest] = timeFile
    ? [GNU_TIME, "-f", "%U %S", "-o", timeFile, process.execPath, ...args]
    : [process.execPath, ...args];
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd!, rest, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = performance.now() - t;
      let cpuMs: number | undefined;
      if (timeFile) {
        const [user, sys] = readFileSync(timeFile, "utf8")
          .trim()
          .split(/\s+/)
          .slice(-2)
          .map(Number);
        cpuMs = ((user ?? NaN) + (sys ?? NaN)) * 1000;
        rmSync(dirname(timeFile), { recursive: true, force: true });
      }
      resolve({ ms, cpuMs, code, stdout, stderr });
    });
  });
}

export async function measureStartup(
  world: World,
  fleet: Fleet,
  opts: { repeats: number; rate: number; baseline?: string },
): Promise<StartupFigures> {
  const stack = world.stackFile(fleet, 1, [HOME_REGION], opts.rate);
  const outputFile = join(world.workspace, "bench-github-output");
  const summaryFile = join(world.workspace, "bench-step-summary");
  // A runner's environment: PATH and HOME, the inputs, the workspace, and files for outputs.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_WORKSPACE: world.workspace,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_ACTIONS: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    INPUT_COMMAND: "status",
    INPUT_CONFIG: basename(stack),
    "INPUT_AWS-ENDPOINT": fleet.emulator.url,
    "INPUT_REQUESTS-PER-SECOND": String(opts.rate),
    "INPUT_DRY-RUN": "false",
  };
  const action = async (entry = BUNDLE) => {
    writeFileSync(outputFile, "");
    writeFileSync(summaryFile, "");
    fleet.emulator.setSesRateLimit(opts.rate);
    const r = await runTimed([entry], env);
    if (r.code !== 0 || /^::error/m.test(r.stdout))
      throw new Error(
        `action status failed (exit ${r.code}): ${(r.stdout.match(/^::error.*$/m)?.[0] ?? r.stderr).slice(0, 300)}`,
      );
    return r;
  };
  const bare = () => runTimed(["-e", "0"], { PATH: process.env.PATH });
  const old = opts.baseline === undefined ? undefined : extractBaseline(opts.baseline);
  try {
    await action();
    await bare();
    if (old) await action(old.entry);
    const actionRuns: Timed[] = [];
    const nodeRuns: Timed[] = [];
    const oldRuns: Timed[] = [];
    for (let i = 0; i < opts.repeats; i++) {
      nodeRuns.push(await bare());
      actionRuns.push(await action());
      if (old) oldRuns.push(await action(old.entry));
    }
    progress(`startup: ${opts.repeats} × (action status, node -e 0${old ? ", baseline" : ""})`);
    const outputs = readFileSync(outputFile, "utf8");
    const decision = /"kind":"([a-z-]+)"/.exec(outputs)?.[1] ?? "(no decisions output)";
    const a = median(actionRuns.map((r) => r.ms));
    const b = median(nodeRuns.map((r) => r.ms));
    const cpuOf = (runs: Timed[]) =>
      runs.every((r) => r.cpuMs !== undefined && Number.isFinite(r.cpuMs))
        ? median(runs.map((r) => r.cpuMs!))
        : undefined;
    const [aCpu, bCpu, oldCpu] = [cpuOf(actionRuns), cpuOf(nodeRuns), cpuOf(oldRuns)];
    const sizes = bundleSizes();
    const oldSizes = old ? bundleSizes(old.entry) : undefined;
    return {
      repeats: opts.repeats,
      actionMedianMs: round(a, 1),
      actionRunsMs: actionRuns.map((x) => round(x.ms, 1)),
      nodeMedianMs: round(b, 1),
      nodeRunsMs: nodeRuns.map((x) => round(x.ms, 1)),
      ...(aCpu !== undefined && bCpu !== undefined
        ? {
            cpu: {
              actionMedianMs: round(aCpu, 1),
              nodeMedianMs: round(bCpu, 1),
              addedMs: round(aCpu - bCpu, 1),
            },
          }
        : {}),
      addedMs: round(a - b, 1),
      ratio: round(a / b, 2),
      bundleBytes: sizes.totalBytes,
      bundleMB: round(sizes.totalBytes / 1e6, 2),
      bundleFiles: sizes.files,
      loadedBytes: sizes.loadedBytes,
      loadedMB: round(sizes.loadedBytes / 1e6, 2),
      command: "node actions/dkim-rotation/dist/index.js (INPUT_COMMAND=status, 1 identity)",
      decision,
      ...(opts.baseline && oldSizes
        ? {
            baseline: {
              commit: opts.baseline,
              medianMs: round(median(oldRuns.map((r) => r.ms)), 1),
              runsMs: oldRuns.map((x) => round(x.ms, 1)),
              addedMs: round(median(oldRuns.map((r) => r.ms)) - b, 1),
              ...(oldCpu !== undefined && bCpu !== undefined
                ? { addedCpuMs: round(oldCpu - bCpu, 1) }
                : {}),
              bundleBytes: oldSizes.totalBytes,
              loadedBytes: oldSizes.loadedBytes,
            },
          }
        : {}),
    };
  } finally {
    old?.cleanup();
  }
}
