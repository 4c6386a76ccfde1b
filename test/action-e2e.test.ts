/**
 * End-to-end tests of the GitHub Action (issue #3, "Done when"): `run()` is
 * driven exactly as the runner drives it, through `INPUT_*` variables and the
 * `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files, against the AWS emulator, two
 * loopback authoritative DNS servers and the GitHub REST fake (test/helpers/world.ts).
 *
 * One world lives through the whole lifecycle, in order: onboard an Easy DKIM
 * identity (plan → one record PR), merge, refuse activation while DNS does
 * not serve the record, publish, activate, and read the status. Then every
 * byte the runs wrote (stdout, outputs, summaries, PRs, branches) is scanned
 * for private key material. Last, the committed bundle runs as a child process.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parseRecordFile, recordPath } from "../actions/dkim-rotation/src/engine/record";
import { rotationBranch } from "../actions/dkim-rotation/src/adapters/github";
import { EMULATOR_CREDENTIALS, startWorld, type World } from "./helpers/world";
import { parseOutputFile, runEntryPoint, type EntryPointRun } from "./helpers/entry-point";
import { KMSClient } from "@aws-sdk/client-kms";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { KmsKeyCustody } from "../actions/dkim-rotation/src/adapters/kms";
import { SecretsKeyStore } from "../actions/dkim-rotation/src/adapters/secrets";

const DOMAIN = "mail.example.jp";
const REGION = "ap-northeast-1";
/** Shaped like an installation token; the fake accepts any. */
const TOKEN = "ghs_e2eFakeInstallationToken0123456789abcd";
const PUT_SIGNING = "PutEmailIdentityDkimSigningAttributes";

/** What one action run left behind. */
interface ActionRun extends EntryPointRun {
  /** The world's checkout the run used (runs of several worlds share `runs`). */
  workspace: string;
  inputs: Record<string, string>;
}

const runs: ActionRun[] = [];

/** The world's clock as the engine's Clock: sleeping moves simulated time and lets SES check DNS. */
function worldClock(world: World) {
  return {
    now: () => world.clock.now(),
    sleep: async (ms: number) => {
      world.clock.advance(ms);
      await world.emulator.advance();
    },
  };
}

/**
 * Run the action in-process as the runner would: inputs as `INPUT_<NAME>`
 * (upper-cased, spaces to `_`, hyphens kept), fresh output/summary files,
 * stdout captured (workflow commands go there), and everything restored after.
 */
async function runAction(world: World, inputs: Record<string, string>): Promise<ActionRun> {
  const all: Record<string, string> = {
    config: world.configFile,
    "aws-endpoint": world.emulator.url,
    // action.yml's default, ${{ github.token }}: the approval gate reads GitHub with it.
    "github-token": TOKEN,
    ...inputs,
  };
  // The engine runs on the world's clock, so a test can age keys by months.
  const r = await runEntryPoint(all, {
    ...world.runEnvironment(all.command),
    clock: worldClock(world),
  });
  const result: ActionRun = { workspace: world.workspace, inputs: all, ...r };
  runs.push(result);
  return result;
}

function expectSucceeded(r: ActionRun): void {
  // The log without mask commands: a failing assertion must not print key material.
  const log = r.stdout
    .split("\n")
    .filter((l) => !l.startsWith("::add-mask::"))
    .join("\n");
  expect(r.errors, `${r.inputs.command} failed:\n${log}`).to.deep.equal([]);
  expect(r.exitCode, r.inputs.command).to.equal(undefined);
}

interface DecisionOut {
  domain: string;
  kind: string;
  selector?: string;
  action?: string;
}

