/**
 * The action's entry point, `run()`, in this process as a runner would call
 * it: inputs as `INPUT_<NAME>` (upper-cased, spaces to `_`, hyphens kept),
 * fresh `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files, stdout captured
 * (workflow commands go there), and the environment, `process.exitCode` and
 * `core.summary` restored afterwards. (The workflow runner runs the bundle in
 * a child process instead: scripts/workflow-runner.ts.)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as core from "@actions/core";
import { run, type RunEnvironment } from "../../actions/dkim-rotation/src/main";
import { parseOutputFile } from "../../scripts/workflow-runner";

export { parseOutputFile };

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
  const saved = new Map(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  const chunks: string[] = [];
  const write = process.stdout.write;
  const savedExitCode = process.exitCode;
  process.exitCode = undefined;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    return true;
  }) as typeof process.stdout.write;
  let exitCode: number | undefined;
  resetSummarySingleton();
  try {
    await run(env);
  } finally {
    process.stdout.write = write;
    resetSummarySingleton();
    exitCode = process.exitCode === undefined ? undefined : Number(process.exitCode);
    // core.setFailed sets process.exitCode = 1; it must not leak into mocha's exit status.
    process.exitCode = savedExitCode;
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  try {
    const stdout = chunks.join("");
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
