/**
 * The engine's commands end to end: the AWS emulator through the real SDK
 * clients (buildAwsAdapters), authoritative loopback DNS servers, record
 * files in a temp checkout, the file lock and a simulated clock. No mocks:
 * every assertion is about what the emulator, the DNS servers or the
 * checkout hold afterwards (docs/design.md#invariants, 1–5).
 */
import { spawnSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { DAY_MS, HOUR_MS, MINUTE_MS, addDays } from "../actions/dkim-rotation/src/engine/clock";
import { RefusalError } from "../actions/dkim-rotation/src/engine/errors";
import {
  fromSesPrivateKey,
  generateDkimKeyPair,
  publicKeyFingerprint,
  type DkimKeyPair,
} from "../actions/dkim-rotation/src/engine/keys";
import { ActivationFailedError, type SwapReport } from "../actions/dkim-rotation/src/engine/swap";
import { LockedError } from "../actions/dkim-rotation/src/engine/engine-context";
import { runActivate, runRollback } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { runRetire } from "../actions/dkim-rotation/src/engine/retire";
import { snapshotAll } from "../actions/dkim-rotation/src/engine/snapshot";
import {
  dkimRecordValue,
  parseRecordFile,
  recordPath,
  renderRecordFile,
} from "../actions/dkim-rotation/src/engine/record";
import { validateRecordFile } from "../actions/dkim-rotation/src/engine/records";
import {
  KMS_KEY_ID,
  REGION_A,
  REGION_B,
  startEngineHarness,
  type EngineHarness,
} from "./helpers/engine";

/** Expect a RefusalError matching `pattern`, and no SES swap while refusing. */
async function expectRefusal(h: EngineHarness, work: Promise<unknown>, pattern: RegExp) {
  const before = h.puts();
  let caught: unknown;
  try {
    await work;
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof RefusalError))
    expect.fail(`expected a RefusalError, got ${caught instanceof Error ? caught.stack : caught}`);
  expect(caught.message).to.match(pattern);
  expect(caught.message).not.to.include("\n");
  expect(h.puts(), "PutEmailIdentityDkimSigningAttributes calls").to.equal(before);
  return caught;
}

/** runPlan --apply for one domain; returns the selector it stored or proposed. */
async function planApply(h: EngineHarness, domain: string) {
  const { outcomes } = await runPlan(h.ctx, { apply: true, domains: [domain] });
  expect(outcomes).to.have.length(1);
  const o = outcomes[0]!;
  expect(o.error, o.error).to.equal(undefined);
  return o;
}

async function storedKey(h: EngineHarness, domain: string, selector: string) {
  const key = (await h.ctx.keys.list(domain)).find((k) => k.selector === selector);
  if (!key) expect.fail(`no stored key ${selector}`);
  return key;
}

/** Plan, publish on ns1+ns2 (and ns3 when SES reads it), activate: the happy path. */
async function rotateAndActivate(h: EngineHarness, domain: string): Promise<string> {
  const o = await planApply(h, domain);
  expect(o.decision.kind).to.equal("rotate");
  const selector = o.selector!;
  const key = await storedKey(h, domain, selector);
  h.publish(domain, selector, key.publicKey, [h.ns1, h.ns2, h.ns3]);
  const report = await runActivate(h.ctx, domain, selector);
  expect(report.outcome, report.message).to.equal("activated");
  return selector;
}

function expectSesOn(h: EngineHarness, domain: string, regions: string[], selector: string) {
  for (const region of regions) {
    const view = h.emulator.ses.identity(region, domain);
    expect(view?.origin, region).to.equal("EXTERNAL");
    expect(view?.tokens, region).to.deep.equal([selector]);
    expect(view?.status, region).to.equal("SUCCESS");
  }
}

