/**
 * End to end: the embedded sandbox runs the whole lifecycle on a simulated
 * clock (real SDK clients → AWS emulator, loopback DNS servers, mailauth) and
 * its report is the proof that rotation never breaks DKIM.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { runSandbox, type SandboxReport } from "../scripts/sandbox/run";
import { requireBinary } from "./helpers/bind";
import { copyRepository, edit } from "./helpers/repository-copy";

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe("sandbox (end to end)", function () {
  this.timeout(180_000);
  let pipelineOut: string;
  let pipeline: SandboxReport;
  const secrets: string[] = [];
  const timeline: string[] = [];

  before(async () => {
    pipelineOut = mkdtempSync(join(tmpdir(), "sandbox-e2e-"));
    // 0.7 years: the adopted legacy key (200 days old at the start) rotates
    // once, the Easy DKIM domain is onboarded at once, and the old selector is
    // retired after the grace period.
    pipeline = await runSandbox({
      out: pipelineOut,
      years: 0.7,
      naive: false,
      print: (l) => timeline.push(l),
      onSecret: (s) => secrets.push(s),
    });
  });
  after(() => rmSync(pipelineOut, { recursive: true, force: true }));

  it("ends with 0 failed signatures and unsigned mail only inside SES's pending checks", () => {
    expect(pipeline.ok, pipeline.verdict).to.equal(true);
    expect(pipeline.failed).to.equal(0);
    expect(pipeline.unsignedOutsidePending).to.equal(0);
    expect(pipeline.messages).to.equal(pipeline.verified + pipeline.unsigned + pipeline.failed);
    // One swap per Region-identity (3), each pending for the emulator's first check (15 min).
    expect(pipeline.unsignedMinutes).to.equal(45);
  });

  it("completes a rotation per domain: generated → merged → published → activated → retired", () => {
    expect(pipeline.rotations).to.have.length(2);
    // The real starting states: the adopted hand-made selector, and Easy DKIM.
    expect(pipeline.rotations.map((r) => `${r.domain} ${r.from}`).sort()).to.deep.equal([
      "news.example easy-dkim",
      "shop.example gooid-21-prod",
    ]);
    for (const r of pipeline.rotations.filter((x) => x.from !== "easy-dkim")) {
      const order = [r.generatedAt, r.mergedAt, r.publishedAt, r.activatedAt, r.retiredAt].map(
        (t) => Date.parse(t!),
      );
      expect(
        order.every((t) => Number.isFinite(t)),
        JSON.stringify(r),
      ).to.equal(true);
      expect([...order].sort((a, b) => a - b)).to.deep.equal(order);
      // DNS first: activation only after publication on both servers.
      expect(order[3]! >= order[2]!).to.equal(true);
      expect(r.pendingMinutes).to.equal(15);
    }
  });

  it("sends at least one message per domain every 6 hours and every 10 minutes around a swap", () => {
    const mail = readdirSync(join(pipelineOut, "mail"));
    expect(mail.length).to.equal(pipeline.messages);
    const days = 0.7 * 365;
    expect(pipeline.messages).to.be.greaterThan(2 * days * 4 + 2 * 6 * 144 * 0.9);
  });

  it("archives every zone version served and names it in each message", () => {
    const all = readdirSync(join(pipelineOut, "zones"));
    const zones = all.filter((z) => /^(shop|news)\.example\.\d+\.zone$/.test(z));
    expect(zones.length).to.equal(pipeline.zonesServed);
    // Besides the mail domains: SES's Easy DKIM key zone, which a CNAME leads to
    // (docs/design.md#sandbox-artifacts).
    const keyZones = all.filter((z) => !zones.includes(z));
    expect(keyZones.length).to.be.at.least(1);
    for (const z of keyZones) expect(z).to.match(/amazonses\.com\.\d+\.zone$/);
    const serials = new Set(zones.map((z) => z.split(".").at(-2)));
    const sample = readdirSync(join(pipelineOut, "mail")).slice(0, 50);
    for (const name of sample) {
      const head = readFileSync(join(pipelineOut, "mail", name), "latin1").split("\r\n\r\n")[0]!;
      const serial = /^X-Sandbox-Zone-Serial: (\d+)$/m.exec(head)?.[1];
      expect(serial, name).to.be.a("string");
      expect(serials.has(serial!), `${name} names serial ${serial}`).to.equal(true);
    }
  });

  it("writes report.json and a readable report.md", () => {
    const json = JSON.parse(readFileSync(join(pipelineOut, "report.json"), "utf8"));
    expect(json).to.include.keys("messages", "verified", "unsigned", "failed", "rotations");
    for (const r of json.rotations) {
      // From Easy DKIM there is no old record to retire.
      if (r.from === "easy-dkim") expect(r).not.to.have.key("retiredAt");
      expect(r).to.include.keys(
        "domain",
        "from",
        "to",
        "generatedAt",
        "mergedAt",
        "publishedAt",
        "activatedAt",
        ...(r.from === "easy-dkim" ? [] : ["retiredAt"]),
        "pendingMinutes",
      );
    }
    const md = readFileSync(join(pipelineOut, "report.md"), "utf8");
    expect(md).to.contain("**Verdict:** PASS");
    expect(timeline.some((l) => l.includes("approvers approved dkim-production"))).to.equal(true);
  });

  it("leaves no private key material in any artifact", () => {
    expect(secrets.length).to.be.greaterThan(0);
    let hits = 0;
    let files = 0;
    let bytes = 0;
    for (const file of walk(pipelineOut)) {
      const text = readFileSync(file, "latin1");
      files++;
      bytes += text.length;
      if (/PRIVATE KEY-----/.test(text)) hits++;
      for (const s of secrets) if (text.includes(s) || text.includes(s.slice(0, 64))) hits++;
    }
    expect(hits).to.equal(0);
    for (const line of timeline)
      for (const s of secrets) expect(line.includes(s.slice(0, 64))).to.equal(false);
    // The figure docs/reliability.md quotes.
    console.log(
      `      secret hygiene (sandbox): ${files} artifacts (${bytes} bytes) + ${timeline.length} timeline lines scanned for ${new Set(secrets).size} keys: ${hits} hits`,
    );
  });

  it("runs the shipped workflows: one approval request per activation, each rotation's costs counted", () => {
    const w = pipeline.workflows!;
    // The daily plan fires on its own cron (dkim-rotate.yml, 17 0 * * *) every simulated day.
    expect(w.runs["dkim-rotate.yml (schedule)"]).to.equal(Math.round(0.7 * 365));
    // Each merge of a record PR is a push to dns/ that starts dkim-activate.yml.
    expect(w.runs["dkim-activate.yml (push)"]).to.be.greaterThan(0);
    expect(w.jobs.failure).to.equal(0);
    expect(pipeline.failedJobs).to.deep.equal([]);
    for (const r of pipeline.rotations) {
      expect(r.costs, r.to).to.not.equal(undefined);
      expect(r.costs!.approvalRequests, r.to).to.equal(1);
      expect(r.costs!.workflowRuns).to.be.greaterThan(2);
      expect(r.costs!.githubRequests).to.be.greaterThan(0);
      expect(r.costs!.sesCalls).to.be.greaterThan(0);
    }
    // Activations and the retirement each asked the reviewers once; nothing else did.
    const retirements = timeline.filter((l) => /deletion of .* key scheduled/.test(l)).length;
    expect(w.approvalRequests).to.equal(pipeline.rotations.length + retirements);
    const md = readFileSync(join(pipelineOut, "report.md"), "utf8");
    expect(md).to.contain("## The shipped workflows");
    expect(md).to.match(/\| news\.example → news-\d{8} \| 1 \| \d+ \| \d+ \| \d+ \|/);
  });

  describe("proof that it runs the shipped files: one change in a copy, a failing verdict naming the job", function () {
    let dir: string;
    beforeEach(() => (dir = copyRepository()));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const stuck =
      /^news\.example: news-\d{8} published \d{4}-\d\d-\d\d but never activated; (?:\.github\/workflows\/dkim-activate\.yml: job "DKIM \/ Publish merged records" was skipped; )?\.github\/workflows\/dkim-activate\.yml: job "DKIM \/ Activate {2}for " was skipped/;
    const mutations = [
      {
        title: "a workflow: the gated job's if: inverted",
        file: ".github/workflows/reusable-activate.yml",
        from: "if: needs.verify.outputs.ready != '' && needs.verify.outputs.ready != '[]'",
        to: "if: needs.verify.outputs.ready == '' || needs.verify.outputs.ready == '[]'",
      },
      {
        title: "the action's outputs: verify no longer sets ready",
        file: "actions/dkim-rotation/src/main.ts",
        from: /core\.setOutput\("ready"/g,
        to: 'core.setOutput("ready-ids"',
      },
    ];
    for (const m of mutations) {
      it(m.title, async () => {
        edit(dir, m.file, m.from, m.to);
        const out = mkdtempSync(join(tmpdir(), "sandbox-mutant-"));
        try {
          // 0.1 years: news.example is onboarded from Easy DKIM; its record is published on day 16.
          const report = await runSandbox({ out, years: 0.1, naive: false, toolRoot: dir });
          expect(report.ok).to.equal(false);
          expect(report.stuckRotations[0], report.verdict).to.match(stuck);
          expect(report.verdict).to.match(/was skipped/);
          expect(report.failed).to.equal(0);
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      });
    }
  });

  it("--naive shows the hazard: days of unsigned mail outside SES's pending checks", async () => {
    const out = mkdtempSync(join(tmpdir(), "sandbox-naive-"));
    try {
      const naive = await runSandbox({ out, years: 0.45, naive: true });
      expect(naive.ok).to.equal(false);
      expect(naive.unsignedOutsidePending).to.be.greaterThan(100);
      // Swap on day 0, DNS lead 2 + 14 days, re-applied the day after publication.
      expect(naive.rotations[0]!.pendingMinutes).to.be.greaterThan(14 * 24 * 60);
      expect(existsSync(join(out, "report.md"))).to.equal(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("--ses-quirks (empty BYODKIM Tokens, TEMPORARY_FAILURE spells): the same verdict, both first rotations done", async () => {
    const out = mkdtempSync(join(tmpdir(), "sandbox-quirks-"));
    try {
      const quirks = await runSandbox({ out, years: 0.4, naive: false, sesQuirks: true });
      expect(quirks.ok, quirks.verdict).to.equal(true);
      expect(quirks.failed).to.equal(0);
      expect(quirks.sesQuirks!.temporaryFailureSpells).to.be.greaterThan(0);
      expect(quirks.rotations.map((r) => [r.from, Boolean(r.activatedAt)])).to.deep.equal([
        ["easy-dkim", true],
        ["gooid-21-prod", true],
      ]);
      expect(quirks.rotations.some((r) => r.rolledBackAt)).to.equal(false);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  describe("--publisher: the action puts merged records into DNS itself", function () {
    // 0.5 years: news.example is onboarded from Easy DKIM at once, shop.example
    // rotates on day ~114 and its old selector's record is removed after the
    // grace period, all through the publisher.
    for (const publisher of ["rfc2136", "route53"] as const) {
      it(`${publisher}: published minutes after the merge, the retired record removed everywhere, 0 failed signatures`, async function () {
        if (publisher === "rfc2136")
          for (const b of ["named", "nsupdate", "dig", "tsig-keygen"]) requireBinary(this, b);
        const out = mkdtempSync(join(tmpdir(), `sandbox-${publisher}-`));
        const seen: string[] = [];
        const lines: string[] = [];
        try {
          const report = await runSandbox({
            out,
            years: 0.5,
            naive: false,
            publisher,
            print: (l) => lines.push(l),
            onSecret: (s) => seen.push(s),
          });
          expect(report.ok, report.verdict).to.equal(true);
          expect(report.failed).to.equal(0);
          expect(report.unsignedOutsidePending).to.equal(0);
          expect(report.publication.publisher).to.equal(publisher);
          // Nobody published by hand: every change reached ns1/ns2 through the publisher.
          expect(lines.some((l) => /DNS team (published|removed)/.test(l))).to.equal(false);
          expect(report.rotations.map((r) => r.from).sort()).to.deep.equal([
            "easy-dkim",
            "gooid-21-prod",
          ]);
          for (const r of report.rotations) {
            expect(r.activatedAt, r.to).to.be.a("string");
            expect(r.mergeToPublished, r.to).to.be.a("number");
            expect(r.mergeToPublished!, r.to).to.be.lessThan(120);
            // DNS first: never active before every server served it.
            expect(r.mergeToActive!, r.to).to.be.at.least(r.mergeToPublished!);
          }
          expect(report.publication.mergeToPublishedMedianMinutes!).to.be.lessThan(120);
          // The retirement PR's merge took the old record out of DNS, through the publisher.
          const shop = report.rotations.find((r) => r.from === "gooid-21-prod")!;
          expect(shop.recordRemovedAt, JSON.stringify(shop)).to.be.a("string");
          const end = report.publisherEnd!;
          for (const [domain, e] of Object.entries(end)) {
            const active = report.rotations.find((r) => r.domain === domain)!.to;
            expect(e.main, domain).to.deep.equal([active]);
            expect(e.ns1, domain).to.deep.equal([active]);
            expect(e.ns2, domain).to.deep.equal([active]);
            if (publisher === "rfc2136") expect(e.primary, domain).to.deep.equal([active]);
            else expect(e.route53, domain).to.deep.equal([active]);
          }
          // The TSIG secret was masked by the step that read it, and is in no artifact.
          if (publisher === "rfc2136") {
            for (const e of Object.values(end)) expect(e.tsigSecretMasked).to.equal(true);
            expect(seen.length).to.be.greaterThan(0);
            for (const file of walk(out)) {
              const text = readFileSync(file, "latin1");
              for (const s of seen)
                expect(text.includes(s) || text.includes(s.slice(0, 64)), file).to.equal(false);
            }
            for (const l of lines)
              for (const s of seen) expect(l.includes(s.slice(0, 64))).to.equal(false);
          }
          const md = readFileSync(join(out, "report.md"), "utf8");
          expect(md).to.contain(`Publisher ${publisher}: merge → published median`);
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      });
    }
  });

  it("pull-request approval under faults: a first switch SES leaves PENDING twice is proven by the canary once SES verifies; team code owners read with the gate App's Members: read", async function () {
    this.timeout(600_000);
    // Seed 42 at 20 %: news.example's first activation from Easy DKIM meets SES
    // stuck PENDING on both tries, with Easy DKIM no way back
    // (docs/design.md#unproven-activation); the approvers are a team
    // (docs/design.md#gate-token).
    const out = mkdtempSync(join(tmpdir(), "sandbox-pr-faults-"));
    const lines: string[] = [];
    try {
      const r = await runSandbox({
        out,
        years: 0.1,
        naive: false,
        approval: "pull-request",
        faults: { rate: 0.2, seed: 42 },
        print: (l) => lines.push(l),
      });
      expect(r.ok, r.verdict).to.equal(true);
      expect(r.failed).to.equal(0);
      expect(r.canary.swapsWithoutCanary).to.equal(0);
      const text = lines.join("\n");
      expect(text).to.match(/news-\d{8} did not verify twice \(SES not SUCCESS after 30 min/);
      expect(text).to.match(
        /news\.example: SES signs with news-\d{8} in every Region, verified after its activation was recorded; proven now \(canary\)/,
      );
      expect(r.canary.passed).to.be.at.least(1);
      // One approval PR per decision: the proof after SES verified asked nobody again.
      const activated = r.rotations.filter((x) => x.activatedAt);
      expect(activated).to.have.length.at.least(1);
      for (const x of activated) expect(x.costs?.approvalPrs, x.to).to.equal(1);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("refuses to delete a directory that is not its own output", async () => {
    const dir = mkdtempSync(join(tmpdir(), "not-sandbox-"));
    try {
      await import("node:fs").then((fs) => fs.writeFileSync(join(dir, "precious.txt"), "keep"));
      let message = "";
      await runSandbox({ out: dir, years: 0.1, naive: false }).catch(
        (e: Error) => (message = e.message),
      );
      expect(message).to.match(/not a sandbox output directory/);
      expect(existsSync(join(dir, "precious.txt"))).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
