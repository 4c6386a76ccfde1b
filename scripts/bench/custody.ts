/**
 * Key custody through KMS (docs/design.md#invariant-4-key-material-stays-secret): what the planner's
 * `generate` (DescribeKey once, GenerateDataKeyPairWithoutPlaintext,
 * CreateSecret) and the activator's read (GetSecretValue, KMS Decrypt with
 * the `{domain, selector}` context, PKCS#8 → PKCS#1) cost per key, through
 * the engine's own adapters and real SDK clients against the emulator.
 *
 * The emulated KMS makes its RSA pairs in this process (libuv pool), so the
 * generate figure includes that prime search; AWS's is not measured here.
 * The decrypt figure is the activator's part: unwrap alone, and the whole
 * `readPrivateKey` the swap waits for.
 */
import { KMSClient } from "@aws-sdk/client-kms";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { KmsKeyCustody } from "../../actions/dkim-rotation/src/adapters/kms";
import { SecretsKeyStore } from "../../actions/dkim-rotation/src/adapters/secrets";
import { startAwsEmulator } from "../sandbox/aws-emulator";
import { median, percentile, progress, round } from "./common";

export interface CustodyFigures {
  keys: number;
  generateMedianMs: number;
  generateP95Ms: number;
  decryptMedianMs: number;
  decryptP95Ms: number;
  readPrivateKeyMedianMs: number;
  readPrivateKeyP95Ms: number;
}

export async function measureCustody(opts: { keys: number }): Promise<CustodyFigures> {
  const emulator = await startAwsEmulator({});
  const common = {
    region: "ap-northeast-1",
    endpoint: emulator.url,
    credentials: { accessKeyId: "AKIDBENCHCUSTODY0000", secretAccessKey: "bench" },
  };
  const kms = new KMSClient(common);
  const secrets = new SecretsManagerClient(common);
  const custody = new KmsKeyCustody({ client: kms, keyId: "alias/ses-dkim-rotation" });
  const store = new SecretsKeyStore({
    client: secrets,
    kmsKeyId: "alias/ses-dkim-rotation",
    custody,
  });
  const generate: number[] = [];
  const decrypt: number[] = [];
  const read: number[] = [];
  try {
    await custody.keyArn(); // once per process, as in a run
    for (let i = 0; i < opts.keys; i++) {
      const selector = `bench-${i}`;
      let t = performance.now();
      await store.generate("custody.example", selector, new Date());
      generate.push(performance.now() - t);
      const value = JSON.parse(
        emulator.secrets.get("ap-northeast-1", `dkim/custody.example/${selector}`)!.currentValue!,
      ) as { privateKeyCiphertextBlob: string };
      t = performance.now();
      await custody.unwrap("custody.example", selector, value.privateKeyCiphertextBlob, () => {});
      decrypt.push(performance.now() - t);
      t = performance.now();
      await store.readPrivateKey("custody.example", selector);
      read.push(performance.now() - t);
      if ((i + 1) % 10 === 0 || i + 1 === opts.keys) progress(`custody ${i + 1}/${opts.keys}`);
    }
  } finally {
    kms.destroy();
    secrets.destroy();
    await emulator.close();
  }
  return {
    keys: opts.keys,
    generateMedianMs: round(median(generate), 1),
    generateP95Ms: round(percentile(generate, 95), 1),
    decryptMedianMs: round(median(decrypt), 2),
    decryptP95Ms: round(percentile(decrypt, 95), 2),
    readPrivateKeyMedianMs: round(median(read), 2),
    readPrivateKeyP95Ms: round(percentile(read, 95), 2),
  };
}
