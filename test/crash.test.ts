/**
 * Crash recovery (docs/design.md#invariant-5-idempotent-and-crash-safe, issue #5 "Crash recovery"): the real
 * CLI — and for the PR boundary the real action — runs as a child process and
 * is SIGKILLed at a side-effect boundary of `plan --apply`, `activate`,
 * `rollback` and `retire`. No crash hook exists in product code: a proxy
 * between the child and the AWS emulator (or the GitHub fake) kills it right
 * after the upstream carried out a request and before the child hears back,
 * or as it asks for the next side effect; a file watcher kills it the moment
 * the record file lands in the checkout.
 *
 * After every kill the same command runs again, untouched, and the state must
 * converge:
 * - no lost or orphaned key: each stored key has its record file on main, or
 *   is scheduled for deletion (recoverable), or is the key SES signs with; no
 *   record file lacks its stored key; no second key was generated;
 * - no second record file or PR;
 * - no swap without verification: every PutEmailIdentityDkimSigningAttributes
 *   the run made imported a selector both nameservers served at that moment,
 *   and no Region was swapped twice;
 * - every Region on the same selector, SES SUCCESS;
 * - the lock the killed process left is taken over (its pid is dead) and
 *   released by the re-run.
 *
 * The children are the CLI (scripts/dkim.ts) and the action (src/index.ts)
 * bundled from the current sources by esbuild in `before`, as dist/ is built:
 * a child starts in ~0.3 s instead of ~1.3 s under tsx (test/cli.test.ts runs
 * the unbundled CLI).
 *
 * One world (emulator, two loopback nameservers, checkout, GitHub fake) holds
 * one identity per crash point, so the points do not disturb each other.
 * State before each point is prepared in-process with the same engine, on a
 * clock set in the past (the child uses the system clock).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  watch,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { DnsVerifier } from "../actions/dkim-rotation/src/adapters/dns";
import { FileLock, WorkingTreeChanges } from "../actions/dkim-rotation/src/adapters/local";
import { rotationBranch } from "../actions/dkim-rotation/src/adapters/github";
import { buildAwsAdapters, type AwsAdapters } from "../actions/dkim-rotation/src/context";
import { DAY_MS, type Clock } from "../actions/dkim-rotation/src/engine/clock";
import { type ProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import { loadConfig } from "../actions/dkim-rotation/src/load-config";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import {
  silentLogger,
  type EngineContext,
} from "../actions/dkim-rotation/src/engine/engine-context";
import { recordPath } from "../actions/dkim-rotation/src/engine/record";
import { generateDkimKeyPair, sesPrivateKeyToPem } from "../actions/dkim-rotation/src/engine/keys";
import { RepoRecords } from "../actions/dkim-rotation/src/adapters/repo-records";
import {
  bundleEntry,
  spawnNode,
  startCrashProxy,
  type CrashProxy,
  type KillRule,
  type ProxiedCall,
} from "./helpers/crash-proxy";
import { EMULATOR_CREDENTIALS, startWorld, type World } from "./helpers/world";
import { offlineAwsEnv } from "./helpers/offline-env";
import { plainChangeText } from "../actions/dkim-rotation/src/format";

// The SDK warns that Node 20 support ends in 2027; these tests only talk to the emulator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REGION_A = "ap-northeast-1";
const REGION_B = "ap-northeast-3";
const PUT = "PutEmailIdentityDkimSigningAttributes";
const TOKEN = "ghs_crashTestInstallationToken0123456789";

const CHILD_ENV = { ...process.env, ...offlineAwsEnv(EMULATOR_CREDENTIALS) };

/** One identity per crash point; each lives in two Regions (BYODKIM is imported per Region). */
const DOMAINS = {
  planKey: "plan-key.example",
  planRecord: "plan-record.example",
  planKms: "plan-kms.example",
  actDecrypt: "act-decrypt.example",
  actRegion1: "act-r1.example",
  actRegion1Stale: "act-r1-stale.example",
  actBoth: "act-both.example",
  actTag: "act-tag.example",
  rollbackRegion1: "rb-r1.example",
  retireRecord: "rt-record.example",
  retireTag: "rt-tag.example",
  retireDeleted: "rt-deleted.example",
  actionPr: "action-pr.example",
  adoptKey: "adopt-key.example",
  adoptTag: "adopt-tag.example",
} as const;