describe("action end to end: a plan where one identity fails", function () {
  this.timeout(60_000);
  const NEWS = "news.example.jp";
  let world: World;

  before(async function () {
    world = await startWorld({
      identities: [
        { domain: DOMAIN, selectorPrefix: "mail" },
        { domain: NEWS, selectorPrefix: "news" },
      ],
    });
    await world.createEasyDkimIdentity(DOMAIN);
    await world.createEasyDkimIdentity(NEWS);
  });

  after(async function () {
    await world?.close();
  });

  it("reports the failure on one line, and still writes the summary of what it did", async function () {
    // Identities are planned in config order: the first PR creation (mail) fails.
    // Octokit retries a 5xx three times; the fourth failure stands.
    world.github.failNext({
      method: "POST",
      path: `/repos/${world.repository}/pulls`,
      status: 502,
      message: "Server Error",
      times: 4,
    });
    const r = await runAction(world, { command: "plan", "github-token": TOKEN });
    expect(r.exitCode).to.equal(1);
    expect(r.errors.at(-1)).to.match(new RegExp(`^${DOMAIN.replace(/\./g, "\\.")}: .*502`));
    const pulls = world.github.listPulls();
    expect(pulls.map((p) => p.head)).to.deep.equal([
      rotationBranch(NEWS, pulls[0]!.head.split("/").pop()!),
    ]);
    expect(r.outputs["pull-request-number"]).to.equal(String(pulls[0]!.number));
    // The PR that was opened, and the failure, are both in the job summary.
    expect(r.summary).to.include("## DKIM plan");
    expect(r.summary).to.include(`| ${NEWS} |`);
    expect(r.summary).to.include(`| ${DOMAIN} |`);
    expect(r.summary).to.match(new RegExp(`- ${NEWS}: stored key .* record PR opened`));
    expect(r.summary).to.match(new RegExp(`- ${DOMAIN}: failed: .*502`));
  });

  it("the next run converges: the stored key gets its PR, no key is generated twice", async function () {
    const r = await runAction(world, { command: "plan", "github-token": TOKEN });
    expectSucceeded(r);
    const heads = world.github
      .listPulls()
      .map((p) => p.head.split("/")[1])
      .sort();
    expect(heads).to.deep.equal([DOMAIN, NEWS]);
    expect(world.emulator.secrets.list()).to.have.length(2);
    const decisions = JSON.parse(r.outputs.decisions!) as DecisionOut[];
    expect(decisions.find((d) => d.domain === DOMAIN)!.action).to.match(/re-opened the record PR/);
  });
});

describe("action with another record folder (the reusable workflows' record-folder input)", function () {
  this.timeout(60_000);
  let world: World;
  before(async function () {
    world = await startWorld({ repository: "example-jp/dkim-folder" });
    await world.createEasyDkimIdentity(DOMAIN);
  });
  after(async function () {
    await world?.close();
  });

  it("plan opens the record PR with the file under that folder, and nothing under dns/", async function () {
    const r = await runAction(world, {
      command: "plan",
      "github-token": TOKEN,
      "record-folder": "dkim/records",
    });
    expectSucceeded(r);
    const pulls = world.github.listPulls();
    expect(pulls).to.have.length(1);
    const added = world.github
      .listFiles(pulls[0]!.head)
      .filter((f) => !world.github.listFiles().includes(f));
    expect(added).to.have.length(1);
    expect(added[0]).to.match(
      new RegExp(`^dkim/records/${DOMAIN.replace(/\./g, "\\.")}/[a-z0-9-]+\\.zone$`),
    );
    expect(pulls[0]!.body).to.include(`\`${added[0]}\``);
  });

  it("refuses an environment other than the stack file's before any request", async function () {
    const before = world.emulator.callCount({});
    const r = await runAction(world, {
      command: "activate",
      "github-token": TOKEN,
      environment: "prod",
    });
    expect(r.exitCode).to.equal(1);
    expect(r.errors.join("\n")).to.match(
      /input:environment: field environment: "prod" is not the environment/,
    );
    expect(world.emulator.callCount({})).to.equal(before);
  });
});

