/**
 * Attack paths on key custody (issue #22 item 1): a hostile plan job, holding
 * the planner role's credentials, plants a key it holds under the DKIM
 * prefix with the one CreateSecret the planner's IAM allows (project key,
 * creation tags, `dkim:state=pending`, `dkim:key-origin=kms` or `local`).
 * Each planted key must never be proposed (no record PR) nor activated, and
 * must raise a key-store-tampered alert naming the secret
 * (docs/design.md#key-origins). The planner's IAM refusing
 * `dkim:key-origin=operator` is proved in test/policy-attacks.test.ts.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { expect } from "chai";
import { KMSClient } from "@aws-sdk/client-kms";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { KmsKeyCustody } from "../actions/dkim-rotation/src/adapters/kms";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import {
  generateDkimKeyPair,
  publicKeyFingerprint,
} from "../actions/dkim-rotation/src/engine/keys";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { renderRecordFile } from "../actions/dkim-rotation/src/engine/record";
import { RefusalError } from "../actions/dkim-rotation/src/engine/errors";
import { snapshotIdentity } from "../actions/dkim-rotation/src/engine/snapshot";
import {
  KMS_KEY_ID,
  REGION_A,
  TEST_CREDENTIALS,
  startEngineHarness,
  type EngineHarness,
} from "./helpers/engine";
import { expectNoKeyMaterial } from "./helpers/key-material";
import { errorOf } from "./helpers/rejection";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const BIG = "custody.example";
const SMALL = "small.example";

describe("attack: a hostile plan job plants a key it holds (issue #22 item 1)", function () {
  this.timeout(120_000);
  let h: EngineHarness;
  let sm: SecretsManagerClient;
  let keyArn: string;

  beforeEach(async function () {
    h = await startEngineHarness({
      identities: [
        { domain: BIG, selectorPrefix: "cu" },
        { domain: SMALL, selectorPrefix: "sm", keyBits: 1024 },
      ],
    });
    await h.createIdentity(BIG);
    await h.createIdentity(SMALL);
    // The attacker's client: the real SDK, the planner's reach (one CreateSecret).
    sm = new SecretsManagerClient({
      region: REGION_A,
      endpoint: h.emulator.url,
      credentials: TEST_CREDENTIALS,
      maxAttempts: 1,
    });
    keyArn = h.emulator.kms.keys(REGION_A).find((k) => k.aliases.includes(KMS_KEY_ID))!.arn;
  });
  afterEach(async function () {
    sm.destroy();
    await h.close();
  });

  /** The one CreateSecret the planner's IAM allows: project key, creation tags, pending. */
  async function plant(
    domain: string,
    selector: string,
    value: string,
    publicKey: string,
    bits: number,
    origin: "kms" | "local",
  ): Promise<string> {
    const name = `dkim/${domain}/${selector}`;
    await sm.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: value,
        KmsKeyId: keyArn,
        Description: `DKIM private key for ${selector}._domainkey.${domain} (SES BYODKIM). p=${publicKey}`,
        Tags: [
          { Key: "dkim:domain", Value: domain },
          { Key: "dkim:selector", Value: selector },
          { Key: "dkim:key-bits", Value: String(bits) },
          { Key: "dkim:fingerprint", Value: publicKeyFingerprint(publicKey) },
          { Key: "dkim:created-at", Value: h.clock.now().toISOString() },
          { Key: "dkim:state", Value: "pending" },
          { Key: "dkim:key-origin", Value: origin },
        ],
      }),
    );
    return name;
  }

  /** The worst case past the plan: the record reached main and DNS serves it. */
  function mergeAndPublish(domain: string, selector: string, publicKey: string, bits: number) {
    const file = h.recordFile(domain, selector);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
      file,
      renderRecordFile({
        domain,
        selector,
        keyBits: bits,
        fingerprint: publicKeyFingerprint(publicKey),
        createdAt: h.clock.now().toISOString(),
        publishBy: "2027-01-18",
        publicKey,
        ttl: 3600,
      }),
    );
    h.publish(domain, selector, publicKey);
  }

  /** Plan --apply: no record for the planted selector, and the alert naming its secret. */
  async function expectPlanRefuses(domain: string, selector: string, why: string) {
    const { snapshots, outcomes } = await runPlan(h.ctx, { apply: true, domains: [domain] });
    expect(outcomes[0]!.error).to.equal(undefined);
    expect(outcomes[0]!.selector, "the plan proposes another key").not.to.equal(selector);
    expect(existsSync(h.recordFile(domain, selector)), "record PR for the planted key").to.equal(
      false,
    );
    const alerts = snapshots[0]!.decision.alerts.filter((a) => a.kind === "key-store-tampered");
    const message = `dkim/${domain}/${selector}: refused (never proposed or activated): ${why}`;
    expect(alerts.map((a) => a.message)).to.include(message);
    return message;
  }

  async function expectActivateRefuses(domain: string, selector: string, why: string) {
    const err = await errorOf(runActivate(h.ctx, domain, selector));
    expect(err).to.be.instanceOf(RefusalError);
    expect(err.message).to.equal(
      `${domain}: activate ${selector} refused: dkim/${domain}/${selector} failed the custody check: ${why}`,
    );
    expect(h.puts(), "SES swaps").to.equal(0);
    return err.message;
  }

  it("(1) a plaintext RSA-2048 key falsely tagged dkim:key-origin=kms: no PR, tamper alert, activation refused", async function () {
    const pair = await generateDkimKeyPair(2048);
    const selector = "cu-20270104";
    await plant(BIG, selector, pair.sesPrivateKey, pair.publicKey, 2048, "kms");
    const why = "its value is not KMS-wrapped (plaintext or another format)";
    const alert = await expectPlanRefuses(BIG, selector, why);
    mergeAndPublish(BIG, selector, pair.publicKey, 2048);
    const refusal = await expectActivateRefuses(BIG, selector, why);
    // The activator's own read refuses plaintext for a key nobody vouched for.
    const read = await errorOf(h.aws.keys.readPrivateKey(BIG, selector));
    expect(read.message).to.equal(
      `secret dkim/${BIG}/${selector}: ${why}; only an adopted key, a key that has been active or a keyBits 1024 identity's key may be plaintext`,
    );
    expectNoKeyMaterial([alert, refusal, read.message, ...h.logs], pair.sesPrivateKey, "messages");
  });

  it("(1b) a plaintext RSA-2048 key tagged dkim:key-origin=local for a 2048-bit identity: refused", async function () {
    const pair = await generateDkimKeyPair(2048);
    const selector = "cu-20270104";
    await plant(BIG, selector, pair.sesPrivateKey, pair.publicKey, 2048, "local");
    const why =
      "a plaintext key (dkim:key-origin=local) for a 2048-bit identity, whose keys only KMS makes";
    await expectPlanRefuses(BIG, selector, why);
    mergeAndPublish(BIG, selector, pair.publicKey, 2048);
    await expectActivateRefuses(BIG, selector, why);
  });

  it("(2) a planted RSA-1024 key for a 2048-bit identity: refused (kms and local tags alike)", async function () {
    const pair = await generateDkimKeyPair(1024);
    const why = `holds an RSA-1024 key, but ${BIG} is configured for keyBits 2048`;
    await plant(BIG, "cu-20270104", pair.sesPrivateKey, pair.publicKey, 1024, "kms");
    await plant(BIG, "cu-20270105", pair.sesPrivateKey, pair.publicKey, 1024, "local");
    await expectPlanRefuses(BIG, "cu-20270104", why);
    const again = await snapshotIdentity(h.ctx, h.config.identities[0]!);
    expect(again.decision.alerts.map((a) => a.message)).to.include(
      `dkim/${BIG}/cu-20270105: refused (never proposed or activated): ${why}`,
    );
    // Past the plan, its record could not even reach main: the record check refuses the size.
    mergeAndPublish(BIG, "cu-20270104", pair.publicKey, 1024);
    const err = await errorOf(runActivate(h.ctx, BIG, "cu-20270104"));
    expect(err.message).to.match(/is an RSA-1024 key; the identity is configured for 2048/);
    expect(h.puts(), "SES swaps").to.equal(0);
  });

  it("(2b) a planted RSA-2048 key for a 1024-bit identity: refused; its own 1024-bit keys stay the documented exception", async function () {
    const pair = await generateDkimKeyPair(2048);
    const why = `holds an RSA-2048 key, but ${SMALL} is configured for keyBits 1024`;
    await plant(SMALL, "sm-20270104", pair.sesPrivateKey, pair.publicKey, 2048, "local");
    await expectPlanRefuses(SMALL, "sm-20270104", why);
    // The plan made the identity's own local key instead, and it is proposed.
    const own = (await h.ctx.keys.list(SMALL)).find((k) => k.selector !== "sm-20270104")!;
    expect(own).to.deep.include({ keyBits: 1024, origin: "local", state: "pending" });
    expect(existsSync(h.recordFile(SMALL, own.selector))).to.equal(true);
    mergeAndPublish(SMALL, "sm-20270104", pair.publicKey, 2048);
    const err = await errorOf(runActivate(h.ctx, SMALL, "sm-20270104"));
    expect(err.message).to.match(/is an RSA-2048 key; the identity is configured for 1024/);
    expect(h.puts(), "SES swaps").to.equal(0);
  });

  describe("(3) a KMS-wrapped key bound to another selector, copied under this name", function () {
    async function donor() {
      const kms = new KMSClient({
        region: REGION_A,
        endpoint: h.emulator.url,
        credentials: TEST_CREDENTIALS,
        maxAttempts: 1,
      });
      // What the planner role may ask KMS for: a pair for another selector.
      const wrapped = await new KmsKeyCustody({ client: kms, keyId: KMS_KEY_ID }).generate(
        BIG,
        "cu-donor",
      );
      kms.destroy();
      return {
        wrapped,
        value: (context: Record<string, string>) =>
          JSON.stringify({
            format: "kms-wrapped-pkcs8/v1",
            keyArn: wrapped.keyArn,
            keyPairSpec: "RSA_2048",
            privateKeyCiphertextBlob: wrapped.ciphertext,
            publicKey: wrapped.publicKey,
            fingerprint: wrapped.fingerprint,
            encryptionContext: context,
          }),
      };
    }

    it("copied as it is: its declared context names the other selector; no PR, tamper alert, activation refused", async function () {
      const { wrapped, value } = await donor();
      const selector = "cu-20270104";
      await plant(
        BIG,
        selector,
        value({ domain: BIG, selector: "cu-donor" }),
        wrapped.publicKey,
        2048,
        "kms",
      );
      const why = `its declared encryption context is not {domain: ${BIG}, selector: ${selector}} (moved from another secret?)`;
      await expectPlanRefuses(BIG, selector, why);
      mergeAndPublish(BIG, selector, wrapped.publicKey, 2048);
      await expectActivateRefuses(BIG, selector, why);
    });

    it("with the declared context rewritten: KMS refuses the decrypt (InvalidCiphertextException), nothing reaches SES", async function () {
      const { wrapped, value } = await donor();
      const selector = "cu-20270104";
      await plant(BIG, selector, value({ domain: BIG, selector }), wrapped.publicKey, 2048, "kms");
      // The planner cannot decrypt: the forged declaration passes its check,
      // and the record PR is the KMS-made public key (nobody holds its private half).
      await runPlan(h.ctx, { apply: true, domains: [BIG] });
      mergeAndPublish(BIG, selector, wrapped.publicKey, 2048);
      const err = await errorOf(runActivate(h.ctx, BIG, selector));
      expect(err.message).to.equal(
        `secret dkim/${BIG}/${selector}: ${BIG} ${selector}: KMS refused to decrypt (InvalidCiphertextException): the blob is not bound to {domain: ${BIG}, selector: ${selector}} (moved from another secret?) or is damaged`,
      );
      expect(h.puts(), "SES swaps").to.equal(0);
    });
  });

  describe("(4) a value in another format", function () {
    const cases: {
      name: string;
      value: (pem: string, wrappedLike: string) => string;
      why: string;
    }[] = [
      {
        name: "PEM",
        value: (pem) => pem,
        why: "its value is not KMS-wrapped (plaintext or another format)",
      },
      {
        name: "JSON with an unknown field (a private key beside the wrapped fields)",
        value: (pem, w) => JSON.stringify({ ...(JSON.parse(w) as object), privateKey: pem }),
        why: "its value is not KMS-wrapped (plaintext or another format): unknown field privateKey",
      },
      {
        name: "JSON in another format",
        value: (pem) => JSON.stringify({ format: "plain-pkcs1/v0", privateKey: pem }),
        why: "its value is not KMS-wrapped (plaintext or another format): unknown field privateKey",
      },
      {
        name: "JSON with a format string of its own",
        value: (_pem, w) =>
          JSON.stringify({ ...(JSON.parse(w) as object), format: "kms-wrapped-pkcs8/v2" }),
        why: "its value is not KMS-wrapped (plaintext or another format): format is not kms-wrapped-pkcs8/v1",
      },
    ];
    for (const c of cases) {
      it(`${c.name}: no PR, tamper alert, activation refused`, async function () {
        const pair = await generateDkimKeyPair(2048);
        const { createPrivateKey } = await import("node:crypto");
        const pem = createPrivateKey({
          key: Buffer.from(pair.sesPrivateKey, "base64"),
          format: "der",
          type: "pkcs1",
        })
          .export({ type: "pkcs1", format: "pem" })
          .toString();
        const wrappedLike = JSON.stringify({
          format: "kms-wrapped-pkcs8/v1",
          keyArn,
          keyPairSpec: "RSA_2048",
          privateKeyCiphertextBlob: "AAAA",
          publicKey: pair.publicKey,
          fingerprint: pair.fingerprint,
          encryptionContext: { domain: BIG, selector: "cu-20270104" },
        });
        await plant(BIG, "cu-20270104", c.value(pem, wrappedLike), pair.publicKey, 2048, "kms");
        const alert = await expectPlanRefuses(BIG, "cu-20270104", c.why);
        mergeAndPublish(BIG, "cu-20270104", pair.publicKey, 2048);
        const refusal = await expectActivateRefuses(BIG, "cu-20270104", c.why);
        expectNoKeyMaterial([alert, refusal], pair.sesPrivateKey, "messages");
      });
    }
  });
});
