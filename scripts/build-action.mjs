#!/usr/bin/env node
/* global process, console -- Node globals; eslint.config.js declares none for .mjs scripts */
/**
 * Bundle the action into one file: actions/dkim-rotation/dist/index.js.
 *
 * GitHub runs `runs.main` from the repository as checked out, with no
 * `npm install`, so every dependency is bundled and `dist/` is committed
 * (the actions/typescript-action layout). The build is deterministic (no
 * timestamps, no absolute paths, sorted metafile not written), so
 * `--check` can rebuild into a temporary directory and compare bytes: CI fails
 * if the committed bundle is not what the sources produce.
 *
 * Usage:
 *   node scripts/build-action.mjs            build into dist/
 *   node scripts/build-action.mjs --check    rebuild in a temp dir, fail on any difference
 *   node scripts/build-action.mjs --entry F --outdir D   (tests) other entry / output directory
 */
import { build } from "esbuild";
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { actionBuildOptions, inlineBuiltinChunks } from "./action-bundle.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const check = args.includes("--check");
const entry = resolve(root, opt("--entry", "actions/dkim-rotation/src/index.ts"));
const committed = resolve(root, opt("--outdir", "actions/dkim-rotation/dist"));

async function bundle(outdir) {
  try {
    await buildOnce(outdir);
  } catch (err) {
    // esbuild has already printed each error with its location.
    console.error(
      `build-action: bundling ${relative(root, entry)} failed (${err.errors?.length ?? 1} error(s))`,
    );
    process.exit(1);
  }
}

async function buildOnce(outdir) {
  await build({
    ...actionBuildOptions(root, entry),
    outdir,
    minify: true,
    sourcemap: false,
    // Chunk names hash the modules' paths: a checkout whose node_modules is a
    // link (a git worktree) must name them as a fresh clone does.
    preserveSymlinks: true,
    logLevel: "warning",
  });
  inlineBuiltinChunks(outdir);
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath ?? d.path, d.name)))
    .sort();
}

if (!existsSync(entry)) {
  console.error(`build-action: entry ${relative(root, entry)} does not exist`);
  process.exit(1);
}

if (!check) {
  rmSync(committed, { recursive: true, force: true });
  await bundle(committed);
  for (const f of listFiles(committed)) {
    console.log(
      `${relative(root, join(committed, f))} ${readFileSync(join(committed, f)).length} bytes`,
    );
  }
} else {
  const temp = mkdtempSync(join(tmpdir(), "dkim-dist-"));
  try {
    await bundle(temp);
    const want = listFiles(temp);
    const have = listFiles(committed);
    const problems = [];
    for (const f of want) {
      if (!have.includes(f)) problems.push(`${f} is missing`);
      else if (!readFileSync(join(temp, f)).equals(readFileSync(join(committed, f))))
        problems.push(`${f} differs`);
    }
    for (const f of have) if (!want.includes(f)) problems.push(`${f} is not produced by the build`);
    if (problems.length) {
      console.error(
        `check-dist: ${relative(root, committed)} is out of date (${problems.join("; ")}); run \`npm run build\` and commit ${relative(root, committed)}/`,
      );
      process.exit(1);
    }
    console.log(
      `check-dist: ${relative(root, committed)} matches the sources (${want.length} files)`,
    );
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
