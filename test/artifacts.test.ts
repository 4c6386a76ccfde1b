/**
 * The sandbox's artifacts stand on their own: every zone snapshot is a valid
 * master file (named-checkzone), every zone a key lookup reaches is among the
 * snapshots (SES's Easy DKIM key zone included), and an independent DKIM
 * verifier (dkimpy, Debian's python3-dkim, in scripts/verify-artifacts.py,
 * which reads only zones/, mail/ and report.json) agrees with every verdict
 * and count the sandbox reported (docs/design.md#sandbox-artifacts).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { runSandbox, type SandboxReport } from "../scripts/sandbox/run";
import { requireBinary } from "./helpers/bind";

const PYTHON = "/usr/bin/python3";
const VERIFIER = fileURLToPath(new URL("../scripts/verify-artifacts.py", import.meta.url));

interface VerifierResult {
  dkimpy: { messages: number; verified: number; unsigned: number; failed: number };
  report: Record<string, number>;
  disagreements: string[];
}

/** Debian's python3-dkim and python3-dnspython, or skip (fail under CI: .ci/install-dns.sh installs them). */
function requireDkimpy(ctx: Mocha.Context): void {
  const probe = spawnSync(PYTHON, ["-c", "import dkim, dns.zone"], { encoding: "utf8" });
  if (probe.status === 0) return;
  if (process.env.CI)
    throw new Error("python3-dkim / python3-dnspython missing but CI is set: .ci/install-dns.sh");
  ctx.skip();
}

function verify(out: string): { status: number | null; result: VerifierResult } {
  const run = spawnSync(PYTHON, [VERIFIER, out, "--json"], { encoding: "utf8" });
  expect(run.stderr, run.stderr).to.equal("");
  return { status: run.status, result: JSON.parse(run.stdout) as VerifierResult };
}

describe("sandbox artifacts, checked independently", function () {
  this.timeout(400_000);
  let out: string;
  let report: SandboxReport;

  before(async function () {
    requireBinary(this, "named-checkzone");
    requireDkimpy(this);
    out = mkdtempSync(join(tmpdir(), "sandbox-artifacts-"));
    // 0.3 years: news.example is onboarded from Easy DKIM, so Easy-DKIM-signed
    // mail (keys in SES's zone, reached through CNAMEs) exists.
    report = await runSandbox({ out, years: 0.3, naive: false });
  });
  after(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it("every zone snapshot is a master file named-checkzone accepts, SES's key zone among them", function () {
    const files = readdirSync(join(out, "zones"));
    const origins = new Set<string>();
    for (const file of files) {
      const origin = /^(.+)\.\d+\.zone$/.exec(file)![1]!;
      origins.add(origin);
      const check = spawnSync(
        requireBinary(this, "named-checkzone"),
        ["-k", "fail", "-i", "local", origin, join(out, "zones", file)],
        { encoding: "utf8" },
      );
      expect(check.status, `${file}: ${check.stdout}${check.stderr}`).to.equal(0);
      // Every CNAME target is absolute: a relative one would be read below $ORIGIN.
      for (const line of readFileSync(join(out, "zones", file), "utf8").split("\n"))
        if (/\sIN CNAME\s/.test(line)) expect(line, file).to.match(/\.$/);
    }
    expect([...origins].sort()).to.deep.equal([
      "dkim.amazonses.com",
      "news.example",
      "shop.example",
    ]);
  });

  it("dkimpy verifies the mail from zones/ alone and agrees with every verdict and with report.json", function () {
    const { status, result } = verify(out);
    expect(result.disagreements).to.deep.equal([]);
    expect(status).to.equal(0);
    expect(result.dkimpy).to.deep.equal({
      messages: report.messages,
      verified: report.verified,
      unsigned: report.unsigned,
      failed: report.failed,
    });
    // Easy-DKIM-signed mail is among what it verified (signed with a token
    // selector, whose key only SES's zone holds).
    const easy = readdirSync(join(out, "mail")).filter((f) => {
      if (!/-news\.example-.*-pass\.eml$/.test(f)) return false;
      const raw = readFileSync(join(out, "mail", f), "latin1");
      return /[;\s]s=[a-z2-7]{32}[;\s]/.test(raw.replace(/\r\n[ \t]+/g, " "));
    });
    expect(easy.length).to.be.greaterThan(100);
  });

  it("the verifier fails when SES's key zone is missing from the snapshots (it can disagree)", function () {
    const copy = mkdtempSync(join(tmpdir(), "sandbox-artifacts-cut-"));
    try {
      cpSync(out, copy, { recursive: true });
      for (const f of readdirSync(join(copy, "zones")))
        if (f.startsWith("dkim.amazonses.com.")) rmSync(join(copy, "zones", f));
      const { status, result } = verify(copy);
      expect(status).to.equal(1);
      expect(result.disagreements.join("\n")).to.match(/news\.example-.*: dkimpy says fail/);
      expect(result.dkimpy.verified).to.be.lessThan(report.verified);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
