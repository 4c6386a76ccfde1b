/**
 * The bad-input corpus (docs/design.md#invariant-6-bad-input-fails-early, issue #5): config files, CLI
 * arguments, action inputs, record files and malformed SES or DNS answers.
 *
 * For every CLI / action case: a non-zero exit (or `core.setFailed`), ONE
 * line that names the file, the identity and the field where they apply, no
 * stack trace, and nothing written — no secret created, no SES key swap, no
 * file or lock in the checkout, no branch or PR. Malformed DNS answers end in
 * a per-server `malformed` verdict that names the server.
 *
 * Most CLI cases run in-process through `main(argv)` (the same function the
 * executable runs; stdout/stderr captured); a handful spawn the real process
 * to prove it behaves the same.
 */
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { DnsVerifier } from "../actions/dkim-rotation/src/adapters/dns";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";
import {
  generateDkimKeyPair,
  publicKeyFingerprint,
  type DkimKeyPair,
} from "../actions/dkim-rotation/src/engine/keys";
import {
  dkimRecordValue,
  recordPath,
  renderRecordFile,
  splitTxt,
} from "../actions/dkim-rotation/src/engine/record";
import { readInputs } from "../actions/dkim-rotation/src/inputs";
import { runEntryPoint } from "./helpers/entry-point";
import { main } from "../scripts/dkim";
import { startAwsEmulator, type AwsEmulator } from "../scripts/sandbox/aws-emulator";
import {
  soaFor,
  startDnsServer,
  type DnsServer,
  type ZoneRecord,
} from "../scripts/sandbox/dns-server";
import { startGitHubFake, type GitHubFake } from "../scripts/github-fake";
import { offlineAwsEnv } from "./helpers/offline-env";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REGION = "ap-northeast-1";
const DOMAIN = "bad.example";
const CHILD_ENV = offlineAwsEnv({
  accessKeyId: "AKIDBADINPUT00000000",
  secretAccessKey: "bad-input-secret-not-real",
});

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** `main(argv)` in this process, with stdout/stderr captured and the exit code isolated. */
async function cliInProcess(argv: string[]): Promise<Outcome> {
  const out: string[] = [];
  const err: string[] = [];
  const savedOut = process.stdout.write;
  const savedErr = process.stderr.write;
  const savedEnv = { ...process.env };
  const savedExit = process.exitCode;
  process.exitCode = undefined;
  Object.assign(process.env, CHILD_ENV);
  const capture =
    (into: string[]) =>
    (chunk: string | Uint8Array): boolean => {
      into.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      return true;
    };
  process.stdout.write = capture(out) as typeof process.stdout.write;
  process.stderr.write = capture(err) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(argv);
  } finally {
    process.stdout.write = savedOut;
    process.stderr.write = savedErr;
    process.exitCode = savedExit;
    for (const k of Object.keys(CHILD_ENV)) if (!(k in savedEnv)) delete process.env[k];
  }
  return { code, stdout: out.join(""), stderr: err.join("") };
}

