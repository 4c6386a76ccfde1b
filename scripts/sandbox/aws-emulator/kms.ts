/**
 * Emulated AWS KMS (JSON 1.1, `X-Amz-Target: TrentService.<Op>`), per Region:
 * `GenerateDataKeyPairWithoutPlaintext`, `Decrypt`, `DescribeKey` and
 * `GetKeyRotationStatus`, as the KMS API reference describes them (docs/design.md#kms-key-pairs):
 *
 * - `KeyId` resolves a key id, a key ARN, an alias name or an alias ARN, in
 *   the caller's Region only (`NotFoundException` otherwise);
 * - data key pairs need a symmetric `ENCRYPT_DECRYPT` key
 *   (`InvalidKeyUsageException`) that is enabled (`DisabledException`);
 * - `KeyPairSpec` must be one of the API's enum values (`ValidationException`);
 *   the emulator makes RSA pairs only and answers the others with
 *   `UnsupportedOperationException`, so nothing here pretends to make a key
 *   the product never asks for;
 * - `PublicKey` is DER SubjectPublicKeyInfo, `PrivateKeyCiphertextBlob` the
 *   PKCS#8 DER private key encrypted under the KMS key with the request's
 *   encryption context as additional authenticated data: `Decrypt` with a
 *   different context (or none) fails with `InvalidCiphertextException`, as
 *   AWS does; a `KeyId` that is not the blob's key fails with
 *   `IncorrectKeyException`.
 *
 * The blob layout is the emulator's own (AWS's is opaque too); it names the
 * key, so `Decrypt` needs no `KeyId`, as with AWS symmetric keys.
 */
import {
  createCipheriv,
  createHash,
  createDecipheriv,
  generateKeyPair,
  randomBytes,
  randomUUID,
} from "node:crypto";
import { promisify } from "node:util";
import { AwsApiError, epochSeconds, isRecord, validationMessage } from "./common";

const generateKeyPairAsync = promisify(generateKeyPair);

/** KeyPairSpec enum of GenerateDataKeyPairWithoutPlaintext (KMS API reference). */
export const KMS_KEY_PAIR_SPECS = [
  "RSA_2048",
  "RSA_3072",
  "RSA_4096",
  "ECC_NIST_P256",
  "ECC_NIST_P384",
  "ECC_NIST_P521",
  "ECC_SECG_P256K1",
  "SM2",
] as const;

const RSA_BITS: Record<string, number> = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 };
const BLOB_MAGIC = Buffer.from("EKMS1");
/** AWS limits an encryption context's total size to 8192 bytes (KMS developer guide). */
const MAX_CONTEXT_BYTES = 8192;

export interface KmsKeySpec {
  alias?: string;
  /** Default `SYMMETRIC_DEFAULT`; anything else cannot make data key pairs. */
  keySpec?: string;
  /** Default `ENCRYPT_DECRYPT`. */
  keyUsage?: string;
  /** Default true. */
  enabled?: boolean;
  /** Automatic rotation of the key material; default true, as infra/ provisions it. */
  rotation?: boolean;
}

interface KmsKey {
  region: string;
  keyId: string;
  arn: string;
  aliases: string[];
  keySpec: string;
  keyUsage: string;
  enabled: boolean;
  rotation: boolean;
  material: Buffer;
  createdAt: Date;
}

/** What tests read about a key (no key material). */
export interface KmsKeyView {
  region: string;
  keyId: string;
  arn: string;
  aliases: string[];
  keySpec: string;
  keyUsage: string;
  enabled: boolean;
}

function str(body: Record<string, unknown>, field: string, required = false): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (required)
      throw new AwsApiError(
        "ValidationException",
        validationMessage(null, field, "Member must not be null"),
      );
    return undefined;
  }
  if (typeof v !== "string")
    throw new AwsApiError("SerializationException", `${field} must be a string`);
  return v;
}

function encryptionContext(body: Record<string, unknown>): Record<string, string> {
  const raw = body.EncryptionContext;
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw))
    throw new AwsApiError("SerializationException", "EncryptionContext must be a map");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string")
      throw new AwsApiError("SerializationException", "EncryptionContext values must be strings");
    out[k] = v;
  }
  if (Buffer.byteLength(JSON.stringify(out)) > MAX_CONTEXT_BYTES)
    throw new AwsApiError("ValidationException", "EncryptionContext is too large");
  return out;
}

/** The context as bytes, independent of key order (KMS binds the set of pairs, not their order). */
function contextAad(context: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  );
}

function blobField(body: Record<string, unknown>, field: string): Buffer {
  const v = str(body, field, true)!;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v))
    throw new AwsApiError("SerializationException", `${field} is not base64`);
  return Buffer.from(v, "base64");
}

