/**
 * Where the action's start-up time goes (the profile docs/benchmarks.md
 * quotes for the start-up goal).
 *
 *   npx tsx scripts/bench/profile.ts [--json]
 *
 * 1. Bundle composition: bytes per npm package in the bundle, from an esbuild
 *    metafile of the same build as scripts/build-action.mjs.
 * 2. CPU profile of one `status` run of the committed (minified) bundle, the
 *    same run the start-up section times, split into V8 compiling the
 *    bundle, evaluating it, Node internals, GC and the rest.
 * 3. The same run of an *unminified* build, with self time attributed to the
 *    package each function came from (esbuild marks every module's section
 *    with a `// node_modules/<pkg>/…` comment).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { build } from "esbuild";
import { actionBuildOptions } from "../action-bundle.mjs";
import { progress, round, table } from "./common";
import { REPO_ROOT } from "./fleet";
import { BUNDLE, bundleSizes } from "./startup";
import { HOME_REGION, startWorld } from "./world";

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    /** Samples per source line (1-based) inside this function. */
    positionTicks?: { line: number; ticks: number }[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface StartupProfile {
  bundleBytes: number;
  composition: { pkg: string; kib: number; percent: number }[];
  minified: { totalMs: number; phases: Record<string, number> };
  unminified: { totalMs: number; byPackage: { pkg: string; ms: number }[] };
}

const BUILD_BASE = {
  ...actionBuildOptions(REPO_ROOT, "actions/dkim-rotation/src/index.ts"),
  logLevel: "error" as const,
};

function packageOf(path: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (m) return m[1]!;
  return path.startsWith("actions/") ? "(action sources)" : path;
}

function readProfile(dir: string): CpuProfile {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
  return JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
}

/**
 * Self time per key, in ms. `key` gets the frame and a 0-based line: a
 * bundle's ESM packages run their top-level code inside the one module
 * function, so a node's time is split over its lines (positionTicks).
 */
function selfTime(
  profile: CpuProfile,
  key: (frame: CpuProfile["nodes"][number]["callFrame"], line: number) => string,
): Record<string, number> {
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000),
  );
  const out: Record<string, number> = {};
  const add = (k: string, ms: number) => (out[k] = (out[k] ?? 0) + ms);
  for (const node of profile.nodes) {
    const ms = selfMs.get(node.id);
    if (!ms) continue;
    const ticks = node.positionTicks ?? [];
    const all = ticks.reduce((a, t) => a + t.ticks, 0);
    if (!all) {
      add(key(node.callFrame, node.callFrame.lineNumber), ms);
      continue;
    }
    for (const t of ticks) add(key(node.callFrame, t.line - 1), (ms * t.ticks) / all);
  }
  return out;
}

function phaseOf(frame: CpuProfile["nodes"][number]["callFrame"], bundleDir: string): string {
  if (frame.functionName === "compileSourceTextModule") return "V8 compiles the bundle";
  if (frame.functionName === "(garbage collector)") return "garbage collection";
  if (frame.functionName === "(idle)") return "idle (waiting for I/O: git, the SES call)";
  if (frame.functionName === "(program)") return "V8/Node native (program)";
  // The entry and its chunks: every file of the bundle's folder.
  if (frame.url.includes(`/${bundleDir}/`)) return "bundle code (evaluation and the run)";
  return "Node internals (loader, child_process, http)";
}

