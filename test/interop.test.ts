/**
 * DNS interop tier (issue #5): what the sandbox produced, checked by the DNS
 * software the DNS team and receivers actually run — not by our own parser.
 *
 * One short sandbox run (0.4 simulated years: one rotation and the old
 * selector's retirement per domain), then:
 * 1. every record file in out/repo/dns/** passes `named-checkzone` when
 *    `$INCLUDE`d into a zone (the way the DNS team adds it), and every zone
 *    version the sandbox served (out/zones/, which holds the removed records
 *    too) passes `named-checkzone` as it is;
 * 2. BIND serves those zones, and the engine's `DnsVerifier.verify` passes
 *    through BIND directly (the 255-byte string splitting survives a real
 *    server's wire format);
 * 3. `opendkim-testkey` cross-checks the SES-format private key (PKCS#1 DER,
 *    written as PEM to a temp file and deleted after) against the record BIND
 *    publishes, resolving through libunbound (`ResolverConfiguration`) with a
 *    stub zone that points at BIND.
 *
 * The binaries come from .ci/install-dns.sh; locally the suite is skipped if
 * they are missing, under CI it fails (test/helpers/bind.ts).
 */
import { execFile } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { DnsVerifier } from "../actions/dkim-rotation/src/adapters/dns";
import { fromSesPrivateKey, sesPrivateKeyToPem } from "../actions/dkim-rotation/src/engine/keys";
import { parseRecordFile } from "../actions/dkim-rotation/src/engine/record";
import { runSandbox, type SandboxReport } from "../scripts/sandbox/run";
import { checkZone, requireBinary, startBind, type BindServer } from "./helpers/bind";

const execFileAsync = promisify(execFile);

interface RecordFile {
  domain: string;
  selector: string;
  path: string;
  publicKey: string;
}

/** Checks that ran (the figure for docs/reliability.md). */
const checks: Record<string, number> = {};
const count = (what: string) => (checks[what] = (checks[what] ?? 0) + 1);

