/**
 * `adopt` (engine/adopt.ts): a legacy BYODKIM key this repository did not
 * make — the seed documents' production domain, selector gooid-21-prod, key
 * in SSM Parameter Store — against the AWS emulator (SES, Secrets Manager,
 * SSM through the real SDK clients) and two loopback nameservers.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { expect } from "chai";
import { addDays } from "../actions/dkim-rotation/src/engine/clock";
import { runAdopt, type AdoptRequest } from "../actions/dkim-rotation/src/engine/adopt";
import { InputError, RefusalError } from "../actions/dkim-rotation/src/engine/errors";
import { generateDkimKeyPair, sesPrivateKeyToPem } from "../actions/dkim-rotation/src/engine/keys";
import { snapshotAll } from "../actions/dkim-rotation/src/engine/snapshot";
import { fileKeySource, ssmKeySource } from "../actions/dkim-rotation/src/adapters/legacy-key";
import { recordPath } from "../actions/dkim-rotation/src/engine/record";
import { REGION_A, REGION_B, startEngineHarness, type EngineHarness } from "./helpers/engine";

const SELECTOR = "gooid-21-prod";

describe("adopt a legacy BYODKIM key (emulator, loopback DNS)", function () {
  let h: EngineHarness;
  let ssm: SSMClient;
  const tmp = mkdtempSync(join(tmpdir(), "dkim-adopt-"));
  const regions = [REGION_A, REGION_B];
  const identities = ["prod.example", "twin.example", "bad.example"].map((domain) => ({
    domain,
    selectorPrefix: domain.split(".")[0]!,
    regions,
  }));

  /** A domain signing with a hand-made key in every Region, its record on both servers. */
  async function legacyDomain(domain: string, selector = SELECTOR) {
    await h.createIdentity(domain);
    const pair = await generateDkimKeyPair(2048);
    for (const region of regions)
      await h.ctx.ses.putExternalKey(region, domain, selector, pair.sesPrivateKey);
    h.publish(domain, selector, pair.publicKey);
    await h.advance(60 * 60 * 1000);
    return pair;
  }
  const file = (name: string, text: string) => {
    const path = join(tmp, name);
    writeFileSync(path, text);
    return path;
  };
  const request = (domain: string, over: Partial<AdoptRequest> = {}): AdoptRequest => ({
    domain,
    selector: SELECTOR,
    activatedAt: "2026-02-20",
    source: fileKeySource(join(tmp, "none"), domain),
    ...over,
  });
  /** A refusal or bad input that wrote nothing: no secret, no record file. */
  async function expectNothingWritten(
    domain: string,
    work: Promise<unknown>,
    kind: typeof InputError | typeof RefusalError,
    pattern: RegExp,
  ) {
    const secrets = h.emulator.secrets.list().length;
    let caught: unknown;
    try {
      await work;
    } catch (err) {
      caught = err;
    }
    expect(caught, String(caught)).to.be.instanceOf(kind);
    const message = (caught as Error).message;
    expect(message).to.match(pattern);
    expect(message).not.to.match(/[\r\n]/);
    expect(message).not.to.match(/MII[A-Za-z0-9+/]{20}/);
    expect(h.emulator.secrets.list().length).to.equal(secrets);
    expect(existsSync(join(h.repo, recordPath(domain, SELECTOR)))).to.equal(false);
  }

  before(async function () {
    h = await startEngineHarness({ identities, start: new Date("2027-01-04T00:00:00Z") });
    ssm = new SSMClient({
      region: REGION_A,
      endpoint: h.emulator.url,
      credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "x" },
    });
  });
  after(async function () {
    ssm?.destroy();
    await h?.close();
  });

  it("adopts a key from an SSM SecureString: stored as PKCS#1, active since the given date, record on main; a re-run converges", async function () {
    const domain = "prod.example";
    const pair = await legacyDomain(domain);
    // Kept in PEM, as an operator would paste it.
    await ssm.send(
      new PutParameterCommand({
        Name: "/mail/dkim/gooid-21-prod",
        Type: "SecureString",
        Value: sesPrivateKeyToPem(pair.sesPrivateKey),
      }),
    );
    const source = ssmKeySource(ssm, "/mail/dkim/gooid-21-prod", domain);
    const report = await runAdopt(h.ctx, request(domain, { source }));
    expect(report.steps.map((s) => s.acted)).to.deep.equal([true, true, true]);
    const key = (await h.ctx.keys.list(domain)).find((k) => k.selector === SELECTOR)!;
    expect(key.state).to.equal("active");
    expect(key.activatedAt?.toISOString()).to.equal("2026-02-20T00:00:00.000Z");
    expect(h.secret(domain, SELECTOR)!.currentValue).to.equal(pair.sesPrivateKey);
    expect(readFileSync(join(h.repo, recordPath(domain, SELECTOR)), "utf8")).to.include(
      pair.publicKey.slice(0, 200),
    );
    expect(h.emulator.callCount({ service: "ssm", operation: "GetParameter" })).to.equal(1);

    const again = await runAdopt(h.ctx, request(domain, { source }));
    expect(again.steps.map((s) => s.acted)).to.deep.equal([false, false, false]);
    expect(h.secret(domain, SELECTOR)!.versionCount).to.equal(1);

    // 315 days after the given activation the key is 315 days old (never 0: SES's
    // LastSuccessTimestamp moves on every re-check), so the planner rotates it.
    h.clock.t = addDays(new Date("2026-02-20T00:00:00Z"), 315).getTime();
    const [snap] = await snapshotAll(h.ctx, [domain]);
    expect(snap!.decision.keyAgeDays).to.equal(315);
    expect(snap!.decision.kind).to.equal("rotate");
    expect(snap!.decision.kind === "rotate" && snap!.decision.rollback).to.deep.equal({
      kind: "byodkim",
      selector: SELECTOR,
    });
  });

  it("accepts a PKCS#8 PEM key file and stores it normalised to PKCS#1", async function () {
    const domain = "twin.example";
    const pair = await legacyDomain(domain);
    const { privateKey } = { privateKey: sesPrivateKeyToPem(pair.sesPrivateKey) };
    const { createPrivateKey } = await import("node:crypto");
    const pkcs8 = createPrivateKey(privateKey).export({ type: "pkcs8", format: "pem" }).toString();
    expect(pkcs8).to.include("BEGIN PRIVATE KEY");
    await runAdopt(
      h.ctx,
      request(domain, { source: fileKeySource(file("p8.pem", pkcs8), domain) }),
    );
    expect(h.secret(domain, SELECTOR)!.currentValue).to.equal(pair.sesPrivateKey);
    expect(pair.sesPrivateKey.startsWith("MIIE")).to.equal(true);
  });

  describe("refusals write nothing (bad-input corpus: adopt)", function () {
    const domain = "bad.example";
    let pem: string;
    before(async function () {
      const pair = await legacyDomain(domain);
      pem = sesPrivateKeyToPem(pair.sesPrivateKey);
    });

    it("a wrong key: names each server and what it serves", async function () {
      const other = await generateDkimKeyPair(2048);
      const source = fileKeySource(
        file("wrong.pem", sesPrivateKeyToPem(other.sesPrivateKey)),
        domain,
      );
      await expectNothingWritten(
        domain,
        runAdopt(h.ctx, request(domain, { source })),
        RefusalError,
        /adopt gooid-21-prod refused: the key from key file .*wrong\.pem is not what DNS serves.*127\.0\.0\.1:\d+: mismatch \(tag p.*127\.0\.0\.1:\d+: mismatch/,
      );
    });

    it("a 4096-bit key", async function () {
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 4096 });
      const source = fileKeySource(
        file("big.pem", privateKey.export({ type: "pkcs1", format: "pem" }).toString()),
        domain,
      );
      await expectNothingWritten(
        domain,
        runAdopt(h.ctx, request(domain, { source })),
        InputError,
        /big\.pem: identity bad\.example: field private key: is RSA-4096; SES accepts only 1024 or 2048 bits/,
      );
    });

    it("a key that is not RSA (a PKCS#8 EC key)", async function () {
      const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const source = fileKeySource(
        file("ec.pem", privateKey.export({ type: "pkcs8", format: "pem" }).toString()),
        domain,
      );
      await expectNothingWritten(
        domain,
        runAdopt(h.ctx, request(domain, { source })),
        InputError,
        /field private key: is a ec key; DKIM keys for SES are RSA/,
      );
    });

    it("a key whose record is not served on one server: names that server", async function () {
      h.serve(domain, SELECTOR, undefined, [h.ns2]);
      try {
        await expectNothingWritten(
          domain,
          runAdopt(h.ctx, request(domain, { source: fileKeySource(file("ok.pem", pem), domain) })),
          RefusalError,
          new RegExp(`is not what DNS serves.*127\\.0\\.0\\.1:${h.ns2.port}: missing \\(NXDOMAIN`),
        );
      } finally {
        const key = (await import("node:crypto")).createPublicKey(pem);
        h.publish(
          domain,
          SELECTOR,
          key.export({ type: "spki", format: "der" }).toString("base64"),
          [h.ns2],
        );
      }
    });

    it("an SSM parameter that does not exist", async function () {
      await expectNothingWritten(
        domain,
        runAdopt(h.ctx, request(domain, { source: ssmKeySource(ssm, "/mail/dkim/nope", domain) })),
        InputError,
        /^ssm:\/mail\/dkim\/nope: identity bad\.example: field --ssm-parameter: does not exist \(hint: /,
      );
    });

    it("an SSM String (plaintext) parameter", async function () {
      await ssm.send(
        new PutParameterCommand({ Name: "/mail/dkim/plain", Type: "String", Value: pem }),
      );
      await expectNothingWritten(
        domain,
        runAdopt(h.ctx, request(domain, { source: ssmKeySource(ssm, "/mail/dkim/plain", domain) })),
        InputError,
        /field --ssm-parameter: is a String parameter, not a SecureString/,
      );
    });

    it("a selector SES does not sign with: names each Region", async function () {
      await expectNothingWritten(
        domain,
        runAdopt(
          h.ctx,
          request(domain, {
            selector: "gooid-20-prod",
            source: fileKeySource(file("ok2.pem", pem), domain),
          }),
        ),
        RefusalError,
        /SES does not sign with gooid-20-prod everywhere \(ap-northeast-1: signs with gooid-21-prod; ap-northeast-3: signs with gooid-21-prod\)/,
      );
    });

    it("an activation date that is not a date, or in the future", async function () {
      const source = fileKeySource(file("ok3.pem", pem), domain);
      await expectNothingWritten(
        domain,
        runAdopt(h.ctx, request(domain, { source, activatedAt: "last spring" })),
        InputError,
        /field --activated-at: "last spring" is not a date/,
      );
      await expectNothingWritten(
        domain,
        runAdopt(h.ctx, request(domain, { source, activatedAt: "2099-01-01" })),
        InputError,
        /field --activated-at: 2099-01-01 is in the future/,
      );
    });
  });
});
