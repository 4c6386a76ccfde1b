/**
 * Proof in production (docs/design.md#canary): after SES SUCCESS the
 * activation sends a canary through the identity, reads the raw message SES
 * receiving stored in S3, and verifies d=<domain> s=<new selector> against
 * each authoritative server. No message, a wrong selector or a signature
 * that fails (SES signing with another key) rolls back like SES FAILED, with
 * the previous key still published; the S3 object is deleted either way.
 */
import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { signRelaxed } from "../actions/dkim-rotation/src/engine/probe";
import { ActivationFailedError, type SwapReport } from "../actions/dkim-rotation/src/engine/swap";
import { parseProjectConfig, InputError } from "../actions/dkim-rotation/src/engine/config";
import { MINUTE_MS } from "../actions/dkim-rotation/src/engine/clock";
import { runDoctor } from "../actions/dkim-rotation/src/doctor";
import {
  receiptRuleArn,
  sesReceivingBucketPolicy,
} from "../actions/dkim-rotation/src/engine/canary-config";
import { WorkingTreeChanges } from "../actions/dkim-rotation/src/adapters/local";
import { ReviewedChanges } from "./helpers/reviewed-changes";
import { startEngineHarness, type EngineHarness, REGION_A } from "./helpers/engine";
import { expectNoKeyMaterial } from "./helpers/key-material";

const domain = "mail.canary.example.jp";
const CANARY = {
  region: "us-east-1",
  bucket: "dkim-proof-example",
  prefix: "canary/",
  address: "canary@proof.example.net",
  windowMinutes: 10,
};

async function failure(p: Promise<unknown>): Promise<SwapReport> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ActivationFailedError) return err.report;
    throw err;
  }
  expect.fail("expected the activation to fail");
}

