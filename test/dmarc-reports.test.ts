/**
 * DMARC aggregate reports (docs/design.md#dmarc-aggregate-reports): the
 * archive decoder and parser against receiver-shaped fixtures
 * (test/fixtures/dmarc: Google's zip, Outlook.com's and Yahoo's gzip, an
 * RFC 9990 namespaced report, a report without selectors), the refusals
 * (size caps, zip and gzip bombs, DOCTYPE and entities, truncation), the
 * aggregation, the `reports` command's metrics, tags and alarm, and the
 * quiet-days retirement gate.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { expect } from "chai";
import { zipSync, strToU8 } from "fflate";
import { addDays, DAY_MS } from "../actions/dkim-rotation/src/engine/clock";
import { InputError, parseProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import {
  decodeReportArchive,
  parseAggregateReport,
  readAggregateReport,
  ReportRejected,
} from "../actions/dkim-rotation/src/engine/dmarc-report";
import {
  aggregateReports,
  passFail,
  runReports,
  type DmarcReportSourcePort,
} from "../actions/dkim-rotation/src/engine/dmarc";
import { reportQuiet } from "../actions/dkim-rotation/src/engine/report-evidence";
import type { EngineContext } from "../actions/dkim-rotation/src/engine/engine-context";
import type {
  KeyStorePort,
  MetricDatum,
  Notification,
  StoredKey,
} from "../actions/dkim-rotation/src/engine/ports";
import { noticeText } from "../actions/dkim-rotation/src/notice-text";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "fixtures/dmarc");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const LIMITS = { maxBytes: 1024 * 1024 };
const DOMAIN = "mail.example.jp";
const OLD = "mail-20260108";
const NEW = "mail-20261120";

function rejected(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ReportRejected) return err.why;
    throw err;
  }
  throw new Error("expected a ReportRejected, got a report");
}

/** A report as SES's S3 action stores it: the whole message, the archive base64 in a MIME part. */
function asMessage(archive: Uint8Array, filename: string, type: string): Uint8Array {
  const b64 = Buffer.from(archive).toString("base64").replace(/.{76}/g, "$&\r\n");
  return strToU8(
    [
      "From: noreply-dmarc-support@google.com",
      "To: dmarc@reports.example.jp",
      "Subject: Report domain: mail.example.jp Submitter: google.com Report-ID: 1386",
      "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="000000000000b1c2"',
      "",
      "--000000000000b1c2",
      'Content-Type: text/plain; charset="UTF-8"',
      "",
      "This is an aggregate report from google.com.",
      "--000000000000b1c2",
      `Content-Type: ${type}; name="${filename}"`,
      `Content-Disposition: attachment; filename="${filename}"`,
      "Content-Transfer-Encoding: base64",
      "",
      b64,
      "--000000000000b1c2--",
      "",
    ].join("\r\n"),
  );
}