export class KmsBackend {
  private readonly keys = new Map<string, KmsKey>();
  /** Keys every Region has, made on first use (the stack's key, wherever the stack runs). */
  private readonly everyRegion: KmsKeySpec[];

  constructor(private readonly options: { accountId: string; keys?: KmsKeySpec[] }) {
    this.everyRegion = options.keys ?? [];
  }

  createKey(
    region: string,
    spec: KmsKeySpec = {},
    now = new Date(),
    keyId: string = randomUUID(),
  ): KmsKeyView {
    const key: KmsKey = {
      region,
      keyId,
      arn: `arn:aws:kms:${region}:${this.options.accountId}:key/${keyId}`,
      aliases: [],
      keySpec: spec.keySpec ?? "SYMMETRIC_DEFAULT",
      keyUsage: spec.keyUsage ?? "ENCRYPT_DECRYPT",
      enabled: spec.enabled ?? true,
      rotation: spec.rotation ?? true,
      material: randomBytes(32),
      createdAt: now,
    };
    if (spec.alias) {
      if (!/^alias\/[a-zA-Z0-9/_-]+$/.test(spec.alias) || spec.alias.startsWith("alias/aws/"))
        throw new Error(`emulator setup: ${spec.alias} is not an alias a customer can create`);
      if (this.findAlias(region, spec.alias))
        throw new Error(`emulator setup: ${spec.alias} already exists in ${region}`);
      key.aliases.push(spec.alias);
    }
    this.keys.set(`${region}/${keyId}`, key);
    return this.toView(key);
  }

  /** Disable or enable a key (DisableKey/EnableKey), for tests. */
  setEnabled(region: string, keyIdOrAlias: string, enabled: boolean): void {
    this.resolve(region, keyIdOrAlias).enabled = enabled;
  }

  views(region?: string): KmsKeyView[] {
    for (const r of region ? [region] : []) this.materialise(r);
    return [...this.keys.values()]
      .filter((k) => !region || k.region === region)
      .map((k) => this.toView(k));
  }

  private toView(k: KmsKey): KmsKeyView {
    return {
      region: k.region,
      keyId: k.keyId,
      arn: k.arn,
      aliases: [...k.aliases],
      keySpec: k.keySpec,
      keyUsage: k.keyUsage,
      enabled: k.enabled,
    };
  }

  private materialise(region: string): void {
    for (const spec of this.everyRegion) {
      // A stable id per account, Region and alias: the same world gives the same
      // ARNs, so seeded fault decisions (keyed by the request's target) repeat.
      if (spec.alias && !this.findAlias(region, spec.alias)) {
        const h = createHash("sha256")
          .update(`${this.options.accountId}/${region}/${spec.alias}`)
          .digest("hex");
        const id = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
        this.createKey(region, spec, new Date(0), id);
      }
    }
  }

  private findAlias(region: string, alias: string): KmsKey | undefined {
    return [...this.keys.values()].find((k) => k.region === region && k.aliases.includes(alias));
  }

  private resolve(region: string, id: string): KmsKey {
    this.materialise(region);
    const arnPrefix = `arn:aws:kms:${region}:${this.options.accountId}:`;
    let found: KmsKey | undefined;
    if (id.startsWith("alias/")) found = this.findAlias(region, id);
    else if (id.startsWith(`${arnPrefix}alias/`))
      found = this.findAlias(region, id.slice(arnPrefix.length));
    else if (id.startsWith(`${arnPrefix}key/`))
      found = this.keys.get(`${region}/${id.slice(arnPrefix.length + 4)}`);
    else if (!id.startsWith("arn:")) found = this.keys.get(`${region}/${id}`);
    if (!found) {
      // An ARN of another Region or account, or an unknown name: KMS keys are regional.
      throw new AwsApiError(
        "NotFoundException",
        id.startsWith("alias/") || id.includes(":alias/")
          ? `Alias ${id.startsWith("arn:") ? id : `${arnPrefix}${id}`} is not found.`
          : `Key '${id.startsWith("arn:") ? id : `${arnPrefix}key/${id}`}' does not exist`,
      );
    }
    return found;
  }

  describeKey(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const key = this.resolve(region, str(body, "KeyId", true)!);
    return {
      KeyMetadata: {
        AWSAccountId: this.options.accountId,
        KeyId: key.keyId,
        Arn: key.arn,
        CreationDate: epochSeconds(key.createdAt),
        Enabled: key.enabled,
        Description: "",
        KeyUsage: key.keyUsage,
        KeyState: key.enabled ? "Enabled" : "Disabled",
        Origin: "AWS_KMS",
        KeyManager: "CUSTOMER",
        KeySpec: key.keySpec,
        CustomerMasterKeySpec: key.keySpec,
        EncryptionAlgorithms:
          key.keySpec === "SYMMETRIC_DEFAULT" ? ["SYMMETRIC_DEFAULT"] : ["RSAES_OAEP_SHA_256"],
        MultiRegion: false,
      },
    };
  }

