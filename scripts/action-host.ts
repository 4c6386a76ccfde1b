/**
 * Where an action step runs: the action's entry point with a runner's
 * environment (`INPUT_<NAME>` upper-cased with spaces as `_` and hyphens
 * kept, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_EVENT_PATH`, the job's
 * OIDC token service), its stdout captured (workflow commands go there).
 *
 * - `childProcessHost`: `runs.main` of action.yml (the committed bundle) in a
 *   child `node`, as a runner does. The workflow runner's default.
 * - `inProcessHost`: `run()` in this process, from the source the bundle is
 *   built from (`npm run check-dist` keeps the two equal), with extra
 *   `RunEnvironment` fields: the sandbox's simulated clock cannot cross a
 *   process boundary, and a child per step costs about a second
 *   (docs/design.md#workflow-runner).
 * - `runEntryPoint`: `run()` in this process with given inputs, for tests.
 *
 * In this process, the environment, `process.exitCode` and `core.summary` are
 * restored after each run.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as core from "@actions/core";
import { run, runnerEnvironment, type RunEnvironment } from "../actions/dkim-rotation/src/main";

const execFileAsync = promisify(execFile);

/** One action step as the runner hands it over. */
export interface ActionStep {
  /** The action's folder (where its action.yml is). */
  dir: string;
  /** Absolute path of `runs.main`. */
  main: string;
  cwd: string;
  /** The step's runner environment (not the runner process's own). */
  env: Record<string, string>;
}

export interface ActionStepResult {
  stdout: string;
  ok: boolean;
}

export type ActionHost = (step: ActionStep) => Promise<ActionStepResult>;