describe("canary: proof in production before 'activated'", function () {
  this.timeout(120_000);
  let h: EngineHarness;
  let first: string;

  before(async function () {
    h = await startEngineHarness({
      identities: [{ domain, selectorPrefix: "can", dnsLeadDays: 14, graceDays: 7 }],
      canary: CANARY,
    });
    await h.createIdentity(domain);
    const prs = new ReviewedChanges(new WorkingTreeChanges(h.repo));
    h.ctx.changes = prs;
    await runPlan(h.ctx, { apply: true });
    const k1 = (await h.ctx.keys.list(domain))[0]!;
    first = k1.selector;
    await prs.merge(domain);
    h.publish(domain, first, k1.publicKey);
    await h.advance(MINUTE_MS);
  });
  after(async () => h?.close());
  const provisionPolicy = async () =>
    h.emulator.s3.setPolicy(
      CANARY.bucket,
      sesReceivingBucketPolicy({
        bucket: CANARY.bucket,
        prefix: CANARY.prefix,
        account: "123456789012",
        ruleArn: receiptRuleArn({
          region: CANARY.region,
          account: "123456789012",
          ruleSet: "ses-dkim-rotation",
          rule: "dkim-canary",
        }),
      }),
    );

  const canaryObjects = () =>
    h.emulator.s3
      .objects(CANARY.bucket, CANARY.prefix)
      .filter((o) => !o.key.endsWith("AMAZON_SES_SETUP_NOTIFICATION"));

  it("passes: SES's own message verifies for d=domain s=new selector on every server, then 'activated'", async () => {
    const report = await runActivate(h.ctx, domain, first);
    expect(report.outcome).to.equal("activated");
    expect(report.canary).to.have.length(1);
    const v = report.canary![0]!;
    expect(v.ok, v.line).to.equal(true);
    expect(v.line).to.match(
      new RegExp(
        `^canary ${REGION_A}: pass: SES signed d=${domain} s=${first}; verified against 127\\.0\\.0\\.1:\\d+ \\(pass\\), 127\\.0\\.0\\.1:\\d+ \\(pass\\)`,
      ),
    );
    // The canary step comes before the record step.
    const steps = report.timeline.map((e) => e.step);
    expect(steps.indexOf("canary")).to.be.lessThan(steps.lastIndexOf("record"));
    expect((await h.ctx.keys.list(domain)).find((k) => k.selector === first)?.state).to.equal(
      "active",
    );
    // The message went through SES receiving, carried an amazonses.com signature too, and no key material.
    const received = h.emulator.ses.received();
    expect(received).to.have.length(1);
    expect(received[0]!.key.startsWith(CANARY.prefix)).to.equal(true);
    const sent = h.emulator.ses.sent().at(-1)!;
    expect(sent.raw.toString()).to.match(/d=amazonses\.com/);
    for (const secret of h.secretsSeen)
      expectNoKeyMaterial([sent.raw.toString()], secret, "the canary message");
  });

  it("deletes the canary object from S3 after verification", function () {
    expect(canaryObjects()).to.deep.equal([]);
    expect(
      h.emulator.calls({ service: "s3", operation: "DeleteObject", outcome: "ok" }),
    ).to.have.length(1);
  });

  it("doctor: rule set active, MX at SES's inbound endpoint, bucket writable by SES; each broken one fails", async () => {
    const run = async (mx: string[]) =>
      (
        await runDoctor({
          ...h.ctx,
          repoRoot: h.repo,
          caller: h.aws.caller!,
          dns: { targets: async () => [] },
          receiving: h.aws.receiving!,
          mx: async () => mx,
          githubSkip: "not in this test",
        })
      ).filter((c) => c.check.startsWith("canary") || c.check === "production proof");
    const good = await run(["inbound-smtp.us-east-1.amazonaws.com."]);
    expect(good.map((c) => `${c.status} ${c.check}`)).to.deep.equal([
      "ok canary mx",
      "ok canary rule set",
      "ok canary bucket",
    ]);
    h.emulator.s3.setPolicy(CANARY.bucket, undefined);
    try {
      const bad = await run(["mx.elsewhere.example"]);
      expect(bad.map((c) => `${c.status} ${c.check}`)).to.deep.equal([
        "fail canary mx",
        "ok canary rule set",
        "fail canary bucket",
      ]);
      expect(bad[0]!.detail).to.include("not inbound-smtp.us-east-1.amazonaws.com");
    } finally {
      await provisionPolicy();
    }
  });

  describe("a second key under faults (each from a fresh world, the first key active and published)", function () {
    let w: EngineHarness;
    let active: string;
    let next: string;
    beforeEach(async function () {
      w = await startEngineHarness({
        identities: [{ domain, selectorPrefix: "can", dnsLeadDays: 14, graceDays: 7 }],
        canary: CANARY,
      });
      await w.createIdentity(domain);
      const prs = new ReviewedChanges(new WorkingTreeChanges(w.repo));
      w.ctx.changes = prs;
      await runPlan(w.ctx, { apply: true });
      active = (await w.ctx.keys.list(domain))[0]!.selector;
      await prs.merge(domain);
      w.publish(domain, active, (await w.ctx.keys.list(domain))[0]!.publicKey);
      await w.advance(MINUTE_MS);
      await runActivate(w.ctx, domain, active);
      await w.advanceDays(330);
      await runPlan(w.ctx, { apply: true });
      const k = (await w.ctx.keys.list(domain)).find((x) => x.selector !== active)!;
      next = k.selector;
      await prs.merge(domain);
      w.publish(domain, next, k.publicKey);
      await w.advance(MINUTE_MS);
    });
    afterEach(async () => w?.close());

    const expectRolledBack = async (report: SwapReport, check: string) => {
      expect(report.outcome).to.equal("rolled-back");
      const failed = report.canary?.find((v) => !v.ok);
      expect(failed?.check, report.message).to.equal(check);
      expect(report.message).to.include(`canary ${REGION_A} failed (${check})`);
      // SES is back on the previous key, which is still published and active.
      expect(w.emulator.ses.identity(REGION_A, domain)!.selector).to.equal(active);
      const keys = await w.ctx.keys.list(domain);
      expect(keys.find((k) => k.selector === active)?.state).to.equal("active");
      expect(keys.find((k) => k.selector === next)?.state).to.not.equal("active");
      expect(
        w.logs.some((l) =>
          l.startsWith(`warn: ${domain}: canary: canary ${REGION_A} failed (${check})`),
        ),
      ).to.equal(true);
      const objects = w.emulator.s3
        .objects(CANARY.bucket, CANARY.prefix)
        .filter((o) => !o.key.endsWith("AMAZON_SES_SETUP_NOTIFICATION"));
      expect(objects).to.deep.equal([]);
    };

    it("no message within the window: rolls back, and the wait ran on the engine's clock", async () => {
      w.emulator.ses.setSwitches({ dropInbound: (to) => to === CANARY.address });
      const before = w.clock.now().getTime();
      const realStart = Date.now();
      const report = await failure(runActivate(w.ctx, domain, next));
      await expectRolledBack(report, "arrival");
      expect(w.clock.now().getTime() - before).to.be.at.least(CANARY.windowMinutes * MINUTE_MS);
      expect(Date.now() - realStart).to.be.lessThan(60_000);
    });

    it("SES signs with a key other than the published one (emulator switch): rolls back", async () => {
      w.emulator.ses.setSwitches({ signWithWrongKey: (_r, d, s) => d === domain && s === next });
      const report = await failure(runActivate(w.ctx, domain, next));
      await expectRolledBack(report, "signature");
      expect(report.canary!.at(-1)!.line).to.match(/does not verify: 127\.0\.0\.1:\d+: fail/);
    });

    it("the message is signed with another selector: rolls back", async () => {
      // What a receiver would see if SES still signed with the old selector.
      const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
      const inner = w.aws.canary!;
      w.ctx.canary = {
        send: (r, m) => inner.send(r, m),
        list: (b, p) => inner.list(b, p),
        remove: (b, k) => inner.remove(b, k),
        get: async (b, k) => {
          const raw = await inner.get(b, k);
          if (!raw) return raw;
          const text = raw.toString("latin1");
          const ours = new RegExp(
            `DKIM-Signature:(?:(?!\\r\\n\\S)[^])*?d=${domain.replace(/\./g, "\\.")};(?:(?!\\r\\n\\S)[^])*\\r\\n`,
          );
          expect(ours.test(text)).to.equal(true);
          const stripped = Buffer.from(text.replace(ours, ""), "latin1");
          // Only our signature went: SES's amazonses.com one and the headers stay.
          expect(stripped.toString("latin1")).to.match(/d=amazonses\.com/);
          expect(stripped.toString("latin1")).to.include("X-DKIM-Canary:");
          const signed = await signRelaxed(stripped, {
            domain,
            selector: active,
            privateKey: other.export({ type: "pkcs1", format: "pem" }),
            at: w.clock.now(),
          });
          return Buffer.concat([Buffer.from(signed.signatures), stripped]);
        },
      };
      const report = await failure(runActivate(w.ctx, domain, next));
      await expectRolledBack(report, "selector");
      expect(report.canary!.at(-1)!.line).to.include(
        `signed d=${domain} with s=${active}, not s=${next}`,
      );
    });

    /** The canary's S3 reads fail `s3Errors` times, then its DNS checks fail for `dnsMinutes`. */
    const flaky = (s3Errors: number, dnsMinutes: number) => {
      const inner = w.aws.canary!;
      let listed = false;
      let errors = s3Errors;
      let dnsUntil = 0;
      w.ctx.canary = {
        send: (r, m) => inner.send(r, m),
        remove: (b, k) => inner.remove(b, k),
        get: (b, k) => inner.get(b, k),
        list: async (b, p) => {
          if (!listed) dnsUntil = w.clock.now().getTime() + dnsMinutes * MINUTE_MS;
          listed = true;
          if (errors-- > 0) throw new Error("SlowDown: Please reduce your request rate.");
          return inner.list(b, p);
        },
      };
      const dns = w.ctx.dns;
      w.ctx.dns = Object.assign(Object.create(dns) as typeof dns, {
        verify: async (...a: Parameters<typeof dns.verify>) => {
          const real = await dns.verify(...a);
          if (!listed || w.clock.now().getTime() >= dnsUntil) return real;
          const [first, ...rest] = real.servers;
          return {
            ...real,
            ok: false,
            servers: [
              { ...first!, status: "missing" as const, detail: "NXDOMAIN (injected)" },
              ...rest,
            ],
          };
        },
      });
    };

    it("an S3 error and a nameserver's wrong answer for a few minutes are tried again within the window: activated", async () => {
      flaky(2, 3);
      const before = w.clock.now().getTime();
      const report = await runActivate(w.ctx, domain, next);
      expect(report.outcome, report.message).to.equal("activated");
      expect(report.canary?.map((v) => v.ok)).to.deep.equal([true]);
      // It waited out the bad answers on the engine's clock, inside the window.
      const waited = w.clock.now().getTime() - before;
      expect(waited).to.be.at.least(3 * MINUTE_MS);
      expect(waited).to.be.lessThan(CANARY.windowMinutes * MINUTE_MS);
    });

    it("a nameserver wrong for the whole window: rolls back, naming the server (dns)", async () => {
      flaky(0, 60);
      const report = await failure(runActivate(w.ctx, domain, next));
      await expectRolledBack(report, "dns");
      expect(report.canary!.at(-1)!.line).to.match(/127\.0\.0\.1:\d+: missing/);
    });

    it("without faults the second key activates after its canary", async () => {
      const report = await runActivate(w.ctx, domain, next);
      expect(report.outcome).to.equal("activated");
      expect(report.canary?.[0]?.ok).to.equal(true);
    });
  });
});

