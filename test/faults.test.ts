/**
 * Fault injection (issue #5 part 1): every fault kind of the AWS emulator is
 * observed through the real SDK v3 clients, every DNS fault through the
 * engine's DnsVerifier, negative caching through a real unbound, and a short
 * seeded sandbox run under a 20% fault rate finishes, reproducibly.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import {
  CreateEmailIdentityCommand,
  GetEmailIdentityCommand,
  PutEmailIdentityDkimSigningAttributesCommand,
  SESv2Client,
} from "@aws-sdk/client-sesv2";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { DnsVerifier, queryTxt } from "../actions/dkim-rotation/src/adapters/dns";
import { SecretsKeyStore } from "../actions/dkim-rotation/src/adapters/secrets";
import { generateDkimKeyPair, type DkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import { summarizeDns } from "../actions/dkim-rotation/src/engine/snapshot";
import { dkimRecordValue } from "../actions/dkim-rotation/src/engine/record";
import {
  startAwsEmulator,
  type AwsEmulator,
  type AwsEmulatorFaults,
} from "../scripts/sandbox/aws-emulator";
import {
  mailDomainZone,
  startDnsServer,
  type DnsServer,
  type ZoneModel,
} from "../scripts/sandbox/dns-server";
import { FaultDecider, hashSeed, mulberry32 } from "../scripts/sandbox/faults";
import { runSandbox, type SandboxReport } from "../scripts/sandbox/run";
import { freePort, requireBinary } from "./helpers/bind";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const REGION = "ap-northeast-1";
const CREDENTIALS = { accessKeyId: "AKIDFAULTTEST0000000", secretAccessKey: "not-real" };
const DOMAIN = "example.test";
const T0 = new Date("2027-03-01T00:00:00Z");

function zone(serial: number, records: Record<string, string>, minimum = 300): ZoneModel {
  return mailDomainZone(DOMAIN, { serial, dkim: new Map(Object.entries(records)), minimum });
}

let keyA: DkimKeyPair;
let keyB: DkimKeyPair;
before(async () => {
  [keyA, keyB] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
});

describe("faults: seeded decisions", () => {
  it("mulberry32 is deterministic and spread over [0, 1)", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).to.deep.equal(xs);
    expect(Math.min(...xs)).to.be.at.least(0);
    expect(Math.max(...xs)).to.be.below(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).to.be.closeTo(0.5, 0.05);
  });

  it("decides by key and occurrence, not by arrival order, at about the rate", () => {
    const plan = { seed: 7, rate: 0.2, kinds: ["throttle", "slow"] as const };
    const one = new FaultDecider(plan);
    const two = new FaultDecider(plan);
    const keys = Array.from({ length: 2000 }, (_, i) => `op/${i % 50}`);
    const forward = keys.map((k) => one.decide(k));
    // Another interleaving of the same keys: per key, the n-th occurrence decides the same.
    const byKey = new Map<string, (string | undefined)[]>();
    for (const k of [...keys].reverse().sort()) {
      byKey.set(k, [...(byKey.get(k) ?? []), two.decide(k)]);
    }
    const seen = new Map<string, number>();
    for (let i = 0; i < keys.length; i++) {
      const n = seen.get(keys[i]!) ?? 0;
      seen.set(keys[i]!, n + 1);
      expect(byKey.get(keys[i]!)![n]).to.equal(forward[i]);
    }
    const faulted = forward.filter(Boolean).length;
    expect(faulted / keys.length).to.be.closeTo(0.2, 0.03);
    expect(one.counts()).to.deep.equal(two.counts());
    expect(hashSeed("ab", "c")).to.not.equal(hashSeed("a", "bc"));
  });
});

describe("faults: AWS emulator through the real SDK clients", function () {
  this.timeout(30_000);
  let aws: AwsEmulator;
  let now = T0;
  let txt: Record<string, string[][]> = {};
  const clients: { destroy(): void }[] = [];
  const ses = (extra: Record<string, unknown> = {}) => {
    const c = new SESv2Client({
      region: REGION,
      endpoint: aws.url,
      credentials: CREDENTIALS,
      maxAttempts: 5,
      retryMode: "adaptive",
      ...extra,
    });
    clients.push(c);
    return c;
  };
  const secrets = (extra: Record<string, unknown> = {}) => {
    const c = new SecretsManagerClient({
      region: REGION,
      endpoint: aws.url,
      credentials: CREDENTIALS,
      maxAttempts: 5,
      retryMode: "adaptive",
      ...extra,
    });
    clients.push(c);
    return c;
  };
  const withFaults = (plan: Omit<AwsEmulatorFaults, "seed"> & { seed?: number }) =>
    aws.faults.set({ seed: 1, ...plan });

  beforeEach(async () => {
    now = T0;
    txt = {};
    aws = await startAwsEmulator({
      clock: { now: () => now },
      lookupTxt: async (name) => txt[name] ?? "NXDOMAIN",
      sesRequestsPerSecond: 10_000,
      dkim: { firstCheckMinutes: 5, recheckMinutes: 30 },
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await aws.close();
  });

  it("throttling (429 TooManyRequestsException, ThrottlingException) is absorbed by SDK retries", async () => {
    withFaults({ rate: 0.3, kinds: ["throttle"] });
    const client = ses();
    await client.send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    for (let i = 0; i < 3; i++)
      await client.send(new GetEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    const sm = secrets();
    await sm.send(new CreateSecretCommand({ Name: "dkim/x/a", SecretString: "x" }));
    for (let i = 0; i < 3; i++) await sm.send(new DescribeSecretCommand({ SecretId: "dkim/x/a" }));
    const throttled = aws.calls({ outcome: "error" });
    expect(aws.faults.counts().throttle).to.be.greaterThan(0);
    expect(throttled.length).to.equal(aws.faults.counts().throttle);
    for (const c of throttled) {
      expect(c.fault).to.equal("throttle");
      expect(c.errorCode).to.equal(
        c.service === "ses" ? "TooManyRequestsException" : "ThrottlingException",
      );
      expect(c.status).to.equal(c.service === "ses" ? 429 : 400);
    }
  });

  it("5xx (500 InternalFailure, 503 ServiceUnavailable) is retried; the header carries the code", async () => {
    withFaults({ rate: 0.4, kinds: ["server-error"] });
    const client = ses();
    await client.send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    for (let i = 0; i < 10; i++)
      await client.send(new GetEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    const errors = aws.calls({ outcome: "error" });
    expect(errors.length).to.equal(aws.faults.counts()["server-error"]).and.greaterThan(1);
    expect(new Set(errors.map((e) => `${e.status} ${e.errorCode}`))).to.deep.equal(
      new Set(["500 InternalFailure", "503 ServiceUnavailable"]),
    );
    // The SDK read the code from x-amzn-errortype: a raw request shows the header.
    aws.faults.set({ seed: 3, rate: 1, kinds: ["server-error"] });
    const res = await fetch(`${aws.url}/v2/email/identities/${DOMAIN}`, {
      headers: {
        authorization: `AWS4-HMAC-SHA256 Credential=AKID/20270301/${REGION}/ses/aws4_request, SignedHeaders=host, Signature=${"0".repeat(64)}`,
      },
    });
    expect([500, 503]).to.include(res.status);
    expect(res.headers.get("x-amzn-errortype")).to.match(/^(InternalFailure|ServiceUnavailable)$/);
  });

  it("timeouts: a held request times out client-side and is retried; a lost response after CreateSecret leaves one secret", async () => {
    withFaults({ rate: 0.5, kinds: ["timeout"], timeoutHoldMs: 600 });
    // In timeout mode the clients need a requestTimeout shorter than the hold,
    // and (with this SDK) throwOnRequestTimeout: without it the timeout only logs a warning.
    const sm = secrets({ requestHandler: { requestTimeout: 150, throwOnRequestTimeout: true } });
    for (let i = 0; i < 6; i++) {
      await sm.send(
        new CreateSecretCommand({ Name: `dkim/example.test/s${i}`, SecretString: `value-${i}` }),
      );
    }
    const log = aws.faults.log();
    expect(log.length).to.equal(aws.faults.counts().timeout).and.greaterThan(0);
    const lost = log.filter((f) => /after the work was done/.test(f.detail));
    expect(lost.length, JSON.stringify(log)).to.be.greaterThan(0);
    // The retry carried the same ClientRequestToken: answered, not refused, no second secret/version.
    const list = aws.secrets.list();
    expect(list.map((s) => s.name).sort()).to.deep.equal(
      [0, 1, 2, 3, 4, 5].map((i) => `dkim/example.test/s${i}`),
    );
    for (const s of list) expect(s.versionCount).to.equal(1);
    expect(aws.calls().filter((c) => c.status === 0).length).to.equal(log.length);
  });

  it("timeouts: a DeleteSecret whose answer was lost still schedules each key once, read back as scheduled", async () => {
    const sm = secrets({ requestHandler: { requestTimeout: 150, throwOnRequestTimeout: true } });
    const store = new SecretsKeyStore({ client: sm as never, kmsKeyId: "alias/ses-dkim" });
    for (let i = 0; i < 8; i++)
      await sm.send(
        new CreateSecretCommand({
          Name: `dkim/${DOMAIN}/d${i}`,
          SecretString: `value-${i}`,
          Description: "p=MIIBIjANBgkq",
        }),
      );
    withFaults({ rate: 0.5, kinds: ["timeout"], timeoutHoldMs: 600 });
    for (let i = 0; i < 8; i++) {
      const when = await store.scheduleDeletion(DOMAIN, `d${i}`, 7);
      expect(when.toISOString()).to.equal(
        aws.secrets.get(REGION, `dkim/${DOMAIN}/d${i}`)!.deletionDate!.toISOString(),
      );
    }
    // At least one deletion went through with its answer lost: the SDK's retry met
    // InvalidRequestException ("already scheduled"), which the store read as done.
    const lost = aws.faults
      .log()
      .filter((f) => f.operation === "DeleteSecret" && /after the work was done/.test(f.detail));
    expect(lost.length, JSON.stringify(aws.faults.log())).to.be.greaterThan(0);
    expect(
      aws.calls().filter((c) => c.operation === "DeleteSecret" && c.status === 400).length,
    ).to.be.greaterThan(0);
  });

  it("slow responses arrive late but arrive", async () => {
    withFaults({ rate: 1, kinds: ["slow"], slowMs: 200 });
    const client = ses();
    const started = performance.now();
    await client.send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    expect(performance.now() - started).to.be.at.least(190);
    expect(aws.faults.counts()).to.deep.equal({ slow: 1 });
    expect(aws.calls({ outcome: "ok" })).to.have.length(1);
  });

  const put = (client: SESv2Client, selector: string, key: DkimKeyPair) =>
    client.send(
      new PutEmailIdentityDkimSigningAttributesCommand({
        EmailIdentity: DOMAIN,
        SigningAttributesOrigin: "EXTERNAL",
        SigningAttributes: {
          DomainSigningSelector: selector,
          DomainSigningPrivateKey: key.sesPrivateKey,
        },
      }),
    );
  const status = async (client: SESv2Client) =>
    (await client.send(new GetEmailIdentityCommand({ EmailIdentity: DOMAIN }))).DkimAttributes
      ?.Status;
  const at = async (ms: number) => {
    now = new Date(T0.getTime() + ms);
    await aws.advance();
  };
  const HOUR = 3_600_000;

  it("SES status: a PUT stuck in PENDING never verifies (FAILED at 72 h); a verified selector is spared", async () => {
    const client = ses();
    txt[`a._domainkey.${DOMAIN}`] = [[dkimRecordValue(keyA.publicKey)]];
    txt[`b._domainkey.${DOMAIN}`] = [[dkimRecordValue(keyB.publicKey)]];
    await client.send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    await put(client, "a", keyA);
    await at(HOUR);
    expect(await status(client)).to.equal("SUCCESS");

    withFaults({ rate: 1, kinds: ["dkim-stuck-pending"] });
    await put(client, "b", keyB);
    await at(3 * HOUR);
    expect(await status(client)).to.equal("PENDING");
    expect(aws.ses.identity(REGION, DOMAIN)?.statusFault).to.equal("dkim-stuck-pending");
    // Rollback to the verified "a": not faulted, verifies at the first check.
    await put(client, "a", keyA);
    await at(4 * HOUR);
    expect(await status(client)).to.equal("SUCCESS");
    expect(aws.faults.counts()).to.deep.equal({ "dkim-stuck-pending": 1 });

    await put(client, "b", keyB);
    await at(4 * HOUR + 73 * HOUR);
    expect(await status(client)).to.equal("FAILED");
  });

  it("SES status: a PUT that becomes FAILED at the first check", async () => {
    const client = ses();
    txt[`b._domainkey.${DOMAIN}`] = [[dkimRecordValue(keyB.publicKey)]];
    await client.send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    withFaults({ rate: 1, kinds: ["dkim-failed"] });
    await put(client, "b", keyB);
    expect(await status(client)).to.equal("PENDING");
    await at(10 * 60_000);
    const out = await client.send(new GetEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    expect(out.DkimAttributes?.Status).to.equal("FAILED");
    expect(out.VerificationInfo?.ErrorType).to.equal("INVALID_VALUE");
    expect(aws.faults.counts()).to.deep.equal({ "dkim-failed": 1 });
  });

  it("spares SendEmail (data plane) and counts nothing without a plan", async () => {
    const client = ses();
    // An address identity may send at once (a domain waits for its Easy DKIM CNAMEs).
    await client.send(new CreateEmailIdentityCommand({ EmailIdentity: `a@${DOMAIN}` }));
    expect(aws.faults.counts()).to.deep.equal({});
    withFaults({ rate: 1, kinds: ["throttle"] });
    const raw = `From: a@${DOMAIN}\r\nTo: b@inbox.test\r\nSubject: x\r\n\r\nhi\r\n`;
    const res = await fetch(`${aws.url}/v2/email/outbound-emails`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `AWS4-HMAC-SHA256 Credential=AKID/20270301/${REGION}/ses/aws4_request, SignedHeaders=host, Signature=${"0".repeat(64)}`,
      },
      body: JSON.stringify({
        Content: { Raw: { Data: Buffer.from(raw).toString("base64") } },
        Destination: { ToAddresses: ["b@inbox.test"] },
      }),
    });
    expect(res.status).to.equal(200);
    expect(aws.faults.counts()).to.deep.equal({});
  });
});

describe("faults: DNS server answers through the engine's DnsVerifier", function () {
  this.timeout(20_000);
  let ns1: DnsServer;
  let ns2: DnsServer;
  let servers: string[];
  const verifier = new DnsVerifier({ timeoutMs: 500, tries: 1 });

  beforeEach(async () => {
    ns1 = await startDnsServer();
    ns2 = await startDnsServer();
    servers = [`127.0.0.1:${ns1.port}`, `127.0.0.1:${ns2.port}`];
    for (const ns of [ns1, ns2]) {
      ns.setZone(DOMAIN, zone(1, {}));
      ns.setZone(DOMAIN, zone(2, { s1: dkimRecordValue(keyA.publicKey) }));
    }
  });
  afterEach(async () => {
    await ns1.close();
    await ns2.close();
  });

  const verifyS1 = () => verifier.verify(DOMAIN, "s1", keyA.publicKey, servers);

  it("without faults both servers serve the key", async () => {
    const v = await verifyS1();
    expect(v.ok, summarizeDns(v)).to.equal(true);
  });

  it("stale: one of two servers answers from the old serial; the report names that server", async () => {
    ns2.setFaults({ seed: 1, rate: 1, kinds: ["stale"], label: "ns2" });
    const v = await verifyS1();
    expect(v.ok).to.equal(false);
    expect(v.servers.map((s) => [s.server, s.status])).to.deep.equal([
      [servers[0], "ok"],
      [servers[1], "missing"],
    ]);
    expect(summarizeDns(v)).to.equal(
      `${servers[1]}: missing (NXDOMAIN: s1._domainkey.${DOMAIN} does not exist on this server)`,
    );
    expect(ns2.faultCounts()).to.deep.equal({ stale: 1 });
    expect(ns2.faultLog()[0]!.detail).to.equal("answered from serial 1 instead of 2");
  });

  it("wrong key: mismatch on tag p", async () => {
    ns1.setFaults({ seed: 1, rate: 1, kinds: ["wrong-key"] });
    const v = await verifyS1();
    expect(v.servers[0]!.status).to.equal("mismatch");
    expect(v.servers[0]!.detail).to.match(/^tag p: /);
    expect(v.servers[1]!.status).to.equal("ok");
  });

  it("a string over 255 bytes, badly encoded: the packet is malformed", async () => {
    ns2.setFaults({ seed: 1, rate: 1, kinds: ["oversized-string"] });
    const v = await verifyS1();
    expect(v.servers[1]!.status, v.servers[1]!.detail).to.equal("malformed");
    expect(v.servers[1]!.detail).to.match(/unparseable response \(EBADRESP\)/);
    expect(v.servers[0]!.status).to.equal("ok");
  });

  it("truncated record: p= cut short does not pass", async () => {
    ns1.setFaults({ seed: 1, rate: 1, kinds: ["truncated"] });
    const v = await verifyS1();
    expect(v.ok).to.equal(false);
    // The first 255 bytes end inside p=: base64 of no whole SubjectPublicKeyInfo.
    expect(v.servers[0]!.status, v.servers[0]!.detail).to.equal("malformed");
    expect(v.servers[0]!.detail).to.match(/p=/);
    expect(ns1.faultLog()[0]!.detail).to.match(/^record cut to 255 of \d+ bytes$/);
  });

  it("faults only the names `applies` selects, at the seeded rate", async () => {
    ns1.setFaults({
      seed: 9,
      rate: 1,
      kinds: ["wrong-key"],
      applies: (name) => name.startsWith("s2."),
    });
    expect((await verifyS1()).ok).to.equal(true);
    expect(ns1.faultCounts()).to.deep.equal({});
  });
});

describe("faults: negative caching through a real unbound", function () {
  this.timeout(30_000);
  let unbound: ChildProcess | undefined;
  let ns: DnsServer | undefined;
  let dir: string | undefined;

  after(async () => {
    unbound?.kill("SIGTERM");
    await ns?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a selector queried before publication stays NXDOMAIN in the cache until the SOA minimum passes; the authoritative server has it at once", async function () {
    const bin = requireBinary(this, "unbound");
    const NEGATIVE_TTL_S = 3;
    ns = await startDnsServer();
    ns.setZone(DOMAIN, zone(1, {}, NEGATIVE_TTL_S));
    dir = mkdtempSync(join(tmpdir(), "faults-unbound-"));
    const port = await freePort();
    const conf = join(dir, "unbound.conf");
    writeFileSync(
      conf,
      [
        "server:",
        "  interface: 127.0.0.1",
        `  port: ${port}`,
        "  do-daemonize: no",
        "  use-syslog: no",
        '  logfile: ""',
        '  username: ""',
        '  chroot: ""',
        `  directory: "${dir}"`,
        `  pidfile: "${join(dir, "unbound.pid")}"`,
        "  access-control: 127.0.0.0/8 allow",
        // Queries go to the loopback stub; `test.` is a locally served zone by default.
        "  do-not-query-localhost: no",
        '  local-zone: "test." nodefault',
        '  module-config: "iterator"',
        "  num-threads: 1",
        "  so-reuseport: no",
        "  qname-minimisation: no",
        "  verbosity: 0",
        "stub-zone:",
        `  name: "${DOMAIN}."`,
        `  stub-addr: 127.0.0.1@${ns.port}`,
        "",
      ].join("\n"),
    );
    unbound = spawn(bin, ["-d", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    unbound.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const viaUnbound = () =>
      queryTxt(`127.0.0.1:${port}`, `s1._domainkey.${DOMAIN}`, { timeout: 500, tries: 1 });
    // Wait for unbound to answer at all.
    const deadline = Date.now() + 10_000;
    let first: Awaited<ReturnType<typeof queryTxt>> | undefined;
    while (!first) {
      try {
        first = await viaUnbound();
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`unbound did not answer: ${stderr || String(err)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // 1. Someone asks for the selector before it is published: NXDOMAIN, now cached.
    expect(first).to.equal("NXDOMAIN");
    const askedAt = Date.now();
    // 2. The DNS team publishes.
    ns.setZone(DOMAIN, zone(2, { s1: dkimRecordValue(keyA.publicKey) }));
    // 3. The authoritative server serves it at once (what the engine's verifier asks)...
    const direct = await new DnsVerifier({ timeoutMs: 500, tries: 1 }).verify(
      DOMAIN,
      "s1",
      keyA.publicKey,
      [`127.0.0.1:${ns.port}`],
    );
    expect(direct.ok, summarizeDns(direct)).to.equal(true);
    // ...while the caching resolver still answers from its negative cache.
    expect(await viaUnbound()).to.equal("NXDOMAIN");
    // 4. After min(SOA TTL, SOA MINIMUM) the cache lets go (RFC 2308 §5).
    let answer = await viaUnbound();
    while (answer === "NXDOMAIN" && Date.now() - askedAt < 15_000) {
      await new Promise((r) => setTimeout(r, 200));
      answer = await viaUnbound();
    }
    const visibleAfterMs = Date.now() - askedAt;
    expect(answer).to.not.equal("NXDOMAIN");
    expect((answer as string[][]).map((s) => s.join(""))).to.deep.equal([
      dkimRecordValue(keyA.publicKey),
    ]);
    expect(visibleAfterMs).to.be.at.least(NEGATIVE_TTL_S * 1000 - 500);
  });
});

describe("faults: an SES status fault on the first switch from Easy DKIM, under both readings", function () {
  this.timeout(300_000);
  // Only SES status faults; seed 8 fails news.example's first BYODKIM activation
  // (SES FAILED at the first check).
  for (const reading of ["new-tokens", "same-tokens"] as const) {
    it(`${reading}: ${reading === "new-tokens" ? "Easy DKIM is no way back, the key verifies on a second try" : "back on Easy DKIM with SES SUCCESS"}; 0 failed signatures`, async () => {
      const out = mkdtempSync(join(tmpdir(), "faults-easy-"));
      const lines: string[] = [];
      try {
        const r = await runSandbox({
          out,
          years: 0.1,
          naive: false,
          faults: { rate: 0.2, seed: 8, aws: ["dkim-failed"], dns: [] },
          easyDkimSwitchBack: reading,
          print: (l) => lines.push(l),
        });
        expect(r.ok, r.verdict).to.equal(true);
        expect(r.failed).to.equal(0);
        expect(r.unsignedOutsidePending).to.equal(0);
        const news = lines.filter((l) => l.includes("news.example"));
        if (reading === "new-tokens")
          expect(news.join("\n")).to.match(
            /SES signs with news-\d+ in ap-northeast-1 on a second try \(the first did not verify: SES FAILED/,
          );
        else expect(news.join("\n")).to.match(/rolled back to Easy DKIM \(SES SUCCESS\)/);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  }
});

describe("faults: a seeded sandbox run at a 20% fault rate", function () {
  this.timeout(600_000);
  const outs: string[] = [];
  let twoYears: SandboxReport;
  const reports: SandboxReport[] = [];
  const timelines: string[][] = [];

  before(async () => {
    const run = async (years: number, seed: number) => {
      const out = mkdtempSync(join(tmpdir(), "faults-sandbox-"));
      outs.push(out);
      const lines: string[] = [];
      timelines.push(lines);
      return runSandbox({
        out,
        years,
        naive: false,
        faults: { rate: 0.2, seed },
        print: (l) => lines.push(l),
      });
    };
    // The run: two simulated years (two rotations per domain) under
    // faults throughout. Seed 42 is the run docs/reliability.md quotes.
    twoYears = await run(2, 42);
    // Reproducibility: the same seed twice over a shorter span (each legacy key rotates once).
    for (let i = 0; i < 2; i++) reports.push(await run(0.45, 7));
  });
  after(() => {
    for (const out of outs) rmSync(out, { recursive: true, force: true });
  });

  it("two years finish with 0 failed signatures, every swap DNS-verified, no duplicate key or PR", () => {
    const r = twoYears;
    expect(r.ok, r.verdict).to.equal(true);
    expect(r.failed).to.equal(0);
    expect(r.unsignedOutsidePending).to.equal(0);
    expect(r.messages).to.equal(r.verified + r.unsigned);
    expect(r.swaps).to.be.greaterThan(0);
    expect(r.unverifiedSwaps).to.equal(0);
    expect(r.duplicateKeys).to.equal(0);
    expect(r.duplicatePrs).to.equal(0);
    expect(r.overwrittenSecrets).to.equal(0);
    expect(r.stalledDomains).to.deep.equal([]);
    // Each failed job is an error, a refusal or a rollback, and each error's job ran again.
    const f = r.faults!;
    expect(r.workflows!.jobs.failure).to.equal(
      f.errors.length + f.refusals.length + f.rollbacks.length,
    );
    expect(f.errors.filter((e) => !e.retriedAt)).to.deep.equal([]);
    // Liveness: onboarding and a rotation (at least) per domain in two years, despite the faults.
    for (const domain of ["shop.example", "news.example"])
      expect(
        r.rotations.filter((x) => x.domain === domain && x.activatedAt),
        domain,
      ).to.have.length.at.least(2);
  });

  it("injected every kind, the SDK absorbed the AWS faults, and each SES status fault ended in a rollback or a second try", () => {
    const f = twoYears.faults!;
    for (const kind of ["throttle", "server-error", "timeout", "slow"] as const)
      expect(f.injected[kind], kind).to.be.greaterThan(10);
    for (const kind of ["stale", "wrong-key", "oversized-string", "truncated"] as const)
      expect(f.injected[kind], kind).to.be.greaterThan(0);
    expect(f.failedCalls).to.be.greaterThan(100);
    const statusFaults = (f.injected["dkim-failed"] ?? 0) + (f.injected["dkim-stuck-pending"] ?? 0);
    expect(statusFaults).to.be.greaterThan(0);
    // Each status fault ends in a rollback; so may a faulted answer to SES's own
    // check of a candidate (DNS faults hit those too), never a swap on a bad answer.
    // Leaving Easy DKIM under the new-tokens reading there is no way back: the
    // action swaps once more to the same key, which then verifies ("on a second try").
    const secondTries = timelines[0]!.filter((l) => / on a second try \(/.test(l)).length;
    expect(f.rollbacks.length + secondTries).to.be.at.least(statusFaults);
    for (const rb of f.rollbacks) expect(rb.message).to.match(/rolled back to \S+ \(SES SUCCESS\)/);
    // A rolled-back candidate is retired and replaced, never offered again.
    expect(twoYears.rotations.filter((x) => x.rolledBackAt)).to.have.length(f.rollbacks.length);
  });

  it("every refusal names the server and what it served instead", () => {
    const f = twoYears.faults!;
    expect(f.refusals.length).to.be.greaterThan(0);
    expect(f.refusalsWithoutServer).to.equal(0);
    for (const r of f.refusals)
      expect(r.message).to.match(
        /refused: DNS not verified: 127\.0\.0\.1:\d+: (missing|mismatch|malformed) \(.+\)/,
      );
  });

  it("is reproducible: the same seed gives the same faults, refusals and figures", () => {
    const [a, b] = reports as [SandboxReport, SandboxReport];
    const figures = (r: SandboxReport) => ({
      injected: r.faults!.injected,
      refusals: r.faults!.refusals.map((x) => x.at),
      rollbacks: r.faults!.rollbacks.map((x) => x.at),
      errors: r.faults!.errors.map((x) => `${x.at} ${x.job}`),
      messages: r.messages,
      verified: r.verified,
      unsigned: r.unsigned,
      swaps: r.swaps,
      rotations: r.rotations.map(({ to, generatedAt, activatedAt }) => ({
        to,
        generatedAt,
        activatedAt,
      })),
    });
    expect(a.ok, a.verdict).to.equal(true);
    expect(figures(b)).to.deep.equal(figures(a));
    // The report.md documents the rule and the figures.
    const md = readFileSync(join(outs[1]!, "report.md"), "utf8");
    expect(md).to.match(/## Faults \(rate 0\.2, seed 7\)/);
    expect(md).to.match(/audited against the zones/);
  });
});