describe("DNS interop: sandbox output through named-checkzone, BIND, libunbound and opendkim-testkey", function () {
  this.timeout(120_000);
  let bins: { named: string; checkzone: string; testkey: string };
  let work: string;
  let out: string;
  let report: SandboxReport;
  /** Every private key the run created or read, in SES format (base64 PKCS#1 DER). */
  const keys: string[] = [];
  let records: RecordFile[] = [];
  let bind: BindServer | undefined;

  before(async function () {
    bins = {
      named: requireBinary(this, "named"),
      checkzone: requireBinary(this, "named-checkzone"),
      testkey: requireBinary(this, "opendkim-testkey"),
    };
    work = mkdtempSync(join(tmpdir(), "dkim-interop-"));
    out = join(work, "sandbox-out");
    report = await runSandbox({
      out,
      years: 0.4,
      naive: false,
      onSecret: (s) => keys.push(s),
    });
    const dns = join(out, "repo", "dns");
    records = readdirSync(dns, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) =>
        readdirSync(join(dns, d.name))
          .filter((n) => n.endsWith(".zone"))
          .map((n) => {
            const path = join(dns, d.name, n);
            const parsed = parseRecordFile(readFileSync(path, "utf8"), path);
            return {
              domain: d.name,
              selector: n.replace(/\.zone$/, ""),
              path,
              publicKey: parsed.tags.get("p") ?? "",
            };
          }),
      );
  });
  after(async function () {
    await bind?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    const total = Object.values(checks).reduce((a, b) => a + b, 0);
    if (total)
      console.log(
        `      interop checks: ${total} (${Object.entries(checks)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")})`,
      );
  });

  /** A zone for `domain` that `$INCLUDE`s each of its record files, as the DNS team would. */
  function includingZone(domain: string): string {
    const file = join(work, `${domain}.db`);
    writeFileSync(
      file,
      [
        "$TTL 3600",
        `@ IN SOA ns1.${domain}. hostmaster.${domain}. ( 2027010101 3600 600 604800 300 )`,
        `@ IN NS ns1.${domain}.`,
        "ns1 IN A 127.0.0.1",
        ...records.filter((r) => r.domain === domain).map((r) => `$INCLUDE "${r.path}"`),
        "",
      ].join("\n"),
    );
    return file;
  }
  const domains = () => [...new Set(records.map((r) => r.domain))].sort();

  it("the sandbox rotated every domain once and retired the old selector", function () {
    expect(report.ok, report.verdict).to.equal(true);
    expect(domains().length).to.be.greaterThan(0);
    for (const d of domains()) {
      const rotation = report.rotations.find((r) => r.domain === d && r.activatedAt);
      expect(rotation, d).to.not.equal(undefined);
      const selectors = records.filter((r) => r.domain === d).map((r) => r.selector);
      expect(selectors).to.include(rotation!.to);
      // The old selector's record left the repository; its last zone is in out/zones/.
      if (rotation!.from) expect(selectors).to.not.include(rotation!.from);
    }
  });

  it("every record file passes named-checkzone when $INCLUDEd", async function () {
    for (const d of domains()) {
      const result = await checkZone(bins.checkzone, d, includingZone(d));
      count("named-checkzone ($INCLUDE)");
      expect(result.ok, result.output).to.equal(true);
      expect(result.output).to.match(/OK/);
    }
  });

  it("every zone version the sandbox served (removed records included) passes named-checkzone", async function () {
    const archive = readdirSync(join(out, "zones")).filter((n) => n.endsWith(".zone"));
    expect(archive.length).to.be.greaterThan(domains().length);
    for (const name of archive) {
      const origin = name.replace(/\.\d+\.zone$/, "");
      const result = await checkZone(bins.checkzone, origin, join(out, "zones", name));
      count("named-checkzone (served zone)");
      expect(result.ok, `${name}: ${result.output}`).to.equal(true);
    }
  });

  it("BIND serves them and DnsVerifier.verify passes through BIND directly", async function () {
    bind = await startBind(
      bins.named,
      domains().map((d) => ({ origin: d, file: includingZone(d) })),
    );
    const verifier = new DnsVerifier({ timeoutMs: 1000, tries: 2 });
    for (const r of records) {
      const v = await verifier.verify(r.domain, r.selector, r.publicKey, [bind.server]);
      count("verify through BIND");
      expect(v.ok, JSON.stringify(v.servers)).to.equal(true);
      expect(v.servers.map((s) => s.status)).to.deep.equal(["ok"]);
    }
    // And a wrong key is a mismatch through BIND too (the check can fail).
    const [first, second] = records;
    if (first && second) {
      const v = await verifier.verify(first.domain, first.selector, second.publicKey, [
        bind.server,
      ]);
      count("verify through BIND");
      expect(v.servers[0]!.status).to.equal("mismatch");
    }
  });

  it("opendkim-testkey accepts the SES-format key against the record BIND serves (via libunbound)", async function () {
    if (!bind) this.skip();
    const keyDir = mkdtempSync(join(tmpdir(), "dkim-interop-key-"));
    try {
      // libunbound reads this file: no root hints or DNSSEC, each domain stubbed to BIND.
      const unboundConf = join(keyDir, "unbound.conf");
      writeFileSync(
        unboundConf,
        [
          "server:",
          "  do-not-query-localhost: no",
          '  module-config: "iterator"',
          "  verbosity: 0",
          ...domains().flatMap((d) => [
            "stub-zone:",
            `  name: "${d}"`,
            `  stub-addr: 127.0.0.1@${bind!.port}`,
          ]),
          "",
        ].join("\n"),
      );
      const conf = join(keyDir, "opendkim.conf");
      writeFileSync(conf, `ResolverConfiguration ${unboundConf}\n`);
      for (const r of records) {
        // The stored key for this selector: the one whose public key is the record's p=.
        const secret = keys.find((k) => {
          try {
            return fromSesPrivateKey(k).publicKey === r.publicKey;
          } catch {
            return false; // a KMS-wrapped or operator-format secret: not a plain SES key
          }
        });
        expect(secret, `no stored key for ${r.selector}`).to.be.a("string");
        const keyFile = join(keyDir, `${r.selector}.private`);
        writeFileSync(keyFile, sesPrivateKeyToPem(secret!), { mode: 0o600 });
        chmodSync(keyFile, 0o600);
        let output: string;
        try {
          const res = await execFileAsync(
            bins.testkey,
            ["-d", r.domain, "-s", r.selector, "-k", keyFile, "-x", conf, "-vvv"],
            { timeout: 20_000 },
          );
          output = res.stdout + res.stderr;
        } catch (err) {
          const e = err as { stdout?: string; stderr?: string; message: string };
          expect.fail(`opendkim-testkey ${r.selector}: ${e.stdout ?? ""}${e.stderr ?? e.message}`);
        } finally {
          rmSync(keyFile, { force: true });
        }
        count("opendkim-testkey");
        expect(output, output).to.match(/key OK/);
      }
      // A key that does not belong to the record is refused (the check can fail).
      const r = records[0]!;
      const wrong = keys.find((k) => fromSesPrivateKey(k).publicKey !== r.publicKey)!;
      const keyFile = join(keyDir, "wrong.private");
      writeFileSync(keyFile, sesPrivateKeyToPem(wrong), { mode: 0o600 });
      const refused = await execFileAsync(
        bins.testkey,
        ["-d", r.domain, "-s", r.selector, "-k", keyFile, "-x", conf, "-vvv"],
        { timeout: 20_000 },
      ).then(
        (res) => ({ ok: true, output: res.stdout + res.stderr }),
        (e: { stdout?: string; stderr?: string }) => ({
          ok: false,
          output: `${e.stdout ?? ""}${e.stderr ?? ""}`,
        }),
      );
      count("opendkim-testkey");
      expect(refused.ok, refused.output).to.equal(false);
      expect(refused.output).to.match(/do not match/);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
      expect(existsSync(keyDir)).to.equal(false);
    }
  });
});