describe("engine commands (AWS emulator, loopback DNS, temp checkout, simulated clock)", function () {
  this.timeout(60_000);

  describe("plan --apply", function () {
    let h: EngineHarness;
    before(async function () {
      h = await startEngineHarness({
        identities: [
          { domain: "plan.example", selectorPrefix: "plan" },
          { domain: "crash.example", selectorPrefix: "crash" },
          { domain: "race.example", selectorPrefix: "race" },
        ],
      });
      for (const d of ["plan.example", "crash.example", "race.example"]) await h.createIdentity(d);
    });
    after(async function () {
      await h?.close();
    });

    it("onboards an Easy DKIM identity: one secret, created once with its value, and a record carrying its key", async function () {
      const o = await planApply(h, "plan.example");
      expect(o.decision.kind).to.equal("rotate");
      expect(o.decision.reason).to.match(/onboarding: SES uses Easy DKIM/);
      const selector = o.selector!;
      expect(selector).to.equal("plan-20270104");

      const secrets = h.emulator.secrets
        .list()
        .filter((s) => s.name.startsWith("dkim/plan.example/"));
      expect(secrets.map((s) => s.name)).to.deep.equal([`dkim/plan.example/${selector}`]);
      const secret = secrets[0]!;
      // The key's ARN, resolved from the alias: the planner's IAM compares secretsmanager:KmsKeyArn.
      const keyArn = h.emulator.kms.keys(REGION_A).find((k) => k.aliases.includes(KMS_KEY_ID))!.arn;
      expect(secret.kmsKeyId).to.equal(keyArn);
      // A 2048-bit key is made by KMS: the secret holds ciphertext, never a private key.
      expect(secret.tags["dkim:key-origin"]).to.equal("kms");
      expect(JSON.parse(secret.currentValue!).format).to.equal("kms-wrapped-pkcs8/v1");
      expect(secret.operationCounts.CreateSecret).to.equal(1);
      expect(secret.versionCount).to.equal(1);
      expect(secret.overwritten).to.equal(false);
      expect(h.emulator.callCount({ operation: "PutSecretValue" })).to.equal(0);
      expect(h.emulator.callCount({ operation: "UpdateSecret" })).to.equal(0);
      // The planner role never reads a key back, and never swaps SES.
      expect(h.emulator.callCount({ operation: "GetSecretValue" })).to.equal(0);
      expect(h.puts()).to.equal(0);

      const path = recordPath("plan.example", selector);
      const text = readFileSync(h.recordFile("plan.example", selector), "utf8");
      const parsed = parseRecordFile(text, path);
      const identity = h.config.identities.find((i) => i.domain === "plan.example")!;
      const record = validateRecordFile(parsed, identity);
      // Decrypted here as only the activator could: the record carries its public key.
      const privateKey = await h.aws.keys.readPrivateKey("plan.example", selector);
      const stored = fromSesPrivateKey(privateKey);
      expect(record.publicKey).to.equal(stored.publicKey);
      expect(parsed.tags.get("p")).to.equal(stored.publicKey);
      expect(parsed.meta.fingerprint).to.equal(stored.fingerprint);
      // Invariant 4: the plan never held the private key (nothing to mask), and it is nowhere in the file.
      expect(h.secretsSeen).to.deep.equal([privateKey]); // the read just above, not the plan
      expect(text).not.to.include(privateKey.slice(600, 664));

      // A re-run finds the stored key and the record: nothing new. (The CLI writes
      // the record into the checkout it reads, so the record now counts as on main
      // and the next step is publication; see the crash test for await-approval.)
      const creates = h.emulator.callCount({ operation: "CreateSecret" });
      const again = await planApply(h, "plan.example");
      expect(again.decision.kind).to.equal("await-publication");
      expect(again.selector).to.equal(selector);
      expect(again.decision.reason).to.include(`${h.label(h.ns1)}: missing (NXDOMAIN`);
      expect(h.emulator.callCount({ operation: "CreateSecret" })).to.equal(creates);
      expect(readFileSync(h.recordFile("plan.example", selector), "utf8")).to.equal(text);
      expect(readdirSync(join(h.repo, "dns", "plan.example"))).to.deep.equal([`${selector}.zone`]);
    });

    it("recovers from a crash between storing the key and writing its record", async function () {
      const first = await planApply(h, "crash.example");
      const selector = first.selector!;
      const file = h.recordFile("crash.example", selector);
      const original = readFileSync(file, "utf8");
      // The crash: the secret exists, the record file was never written. (Moved out of
      // dns/: a stray file there is refused as bad input.)
      renameSync(file, join(h.repo, "lost.zone"));
      const creates = h.emulator.callCount({ operation: "CreateSecret" });

      const o = await planApply(h, "crash.example");
      expect(o.decision.kind).to.equal("await-approval");
      expect(o.selector).to.equal(selector);
      expect(o.pullRequest?.created).to.equal(true);
      expect(o.action).to.match(/stored by an earlier run/);
      expect(h.emulator.callCount({ operation: "CreateSecret" })).to.equal(creates);
      expect(
        h.emulator.secrets.list().filter((s) => s.name.startsWith("dkim/crash.example/")),
      ).to.have.length(1);
      // Rebuilt from the public key kept with the secret: byte-for-byte the same record.
      expect(readFileSync(file, "utf8")).to.equal(original);
    });

    it("two plans at once store ONE key and the record carries it", async function () {
      const [a, b] = await Promise.all([
        runPlan(h.ctx, { apply: true, domains: ["race.example"] }),
        runPlan(h.ctx, { apply: true, domains: ["race.example"] }),
      ]);
      for (const r of [a, b])
        expect(r.outcomes[0]!.error, r.outcomes[0]!.error).to.equal(undefined);
      expect(a.outcomes[0]!.selector).to.equal(b.outcomes[0]!.selector);
      const secrets = h.emulator.secrets
        .list()
        .filter((s) => s.name.startsWith("dkim/race.example/"));
      expect(secrets).to.have.length(1);
      // Both raced to CreateSecret; the loser got ResourceExistsException and used the stored key.
      expect(
        h.emulator.callCount({ operation: "CreateSecret", errorCode: "ResourceExistsException" }),
      ).to.equal(1);
      expect(h.emulator.callCount({ operation: "PutSecretValue" })).to.equal(0);
      const selector = a.outcomes[0]!.selector!;
      const parsed = parseRecordFile(
        readFileSync(h.recordFile("race.example", selector), "utf8"),
        recordPath("race.example", selector),
      );
      expect(parsed.tags.get("p")).to.equal(
        (JSON.parse(secrets[0]!.currentValue!) as { publicKey: string }).publicKey,
      );
      expect(readdirSync(join(h.repo, "dns", "race.example"))).to.deep.equal([`${selector}.zone`]);
    });
  });

  describe("activate", function () {
    let h: EngineHarness;
    let selector: string;
    let publicKey: string;
    let other: DkimKeyPair;
    const domain = "gate.example";

    before(async function () {
      h = await startEngineHarness({
        identities: [
          { domain, selectorPrefix: "gate", regions: [REGION_A, REGION_B] },
          { domain: "drift.example", selectorPrefix: "drift" },
        ],
      });
      await h.createIdentity(domain);
      await h.createIdentity("drift.example");
      selector = (await planApply(h, domain)).selector!;
      publicKey = (await storedKey(h, domain, selector)).publicKey;
      other = await generateDkimKeyPair(2048);
    });
    after(async function () {
      await h?.close();
    });

    it("refuses while the record is not on main", async function () {
      const file = h.recordFile(domain, selector);
      // On the PR branch only: out of the checkout's dns/ (a stray file there is bad input).
      const onBranch = join(h.repo, "on-pr-branch.zone");
      renameSync(file, onBranch);
      try {
        h.publish(domain, selector, publicKey);
        await expectRefusal(
          h,
          runActivate(h.ctx, domain, selector),
          /refused: dns\/gate\.example\/gate-20270104\.zone is not on main/,
        );
      } finally {
        renameSync(onBranch, file);
        h.serve(domain, selector, undefined);
      }
    });

    it("refuses while no nameserver serves the record, naming each server and its answer", async function () {
      const [snap] = await snapshotAll(h.ctx, [domain]);
      expect(snap!.decision.kind).to.equal("await-publication");
      const err = await expectRefusal(h, runActivate(h.ctx, domain, selector), /DNS not verified/);
      for (const server of [h.ns1, h.ns2])
        expect(err.message).to.include(`${h.label(server)}: missing (NXDOMAIN`);
    });

    it("refuses while one of two nameservers is stale, naming that server only", async function () {
      h.publish(domain, selector, publicKey, [h.ns1]);
      try {
        const err = await expectRefusal(
          h,
          runActivate(h.ctx, domain, selector),
          /DNS not verified/,
        );
        expect(err.message).to.include(`${h.label(h.ns2)}: missing (NXDOMAIN`);
        expect(err.message).not.to.include(`${h.label(h.ns1)}:`);
        // A stale server serving a different key is named as a mismatch.
        h.publish(domain, selector, other.publicKey, [h.ns2]);
        const mismatch = await expectRefusal(
          h,
          runActivate(h.ctx, domain, selector),
          /DNS not verified/,
        );
        expect(mismatch.message).to.include(`${h.label(h.ns2)}: mismatch (tag p`);
      } finally {
        h.serve(domain, selector, undefined);
      }
    });

    it("refuses when the record file's p= is not the stored key's, even if DNS serves that file", async function () {
      const file = h.recordFile(domain, selector);
      const original = readFileSync(file, "utf8");
      // A well-formed file (its own fingerprint matches) for a key we do not hold.
      writeFileSync(
        file,
        renderRecordFile({
          domain,
          selector,
          keyBits: 2048,
          fingerprint: publicKeyFingerprint(other.publicKey),
          createdAt: h.clock.now().toISOString(),
          publishBy: "2027-01-18",
          publicKey: other.publicKey,
          ttl: 3600,
        }),
      );
      h.publish(domain, selector, other.publicKey);
      try {
        await expectRefusal(
          h,
          runActivate(h.ctx, domain, selector),
          /does not carry the public key of the stored private key/,
        );
      } finally {
        writeFileSync(file, original);
        h.serve(domain, selector, undefined);
      }
    });

    it("refuses when SES signs with a selector this repository does not know (drift)", async function () {
      const d = "drift.example";
      const sel = (await planApply(h, d)).selector!;
      h.publish(d, sel, (await storedKey(h, d, sel)).publicKey);
      // Someone imported a key by hand.
      await h.ctx.ses.putExternalKey(REGION_A, d, "handmade1", other.sesPrivateKey);
      const [snap] = await snapshotAll(h.ctx, [d]);
      expect(snap!.decision.kind).to.equal("alert");
      expect(snap!.decision.alerts.map((a) => a.kind)).to.include("drift");
      await expectRefusal(
        h,
        runActivate(h.ctx, d, sel),
        /SES signs with handmade1, which has no stored key or record file here \(drift\).*adopt it/,
      );
      expect(h.emulator.ses.identity(REGION_A, d)?.tokens).to.deep.equal(["handmade1"]);
    });

    it("swaps every Region once both nameservers serve the stored key, and a re-run does nothing", async function () {
      h.publish(domain, selector, publicKey);
      const [snap] = await snapshotAll(h.ctx, [domain]);
      expect(snap!.decision.kind).to.equal("activate");
      const before = h.puts();
      const started = h.clock.now();

      const report = await runActivate(h.ctx, domain, selector);
      expect(report.outcome, report.message).to.equal("activated");
      expect(report.previousSelector).to.equal(undefined);
      expect(h.puts() - before).to.equal(2);
      expect(h.puts(REGION_A) + h.puts(REGION_B)).to.equal(h.puts());
      expectSesOn(h, domain, [REGION_A, REGION_B], selector);
      expect(report.timeline.filter((e) => e.step === "dns").every((e) => e.ok)).to.equal(true);

      const key = await storedKey(h, domain, selector);
      expect(key.state).to.equal("active");
      expect(key.activatedAt).to.be.instanceOf(Date);
      expect(key.activatedAt!.getTime()).to.be.greaterThan(started.getTime());
      // The activator decrypted the key; it was masked the moment it existed.
      expect(h.secretsSeen).to.have.length.greaterThan(0);
      for (const s of h.secretsSeen) expect(fromSesPrivateKey(s).publicKey).to.be.a("string");
      expect(h.secretsSeen.map((s) => fromSesPrivateKey(s).publicKey)).to.include(key.publicKey);

      const again = await runActivate(h.ctx, domain, selector);
      expect(again.outcome).to.equal("already-active");
      expect(h.puts() - before).to.equal(2);
    });
  });

  describe("rollback --to (an operator restores the previous selector)", function () {
    let h: EngineHarness;
    const domain = "back.example";
    const regions = [REGION_A, REGION_B];
    after(async function () {
      await h?.close();
    });

    it("swaps every Region back, keeps the old key's age, and abandons the key it left", async function () {
      h = await startEngineHarness({ identities: [{ domain, selectorPrefix: "back", regions }] });
      await h.createIdentity(domain);
      const older = await rotateAndActivate(h, domain);
      const olderActivatedAt = (await storedKey(h, domain, older)).activatedAt!;
      await h.advanceDays(330);
      const newer = await rotateAndActivate(h, domain);
      expectSesOn(h, domain, regions, newer);

      const report = await runRollback(h.ctx, domain, older);
      expect(report.outcome, report.message).to.equal("activated");
      expectSesOn(h, domain, regions, older);
      // The restored key is as old as it really is: rotation is due again now.
      expect((await storedKey(h, domain, older)).activatedAt).to.deep.equal(olderActivatedAt);
      expect((await storedKey(h, domain, newer)).state).to.equal("retired");
      const [snap] = await snapshotAll(h.ctx, [domain]);
      expect(snap!.decision.kind).to.not.equal("activate");
      expect(snap!.decision.daysToExpiry!).to.be.below(36);
      // Going to a selector that one server no longer serves is refused like any swap.
      h.serve(domain, newer, undefined, [h.ns2]);
      await expectRefusal(h, runRollback(h.ctx, domain, newer), /DNS not verified: .*missing/);
    });
  });

  describe("rollback on a failed activation", function () {
    let h: EngineHarness;
    const domain = "roll.example";
    const regions = [REGION_A, REGION_B];
    let previous: string;
    let candidate: string;

    before(async function () {
      h = await startEngineHarness({
        identities: [{ domain, selectorPrefix: "roll", regions }],
      });
      await h.createIdentity(domain);
      // SES resolves through ns3; the engine's verifier asks ns1 and ns2.
      h.sesDns = h.ns3;
      previous = await rotateAndActivate(h, domain);
      await h.advanceDays(330);
      const o = await planApply(h, domain);
      expect(o.decision.kind).to.equal("rotate");
      candidate = o.selector!;
      const key = await storedKey(h, domain, candidate);
      // Published on the servers we verify, but not where SES looks.
      h.publish(domain, candidate, key.publicKey, [h.ns1, h.ns2]);
    });
    after(async function () {
      await h?.close();
    });

    async function expectRolledBack(work: Promise<SwapReport>): Promise<SwapReport> {
      let caught: unknown;
      try {
        await work;
      } catch (err) {
        caught = err;
      }
      if (!(caught instanceof ActivationFailedError))
        expect.fail(
          `expected ActivationFailedError, got ${caught instanceof Error ? caught.stack : caught}`,
        );
      const report = caught.report;
      expect(report.outcome).to.equal("rolled-back");
      expect(report.previousSelector).to.equal(previous);
      expect(report.message).to.include(`rolled back to ${previous} (SES SUCCESS)`);
      expectSesOn(h, domain, regions, previous);
      return report;
    }

    it("rolls every Region back when SES goes FAILED after 72 h, leaving the previous key untouched", async function () {
      const prevBefore = await storedKey(h, domain, previous);
      const prevSecret = h.secret(domain, previous)!;
      const putsBefore = h.puts();
      const started = h.clock.t;
      h.ctx.activation = { pollIntervalMs: 30 * MINUTE_MS, timeoutMs: 80 * HOUR_MS };

      const report = await expectRolledBack(runActivate(h.ctx, domain, candidate));
      expect(report.message).to.match(/SES FAILED in ap-northeast-\d \(HOST_NOT_FOUND\)/);
      expect(h.clock.t - started).to.be.at.least(72 * HOUR_MS);
      expect(h.clock.t - started).to.be.below(80 * HOUR_MS);
      // One swap and one swap back per Region.
      expect(h.puts() - putsBefore).to.equal(4);
      for (const region of regions)
        expect(
          h.emulator.ses.identity(region, domain)!.history.some((c) => c.status === "FAILED"),
        ).to.equal(true);

      const prevAfter = await storedKey(h, domain, previous);
      expect(prevAfter).to.deep.equal(prevBefore);
      const secretAfter = h.secret(domain, previous)!;
      expect(secretAfter.versionCount).to.equal(1);
      expect(secretAfter.overwritten).to.equal(false);
      expect(secretAfter.deletionDate).to.equal(undefined);
      expect(secretAfter.currentValue).to.equal(prevSecret.currentValue);
      // The failed candidate is abandoned: never offered for activation again;
      // the planner retires its record and rotates to a fresh key instead.
      expect((await storedKey(h, domain, candidate)).state).to.equal("retired");
      const [after] = await snapshotAll(h.ctx, [domain]);
      expect(after!.decision.kind).to.not.equal("activate");
      expect(after!.decision).to.include({ kind: "retire", selector: candidate });
    });

    it("rolls back when the engine's own timeout passes first (SES sees a wrong p=)", async function () {
      const wrong = await generateDkimKeyPair(2048);
      // The test above abandoned the candidate; an abandoned key is no candidate. Offer it again.
      await h.ctx.keys.markState(domain, candidate, "pending", new Date(h.clock.t));
      h.serve(domain, candidate, dkimRecordValue(wrong.publicKey), [h.ns3]);
      h.ctx.activation = { pollIntervalMs: 10 * MINUTE_MS, timeoutMs: 2 * HOUR_MS };
      const started = h.clock.t;
      const report = await expectRolledBack(runActivate(h.ctx, domain, candidate));
      expect(report.message).to.match(/SES not SUCCESS after 120 min/);
      expect(h.clock.t - started).to.be.below(4 * HOUR_MS);
      const rollbackEvents = report.timeline.filter((e) => e.step === "rollback");
      expect(rollbackEvents.map((e) => e.detail).join(" | ")).to.include(
        `${REGION_B}: back on ${previous}`,
      );
    });

    it("a re-run after a crash that had swapped every Region still rolls back to the last activated key", async function () {
      // As if this were the first attempt (the tests above retired the candidate).
      await h.ctx.keys.markState(domain, candidate, "pending", new Date(h.clock.t));
      h.serve(domain, candidate, undefined, [h.ns3]);
      // The crash: the job swapped both Regions and died while polling.
      const secret = await h.ctx.keys.readPrivateKey(domain, candidate);
      for (const region of regions)
        await h.ctx.ses.putExternalKey(region, domain, candidate, secret);
      await h.advance(73 * HOUR_MS);
      for (const region of regions)
        expect(h.emulator.ses.identity(region, domain)?.status).to.equal("FAILED");
      // SES no longer shows what it signed with before; the key store still does.
      const [snap] = await snapshotAll(h.ctx, [domain]);
      expect(snap!.decision.kind).to.equal("activate");
      expect(snap!.decision.reason).to.match(/in progress/);

      h.ctx.activation = { pollIntervalMs: 30 * MINUTE_MS, timeoutMs: 2 * HOUR_MS };
      const putsBefore = h.puts();
      const report = await expectRolledBack(runActivate(h.ctx, domain, candidate));
      expect(report.message).to.match(/SES FAILED in ap-northeast-\d/);
      // No new swap to the failed key; one swap back per Region.
      expect(h.puts() - putsBefore).to.equal(2);
    });

    it("then retire: the plan's proposal to retire the abandoned candidate is carried out, not refused", async function () {
      // The candidate is newer than the active key, but abandoned: history, not a candidate.
      const [snap] = await snapshotAll(h.ctx, [domain]);
      expect(snap!.decision).to.include({ kind: "retire", selector: candidate });
      const report = await runRetire(h.ctx, domain, candidate);
      expect(report.steps.map((s) => [s.step, s.acted])).to.deep.equal([
        ["remove-record", true],
        ["delete-key", true],
      ]);
      expect(existsSync(h.recordFile(domain, candidate))).to.equal(false);
      expect(h.secret(domain, candidate)?.deletionDate).to.be.instanceOf(Date);
      // The active key is untouched and the next plan moves on to a fresh rotation.
      expect(h.secret(domain, previous)?.deletionDate).to.equal(undefined);
      expectSesOn(h, domain, regions, previous);
      const [next] = await snapshotAll(h.ctx, [domain]);
      expect(next!.decision.kind).to.equal("rotate");
    });
  });

  describe("multi-Region crash between Regions", function () {
    let h: EngineHarness;
    const domain = "duo.example";

    before(async function () {
      h = await startEngineHarness({
        identities: [{ domain, selectorPrefix: "duo", regions: [REGION_A, REGION_B] }],
      });
      await h.createIdentity(domain);
    });
    after(async function () {
      await h?.close();
    });

    it("plans 'activate' when the Regions disagree and finishes only the Region left behind", async function () {
      const selector = (await planApply(h, domain)).selector!;
      h.publish(domain, selector, (await storedKey(h, domain, selector)).publicKey);
      // The crash: Region 1 was swapped, the job died before Region 2.
      const secret = await h.ctx.keys.readPrivateKey(domain, selector);
      await h.ctx.ses.putExternalKey(REGION_A, domain, selector, secret);
      await h.advance(10 * MINUTE_MS);
      expect(h.emulator.ses.identity(REGION_A, domain)?.status).to.equal("SUCCESS");

      const [snap] = await snapshotAll(h.ctx, [domain]);
      const d = snap!.decision;
      expect(d.kind === "activate" && d.selector).to.equal(selector);
      expect(snap!.decision.reason).to.match(/Regions disagree/);
      expect(snap!.decision.alerts.map((a) => a.kind)).to.include("regions-disagree");

      const a = h.puts(REGION_A);
      const b = h.puts(REGION_B);
      const report = await runActivate(h.ctx, domain, selector);
      expect(report.outcome, report.message).to.equal("activated");
      expect(h.puts(REGION_A)).to.equal(a);
      expect(h.puts(REGION_B)).to.equal(b + 1);
      expectSesOn(h, domain, [REGION_A, REGION_B], selector);
      expect((await storedKey(h, domain, selector)).state).to.equal("active");
    });
  });

  describe("retire", function () {
    let h: EngineHarness;
    const domain = "old.example";
    let oldSelector: string;
    let activeSelector: string;
    let activatedAt: Date;

    before(async function () {
      h = await startEngineHarness({
        identities: [{ domain, selectorPrefix: "old", graceDays: 7 }],
      });
      await h.createIdentity(domain);
      h.sesDns = h.ns3;
      oldSelector = await rotateAndActivate(h, domain);
      await h.advanceDays(330);
      activeSelector = await rotateAndActivate(h, domain);
      activatedAt = (await storedKey(h, domain, activeSelector)).activatedAt!;
    });
    after(async function () {
      await h?.close();
    });

    it("refuses to retire the selector SES signs with", async function () {
      await h.advanceDays(8);
      await expectRefusal(
        h,
        runRetire(h.ctx, domain, activeSelector),
        /SES signs with old-\d+ in ap-northeast-1 \(the active record is never removed\)/,
      );
      expect(existsSync(h.recordFile(domain, activeSelector))).to.equal(true);
    });

    it("refuses before graceDays have passed, saying when it will act", async function () {
      const h2 = await startEngineHarness({
        identities: [{ domain, selectorPrefix: "old", graceDays: 7 }],
      });
      try {
        await h2.createIdentity(domain);
        h2.sesDns = h2.ns3;
        const first = await rotateAndActivate(h2, domain);
        await h2.advanceDays(330);
        const second = await rotateAndActivate(h2, domain);
        const at = (await storedKey(h2, domain, second)).activatedAt!;
        await h2.advanceDays(3);
        const err = await expectRefusal(
          h2,
          runRetire(h2.ctx, domain, first),
          /retire old-\d+ refused: not until /,
        );
        expect(err.message).to.include(`not until ${addDays(at, 7).toISOString()}`);
        expect(existsSync(h2.recordFile(domain, first))).to.equal(true);
        expect(h2.secret(domain, first)?.deletionDate).to.equal(undefined);
      } finally {
        await h2.close();
      }
    });

    it("refuses while a Region is not SUCCESS", async function () {
      // The active record vanishes where SES looks: SUCCESS → TEMPORARY_FAILURE at the next re-check.
      const value = dkimRecordValue((await storedKey(h, domain, activeSelector)).publicKey);
      h.serve(domain, activeSelector, undefined, [h.ns3]);
      await h.advance(25 * HOUR_MS);
      expect(h.emulator.ses.identity(REGION_A, domain)?.status).to.equal("TEMPORARY_FAILURE");
      try {
        await expectRefusal(
          h,
          runRetire(h.ctx, domain, oldSelector),
          /SES is TEMPORARY_FAILURE in ap-northeast-1 .*the old key stays for rollback/,
        );
        expect(existsSync(h.recordFile(domain, oldSelector))).to.equal(true);
      } finally {
        h.serve(domain, activeSelector, value, [h.ns3]);
        await h.advance(31 * MINUTE_MS);
      }
      expect(h.emulator.ses.identity(REGION_A, domain)?.status).to.equal("SUCCESS");
    });

    it("after graceDays removes the old record and schedules its key with a recovery window; a re-run converges", async function () {
      expect(h.clock.t - activatedAt.getTime()).to.be.above(7 * DAY_MS);
      const report = await runRetire(h.ctx, domain, oldSelector);
      expect(report.steps.map((s) => [s.step, s.acted])).to.deep.equal([
        ["remove-record", true],
        ["delete-key", true],
      ]);
      expect(existsSync(h.recordFile(domain, oldSelector))).to.equal(false);
      // Invariant 3: the active record stays.
      expect(existsSync(h.recordFile(domain, activeSelector))).to.equal(true);

      const secret = h.secret(domain, oldSelector)!;
      expect(secret.deletedAt).to.be.instanceOf(Date);
      expect(secret.deletionDate).to.be.instanceOf(Date);
      const windowDays = (secret.deletionDate!.getTime() - secret.deletedAt!.getTime()) / DAY_MS;
      expect(windowDays).to.equal(h.config.deletionRecoveryDays);
      expect(windowDays).to.be.at.least(7);
      // The emulator refuses ForceDeleteWithoutRecovery; no DeleteSecret ever failed.
      expect(h.emulator.callCount({ operation: "DeleteSecret", outcome: "ok" })).to.equal(1);
      expect(h.emulator.callCount({ operation: "DeleteSecret", outcome: "error" })).to.equal(0);
      const key = await storedKey(h, domain, oldSelector);
      expect(key.state).to.equal("retired");
      expect(key.deletionDate?.getTime()).to.equal(secret.deletionDate!.getTime());
      expectSesOn(h, domain, [REGION_A], activeSelector);

      const again = await runRetire(h.ctx, domain, oldSelector);
      expect(again.steps.map((s) => s.acted)).to.deep.equal([false, false]);
      expect(again.message).to.match(/already gone from main/);
      expect(again.message).to.match(/already scheduled for deletion/);
      expect(h.emulator.callCount({ operation: "DeleteSecret" })).to.equal(1);
    });
  });

  describe("per-domain lock", function () {
    let h: EngineHarness;
    const domain = "lock.example";
    let selector: string;

    before(async function () {
      h = await startEngineHarness({ identities: [{ domain, selectorPrefix: "lock" }] });
      await h.createIdentity(domain);
      selector = (await planApply(h, domain)).selector!;
      h.publish(domain, selector, (await storedKey(h, domain, selector)).publicKey);
    });
    after(async function () {
      await h?.close();
    });

    it("lets one of two concurrent activations run; the other gets LockedError naming the domain", async function () {
      const before = h.puts();
      const results = await Promise.allSettled([
        runActivate(h.ctx, domain, selector),
        runActivate(h.ctx, domain, selector),
      ]);
      const ok = results.filter((r) => r.status === "fulfilled");
      const locked = results.filter((r) => r.status === "rejected");
      expect(ok).to.have.length(1);
      expect(locked).to.have.length(1);
      const reason = (locked[0] as PromiseRejectedResult).reason as Error;
      expect(reason).to.be.instanceOf(LockedError);
      expect(reason.message).to.match(
        /^lock\.example: another run holds the lock \(pid \d+, activate/,
      );
      expect(h.puts() - before).to.equal(1);
      // Released afterwards, and the lock folder with it.
      expect(existsSync(h.lockDir)).to.equal(false);
    });

    it("refuses while another live process holds the lock", async function () {
      const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], {
        stdio: "ignore",
      });
      try {
        mkdirSync(h.lockDir, { recursive: true });
        const file = join(h.lockDir, `${domain}.lock`);
        writeFileSync(
          file,
          JSON.stringify({ pid: holder.pid, purpose: "retire", at: "2027-01-01T00:00:00Z" }),
        );
        let caught: unknown;
        try {
          await runActivate(h.ctx, domain, selector);
        } catch (err) {
          caught = err;
        }
        expect(caught).to.be.instanceOf(LockedError);
        expect((caught as Error).message).to.include(`pid ${holder.pid}, retire`);
        expect(existsSync(file)).to.equal(true);
        rmSync(file);
      } finally {
        holder.kill();
      }
    });

    it("takes over a stale lock left by a process that died", async function () {
      const dead = spawnSync(process.execPath, ["-e", ""]);
      expect(dead.status).to.equal(0);
      mkdirSync(h.lockDir, { recursive: true });
      const file = join(h.lockDir, `${domain}.lock`);
      writeFileSync(
        file,
        JSON.stringify({ pid: dead.pid, purpose: "activate", at: "2027-01-01T00:00:00Z" }),
      );
      const report = await runActivate(h.ctx, domain, selector);
      expect(report.outcome).to.equal("already-active");
      expect(existsSync(file)).to.equal(false);
    });
  });
});