export async function profileStartup(): Promise<StartupProfile> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const tmp = mkdtempSync(join(tmpdir(), "dkim-bench-profile-"));
  const world = await startWorld({ keyPool: 1 });
  try {
    const fleet = await world.createFleet("prof", "idle", 1, [HOME_REGION]);
    const stack = world.stackFile(fleet, 1, [HOME_REGION], 50);
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GITHUB_WORKSPACE: world.workspace,
      GITHUB_OUTPUT: join(tmp, "output"),
      GITHUB_STEP_SUMMARY: join(tmp, "summary"),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      INPUT_COMMAND: "status",
      INPUT_CONFIG: basename(stack),
      "INPUT_AWS-ENDPOINT": fleet.emulator.url,
    };
    // Asynchronous spawn: the emulator answering the run lives on our event loop.
    const runProfiled = async (script: string, dir: string) => {
      writeFileSync(env.GITHUB_OUTPUT, "");
      writeFileSync(env.GITHUB_STEP_SUMMARY, "");
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${dir}`, script], {
          env,
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("error", reject);
        child.on("close", (code) =>
          code === 0 && !/^::error/m.test(out)
            ? resolve()
            : reject(new Error(`profiled status run failed: ${out.match(/^::error.*$/m)?.[0]}`)),
        );
      });
      return readProfile(dir);
    };

    progress("profile: bundle composition (esbuild metafile)");
    const meta = await build({
      ...BUILD_BASE,
      outdir: join(tmp, "min"),
      minify: true,
      metafile: true,
    });
    // Every chunk, whether status loads it or not (the figure the bench's bundle size counts).
    const bytesBy: Record<string, number> = {};
    for (const output of Object.values(meta.metafile.outputs))
      for (const [file, v] of Object.entries(output.inputs))
        bytesBy[packageOf(file)] = (bytesBy[packageOf(file)] ?? 0) + v.bytesInOutput;
    const total = Object.values(bytesBy).reduce((a, b) => a + b, 0);

    progress("profile: committed bundle, one status run under --cpu-prof");
    const minDir = join(tmp, "prof-min");
    const minProfile = await runProfiled(BUNDLE, minDir);
    const phases = selfTime(minProfile, (f) => phaseOf(f, basename(dirname(BUNDLE))));

    progress("profile: unminified build, self time per package");
    await build({ ...BUILD_BASE, outdir: join(tmp, "plain"), minify: false });
    const plain = join(tmp, "plain", "index.js");
    // esbuild starts each module's code with a `// <path>` comment line, in every chunk.
    const sectionsOf = new Map<string, { line: number; pkg: string }[]>();
    for (const f of readdirSync(join(tmp, "plain")).filter((n) => n.endsWith(".js"))) {
      const sections: { line: number; pkg: string }[] = [];
      readFileSync(join(tmp, "plain", f), "utf8")
        .split("\n")
        .forEach((text, line) => {
          const m = /^\/\/ ((?:node_modules|actions)\/\S+)$/.exec(text);
          if (m) sections.push({ line, pkg: packageOf(m[1]!) });
        });
      sectionsOf.set(f, sections);
    }
    const pkgAt = (sections: { line: number; pkg: string }[], line: number) => {
      let lo = 0;
      let hi = sections.length - 1;
      let found = "(esbuild wrappers, top level)";
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (sections[mid]!.line <= line) {
          found = sections[mid]!.pkg;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return found;
    };
    const plainProfile = await runProfiled(plain, join(tmp, "prof-plain"));
    const byPkg = selfTime(plainProfile, (f, line) => {
      const sections = f.url.includes("/plain/") ? sectionsOf.get(basename(f.url)) : undefined;
      return sections && f.functionName !== "compileSourceTextModule"
        ? pkgAt(sections, line)
        : phaseOf(f, "plain");
    });
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    return {
      bundleBytes: bundleSizes().totalBytes,
      composition: Object.entries(bytesBy)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .map(([pkg, b]) => ({
          pkg,
          kib: round(b / 1024, 0),
          percent: round((b / total) * 100, 1),
        })),
      minified: {
        totalMs: round(sum(phases), 1),
        phases: Object.fromEntries(
          Object.entries(phases)
            .sort((a, b) => b[1] - a[1])
            .map(([k, v]) => [k, round(v, 1)]),
        ),
      },
      unminified: {
        totalMs: round(sum(byPkg), 1),
        byPackage: Object.entries(byPkg)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 14)
          .map(([pkg, ms]) => ({ pkg, ms: round(ms, 1) })),
      },
    };
  } finally {
    await world.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function render(p: StartupProfile): string {
  return [
    `bundle ${round(p.bundleBytes / 1e6, 2)} MB; composition (top packages):`,
    table(
      ["package", "KiB", "%"],
      p.composition.map((c) => [c.pkg, c.kib, c.percent]),
    ),
    "",
    `committed bundle, one status run: ${p.minified.totalMs} ms sampled`,
    table(
      ["phase", "self ms"],
      Object.entries(p.minified.phases).map(([k, v]) => [k, v]),
    ),
    "",
    `unminified build, same run: ${p.unminified.totalMs} ms sampled, self time by package`,
    table(
      ["package / phase", "self ms"],
      p.unminified.byPackage.map((x) => [x.pkg, x.ms]),
    ),
    "",
  ].join("\n");
}

// Only when run directly (index.ts does not import this file).
if (process.argv[1]?.endsWith("profile.ts")) {
  profileStartup()
    .then((p) => {
      process.stdout.write(
        process.argv.includes("--json") ? `${JSON.stringify(p, null, 2)}\n` : render(p),
      );
    })
    .catch((err) => {
      process.stderr.write(`bench profile: ${(err as Error).message}\n`);
      process.exitCode = 1;
    });
}
