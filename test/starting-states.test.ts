/**
 * The first activation from every real starting state × {success, SES FAILED,
 * timeout}, against the AWS emulator and loopback nameservers. Where a way
 * back exists the identity goes back to it (the adopted key, or Easy DKIM in
 * every Region); where none exists (no DKIM before, or a legacy key whose
 * private key was lost) every report says so plainly (invariant 2).
 */
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PutEmailIdentityDkimAttributesCommand } from "@aws-sdk/client-sesv2";
import { expect } from "chai";
import { HOUR_MS, MINUTE_MS } from "../actions/dkim-rotation/src/engine/clock";
import { runAdopt } from "../actions/dkim-rotation/src/engine/adopt";
import { generateDkimKeyPair, sesPrivateKeyToPem } from "../actions/dkim-rotation/src/engine/keys";
import { ActivationFailedError, type SwapReport } from "../actions/dkim-rotation/src/engine/swap";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { describeRollback, verifyNeedsSes } from "../actions/dkim-rotation/src/engine/lifecycle";
import { recordPath, renderRecordFile } from "../actions/dkim-rotation/src/engine/record";
import { fileKeySource } from "../actions/dkim-rotation/src/adapters/legacy-key";
import { REGION_A, REGION_B, startEngineHarness, type EngineHarness } from "./helpers/engine";

type Start = "no-dkim" | "easy-dkim" | "legacy-adopted" | "legacy-key-lost";
type Outcome = "success" | "ses-failed" | "timeout";
const STARTS: Start[] = ["no-dkim", "easy-dkim", "legacy-adopted", "legacy-key-lost"];
const OUTCOMES: Outcome[] = ["success", "ses-failed", "timeout"];
const LEGACY = "gooid-21-prod";
const regions = [REGION_A, REGION_B];

/** The activation's report, whether it succeeded or threw ActivationFailedError. */
async function activationReport(
  ctx: Parameters<typeof runActivate>[0],
  domain: string,
  selector: string,
): Promise<SwapReport> {
  try {
    return await runActivate(ctx, domain, selector);
  } catch (err) {
    if (!(err instanceof ActivationFailedError)) throw err;
    return err.report;
  }
}