describe("DMARC aggregate reports: archives and XML", () => {
  it("reads Google's zip as SES stores it (a MIME message), both DKIM results of a row", () => {
    const zip = zipSync({
      "google.com!mail.example.jp!1796342400!1796428799.xml": strToU8(fixture("google.xml")),
    });
    const r = readAggregateReport(
      asMessage(zip, "google.com!mail.example.jp.zip", "application/zip"),
      LIMITS,
    );
    expect(r.orgName).to.equal("google.com");
    expect(r.policyDomain).to.equal(DOMAIN);
    expect(r.begin.toISOString()).to.equal("2026-12-04T00:00:00.000Z");
    expect(r.rows.map((x) => x.count)).to.deep.equal([118, 3]);
    expect(r.rows[0]!.dkim).to.deep.equal([
      { domain: DOMAIN, selector: NEW, result: "pass" },
      { domain: "amazonses.com", selector: "224i4yxa5dv7c2xz3womw6peuasteono", result: "pass" },
    ]);
    expect(r.warnings).to.deep.equal([]);
  });

  it("reads Outlook.com's gzip with schema namespaces and envelope_to", () => {
    const gz = gzipSync(fixture("microsoft.xml"));
    const r = readAggregateReport(
      asMessage(gz, "outlook.com!mail.example.jp.xml.gz", "application/gzip"),
      LIMITS,
    );
    expect(r.orgName).to.equal("Outlook.com");
    expect(r.rows[0]!.dkim[0]).to.deep.equal({ domain: DOMAIN, selector: NEW, result: "pass" });
  });

  it("tolerates Yahoo-style non-conformance: no selector, upper-case results, human_result, upper-case domain", () => {
    const r = readAggregateReport(gzipSync(fixture("yahoo-legacy.xml")), LIMITS);
    expect(r.policyDomain).to.equal(DOMAIN);
    expect(r.rows[0]!.dkim).to.deep.equal([
      { domain: DOMAIN, result: "pass" },
      { domain: DOMAIN, selector: OLD, result: "fail" },
      { domain: DOMAIN, selector: NEW, result: "pass" },
    ]);
    expect(r.warnings).to.deep.equal([
      `record 1: dkim result for ${DOMAIN} names no selector (RFC 9990 requires one)`,
    ]);
  });

  it("reads an RFC 9990 report with a namespace prefix and a result per signature tried", () => {
    const r = parseAggregateReport(fixture("rfc9990.xml"), LIMITS);
    expect(r.orgName).to.equal("receiver.example");
    expect(r.rows[0]!.sourceIp).to.equal("2001:db8::25");
    expect(r.rows[0]!.dkim.map((d) => `${d.selector}=${d.result}`)).to.deep.equal([
      `${OLD}=temperror`,
      `${NEW}=pass`,
    ]);
  });

  it("refuses a DOCTYPE (billion laughs) and an external entity before parsing", () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><feedback><report_metadata><org_name>&lol2;</org_name></report_metadata></feedback>`;
    expect(rejected(() => parseAggregateReport(laughs, LIMITS))).to.match(/DOCTYPE or ENTITY/);
    const xxe = fixture("google.xml").replace(
      '<?xml version="1.0" encoding="UTF-8" ?>',
      '<?xml version="1.0"?>\n<!doctype feedback SYSTEM "file:///etc/passwd">',
    );
    expect(rejected(() => parseAggregateReport(xxe, LIMITS))).to.match(/DOCTYPE or ENTITY/);
  });

  it("keeps an entity reference as written: nothing is expanded", () => {
    const xml = fixture("google.xml").replace("<org_name>google.com", "<org_name>google&amp;co");
    expect(parseAggregateReport(xml, LIMITS).orgName).to.equal("google&amp;co");
  });

  it("stops a gzip bomb at the cap, whatever it would inflate to", () => {
    const bomb = gzipSync(new Uint8Array(16 * 1024 * 1024));
    expect(bomb.length).to.be.below(LIMITS.maxBytes);
    expect(rejected(() => decodeReportArchive(bomb, LIMITS))).to.equal(
      `gzip stream inflates past ${LIMITS.maxBytes} bytes (maxReportBytes); not read further`,
    );
  });

  it("stops a zip bomb at the cap and refuses a zip of several files", () => {
    const bomb = zipSync({ "report.xml": new Uint8Array(16 * 1024 * 1024) }, { level: 9 });
    expect(rejected(() => decodeReportArchive(bomb, LIMITS))).to.match(
      /^zip entry report\.xml inflates past 1048576 bytes/,
    );
    const two = zipSync({ "a.xml": strToU8("<a/>"), "b.xml": strToU8("<b/>") });
    expect(rejected(() => decodeReportArchive(two, LIMITS))).to.match(/more than one file/);
  });

  it("refuses an object above maxReportBytes before decoding it", () => {
    const big = gzipSync(fixture("google.xml"));
    expect(rejected(() => decodeReportArchive(big, { maxBytes: 100 }))).to.match(
      /above maxReportBytes 100/,
    );
  });

  it("refuses a truncated gzip, truncated XML and a message without a report", () => {
    const gz = gzipSync(fixture("google.xml"));
    expect(rejected(() => decodeReportArchive(gz.subarray(0, gz.length - 12), LIMITS))).to.match(
      /gzip stream is (truncated|corrupt)/,
    );
    const xml = fixture("google.xml");
    expect(rejected(() => parseAggregateReport(xml.slice(0, xml.length / 2), LIMITS))).to.match(
      /^XML is not well-formed/,
    );
    expect(
      rejected(() => readAggregateReport(strToU8("Subject: hi\r\n\r\nhello"), LIMITS)),
    ).to.equal("the message carries no gzip, zip or XML attachment");
  });

  it("refuses XML that is not a report and a row without a count", () => {
    expect(rejected(() => parseAggregateReport("<html><body/></html>", LIMITS))).to.match(
      /no <feedback> root/,
    );
    const noCount = fixture("google.xml").replace("<count>118</count>", "<count>many</count>");
    expect(rejected(() => parseAggregateReport(noCount, LIMITS))).to.equal(
      'record 1: row/count is "many"',
    );
  });
});

describe("DMARC aggregate reports: aggregation", () => {
  it("counts messages per (domain, selector, result, day) from row/count, ignoring other signers", () => {
    const reports = ["google.xml", "microsoft.xml", "yahoo-legacy.xml", "rfc9990.xml"].map((f) =>
      parseAggregateReport(fixture(f), LIMITS),
    );
    const { tallies, unplaced } = aggregateReports(reports, [DOMAIN]);
    expect(unplaced).to.equal(9);
    expect(
      tallies.map((t) => ({
        selector: t.selector,
        day: t.day,
        results: t.results,
        reports: t.reports,
      })),
    ).to.deep.equal([
      { selector: OLD, day: "2026-12-04", results: { fail: 9, temperror: 7 }, reports: 2 },
      {
        selector: NEW,
        day: "2026-12-04",
        results: { pass: 118 + 40 + 9 + 7, fail: 3 },
        reports: 4,
      },
    ]);
    expect(passFail(tallies[0]!.results)).to.deep.equal({ pass: 0, fail: 16 });
  });
});

// ---- the `reports` command -------------------------------------------------

const ACTIVATED = new Date("2026-12-01T00:00:00Z");
const NOW = new Date("2026-12-06T06:00:00Z");

function storedKey(selector: string, over: Partial<StoredKey> = {}): StoredKey {
  return {
    domain: DOMAIN,
    selector,
    secretName: `dkim/${DOMAIN}/${selector}`,
    createdAt: addDays(ACTIVATED, -20),
    publicKey: "MIIB",
    keyBits: 2048,
    state: "retired",
    ...over,
  };
}

function world(
  dmarcReports: Record<string, unknown> | undefined,
  objects: Record<string, Uint8Array>,
) {
  const config = parseProjectConfig(
    {
      identities: [{ domain: DOMAIN, selectorPrefix: "mail", regions: ["ap-northeast-1"] }],
      ...(dmarcReports ? { dmarcReports } : {}),
    },
    { file: "Pulumi.test.yaml", project: "ses-dkim-rotation" },
  );
  const keys = [
    storedKey(OLD, { state: "retired", activatedAt: addDays(ACTIVATED, -300) }),
    storedKey(NEW, { state: "active", activatedAt: ACTIVATED }),
  ];
  const tags: string[] = [];
  const published: MetricDatum[] = [];
  const sent: Notification[] = [];
  const logs: string[] = [];
  const processed = new Set<string>();
  const keyStore = {
    list: async () => keys,
    markReportSeen: async (_d: string, selector: string, at: Date) => {
      tags.push(`${selector}=${at.toISOString()}`);
      keys.find((k) => k.selector === selector)!.reportSeenAt = at;
    },
    markNotified: async (_d: string, selector: string, events: string[]) => {
      keys.find((k) => k.selector === selector)!.notified = events;
    },
  } as unknown as KeyStorePort;
  const source: DmarcReportSourcePort = {
    where: "s3://reports/dmarc/",
    list: async () =>
      Object.entries(objects)
        .filter(([k]) => !processed.has(k))
        .map(([key, v]) => ({ key, size: v.length })),
    read: async (key) => objects[key]!,
    markProcessed: async (key) => {
      processed.add(key);
    },
  };
  const ctx = {
    config,
    keys: keyStore,
    metrics: { publish: async (m: MetricDatum[]) => void published.push(...m) },
    clock: { now: () => NOW },
    log: {
      info: (m: string) => logs.push(`info: ${m}`),
      warn: (m: string) => logs.push(`warn: ${m}`),
      progress: () => {},
    },
    notices: {
      notifier: {
        send: async (n: Notification) => (sent.push(n), { messageId: `m${sent.length}` }),
      },
      text: noticeText,
      reminderDays: [],
    },
  } as unknown as EngineContext;
  return { ctx, source, keys, tags, published, sent, logs, processed };
}

const REPORTS = { bucket: "dkim-reports-example", region: "us-east-1" };

describe("DMARC aggregate reports: the reports command", () => {
  it("without a dmarcReports block reads nothing and says production proof is off", async () => {
    const w = world(undefined, { "dmarc/a": gzipSync(fixture("google.xml")) });
    const r = await runReports(w.ctx, w.source);
    expect(r.on).to.equal(false);
    expect(r.notes).to.deep.equal([
      "production proof from DMARC reports is off: the stack file has no dmarcReports block",
    ]);
    expect(w.processed.size).to.equal(0);
  });

  it("publishes pass/fail per selector, tags last sightings, marks reports, and a re-run reads nothing", async () => {
    const w = world(
      { ...REPORTS, failureShareAlarm: 0.05 },
      {
        "dmarc/google": gzipSync(fixture("google.xml")),
        "dmarc/yahoo": gzipSync(fixture("yahoo-legacy.xml")),
      },
    );
    const r = await runReports(w.ctx, w.source);
    expect(r.read).to.equal(2);
    expect(
      w.published.map(
        (m) => `${m.name} ${m.selector ?? "-"} ${m.value} ${m.at?.toISOString() ?? ""}`,
      ),
    ).to.deep.equal([
      `DmarcDkimPass ${OLD} 0 2026-12-04T00:00:00.000Z`,
      `DmarcDkimFail ${OLD} 9 2026-12-04T00:00:00.000Z`,
      `DmarcDkimPass ${NEW} 127 2026-12-04T00:00:00.000Z`,
      `DmarcDkimFail ${NEW} 3 2026-12-04T00:00:00.000Z`,
      `DmarcNewestSelectorFailureShare - ${3 / 130} `,
    ]);
    expect(w.tags).to.deep.equal([
      `${OLD}=2026-12-04T23:59:59.000Z`,
      `${NEW}=2026-12-04T23:59:59.000Z`,
    ]);
    expect(r.alarms).to.deep.equal([]);
    expect([...w.processed].sort()).to.deep.equal(["dmarc/google", "dmarc/yahoo"]);
    const again = await runReports(w.ctx, w.source);
    expect(again.read).to.equal(0);
    expect(w.tags).to.have.length(2);
  });

  it("logs and skips a truncated report, a malformed one and one without selectors, and counts the rest", async () => {
    const good = gzipSync(fixture("microsoft.xml"));
    const w = world(REPORTS, {
      "dmarc/truncated": good.subarray(0, good.length - 20),
      "dmarc/malformed": strToU8(fixture("google.xml").replace("</feedback>", "")),
      "dmarc/no-selector": gzipSync(fixture("no-selector.xml")),
      "dmarc/good": good,
    });
    const r = await runReports(w.ctx, w.source);
    expect(r.read).to.equal(1);
    expect(w.logs.filter((l) => l.startsWith("warn: reports: skipped"))).to.deep.equal([
      "warn: reports: skipped dmarc/truncated: gzip stream is corrupt or truncated (unexpected EOF)",
      "warn: reports: skipped dmarc/malformed: XML is not well-formed (line 2: Unclosed tag 'feedback'.)",
      "warn: reports: skipped dmarc/no-selector: legacy-receiver.example report legacy-42 names no DKIM selector; nothing to count per selector",
    ]);
    // Skipped reports are marked too: a re-run does not log them again.
    expect(w.processed.size).to.equal(4);
  });

  it("fires the alarm once when the newest selector's failure share passes the threshold", async () => {
    const failing = fixture("google.xml").replace("<count>3</count>", "<count>30</count>");
    const w = world({ ...REPORTS, failureShareAlarm: 0.1 }, { "dmarc/g": gzipSync(failing) });
    const r = await runReports(w.ctx, w.source);
    const line = `ALARM ${DOMAIN}: ${NEW} failed DKIM at 20.3% of 148 messages in receivers' reports since its activation 2026-12-01T00:00:00.000Z (threshold 10.0%)`;
    expect(r.alarms).to.deep.equal([line]);
    expect(w.logs).to.include(`warn: ${line}`);
    expect(w.sent.map((n) => `${n.event} ${n.selector} ${n.audience.join(",")}`)).to.deep.equal([
      `dmarc-failures ${NEW} approvers,dns-team,escalation`,
    ]);
    // A second batch that also breaches sends nothing new: once per key.
    const w2 = await runReports(w.ctx, {
      ...w.source,
      list: async () => [{ key: "dmarc/g2", size: 10 }],
      read: async () => gzipSync(failing),
    });
    expect(w2.alarms).to.have.length(1);
    expect(w.sent).to.have.length(1);
  });

  it("does not judge below minMessages, nor count reports that ended before the activation", async () => {
    const before = fixture("google.xml")
      .replace("<count>3</count>", "<count>300</count>")
      .replace("<begin>1796342400</begin>", "<begin>1764547200</begin>")
      .replace("<end>1796428799</end>", "<end>1764633599</end>");
    const w = world({ ...REPORTS, failureShareAlarm: 0.1 }, { "dmarc/old": gzipSync(before) });
    const r = await runReports(w.ctx, w.source);
    expect(r.verdicts).to.deep.equal([]);
    expect(r.alarms).to.deep.equal([]);
    const few = world(
      { ...REPORTS, failureShareAlarm: 0.1, minMessages: 500 },
      {
        "dmarc/g": gzipSync(fixture("google.xml").replace("<count>3</count>", "<count>30</count>")),
      },
    );
    const r2 = await runReports(few.ctx, few.source);
    expect(r2.verdicts[0]!.breaching).to.equal(undefined);
    expect(r2.alarms).to.deep.equal([]);
  });

  it("refuses a rua rule SES could not run or S3 would refuse: no canary, another bucket, Region or rule set, an overlapping prefix", () => {
    const canary = {
      region: "us-east-1",
      bucket: "proof-bucket",
      address: "canary@proof.example.net",
    };
    const parse = (reports: Record<string, unknown>, withCanary = true) =>
      parseProjectConfig(
        {
          identities: [{ domain: DOMAIN, selectorPrefix: "mail", regions: ["ap-northeast-1"] }],
          dmarcReports: {
            region: "us-east-1",
            bucket: "proof-bucket",
            ruaAddress: "d@r.example.jp",
            ...reports,
          },
          ...(withCanary ? { canary } : {}),
        },
        { file: "Pulumi.test.yaml", project: "ses-dkim-rotation" },
      );
    expect(parse({}).dmarcReports?.ruaAddress).to.equal("d@r.example.jp");
    const refusal = (reports: Record<string, unknown>, withCanary = true) => {
      try {
        parse(reports, withCanary);
      } catch (err) {
        expect(err).to.be.instanceOf(InputError);
        const m = (err as Error).message;
        expect(m.split("\n")).to.have.length(1);
        return m;
      }
      return expect.fail("expected a refusal");
    };
    expect(refusal({}, false)).to.match(
      /Pulumi\.test\.yaml.*field dmarcReports\.ruaAddress: needs the canary's receiving setup.*hint/,
    );
    expect(refusal({ bucket: "other-bucket" })).to.match(
      /field dmarcReports\.bucket: "other-bucket" is not the canary's bucket/,
    );
    expect(refusal({ region: "eu-west-1" })).to.match(
      /field dmarcReports\.region: eu-west-1 is not the canary's receiving Region/,
    );
    expect(refusal({ prefix: "canary/x/" })).to.match(
      /field dmarcReports\.prefix: .* overlaps the canary's prefix/,
    );
    expect(refusal({ ruleSetName: "other" })).to.match(
      /field dmarcReports\.ruleSetName: "other" is not the canary's active rule set/,
    );
  });

  it("refuses a bad dmarcReports block before anything is read, naming the field", () => {
    expect(() => world({ ...REPORTS, bucket: "Bad_Bucket" }, {})).to.throw(
      /dmarcReports\.bucket.*must be an S3 bucket name/,
    );
    expect(() => world({ ...REPORTS, failureShareAlarm: 5 }, {})).to.throw(
      /dmarcReports\.failureShareAlarm/,
    );
  });
});