describe("canary: the stack file's canary: block", function () {
  const parse = (canary: unknown) =>
    parseProjectConfig(
      { identities: [{ domain: "example.jp", selectorPrefix: "ex" }], canary },
      { file: "Pulumi.prod.yaml", project: "ses-dkim-rotation", defaultRegion: "ap-northeast-1" },
    );
  const oneLine = (canary: unknown): string => {
    try {
      parse(canary);
    } catch (err) {
      expect(err).to.be.instanceOf(InputError);
      const m = (err as Error).message;
      expect(m.split("\n")).to.have.length(1);
      return m;
    }
    expect.fail("expected an InputError");
  };
  const base = { region: "us-east-1", bucket: "dkim-proof", address: "canary@proof.example.net" };

  it("takes the defaults: prefix canary/, local part dkim-canary, 10 minutes", () => {
    const c = parse(base).canary!;
    expect(c).to.include({ prefix: "canary/", localPart: "dkim-canary", windowMinutes: 10 });
  });
  it("refuses a Region where SES does not receive mail, naming the field", () => {
    expect(oneLine({ ...base, region: "ap-northeast-1" })).to.match(
      /Pulumi\.prod\.yaml.*ses-dkim-rotation:canary\.region.*Region where SES receives mail: us-east-1, us-west-2, eu-west-1/,
    );
  });
  it("refuses a bucket name S3 would refuse", () => {
    expect(oneLine({ ...base, bucket: "Dkim_Proof" })).to.match(/canary\.bucket.*S3 bucket name/);
  });
  it("refuses a prefix without its trailing slash", () => {
    expect(oneLine({ ...base, prefix: "canary" })).to.match(/canary\.prefix.*ending in \//);
  });
  it("refuses a receiving address that is not one", () => {
    expect(oneLine({ ...base, address: "not-an-address" })).to.match(/canary\.address/);
  });
  it("refuses a window over an hour", () => {
    expect(oneLine({ ...base, windowMinutes: 240 })).to.match(/canary\.windowMinutes/);
  });
  it("refuses an unknown canary setting", () => {
    expect(oneLine({ ...base, bucktet: "x" })).to.match(/canary/);
  });
});
