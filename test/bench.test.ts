/**
 * Smoke test of `npm run bench`: the real CLI, at a tiny size, against the
 * real emulator and loopback DNS servers. It checks that the one JSON
 * document carries every figure docs/benchmarks.md quotes and that the
 * measured invariants hold (one GetEmailIdentity per identity and Region,
 * no throttling surfaced, every selector verified on both servers).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import type { BenchReport } from "../scripts/bench/index";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/bench/index.ts", ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("bench (npm run bench) at a tiny size", function () {
  this.timeout(120_000);
  let report: BenchReport;
  let stderr = "";

  before(async () => {
    const run = await bench([
      "--json",
      "--only",
      "fleet,dns,keys,custody,startup",
      "--sizes",
      "3",
      "--repeats",
      "1",
      "--apply-sizes",
      "2",
      "--apply-repeats",
      "1",
      "--two-region",
      "3",
      "--overlap",
      "3",
      "--margin-check",
      "0",
      "--keys",
      "1",
      "--key-concurrency",
      "2",
      "--dns-selectors",
      "6",
      "--dns-concurrency",
      "4",
      "--startup-repeats",
      "1",
      "--startup-baseline",
      "HEAD",
    ]);
    stderr = run.stderr;
    expect(run.code, run.stderr.slice(-2000)).to.equal(0);
    report = JSON.parse(run.stdout) as BenchReport;
  });

  it("prints one JSON document with the machine description", () => {
    expect(report.schema).to.equal("ses-dkim-rotation-bench/1");
    expect(report.machine.cores).to.be.greaterThan(0);
    expect(report.machine.cpuModel).to.be.a("string").and.not.equal("");
    expect(report.machine.node).to.match(/^v\d+/);
    expect(report.machine.ramGiB).to.be.greaterThan(0);
    // No progress with --json, nor when stderr is not a terminal (scripts/progress.ts).
    expect(stderr).to.not.match(/bench: /);
  });

  it("measures status, plan and plan --apply against the emulator's pacing floor", () => {
    const runs = report.fleet!.runs;
    const scenarios = runs.map((r) => `${r.scenario}/${r.identities}/${r.regions.length}`);
    expect(scenarios).to.include.members([
      "status/3/1",
      "plan (dry run)/3/1",
      "plan --apply/2/1",
      "status/3/2",
      "status, DNS verified/3/1",
      "status, DNS skipped/3/1",
      "verify (hourly)/3/1",
    ]);
    // The hourly verify over a settled fleet reads the key store and no SES at all.
    const verify = runs.find((r) => r.scenario === "verify (hourly)")!;
    expect(verify.sesCalls.GetEmailIdentity ?? 0).to.equal(0);
    expect(verify.oneGetPerIdentityRegion).to.equal(true);
    expect(verify.decisions).to.deep.equal({});
    expect(verify.keyStoreCallsPerIdentity).to.be.greaterThan(0);
    for (const r of runs.filter((x) => x !== verify)) {
      expect(r.rate).to.equal(50);
      expect(r.floorMs).to.equal((r.identities / 50) * 1000);
      expect(r.wallMs, r.scenario).to.be.greaterThan(0);
      expect(r.ratio).to.be.closeTo(r.wallMs / r.floorMs, 0.01);
      expect(r.oneGetPerIdentityRegion, r.scenario).to.equal(true);
      expect(r.sesCalls.GetEmailIdentity).to.equal(r.identities * r.regions.length);
      expect(r.throttlesSurfaced, r.scenario).to.equal(0);
      expect(r.errorsSurfaced, `${r.scenario}: ${r.failures.join("; ")}`).to.equal(0);
      expect(r.maxRssMb).to.be.greaterThan(10);
      expect(r.keyStoreCallsPerIdentity).to.be.greaterThan(0);
    }
    const status = runs.find((r) => r.scenario === "status")!;
    expect(status.decisions).to.deep.equal({ idle: 3 });
    const apply = runs.find((r) => r.scenario === "plan --apply")!;
    expect(apply.decisions).to.deep.equal({ rotate: 2 });
    expect(apply.keysGenerated).to.equal(2);
    const verified = runs.find((r) => r.scenario === "status, DNS verified")!;
    expect(verified.decisions).to.deep.equal({ activate: 3 });
    expect(verified.dnsVerify.calls).to.equal(3);
    expect(report.fleet!.overlap!.dnsVerifications).to.equal(3);
    expect(report.fleet!.growth.map((g) => g.identities)).to.deep.equal([3]);
  });

  it("verifies every selector on both loopback servers", () => {
    const dns = report.dns!;
    expect(dns).to.include({ selectors: 6, servers: 2, concurrency: 4, ok: 6 });
    // At least one query per selector per server (a truncated UDP answer adds a TCP retry).
    expect(dns.queries).to.be.at.least(12);
    expect(dns.queriesPerSecond).to.be.greaterThan(0);
  });

  it("times key generation against openssl and the action against bare node", () => {
    expect(report.keys!.oursMedianMs).to.be.greaterThan(0);
    expect(report.keys!.opensslMedianMs).to.be.greaterThan(0);
    expect(report.keys!.ratio).to.be.closeTo(
      report.keys!.oursMedianMs / report.keys!.opensslMedianMs,
      0.01,
    );
    const st = report.startup!;
    expect(st.decision).to.equal("idle");
    expect(st.actionMedianMs).to.be.greaterThan(st.nodeMedianMs);
    expect(st.bundleBytes).to.be.greaterThan(100_000);
    // HEAD's committed dist/, alternated with the working tree's, as --startup-baseline asks.
    expect(st.baseline!.commit).to.equal("HEAD");
    expect(st.baseline!.runsMs).to.have.length(1);
    expect(st.baseline!.medianMs).to.be.greaterThan(st.nodeMedianMs);
    expect(st.baseline!.bundleBytes).to.be.greaterThan(100_000);
    // CPU time (user + sys) from GNU time, where it is installed.
    if (existsSync("/usr/bin/time")) {
      expect(st.cpu!.actionMedianMs).to.be.greaterThan(st.cpu!.nodeMedianMs);
      expect(st.baseline!.addedCpuMs).to.be.a("number");
    }
  });

  it("times the KMS custody path: the planner's generate and the activator's decrypt", () => {
    const c = report.custody!;
    expect(c.keys).to.equal(1);
    expect(c.generateMedianMs).to.be.greaterThan(0);
    expect(c.decryptMedianMs).to.be.greaterThan(0);
    // Medians of separate runs are timings, not facts: compared in the bench, not here.
    expect(c.readPrivateKeyMedianMs).to.be.greaterThan(0);
  });

  it("lists every goal with its value", () => {
    const sections = new Set(report.goals.map((g) => g.section));
    expect([...sections]).to.include.members(["fleet", "dns", "keys", "startup"]);
    for (const g of report.goals) expect(g.value).to.be.a("string").and.not.equal("");
    const oneGet = report.goals.find((g) => g.name.startsWith("one GetEmailIdentity"))!;
    expect(oneGet.met).to.equal(true);
    // Correctness figures are flagged: a miss makes the bench exit 1 (CI's smoke run).
    expect(oneGet.invariant).to.equal(true);
    expect(report.goals.filter((g) => g.invariant && !g.met)).to.deep.equal([]);
  });

  it("rejects a bad option with one line and exit code 2", async () => {
    const run = await bench(["--rate", "0"]);
    expect(run.code).to.equal(2);
    expect(run.stderr.trim().split("\n")).to.have.length(1);
    expect(run.stderr).to.match(/--rate/);
    expect(run.stdout).to.equal("");
  });
});

describe("bench: the sandbox section's command", function () {
  it("runs the sandbox as package.json's `sandbox` script spells it, V8 flags included", async () => {
    const { sandboxCommand } = await import("../scripts/bench/sandbox-time");
    const { readFileSync } = await import("node:fs");
    const pkg = JSON.parse(
      readFileSync(fileURLToPath(new URL("../package.json", import.meta.url)), "utf8"),
    ) as { scripts: { sandbox: string } };
    expect(sandboxCommand()).to.deep.equal([
      process.execPath,
      ...pkg.scripts.sandbox.split(" ").slice(1),
    ]);
    expect(sandboxCommand()).to.include("--max-old-space-size=512");
    expect(sandboxCommand()).to.include("--max-semi-space-size=16");
  });
});
