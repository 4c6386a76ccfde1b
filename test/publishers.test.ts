/**
 * Publishers end to end (docs/operations.md#publishers): after the record PR
 * merges, the publish job (publisher role, on the merge's push) puts the
 * record into DNS itself, add-only, and the gated activation still verifies
 * every authoritative nameserver.
 * - rfc2136: a real `named` on loopback is the only authoritative server,
 *   with a TSIG key whose `update-policy` grants TXT under `_domainkey` only;
 *   the TSIG secret is read from (emulated) Secrets Manager and masked.
 * - route53: the emulator's Route 53 (REST-XML through
 *   @aws-sdk/client-route-53); the loopback servers serve what its zone holds
 *   once a change is INSYNC.
 * Retirement removes the old record through the same publisher in the gated
 * retire job (activator role), only after its removal is on main and the
 * grace period is over, never the active one.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { WorkingTreeChanges } from "../actions/dkim-rotation/src/adapters/local";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { HOUR_MS } from "../actions/dkim-rotation/src/engine/clock";
import type { EngineContext } from "../actions/dkim-rotation/src/engine/engine-context";
import { followUp, publishMerged } from "../actions/dkim-rotation/src/engine/follow-up";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { dkimRecordValue } from "../actions/dkim-rotation/src/engine/record";
import { runRetire } from "../actions/dkim-rotation/src/engine/retire";
import { snapshotForVerify } from "../actions/dkim-rotation/src/engine/snapshot";
import type { StoredKey } from "../actions/dkim-rotation/src/engine/ports";
import {
  digQuery,
  requireBinary,
  startBind,
  tsigKeygen,
  type BindServer,
  type BindTsigKey,
} from "./helpers/bind";
import {
  REGION_A,
  TEST_CREDENTIALS,
  startEngineHarness,
  type EngineHarness,
} from "./helpers/engine";
import { expectNoKeyMaterial } from "./helpers/key-material";
import { ReviewedChanges } from "./helpers/reviewed-changes";

/** The verify job: notifications only, no DNS change (planner role). */
const verifyJob = async (ctx: EngineContext) =>
  followUp(ctx, (await snapshotForVerify(ctx)).snapshots);
/** The publish job (publisher role, on the merge's push). */
const publishJob = async (ctx: EngineContext) =>
  publishMerged(ctx, (await snapshotForVerify(ctx)).snapshots);

async function keyOf(h: EngineHarness, domain: string, not?: string): Promise<StoredKey> {
  const keys = (await h.ctx.keys.list(domain)).filter((k) => k.selector !== not);
  return keys.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0]!;
}

