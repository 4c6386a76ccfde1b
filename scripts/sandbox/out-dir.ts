/**
 * Which folders the sandbox may use for its artifacts. A run empties its
 * folder first, so it takes only a new or empty folder, or one an earlier run
 * created (it holds the `.sandbox-output` marker). Kept apart from run.ts so
 * the CLI can check `--out` without loading the emulator.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, parse, resolve } from "node:path";

export const SANDBOX_MARKER = ".sandbox-output";

/** Why `out` cannot hold sandbox artifacts, or undefined when it can. */
export function sandboxOutProblem(out: string): string | undefined {
  const path = resolve(out);
  if (path === parse(path).root) return `${path} is the root of the file system`;
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return undefined;
  if (!stat.isDirectory()) return `${path} is a file, not a folder`;
  if (readdirSync(path).length && !existsSync(join(path, SANDBOX_MARKER)))
    return `${path} is not empty and was not made by the sandbox (no ${SANDBOX_MARKER}); a run empties its folder first`;
  return undefined;
}