describe("action end to end (run() against emulator, loopback DNS and the GitHub fake)", function () {
  this.timeout(60_000);
  let world: World;
  let selector = "";
  let prNumber = 0;
  let publicKey = "";

  before(async function () {
    world = await startWorld({ repository: "example-jp/dkim-test" });
    await world.createEasyDkimIdentity(DOMAIN);
  });

  after(async function () {
    await world?.close();
  });

  describe("plan", function () {
    it("onboards an Easy DKIM identity: stores one key and opens exactly one record PR", async function () {
      expect(world.emulator.ses.identity(REGION, DOMAIN)?.origin).to.equal("AWS_SES");
      const r = await runAction(world, { command: "plan", "github-token": TOKEN });
      expectSucceeded(r);

      const pulls = world.github.listPulls();
      expect(pulls).to.have.length(1);
      const pr = pulls[0]!;
      expect(pr.state).to.equal("open");
      selector = pr.head.split("/").pop()!;
      expect(selector).to.match(/^mail-\d{8}(-\d+)?$/);
      expect(pr.head).to.equal(rotationBranch(DOMAIN, selector));
      expect(pr.base).to.equal("main");
      expect(pr.teamReviewers.join(" ")).to.include("dns-team");
      prNumber = pr.number;

      // The branch differs from main by exactly one added file: the record.
      const path = recordPath(DOMAIN, selector);
      const onMain = world.github.listFiles("main");
      const onBranch = world.github.listFiles(pr.head);
      expect(onBranch).to.deep.equal([...onMain, path].sort());
      for (const f of onMain)
        expect(world.github.readFile(f, pr.head), f).to.equal(world.github.readFile(f, "main"));
      const record = parseRecordFile(world.github.readFile(path, pr.head)!, path);
      publicKey = record.tags.get("p")!;
      expect(publicKey).to.match(/^MIIBIjANBgkq/);

      // The key went to Secrets Manager, once, and its public half is the record's.
      const secrets = world.emulator.secrets.list();
      expect(secrets.map((s) => s.name)).to.deep.equal([`dkim/${DOMAIN}/${selector}`]);

      expect(r.outputs["pull-request-number"]).to.equal(String(prNumber));
      const decisions = JSON.parse(r.outputs.decisions!) as DecisionOut[];
      expect(decisions).to.have.length(1);
      expect(decisions[0]).to.include({ domain: DOMAIN, kind: "rotate" });
      expect(decisions[0]!.action).to.match(/stored key/);
      expect(JSON.parse(r.outputs.ready!)).to.deep.equal([]);

      expect(r.summary).to.include("## DKIM plan");
      expect(r.summary).to.include("### Identities");
      expect(r.summary).to.match(/\| Domain \| Active selector \| SES ap-northeast-1 \|/);
      expect(r.summary).to.match(new RegExp(`\\| ${DOMAIN.replace(/\./g, "\\.")} \\|`));
      // SES was never asked to swap by the planner.
      expect(world.emulator.callCount({ operation: PUT_SIGNING })).to.equal(0);
    });

    it("a second plan opens no second PR and stores no second key", async function () {
      const r = await runAction(world, { command: "plan", "github-token": TOKEN });
      expectSucceeded(r);
      expect(world.github.listPulls()).to.have.length(1);
      expect(world.github.branches().sort()).to.deep.equal(
        ["main", rotationBranch(DOMAIN, selector)].sort(),
      );
      expect(world.emulator.secrets.list()).to.have.length(1);
      const decisions = JSON.parse(r.outputs.decisions!) as DecisionOut[];
      expect(decisions[0]).to.include({ kind: "await-approval", selector });
      expect(r.outputs["pull-request-number"]).to.equal(String(prNumber));
    });
  });

  describe("activate", function () {
    before(function () {
      // The DNS team approves and merges; the next workflow run checks out main.
      world.github.merge(prNumber);
      world.syncFromMain();
    });

    it("refuses while no nameserver serves the record, naming each server; SES is untouched", async function () {
      const r = await runAction(world, { command: "activate", domain: DOMAIN, selector });
      expect(r.exitCode).to.equal(1);
      const failure = r.errors.at(-1)!;
      expect(failure).to.not.include("\n");
      expect(failure).to.include(`${DOMAIN}: activate ${selector} refused: DNS not verified`);
      expect(failure).to.include(`${world.ns1.address}: missing`);
      expect(failure).to.include(`${world.ns2.address}: missing`);
      expect(world.emulator.callCount({ operation: PUT_SIGNING })).to.equal(0);
      expect(world.emulator.ses.identity(REGION, DOMAIN)?.origin).to.equal("AWS_SES");
      // The approver reads why in the job summary, not only in the log.
      expect(r.summary).to.include("## DKIM activate");
      expect(r.summary).to.include(`refused: DNS not verified`);
      expect(r.summary).to.include(`${world.ns1.address}: missing`);
    });

    it("refuses while only one of the two nameservers serves it, naming the other", async function () {
      world.publish(DOMAIN, selector, publicKey, [world.ns1]);
      const r = await runAction(world, { command: "activate", domain: DOMAIN, selector });
      expect(r.exitCode).to.equal(1);
      const failure = r.errors.at(-1)!;
      expect(failure).to.include(`${world.ns2.address}: missing`);
      expect(failure).to.not.include(`${world.ns1.address}:`);
      expect(world.emulator.callCount({ operation: PUT_SIGNING })).to.equal(0);
    });

    it("status and verify (no selector) offer the selector once every server serves it", async function () {
      world.publish(DOMAIN, selector, publicKey, [world.ns2]);
      const status = await runAction(world, { command: "status" });
      expectSucceeded(status);
      expect(JSON.parse(status.outputs.ready!)).to.deep.equal([{ domain: DOMAIN, selector }]);
      const decisions = JSON.parse(status.outputs.decisions!) as DecisionOut[];
      expect(decisions[0]).to.include({ domain: DOMAIN, kind: "activate", selector });

      // What the hourly verify job runs (planner role, no selector).
      const verify = await runAction(world, { command: "verify" });
      expectSucceeded(verify);
      expect(JSON.parse(verify.outputs.ready!)).to.deep.equal([{ domain: DOMAIN, selector }]);
      expect(world.emulator.callCount({ operation: PUT_SIGNING })).to.equal(0);
    });

    it("swaps SES once DNS is served everywhere; the first poll sees SUCCESS", async function () {
      const r = await runAction(world, { command: "activate", domain: DOMAIN, selector });
      expectSucceeded(r);

      const identity = world.emulator.ses.identity(REGION, DOMAIN)!;
      expect(identity.origin).to.equal("EXTERNAL");
      expect(identity.selector).to.equal(selector);
      expect(identity.tokens).to.deep.equal([selector]);
      expect(identity.status).to.equal("SUCCESS");
      expect(identity.publicKey).to.equal(publicKey);
      expect(identity.keyFormat).to.equal("pkcs1");
      expect(world.emulator.callCount({ operation: PUT_SIGNING })).to.equal(1);

      expect(r.summary).to.include(`### Timeline: ${DOMAIN} → ${selector}`);
      const rows = r.summary.split("\n").filter((l) => /^\| \d{4}-\d\d-\d\d /.test(l));
      const step = (name: string) => rows.filter((l) => l.split(" | ")[2] === name);
      // One row per nameserver, and one for the Easy DKIM CNAMEs (the way back):
      // the identity starts on Easy DKIM.
      const cnameRows = step("dns").filter((l) => l.includes("Easy DKIM CNAMEs served everywhere"));
      const serverRows = step("dns").filter((l) => !cnameRows.includes(l));
      expect(cnameRows).to.have.length(1);
      expect(serverRows).to.have.length(2);
      for (const row of serverRows) expect(row).to.include("✅").and.match(/: ok/);
      expect(step("swap")).to.have.length(1);
      expect(step("swap")[0]).to.include(`${REGION}: now ${selector}`);
      expect(step("poll")).to.have.length(1);
      expect(step("poll")[0]).to.include(`poll 1: ${REGION}: SUCCESS`);
      expect(r.summary).to.match(/\| record \| ✅ \| activation of .* recorded/);
      // The key store remembers the activation (the planner reads it for retirement).
      const secret = world.emulator.secrets.get(REGION, `dkim/${DOMAIN}/${selector}`)!;
      expect(secret.tags).to.deep.include({ "dkim:state": "active" });
    });

    it("status and verify no longer offer the active selector", async function () {
      const status = await runAction(world, { command: "status" });
      expectSucceeded(status);
      expect(JSON.parse(status.outputs.ready!)).to.deep.equal([]);
      const decisions = JSON.parse(status.outputs.decisions!) as DecisionOut[];
      expect(decisions).to.have.length(1);
      expect(decisions[0]!.kind).to.not.equal("activate");
      expect(status.summary).to.include(`| ${DOMAIN} | ${selector} | ✅ SUCCESS |`);

      const verify = await runAction(world, { command: "verify" });
      expectSucceeded(verify);
      expect(JSON.parse(verify.outputs.ready!)).to.deep.equal([]);

      // Re-running the approved job converges without a second swap.
      const again = await runAction(world, { command: "activate", domain: DOMAIN, selector });
      expectSucceeded(again);
      expect(world.emulator.callCount({ operation: PUT_SIGNING })).to.equal(1);
      expect(again.summary).to.include("nothing to do");
    });
  });

  describe("bad input", function () {
    it("an unknown command fails on one line naming input:command, and nothing is written", async function () {
      const calls = world.emulator.callCount();
      const requests = world.github.requests.length;
      const pulls = world.github.listPulls().length;
      const r = await runAction(world, { command: "rotate", "github-token": TOKEN });
      expect(r.exitCode).to.equal(1);
      expect(r.errors).to.have.length(1);
      expect(r.errors[0]).to.match(/^input:command: .*"rotate" is not a command/);
      expect(r.errors[0]).to.not.include("\n");
      expect(r.errors[0]).to.not.match(/\bat .*\.ts:\d+/);
      expect(r.outputFile).to.equal("");
      expect(r.summary).to.equal("");
      expect(world.emulator.callCount()).to.equal(calls);
      expect(world.github.requests.length).to.equal(requests);
      expect(world.github.listPulls()).to.have.length(pulls);
    });
  });

  describe("secret hygiene", function () {
    const PEM = /-----BEGIN|PRIVATE KEY/;

    /** Every stored key, decrypted as only the activator could (base64 PKCS#1, what SES gets). */
    async function decryptedKeys(): Promise<string[]> {
      const common = {
        region: REGION,
        endpoint: world.emulator.url,
        credentials: EMULATOR_CREDENTIALS,
      };
      const kms = new KMSClient(common);
      const sm = new SecretsManagerClient(common);
      const store = new SecretsKeyStore({
        client: sm,
        kmsKeyId: "alias/ses-dkim-rotation",
        custody: new KmsKeyCustody({ client: kms, keyId: "alias/ses-dkim-rotation" }),
      });
      try {
        const out: string[] = [];
        for (const s of world.emulator.secrets.list(REGION)) {
          if (!s.currentValue) continue;
          const [, domain, selector] = s.name.split("/");
          out.push(await store.readPrivateKey(domain!, selector!));
        }
        return out;
      } finally {
        kms.destroy();
        sm.destroy();
      }
    }

    it("no private key material in stdout, outputs, summaries, PRs or any branch", async function () {
      const mine = runs.filter((r) => r.workspace === world.workspace);
      expect(mine.length).to.be.greaterThan(8);
      // Stored wrapped by KMS: the secret value itself is ciphertext.
      expect(JSON.parse(world.emulator.secrets.list(REGION)[0]!.currentValue!).format).to.equal(
        "kms-wrapped-pkcs8/v1",
      );
      const secrets = await decryptedKeys();
      expect(secrets).to.have.length(1);
      // The SES format: base64 PKCS#1 DER (docs/design.md#ses-private-key-format).
      expect(secrets[0]).to.match(/^MIIE[o-p]/);

      const places: [string, string][] = [];
      mine.forEach((r, i) => {
        const label = `run ${i + 1} (${r.inputs.command})`;
        // stdout without the mask commands themselves (checked separately below).
        const unmasked = r.stdout
          .split("\n")
          .filter((l) => !l.startsWith("::add-mask::"))
          .join("\n");
        places.push([`${label} stdout`, unmasked]);
        places.push([`${label} GITHUB_OUTPUT`, r.outputFile]);
        places.push([`${label} step summary`, r.summary]);
      });
      for (const p of world.github.listPulls()) {
        places.push([`PR #${p.number} title`, p.title]);
        places.push([`PR #${p.number} body`, p.body ?? ""]);
      }
      for (const branch of world.github.branches())
        for (const path of world.github.listFiles(branch))
          places.push([`${branch}:${path}`, world.github.readFile(path, branch) ?? ""]);
      places.push(["requests to GitHub", JSON.stringify(world.github.requests)]);
      for (const [where, text] of places) {
        expect(text, where).to.not.match(PEM);
        for (const secret of secrets) {
          expect(text.includes(secret), `${where} holds a private key`).to.equal(false);
          // A slice of the private part leaks the key just the same. (Not the start:
          // PKCS#1 begins with the modulus, which the public record carries too.)
          for (const part of [secret.slice(700, 764), secret.slice(-64)])
            expect(text.includes(part), `${where} holds part of a key`).to.equal(false);
        }
      }
      expect(places.length).to.be.greaterThan(30);
      // The figure docs/reliability.md quotes.
      const lines = places.reduce((n, [, text]) => n + text.split("\n").length, 0);
      console.log(
        `      secret hygiene (action): ${places.length} places (${lines} lines) scanned for ${secrets.length} key: 0 hits`,
      );
    });

    it("each private key and the token appear in stdout only as ::add-mask:: commands", async function () {
      const secrets = await decryptedKeys();
      const mine = runs.filter((r) => r.workspace === world.workspace);
      const all = mine.map((r) => r.stdout).join("");
      for (const value of [...secrets, TOKEN]) {
        const lines = all.split("\n").filter((l) => l.includes(value));
        // Masked by every run that decrypted it (the activator), never seen by others.
        expect(lines.length, "masked at least once").to.be.greaterThan(0);
        for (const l of lines) expect(l).to.equal(`::add-mask::${value}`);
      }
      // KMS made the key: the plan run never held it, so it never masked it.
      expect(mine[0]!.inputs.command).to.equal("plan");
      expect(mine[0]!.stdout).not.to.include(secrets[0]!);
      const firstHolder = mine.find((r) => r.stdout.includes(secrets[0]!))!;
      expect(firstHolder.inputs.command).to.equal("activate");
    });
  });

  describe("the committed bundle (dist/index.js)", function () {
    it("runs status as a node process: exit 0 and the ready output", async function () {
      const dir = mkdtempSync(join(tmpdir(), "dkim-bundle-run-"));
      try {
        const outputPath = join(dir, "output");
        const summaryPath = join(dir, "summary");
        writeFileSync(outputPath, "");
        writeFileSync(summaryPath, "");
        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(process.env))
          if (!k.startsWith("INPUT_") && !k.startsWith("AWS_") && !k.startsWith("GITHUB_"))
            env[k] = v;
        Object.assign(env, {
          INPUT_COMMAND: "status",
          INPUT_CONFIG: world.configFile,
          "INPUT_AWS-ENDPOINT": world.emulator.url,
          GITHUB_WORKSPACE: world.workspace,
          GITHUB_REPOSITORY: world.repository,
          GITHUB_OUTPUT: outputPath,
          GITHUB_STEP_SUMMARY: summaryPath,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
        });
        const child = spawn(process.execPath, ["actions/dkim-rotation/dist/index.js"], {
          env,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
        expect(code, `${stdout}\n${stderr}`).to.equal(0);
        expect(stdout).to.not.match(/^::error/m);
        const outputs = parseOutputFile(readFileSync(outputPath, "utf8"));
        expect(JSON.parse(outputs.ready!)).to.deep.equal([]);
        const decisions = JSON.parse(outputs.decisions!) as DecisionOut[];
        expect(decisions.map((d) => d.domain)).to.deep.equal([DOMAIN]);
        expect(readFileSync(summaryPath, "utf8")).to.include("## DKIM status");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe("action end to end: a second rotation and the gated retirement of the old key", function () {
  this.timeout(60_000);
  let world: World;
  const DAY = 24 * 60 * 60 * 1000;

  before(async function () {
    world = await startWorld({ repository: "example-jp/dkim-retire" });
    await world.createEasyDkimIdentity(DOMAIN);
  });
  after(async function () {
    await world?.close();
  });

  /** plan → merge → publish → activate; returns the new selector. */
  async function rotate(): Promise<string> {
    const plan = await runAction(world, { command: "plan", "github-token": TOKEN });
    expectSucceeded(plan);
    const pr = world.github.listPulls().find((p) => p.state === "open")!;
    const selector = pr.head.split("/").pop()!;
    world.github.merge(pr.number);
    world.syncFromMain();
    const path = recordPath(DOMAIN, selector);
    const p = parseRecordFile(readFileSync(join(world.workspace, path), "utf8"), path).tags.get(
      "p",
    )!;
    world.publish(DOMAIN, selector, p);
    const act = await runAction(world, { command: "activate", domain: DOMAIN, selector });
    expectSucceeded(act);
    expect(world.emulator.ses.identity(REGION, DOMAIN)?.tokens).to.deep.equal([selector]);
    return selector;
  }

  it("verify offers the old key for the gated retire job only after its record left main", async function () {
    const first = await rotate();
    world.clock.advance(320 * DAY);
    await world.emulator.advance();
    const second = await rotate();
    expect(second).to.not.equal(first);

    // Within the grace period nothing is retired.
    let verify = await runAction(world, { command: "verify" });
    expectSucceeded(verify);
    expect(JSON.parse(verify.outputs.retire!)).to.deep.equal([]);

    // After graceDays the daily plan opens the retirement PR (record removal only).
    world.clock.advance(8 * DAY);
    await world.emulator.advance();
    const plan = await runAction(world, { command: "plan", "github-token": TOKEN });
    expectSucceeded(plan);
    const retirement = world.github.listPulls().find((p) => p.state === "open")!;
    expect(retirement.head).to.match(/^dkim-retire\//);
    expect(retirement.title).to.include(first);
    // The planner cannot delete keys: the old secret is untouched so far.
    expect(world.emulator.secrets.get(REGION, `dkim/${DOMAIN}/${first}`)?.deletionDate).to.equal(
      undefined,
    );

    // The DNS team merges it; the push makes verify offer the old key for deletion.
    world.github.merge(retirement.number);
    world.syncFromMain();
    verify = await runAction(world, { command: "verify" });
    expectSucceeded(verify);
    expect(JSON.parse(verify.outputs.retire!)).to.deep.equal([{ domain: DOMAIN, selector: first }]);
    expect(JSON.parse(verify.outputs.ready!)).to.deep.equal([]);

    // The gated retire job (activator role) schedules the deletion with a recovery window.
    const retire = await runAction(world, {
      command: "retire",
      domain: DOMAIN,
      selector: first,
      "github-token": TOKEN,
    });
    expectSucceeded(retire);
    const old = world.emulator.secrets.get(REGION, `dkim/${DOMAIN}/${first}`)!;
    expect(old.deletionDate).to.be.instanceOf(Date);
    expect(old.deletionDate!.getTime() - world.clock.now().getTime()).to.be.at.least(
      7 * DAY - 1000,
    );
    expect(world.emulator.secrets.get(REGION, `dkim/${DOMAIN}/${second}`)?.deletionDate).to.equal(
      undefined,
    );

    // Converged: nothing more to retire, and the active selector was never touched.
    verify = await runAction(world, { command: "verify" });
    expect(JSON.parse(verify.outputs.retire!)).to.deep.equal([]);
    expect(world.emulator.ses.identity(REGION, DOMAIN)?.tokens).to.deep.equal([second]);
  });
});