describe("publishers: the merged record reaches DNS without the DNS team's hands", function () {
  this.timeout(120_000);

  describe("rfc2136: TSIG-signed updates to a real named, update-policy limited to _domainkey", function () {
    const domain = "auto.example";
    const KEY = "ses-dkim-rotation.auto.example";
    const ADMIN = "dns-team.auto.example";
    const SECRET = "ses-dkim-rotation/tsig/auto.example";
    let dir: string;
    let bind: BindServer;
    let dig: string;
    let nsupdate: string;
    let dkimKey: BindTsigKey;
    let adminKey: BindTsigKey;
    let h: EngineHarness;
    let prs: ReviewedChanges;
    let secrets: SecretsManagerClient;

    const served = async (selector: string) => {
      const r = await digQuery(dig, bind.port, "TXT", `${selector}._domainkey.${domain}`);
      return {
        status: r.status,
        value: r.answers.map((a) => a.replace(/" "/g, "").replace(/"/g, "")).join(""),
      };
    };
    /** The DNS team's own key: everything in the zone (the Easy DKIM CNAMEs). */
    const adminUpdate = (lines: string[]) =>
      new Promise<void>((resolve, reject) => {
        const child = execFile(nsupdate, ["-v"], (err) => (err ? reject(err) : resolve()));
        child.stdin!.end(
          [
            `server 127.0.0.1 ${bind.port}`,
            `key ${adminKey.algorithm}:${adminKey.name} ${adminKey.secret}`,
            `zone ${domain}.`,
            ...lines,
            "send",
            "",
          ].join("\n"),
        );
      });

    before(async function () {
      const named = requireBinary(this, "named");
      nsupdate = requireBinary(this, "nsupdate");
      dig = requireBinary(this, "dig");
      const keygen = requireBinary(this, "tsig-keygen");
      dir = await mkdtemp(path.join(os.tmpdir(), "dkim-publishers-"));
      [dkimKey, adminKey] = await Promise.all([tsigKeygen(keygen, KEY), tsigKeygen(keygen, ADMIN)]);
      const file = path.join(dir, `${domain}.db`);
      await writeFile(
        file,
        [
          "$TTL 300",
          `@ IN SOA ns1.${domain}. hostmaster.${domain}. 2027010100 3600 600 86400 300`,
          `@ IN NS ns1.${domain}.`,
          "ns1 IN A 127.0.0.1",
          "",
        ].join("\n"),
      );
      bind = await startBind(
        named,
        [
          {
            origin: domain,
            file,
            updatePolicy: [
              `grant ${KEY} subdomain _domainkey.${domain}. TXT`,
              `grant ${ADMIN} zonesub ANY`,
            ],
          },
        ],
        15000,
        { keys: [dkimKey, adminKey] },
      );
      h = await startEngineHarness({
        identities: [
          {
            domain,
            selectorPrefix: "auto",
            graceDays: 7,
            publisher: "rfc2136",
            rfc2136: { server: bind.server, keyName: KEY, secretName: SECRET },
          },
        ],
        nameservers: [bind.server],
      });
      prs = new ReviewedChanges(new WorkingTreeChanges(h.repo));
      h.ctx.changes = prs;
      secrets = new SecretsManagerClient({
        region: REGION_A,
        endpoint: h.emulator.url,
        credentials: TEST_CREDENTIALS,
      });
      await secrets.send(new CreateSecretCommand({ Name: SECRET, SecretString: dkimKey.secret }));
      await h.createIdentity(domain);
      // The DNS team published SES's Easy DKIM CNAMEs on the primary (the way back).
      const tokens = h.emulator.ses.identity(REGION_A, domain)!.tokens;
      await adminUpdate(
        tokens.map(
          (t) => `update add ${t}._domainkey.${domain}. 300 CNAME ${t}.dkim.amazonses.com.`,
        ),
      );
    });
    after(async function () {
      secrets?.destroy();
      await h?.close();
      await bind?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("publishes on the merge's publish run, and the gated activation verifies named before swapping", async function () {
      await runPlan(h.ctx, { apply: true });
      const key = await keyOf(h, domain);
      expect((await served(key.selector)).status).to.equal("NXDOMAIN");
      // Until the DNS reviewers merge, nothing is published.
      await publishJob(h.ctx);
      expect((await served(key.selector)).status).to.equal("NXDOMAIN");
      await h.advance(HOUR_MS);
      await prs.merge(domain);
      const mergedAt = h.clock.t;
      // The verify job (planner role) changes nothing in DNS.
      await verifyJob(h.ctx);
      expect((await served(key.selector)).status).to.equal("NXDOMAIN");
      const follow = await publishJob(h.ctx);
      const notes = follow.reports.flatMap((r) => r.notes).join("\n");
      expect(notes).to.match(new RegExp(`published ${key.selector} by rfc2136: .*serial`));
      expect(await served(key.selector)).to.deep.equal({
        status: "NOERROR",
        value: dkimRecordValue(key.publicKey),
      });
      // Read again after publishing: ready in the same run, minutes after the merge.
      expect(follow.snapshots[0]!.decision.kind).to.equal("activate");
      expect(h.clock.t - mergedAt).to.be.below(10 * 60_000);
      // The TSIG secret was masked the moment it was read, and is in no note or log.
      expect(h.secretsSeen).to.include(dkimKey.secret);
      expect([notes, ...h.logs].join("\n")).not.to.include(dkimKey.secret);
      // SES reads the primary too from now on.
      h.sesDnsAddress = bind.server;
      const report = await runActivate(h.ctx, domain, key.selector);
      expect(report.outcome, report.message).to.equal("activated");
      const dnsEvents = report.timeline.filter((e) => e.step === "dns").map((e) => e.detail);
      expect(dnsEvents).to.deep.include(`${bind.server}: ok`);
    });

    it("refuses with one clear line when the TSIG secret is wrong, writing nothing, and publishes once it is fixed", async function () {
      const first = await keyOf(h, domain);
      await h.advanceDays(320);
      await runPlan(h.ctx, { apply: true });
      const second = await keyOf(h, domain, first.selector);
      await prs.merge(domain);
      const wrong = Buffer.alloc(32, 7).toString("base64");
      await secrets.send(new PutSecretValueCommand({ SecretId: SECRET, SecretString: wrong }));
      const refused = await publishJob(h.ctx);
      const error = refused.reports.find((r) => r.error)?.error ?? "";
      expect(error).to.match(
        /refused by 127\.0\.0\.1:\d+ \(zone auto\.example\): NOTAUTH\(BADSIG\)/,
      );
      expect(error.split("\n")).to.have.length(1);
      expect(error).not.to.include(wrong);
      expect((await served(second.selector)).status).to.equal("NXDOMAIN");
      expect(refused.snapshots[0]!.decision.kind).to.equal("await-publication");

      await secrets.send(
        new PutSecretValueCommand({ SecretId: SECRET, SecretString: dkimKey.secret }),
      );
      const fixed = await publishJob(h.ctx);
      expect(fixed.reports.every((r) => !r.error)).to.equal(true);
      expect((await served(second.selector)).value).to.equal(dkimRecordValue(second.publicKey));
      const report = await runActivate(h.ctx, domain, second.selector);
      expect(report.outcome, report.message).to.equal("activated");
    });

    it("removes the old record only once its retirement is merged and the grace period is over, never the active one", async function () {
      const active = await keyOf(h, domain);
      const old = await keyOf(h, domain, active.selector);
      // Inside the grace period: the plan proposes nothing, the record stays.
      await verifyJob(h.ctx);
      expect((await served(old.selector)).status).to.equal("NOERROR");
      await h.advanceDays(8);
      await runPlan(h.ctx, { apply: true }); // opens the retirement PR
      await verifyJob(h.ctx);
      expect((await served(old.selector)).status, "removed before its PR merged").to.equal(
        "NOERROR",
      );
      // Before the removal merges, the gated retire job leaves DNS and the key alone.
      const early = await runRetire(h.ctx, domain, old.selector);
      expect(early.message).to.include(`${old.selector} stays in DNS until the removal of`);
      expect(early.steps.find((x) => x.step === "delete-key")!.acted).to.equal(false);
      expect((await served(old.selector)).status).to.equal("NOERROR");
      await prs.merge(domain);
      // The verify and publish jobs never remove a record.
      await verifyJob(h.ctx);
      await publishJob(h.ctx);
      expect((await served(old.selector)).status).to.equal("NOERROR");
      const report = await runRetire(h.ctx, domain, old.selector);
      expect(report.message).to.include(`removed ${old.selector} by rfc2136`);
      expect(report.steps.find((x) => x.step === "delete-key")!.acted).to.equal(true);
      expect((await served(old.selector)).status).to.equal("NXDOMAIN");
      expect((await served(active.selector)).value).to.equal(dkimRecordValue(active.publicKey));
      // The active selector is refused outright (invariant 3).
      let refusal = "";
      await runRetire(h.ctx, domain, active.selector).catch((e: Error) => (refusal = e.message));
      expect(refusal).to.match(/refused/);
      expect((await served(active.selector)).value).to.equal(dkimRecordValue(active.publicKey));
      // Every DKIM private key this run read (the activator's), scanned for in the logs.
      const privateKeys = h.secretsSeen.filter((x) => x.startsWith("MII") && x.length > 1000);
      expect(privateKeys.length).to.be.greaterThan(0);
      for (const s of privateKeys) expectNoKeyMaterial([...h.logs], s, "logs");
    });
  });

  describe("route53: CREATE, wait for INSYNC, then the nameservers serve it", function () {
    const domain = "r53.example";
    let h: EngineHarness;
    let prs: ReviewedChanges;
    let zoneId: string;

    before(async function () {
      h = await startEngineHarness({
        emulator: { route53: { propagationMs: 60_000, requestsPerSecond: 1000 } },
        identities: (emulator) => {
          zoneId = emulator.createHostedZone(domain);
          return [
            {
              domain,
              selectorPrefix: "r53",
              graceDays: 7,
              publisher: "route53",
              route53: { hostedZoneId: zoneId },
            },
          ];
        },
      });
      // ns1 and ns2 play Route 53's nameservers: they serve the zone's DKIM
      // TXT records once a change is INSYNC.
      h.emulator.onRoute53Sync((_zone, sets) => {
        const inZone = new Map<string, string>();
        for (const set of sets) {
          const m = new RegExp(`^([^.]+)\\._domainkey\\.${domain.replace(/\./g, "\\.")}\\.$`).exec(
            set.name,
          );
          if (!m || set.type !== "TXT") continue;
          inZone.set(
            m[1]!,
            set.values.map((v) => v.replace(/^"|"$/g, "").split('" "').join("")).join(""),
          );
        }
        for (const k of knownSelectors) h.serve(domain, k, inZone.get(k));
        for (const [k, v] of inZone) {
          knownSelectors.add(k);
          h.serve(domain, k, v);
        }
      });
      prs = new ReviewedChanges(new WorkingTreeChanges(h.repo));
      h.ctx.changes = prs;
      await h.createIdentity(domain);
    });
    const knownSelectors = new Set<string>();
    after(async function () {
      await h?.close();
    });

    it("returns only after INSYNC, and the same run offers the key for activation", async function () {
      await runPlan(h.ctx, { apply: true });
      const key = await keyOf(h, domain);
      await prs.merge(domain);
      const before = h.clock.t;
      const follow = await publishJob(h.ctx);
      const waited = h.clock.t - before;
      expect(waited, "waited for Route 53's propagation").to.be.at.least(60_000);
      expect(waited).to.be.below(5 * 60_000);
      const sets = h.emulator.route53Records(zoneId).filter((s) => s.type === "TXT");
      expect(sets.map((s) => s.name)).to.deep.equal([`${key.selector}._domainkey.${domain}.`]);
      // Strings of at most 255 characters: Route 53 refuses longer ones.
      for (const v of sets[0]!.values)
        for (const str of v.match(/"[^"]*"/g)!) expect(str.length - 2).to.be.at.most(255);
      expect(h.emulator.route53Changes().every((c) => c.status === "INSYNC")).to.equal(true);
      expect(follow.snapshots[0]!.decision.kind).to.equal("activate");
      const report = await runActivate(h.ctx, domain, key.selector);
      expect(report.outcome, report.message).to.equal("activated");
    });

    it("deletes the retired record after the grace period, keeping the active one", async function () {
      const old = await keyOf(h, domain);
      await h.advanceDays(320);
      await runPlan(h.ctx, { apply: true });
      const active = await keyOf(h, domain, old.selector);
      await prs.merge(domain);
      await publishJob(h.ctx);
      expect((await runActivate(h.ctx, domain, active.selector)).outcome).to.equal("activated");
      await h.advanceDays(8);
      await runPlan(h.ctx, { apply: true });
      await prs.merge(domain);
      await publishJob(h.ctx);
      const report = await runRetire(h.ctx, domain, old.selector);
      expect(report.message).to.include(`removed ${old.selector} by route53`);
      const names = h.emulator
        .route53Records(zoneId)
        .filter((s) => s.type === "TXT")
        .map((s) => s.name);
      expect(names).to.deep.equal([`${active.selector}._domainkey.${domain}.`]);
    });
  });
});
