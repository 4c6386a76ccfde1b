/**
 * Key custody through AWS KMS (docs/design.md#invariant-4-key-material-stays-secret).
 *
 * The planner asks KMS `GenerateDataKeyPairWithoutPlaintext` (KeyPairSpec
 * `RSA_2048`) for each new key. KMS answers with the public key as DER
 * SubjectPublicKeyInfo (exactly DKIM's `p=`, RFC 6376 §3.6.1) and the PKCS#8
 * private key encrypted under the project's symmetric key, bound to the
 * encryption context `{domain, selector}`. The planner never sees a plaintext
 * private key. Only the activator may `Decrypt` it, with the same context, so
 * a blob copied under another secret name fails (`InvalidCiphertextException`).
 */
import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyPairWithoutPlaintextCommand,
  type KMSClient,
} from "@aws-sdk/client-kms";
import {
  KeyFormatError,
  parseDnsPublicKey,
  pkcs8DerToSesPrivateKey,
  publicKeyFingerprint,
} from "../engine/keys";

// Apart from the KMS client, so that the key store (which every command loads)
// does not load KMS (docs/design.md#action-bundle).
import { keyContext, KmsCustodyError } from "./kms-context";
export { keyContext, KmsCustodyError };

/** The only KeyPairSpec we ask for: SES accepts RSA 1024 or 2048, and KMS has no 1024. */
export const KMS_KEY_PAIR_SPEC = "RSA_2048";

/** A key pair as KMS hands it to the planner: public parts and a ciphertext only. */
export interface WrappedKeyPair {
  /** base64 SPKI DER, the DNS `p=` value. */
  publicKey: string;
  bits: 2048;
  fingerprint: string;
  /** ARN of the KMS key that wraps the private key. */
  keyArn: string;
  /** base64 `PrivateKeyCiphertextBlob` (PKCS#8, encrypted, bound to `keyContext`). */
  ciphertext: string;
}

export interface KmsKeyCustodyOptions {
  client: KMSClient;
  /** Key id, ARN or alias of the project's symmetric key. */
  keyId: string;
}

/** What the key store asks of custody; the action loads KMS on first use (context.ts). */
export type KeyCustody = Pick<KmsKeyCustody, "keyArn" | "generate" | "unwrap">;

export class KmsKeyCustody {
  private readonly client: KMSClient;
  private readonly keyId: string;
  private arn?: Promise<string>;

  constructor(options: KmsKeyCustodyOptions) {
    this.client = options.client;
    this.keyId = options.keyId;
  }

  /**
   * The key's ARN (DescribeKey, once per process). Secrets Manager's
   * `secretsmanager:KmsKeyArn` condition compares an ARN, so the key store
   * passes this rather than the alias; it also proves the key is a usable
   * symmetric key before the first key is generated.
   */
  keyArn(): Promise<string> {
    this.arn ??= (async () => {
      const out = await this.client.send(new DescribeKeyCommand({ KeyId: this.keyId }));
      const meta = out.KeyMetadata;
      if (!meta?.Arn) throw new KmsCustodyError(`KMS key ${this.keyId}: DescribeKey gave no ARN`);
      if (meta.KeySpec !== "SYMMETRIC_DEFAULT" || meta.KeyUsage !== "ENCRYPT_DECRYPT")
        throw new KmsCustodyError(
          `KMS key ${this.keyId} is ${meta.KeySpec}/${meta.KeyUsage}; DKIM keys need a symmetric ENCRYPT_DECRYPT key`,
        );
      if (meta.Enabled === false)
        throw new KmsCustodyError(`KMS key ${this.keyId} is disabled (${meta.KeyState})`);
      return meta.Arn;
    })();
    this.arn.catch(() => (this.arn = undefined));
    return this.arn;
  }

  /** Make a key pair inside KMS; this process receives no plaintext private key. */
  async generate(domain: string, selector: string): Promise<WrappedKeyPair> {
    const keyArn = await this.keyArn();
    const out = await this.client.send(
      new GenerateDataKeyPairWithoutPlaintextCommand({
        KeyId: keyArn,
        KeyPairSpec: KMS_KEY_PAIR_SPEC,
        EncryptionContext: keyContext(domain, selector),
      }),
    );
    if (!out.PublicKey || !out.PrivateKeyCiphertextBlob)
      throw new KmsCustodyError(`${domain} ${selector}: KMS returned no key pair`);
    const publicKey = Buffer.from(out.PublicKey).toString("base64");
    try {
      const { bits } = parseDnsPublicKey(publicKey);
      if (bits !== 2048) throw new KeyFormatError(`KMS made an RSA-${bits} key, not 2048`);
    } catch (err) {
      throw new KmsCustodyError(`${domain} ${selector}: ${(err as Error).message}`);
    }
    return {
      publicKey,
      bits: 2048,
      fingerprint: publicKeyFingerprint(publicKey),
      keyArn: out.KeyId ?? keyArn,
      ciphertext: Buffer.from(out.PrivateKeyCiphertextBlob).toString("base64"),
    };
  }

  /**
   * Decrypt a wrapped key with the context of the name it is stored under and
   * return it as SES wants it (base64 PKCS#1 DER). `onSecret` (masking) runs
   * the moment the string exists.
   */
  async unwrap(
    domain: string,
    selector: string,
    ciphertext: string,
    onSecret: (secret: string) => void,
  ): Promise<string> {
    let plaintext: Uint8Array | undefined;
    try {
      const out = await this.client.send(
        new DecryptCommand({
          CiphertextBlob: Buffer.from(ciphertext, "base64"),
          EncryptionContext: keyContext(domain, selector),
        }),
      );
      plaintext = out.Plaintext;
    } catch (err) {
      if ((err as Error).name === "InvalidCiphertextException") {
        throw new KmsCustodyError(
          `${domain} ${selector}: KMS refused to decrypt (InvalidCiphertextException): the blob is not bound to {domain: ${domain}, selector: ${selector}} (moved from another secret?) or is damaged`,
        );
      }
      throw err;
    }
    if (!plaintext) throw new KmsCustodyError(`${domain} ${selector}: KMS returned no plaintext`);
    try {
      return pkcs8DerToSesPrivateKey(plaintext, onSecret);
    } catch (err) {
      throw new KmsCustodyError(`${domain} ${selector}: ${(err as Error).message}`);
    }
  }
}