  /** Rotation applies to symmetric keys only (UnsupportedOperationException otherwise). */
  getKeyRotationStatus(region: string, body: Record<string, unknown>): Record<string, unknown> {
    const key = this.resolve(region, str(body, "KeyId", true)!);
    if (key.keySpec !== "SYMMETRIC_DEFAULT")
      throw new AwsApiError(
        "UnsupportedOperationException",
        `${key.arn} key type is not supported for this operation.`,
      );
    return {
      KeyId: key.arn,
      KeyRotationEnabled: key.rotation,
      ...(key.rotation ? { RotationPeriodInDays: 365 } : {}),
    };
  }

  private usable(key: KmsKey): void {
    if (!key.enabled) throw new AwsApiError("DisabledException", `${key.arn} is disabled.`);
  }

  private symmetric(key: KmsKey, operation: string): void {
    if (key.keySpec !== "SYMMETRIC_DEFAULT" || key.keyUsage !== "ENCRYPT_DECRYPT") {
      throw new AwsApiError(
        "InvalidKeyUsageException",
        `${key.arn} key usage is ${key.keyUsage} (${key.keySpec}) which is not valid for ${operation}.`,
      );
    }
  }

  async generateDataKeyPairWithoutPlaintext(
    region: string,
    _now: Date,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const spec = str(body, "KeyPairSpec", true)!;
    if (!(KMS_KEY_PAIR_SPECS as readonly string[]).includes(spec)) {
      throw new AwsApiError(
        "ValidationException",
        validationMessage(
          spec,
          "keyPairSpec",
          `Member must satisfy enum value set: [${KMS_KEY_PAIR_SPECS.join(", ")}]`,
        ),
      );
    }
    const context = encryptionContext(body);
    const key = this.resolve(region, str(body, "KeyId", true)!);
    this.usable(key);
    this.symmetric(key, "GenerateDataKeyPairWithoutPlaintext");
    const bits = RSA_BITS[spec];
    if (!bits)
      throw new AwsApiError(
        "UnsupportedOperationException",
        `The emulator makes RSA data key pairs only (asked for ${spec})`,
      );
    const { publicKey, privateKey } = await generateKeyPairAsync("rsa", {
      modulusLength: bits,
      publicExponent: 0x10001,
    });
    const der = privateKey.export({ type: "pkcs8", format: "der" });
    return {
      KeyId: key.arn,
      KeyPairSpec: spec,
      PublicKey: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
      PrivateKeyCiphertextBlob: this.seal(key, der, context).toString("base64"),
    };
  }

  private seal(key: KmsKey, plaintext: Buffer, context: Record<string, string>): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key.material, iv);
    cipher.setAAD(contextAad(context));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(key.keyId, "ascii");
    return Buffer.concat([BLOB_MAGIC, Buffer.from([id.length]), id, iv, cipher.getAuthTag(), ct]);
  }

  decrypt(region: string, _now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const blob = blobField(body, "CiphertextBlob");
    const context = encryptionContext(body);
    const algorithm = str(body, "EncryptionAlgorithm") ?? "SYMMETRIC_DEFAULT";
    const invalid = () => new AwsApiError("InvalidCiphertextException", "");
    if (blob.length < BLOB_MAGIC.length + 1 || !blob.subarray(0, 5).equals(BLOB_MAGIC))
      throw invalid();
    const idLength = blob[5]!;
    const keyId = blob.subarray(6, 6 + idLength).toString("ascii");
    const rest = blob.subarray(6 + idLength);
    if (rest.length < 12 + 16) throw invalid();
    this.materialise(region);
    const key = this.keys.get(`${region}/${keyId}`);
    if (!key) throw invalid();
    const asked = str(body, "KeyId");
    if (asked !== undefined && this.resolve(region, asked) !== key) {
      throw new AwsApiError(
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
      );
    }
    this.usable(key);
    this.symmetric(key, "Decrypt");
    if (algorithm !== "SYMMETRIC_DEFAULT")
      throw new AwsApiError(
        "InvalidKeyUsageException",
        `${algorithm} is not valid for a symmetric key`,
      );
    const decipher = createDecipheriv("aes-256-gcm", key.material, rest.subarray(0, 12));
    decipher.setAAD(contextAad(context));
    decipher.setAuthTag(rest.subarray(12, 28));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(rest.subarray(28)), decipher.final()]);
    } catch {
      // A different encryption context fails authentication: AWS says only this.
      throw invalid();
    }
    return {
      KeyId: key.arn,
      Plaintext: plaintext.toString("base64"),
      EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
    };
  }
}
