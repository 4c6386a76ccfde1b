/**
 * KMS custody (issue 12): the emulator's KMS through the real
 * @aws-sdk/client-kms, the key store's KMS-wrapped keys, facts over tags,
 * the plan job that never holds a private key (even with Node's RSA key
 * generation broken), and the probe signature before every swap.
 */
import { execFile } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import {
  CreateSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { KmsKeyCustody } from "../actions/dkim-rotation/src/adapters/kms";
import { SecretsKeyStore } from "../actions/dkim-rotation/src/adapters/secrets";
import {
  fromSesPrivateKey,
  generateDkimKeyPair,
  sesPrivateKeyToPem,
  type DkimKeyPair,
} from "../actions/dkim-rotation/src/engine/keys";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { snapshotIdentity } from "../actions/dkim-rotation/src/engine/snapshot";
import type { DnsPort, KeyStorePort } from "../actions/dkim-rotation/src/engine/ports";
import { probeSignature } from "../actions/dkim-rotation/src/engine/probe";
import { dkimRecordValue } from "../actions/dkim-rotation/src/engine/record";
import { RefusalError } from "../actions/dkim-rotation/src/engine/errors";
import { startAwsEmulator, type AwsEmulator } from "../scripts/sandbox/aws-emulator";
import { startDnsServer, type DnsServer } from "../scripts/sandbox/dns-server";
import { startEngineHarness, type EngineHarness } from "./helpers/engine";
import { offlineAwsEnv } from "./helpers/offline-env";
import { expectNoKeyMaterial } from "./helpers/key-material";
import { errorOf } from "./helpers/rejection";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REGION = "ap-northeast-1";
const ALIAS = "alias/ses-dkim-rotation";
const credentials = { accessKeyId: "AKIDKMSTEST000000000", secretAccessKey: "kms-test-not-real" };

describe("KMS custody", function () {
  this.timeout(60_000);

  describe("emulated KMS (TrentService, JSON 1.1) through @aws-sdk/client-kms", function () {
    let aws: AwsEmulator;
    let kms: KMSClient;
    before(async function () {
      aws = await startAwsEmulator({});
      kms = new KMSClient({ region: REGION, endpoint: aws.url, credentials, maxAttempts: 1 });
    });
    after(async function () {
      kms.destroy();
      await aws.close();
    });

    it("DescribeKey resolves the alias to a symmetric ENCRYPT_DECRYPT key in the caller's Region", async function () {
      const out = await kms.send(new DescribeKeyCommand({ KeyId: ALIAS }));
      expect(out.KeyMetadata).to.deep.include({
        KeySpec: "SYMMETRIC_DEFAULT",
        KeyUsage: "ENCRYPT_DECRYPT",
        Enabled: true,
        KeyState: "Enabled",
      });
      expect(out.KeyMetadata!.Arn).to.match(
        /^arn:aws:kms:ap-northeast-1:123456789012:key\/[0-9a-f-]{36}$/,
      );
      const other = new KMSClient({
        region: "us-east-1",
        endpoint: aws.url,
        credentials,
        maxAttempts: 1,
      });
      // KMS keys are regional: the ARN of another Region's key is not found here.
      const err = await errorOf(
        other.send(new DescribeKeyCommand({ KeyId: out.KeyMetadata!.Arn })),
      );
      other.destroy();
      expect(err.name).to.equal("NotFoundException");
    });

    it("makes an RSA-2048 pair: SPKI public key (DKIM p=), PKCS#8 private key bound to the encryption context", async function () {
      const context = { domain: "example.com", selector: "s1" };
      const out = await kms.send(
        new GenerateDataKeyPairWithoutPlaintextCommand({
          KeyId: ALIAS,
          KeyPairSpec: "RSA_2048",
          EncryptionContext: context,
        }),
      );
      const p = Buffer.from(out.PublicKey!).toString("base64");
      expect(p.startsWith("MIIBIjANBgkq")).to.equal(true);
      expect(p).to.have.length(392);
      expect(out.KeyPairSpec).to.equal("RSA_2048");
      expect(out).not.to.have.property("PrivateKeyPlaintext");
      const blob = out.PrivateKeyCiphertextBlob!;
      const plain = await kms.send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context } }),
      );
      const key = createPrivateKey({
        key: Buffer.from(plain.Plaintext!),
        format: "der",
        type: "pkcs8",
      });
      expect(key.asymmetricKeyDetails?.modulusLength).to.equal(2048);
      // Context order does not matter; its content does.
      await kms.send(
        new DecryptCommand({
          CiphertextBlob: blob,
          EncryptionContext: { selector: "s1", domain: "example.com" },
        }),
      );
      const wrongs: Record<string, string>[] = [
        { domain: "example.com", selector: "s2" },
        { domain: "example.com" },
        {},
        { ...context, extra: "x" },
      ];
      for (const wrong of wrongs) {
        const err = await errorOf(
          kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: wrong })),
        );
        expect(err.name, JSON.stringify(wrong)).to.equal("InvalidCiphertextException");
      }
      const tampered = Buffer.from(blob);
      tampered[tampered.length - 1]! ^= 1;
      const err = await errorOf(
        kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: context })),
      );
      expect(err.name).to.equal("InvalidCiphertextException");
    });

    it("refuses what AWS refuses, with AWS's error names", async function () {
      const gen = (KeyId: string, KeyPairSpec: string) =>
        errorOf(
          kms.send(
            new GenerateDataKeyPairWithoutPlaintextCommand({
              KeyId,
              KeyPairSpec: KeyPairSpec as "RSA_2048",
              EncryptionContext: { domain: "example.com", selector: "s1" },
            }),
          ),
        );
      const bad = await gen(ALIAS, "RSA_1024");
      expect(bad.name).to.equal("ValidationException");
      expect(bad.message).to.match(/keyPairSpec.*enum value set: \[RSA_2048, RSA_3072/);
      expect((await gen("alias/nope", "RSA_2048")).name).to.equal("NotFoundException");
      const asym = aws.kms.createKey(REGION, {
        alias: "alias/asymmetric",
        keySpec: "RSA_2048",
        keyUsage: "SIGN_VERIFY",
      });
      expect((await gen(asym.arn, "RSA_2048")).name).to.equal("InvalidKeyUsageException");
      aws.kms.createKey(REGION, { alias: "alias/disabled", enabled: false });
      expect((await gen("alias/disabled", "RSA_2048")).name).to.equal("DisabledException");
      // A blob names its key; asking for another key is IncorrectKeyException.
      const out = await kms.send(
        new GenerateDataKeyPairWithoutPlaintextCommand({
          KeyId: ALIAS,
          KeyPairSpec: "RSA_2048",
          EncryptionContext: { domain: "example.com", selector: "s1" },
        }),
      );
      const other = aws.kms.createKey(REGION, { alias: "alias/other" });
      const err = await errorOf(
        kms.send(
          new DecryptCommand({
            CiphertextBlob: out.PrivateKeyCiphertextBlob,
            EncryptionContext: { domain: "example.com", selector: "s1" },
            KeyId: other.arn,
          }),
        ),
      );
      expect(err.name).to.equal("IncorrectKeyException");
      aws.kms.setEnabled(REGION, ALIAS, false);
      const disabled = await errorOf(
        kms.send(
          new DecryptCommand({
            CiphertextBlob: out.PrivateKeyCiphertextBlob,
            EncryptionContext: { domain: "example.com", selector: "s1" },
          }),
        ),
      );
      aws.kms.setEnabled(REGION, ALIAS, true);
      expect(disabled.name).to.equal("DisabledException");
    });
  });

  describe("SecretsKeyStore with KMS custody", function () {
    let aws: AwsEmulator;
    let kms: KMSClient;
    let secrets: SecretsManagerClient;
    let store: SecretsKeyStore;
    let masked: string[];
    let t: number;
    before(async function () {
      t = Date.parse("2027-01-04T00:00:00Z");
      aws = await startAwsEmulator({ clock: { now: () => new Date(t) } });
      const common = { region: REGION, endpoint: aws.url, credentials, maxAttempts: 1 };
      kms = new KMSClient(common);
      secrets = new SecretsManagerClient(common);
    });
    beforeEach(function () {
      masked = [];
      store = new SecretsKeyStore({
        client: secrets,
        kmsKeyId: ALIAS,
        onSecret: (s) => masked.push(s),
        custody: new KmsKeyCustody({ client: kms, keyId: ALIAS }),
      });
    });
    after(async function () {
      kms.destroy();
      secrets.destroy();
      await aws.close();
    });

    it("generate stores only ciphertext and public parts, under the key's ARN, in one CreateSecret", async function () {
      const { key, created } = await store.generate("example.com", "s1", new Date(t));
      expect(created).to.equal(true);
      expect(key).to.deep.include({ keyBits: 2048, state: "pending", origin: "kms" });
      const view = aws.secrets.get(REGION, "dkim/example.com/s1")!;
      const arn = aws.kms.keys(REGION).find((k) => k.aliases.includes(ALIAS))!.arn;
      expect(view.kmsKeyId).to.equal(arn);
      expect(view.tags["dkim:key-origin"]).to.equal("kms");
      const value = JSON.parse(view.currentValue!) as Record<string, string>;
      expect(value.format).to.equal("kms-wrapped-pkcs8/v1");
      expect(value.publicKey).to.equal(key.publicKey);
      expect(value.encryptionContext).to.deep.equal({ domain: "example.com", selector: "s1" });
      expect(Object.keys(value).sort()).to.deep.equal([
        "encryptionContext",
        "fingerprint",
        "format",
        "keyArn",
        "keyPairSpec",
        "privateKeyCiphertextBlob",
        "publicKey",
      ]);
      expect(masked, "the planner's store masks nothing: it never held a secret").to.deep.equal([]);
      // The activator's read: decrypted with the name's context, PKCS#1 for SES, masked.
      const sesKey = await store.readPrivateKey("example.com", "s1");
      expect(sesKey.startsWith("MIIE")).to.equal(true);
      expect(fromSesPrivateKey(sesKey).publicKey).to.equal(key.publicKey);
      expect(masked).to.deep.equal([sesKey]);
      expectNoKeyMaterial([view.currentValue!, view.description ?? ""], sesKey, "the secret");
      // The scan finds the key in any of its forms (it can fail).
      for (const form of [sesKey, sesPrivateKeyToPem(sesKey)])
        expect(() => expectNoKeyMaterial([`x ${form} y`], sesKey, "control")).to.throw(
          /contains private key material|PEM private key/,
        );
      // A second generate of the same name keeps the first key.
      const again = await store.generate("example.com", "s1", new Date(t));
      expect(again.created).to.equal(false);
      expect(again.key.publicKey).to.equal(key.publicKey);
      expect(aws.secrets.get(REGION, "dkim/example.com/s1")!.versionCount).to.equal(1);
    });

    it("a wrapped key copied under another name does not decrypt (InvalidCiphertextException)", async function () {
      await store.generate("example.com", "s2", new Date(t));
      const value = aws.secrets.get(REGION, "dkim/example.com/s2")!.currentValue!;
      const moved = JSON.parse(value) as { publicKey: string };
      // Copied as it is, its declared context names the other secret;
      // with the declared context rewritten, KMS itself refuses.
      for (const [name, v] of [
        ["s2", value],
        [
          "s3",
          JSON.stringify({
            ...moved,
            encryptionContext: { domain: "evil.example", selector: "s3" },
          }),
        ],
      ] as const)
        await secrets.send(
          new CreateSecretCommand({
            Name: `dkim/evil.example/${name}`,
            SecretString: v,
            Description: `p=${moved.publicKey}`,
          }),
        );
      expect((await errorOf(store.readPrivateKey("evil.example", "s2"))).message).to.equal(
        "secret dkim/evil.example/s2: its declared encryption context is not {domain: evil.example, selector: s2} (moved from another secret?)",
      );
      const err = await errorOf(store.readPrivateKey("evil.example", "s3"));
      expect(err.message).to.match(
        /^secret dkim\/evil\.example\/s3: .*InvalidCiphertextException.*not bound to \{domain: evil\.example, selector: s3\}/,
      );
      expect(masked).to.deep.equal([]);
    });

    it("keys in the earlier format (bare PKCS#1) stay readable", async function () {
      const pair = await generateDkimKeyPair(1024);
      await store.create("example.com", "old", pair, new Date(t));
      expect(aws.secrets.get(REGION, "dkim/example.com/old")!.tags["dkim:key-origin"]).to.equal(
        "local",
      );
      // Plaintext is read only where the engine accepts it (custody.ts plaintextAllowed).
      expect(await store.readPrivateKey("example.com", "old", { plaintext: true })).to.equal(
        pair.sesPrivateKey,
      );
      expect((await errorOf(store.readPrivateKey("example.com", "old"))).message).to.match(
        /^secret dkim\/example\.com\/old: its value is not KMS-wrapped/,
      );
    });

    it("trusts the name and CreatedDate over tags, and reports the tampering", async function () {
      await store.generate("example.com", "mail-20260601", new Date(t));
      // What a hostile plan job could do before: retag a new key to look old and retired.
      await secrets.send(
        new TagResourceCommand({
          SecretId: "dkim/example.com/mail-20260601",
          Tags: [
            { Key: "dkim:selector", Value: "mail-20260101" },
            { Key: "dkim:created-at", Value: "2020-01-01T00:00:00.000Z" },
            { Key: "dkim:fingerprint", Value: "sha256:00" },
          ],
        }),
      );
      const key = (await store.list("example.com")).find(
        (k) => k.secretName === "dkim/example.com/mail-20260601",
      )!;
      expect(key.selector).to.equal("mail-20260601");
      expect(key.createdAt.toISOString()).to.equal(new Date(t).toISOString());
      expect(key.tampering).to.have.length(3);
      expect(key.tampering!.join("\n")).to.match(/dkim:selector=mail-20260101 contradicts/);
      expect(key.tampering!.join("\n")).to.match(/dkim:created-at=2020-01-01.*using CreatedDate/);
    });
  });

  describe("the engine", function () {
    let h: EngineHarness;
    const domain = "custody.example";
    beforeEach(async function () {
      h = await startEngineHarness({
        identities: [
          { domain, selectorPrefix: "cu" },
          { domain: "small.example", selectorPrefix: "sm", keyBits: 1024 },
        ],
      });
      await h.createIdentity(domain);
      await h.createIdentity("small.example");
    });
    afterEach(async function () {
      await h.close();
    });

    /** A key store that records every argument and result that crosses it. */
    function instrument(inner: KeyStorePort, seen: string[]): KeyStorePort {
      const record = (name: string, args: unknown[], result: unknown) =>
        seen.push(`${name} ${JSON.stringify(args)} -> ${JSON.stringify(result)}`);
      const wrap =
        <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
        async (...args: A): Promise<R> => {
          const result = await fn(...args);
          record(name, args, result);
          return result;
        };
      return {
        list: wrap("list", (d) => inner.list(d)),
        listAll: wrap("listAll", () => inner.listAll()),
        generate: wrap("generate", (d, s, at) => inner.generate(d, s, at)),
        create: wrap("create", (d, s, p, at, o) => inner.create(d, s, p, at, o)),
        readPrivateKey: wrap("readPrivateKey", (d, s, a) => inner.readPrivateKey(d, s, a)),
        markState: wrap("markState", (d, s, st, at, p) => inner.markState(d, s, st, at, p)),
        markProof: wrap("markProof", (d, s, p) => inner.markProof(d, s, p)),
        markNotified: wrap("markNotified", (d, s, e) => inner.markNotified(d, s, e)),
        scheduleDeletion: wrap("scheduleDeletion", (d, s, n) => inner.scheduleDeletion(d, s, n)),
      };
    }

    it("plan --apply never receives a private key: key store traffic, logs, records, outcomes and masking are clean", async function () {
      const seen: string[] = [];
      const ctx = { ...h.ctx, keys: instrument(h.ctx.keys, seen) };
      const { outcomes, snapshots } = await runPlan(ctx, { apply: true, domains: [domain] });
      expect(outcomes[0]!.error).to.equal(undefined);
      expect(seen.some((s) => s.startsWith("generate "))).to.equal(true);
      expect(seen.some((s) => s.startsWith("create ") || s.startsWith("readPrivateKey "))).to.equal(
        false,
      );
      expect(
        h.secretsSeen,
        "nothing secret existed in the plan, so nothing was masked",
      ).to.deep.equal([]);
      expect(h.emulator.callCount({ service: "kms", operation: "Decrypt" })).to.equal(0);
      // The stored key, decrypted here by the test as only the activator could:
      const selector = outcomes[0]!.selector!;
      const privateKey = await h.aws.keys.readPrivateKey(domain, selector);
      const records = readdirSync(join(h.repo, "dns", domain)).map((f) =>
        readFileSync(join(h.repo, "dns", domain, f), "utf8"),
      );
      expectNoKeyMaterial(
        [...seen, ...h.logs, ...records, JSON.stringify(outcomes), JSON.stringify(snapshots)],
        privateKey,
        "the plan job",
      );
    });

    it("warns on every plan that a 1024-bit identity's keys are made on the runner (RFC 8301)", async function () {
      await runPlan(h.ctx, { apply: false });
      await runPlan(h.ctx, { apply: false });
      const warnings = h.logs.filter((l) => /small\.example: keyBits 1024 — KMS cannot/.test(l));
      expect(warnings).to.have.length(2);
      expect(warnings[0]).to.match(/^warn: .*RFC 8301/);
      expect(h.logs.some((l) => /custody\.example: keyBits/.test(l))).to.equal(false);
    });

    it("activation signs a probe and verifies it against each nameserver, and names the server when it fails", async function () {
      const { outcomes } = await runPlan(h.ctx, { apply: true, domains: [domain] });
      const selector = outcomes[0]!.selector!;
      const key = (await h.ctx.keys.list(domain)).find((k) => k.selector === selector)!;
      h.publish(domain, selector, key.publicKey);
      // Defence in depth: had the p= comparison passed ns2's answer wrongly, the
      // probe, verified against that answer, still refuses.
      const other = await generateDkimKeyPair(2048);
      const lying: DnsPort = {
        nameservers: (d, c) => h.ctx.dns.nameservers(d, c),
        verifyEasyDkim: (d, t, c) => h.ctx.dns.verifyEasyDkim(d, t, c),
        async verify(...args) {
          const v = await h.ctx.dns.verify(...args);
          return {
            ...v,
            servers: v.servers.map((s) =>
              s.server === h.label(h.ns2) ? { ...s, value: dkimRecordValue(other.publicKey) } : s,
            ),
          };
        },
      };
      const err = await errorOf(runActivate({ ...h.ctx, dns: lying }, domain, selector));
      expect(err).to.be.instanceOf(RefusalError);
      expect(err.message).to.include(
        `probe signature does not verify: ${h.label(h.ns2)}: DKIM fail (bad signature)`,
      );
      expect(err.message).not.to.include(`${h.label(h.ns1)}: DKIM`);
      expect(h.puts()).to.equal(0);
      // The real answers: the probe passes on both, then the swap.
      const report = await runActivate(h.ctx, domain, selector);
      expect(report.outcome).to.equal("activated");
      const probes = report.timeline.filter((e) => e.step === "probe");
      expect(probes.map((e) => e.detail)).to.deep.equal([
        `${h.label(h.ns1)}: pass`,
        `${h.label(h.ns2)}: pass`,
      ]);
      expect(h.emulator.callCount({ service: "kms", operation: "Decrypt" })).to.be.greaterThan(0);
    });

    it("a retagged key raises a key-store-tampered alert in the plan", async function () {
      await runPlan(h.ctx, { apply: true, domains: [domain] });
      const [key] = await h.ctx.keys.list(domain);
      const raw = new SecretsManagerClient({
        region: "ap-northeast-1",
        endpoint: h.emulator.url,
        credentials: { accessKeyId: "AKIDENGINETEST000000", secretAccessKey: "x" },
      });
      await raw.send(
        new TagResourceCommand({
          SecretId: key!.secretName,
          Tags: [{ Key: "dkim:domain", Value: "other.example" }],
        }),
      );
      raw.destroy();
      const snap = await snapshotIdentity(h.ctx, h.config.identities[0]!);
      expect(snap.decision.alerts.map((a) => a.kind)).to.include("key-store-tampered");
      expect(snap.decision.alerts.find((a) => a.kind === "key-store-tampered")!.message).to.match(
        /dkim:domain=other\.example contradicts the secret's name \(custody\.example\)/,
      );
    });
  });

  describe("plan --apply with Node's RSA key generation replaced by one that throws", function () {
    let aws: AwsEmulator;
    let ns: DnsServer;
    let dir: string;
    before(async function () {
      // The emulator (and its KMS) runs here; only the plan process loses RSA key generation.
      aws = await startAwsEmulator({ sesRequestsPerSecond: 100 });
      ns = await startDnsServer();
      dir = mkdtempSync(join(tmpdir(), "dkim-nokeygen-"));
      mkdirSync(join(dir, "dns")); // a checkout with its record folder, as the CLI requires
      const ses = new SESv2Client({ region: REGION, endpoint: aws.url, credentials });
      for (const d of ["big.example", "small.example"])
        await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: d }));
      ses.destroy();
    });
    after(async function () {
      await aws.close();
      await ns.close();
      rmSync(dir, { recursive: true, force: true });
    });

    function plan(domain: string): Promise<{ code: number; out: string }> {
      const config = join(dir, "Pulumi.nokeygen.yaml");
      writeFileSync(
        config,
        [
          "config:",
          `  aws:region: ${REGION}`,
          "  ses-dkim-rotation:identities:",
          "    - domain: big.example",
          "      selectorPrefix: big",
          `      nameservers: ['127.0.0.1:${ns.port}']`,
          "    - domain: small.example",
          "      selectorPrefix: small",
          "      keyBits: 1024",
          `      nameservers: ['127.0.0.1:${ns.port}']`,
          "  ses-dkim-rotation:sesRequestsPerSecond: 50",
        ].join("\n"),
      );
      return new Promise((done) =>
        execFile(
          process.execPath,
          [
            "--import",
            "tsx",
            "--import",
            "./test/helpers/no-rsa-keygen.mjs",
            "scripts/dkim.ts",
            "--config",
            config,
            "--repo",
            dir,
            "--endpoint",
            aws.url,
            "plan",
            "--apply",
            "--domain",
            domain,
          ],
          { cwd: ROOT, env: { ...process.env, ...offlineAwsEnv(credentials) }, timeout: 30_000 },
          (err, stdout, stderr) =>
            done({
              code: err ? (typeof err.code === "number" ? err.code : -1) : 0,
              out: stdout + stderr,
            }),
        ),
      );
    }

    it("still stores a 2048-bit key (made by KMS); the 1024-bit exception fails, proving keygen is gone", async function () {
      const small = await plan("small.example");
      expect(small.code, small.out).to.not.equal(0);
      expect(small.out).to.include("RSA key generation is disabled in this process");
      expect(
        aws.secrets.list(REGION).filter((s) => s.name.startsWith("dkim/small.example/")),
      ).to.have.length(0);

      const big = await plan("big.example");
      expect(big.code, big.out).to.equal(0);
      const stored = aws.secrets.list(REGION).filter((s) => s.name.startsWith("dkim/big.example/"));
      expect(stored).to.have.length(1);
      expect(stored[0]!.tags).to.deep.include({
        "dkim:key-origin": "kms",
        "dkim:key-bits": "2048",
      });
      expect(
        aws.callCount({ service: "kms", operation: "GenerateDataKeyPairWithoutPlaintext" }),
      ).to.equal(1);
      const selector = stored[0]!.name.split("/").pop()!;
      const record = readFileSync(join(dir, "dns", "big.example", `${selector}.zone`), "utf8");
      // Decrypted here, as only the activator could: nothing of it left the plan process.
      const store = new SecretsKeyStore({
        client: new SecretsManagerClient({ region: REGION, endpoint: aws.url, credentials }),
        kmsKeyId: ALIAS,
        custody: new KmsKeyCustody({
          client: new KMSClient({ region: REGION, endpoint: aws.url, credentials }),
          keyId: ALIAS,
        }),
      });
      const privateKey = await store.readPrivateKey("big.example", selector);
      expectNoKeyMaterial([big.out, small.out, record], privateKey, "the plan process");
      expect(record).to.include(fromSesPrivateKey(privateKey).publicKey.slice(0, 200));
    });
  });

  describe("probeSignature", function () {
    let pair: DkimKeyPair;
    before(async function () {
      pair = await generateDkimKeyPair(2048);
    });
    it("reports each server's verdict from its own answer", async function () {
      const other = await generateDkimKeyPair(2048);
      const report = await probeSignature(
        "example.com",
        "s1",
        pair.sesPrivateKey,
        [
          { server: "ns1", status: "ok", detail: "", value: dkimRecordValue(pair.publicKey) },
          { server: "ns2", status: "ok", detail: "", value: dkimRecordValue(other.publicKey) },
          { server: "ns3", status: "ok", detail: "", value: `v=DKIM2; p=${pair.publicKey}` },
          { server: "ns4", status: "missing", detail: "NXDOMAIN" },
        ],
        new Date("2027-01-04T00:00:00Z"),
      );
      expect(report.ok).to.equal(false);
      expect(report.results).to.deep.equal([
        { server: "ns1", result: "pass", detail: "" },
        { server: "ns2", result: "fail", detail: "bad signature" },
        { server: "ns3", result: "neutral", detail: "unknown key version" },
        { server: "ns4", result: "none", detail: "the server gave no record to verify against" },
      ]);
    });
  });
});