/** The real executable. */
function cliChild(argv: string[]): Promise<Outcome> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/dkim.ts", ...argv],
      { cwd: ROOT, env: { ...process.env, ...CHILD_ENV }, timeout: 55_000 },
      (e, stdout, stderr) =>
        done({ code: e ? (typeof e.code === "number" ? e.code : -1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Every file and folder under `dir` (folders end in `/`), relative, sorted:
 * what "nothing written" compares, so an empty lock folder or a temp file
 * left behind shows. Symbolic links are listed, not followed.
 */
function tree(dir: string): string[] {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((n) => {
      const p = join(d, n);
      const s = lstatSync(p);
      return s.isDirectory() ? [`${relative(dir, p)}/`, ...walk(p)] : [relative(dir, p)];
    });
  return walk(dir).sort();
}

const SOA = soaFor("bad.example.");

/** Cases run, by category (the figure for docs/reliability.md). */
const tally: Record<string, number> = {};
const count = (category: string) => (tally[category] = (tally[category] ?? 0) + 1);

describe("bad-input corpus", function () {
  this.timeout(60_000);
  let emulator: AwsEmulator;
  let github: GitHubFake;
  let ns: DnsServer;
  let dir: string;
  let good: DkimKeyPair;
  let small: DkimKeyPair;

  before(async function () {
    [good, small] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(1024)]);
    emulator = await startAwsEmulator({ sesRequestsPerSecond: 1000 });
    github = await startGitHubFake({ owner: "example-jp", repo: "bad" });
    const ses = new SESv2Client({
      region: REGION,
      endpoint: emulator.url,
      credentials: { accessKeyId: "AKIDSETUP", secretAccessKey: "setup" },
    });
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    ses.destroy();
    ns = await startDnsServer({
      zones: {
        [DOMAIN]: {
          serial: 1,
          ttl: 300,
          soa: SOA,
          records: [{ name: "@", type: "NS", data: "ns1.bad.example." }],
        },
      },
    });
  });
  after(async function () {
    await emulator?.close();
    await github?.close();
    await ns?.close();
    const total = Object.values(tally).reduce((a, b) => a + b, 0);
    if (total)
      console.log(
        `      bad inputs tried: ${total} (${Object.entries(tally)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")})`,
      );
  });
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), "dkim-bad-"));
    // A checkout: --repo must be a work tree with dns/ (or .git).
    mkdirSync(join(dir, "dns"));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  const identity = (extra: string[] = []) =>
    [
      `    - domain: ${DOMAIN}`,
      "      selectorPrefix: bad",
      `      nameservers: ['127.0.0.1:${ns.port}']`,
      ...extra,
    ].join("\n");
  const stack = (identities: string, extra: string[] = []) =>
    [
      "config:",
      `  aws:region: ${REGION}`,
      "  ses-dkim-rotation:identities:",
      identities,
      "  ses-dkim-rotation:sesRequestsPerSecond: 1000",
      ...extra,
      "",
    ].join("\n");
  const writeConfig = (text: string) => {
    const file = join(dir, "Pulumi.bad.yaml");
    writeFileSync(file, text);
    return file;
  };

  /** Nothing reached AWS or GitHub that writes, and the checkout holds only what the test put there. */
  function expectNothingWritten(before: string[], calls0: ReturnType<typeof calls>) {
    expect(tree(dir), "files written").to.deep.equal(before);
    expect(calls(), "AWS and GitHub writes").to.deep.equal(calls0);
  }
  const calls = () => ({
    creates: emulator.callCount({ operation: "CreateSecret" }),
    puts: emulator.callCount({ operation: "PutEmailIdentityDkimSigningAttributes" }),
    deletes: emulator.callCount({ operation: "DeleteSecret" }),
    githubWrites: github.requests.filter((r) => r.method !== "GET" && r.method !== "HEAD").length,
  });

  function expectOneLine(o: Outcome, names: string[], code = 2) {
    const where = `${o.stderr}${o.stdout}`;
    expect(o.code, where).to.equal(code);
    expect(o.stderr, where).not.to.include("    at ");
    expect(o.stderr.trimEnd().split("\n"), where).to.have.length(1);
    expect(o.stderr, where).to.match(/^error: /);
    for (const n of names) expect(o.stderr, `should name ${n}`).to.include(n);
  }

  // ---- 1. config files ------------------------------------------------------
  describe("config files (plan --apply would otherwise store a key)", function () {
    const cases: { name: string; yaml: (file: string) => string; names: string[] }[] = [
      {
        name: "keyBits 4096",
        yaml: () => stack(identity(["      keyBits: 4096"])),
        names: [`identity ${DOMAIN}`, "keyBits", "1024 or 2048"],
      },
      {
        name: "keyBits as a string",
        yaml: () => stack(identity(["      keyBits: '2048'"])),
        names: [`identity ${DOMAIN}`, "keyBits"],
      },
      {
        name: "selectorPrefix with an underscore",
        yaml: () => stack(identity().replace("selectorPrefix: bad", "selectorPrefix: bad_key")),
        names: [`identity ${DOMAIN}`, "selectorPrefix"],
      },
      {
        name: "selectorPrefix with a dot",
        yaml: () => stack(identity().replace("selectorPrefix: bad", "selectorPrefix: bad.key")),
        names: [`identity ${DOMAIN}`, "selectorPrefix"],
      },
      {
        name: "selectorPrefix too long for a dated selector",
        yaml: () =>
          stack(identity().replace("selectorPrefix: bad", `selectorPrefix: ${"a".repeat(60)}`)),
        names: [`identity ${DOMAIN}`, "selectorPrefix"],
      },
      {
        name: "regions empty",
        yaml: () => stack(identity(["      regions: []"])),
        names: [`identity ${DOMAIN}`, "regions"],
      },
      {
        name: "region not an AWS region",
        yaml: () => stack(identity(["      regions: [tokyo]"])),
        names: [`identity ${DOMAIN}`, "regions"],
      },
      {
        name: "duplicate domain",
        yaml: () => stack(`${identity()}\n${identity()}`),
        names: [`identity ${DOMAIN}`, "domain"],
      },
      {
        name: "YAML syntax error",
        yaml: () => stack(identity()).replace("selectorPrefix: bad", "selectorPrefix: [bad"),
        names: [],
      },
      {
        name: "unknown identity key (typo)",
        yaml: () => stack(identity(["      keybits: 2048"])),
        names: [`identity ${DOMAIN}`, "keybits"],
      },
      {
        name: "unknown project setting (typo)",
        yaml: () => stack(identity(), ["  ses-dkim-rotation:kmskeyid: alias/other"]),
        names: ["ses-dkim-rotation:kmskeyid"],
      },
      {
        name: "graceDays below 4",
        yaml: () => stack(identity(["      graceDays: 2"])),
        names: [`identity ${DOMAIN}`, "graceDays"],
      },
      {
        name: "graceDays fractional",
        yaml: () => stack(identity(["      graceDays: 5.5"])),
        names: [`identity ${DOMAIN}`, "graceDays"],
      },
      {
        name: "deletionRecoveryDays below 7",
        yaml: () => stack(identity(), ["  ses-dkim-rotation:deletionRecoveryDays: 3"]),
        names: ["deletionRecoveryDays"],
      },
      {
        name: "deletionRecoveryDays above 30",
        yaml: () => stack(identity(), ["  ses-dkim-rotation:deletionRecoveryDays: 31"]),
        names: ["deletionRecoveryDays"],
      },
      {
        name: "nameserver not host[:port]",
        yaml: () => stack(identity().replace(/nameservers: .*/, "nameservers: ['ns 1!']")),
        names: [`identity ${DOMAIN}`, "nameservers"],
      },
      {
        name: "nameservers empty",
        yaml: () => stack(identity().replace(/nameservers: .*/, "nameservers: []")),
        names: [`identity ${DOMAIN}`, "nameservers"],
      },
      {
        name: "domain in upper case",
        yaml: () => stack(identity().replace(`domain: ${DOMAIN}`, "domain: Bad.Example")),
        names: ["domain"],
      },
      {
        name: "domain with a trailing dot",
        yaml: () => stack(identity().replace(`domain: ${DOMAIN}`, `domain: ${DOMAIN}.`)),
        names: ["domain"],
      },
      {
        name: "no identities",
        yaml: () => stack("    []"),
        names: ["identities"],
      },
      {
        name: "rotationDays below 30",
        yaml: () => stack(identity(["      rotationDays: 20"])),
        names: [`identity ${DOMAIN}`, "rotationDays"],
      },
      {
        name: "rotationDays leaves no room for lead time and grace",
        yaml: () => stack(identity(["      rotationDays: 60", "      dnsLeadDays: 30"])),
        names: [`identity ${DOMAIN}`, "rotationDays"],
      },
      {
        name: "recordTtl below 60",
        yaml: () => stack(identity(["      recordTtl: 10"])),
        names: [`identity ${DOMAIN}`, "recordTtl"],
      },
      {
        name: "sesRequestsPerSecond 0",
        yaml: () =>
          stack(identity()).replace("sesRequestsPerSecond: 1000", "sesRequestsPerSecond: 0"),
        names: ["sesRequestsPerSecond"],
      },
      // issue 14: nameserver host:port, checked when the config is read
      ...(
        [
          ["port 99999", "127.0.0.1:99999", "port"],
          ["port 0", "127.0.0.1:0", "port"],
          ["port with a leading zero", "127.0.0.1:053", "port"],
          ["port not a number", "ns1.bad.example:dns", "port"],
          ["IPv6 literal with two ::", "[1::2::3]:53", "IPv6"],
          ["bare IPv6 that is not one", "1::2::3", "IPv6"],
          ["IPv6 in brackets without the closing one", "[::1:53", "IPv6"],
          ["IPv4 out of range", "300.1.1.1:53", "IPv4"],
          ["empty host", ":53", "host"],
          ["host with an underscore", "ns_1.bad.example", "host name"],
        ] as const
      ).map(([name, value, word]) => ({
        name: `nameserver ${name} (${value})`,
        yaml: () => stack(identity().replace(/nameservers: .*/, `nameservers: ['${value}']`)),
        names: [`identity ${DOMAIN}`, "nameservers[0]", word],
      })),
      // issue 14: numbers in every notation readers disagree on
      ...(
        [
          ["graceDays octal-looking", "graceDays: 014", "graceDays", "leading zero"],
          ["graceDays negative", "graceDays: -5", "graceDays", ""],
          ["graceDays in exponent form", "graceDays: 1e1", "graceDays", "plain decimal"],
          ["recordTtl in hex", "recordTtl: 0x100", "recordTtl", "plain decimal"],
          ["rotationDays infinite", "rotationDays: .inf", "rotationDays", "finite"],
          ["recordTtl NaN", "recordTtl: .nan", "recordTtl", "finite"],
          ["rotationDays beyond 2^53", "rotationDays: 9007199254740993", "rotationDays", "2^53"],
          ["dnsLeadDays fractional", "dnsLeadDays: 14.5", "dnsLeadDays", ""],
          ["alertDays zero", "alertDays: 0", "alertDays", ""],
        ] as const
      ).map(([name, line, field, word]) => ({
        name,
        yaml: () => stack(identity([`      ${line}`])),
        names: [`identity ${DOMAIN}`, field, word].filter(Boolean),
      })),
      // issue 14: pacing — a hang of days, a timer overflow, or more than SES allows
      ...(
        [
          ["sesRequestsPerSecond negative", "-1", ""],
          ["sesRequestsPerSecond absurdly small", "0.001", "0.1"],
          ["sesRequestsPerSecond above the emulator's ceiling", "5000", "1000"],
          ["sesRequestsPerSecond octal-looking", "01", "leading zero"],
        ] as const
      ).map(([name, value, word]) => ({
        name,
        yaml: () =>
          stack(identity()).replace("sesRequestsPerSecond: 1000", `sesRequestsPerSecond: ${value}`),
        names: ["sesRequestsPerSecond", word].filter(Boolean),
      })),
      // issue #23: a new user's bad input, each with a hint (zod issues mapped generally)
      {
        name: "dnsLeadDays negative",
        yaml: () => stack(identity(["      dnsLeadDays: -3"])),
        names: [`identity ${DOMAIN}`, "dnsLeadDays", "-3 is below", "from 0 to 180"],
      },
      {
        name: "rotationDays fractional (365.5)",
        yaml: () => stack(identity(["      rotationDays: 365.5"])),
        names: [`identity ${DOMAIN}`, "rotationDays", "365.5 is not a whole number"],
      },
      {
        name: "an identity written as a bare string",
        yaml: () => stack(`    - ${DOMAIN}`),
        names: ["identity #1", "identities[0]", "bare string", `- domain: ${DOMAIN}`],
      },
      {
        name: "a number written as a string",
        yaml: () => stack(identity(["      graceDays: '7'"])),
        names: [`identity ${DOMAIN}`, "graceDays", "is a string, not a number", "without quotes"],
      },
      {
        name: "a list written as a string",
        yaml: () => stack(identity(["      regions: ap-northeast-1"])),
        names: [`identity ${DOMAIN}`, "regions", "not a YAML list"],
      },
      {
        name: "a tab-indented line",
        yaml: () => stack(identity()).replace("      selectorPrefix", "\t  selectorPrefix"),
        names: ["(yaml)", "Tabs", "indent with spaces"],
      },
      {
        name: "a key given twice",
        yaml: () => stack(identity(["      selectorPrefix: other"])),
        names: ["(yaml)", "unique", "give each key once"],
      },
      {
        name: "an empty file",
        yaml: () => "",
        names: ["field config", "is missing"],
      },
      {
        name: "a YAML alias bomb",
        yaml: () =>
          [
            "a: &a [x, x, x, x, x, x, x, x, x]",
            "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
            "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
            stack(identity()),
          ].join("\n"),
        names: ["(yaml)", "alias", "at most 100"],
      },
      {
        name: "an invalid punycode label",
        yaml: () => stack(identity().replace(`domain: ${DOMAIN}`, "domain: mail.xn--zz.example")),
        names: ["domain", "IDNA A-label"],
      },
    ];
    /** `plan --apply` with this stack file refuses in one line with a hint, and writes nothing. */
    async function planApplyRefuses(file: string, names: string[]) {
      count("config file");
      const before = tree(dir);
      const c0 = calls();
      const o = await cliInProcess([
        "--config",
        file,
        "--repo",
        dir,
        "--endpoint",
        emulator.url,
        "plan",
        "--apply",
      ]);
      // Every refusal of a stack file says what to write instead.
      expectOneLine(o, [file, ...names, "(hint: "]);
      expectNothingWritten(before, c0);
    }
    for (const c of cases)
      it(c.name, () =>
        planApplyRefuses(writeConfig(c.yaml(join(dir, "Pulumi.bad.yaml"))), c.names),
      );

    // Files no YAML parser should see: refused from their bytes, naming the file.
    const fileCases: { name: string; write: (file: string) => void; names: string[] }[] = [
      {
        name: "non-UTF-8 bytes (a Latin-1 comment)",
        write: (f) =>
          writeFileSync(
            f,
            Buffer.concat([Buffer.from(stack(identity())), Buffer.from("# caf\xe9\n", "latin1")]),
          ),
        names: ["(file)", "not UTF-8", "line 8", "save the file as UTF-8"],
      },
      {
        name: "a 10 MB file",
        write: (f) => writeFileSync(f, `${stack(identity())}#${"x".repeat(10 * 1024 * 1024)}\n`),
        names: ["(file)", "bytes; a stack file is at most 8388608"],
      },
      {
        name: "a directory given as the config",
        write: (f) => mkdirSync(f),
        names: ["(file)", "is a directory"],
      },
    ];
    for (const c of fileCases)
      it(c.name, async function () {
        const file = join(dir, "Pulumi.bad.yaml");
        c.write(file);
        await planApplyRefuses(file, c.names);
      });

    it("a missing config file", async function () {
      count("config file");
      const o = await cliInProcess(["--config", join(dir, "nope.yaml"), "--repo", dir, "status"]);
      expectOneLine(o, ["nope.yaml"]);
      expect(tree(dir)).to.deep.equal(["dns/"]);
    });
  });

  // ---- 2. CLI arguments -----------------------------------------------------
  describe("CLI arguments", function () {
    const cases: { name: string; args: (config: string) => string[]; names: string[] }[] = [
      {
        name: "verify without --selector",
        args: () => ["verify", "--domain", DOMAIN],
        names: ["--selector"],
      },
      {
        name: "activate with an underscore selector",
        args: () => ["activate", "--domain", DOMAIN, "--selector", "bad_sel"],
        names: ["--selector", "bad_sel"],
      },
      {
        name: "retire with a dotted selector",
        args: () => ["retire", "--domain", DOMAIN, "--selector", "a.b"],
        names: ["--selector", "a.b"],
      },
      {
        name: "activate with a 64-character selector",
        args: () => ["activate", "--domain", DOMAIN, "--selector", "a".repeat(64)],
        names: ["--selector"],
      },
      {
        name: "activate with a selector ending in a hyphen",
        args: () => ["activate", "--domain", DOMAIN, "--selector", "bad-"],
        names: ["--selector", "bad-"],
      },
      {
        name: "rollback without --to",
        args: () => ["rollback", "--domain", DOMAIN],
        names: ["--to"],
      },
      {
        name: "retire without --domain",
        args: () => ["retire", "--selector", "bad-1"],
        names: ["--domain"],
      },
      { name: "unknown command", args: () => ["rotate"], names: ["rotate"] },
      { name: "unknown option", args: () => ["plan", "--force"], names: ["--force"] },
      {
        name: "--requests-per-second 0",
        args: () => ["--requests-per-second", "0", "status"],
        names: ["--requests-per-second"],
      },
      {
        name: "--requests-per-second not a number",
        args: () => ["--requests-per-second", "fast", "status"],
        names: ["--requests-per-second", "fast"],
      },
      {
        name: "--requests-per-second above 1000",
        args: () => ["--requests-per-second", "5000", "status"],
        names: ["--requests-per-second"],
      },
      {
        name: "sandbox --years not a number",
        args: () => ["sandbox", "--years", "two", "--out", join(dir, "out")],
        names: ["--years", "two"],
      },
      {
        name: "sandbox --years 0",
        args: () => ["sandbox", "--years", "0", "--out", join(dir, "out")],
        names: ["--years"],
      },
      {
        name: "verify --key-source not a choice",
        args: () => ["verify", "--domain", DOMAIN, "--selector", "bad-1", "--key-source", "git"],
        names: ["--key-source", "git"],
      },
      {
        name: "activate an unknown domain",
        args: () => ["activate", "--domain", "nope.example", "--selector", "bad-1"],
        names: ["argv", "identity nope.example", "field domain"],
      },
      {
        name: "plan --apply for an unknown domain",
        args: () => ["plan", "--apply", "--domain", "nope.example"],
        names: ["argv", "identity nope.example", "field domain"],
      },
      {
        name: "retire an unknown domain",
        args: () => ["retire", "--domain", "nope.example", "--selector", "bad-1"],
        names: ["identity nope.example", "field domain"],
      },
      // issue 14: numbers given to flags, each refused with its reason
      ...(
        [
          ["--requests-per-second", "014", "leading zero"],
          ["--requests-per-second", "-1", "negative"],
          ["--requests-per-second", "0.001", "too small"],
          ["--requests-per-second", "Infinity", "finite"],
          ["--requests-per-second", "NaN", "finite"],
          ["--requests-per-second", "1e3", "plain decimal"],
          ["--requests-per-second", "9007199254740993", "2^53"],
        ] as const
      ).map(([flag, value, word]) => ({
        name: `${flag} ${value}`,
        args: () => [flag, value, "status"],
        names: [flag, word],
      })),
      ...(
        [
          ["--years", "014", "leading zero"],
          ["--years", "-2", "negative"],
          ["--years", "Infinity", "finite"],
          ["--years", "21", "too large"],
          ["--seed", "1.5", "whole number"],
          ["--seed", "9007199254740993", "2^53"],
          ["--faults", "NaN", "finite"],
          ["--faults", "1.5", "too large"],
        ] as const
      ).map(([flag, value, word]) => ({
        name: `sandbox ${flag} ${value}`,
        args: () => [
          "sandbox",
          "--out",
          join(dir, "out"),
          ...(flag === "--seed" ? ["--faults", "0.1"] : []),
          flag,
          value,
        ],
        names: [flag, word],
      })),
      // issue 14: --endpoint must be a plain http(s) URL
      ...(
        [
          ["not a URL", "127.0.0.1 4566", "not a URL"],
          ["not http", "ftp://127.0.0.1:21", "http"],
          ["with credentials", "http://user:s3cret@127.0.0.1:4566", "credentials"],
          ["not http, with credentials", "ftp://user:s3cret@127.0.0.1:21", "http"],
          ["with a query", "http://127.0.0.1:4566/?region=x", "query"],
        ] as const
      ).map(([name, value, word]) => ({
        name: `--endpoint ${name}`,
        args: () => ["--endpoint", value, "status"],
        names: ["--endpoint", word],
      })),
      // issue 14: --repo that is not a work tree with dns/
      {
        name: "--repo that does not exist (check-records on a typo)",
        args: () => ["--repo", join(dir, "typo"), "check-records"],
        names: ["--repo", "does not exist"],
      },
      {
        name: "--repo that is a file (plan --apply would store keys first)",
        args: (config) => ["--repo", config, "plan", "--apply"],
        names: ["--repo", "not a directory"],
      },
      {
        name: "--repo without dns/ or .git",
        args: () => ["--repo", join(dir, "dns"), "plan", "--apply"],
        names: ["--repo", "not a work tree"],
      },
      // issue 14: --record-folder, a relative folder inside the repository
      ...(
        [
          ["absolute", "/etc/dns", "absolute"],
          ["leaving the repository", "../dns", '".."'],
          ["inside .git", ".git/dns", ".git"],
          ["empty", "", "empty"],
          ["with a space", "dns records", "segment"],
        ] as const
      ).map(([name, value, word]) => ({
        name: `--record-folder ${name}`,
        args: () => ["--record-folder", value, "check-records"],
        names: ["--record-folder", word],
      })),
      // issue 14: sandbox --out, and options that cannot go together
      {
        name: "sandbox --out that is a file",
        args: (config) => ["sandbox", "--out", config],
        names: ["--out", "is a file"],
      },
      {
        name: "sandbox --out /",
        args: () => ["sandbox", "--out", "/"],
        names: ["--out", "root of the file system"],
      },
      {
        name: "sandbox --out a non-empty project folder",
        args: () => ["sandbox", "--out", dir],
        names: ["--out", "not empty"],
      },
      {
        name: "sandbox --faults with --naive",
        args: () => ["sandbox", "--out", join(dir, "out"), "--naive", "--faults", "0.2"],
        names: ["--faults", "--naive"],
      },
      {
        name: "sandbox --seed without --faults",
        args: () => ["sandbox", "--out", join(dir, "out"), "--seed", "7"],
        names: ["--seed", "--faults"],
      },
      {
        name: "completion for a shell it does not know",
        args: () => ["completion", "fish"],
        names: ["fish", "bash, zsh"],
      },
      // issue 14: a domain must look like one before anything else happens
      {
        name: "verify --domain with a space",
        args: () => ["verify", "--domain", "bad example", "--selector", "bad-1"],
        names: ["--domain", "not a domain name"],
      },
    ];
    for (const c of cases) {
      it(c.name, async function () {
        count("CLI argument");
        const config = writeConfig(stack(identity()));
        const before = tree(dir);
        const c0 = calls();
        const o = await cliInProcess([
          "--config",
          config,
          "--repo",
          dir,
          "--endpoint",
          emulator.url,
          ...c.args(config),
        ]);
        expectOneLine(o, c.names);
        expect(o.stdout).to.equal("");
        // Nothing secret echoed: a password in an endpoint URL is redacted.
        expect(o.stderr).not.to.include("s3cret");
        expectNothingWritten(before, c0);
      });
    }

    it("the real process behaves the same (5 cases spawned in parallel)", async function () {
      const config = writeConfig(stack(identity()));
      const bad = join(dir, "sub");
      mkdirSync(bad);
      const badConfig = join(bad, "Pulumi.bad.yaml");
      writeFileSync(badConfig, stack(identity(["      graceDays: 2"])));
      const before = tree(dir);
      const c0 = calls();
      const common = ["--config", config, "--repo", dir, "--endpoint", emulator.url];
      const runs: { args: string[]; names: string[] }[] = [
        { args: [...common, "rotate"], names: ["rotate"] },
        {
          args: [...common, "activate", "--domain", DOMAIN, "--selector", "bad_sel"],
          names: ["bad_sel"],
        },
        {
          args: [...common, "activate", "--domain", "nope.example", "--selector", "bad-1"],
          names: ["identity nope.example", "field domain"],
        },
        {
          args: [
            "--config",
            badConfig,
            "--repo",
            dir,
            "--endpoint",
            emulator.url,
            "plan",
            "--apply",
          ],
          names: [badConfig, `identity ${DOMAIN}`, "graceDays"],
        },
        {
          args: [...common, "--requests-per-second", "0", "status"],
          names: ["--requests-per-second"],
        },
      ];
      const outcomes = await Promise.all(runs.map((r) => cliChild(r.args)));
      outcomes.forEach((o, i) => {
        count("CLI process");
        expectOneLine(o, runs[i]!.names);
      });
      expectNothingWritten(before, c0);
    });
  });

  // ---- 2b. issue 14: huge values, SES's limit, refusals that leave nothing ----
  describe("CLI: huge values, SES's pacing limit, refusals that leave nothing behind", function () {
    const huge = "a".repeat(100 * 1024);
    const cases: { name: string; args: (config: string) => string[]; names: string[] }[] = [
      {
        name: "a 100 KB --domain",
        args: () => ["plan", "--domain", `${huge}.example`],
        names: ["--domain"],
      },
      {
        name: "a 100 KB --selector",
        args: () => ["activate", "--domain", DOMAIN, "--selector", huge],
        names: ["--selector"],
      },
      { name: "a 100 KB --config", args: () => ["--config", join(dir, huge), "status"], names: [] },
      { name: "a 100 KB unknown command", args: () => [huge], names: ["unknown command"] },
      {
        name: "a 100 KB --repo",
        args: () => ["--repo", join(dir, huge), "status"],
        names: ["--repo"],
      },
    ];
    for (const c of cases) {
      it(`${c.name} gives a short line`, async function () {
        count("huge value");
        const config = writeConfig(stack(identity()));
        const before = tree(dir);
        const c0 = calls();
        const o = await cliInProcess([
          "--config",
          config,
          "--repo",
          dir,
          "--endpoint",
          emulator.url,
          ...c.args(config),
        ]);
        expectOneLine(o, c.names);
        expect(o.stderr.length, o.stderr.slice(0, 300)).to.be.below(600);
        expectNothingWritten(before, c0);
      });
    }

    it("a stack file pacing above SES's 1 request/s without --endpoint", async function () {
      count("pacing");
      const config = writeConfig(
        stack(identity()).replace("sesRequestsPerSecond: 1000", "sesRequestsPerSecond: 2"),
      );
      const before = tree(dir);
      const c0 = calls();
      const o = await cliInProcess(["--config", config, "--repo", dir, "plan", "--apply"]);
      expectOneLine(o, [config, "ses-dkim-rotation:sesRequestsPerSecond", "SES's limit", "hint: "]);
      expectNothingWritten(before, c0);
    });

    it("--requests-per-second above SES's 1 request/s without --endpoint", async function () {
      count("pacing");
      const config = writeConfig(
        stack(identity()).replace("sesRequestsPerSecond: 1000", "sesRequestsPerSecond: 1"),
      );
      const before = tree(dir);
      const o = await cliInProcess([
        "--config",
        config,
        "--repo",
        dir,
        "--requests-per-second",
        "5",
        "status",
      ]);
      expectOneLine(o, ["argv", "field --requests-per-second", "SES's limit"]);
      expect(tree(dir)).to.deep.equal(before);
    });

    it("a refused rollback leaves no lock folder and no temp file", async function () {
      count("refusal");
      const config = writeConfig(stack(identity()));
      const before = tree(dir);
      const c0 = calls();
      const o = await cliInProcess([
        "--config",
        config,
        "--repo",
        dir,
        "--endpoint",
        emulator.url,
        "rollback",
        "--domain",
        DOMAIN,
        "--to",
        "bad-20260101",
      ]);
      // A refusal is exit 3: its last line says why (the engine's timeline may warn first).
      expect(o.code, o.stderr).to.equal(3);
      expect(o.stderr).not.to.include("    at ");
      expect(o.stderr.trimEnd().split("\n").pop()).to.match(
        /^error: bad\.example: rollback .* refused: /,
      );
      expectNothingWritten(before, c0);
    });
  });

  // ---- 3. action inputs -----------------------------------------------------
  describe("action inputs (readInputs, before any side effect)", function () {
    const base = { command: "activate", "github-token": "ghs_badInputToken000000000000" };
    const cases: { name: string; inputs: Record<string, string>; field: string }[] = [
      { name: "command missing", inputs: { command: "" }, field: "command" },
      { name: "command unknown", inputs: { command: "deploy" }, field: "command" },
      { name: "selector without domain", inputs: { selector: "bad-1" }, field: "selector" },
      {
        name: "rollback without selector",
        inputs: { command: "rollback", domain: DOMAIN },
        field: "selector",
      },
      {
        name: "retire without domain",
        inputs: { command: "retire", selector: "bad-1" },
        field: "domain",
      },
      {
        name: "plan with a selector",
        inputs: { command: "plan", domain: DOMAIN, selector: "bad-1" },
        field: "selector",
      },
      {
        name: "selector with underscore",
        inputs: { domain: DOMAIN, selector: "bad_1" },
        field: "selector",
      },
      { name: "domain in upper case", inputs: { domain: "Bad.Example" }, field: "domain" },
      {
        name: "config outside the repository",
        inputs: { config: "../Pulumi.prod.yaml" },
        field: "config",
      },
      { name: "config not YAML", inputs: { config: "Pulumi.prod.json" }, field: "config" },
      {
        name: "aws-endpoint not loopback",
        inputs: { "aws-endpoint": "https://sesv2.example.com" },
        field: "aws-endpoint",
      },
      {
        name: "aws-endpoint with credentials",
        inputs: { "aws-endpoint": "http://u:p@127.0.0.1:4566" },
        field: "aws-endpoint",
      },
      {
        name: "aws-endpoint not a URL",
        inputs: { "aws-endpoint": "127.0.0.1 4566" },
        field: "aws-endpoint",
      },
      {
        name: "aws-endpoint not http",
        inputs: { "aws-endpoint": "ftp://127.0.0.1" },
        field: "aws-endpoint",
      },
      { name: "dry-run not a boolean", inputs: { "dry-run": "yes" }, field: "dry-run" },
      {
        name: "requests-per-second 0",
        inputs: { "requests-per-second": "0" },
        field: "requests-per-second",
      },
      {
        name: "requests-per-second not a number",
        inputs: { "requests-per-second": "fast" },
        field: "requests-per-second",
      },
      {
        name: "requests-per-second in exponent form",
        inputs: { "requests-per-second": "1e3" },
        field: "requests-per-second",
      },
      // issue 14: numbers and endpoints, the same readers as the CLI's flags
      {
        name: "requests-per-second octal-looking",
        inputs: { "requests-per-second": "014" },
        field: "requests-per-second",
      },
      {
        name: "requests-per-second negative",
        inputs: { "requests-per-second": "-1" },
        field: "requests-per-second",
      },
      {
        name: "requests-per-second absurdly small",
        inputs: { "requests-per-second": "0.0001" },
        field: "requests-per-second",
      },
      {
        name: "requests-per-second Infinity",
        inputs: { "requests-per-second": "Infinity" },
        field: "requests-per-second",
      },
      {
        name: "requests-per-second beyond 2^53",
        inputs: { "requests-per-second": "9007199254740993" },
        field: "requests-per-second",
      },
      {
        name: "aws-endpoint with a query",
        inputs: { "aws-endpoint": "http://127.0.0.1:4566/?x=1" },
        field: "aws-endpoint",
      },
      {
        name: "a 100 KB domain",
        inputs: { domain: `${"a".repeat(100 * 1024)}.example` },
        field: "domain",
      },
      {
        name: "github-token with a newline",
        inputs: { "github-token": "ghs_a\nghs_b" },
        field: "github-token",
      },
      {
        name: "plan without a token and not a dry run",
        inputs: { command: "plan", "github-token": "" },
        field: "github-token",
      },
      // issue 14: the reusable workflows' record-folder and environment inputs
      {
        name: "record-folder leaving the workspace",
        inputs: { "record-folder": "dns/../../etc" },
        field: "record-folder",
      },
      {
        name: "record-folder absolute",
        inputs: { "record-folder": "/dns" },
        field: "record-folder",
      },
      {
        name: "environment with a newline",
        inputs: { environment: "dkim-production\nx" },
        field: "environment",
      },
    ];
    for (const c of cases) {
      it(c.name, function () {
        count("action input");
        const all: Record<string, string> = { ...base, ...c.inputs };
        const masked: string[] = [];
        let thrown: unknown;
        try {
          readInputs(
            (name) => all[name] ?? "",
            (s) => masked.push(s),
          );
        } catch (e) {
          thrown = e;
        }
        expect(thrown, "must throw").to.be.instanceOf(InputError);
        const message = (thrown as InputError).message;
        expect(message.split("\n")).to.have.length(1);
        expect(message.length, "a short line").to.be.below(600);
        expect(message).to.include(`input:${c.field}`);
        expect(message).to.include(`field ${c.field}`);
        // The token is masked even when another input is bad.
        if (all["github-token"]) expect(masked).to.include(all["github-token"]);
      });
    }
  });

  describe("action inputs through run() (INPUT_* variables, as the runner passes them)", function () {
    /** `run()` as the runner drives it; returns the workflow-command lines and the exit code. */
    async function runAction(inputs: Record<string, string>) {
      const { exitCode, stdout } = await runEntryPoint(inputs, {
        workspace: dir,
        repository: "example-jp/bad",
        apiUrl: github.url,
      });
      // The raw workflow-command lines, as the runner reads them.
      return {
        exitCode,
        stdout,
        errors: stdout.split("\n").filter((l) => l.startsWith("::error")),
      };
    }
    const cases: {
      name: string;
      inputs: Record<string, string>;
      config?: string[];
      names: string[];
    }[] = [
      { name: "command unknown", inputs: { command: "deploy" }, names: ["input:command"] },
      {
        name: "an environment other than the stack file's github.environment",
        inputs: { command: "status", environment: "production" },
        names: ["input:environment", '"production"', "dkim-production"],
      },
      {
        name: "domain not in the stack file",
        inputs: { command: "activate", domain: "nope.example", selector: "bad-1" },
        names: ["input:domain", "identity nope.example", "field domain"],
      },
      {
        name: "stack file with keyBits 4096",
        inputs: { command: "status" },
        config: ["      keyBits: 4096"],
        names: ["Pulumi.bad.yaml", `identity ${DOMAIN}`, "keyBits"],
      },
      {
        name: "aws-endpoint not loopback",
        inputs: {
          command: "status",
          "aws-endpoint": "https://email.ap-northeast-1.amazonaws.example",
        },
        names: ["input:aws-endpoint"],
      },
    ];
    for (const c of cases) {
      it(c.name, async function () {
        count("action run()");
        writeConfig(stack(identity(c.config)));
        const before = tree(dir);
        const c0 = calls();
        const r = await runAction({
          config: "Pulumi.bad.yaml",
          "aws-endpoint": emulator.url,
          ...c.inputs,
        });
        expect(r.exitCode, r.stdout).to.equal(1);
        expect(r.errors, r.stdout).to.have.length(1);
        expect(r.stdout).not.to.include("    at ");
        for (const n of c.names) expect(r.errors[0], `should name ${n}`).to.include(n);
        expectNothingWritten(before, c0);
      });
    }

    it("a config path that leaves the workspace through a symbolic link", async function () {
      count("action run()");
      const outside = mkdtempSync(join(tmpdir(), "dkim-outside-"));
      try {
        writeFileSync(join(outside, "Pulumi.prod.yaml"), stack(identity()));
        symlinkSync(join(outside, "Pulumi.prod.yaml"), join(dir, "Pulumi.link.yaml"));
        const before = tree(dir);
        const c0 = calls();
        const r = await runAction({
          config: "Pulumi.link.yaml",
          "aws-endpoint": emulator.url,
          command: "status",
        });
        expect(r.exitCode, r.stdout).to.equal(1);
        expect(r.errors, r.stdout).to.have.length(1);
        expect(r.errors[0]).to.include("input:config");
        expect(r.errors[0]).to.include("symbolic link");
        expectNothingWritten(before, c0);
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    });

    // Hints must name the action's inputs: a workflow author cannot pass --config.
    const inputHints: {
      name: string;
      inputs: Record<string, string>;
      config?: string;
      names: string[];
    }[] = [
      {
        name: "a missing stack file",
        inputs: { command: "status", config: "Pulumi.missing.yaml" },
        names: ["Pulumi.missing.yaml", "config input"],
      },
      {
        name: "requests-per-second above SES's limit against real AWS",
        inputs: { command: "status", "requests-per-second": "5", "aws-endpoint": "" },
        names: ["input:requests-per-second", "SES's limit"],
      },
      {
        name: "a stack file pacing above SES's limit against real AWS",
        inputs: { command: "status", "aws-endpoint": "" },
        config: "2",
        names: ["sesRequestsPerSecond", "SES's limit"],
      },
    ];
    for (const c of inputHints) {
      it(`${c.name}: the hint names action inputs, not CLI flags`, async function () {
        count("action run()");
        writeConfig(
          stack(identity()).replace(
            "sesRequestsPerSecond: 1000",
            `sesRequestsPerSecond: ${c.config ?? "1"}`,
          ),
        );
        const before = tree(dir);
        const c0 = calls();
        const r = await runAction({
          config: "Pulumi.bad.yaml",
          "aws-endpoint": emulator.url,
          ...c.inputs,
        });
        expect(r.exitCode, r.stdout).to.equal(1);
        expect(r.errors, r.stdout).to.have.length(1);
        for (const n of c.names) expect(r.errors[0], `should name ${n}`).to.include(n);
        expect(r.errors[0]).not.to.match(/(^|[\s(])--[a-z]/);
        expectNothingWritten(before, c0);
      });
    }
  });

  // ---- 4. record files --------------------------------------------------------
  describe("record files (check-records, and plan --apply refusing to act on them)", function () {
    const SELECTOR = "bad-20270104";
    const render = (pair: DkimKeyPair, selector = SELECTOR, bits: 1024 | 2048 = 2048) =>
      renderRecordFile({
        domain: DOMAIN,
        selector,
        keyBits: bits,
        fingerprint: publicKeyFingerprint(pair.publicKey),
        createdAt: "2027-01-04T00:00:00.000Z",
        publishBy: "2027-01-18",
        publicKey: pair.publicKey,
        ttl: 3600,
      });
    const owner = `${SELECTOR}._domainkey.${DOMAIN}.`;
    const cases: {
      name: string;
      file?: string;
      text: () => string;
      field: string;
      identity?: string;
    }[] = [
      {
        name: "one string over 255 bytes",
        text: () => `${owner} 3600 IN TXT "${dkimRecordValue(good.publicKey)}"\n`,
        field: "",
      },
      {
        name: "relative owner (no trailing dot)",
        text: () => render(good).replace(owner, owner.slice(0, -1)),
        field: "owner",
      },
      {
        name: "CNAME instead of TXT",
        text: () => `${owner} 3600 IN CNAME ${SELECTOR}.dkim.amazonses.com.\n`,
        field: "",
      },
      {
        name: "p= tampered in review",
        text: () => {
          const t = render(good);
          const at = t.indexOf(good.publicKey.slice(100, 120));
          return t.slice(0, at) + (t[at] === "A" ? "B" : "A") + t.slice(at + 1);
        },
        field: "p",
      },
      {
        name: "t=y (testing)",
        text: () => render(good).replace('"v=DKIM1; k=rsa; p=', '"v=DKIM1; k=rsa; t=y; " "p='),
        field: "t",
      },
      {
        name: "an RSA-1024 key for a 2048-bit identity",
        text: () => render(small, SELECTOR, 1024),
        field: "p",
      },
      {
        name: "file name differs from the header's selector",
        file: "bad-20270105.zone",
        text: () => render(good),
        field: "selector",
      },
      {
        name: "unterminated quote",
        text: () => {
          const t = render(good);
          return t.replace(/" \)\n$/, " )\n");
        },
        field: "",
      },
      {
        name: "PKCS#1 public key in p=",
        text: () => {
          const spki = Buffer.from(good.publicKey, "base64");
          // SPKI = SEQUENCE { algorithm, BIT STRING { RSAPublicKey } }; RSA-2048's header is 24 bytes.
          const pkcs1 = spki.subarray(24).toString("base64");
          return `${owner} 3600 IN TXT ( ${splitTxt(`v=DKIM1; k=rsa; p=${pkcs1}`)
            .map((s) => `"${s}"`)
            .join(" ")} )\n`;
        },
        field: "p",
      },
      {
        name: "empty p= (a revoked key proposed as a new one)",
        text: () => `${owner} 3600 IN TXT "v=DKIM1; k=rsa; p="\n`,
        field: "p",
      },
      {
        name: "file name not a selector",
        file: "bad_key.zone",
        text: () => render(good),
        field: "selector",
      },
      {
        name: "file for a domain that is not configured",
        file: "../other.example/bad-20270104.zone",
        text: () => render(good).replaceAll(DOMAIN, "other.example"),
        field: "domain",
        identity: "other.example",
      },
    ];
    for (const c of cases) {
      it(c.name, async function () {
        count("record file");
        const config = writeConfig(stack(identity()));
        const rel = join(dirname(recordPath(DOMAIN, SELECTOR)), c.file ?? `${SELECTOR}.zone`);
        const file = join(dir, rel);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, c.text());
        const before = tree(dir);
        const c0 = calls();
        const checked = await cliInProcess(["--config", config, "--repo", dir, "check-records"]);
        expect(checked.code, checked.stdout + checked.stderr).to.equal(2);
        const errors = checked.stdout.split("\n").filter((l) => l.startsWith("error "));
        expect(errors, checked.stdout).to.have.length(1);
        const line = errors[0]!;
        expect(line).to.include(relative(dir, file).replaceAll("\\", "/"));
        expect(line).to.include(`identity ${c.identity ?? DOMAIN}`);
        if (c.field) expect(line).to.include(`field ${c.field}`);
        expect(checked.stderr).to.equal("");
        // The engine refuses to plan over a bad record in its identity's directory.
        if (!c.identity) {
          const plan = await cliInProcess([
            "--config",
            config,
            "--repo",
            dir,
            "--endpoint",
            emulator.url,
            "plan",
            "--apply",
          ]);
          expectOneLine(plan, [`identity ${DOMAIN}`]);
        }
        expectNothingWritten(before, c0);
      });
    }
  });

  // ---- 4b. issue 14: anything odd under dns/ ---------------------------------
  describe("the record tree (check-records, and plan --apply refusing before any write)", function () {
    const render = (pair: DkimKeyPair, selector: string) =>
      renderRecordFile({
        domain: DOMAIN,
        selector,
        keyBits: 2048,
        fingerprint: publicKeyFingerprint(pair.publicKey),
        createdAt: "2027-01-04T00:00:00.000Z",
        publishBy: "2027-01-18",
        publicKey: pair.publicKey,
        ttl: 3600,
      });
    const domainDir = () => join(dir, "dns", DOMAIN);
    const put = (name: string, text: string) => {
      mkdirSync(domainDir(), { recursive: true });
      writeFileSync(join(domainDir(), name), text);
    };
    const good1 = () => put("bad-20270104.zone", render(good, "bad-20270104"));
    let outside: string;
    beforeEach(function () {
      outside = mkdtempSync(join(tmpdir(), "dkim-outside-"));
    });
    afterEach(function () {
      rmSync(outside, { recursive: true, force: true });
    });
    const MARK = "OUTSIDE-THE-REPOSITORY-MARK";
    const cases: {
      name: string;
      setup: () => void;
      /** What the one error line must name. */
      names: string[];
      /** plan --apply is refused too (false: only check-records sees it). */
      plan?: boolean;
    }[] = [
      {
        name: "a symbolic link to a file outside the repository",
        setup: () => {
          good1();
          writeFileSync(join(outside, "x.zone"), `; ${MARK}\n${render(good, "bad-20270105")}`);
          symlinkSync(join(outside, "x.zone"), join(domainDir(), "bad-20270105.zone"));
        },
        names: [`dns/${DOMAIN}/bad-20270105.zone`, "symbolic link"],
      },
      {
        name: "a domain folder that is a symbolic link",
        setup: () => {
          writeFileSync(
            join(outside, "bad-20270104.zone"),
            `; ${MARK}\n${render(good, "bad-20270104")}`,
          );
          symlinkSync(outside, domainDir());
        },
        names: [`dns/${DOMAIN}`, "symbolic link"],
      },
      ...(
        [
          ["an editor backup (~)", "bad-20270104.zone~"],
          ["a vim swap file", ".bad-20270104.zone.swp"],
          ["an emacs lock file", ".#bad-20270104.zone"],
          ["a patch leftover (.orig)", "bad-20270104.zone.orig"],
          ["a patch reject (.rej)", "bad-20270104.zone.rej"],
          ["a git mergetool leftover", "bad-20270104_BASE_4242.zone"],
          ["an interrupted atomic write", "bad-20270104.zone.tmp-4242"],
        ] as const
      ).map(([name, file]) => ({
        name,
        setup: () => {
          good1();
          put(file, render(good, "bad-20270104"));
        },
        names: [`dns/${DOMAIN}/${file}`, "leftover"],
      })),
      {
        name: "a file that is not a .zone",
        setup: () => {
          good1();
          put("notes.txt", "publish on Monday\n");
        },
        names: [`dns/${DOMAIN}/notes.txt`, "not a record file"],
      },
      {
        name: "a directory named like a record file",
        setup: () => {
          good1();
          mkdirSync(join(domainDir(), "bad-20270105.zone"));
        },
        names: [`dns/${DOMAIN}/bad-20270105.zone`, "directory named like a record file"],
      },
      {
        name: "an empty record file",
        setup: () => put("bad-20270104.zone", ""),
        names: [`dns/${DOMAIN}/bad-20270104.zone`, "is empty"],
      },
      {
        name: "a record file of blank lines",
        setup: () => put("bad-20270104.zone", "\n  \n\t\n"),
        names: [`dns/${DOMAIN}/bad-20270104.zone`, "is empty"],
      },
      {
        name: "the same public key under two selectors",
        setup: () => {
          good1();
          put("bad-20270105.zone", render(good, "bad-20270105"));
        },
        names: [`dns/${DOMAIN}/bad-20270105.zone`, "field p", `dns/${DOMAIN}/bad-20270104.zone`],
      },
      ...(
        [
          ["$TTL", "$TTL 3600"],
          ["$ORIGIN", `$ORIGIN ${DOMAIN}.`],
          ["$INCLUDE", "$INCLUDE /etc/bind/other.zone"],
          ["$GENERATE", "$GENERATE 1-3 host$ A 192.0.2.$"],
        ] as const
      ).map(([directive, line]) => ({
        name: `a ${directive} line`,
        setup: () => put("bad-20270104.zone", `${line}\n${render(good, "bad-20270104")}`),
        names: [`dns/${DOMAIN}/bad-20270104.zone:1`, `field ${directive}`],
      })),
      {
        name: "dns that is a file",
        setup: () => {
          rmSync(join(dir, "dns"), { recursive: true });
          writeFileSync(join(dir, "dns"), "not a folder\n");
        },
        names: ["dns", "is a file"],
      },
      {
        name: "dns that is a symbolic link",
        setup: () => {
          rmSync(join(dir, "dns"), { recursive: true });
          symlinkSync(outside, join(dir, "dns"));
        },
        names: ["dns", "symbolic link"],
      },
      {
        name: "a domain folder that is a file",
        setup: () => writeFileSync(domainDir(), "not a folder\n"),
        names: [`dns/${DOMAIN}`, "not a domain folder"],
      },
      {
        name: "a record file at the top of dns/",
        setup: () =>
          writeFileSync(join(dir, "dns", "bad-20270104.zone"), render(good, "bad-20270104")),
        names: ["dns/bad-20270104.zone", "not a domain folder"],
        plan: false,
      },
    ];
    for (const c of cases) {
      it(c.name, async function () {
        count("record tree");
        const config = writeConfig(stack(identity()));
        c.setup();
        const before = tree(dir);
        const c0 = calls();
        const checked = await cliInProcess(["--config", config, "--repo", dir, "check-records"]);
        const where = checked.stdout + checked.stderr;
        expect(checked.code, where).to.equal(2);
        expect(where).not.to.include(MARK);
        expect(where).not.to.include("    at ");
        const line =
          checked.stdout.split("\n").find((l) => l.startsWith("error ")) ?? checked.stderr;
        expect(
          `${checked.stdout}${checked.stderr}`.split("\n").filter((l) => /^error[ :]/.test(l)),
          where,
        ).to.have.length(1);
        for (const n of c.names) expect(line, `should name ${n}`).to.include(n);
        if (c.plan !== false) {
          const plan = await cliInProcess([
            "--config",
            config,
            "--repo",
            dir,
            "--endpoint",
            emulator.url,
            "plan",
            "--apply",
          ]);
          expectOneLine(plan, [c.names[0]!]);
          expect(plan.stderr).not.to.include(MARK);
        }
        expectNothingWritten(before, c0);
      });
    }
  });

  // ---- 5. malformed SES answers -------------------------------------------
  describe("malformed SES answers (a stub SES endpoint)", function () {
    let stub: Server;
    let url: string;
    let identityBody: () => unknown = () => ({});
    const seen: string[] = [];

    before(async function () {
      stub = createServer((req, res) => {
        const target = String(req.headers["x-amz-target"] ?? "");
        seen.push(target || `${req.method} ${req.url}`);
        req.resume();
        req.on("end", () => {
          if (target === "secretsmanager.ListSecrets") {
            res.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
            res.end(JSON.stringify({ SecretList: [] }));
            return;
          }
          if (req.method === "GET" && req.url?.startsWith("/v2/email/identities/")) {
            const body = identityBody();
            res.writeHead(200, { "content-type": "application/json" });
            res.end(typeof body === "string" ? body : JSON.stringify(body));
            return;
          }
          // Anything that would write: record it and fail loudly.
          res.writeHead(500, { "x-amzn-errortype": "InternalFailure" });
          res.end("{}");
        });
      });
      await new Promise<void>((r) => stub.listen(0, "127.0.0.1", r));
      url = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    });
    after(async function () {
      await new Promise<void>((r) => stub?.close(() => r()));
    });

    const identityOf = (dkim: Record<string, unknown> | undefined) => ({
      IdentityType: "DOMAIN",
      VerifiedForSendingStatus: true,
      ...(dkim ? { DkimAttributes: dkim } : {}),
    });
    const cases: { name: string; body: unknown; names: string[]; code: number }[] = [
      {
        name: "DkimAttributes.Status unknown",
        body: identityOf({
          SigningEnabled: true,
          Status: "SOMETIMES",
          Tokens: ["bad-1"],
          SigningAttributesOrigin: "EXTERNAL",
        }),
        names: [DOMAIN, REGION, "DkimAttributes.Status", "SOMETIMES"],
        code: 3,
      },
      {
        name: "DkimAttributes missing",
        body: identityOf(undefined),
        names: [DOMAIN, REGION, "DkimAttributes"],
        code: 3,
      },
      {
        name: "DkimAttributes.Status missing",
        body: identityOf({
          SigningEnabled: true,
          Tokens: ["bad-1"],
          SigningAttributesOrigin: "EXTERNAL",
        }),
        names: [DOMAIN, REGION, "DkimAttributes.Status"],
        code: 3,
      },
      {
        name: "body is not JSON",
        body: "<html>gateway</html>",
        names: [],
        code: 1,
      },
    ];
    for (const c of cases) {
      for (const command of [["status"], ["plan", "--apply"]]) {
        it(`${c.name}: ${command.join(" ")} stops in one line`, async function () {
          count("SES answer");
          identityBody = () => c.body;
          const config = writeConfig(stack(identity()));
          const before = tree(dir);
          seen.length = 0;
          const o = await cliInProcess([
            "--config",
            config,
            "--repo",
            dir,
            "--endpoint",
            url,
            "--requests-per-second",
            "1000",
            ...command,
          ]);
          expectOneLine(o, c.names, c.code);
          expect(tree(dir)).to.deep.equal(before);
          expect(
            seen.filter((s) => /CreateSecret|PUT|TagResource|DeleteSecret/.test(s)),
          ).to.deep.equal([]);
        });
      }
    }
  });

  // ---- 6. malformed DNS answers -------------------------------------------
  describe("malformed DNS answers: a per-server `malformed` verdict naming the server", function () {
    const cases: { name: string; records: () => ZoneRecord[]; detail: RegExp }[] = [
      {
        name: "a TXT record that is not DKIM",
        records: () => [
          { name: "bad-1._domainkey", type: "TXT", data: ["google-site-verification=abc"] },
        ],
        detail: /google-site-verification|DKIM/,
      },
      {
        name: "two DKIM records at the selector",
        records: () => [
          {
            name: "bad-1._domainkey",
            type: "TXT",
            data: splitTxt(dkimRecordValue(good.publicKey)),
          },
          {
            name: "bad-1._domainkey",
            type: "TXT",
            data: splitTxt(dkimRecordValue(small.publicKey)),
          },
        ],
        detail: /2 DKIM key records/,
      },
      {
        name: "p= that is not base64",
        records: () => [
          { name: "bad-1._domainkey", type: "TXT", data: ["v=DKIM1; k=rsa; p=!!!notbase64"] },
        ],
        detail: /p/,
      },
      {
        name: "k=ed25519 where an RSA key is expected",
        records: () => [
          {
            name: "bad-1._domainkey",
            type: "TXT",
            data: ["v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
          },
        ],
        detail: /k|ed25519/,
      },
    ];
    for (const c of cases) {
      it(c.name, async function () {
        count("DNS answer");
        const server = await startDnsServer({
          zones: {
            [DOMAIN]: {
              serial: 1,
              ttl: 300,
              soa: SOA,
              records: [{ name: "@", type: "NS", data: "ns1.bad.example." }, ...c.records()],
            },
          },
        });
        try {
          const label = `127.0.0.1:${server.port}`;
          const v = await new DnsVerifier({ timeoutMs: 500, tries: 1 }).verify(
            DOMAIN,
            "bad-1",
            good.publicKey,
            [label],
          );
          expect(v.ok).to.equal(false);
          expect(v.servers).to.have.length(1);
          const s = v.servers[0]!;
          expect(s.server).to.equal(label);
          expect(["malformed", "mismatch"], `${s.status}: ${s.detail}`).to.include(s.status);
          expect(s.detail).to.match(c.detail);
          expect(s.detail.split("\n")).to.have.length(1);
        } finally {
          await server.close();
        }
      });
    }
  });
});
