/**
 * The operator CLI as an operator runs it: `node --import tsx scripts/dkim.ts`
 * in a child process, from the repository root. Checks exit codes, that bad
 * input fails in ONE line with no stack trace and writes nothing
 * (docs/design.md#invariant-6-bad-input-fails-early), and that the AWS-facing commands work against the emulator.
 */
import { execFile } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import {
  generateDkimKeyPair,
  publicKeyFingerprint,
} from "../actions/dkim-rotation/src/engine/keys";
import {
  parseRecordFile,
  recordPath,
  renderRecordFile,
} from "../actions/dkim-rotation/src/engine/record";
import { startAwsEmulator, type AwsEmulator } from "../scripts/sandbox/aws-emulator";
import { soaFor, startDnsServer, type DnsServer } from "../scripts/sandbox/dns-server";
import { offlineAwsEnv } from "./helpers/offline-env";

// The SDK warns that Node 20 support ends in 2027; these tests only talk to the emulator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REGION = "ap-northeast-1";
const DUMMY_ENV = offlineAwsEnv({
  accessKeyId: "AKIDCLITEST000000000",
  secretAccessKey: "cli-test-secret-not-real",
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function dkim(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "scripts/dkim.ts", ...args],
      { cwd: ROOT, env: { ...process.env, ...DUMMY_ENV, ...env }, timeout: 55_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

function stackless(run: Run) {
  expect(run.stderr, run.stderr).not.to.include("    at ");
  expect(run.stderr.trimEnd().split("\n"), run.stderr).to.have.length(1);
}

function stackFile(dir: string, identityYaml: string, extra = ""): string {
  const file = join(dir, "Pulumi.cli.yaml");
  writeFileSync(
    file,
    [
      "config:",
      `  aws:region: ${REGION}`,
      "  ses-dkim-rotation:identities:",
      identityYaml,
      "  ses-dkim-rotation:sesRequestsPerSecond: 50",
      extra,
    ].join("\n"),
  );
  return file;
}

const GOOD_IDENTITY = [
  "    - domain: cli.example",
  "      selectorPrefix: cli",
  "      nameservers: ['127.0.0.1:5399']",
].join("\n");

describe("operator CLI (scripts/dkim.ts in a child process)", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), "dkim-cli-"));
    // A checkout: --repo must be a work tree with dns/ (or .git).
    mkdirSync(join(dir, "dns"));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("--help exits 0 and lists the commands and the exit codes", async function () {
    const run = await dkim(["--help"]);
    expect(run.code).to.equal(0);
    for (const command of [
      "status",
      "plan",
      "verify",
      "activate",
      "rollback",
      "retire",
      "doctor",
      "check-records",
      "sandbox",
    ])
      expect(run.stdout).to.match(new RegExp(`^  ${command}\\b`, "m"));
    const text = run.stdout.replace(/\s+/g, " ");
    for (const code of [
      "0 ok",
      "1 failure",
      "2 bad input",
      "3 refused",
      "4 activation rolled back",
      "5 another run holds",
    ])
      expect(text).to.include(code);
  });

  it("bad input exits 2 with one line naming what is wrong, and writes nothing", async function () {
    const good = stackFile(dir, GOOD_IDENTITY);
    const badDir = join(dir, "bad");
    mkdirSync(badDir);
    const bad = stackFile(
      badDir,
      ["    - domain: cli.example", "      selectorPrefix: cli", "      keyBits: 4096"].join("\n"),
    );
    const sandboxOut = join(dir, "sandbox-out");
    const cases: { args: string[]; names: string[] }[] = [
      {
        args: ["--config", good, "--repo", dir, "verify", "--domain", "x.example"],
        names: ["--selector"],
      },
      {
        args: [
          "--config",
          good,
          "--repo",
          dir,
          "activate",
          "--domain",
          "d.example",
          "--selector",
          "bad_sel",
        ],
        names: ["--selector", "bad_sel", "not a valid SES selector"],
      },
      {
        args: ["--config", "nope.yaml", "--repo", dir, "status"],
        names: ["nope.yaml", "does not exist"],
      },
      {
        args: ["--config", bad, "--repo", dir, "plan", "--apply"],
        names: [
          bad,
          "identity cli.example",
          "ses-dkim-rotation:identities[0].keyBits",
          "1024 or 2048",
        ],
      },
      {
        args: ["sandbox", "--years", "-1", "--out", sandboxOut],
        names: ["--years", "-1"],
      },
    ];
    const runs = await Promise.all(cases.map((c) => dkim(c.args)));
    runs.forEach((run, i) => {
      const c = cases[i]!;
      expect(run.code, `${c.args.join(" ")}: ${run.stderr}`).to.equal(2);
      stackless(run);
      expect(run.stderr).to.match(/^error: /);
      for (const name of c.names) expect(run.stderr, c.args.join(" ")).to.include(name);
      expect(run.stdout).to.equal("");
    });
    // Nothing written: no record files, no lock files, no sandbox output.
    expect(readdirSync(dir).sort()).to.deep.equal(["Pulumi.cli.yaml", "bad", "dns"]);
    expect(readdirSync(badDir)).to.deep.equal(["Pulumi.cli.yaml"]);
    expect(existsSync(sandboxOut)).to.equal(false);
  });

  it("says what happened: --version, zero record files, missing credentials in one line with the fix", async function () {
    const config = stackFile(dir, GOOD_IDENTITY.replace("127.0.0.1:5399", "127.0.0.1:9"), "");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    const noCredentials = {
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
      AWS_PROFILE: "",
    };
    // The stack file's 50 requests/s is refused without --endpoint: a copy without it.
    const plain = join(dir, "Pulumi.plain.yaml");
    writeFileSync(plain, readFileSync(config, "utf8").replace(/.*sesRequestsPerSecond.*\n/, ""));
    const [version, zero, status] = await Promise.all([
      dkim(["--version"]),
      dkim(["--config", config, "--repo", dir, "check-records"]),
      dkim(["--config", plain, "--repo", dir, "status"], noCredentials),
    ]);
    expect(version.code).to.equal(0);
    expect(version.stdout).to.equal(`${pkg.version}\n`);
    expect(zero.code, zero.stderr).to.equal(0);
    expect(zero.stdout).to.equal("0 record files checked in dns/\n");
    expect(status.code, status.stderr).to.equal(1);
    stackless(status);
    expect(status.stderr).to.equal(
      "error: no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --endpoint for the local emulator; in a workflow, the OIDC role)\n",
    );
  });

  it("--debug shows the stack trace that is otherwise hidden", async function () {
    const run = await dkim(["--debug", "--config", join(dir, "missing.yaml"), "status"]);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include("missing.yaml");
    expect(run.stderr).to.include("    at ");
  });

  it("check-records reports each tampered record as file:line and exits 2", async function () {
    const config = stackFile(dir, GOOD_IDENTITY);
    const [good, other] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
    const write = (selector: string, publicKey: string) => {
      const text = renderRecordFile({
        domain: "cli.example",
        selector,
        keyBits: 2048,
        fingerprint: publicKeyFingerprint(publicKey),
        createdAt: "2027-01-04T00:00:00.000Z",
        publishBy: "2027-01-18",
        publicKey,
        ttl: 3600,
      });
      const file = join(dir, recordPath("cli.example", selector));
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    };
    write("cli-20270104", good.publicKey);
    const tampered = write("cli-20270105", other.publicKey);
    // Someone "fixed" one character of the key in review: still base64, still RSA-2048.
    const text = readFileSync(tampered, "utf8");
    const at = text.indexOf(other.publicKey.slice(120, 140));
    const original = text[at]!;
    writeFileSync(
      tampered,
      text.slice(0, at) + (original === "A" ? "B" : "A") + text.slice(at + 1),
    );
    const line = text.slice(0, at).split("\n").length;
    const firstStringLine = parseRecordFile(text, "x").strings[0]!.line;

    const run = await dkim(["--config", config, "--repo", dir, "check-records"]);
    expect(run.code, run.stderr).to.equal(2);
    expect(run.stdout).to.match(/^ok {4}dns\/cli\.example\/cli-20270104\.zone \(RSA-2048\)$/m);
    const errors = run.stdout.split("\n").filter((l) => l.startsWith("error "));
    expect(errors).to.have.length(1);
    expect(errors[0]).to.match(
      new RegExp(`^error dns/cli\\.example/cli-20270105\\.zone:(${line}|${firstStringLine}): `),
    );
    expect(errors[0]).to.include("identity cli.example");
    expect(errors[0]).to.include("field p");
  });

  describe("against the AWS emulator", function () {
    let emulator: AwsEmulator;
    let ses: SESv2Client;
    let ns: DnsServer;
    /** The identity, checked against a real loopback DNS server whose zone lacks the record. */
    let identityYaml: string;

    before(async function () {
      emulator = await startAwsEmulator({ sesRequestsPerSecond: 100 });
      ses = new SESv2Client({
        region: REGION,
        endpoint: emulator.url,
        credentials: { accessKeyId: "AKIDSETUP", secretAccessKey: "setup" },
      });
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "cli.example" }));
      ns = await startDnsServer({
        zones: {
          "cli.example": {
            serial: 1,
            ttl: 300,
            soa: soaFor("cli.example."),
            records: [{ name: "@", type: "NS", data: "ns1.cli.example." }],
          },
        },
      });
      identityYaml = GOOD_IDENTITY.replace("127.0.0.1:5399", `127.0.0.1:${ns.port}`);
    });
    after(async function () {
      ses?.destroy();
      await emulator?.close();
      await ns?.close();
    });

    it("status --json prints one JSON document and writes nothing", async function () {
      const config = stackFile(dir, identityYaml);
      const run = await dkim([
        "--config",
        config,
        "--repo",
        dir,
        "--endpoint",
        emulator.url,
        "--json",
        "status",
      ]);
      expect(run.code, run.stderr).to.equal(0);
      const { result: doc } = JSON.parse(run.stdout) as {
        result: {
          identities: { domain: string; sesStatus: Record<string, string>; nextStep: string }[];
          decisions: { kind: string }[];
        };
      };
      expect(doc.identities).to.have.length(1);
      expect(doc.identities[0]!.domain).to.equal("cli.example");
      // A new identity on Easy DKIM: PENDING, since nobody published its CNAMEs here.
      expect(doc.identities[0]!.sesStatus).to.deep.equal({ [REGION]: "PENDING" });
      expect(doc.decisions[0]!.kind).to.equal("rotate");
      expect(emulator.callCount({ operation: "GetEmailIdentity", outcome: "ok" })).to.be.at.least(
        1,
      );
      expect(emulator.callCount({ operation: "CreateSecret" })).to.equal(0);
      expect(readdirSync(dir)).to.deep.equal(["Pulumi.cli.yaml", "dns"]);
      expect(readdirSync(join(dir, "dns"))).to.deep.equal([]);
    });

    it("in a git checkout, plan --apply names the file it wrote and opens no PR; status counts only what HEAD holds", async function () {
      const config = stackFile(dir, identityYaml);
      const git = (...args: string[]) =>
        new Promise<void>((done, fail) =>
          execFile(
            "git",
            ["-c", "user.email=cli@example.invalid", "-c", "user.name=cli", ...args],
            { cwd: dir },
            (e) => (e ? fail(e) : done()),
          ),
        );
      await git("init", "-q", "-b", "main");
      await git("add", "-A");
      await git("commit", "-q", "--allow-empty", "-m", "stack file");
      const common = ["--config", config, "--repo", dir, "--endpoint", emulator.url];
      const plan = await dkim([...common, "plan", "--apply"]);
      expect(plan.code, plan.stderr).to.equal(0);
      const [file] = readdirSync(join(dir, "dns", "cli.example"));
      const rel = `dns/cli.example/${file}`;
      expect(plan.stdout).to.include(
        `wrote ${rel} in the working tree (no PR: commit it and open a PR for DNS review; the GitHub Action opens PRs)`,
      );
      expect(plan.stdout).not.to.match(/PR (opened|updated)/);

      const before = await dkim([...common, "status"]);
      expect(before.code, before.stderr).to.equal(0);
      expect(before.stderr).to.include(`warning: ${rel} is not committed: not on main`);
      expect(before.stdout).not.to.include("is on main");
      expect(before.stdout).to.include("awaiting DNS approval");

      await git("add", "-A");
      await git("commit", "-q", "-m", "record");
      const after = await dkim([...common, "status"]);
      expect(after.code, after.stderr).to.equal(0);
      expect(after.stderr).not.to.include("not committed");
      expect(after.stdout).to.include("is on main but not yet served everywhere");
      // Retiring on an identity SES still signs with Easy DKIM: nothing to retire, said so.
      const retire = await dkim([
        ...common,
        "retire",
        "--domain",
        "cli.example",
        "--selector",
        "cli-1",
      ]);
      expect(retire.code, retire.stderr).to.equal(3);
      expect(retire.stderr.trimEnd().split("\n").pop()).to.match(
        /^error: cli\.example: retire cli-1 refused: the identity has no BYODKIM selector to retire: SES is on Easy DKIM/,
      );
    });

    it("plan --apply writes the record file; activate then refuses (exit 3) in one line without a swap", async function () {
      const config = stackFile(dir, identityYaml);
      const common = ["--config", config, "--repo", dir, "--endpoint", emulator.url];
      const plan = await dkim([...common, "plan", "--apply"]);
      expect(plan.code, plan.stderr).to.equal(0);
      const records = readdirSync(join(dir, "dns", "cli.example"));
      expect(records).to.have.length(1);
      const selector = records[0]!.replace(/\.zone$/, "");
      expect(emulator.secrets.get(REGION, `dkim/cli.example/${selector}`)).to.not.equal(undefined);

      const checked = await dkim(["--config", config, "--repo", dir, "check-records"]);
      expect(checked.code, checked.stdout).to.equal(0);

      // The nameserver answers, but the record is not published yet.
      const activate = await dkim([
        ...common,
        "activate",
        "--domain",
        "cli.example",
        "--selector",
        selector,
      ]);
      expect(activate.code, activate.stderr).to.equal(3);
      const last = activate.stderr.trimEnd().split("\n").pop()!;
      expect(last).to.match(
        new RegExp(
          `^error: cli\\.example: activate ${selector} refused: DNS not verified: 127\\.0\\.0\\.1:${ns.port}: missing \\(NXDOMAIN`,
        ),
      );
      expect(activate.stderr).not.to.include("    at ");
      expect(emulator.callCount({ operation: "PutEmailIdentityDkimSigningAttributes" })).to.equal(
        0,
      );
      // The lock was released, and its folder with it: a refusal leaves nothing behind.
      expect(existsSync(join(dir, ".dkim-locks"))).to.equal(false);
    });
  });
});
