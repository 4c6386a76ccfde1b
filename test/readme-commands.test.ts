/**
 * Every sandbox command the README shows, run exactly as written (two
 * simulated years each), with its printed summary compared with the README's
 * block. Slow (minutes), so it runs in one CI pass only: `.ci/run` sets
 * README_SANDBOX_RUNS=1 for exactly one `npm test`, and a test below checks
 * that it does.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";

const ROOT = join(import.meta.dirname, "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
/** Where the README's commands write (the sandbox's default --out). */
const OUT = "sandbox-out";

/** Each `npm run sandbox…` line of a ```sh block with the `# ` lines after it: the summary it prints. */
function readmeSandboxCommands(readme: string): { command: string; summary: string[] }[] {
  const found: { command: string; summary: string[] }[] = [];
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block!.split("\n");
    lines.forEach((line, i) => {
      if (!/^npm run sandbox\b/.test(line)) return;
      const summary: string[] = [];
      for (let j = i + 1; j < lines.length && lines[j]!.startsWith("# "); j++)
        summary.push(lines[j]!.slice(2));
      found.push({ command: line.replace(/\s+#.*$/, "").trim(), summary });
    });
  }
  return found;
}

/** Wall-clock figures vary by machine: `12.3 s`, `1 min 45 s wall` become `N s`. */
function maskWallClock(line: string): string {
  return line.replace(/\b\d+(?:\.\d+)? s\b/g, "N s");
}

describe("README: the sandbox commands as written", function () {
  const commands = readmeSandboxCommands(README);

  it("the README shows the default, --naive, --faults and --publisher route53 runs, each with the summary it prints", () => {
    expect(commands.map((c) => c.command)).to.deep.equal([
      "npm run sandbox",
      "npm run sandbox -- --naive",
      "npm run sandbox -- --faults 0.2 --seed 42",
      "npm run sandbox -- --publisher route53",
    ]);
    for (const c of commands) {
      expect(c.summary.length, c.command).to.be.at.least(2);
      expect(c.summary[0], c.command).to.match(
        /^messages \d+ {2}verified \d+ {2}unsigned \d+ {2}failed \d+$/,
      );
      expect(c.summary.at(-1), c.command).to.match(/^(PASS|FAIL): /);
    }
  });

  it(".ci/run runs them in exactly one of its test passes", () => {
    const ci = readFileSync(join(ROOT, ".ci/run"), "utf8");
    // The lines that run the suite: `npm test`, with environment assignments before it.
    const passes = ci.split("\n").filter((l) => /^(?:[A-Z_0-9]+=\S+ )*npm test$/.test(l.trim()));
    expect(passes).to.have.length(2);
    expect(passes.filter((l) => /\bREADME_SANDBOX_RUNS=1\b/.test(l))).to.have.length(1);
  });

  for (const { command, summary } of commands) {
    const passes = summary.at(-1)?.startsWith("PASS") ?? false;
    it(`${command}: prints the README's summary and exits ${passes ? 0 : 1}`, function () {
      if (process.env.README_SANDBOX_RUNS !== "1") {
        // Two simulated years each: CI runs them once (.ci/run, README_SANDBOX_RUNS=1).
        this.skip();
      }
      this.timeout(30 * 60_000);
      const started = performance.now();
      const run = spawnSync("bash", ["-c", command], {
        cwd: ROOT,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: "1" },
      });
      const wall = Math.round((performance.now() - started) / 1000);
      console.log(`      ${command}: ${wall} s wall, exit ${run.status}`);
      const out = run.stdout.split("\n");
      const at = out.findIndex((l) => /^messages \d+ /.test(l));
      expect(at, `${command} printed no summary:\n${run.stderr.slice(-2000)}`).to.be.at.least(0);
      // From the counts to the verdict: the lines the README quotes.
      const end = out.findIndex((l, i) => i > at && /^(PASS|FAIL): /.test(l));
      expect(out.slice(at, end + 1).map(maskWallClock)).to.deep.equal(summary.map(maskWallClock));
      // The documented exit codes: 0 only when the verdict passes, 1 (failure) otherwise.
      expect(run.status, run.stderr.slice(-2000)).to.equal(passes ? 0 : 1);
      // A verifier that is not ours (dkimpy over the snapshotted zones) reaches the
      // same counts from the artifacts alone (docs/design.md#sandbox-artifacts).
      const verified = spawnSync("/usr/bin/python3", ["scripts/verify-artifacts.py", OUT], {
        cwd: ROOT,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      });
      console.log(`      ${verified.stdout.trim().split("\n").at(-1)}`);
      expect(verified.status, verified.stdout.slice(-2000) + verified.stderr.slice(-2000)).to.equal(
        0,
      );
      expect(verified.stdout).to.match(/ disagreements 0$/m);
    });
  }
});