/** The bundle in a child node, with the runner process's environment underneath. */
export const childProcessHost: ActionHost = async (step) => {
  try {
    const { stdout } = await execFileAsync(process.execPath, [step.main], {
      cwd: step.cwd,
      env: { ...(process.env as Record<string, string>), ...step.env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, ok: !hasError(stdout) };
  } catch (err) {
    return { stdout: String((err as { stdout?: string }).stdout ?? err), ok: false };
  }
};

/**
 * `run()` in this process with the step's environment, plus `extra` (e.g. a
 * simulated clock). `run()` is loaded from the step's own action folder
 * (`<dir>/src/main.ts`, the source of `<dir>/dist/index.js`), so a changed
 * copy of the repository runs its own action.
 */
export function inProcessHost(extra: Partial<RunEnvironment>): ActionHost {
  return async (step) => {
    const action = await actionAt(step.dir);
    const { stdout, exitCode } = await inRunnerProcess(step.env, () =>
      action.run({ ...action.runnerEnvironment(), ...extra }),
    );
    return { stdout, ok: exitCode !== 1 && !hasError(stdout) };
  };
}

type ActionModule = Pick<
  typeof import("../actions/dkim-rotation/src/main"),
  "run" | "runnerEnvironment"
>;
const actions = new Map<string, Promise<ActionModule>>();
function actionAt(dir: string): Promise<ActionModule> {
  const source = realpathSync(join(dir, "src", "main.ts"));
  let loaded = actions.get(source);
  if (!loaded) {
    // This repository's own action is the module already loaded here.
    loaded =
      source === OWN_ACTION
        ? Promise.resolve({ run, runnerEnvironment })
        : (import(pathToFileURL(source).href) as Promise<ActionModule>);
    actions.set(source, loaded);
  }
  return loaded;
}
const OWN_ACTION = realpathSync(
  fileURLToPath(new URL("../actions/dkim-rotation/src/main.ts", import.meta.url)),
);

const hasError = (stdout: string) => stdout.split("\n").some((l) => l.startsWith("::error"));

/** GITHUB_OUTPUT's format (`name=value`, or `name<<DELIM` … `DELIM`), as @actions/core writes it. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== heredoc[2]) value.push(lines[i]!);
      out[heredoc[1]!] = value.join("\n");
    } else if (line.includes("=")) {
      out[line.slice(0, line.indexOf("="))] = line.slice(line.indexOf("=") + 1);
    }
  }
  return out;
}

export interface EntryPointRun {
  stdout: string;
  /** GITHUB_OUTPUT as written. */
  outputFile: string;
  outputs: Record<string, string>;
  summary: string;
  /** process.exitCode after the run (1 when core.setFailed was called). */
  exitCode?: number;
  /** `::error` lines, their data unescaped. */
  errors: string[];
}

/** Reverse the escaping of workflow command data (%25, %0D, %0A). */
export function unescapeCommandData(s: string): string {
  return s.replace(/%0D/g, "\r").replace(/%0A/g, "\n").replace(/%25/g, "%");
}

/**
 * `core.summary` is a process-wide singleton that caches the first
 * `GITHUB_STEP_SUMMARY` path it sees (and keeps an unwritten buffer). On a
 * runner every step is a new process; here many runs share one, so forget the
 * cached path before and after each run.
 */
function resetSummarySingleton(): void {
  (core.summary as unknown as { _filePath?: string })._filePath = undefined;
  core.summary.emptyBuffer();
}

export async function runEntryPoint(
  inputs: Record<string, string>,
  env: RunEnvironment,
): Promise<EntryPointRun> {
  const dir = mkdtempSync(join(tmpdir(), "dkim-entry-point-"));
  const outputPath = join(dir, "output");
  const summaryPath = join(dir, "summary");
  writeFileSync(outputPath, "");
  writeFileSync(summaryPath, "");
  const vars: Record<string, string> = {
    GITHUB_OUTPUT: outputPath,
    GITHUB_STEP_SUMMARY: summaryPath,
    GITHUB_WORKSPACE: env.workspace,
    // The SDK's notice that Node 20 support ends (the action runs on node24).
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  };
  for (const [name, value] of Object.entries(inputs))
    vars[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = value;
  const { stdout, exitCode } = await inRunnerProcess(vars, () => run(env));
  try {
    const outputFile = readFileSync(outputPath, "utf8");
    return {
      stdout,
      outputFile,
      outputs: parseOutputFile(outputFile),
      summary: readFileSync(summaryPath, "utf8"),
      exitCode,
      errors: stdout
        .split("\n")
        .filter((l) => l.startsWith("::error"))
        .map((l) => unescapeCommandData(l.replace(/^::error[^:]*::/, ""))),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Run `fn` as if this process were a runner's step: `vars` in process.env,
 * stdout captured, `process.exitCode` and `core.summary` reset; all restored after.
 * The sandbox's own timeline keeps printing through `outsideStep`.
 */
async function inRunnerProcess(
  vars: Record<string, string>,
  fn: () => Promise<void>,
): Promise<{ stdout: string; exitCode?: number }> {
  const saved = new Map(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  const chunks: string[] = [];
  const write = process.stdout.write;
  realWrite ??= write;
  const savedExitCode = process.exitCode;
  process.exitCode = undefined;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  let exitCode: number | undefined;
  resetSummarySingleton();
  try {
    await fn();
  } finally {
    process.stdout.write = write;
    if (write === realWrite) realWrite = undefined;
    resetSummarySingleton();
    exitCode = process.exitCode === undefined ? undefined : Number(process.exitCode);
    // core.setFailed sets process.exitCode = 1; it must not leak into the host's exit status.
    process.exitCode = savedExitCode;
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  return { stdout: chunks.join(""), exitCode };
}

/** process.stdout.write before the step in progress captured it (undefined outside a step). */
let realWrite: typeof process.stdout.write | undefined;

/**
 * Run `fn` with the real stdout, even inside a step: the sandbox's timeline
 * (printed while an activation waits on the simulated clock) is not the step's log.
 */
export function outsideStep(fn: () => void): void {
  if (!realWrite) return fn();
  const captured = process.stdout.write;
  process.stdout.write = realWrite;
  try {
    fn();
  } finally {
    process.stdout.write = captured;
  }
}