describe("DMARC aggregate reports: the quiet-days retirement gate", () => {
  const old = (seen?: Date) => storedKey(OLD, seen ? { reportSeenAt: seen } : {});
  const active = (seen?: Date) =>
    storedKey(NEW, {
      state: "active",
      activatedAt: ACTIVATED,
      ...(seen ? { reportSeenAt: seen } : {}),
    });

  it("waits while reports saw the old selector within quietDays, and names the day it may go", () => {
    const seen = new Date(NOW.getTime() - 2 * DAY_MS);
    const q = reportQuiet(7, old(seen), active(seen), NOW);
    expect(q).to.deep.equal({
      ok: false,
      notBefore: addDays(seen, 7),
      why: `not until ${addDays(seen, 7).toISOString()}: receivers' reports still saw ${OLD} until ${seen.toISOString()} (dmarcReports.quietDays 7)`,
    });
  });

  it("goes ahead once the old selector has been quiet for quietDays while the new one is seen", () => {
    const q = reportQuiet(7, old(new Date(NOW.getTime() - 7 * DAY_MS)), active(NOW), NOW);
    expect(q.ok).to.equal(true);
    expect(q.why).to.match(/^reports have not seen mail-20260108 since/);
  });

  it("goes ahead and says why when no report data came for quietDays, or reports are off", () => {
    expect(reportQuiet(7, old(), active(), NOW)).to.deep.equal({
      ok: true,
      why: "no DMARC report data for 7+ days: retiring on the grace period alone",
    });
    expect(reportQuiet(undefined, old(NOW), active(NOW), NOW).why).to.match(/production proof/);
  });
});
