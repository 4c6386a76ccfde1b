/**
 * A copy of this repository to change one thing in (the proof tests: the
 * verdict follows the files). node_modules is linked, not copied.
 */
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** A copy of the repository (without node_modules, which is linked) to change one thing in. */
export function copyRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), "dkim-mutant-"));
  cpSync(ROOT, dir, {
    recursive: true,
    filter: (src) => !/\/(node_modules|\.git)(\/|$)/.test(src.slice(ROOT.length)),
  });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return dir;
}

export function edit(dir: string, file: string, from: string | RegExp, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, "utf8");
  const next = text.replace(from, to);
  if (next === text) throw new Error(`${file}: ${String(from)} not found`);
  writeFileSync(path, next);
}