/** Crash points that fired (the report's figure); a point that never fired fails its test. */
const crashPoints: string[] = [];

describe("crash recovery: SIGKILL at every side-effect boundary, then re-run", function () {
  this.timeout(120_000);
  let world: World;
  let aws: CrashProxy;
  let config: ProjectConfig;
  let adapters: AwsAdapters;
  /** The CLI and the action, bundled from the current sources (a child starts in ~0.3 s). */
  let bundles: { dir: string; cli: string; action: string };
  const configPath = () => join(world.workspace, world.configFile);

  before(async function () {
    const dir = mkdtempSync(join(tmpdir(), "dkim-crash-bundle-"));
    const [cliBundle, actionBundle] = await Promise.all([
      bundleEntry(join(ROOT, "scripts/dkim.ts"), dir),
      bundleEntry(join(ROOT, "actions/dkim-rotation/src/index.ts"), dir),
    ]);
    bundles = { dir, cli: cliBundle, action: actionBundle };
    world = await startWorld({
      identities: Object.values(DOMAINS).map((domain) => ({
        domain,
        selectorPrefix: domain.split(".")[0]!,
        regions: [REGION_A, REGION_B],
      })),
      sesRequestsPerSecond: 200,
    });
    for (const domain of Object.values(DOMAINS))
      for (const region of [REGION_A, REGION_B]) await world.createEasyDkimIdentity(domain, region);
    aws = await startCrashProxy(world.emulator.url);
    config = loadConfig(configPath());
    adapters = buildAwsAdapters({
      config,
      endpoint: world.emulator.url,
      credentials: EMULATOR_CREDENTIALS,
      onSecret: () => {},
    });
  });
  after(async function () {
    adapters?.destroy();
    await aws?.close();
    await world?.close();
    if (bundles) rmSync(bundles.dir, { recursive: true, force: true });
    if (crashPoints.length)
      console.log(`      crash points tested: ${crashPoints.length} (${crashPoints.join("; ")})`);
  });

  /** The engine in this process, at a chosen instant (setup only; the child is what crashes). */
  function engineAt(at: Date): EngineContext {
    let t = at.getTime();
    const clock: Clock = {
      now: () => new Date(t),
      sleep: async (ms) => {
        t += ms;
        await new Promise((r) => setTimeout(r, 5));
      },
    };
    return {
      config,
      changeText: plainChangeText,
      ses: adapters.ses,
      keys: adapters.keys,
      dns: new DnsVerifier({ timeoutMs: 500, tries: 2 }),
      records: new RepoRecords(world.workspace, config, async () => undefined),
      changes: new WorkingTreeChanges(world.workspace),
      lock: new FileLock(join(world.workspace, ".dkim-locks")),
      clock,
      log: silentLogger,
      onSecret: () => {},
      activation: { pollIntervalMs: 60_000, timeoutMs: 3_600_000 },
    };
  }
  const daysAgo = (n: number) => new Date(Date.now() - n * DAY_MS);

  /** plan --apply in-process: store a key, write its record, serve it on both nameservers. */
  async function storeAndPublish(domain: string, at: Date): Promise<string> {
    // The emulator's clock goes back too: Secrets Manager's CreatedDate is the
    // fact the key store trusts over the created-at tag.
    const shift = at.getTime() - world.clock.now().getTime();
    world.clock.advance(shift);
    let outcomes;
    try {
      ({ outcomes } = await runPlan(engineAt(at), { apply: true, domains: [domain] }));
    } finally {
      world.clock.advance(-shift);
    }
    const selector = outcomes[0]!.selector!;
    expect(outcomes[0]!.error, outcomes[0]!.action).to.equal(undefined);
    const key = (await adapters.keys.list(domain)).find((k) => k.selector === selector)!;
    world.publish(domain, selector, key.publicKey);
    published.add(`${domain}/${selector}`);
    return selector;
  }
  async function activateAt(domain: string, selector: string, at: Date) {
    const report = await runActivate(engineAt(at), domain, selector);
    expect(report.outcome).to.equal("activated");
  }
  /** Selectors served on both nameservers (a swap to anything else is a swap without DNS). */
  const published = new Set<string>();

  /** K0 active (rotated in a year ago), K1 stored and published, not yet activated. */
  async function rotationPending(domain: string) {
    const k0 = await storeAndPublish(domain, daysAgo(400));
    await activateAt(domain, k0, daysAgo(390));
    const k1 = await storeAndPublish(domain, daysAgo(20));
    return { k0, k1 };
  }
  /** K1 activated ten days ago (past the 7-day grace), K0 still published and stored. */
  async function rotated(domain: string) {
    const { k0, k1 } = await rotationPending(domain);
    await activateAt(domain, k1, daysAgo(10));
    return { k0, k1 };
  }

  const cli = (args: string[]) =>
    spawnNode(
      [
        bundles.cli,
        "--config",
        configPath(),
        "--repo",
        world.workspace,
        "--endpoint",
        aws.url,
        ...args,
      ],
      { cwd: ROOT, env: CHILD_ENV },
    );

  /**
   * Run the command, SIGKILL it at `rule`, check it really died there, then
   * re-run it untouched. Returns the re-run and the calls both runs made.
   */
  async function crashAndRerun(name: string, args: string[], rule: KillRule, domain: string) {
    const first = cli(args);
    aws.arm(rule, () => first.kill());
    const crashed = await first.done;
    aws.disarm();
    expect(aws.fired, `${name}: the boundary was never reached\n${crashed.stderr}`).to.equal(true);
    expect(crashed.signal, `${name}: ${crashed.stderr}`).to.equal("SIGKILL");
    crashPoints.push(name);
    const lock = join(world.workspace, ".dkim-locks", `${domain}.lock`);
    const staleLock = existsSync(lock);
    const from = aws.calls.length;
    const rerun = await cli(args).done;
    expect(rerun.code, `${name} re-run: ${rerun.stderr}`).to.equal(0);
    expect(rerun.stderr).not.to.include("    at ");
    // A lock left by the dead process was taken over, and the re-run released its own.
    expect(existsSync(lock), `${name}: lock left behind`).to.equal(false);
    return { rerun, staleLock, rerunCalls: aws.calls.slice(from) };
  }

  const recordFiles = (domain: string) => {
    const dir = join(world.workspace, "dns", domain);
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((n) => n.endsWith(".zone"))
          .map((n) => n.replace(/\.zone$/, ""))
          .sort()
      : [];
  };
  const secrets = (domain: string) =>
    world.emulator.secrets.list(REGION_A).filter((s) => s.name.startsWith(`dkim/${domain}/`));
  const sesSelectors = (domain: string) =>
    [REGION_A, REGION_B].map((r) => world.emulator.ses.identity(r, domain)!);
  const putsFor = (domain: string, calls: ProxiedCall[] = aws.calls) =>
    calls.filter((c) => c.operation === PUT && c.forwarded && c.path.includes(`/${domain}/`));

  /** The convergence checks every crash point shares. */
  function expectConverged(domain: string, o: { keys: number; active: string }) {
    const stored = secrets(domain);
    const files = recordFiles(domain);
    const ses = sesSelectors(domain);
    // No second key: the re-run used the key the crashed run stored.
    expect(stored, "stored keys").to.have.length(o.keys);
    for (const s of stored) {
      const selector = s.name.split("/").pop()!;
      // Immutable: created once with its value, never overwritten.
      expect(s.overwritten, s.name).to.equal(false);
      const accounted =
        files.includes(selector) ||
        s.deletedAt !== undefined ||
        ses.some((i) => i.origin === "EXTERNAL" && i.selector === selector);
      expect(accounted, `${s.name} is orphaned: no record, not scheduled, not active`).to.equal(
        true,
      );
    }
    for (const f of files)
      expect(
        stored.map((s) => s.name),
        `record ${f} has no stored key`,
      ).to.include(`dkim/${domain}/${f}`);
    // Every Region on one selector, verified by SES.
    for (const i of ses) {
      expect(i.origin, `${i.region}`).to.equal("EXTERNAL");
      expect(i.selector, `${i.region}`).to.equal(o.active);
      expect(i.status, `${i.region}`).to.equal("SUCCESS");
    }
    // No swap without DNS: each swap imported a selector both nameservers served.
    for (const put of putsFor(domain))
      expect(published, `swap to unpublished ${put.selector}`).to.include(
        `${domain}/${put.selector}`,
      );
  }

  describe("plan --apply", function () {
    it("killed after the key is stored (CreateSecret done, answer lost): the re-run writes its record, no second key", async function () {
      const domain = DOMAINS.planKey;
      const { rerun } = await crashAndRerun(
        "plan --apply: after key stored",
        ["plan", "--apply", "--domain", domain],
        { match: (c) => c.operation === "CreateSecret", phase: "after-response" },
        domain,
      );
      const stored = secrets(domain);
      expect(stored).to.have.length(1);
      const selector = stored[0]!.name.split("/").pop()!;
      expect(recordFiles(domain)).to.deep.equal([selector]);
      expect(rerun.stdout + rerun.stderr).to.include(selector);
      // The re-run never generated (or tried to store) another key.
      expect(aws.calls.filter((c) => c.operation === "CreateSecret" && c.forwarded)).to.have.length(
        1,
      );
      expect(putsFor(domain)).to.have.length(0);
    });

    it("killed right after the record file is written: the re-run changes nothing", async function () {
      const domain = DOMAINS.planRecord;
      const dir = join(world.workspace, "dns", domain);
      mkdirSync(dir, { recursive: true });
      const run = cli(["plan", "--apply", "--domain", domain]);
      let killed = false;
      const watcher = watch(dir, (_event, name) => {
        if (!killed && name && String(name).endsWith(".zone")) {
          killed = true;
          void run.kill();
        }
      });
      const crashed = await run.done;
      watcher.close();
      expect(killed, crashed.stderr).to.equal(true);
      expect(crashed.signal, crashed.stderr).to.equal("SIGKILL");
      crashPoints.push("plan --apply: after record written");
      const before = recordFiles(domain);
      expect(before).to.have.length(1);
      const createsBefore = aws.calls.filter((c) => c.operation === "CreateSecret").length;
      const rerun = await cli(["plan", "--apply", "--domain", domain]).done;
      expect(rerun.code, rerun.stderr).to.equal(0);
      expect(recordFiles(domain)).to.deep.equal(before);
      expect(aws.calls.filter((c) => c.operation === "CreateSecret").length).to.equal(
        createsBefore,
      );
      expect(secrets(domain)).to.have.length(1);
      // No temp file of the atomic write left beside the record.
      expect(readdirSync(dir).filter((n) => !n.endsWith(".zone"))).to.deep.equal([]);
    });
  });

  describe("KMS custody paths", function () {
    it("plan --apply killed after KMS made the key pair, before CreateSecret: the re-run asks KMS again and stores one key", async function () {
      const domain = DOMAINS.planKms;
      const { rerunCalls } = await crashAndRerun(
        "plan --apply: after KMS GenerateDataKeyPairWithoutPlaintext",
        ["plan", "--apply", "--domain", domain],
        {
          match: (c) =>
            c.service === "kms" && c.operation === "GenerateDataKeyPairWithoutPlaintext",
          phase: "after-response",
        },
        domain,
      );
      const stored = secrets(domain);
      expect(stored).to.have.length(1);
      expect(stored[0]!.tags["dkim:key-origin"]).to.equal("kms");
      const selector = stored[0]!.name.split("/").pop()!;
      expect(recordFiles(domain)).to.deep.equal([selector]);
      // The crashed run's pair was never stored; the re-run made its own.
      expect(
        rerunCalls.filter((c) => c.operation === "GenerateDataKeyPairWithoutPlaintext"),
      ).to.have.length(1);
      expect(
        rerunCalls.filter((c) => c.operation === "CreateSecret" && c.forwarded),
      ).to.have.length(1);
    });

    it("activate killed after KMS Decrypt answered, before any swap: the re-run decrypts again and swaps each Region once", async function () {
      const domain = DOMAINS.actDecrypt;
      const { k1 } = await rotationPending(domain);
      const putsBefore = putsFor(domain).length;
      const { rerunCalls } = await crashAndRerun(
        "activate: after KMS Decrypt",
        ["activate", "--domain", domain, "--selector", k1],
        { match: (c) => c.service === "kms" && c.operation === "Decrypt", phase: "after-response" },
        domain,
      );
      expectConverged(domain, { keys: 2, active: k1 });
      expect(
        putsFor(domain)
          .slice(putsBefore)
          .map((p) => p.region),
      ).to.deep.equal([REGION_A, REGION_B]);
      expect(rerunCalls.filter((c) => c.operation === "Decrypt").length).to.be.greaterThan(0);
    });
  });

  describe("activate on a two-Region identity", function () {
    it("killed after the swap in Region 1 of 2: the re-run verifies DNS again and swaps only Region 2", async function () {
      const domain = DOMAINS.actRegion1;
      const { k0, k1 } = await rotationPending(domain);
      const putsBefore = putsFor(domain).length;
      const { staleLock, rerunCalls } = await crashAndRerun(
        "activate: after swap in Region 1 of 2",
        ["activate", "--domain", domain, "--selector", k1],
        { match: (c) => c.operation === PUT && c.region === REGION_A, phase: "after-response" },
        domain,
      );
      expect(staleLock, "the killed run left its lock").to.equal(true);
      expectConverged(domain, { keys: 2, active: k1 });
      const puts = putsFor(domain).slice(putsBefore);
      expect(puts.map((p) => p.region)).to.deep.equal([REGION_A, REGION_B]);
      expect(putsFor(domain, rerunCalls).map((p) => p.region)).to.deep.equal([REGION_B]);
      expect(recordFiles(domain)).to.deep.equal([k0, k1].sort());
      const k1Secret = world.emulator.secrets.get(REGION_A, `dkim/${domain}/${k1}`)!;
      expect(k1Secret.tags["dkim:state"]).to.equal("active");
    });

    it("killed after Region 1 of 2, then ns2 goes stale: the re-run refuses without a swap, and converges once DNS is back", async function () {
      const domain = DOMAINS.actRegion1Stale;
      const { k0, k1 } = await rotationPending(domain);
      const putsBefore = putsFor(domain).length;
      const first = cli(["activate", "--domain", domain, "--selector", k1]);
      aws.arm(
        { match: (c) => c.operation === PUT && c.region === REGION_A, phase: "after-response" },
        () => first.kill(),
      );
      const crashed = await first.done;
      aws.disarm();
      expect(crashed.signal, crashed.stderr).to.equal("SIGKILL");
      crashPoints.push("activate: after swap in Region 1 of 2, DNS changed before the re-run");
      world.unpublish(domain, k1, [world.ns2]);
      published.delete(`${domain}/${k1}`);
      const refused = await cli(["activate", "--domain", domain, "--selector", k1]).done;
      expect(refused.code, refused.stderr).to.equal(3);
      const last = refused.stderr.trimEnd().split("\n").pop()!;
      expect(last).to.include(`activate ${k1} refused: DNS not verified: ${world.ns2.address}`);
      expect(putsFor(domain).slice(putsBefore)).to.have.length(1);
      world.publish(
        domain,
        k1,
        (await adapters.keys.list(domain)).find((k) => k.selector === k1)!.publicKey,
      );
      published.add(`${domain}/${k1}`);
      const rerun = await cli(["activate", "--domain", domain, "--selector", k1]).done;
      expect(rerun.code, rerun.stderr).to.equal(0);
      expectConverged(domain, { keys: 2, active: k1 });
      expect(
        putsFor(domain)
          .slice(putsBefore)
          .map((p) => p.region),
      ).to.deep.equal([REGION_A, REGION_B]);
      expect(recordFiles(domain)).to.deep.equal([k0, k1].sort());
    });

    it("killed after the swap in both Regions, before SUCCESS was seen: the re-run only polls and records", async function () {
      const domain = DOMAINS.actBoth;
      const { k1 } = await rotationPending(domain);
      const putsBefore = putsFor(domain).length;
      const { rerunCalls } = await crashAndRerun(
        "activate: after swap in both Regions, before SUCCESS",
        ["activate", "--domain", domain, "--selector", k1],
        { match: (c) => c.operation === PUT && c.region === REGION_B, phase: "after-response" },
        domain,
      );
      expectConverged(domain, { keys: 2, active: k1 });
      expect(putsFor(domain).slice(putsBefore)).to.have.length(2);
      expect(putsFor(domain, rerunCalls)).to.have.length(0);
      expect(
        world.emulator.secrets.get(REGION_A, `dkim/${domain}/${k1}`)!.tags["dkim:state"],
      ).to.equal("active");
    });

    it("killed after SES SUCCESS, before the activation tag: the re-run records the activation without a swap", async function () {
      const domain = DOMAINS.actTag;
      const { k0, k1 } = await rotationPending(domain);
      const putsBefore = putsFor(domain).length;
      const { rerunCalls } = await crashAndRerun(
        "activate: after SES SUCCESS, before the activation tag",
        ["activate", "--domain", domain, "--selector", k1],
        { match: (c) => c.operation === "TagResource", phase: "before-forward" },
        domain,
      );
      expectConverged(domain, { keys: 2, active: k1 });
      expect(putsFor(domain).slice(putsBefore)).to.have.length(2);
      expect(putsFor(domain, rerunCalls)).to.have.length(0);
      const tags = world.emulator.secrets.get(REGION_A, `dkim/${domain}/${k1}`)!.tags;
      expect(tags["dkim:state"]).to.equal("active");
      expect(tags["dkim:activated-at"]).to.be.a("string");
      // The previous key stays for rollback.
      expect(recordFiles(domain)).to.include(k0);
    });
  });

  describe("rollback --to", function () {
    it("killed after Region 1 of 2 is back: the re-run restores Region 2 and keeps the restored key's age", async function () {
      const domain = DOMAINS.rollbackRegion1;
      const { k0, k1 } = await rotated(domain);
      const activatedAt = world.emulator.secrets.get(REGION_A, `dkim/${domain}/${k0}`)!.tags[
        "dkim:activated-at"
      ];
      const putsBefore = putsFor(domain).length;
      const { staleLock, rerunCalls } = await crashAndRerun(
        "rollback --to: after Region 1 of 2",
        ["rollback", "--domain", domain, "--to", k0],
        { match: (c) => c.operation === PUT && c.region === REGION_A, phase: "after-response" },
        domain,
      );
      expect(staleLock).to.equal(true);
      expectConverged(domain, { keys: 2, active: k0 });
      expect(
        putsFor(domain)
          .slice(putsBefore)
          .map((p) => [p.region, p.selector]),
      ).to.deep.equal([
        [REGION_A, k0],
        [REGION_B, k0],
      ]);
      expect(putsFor(domain, rerunCalls).map((p) => p.region)).to.deep.equal([REGION_B]);
      const tags = (s: string) => world.emulator.secrets.get(REGION_A, `dkim/${domain}/${s}`)!.tags;
      expect(tags(k0)["dkim:state"]).to.equal("active");
      expect(tags(k0)["dkim:activated-at"]).to.equal(activatedAt);
      expect(tags(k1)["dkim:state"]).to.equal("retired");
    });
  });

  describe("retire", function () {
    /** Retirement converged: record gone, key scheduled with the configured window, K1 untouched. */
    function expectRetired(domain: string, k0: string, k1: string) {
      expectConverged(domain, { keys: 2, active: k1 });
      expect(recordFiles(domain)).to.deep.equal([k1]);
      const old = world.emulator.secrets.get(REGION_A, `dkim/${domain}/${k0}`)!;
      expect(old.deletedAt, "old key scheduled for deletion").to.be.instanceOf(Date);
      expect(old.tags["dkim:state"]).to.equal("retired");
      expect(old.tags["dkim:recovery-days"]).to.equal(String(config.deletionRecoveryDays));
      const days = (old.deletionDate!.getTime() - old.deletedAt!.getTime()) / DAY_MS;
      expect(days).to.equal(config.deletionRecoveryDays);
      expect(world.emulator.secrets.get(REGION_A, `dkim/${domain}/${k1}`)!.deletedAt).to.equal(
        undefined,
      );
      expect(
        aws.calls.filter(
          (c) => c.operation === "DeleteSecret" && c.forwarded && c.region === REGION_A,
        ).length,
      ).to.be.greaterThan(0);
    }

    it("killed after the record is removed, before the state tag: the re-run tags and schedules deletion", async function () {
      const domain = DOMAINS.retireRecord;
      const { k0, k1 } = await rotated(domain);
      const { staleLock } = await crashAndRerun(
        "retire: after record removed",
        ["retire", "--domain", domain, "--selector", k0],
        { match: (c) => c.operation === "TagResource", phase: "before-forward" },
        domain,
      );
      expect(staleLock).to.equal(true);
      expectRetired(domain, k0, k1);
    });

    it("killed after the state tag, before DeleteSecret: the re-run schedules deletion once", async function () {
      const domain = DOMAINS.retireTag;
      const { k0, k1 } = await rotated(domain);
      const deletesBefore = aws.calls.filter((c) => c.operation === "DeleteSecret").length;
      await crashAndRerun(
        "retire: after state tag, before DeleteSecret",
        ["retire", "--domain", domain, "--selector", k0],
        { match: (c) => c.operation === "DeleteSecret", phase: "before-forward" },
        domain,
      );
      expectRetired(domain, k0, k1);
      expect(
        aws.calls.filter((c) => c.operation === "DeleteSecret" && c.forwarded).length -
          deletesBefore,
      ).to.equal(1);
    });

    it("killed after DeleteSecret succeeded, answer lost: the re-run finds it scheduled and does not delete again", async function () {
      const domain = DOMAINS.retireDeleted;
      const { k0, k1 } = await rotated(domain);
      const deletesBefore = aws.calls.filter((c) => c.operation === "DeleteSecret").length;
      const { rerun } = await crashAndRerun(
        "retire: after DeleteSecret, before the report",
        ["retire", "--domain", domain, "--selector", k0],
        { match: (c) => c.operation === "DeleteSecret", phase: "after-response" },
        domain,
      );
      expectRetired(domain, k0, k1);
      expect(rerun.stdout).to.include("already scheduled for deletion");
      expect(
        aws.calls.filter((c) => c.operation === "DeleteSecret").length - deletesBefore,
      ).to.equal(1);
    });
  });

  describe("adopt (a legacy key from a key file)", function () {
    const LEGACY = "gooid-21-prod";
    /** SES signs with a hand-made key in both Regions; both servers serve it. */
    async function legacy(domain: string): Promise<string[]> {
      const pair = await generateDkimKeyPair(2048);
      // Published before the hand import, as a careful operator once did.
      world.publish(domain, LEGACY, pair.publicKey);
      published.add(`${domain}/${LEGACY}`);
      for (const region of [REGION_A, REGION_B])
        await adapters.ses.putExternalKey(region, domain, LEGACY, pair.sesPrivateKey);
      // The emulator checks DNS as requests arrive: one read each settles SUCCESS.
      for (const region of [REGION_A, REGION_B]) await adapters.ses.getIdentity(region, domain);
      const file = join(world.workspace, `${domain}.pem`);
      writeFileSync(file, sesPrivateKeyToPem(pair.sesPrivateKey));
      return [
        "adopt",
        "--domain",
        domain,
        "--selector",
        LEGACY,
        "--activated-at",
        "2026-02-20",
        "--key-file",
        file,
      ];
    }
    async function expectAdopted(domain: string) {
      expectConverged(domain, { keys: 1, active: LEGACY });
      expect(recordFiles(domain)).to.deep.equal([LEGACY]);
      const key = (await adapters.keys.list(domain))[0]!;
      expect([key.state, key.activatedAt?.toISOString()]).to.deep.equal([
        "active",
        "2026-02-20T00:00:00.000Z",
      ]);
      expect(putsFor(domain).filter((p) => p.selector !== LEGACY)).to.deep.equal([]);
    }

    it("killed after the key is stored (CreateSecret done, answer lost): the re-run records it active and writes its record, one key", async function () {
      const domain = DOMAINS.adoptKey;
      const args = await legacy(domain);
      await crashAndRerun(
        "adopt: after key stored",
        args,
        { match: (c) => c.operation === "CreateSecret", phase: "after-response" },
        domain,
      );
      await expectAdopted(domain);
    });

    it("killed after the activation tag, before the record file: the re-run writes the record only", async function () {
      const domain = DOMAINS.adoptTag;
      const args = await legacy(domain);
      const { rerunCalls } = await crashAndRerun(
        "adopt: after activation tag",
        args,
        { match: (c) => c.operation === "TagResource", phase: "after-response" },
        domain,
      );
      expect(rerunCalls.filter((c) => c.operation === "CreateSecret")).to.have.length(0);
      await expectAdopted(domain);
    });
  });

  describe("the action's plan (GitHub fake behind the proxy)", function () {
    let github: CrashProxy;
    before(async function () {
      github = await startCrashProxy(world.github.url);
    });
    after(async function () {
      await github?.close();
    });

    function action(domain: string) {
      const dir = mkdtempSync(join(tmpdir(), "dkim-crash-action-"));
      writeFileSync(join(dir, "output"), "");
      writeFileSync(join(dir, "summary"), "");
      const run = spawnNode([bundles.action], {
        cwd: ROOT,
        env: {
          ...CHILD_ENV,
          GITHUB_WORKSPACE: world.workspace,
          GITHUB_REPOSITORY: world.repository,
          GITHUB_API_URL: github.url,
          GITHUB_OUTPUT: join(dir, "output"),
          GITHUB_STEP_SUMMARY: join(dir, "summary"),
          INPUT_COMMAND: "plan",
          INPUT_CONFIG: world.configFile,
          INPUT_DOMAIN: domain,
          "INPUT_GITHUB-TOKEN": TOKEN,
          "INPUT_AWS-ENDPOINT": aws.url,
        },
      });
      return { run, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    }

    it("killed after the PR is opened (answer lost): the re-run finds it, no second PR or branch", async function () {
      const domain = DOMAINS.actionPr;
      const first = action(domain);
      github.arm(
        { match: (c) => c.method === "POST" && /\/pulls$/.test(c.path), phase: "after-response" },
        () => first.run.kill(),
      );
      const crashed = await first.run.done;
      first.cleanup();
      github.disarm();
      expect(github.fired, crashed.stdout + crashed.stderr).to.equal(true);
      expect(crashed.signal).to.equal("SIGKILL");
      crashPoints.push("action plan: after the PR is opened");
      const mine = () => world.github.listPulls().filter((p) => p.title.includes(domain));
      expect(mine()).to.have.length(1);
      const second = action(domain);
      const rerun = await second.run.done;
      second.cleanup();
      expect(rerun.code, rerun.stdout + rerun.stderr).to.equal(0);
      expect(mine()).to.have.length(1);
      expect(secrets(domain)).to.have.length(1);
      const selector = secrets(domain)[0]!.name.split("/").pop()!;
      expect(mine()[0]!.head).to.equal(rotationBranch(domain, selector));
      expect(world.github.branches().filter((b) => b.includes(domain))).to.have.length(1);
      expect(
        world.github.readFile(recordPath(domain, selector), rotationBranch(domain, selector)),
      ).to.be.a("string");
    });
  });
});