describe("first activation from every starting state × {success, SES FAILED, timeout}", function () {
  let h: EngineHarness;
  const tmp = mkdtempSync(join(tmpdir(), "dkim-starts-"));
  const domainOf = (s: Start, o: Outcome) => `${s}-${o}.example`;
  const prefixOf = (s: Start, o: Outcome) => `${s.split("-")[0]}${OUTCOMES.indexOf(o)}`;

  before(async function () {
    h = await startEngineHarness({
      identities: STARTS.flatMap((s) =>
        OUTCOMES.map((o) => ({ domain: domainOf(s, o), selectorPrefix: prefixOf(s, o), regions })),
      ),
    });
  });
  after(async function () {
    await h?.close();
  });

  /** Put the identity in its starting state; every record is served where SES looks too. */
  async function setUp(start: Start, domain: string): Promise<void> {
    await h.createIdentity(domain);
    const all = [h.ns1, h.ns2, h.ns3];
    if (start === "no-dkim") {
      for (const region of regions)
        await h.sesClient(region).send(
          new PutEmailIdentityDkimAttributesCommand({
            EmailIdentity: domain,
            SigningEnabled: false,
          }),
        );
      return;
    }
    if (start === "easy-dkim") return;
    const legacy = await generateDkimKeyPair(2048);
    for (const region of regions)
      await h.ctx.ses.putExternalKey(region, domain, LEGACY, legacy.sesPrivateKey);
    h.publish(domain, LEGACY, legacy.publicKey, all);
    h.sesDns = h.ns1;
    await h.advance(HOUR_MS);
    if (start === "legacy-adopted") {
      const file = join(tmp, `${domain}.pem`);
      writeFileSync(file, sesPrivateKeyToPem(legacy.sesPrivateKey));
      await runAdopt(h.ctx, {
        domain,
        selector: LEGACY,
        activatedAt: "2026-01-01",
        source: fileKeySource(file, domain),
      });
      await h.advance(HOUR_MS);
    } else {
      // The key is lost; someone wrote the record file by hand.
      const path = join(h.repo, recordPath(domain, LEGACY));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(
        path,
        renderRecordFile({
          domain,
          selector: LEGACY,
          keyBits: 2048,
          fingerprint: legacy.fingerprint,
          createdAt: "2026-01-01T00:00:00.000Z",
          publishBy: "2026-01-01",
          publicKey: legacy.publicKey,
          ttl: 3600,
        }),
      );
    }
  }

  for (const start of STARTS) {
    for (const outcome of OUTCOMES) {
      it(`${start} → ${outcome}`, async function () {
        const domain = domainOf(start, outcome);
        await setUp(start, domain);
        const { outcomes } = await runPlan(h.ctx, { apply: true, domains: [domain] });
        const o = outcomes[0]!;
        expect(o.decision.kind, o.decision.reason).to.equal("rotate");
        const selector = o.selector!;
        const rollback = o.decision.kind === "rotate" ? o.decision.rollback : undefined;
        const expected =
          start === "easy-dkim" ? "easy-dkim" : start === "legacy-adopted" ? "byodkim" : "none";
        expect(rollback?.kind, JSON.stringify(rollback)).to.equal(expected);
        const key = (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!;
        // Published where the engine verifies; where SES looks only on success.
        h.publish(domain, selector, key.publicKey, [h.ns1, h.ns2]);
        h.sesDns = outcome === "success" ? h.ns1 : h.ns3;
        h.ctx.activation =
          outcome === "ses-failed"
            ? { pollIntervalMs: 30 * MINUTE_MS, timeoutMs: 80 * HOUR_MS }
            : { pollIntervalMs: 10 * MINUTE_MS, timeoutMs: 2 * HOUR_MS };
        let report: SwapReport;
        try {
          report = await activationReport(h.ctx, domain, selector);
        } finally {
          h.sesDns = h.ns1;
        }
        const precondition = report.timeline.find((e) => e.step === "precondition")!.detail;
        const views = regions.map((r) => h.emulator.ses.identity(r, domain)!);
        if (outcome === "success") {
          expect(report.outcome, report.message).to.equal("activated");
          for (const v of views)
            expect([v.origin, v.selector, v.status]).to.deep.equal([
              "EXTERNAL",
              selector,
              "SUCCESS",
            ]);
          return;
        }
        const why =
          outcome === "ses-failed"
            ? /SES FAILED in ap-northeast-\d/
            : /SES not SUCCESS after 120 min/;
        expect(report.message).to.match(why);
        if (expected === "none") {
          expect(report.outcome).to.equal("failed");
          expect(precondition).to.match(/NO ROLLBACK EXISTS/);
          expect(report.message).to.match(/there is no way back/);
          return;
        }
        if (expected === "easy-dkim") {
          // The emulator's default reading: the switch back gives new tokens,
          // whose CNAMEs nobody published, so Easy DKIM is no way back; the
          // engine tries the candidate once more (SES still cannot see it here).
          expect(report.outcome, report.message).to.equal("failed");
          expect(report.message).to.match(
            /did not verify twice .* Easy DKIM is no way back: SES gave it new tokens whose CNAMEs are not published \(\w+\._domainkey\.easy-dkim-[a-z-]+\.example CNAME \w+\.dkim\.amazonses\.com; /,
          );
          expect(report.timeline.map((e) => e.detail).join("\n")).to.match(
            new RegExp(`trying ${selector} once more`),
          );
          for (const v of views)
            expect([v.origin, v.selector]).to.deep.equal(["EXTERNAL", selector]);
          // Never offered again (no approval loop), and every plan says mail is unsigned.
          const after = (await runPlan(h.ctx, { apply: false, domains: [domain] })).outcomes[0]!;
          expect(after.decision.kind).to.not.equal("activate");
          expect(after.decision.alerts.map((a) => a.kind)).to.include("ses-failed");
          const recorded = (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!;
          expect([recorded.state, recorded.proof]).to.deep.equal(["active", "unverified"]);
          if (outcome === "timeout") {
            // docs/design.md#unproven-activation: SES, still checking on its own,
            // verifies once it can see the record; the hourly verify reads SES
            // for this key, the plan offers activate, which proves it without a swap.
            expect(
              verifyNeedsSes(await h.ctx.keys.list(domain), await h.ctx.records.read(domain))
                .needed,
            ).to.equal(true);
            h.sesDns = h.ns1;
            await h.advance(2 * HOUR_MS);
            const verified = (await runPlan(h.ctx, { apply: false, domains: [domain] }))
              .outcomes[0]!;
            expect(verified.decision.kind, verified.decision.reason).to.equal("activate");
            expect(verified.decision.reason).to.match(
              new RegExp(
                `SES verified ${selector} in every Region after its activation was recorded unverified`,
              ),
            );
            const puts = h.puts();
            const proven = await runActivate(h.ctx, domain, selector);
            expect(proven.outcome, proven.message).to.equal("already-active");
            expect(proven.message).to.match(/proven now \(ses\)$/);
            expect(h.puts()).to.equal(puts);
            const key = (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!;
            expect(key.proof).to.equal("ses");
            const idle = (await runPlan(h.ctx, { apply: false, domains: [domain] })).outcomes[0]!;
            expect(idle.decision.kind, idle.decision.reason).to.not.equal("activate");
            expect(
              verifyNeedsSes(await h.ctx.keys.list(domain), await h.ctx.records.read(domain))
                .needed,
            ).to.equal(false);
          }
          if (outcome === "ses-failed") {
            // Once SES can see the record, activate by hand puts the key again where SES gave up.
            const puts = h.puts();
            const again = await runActivate(h.ctx, domain, selector);
            expect(again.outcome, again.message).to.equal("activated");
            expect(h.puts()).to.equal(puts + regions.length);
          }
          return;
        }
        expect(report.outcome, report.message).to.equal("rolled-back");
        {
          expect(report.message).to.include(`rolled back to ${LEGACY} (SES SUCCESS)`);
          for (const v of views)
            expect([v.origin, v.selector, v.status]).to.deep.equal(["EXTERNAL", LEGACY, "SUCCESS"]);
        }
        expect(
          (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!.state,
        ).to.equal("retired");
      });
    }
  }
});

/**
 * The API reference does not say whether a switch back to Easy DKIM keeps the
 * identity's tokens: the product is right under both readings (the emulator
 * has a switch for each).
 */
describe("a failed first activation from Easy DKIM, under both readings of the switch back", function () {
  const domain = "easy-back.example";
  for (const reading of ["same-tokens", "new-tokens"] as const) {
    it(`${reading}: ${reading === "same-tokens" ? "back on Easy DKIM, signing again with the published CNAMEs" : "Easy DKIM is no way back, so the candidate is tried again and verifies"}`, async function () {
      const h = await startEngineHarness({
        identities: [{ domain, selectorPrefix: "back", regions }],
        easyDkimSwitchBack: reading,
      });
      try {
        await h.createIdentity(domain);
        const before = regions.map((r) => h.emulator.ses.identity(r, domain)!.tokens).flat();
        const { outcomes } = await runPlan(h.ctx, { apply: true, domains: [domain] });
        const selector = outcomes[0]!.selector!;
        const key = (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!;
        h.publish(domain, selector, key.publicKey, [h.ns1, h.ns2]);
        // SES cannot see the record at first (it reads ns3)...
        h.sesDns = h.ns3;
        h.ctx.activation = { pollIntervalMs: 10 * MINUTE_MS, timeoutMs: 2 * HOUR_MS };
        // ...and can once the identity is back on Easy DKIM.
        const useEasyDkim = h.ctx.ses.useEasyDkim.bind(h.ctx.ses);
        h.ctx.ses.useEasyDkim = async (region, d) => {
          h.sesDns = h.ns1;
          return useEasyDkim(region, d);
        };
        const report = await activationReport(h.ctx, domain, selector);
        const views = regions.map((r) => h.emulator.ses.identity(r, domain)!);
        if (reading === "same-tokens") {
          expect(report.outcome, report.message).to.equal("rolled-back");
          expect(report.message).to.include("rolled back to Easy DKIM (SES SUCCESS)");
          expect(views.flatMap((v) => v.tokens)).to.deep.equal(before);
          for (const v of views) expect([v.origin, v.status]).to.deep.equal(["AWS_SES", "SUCCESS"]);
          expect(
            (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!.state,
          ).to.equal("retired");
        } else {
          expect(report.outcome, report.message).to.equal("activated");
          expect(report.message).to.match(
            /on a second try \(the first did not verify: SES not SUCCESS after 120 min .*Easy DKIM was no way back: SES gave it new tokens whose CNAMEs are not published\)/,
          );
          for (const v of views)
            expect([v.origin, v.selector, v.status]).to.deep.equal([
              "EXTERNAL",
              selector,
              "SUCCESS",
            ]);
          expect(
            (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!.state,
          ).to.equal("active");
        }
      } finally {
        await h.close();
      }
    });
  }
});

/**
 * Easy DKIM in a Region with its own DKIM zone: SES's GetEmailIdentity gives
 * `SigningHostedZone` (ap-northeast-3: `dkim.ap-northeast-3.amazonses.com`),
 * and the CNAMEs lead there, not to `dkim.amazonses.com`
 * (docs/design.md#ses-signing-hosted-zone). When SES gives no zone, nothing
 * assumes one: the way back is said to be unchecked, never judged.
 */
describe("Easy DKIM in a Region whose zone is not dkim.amazonses.com", function () {
  const domain = "osaka.example";
  const zone = "dkim.ap-northeast-3.amazonses.com";
  /** Onboard from Easy DKIM with a key SES never sees (ns3 lacks it): the activation fails. */
  async function failFirst(h: EngineHarness): Promise<{ selector: string; report: SwapReport }> {
    const { outcomes } = await runPlan(h.ctx, { apply: true, domains: [domain] });
    const o = outcomes[0]!;
    expect(o.decision.kind, o.decision.reason).to.equal("rotate");
    const selector = o.selector!;
    const key = (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!;
    h.publish(domain, selector, key.publicKey, [h.ns1, h.ns2]);
    // ns3 serves the Easy DKIM CNAMEs but not the new record.
    h.sesDns = h.ns3;
    h.ctx.activation = { pollIntervalMs: 10 * MINUTE_MS, timeoutMs: 2 * HOUR_MS };
    try {
      return { selector, report: await activationReport(h.ctx, domain, selector) };
    } finally {
      h.sesDns = h.ns1;
    }
  }

  it("SES gives the Region's zone; onboarding checks the way back there and returns to Easy DKIM", async function () {
    const h = await startEngineHarness({
      identities: [{ domain, selectorPrefix: "osaka", regions: [REGION_B] }],
      easyDkimSwitchBack: "same-tokens",
    });
    try {
      await h.createIdentity(domain);
      const state = await h.ctx.ses.getIdentity(REGION_B, domain);
      expect(state.signingHostedZone).to.equal(zone);
      expect(state.status).to.equal("SUCCESS");
      const { report } = await failFirst(h);
      expect(report.outcome, report.message).to.equal("rolled-back");
      expect(report.message).to.include("rolled back to Easy DKIM (SES SUCCESS)");
      expect(report.timeline.map((e) => e.detail)).to.include(
        "Easy DKIM CNAMEs served everywhere (the way back)",
      );
      const v = h.emulator.ses.identity(REGION_B, domain)!;
      expect([v.origin, v.status]).to.deep.equal(["AWS_SES", "SUCCESS"]);
    } finally {
      await h.close();
    }
  });

  it("new tokens with no CNAMEs: the message names the CNAMEs to the Region's zone", async function () {
    const h = await startEngineHarness({
      identities: [{ domain, selectorPrefix: "osaka", regions: [REGION_B] }],
    });
    try {
      await h.createIdentity(domain);
      // SES never sees the new record, not even on the second try.
      const { report } = await failFirst(h);
      expect(report.outcome, report.message).to.equal("failed");
      expect(report.message).to.match(
        /Easy DKIM is no way back: SES gave it new tokens whose CNAMEs are not published \((\w+)\._domainkey\.osaka\.example CNAME \1\.dkim\.ap-northeast-3\.amazonses\.com; /,
      );
      expect(report.message).to.not.match(/\.dkim\.amazonses\.com/);
    } finally {
      await h.close();
    }
  });

  it("SES gives no SigningHostedZone: the way back is said to be unchecked, never judged against an assumed zone", async function () {
    const h = await startEngineHarness({
      identities: [{ domain, selectorPrefix: "osaka", regions: [REGION_B] }],
      emulator: { sesQuirks: { omitSigningHostedZone: true } },
    });
    try {
      await h.createIdentity(domain);
      const state = await h.ctx.ses.getIdentity(REGION_B, domain);
      expect(state.signingHostedZone).to.equal(undefined);
      const plan = await runPlan(h.ctx, { apply: false, domains: [domain] });
      const d = plan.outcomes[0]!.decision;
      expect(d.kind === "rotate" && describeRollback(d.rollback)).to.match(
        /whether its CNAMEs are served cannot be judged: SES ap-northeast-3 gave no DkimAttributes\.SigningHostedZone/,
      );
      const { report } = await failFirst(h);
      expect(report.timeline.map((e) => e.detail).join("\n")).to.match(
        /the Easy DKIM CNAMEs \(the way back\) were not checked: SES ap-northeast-3 gave no DkimAttributes\.SigningHostedZone/,
      );
      expect(report.message).to.match(
        /Easy DKIM is no way back: SES gave it new tokens whose CNAMEs cannot be checked \(SES ap-northeast-3 gave no DkimAttributes\.SigningHostedZone/,
      );
      expect(report.message).to.not.match(/dkim\.(ap-northeast-3\.)?amazonses\.com/);
    } finally {
      await h.close();
    }
  });
});
