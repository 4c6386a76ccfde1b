/**
 * Job summary, annotations and PR bodies: the parts of the action a person reads.
 */
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  identityTableMarkdown,
  renderJobSummary,
  timelineMarkdown,
  writeJobSummary,
  type IdentitySummaryRow,
} from "../actions/dkim-rotation/src/summary";
import { annotateError, annotationFor } from "../actions/dkim-rotation/src/annotations";
import {
  digCommand,
  renderRetirementPrBody,
  renderRotationPrBody,
} from "../actions/dkim-rotation/src/pr-body";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";
import { generateDkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import {
  dkimRecordValue,
  parseRecordFile,
  renderRecordFile,
} from "../actions/dkim-rotation/src/engine/record";
import { ganttBlocks, parseGantt } from "./helpers/mermaid-gantt";

describe("job summary", () => {
  const rows: IdentitySummaryRow[] = [
    {
      domain: "mail.example.jp",
      activeSelector: "mail-20251120",
      sesStatus: { "ap-northeast-1": "SUCCESS", "ap-northeast-3": "PENDING" },
      keyAgeDays: 367.9,
      daysToExpiry: -2,
      nextStep: "activate mail-20261122 | DNS ok",
    },
    {
      domain: "news.example.jp",
      sesStatus: { "ap-northeast-1": "FAILED" },
      daysToExpiry: 12,
      nextStep: "publish by 2026-12-06",
    },
    {
      domain: "example.co.jp",
      activeSelector: "corp-20260601",
      sesStatus: {},
      keyAgeDays: 10,
      daysToExpiry: 355,
      nextStep: "nothing until <2027-04-20>",
    },
  ];

  it("tables every identity with one SES column per Region", () => {
    const md = identityTableMarkdown(rows);
    const lines = md.split("\n");
    expect(lines[0]).to.equal(
      "| Domain | Active selector | SES ap-northeast-1 | SES ap-northeast-3 | Key age (days) | Days to expiry | Next step |",
    );
    expect(lines[1]).to.equal("| --- | --- | --- | --- | --- | --- | --- |");
    expect(lines[2]).to.equal(
      "| mail.example.jp | mail-20251120 | ✅ SUCCESS | ⏳ PENDING | 367 | ❌ -2 (expired) | activate mail-20261122 \\| DNS ok |",
    );
    expect(lines[3]).to.equal(
      "| news.example.jp | – | ❌ FAILED | n/a | – | ⚠️ 12 | publish by 2026-12-06 |",
    );
    expect(lines[4]).to.equal(
      "| example.co.jp | corp-20260601 | n/a | n/a | 10 | 355 | nothing until &lt;2027-04-20> |",
    );
    expect(lines).to.have.length(5);
    expect(identityTableMarkdown([])).to.equal("_No identities._");
  });

  it("shows an activation timeline in time order with offsets", () => {
    const t0 = new Date("2026-12-07T03:00:00Z");
    const at = (s: number) => new Date(t0.getTime() + s * 1000);
    const md = timelineMarkdown([
      { at: at(65), step: "poll ap-northeast-1", detail: "SUCCESS", ok: true },
      { at: at(0), step: "dns ns1.example.jp", detail: "ok", ok: true },
      { at: at(1), step: "dns ns2.example.jp", detail: "ok", ok: true },
      { at: at(2), step: "swap ap-northeast-1", detail: "PENDING", ok: true },
      { at: at(30), step: "poll ap-northeast-1", detail: "PENDING\nretrying", ok: false },
    ]);
    const lines = md.split("\n");
    expect(lines[0]).to.equal("| Time (UTC) | +s | Step | Result | Detail |");
    expect(lines[2]).to.equal("| 2026-12-07 03:00:00Z | 0 | dns ns1.example.jp | ✅ | ok |");
    expect(lines[5]).to.equal(
      "| 2026-12-07 03:00:30Z | 30 | poll ap-northeast-1 | ❌ | PENDING retrying |",
    );
    expect(lines[6]).to.equal("| 2026-12-07 03:01:05Z | 65 | poll ap-northeast-1 | ✅ | SUCCESS |");
  });

  it("writes the summary to $GITHUB_STEP_SUMMARY", async () => {
    const dir = mkdtempSync(join(tmpdir(), "summary-"));
    const file = join(dir, "summary.md");
    writeFileSync(file, "");
    const saved = process.env.GITHUB_STEP_SUMMARY;
    process.env.GITHUB_STEP_SUMMARY = file;
    try {
      const md = await writeJobSummary({
        title: "DKIM activate",
        intro: "dry run",
        identities: rows.slice(0, 1),
        timelines: [
          {
            domain: "mail.example.jp",
            selector: "mail-20261122",
            events: [{ at: new Date(0), step: "dns a", detail: "ok", ok: true }],
          },
        ],
        notes: ["refused: DNS not verified on ns2"],
      });
      const written = readFileSync(file, "utf8");
      expect(written).to.equal(md + "\n");
      expect(written).to.match(/^## DKIM activate\n\ndry run\n\n### Identities\n\n\| Domain/);
      expect(written).to.include("### Timeline: mail.example.jp → mail-20261122");
      expect(written).to.include("- refused: DNS not verified on ns2");
    } finally {
      if (saved === undefined) delete process.env.GITHUB_STEP_SUMMARY;
      else process.env.GITHUB_STEP_SUMMARY = saved;
      rmSync(dir, { recursive: true, force: true });
    }
    // Outside Actions: returns the Markdown and writes nothing.
    expect(await writeJobSummary({ title: "t", identities: [] })).to.equal(
      renderJobSummary({ title: "t", identities: [] }),
    );
  });
});

describe("annotations", () => {
  it("turns a record-file InputError into an error annotation at file and line", () => {
    const text =
      'sel._domainkey.example.jp. 3600 IN TXT (\n  "v=DKIM1; k=rsa; p=' + "A".repeat(300) + '" )\n';
    let err: unknown;
    try {
      parseRecordFile(text, "dns/example.jp/sel.zone");
    } catch (e) {
      err = e;
    }
    const seen: { message: string; props: object }[] = [];
    expect(annotateError(err, (message, props) => seen.push({ message, props }))).to.equal(true);
    expect(seen).to.have.length(1);
    expect(seen[0]!.props).to.deep.equal({
      title: "TXT",
      file: "dns/example.jp/sel.zone",
      startLine: 2,
    });
    expect(seen[0]!.message).to.match(
      /^dns\/example.jp\/sel.zone:2: field TXT: has a 318-byte string/,
    );
  });

  it("annotates a whole file without a line, and skips non-file sources", () => {
    const whole = new InputError({
      file: "Pulumi.prod.yaml",
      identity: "mail.example.jp",
      field: "keyBits",
      problem: "bad",
    });
    expect(annotationFor(whole)?.properties).to.deep.equal({
      title: "mail.example.jp: keyBits",
      file: "Pulumi.prod.yaml",
    });
    expect(
      annotationFor(new InputError({ file: "input:domain", field: "domain", problem: "bad" })),
    ).to.equal(undefined);
    expect(annotationFor(new InputError({ file: "argv", field: "x", problem: "bad" }))).to.equal(
      undefined,
    );
    expect(
      annotationFor(new InputError({ file: "../etc/x.zone:3", field: "x", problem: "bad" })),
    ).to.equal(undefined);
    expect(annotationFor(new Error("dns/a.zone:3: boom"))).to.equal(undefined);
  });

  it("prints the ::error workflow command with file and line", () => {
    const chunks: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    (process.stdout as unknown as { write: (c: string) => boolean }).write = (c: string) => {
      chunks.push(String(c));
      return true;
    };
    try {
      annotateError(
        new InputError({
          file: "dns/a.example.jp/s1.zone:12",
          field: "owner",
          problem: "is relative",
        }),
      );
    } finally {
      (process.stdout as unknown as { write: typeof write }).write = write;
    }
    expect(chunks.join("")).to.equal(
      "::error title=owner,file=dns/a.example.jp/s1.zone,line=12::dns/a.example.jp/s1.zone:12: field owner: is relative\n",
    );
  });
});

describe("PR bodies", function () {
  this.timeout(20000);

  it("give the DNS team the record, the joined value, dig per server, the deadline, a timeline and a checklist", async () => {
    const pair = await generateDkimKeyPair(2048);
    const record = renderRecordFile({
      domain: "mail.example.jp",
      selector: "mail-20261122",
      keyBits: 2048,
      fingerprint: pair.fingerprint,
      createdAt: "2026-11-22T00:00:00Z",
      publishBy: "2026-12-06",
      publicKey: pair.publicKey,
      ttl: 3600,
    });
    const body = renderRotationPrBody({
      domain: "mail.example.jp",
      selector: "mail-20261122",
      recordFileText: record,
      joinedValue: dkimRecordValue(pair.publicKey),
      nameservers: ["ns1.example.jp", "ns2.example.jp:5353", "[2001:db8::53]:53"],
      publishBy: new Date("2026-12-06T00:00:00Z"),
      timeline: {
        generatedAt: new Date("2026-11-22T00:00:00Z"),
        publishBy: new Date("2026-12-06T00:00:00Z"),
        earliestActivation: new Date("2026-12-06T00:00:00Z"),
        retireOldAfter: new Date("2026-12-13T00:00:00Z"),
        retiredBy: new Date("2026-12-27T00:00:00Z"),
      },
      previousSelector: "mail-20251120",
      keyBits: 2048,
      fingerprint: pair.fingerprint,
    });
    expect(body).to.include("```dns\n" + record.trimEnd() + "\n```");
    expect(body).to.include("```text\nv=DKIM1; k=rsa; p=" + pair.publicKey + "\n```");
    expect(body).to.include(
      "dig +short TXT mail-20261122._domainkey.mail.example.jp @ns1.example.jp\n",
    );
    expect(body).to.include(
      "dig +short TXT mail-20261122._domainkey.mail.example.jp @ns2.example.jp -p 5353\n",
    );
    expect(body).to.include(
      "dig +short TXT mail-20261122._domainkey.mail.example.jp @2001:db8::53\n",
    );
    expect(body).to.include("**Please publish this TXT record by 2026-12-06.**");
    // The plan as a Mermaid gantt chart (test/mermaid-gantt.test.ts checks its grammar).
    const [gantt] = ganttBlocks(body);
    const { problems, tasks } = parseGantt(gantt!);
    expect(problems).to.deep.equal([]);
    expect(tasks.find((t) => t.id === "retirement")?.name).to.include("mail-20251120");
    expect(body).to.match(
      /- \[ \] The PR changes exactly one file, `dns\/mail.example.jp\/mail-20261122.zone`/,
    );
    expect(body).to.include("mail-20251120._domainkey.mail.example.jp");
    expect(body).to.not.include(pair.sesPrivateKey.slice(0, 40));
    expect(body).to.not.include("PRIVATE KEY");
    // A record file that (wrongly) carried the private key is refused.
    expect(() =>
      renderRotationPrBody({
        domain: "mail.example.jp",
        selector: "mail-20261122",
        recordFileText: record + `; ${pair.sesPrivateKey}\n`,
        joinedValue: dkimRecordValue(pair.publicKey),
        nameservers: [],
        publishBy: new Date(0),
        timeline: {
          generatedAt: new Date(0),
          publishBy: new Date(0),
          earliestActivation: new Date(0),
          retireOldAfter: new Date(0),
          retiredBy: new Date(0),
        },
      }),
    ).to.throw(/private key material/);
  });

  it("retirement body names the record to remove and the one to keep", () => {
    const body = renderRetirementPrBody({
      domain: "mail.example.jp",
      selector: "mail-20251120",
      activeSelector: "mail-20261122",
      activatedAt: new Date("2026-12-07T03:01:05Z"),
      graceDays: 7,
      secretDeletionDate: new Date("2027-01-13T00:00:00Z"),
      nameservers: ["ns1.example.jp"],
    });
    expect(body).to.include("**Remove only `mail-20251120._domainkey.mail.example.jp`.**");
    expect(body).to.include("Do **not** remove `mail-20261122._domainkey.mail.example.jp`");
    expect(body).to.include("since 2026-12-07 03:01 UTC, and the 7-day grace period");
    expect(body).to.include(
      "dig +short TXT mail-20251120._domainkey.mail.example.jp @ns1.example.jp",
    );
    expect(body).to.include("scheduled for deletion on 2027-01-13");
  });

  it("digCommand uses -p for non-standard ports", () => {
    expect(digCommand("s._domainkey.a.jp", "127.0.0.1:5300")).to.equal(
      "dig +short TXT s._domainkey.a.jp @127.0.0.1 -p 5300",
    );
    expect(digCommand("s._domainkey.a.jp", "ns1.a.jp:53")).to.equal(
      "dig +short TXT s._domainkey.a.jp @ns1.a.jp",
    );
    expect(digCommand("s._domainkey.a.jp", "[::1]:5300")).to.equal(
      "dig +short TXT s._domainkey.a.jp @::1 -p 5300",
    );
  });
});
