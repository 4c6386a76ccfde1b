/**
 * Key store on AWS Secrets Manager: one secret per key, `dkim/<domain>/<selector>`,
 * encrypted with the project's KMS key.
 *
 * docs/design.md#invariant-4-key-material-stays-secret: a stored key is immutable. It is created once, with its
 * value, in a single CreateSecret call, and never overwritten: this adapter has
 * no code path to PutSecretValue or UpdateSecret. Deletion always keeps a
 * recovery window (≥ 7 days; Secrets Manager allows 7–30).
 *
 * Everything public lives in the secret's metadata, readable by the planner
 * role that may not call GetSecretValue: the SPKI public key in the
 * Description (so a crashed run can rebuild the record file), and the
 * lifecycle in tags.
 *
 * Secret values, by origin (`dkim:key-origin` tag; docs/design.md#key-origins):
 * - `kms`: JSON `{format: "kms-wrapped-pkcs8/v1", keyArn, keyPairSpec,
 *   privateKeyCiphertextBlob, publicKey, fingerprint, encryptionContext}`
 *   and no other field; the private key is ciphertext bound to
 *   `{domain, selector}` (adapters/kms.ts). `list` reads the value of every
 *   pending `kms` key and checks that shape against the secret's name and
 *   description (the planner may read these values, never decrypt them);
 * - `local` (1024-bit, and keys stored before KMS custody) and `operator`
 *   (adopted): base64 DER, PKCS#1 or PKCS#8, converted to PKCS#1 on read,
 *   and only when the caller accepts plaintext for that key.
 *
 * Facts over tags: a secret's name says its domain and selector, and its
 * CreatedDate (set by Secrets Manager) says when it was made. Tags that
 * contradict them are reported as tampering and ignored.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  TagResourceCommand,
  type DescribeSecretCommandOutput,
  type SecretListEntry,
  type SecretsManagerClient,
  type Tag,
} from "@aws-sdk/client-secrets-manager";
import type { DkimKeyPair } from "../engine/keys";
import { KeyFormatError, operatorKeyToSesPrivateKey, publicKeyFingerprint } from "../engine/keys";
import type { KeyOrigin, KeyState, KeyStorePort, StoredKey } from "../engine/ports";
import type { KeyCustody } from "./kms";
import { KmsCustodyError, keyContext } from "./kms-context";
import {
  type KeyProof,
  PROOFS,
  TAG_ACTIVATED_AT,
  TAG_CREATED_AT,
  TAG_DOMAIN,
  TAG_FINGERPRINT,
  TAG_KEY_BITS,
  TAG_KEY_ORIGIN,
  TAG_NOTIFIED,
  TAG_PROOF,
  TAG_RECOVERY_DAYS,
  TAG_RETIRED_AT,
  TAG_REPORT_SEEN,
  TAG_SELECTOR,
  TAG_STATE,
} from "../engine/key-store-schema";

export * from "../engine/key-store-schema";

/** `format` of a KMS-wrapped secret value. */
export const KMS_WRAPPED_FORMAT = "kms-wrapped-pkcs8/v1";
/** The fields of a KMS-wrapped value; any other is refused. `encryptionContext` is absent in values stored before it was written. */
const WRAPPED_FIELDS = [
  "format",
  "keyArn",
  "keyPairSpec",
  "privateKeyCiphertextBlob",
  "publicKey",
  "fingerprint",
  "encryptionContext",
];
/** Said of any value that is not KMS-wrapped; it never quotes the value. */
const NOT_WRAPPED = "its value is not KMS-wrapped (plaintext or another format)";
/** A created-at tag further than this from CreatedDate was not written by CreateSecret. */
const CREATED_AT_TOLERANCE_MS = 60 * 60 * 1000;
/** Secrets Manager's recovery window bounds (DeleteSecret API reference). */
export const MIN_RECOVERY_DAYS = 7;
export const MAX_RECOVERY_DAYS = 30;

const DAY_MS = 24 * 60 * 60 * 1000;
const STATES: readonly KeyState[] = ["pending", "active", "retired"];

export interface SecretsKeyStoreOptions {
  client: SecretsManagerClient;
  /** KMS key id, ARN or alias that encrypts every DKIM secret. */
  kmsKeyId: string;
  /** First path segment of every secret name (default `dkim`). */
  prefix?: string;
  /** Called with the private key the moment it is read, before anything else sees it (e.g. `core.setSecret`). */
  onSecret?: (value: string) => void;
  /** KMS custody: makes 2048-bit keys (planner) and unwraps them (activator). */
  custody?: KeyCustody;
}

export class KeyStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyStoreError";
  }
}

function description(domain: string, selector: string, publicKey: string): string {
  return `DKIM private key for ${selector}._domainkey.${domain} (SES BYODKIM). p=${publicKey}`;
}

function tagMap(tags: Tag[] | undefined): Map<string, string> {
  return new Map(
    (tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key as string, t.Value ?? ""]),
  );
}

function isoDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export class SecretsKeyStore implements KeyStorePort {
  private readonly client: SecretsManagerClient;
  private readonly kmsKeyId: string;
  private readonly prefix: string;
  private readonly onSecret: (value: string) => void;
  private readonly custody?: KeyCustody;

  constructor(options: SecretsKeyStoreOptions) {
    if (!options.kmsKeyId)
      throw new KeyStoreError(
        "SecretsKeyStore needs a KMS key id: DKIM keys are never stored under the default key",
      );
    this.client = options.client;
    this.kmsKeyId = options.kmsKeyId;
    this.prefix = (options.prefix ?? "dkim").replace(/\/+$/, "");
    this.onSecret = options.onSecret ?? (() => {});
    this.custody = options.custody;
  }

  secretName(domain: string, selector: string): string {
    return `${this.prefix}/${domain}/${selector}`;
  }

  private toStoredKey(entry: SecretListEntry | DescribeSecretCommandOutput): StoredKey {
    const name = entry.Name ?? "";
    const tags = tagMap(entry.Tags);
    const rest = name.slice(this.prefix.length + 1);
    const slash = rest.lastIndexOf("/");
    // The name is the fact: IAM scopes every grant to it and KMS binds the key to it.
    const domain = rest.slice(0, slash);
    const selector = rest.slice(slash + 1);
    const tampering: string[] = [];
    for (const [tag, fact] of [
      [TAG_DOMAIN, domain],
      [TAG_SELECTOR, selector],
    ] as const) {
      const value = tags.get(tag);
      if (value !== undefined && value !== fact)
        tampering.push(
          `tag ${tag}=${value} contradicts the secret's name (${fact}); using the name`,
        );
    }
    const p = /\bp=([A-Za-z0-9+/]+={0,2})\s*$/.exec(entry.Description ?? "");
    if (!p) {
      throw new KeyStoreError(
        `secret ${name}: its description has no p= public key; cannot rebuild its record (was it edited by hand?)`,
      );
    }
    const fingerprintTag = tags.get(TAG_FINGERPRINT);
    if (fingerprintTag !== undefined && fingerprintTag !== publicKeyFingerprint(p[1] as string))
      tampering.push(
        `tag ${TAG_FINGERPRINT} contradicts the public key in the description; using the description`,
      );
    const stateTag = tags.get(TAG_STATE);
    const state = STATES.find((s) => s === stateTag) ?? "pending";
    const createdTag = isoDate(tags.get(TAG_CREATED_AT));
    let createdAt = entry.CreatedDate ?? createdTag ?? new Date(0);
    if (
      entry.CreatedDate &&
      createdTag &&
      Math.abs(createdTag.getTime() - entry.CreatedDate.getTime()) > CREATED_AT_TOLERANCE_MS
    ) {
      tampering.push(
        `tag ${TAG_CREATED_AT}=${createdTag.toISOString()} contradicts the secret's CreatedDate ${entry.CreatedDate.toISOString()}; using CreatedDate`,
      );
    } else if (createdTag) {
      // Same moment (the tag went in with CreateSecret): keep the engine's clock reading.
      createdAt = createdTag;
    }
    const originTag = tags.get(TAG_KEY_ORIGIN);
    const origin = (["kms", "local", "operator"] as const).find((o) => o === originTag);
    const activatedAt = isoDate(tags.get(TAG_ACTIVATED_AT));
    const retiredAt = isoDate(tags.get(TAG_RETIRED_AT));
    const reportSeenAt = isoDate(tags.get(TAG_REPORT_SEEN));
    const notified = (tags.get(TAG_NOTIFIED) ?? "").split(" ").filter(Boolean);
    const proofTag = tags.get(TAG_PROOF);
    const proof = PROOFS.find((v) => v === proofTag);
    let deletionDate: Date | undefined;
    if (entry.DeletedDate) {
      // Without our tag, assume the shortest window: the earliest the key can be gone.
      const days = Number(tags.get(TAG_RECOVERY_DAYS) ?? MIN_RECOVERY_DAYS);
      deletionDate = new Date(
        entry.DeletedDate.getTime() + (Number.isFinite(days) ? days : MIN_RECOVERY_DAYS) * DAY_MS,
      );
    }
    return {
      domain,
      selector,
      secretName: name,
      createdAt,
      publicKey: p[1] as string,
      keyBits: Number(tags.get(TAG_KEY_BITS) ?? 0),
      state,
      ...(activatedAt ? { activatedAt } : {}),
      ...(proof ? { proof } : {}),
      ...(retiredAt ? { retiredAt } : {}),
      ...(deletionDate ? { deletionDate } : {}),
      ...(origin ? { origin } : {}),
      ...(tampering.length ? { tampering } : {}),
      ...(notified.length ? { notified } : {}),
      ...(reportSeenAt ? { reportSeenAt } : {}),
    };
  }

  async list(domain: string): Promise<StoredKey[]> {
    const keys = (await this.listUnder(`${this.prefix}/${domain}/`)).get(domain) ?? [];
    if (keys instanceof Error) throw keys;
    return keys;
  }

  async listAll(): Promise<Map<string, StoredKey[] | Error>> {
    return this.listUnder(`${this.prefix}/`);
  }

  /**
   * Every `<prefix>/<domain>/<selector>` secret whose name starts with
   * `namePrefix`, by domain: one paginated ListSecrets (100 a page, its
   * maximum), so the whole fleet costs one listing, not one per identity
   * (docs/design.md#key-store-listing).
   */
  private async listUnder(namePrefix: string): Promise<Map<string, StoredKey[] | Error>> {
    const byDomain = new Map<string, StoredKey[] | Error>();
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListSecretsCommand({
          // Planned deletions included: a selector name is never reused (selector.ts).
          IncludePlannedDeletion: true,
          Filters: [{ Key: "name", Values: [namePrefix] }],
          MaxResults: 100,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
      );
      for (const entry of page.SecretList ?? []) {
        const name = entry.Name ?? "";
        // The filter is a prefix match; keep exactly `<prefix>/<domain>/<selector>`.
        if (
          !name.startsWith(namePrefix) ||
          name.slice(this.prefix.length + 1).split("/").length !== 2
        )
          continue;
        const rest = name.slice(this.prefix.length + 1);
        const domain = rest.slice(0, rest.lastIndexOf("/"));
        const known = byDomain.get(domain) ?? [];
        if (known instanceof Error) continue;
        try {
          byDomain.set(domain, [...known, await this.withValueCheck(this.toStoredKey(entry))]);
        } catch (err) {
          // Raised where this domain is read (list, or the engine's lookup).
          byDomain.set(domain, err as Error);
        }
      }
      nextToken = page.NextToken;
    } while (nextToken);
    for (const keys of byDomain.values())
      if (!(keys instanceof Error))
        keys.sort(
          (a, b) =>
            a.createdAt.getTime() - b.createdAt.getTime() || a.selector.localeCompare(b.selector),
        );
    return byDomain;
  }

  /**
   * A pending key tagged `kms`: read its value (ciphertext; the planner's IAM
   * allows exactly these reads) and check it is a wrapped key for this name
   * and this public key (docs/design.md#key-origins). Other keys are returned
   * as they are: their origin tag alone decides, and the planner may not set
   * `operator`.
   */
  private async withValueCheck(key: StoredKey): Promise<StoredKey> {
    if (key.state !== "pending" || key.deletionDate || key.activatedAt || key.origin !== "kms")
      return key;
    let value: string | undefined;
    try {
      value = (await this.client.send(new GetSecretValueCommand({ SecretId: key.secretName })))
        .SecretString;
    } catch (err) {
      const e = err as Error;
      return { ...key, valueCheck: { ok: false, why: `its value could not be read (${e.name})` } };
    }
    const checked = await this.wrappedShape(key.domain, key.selector, value ?? "", key.publicKey);
    return {
      ...key,
      valueCheck: "why" in checked ? { ok: false, why: checked.why } : { ok: true },
    };
  }

  /**
   * The ciphertext of a KMS-wrapped value made for `{domain, selector}` (and,
   * when given, for `publicKey`), or why the value is not one. Messages name
   * fields, never values: a planted value may be a private key.
   */
  private async wrappedShape(
    domain: string,
    selector: string,
    value: string,
    publicKey?: string,
  ): Promise<{ ciphertext: string } | { why: string }> {
    if (!value.trimStart().startsWith("{")) {
      this.onSecret(value);
      return { why: NOT_WRAPPED };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return { why: `${NOT_WRAPPED}: not valid JSON` };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      return { why: `${NOT_WRAPPED}: not a JSON object` };
    const w = parsed as Record<string, unknown>;
    const unknown = Object.keys(w).filter((k) => !WRAPPED_FIELDS.includes(k));
    if (unknown.length)
      return {
        why: `${NOT_WRAPPED}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown
          .map((k) => (/^[A-Za-z][A-Za-z0-9_-]{0,30}$/.test(k) ? k : "(unprintable)"))
          .join(", ")}`,
      };
    if (w.format !== KMS_WRAPPED_FORMAT)
      return { why: `${NOT_WRAPPED}: format is not ${KMS_WRAPPED_FORMAT}` };
    if (w.keyPairSpec !== "RSA_2048") return { why: `keyPairSpec is not RSA_2048` };
    const ciphertext = w.privateKeyCiphertextBlob;
    if (typeof ciphertext !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(ciphertext))
      return { why: `privateKeyCiphertextBlob is not base64` };
    if (this.custody && w.keyArn !== (await this.custody.keyArn()))
      return { why: `wrapped under another KMS key than the project key` };
    if (typeof w.publicKey !== "string" || w.fingerprint !== publicKeyFingerprint(w.publicKey))
      return { why: `its publicKey and fingerprint disagree` };
    if (publicKey !== undefined && w.publicKey !== publicKey)
      return { why: `its publicKey is not the p= in the secret's description` };
    const context = keyContext(domain, selector);
    if (
      w.encryptionContext !== undefined &&
      JSON.stringify(w.encryptionContext) !== JSON.stringify(context)
    )
      return {
        why: `its declared encryption context is not {domain: ${domain}, selector: ${selector}} (moved from another secret?)`,
      };
    return { ciphertext };
  }

  async generate(
    domain: string,
    selector: string,
    createdAt: Date,
  ): Promise<{ key: StoredKey; created: boolean }> {
    if (!this.custody)
      throw new KeyStoreError("this key store has no KMS custody; it cannot generate keys");
    // A re-run after a crash between KMS and CreateSecret asks KMS again; the
    // first pair was never stored, so nothing is lost or duplicated.
    const wrapped = await this.custody.generate(domain, selector);
    const value = JSON.stringify({
      format: KMS_WRAPPED_FORMAT,
      keyArn: wrapped.keyArn,
      keyPairSpec: "RSA_2048",
      privateKeyCiphertextBlob: wrapped.ciphertext,
      publicKey: wrapped.publicKey,
      fingerprint: wrapped.fingerprint,
      // Declared for the planner, which cannot decrypt; KMS enforces it on Decrypt.
      encryptionContext: keyContext(domain, selector),
    });
    return this.store(domain, selector, value, wrapped, createdAt, "kms");
  }

  async create(
    domain: string,
    selector: string,
    pair: DkimKeyPair,
    createdAt: Date,
    origin: Exclude<KeyOrigin, "kms"> = "local",
  ): Promise<{ key: StoredKey; created: boolean }> {
    return this.store(domain, selector, pair.sesPrivateKey, pair, createdAt, origin);
  }

  private async store(
    domain: string,
    selector: string,
    value: string,
    pub: { publicKey: string; bits: number; fingerprint: string },
    createdAt: Date,
    origin: KeyOrigin,
  ): Promise<{ key: StoredKey; created: boolean }> {
    const name = this.secretName(domain, selector);
    // The ARN, not the alias: the planner's IAM compares secretsmanager:KmsKeyArn.
    const kmsKeyId = this.custody ? await this.custody.keyArn() : this.kmsKeyId;
    try {
      await this.client.send(
        new CreateSecretCommand({
          Name: name,
          // The value goes in with the create: one call, never a later PutSecretValue.
          SecretString: value,
          KmsKeyId: kmsKeyId,
          Description: description(domain, selector, pub.publicKey),
          Tags: [
            { Key: TAG_DOMAIN, Value: domain },
            { Key: TAG_SELECTOR, Value: selector },
            { Key: TAG_KEY_BITS, Value: String(pub.bits) },
            { Key: TAG_FINGERPRINT, Value: pub.fingerprint },
            { Key: TAG_CREATED_AT, Value: createdAt.toISOString() },
            { Key: TAG_STATE, Value: "pending" },
            { Key: TAG_KEY_ORIGIN, Value: origin },
          ],
        }),
      );
    } catch (err) {
      const e = err as Error;
      // The name is taken (possibly by a secret scheduled for deletion): keep what is there.
      const exists =
        e.name === "ResourceExistsException" ||
        (e.name === "InvalidRequestException" && /scheduled for deletion/i.test(e.message));
      if (!exists) throw err;
      return { key: await this.describe(domain, selector), created: false };
    }
    return {
      key: {
        domain,
        selector,
        secretName: name,
        createdAt,
        publicKey: pub.publicKey,
        keyBits: pub.bits,
        state: "pending",
        origin,
      },
      created: true,
    };
  }

  private async describe(domain: string, selector: string): Promise<StoredKey> {
    const out = await this.client.send(
      new DescribeSecretCommand({ SecretId: this.secretName(domain, selector) }),
    );
    return this.toStoredKey(out);
  }

  async readPrivateKey(
    domain: string,
    selector: string,
    accept: { plaintext: boolean } = { plaintext: false },
  ): Promise<string> {
    const name = this.secretName(domain, selector);
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
    const value = out.SecretString;
    if (value === undefined) throw new KeyStoreError(`secret ${name} has no SecretString`);
    if (!value.trimStart().startsWith("{")) {
      this.onSecret(value);
      // docs/design.md#key-origins: plaintext only for an adopted key, a key
      // that has been active, or a 1024-bit identity's key.
      if (!accept.plaintext)
        throw new KeyStoreError(
          `secret ${name}: ${NOT_WRAPPED}; only an adopted key, a key that has been active or a keyBits 1024 identity's key may be plaintext`,
        );
      try {
        return operatorKeyToSesPrivateKey(value, this.onSecret);
      } catch (err) {
        // The message describes the format only; it never contains key material.
        if (err instanceof KeyFormatError)
          throw new KeyStoreError(`secret ${name}: ${err.message}`);
        throw err;
      }
    }
    const shape = await this.wrappedShape(domain, selector, value);
    if ("why" in shape) throw new KeyStoreError(`secret ${name}: ${shape.why}`);
    if (!this.custody)
      throw new KeyStoreError(
        `secret ${name}: a KMS-wrapped key, and this key store has no KMS custody`,
      );
    try {
      // The context comes from the name (the fact), never from the value:
      // KMS refuses a blob bound to another name (InvalidCiphertextException).
      return await this.custody.unwrap(domain, selector, shape.ciphertext, this.onSecret);
    } catch (err) {
      if (err instanceof KmsCustodyError) throw new KeyStoreError(`secret ${name}: ${err.message}`);
      throw err;
    }
  }

  async markState(
    domain: string,
    selector: string,
    state: KeyState,
    at: Date,
    proof?: KeyProof,
  ): Promise<void> {
    const tags: Tag[] = [{ Key: TAG_STATE, Value: state }];
    if (state === "active") tags.push({ Key: TAG_ACTIVATED_AT, Value: at.toISOString() });
    // In the same TagResource call: a crash cannot leave an unverified key looking proven.
    if (proof) tags.push({ Key: TAG_PROOF, Value: proof });
    if (state === "retired") tags.push({ Key: TAG_RETIRED_AT, Value: at.toISOString() });
    const name = this.secretName(domain, selector);
    try {
      await this.client.send(new TagResourceCommand({ SecretId: name, Tags: tags }));
    } catch (err) {
      // Tags of a secret scheduled for deletion cannot change; fine if they already say so.
      if ((err as Error).name !== "InvalidRequestException") throw err;
      const key = await this.describe(domain, selector);
      if (key.state !== state) {
        throw new KeyStoreError(
          `secret ${name} is scheduled for deletion; cannot mark it ${state} (it is ${key.state})`,
        );
      }
    }
  }

  async markProof(domain: string, selector: string, proof: KeyProof): Promise<void> {
    await this.client.send(
      new TagResourceCommand({
        SecretId: this.secretName(domain, selector),
        Tags: [{ Key: TAG_PROOF, Value: proof }],
      }),
    );
  }

  async markNotified(domain: string, selector: string, events: string[]): Promise<void> {
    const value = events.join(" ");
    // Secrets Manager tag values: at most 256 characters (TagResource API reference).
    if (value.length > 256 || !/^[A-Za-z0-9 _.:/=+@-]*$/.test(value))
      throw new KeyStoreError(
        `notification ledger ${JSON.stringify(value)} is not a valid tag value`,
      );
    await this.client.send(
      new TagResourceCommand({
        SecretId: this.secretName(domain, selector),
        Tags: [{ Key: TAG_NOTIFIED, Value: value }],
      }),
    );
  }

  async markReportSeen(domain: string, selector: string, at: Date): Promise<void> {
    await this.client.send(
      new TagResourceCommand({
        SecretId: this.secretName(domain, selector),
        Tags: [{ Key: TAG_REPORT_SEEN, Value: at.toISOString() }],
      }),
    );
  }

  async scheduleDeletion(domain: string, selector: string, recoveryDays: number): Promise<Date> {
    const name = this.secretName(domain, selector);
    if (
      !Number.isInteger(recoveryDays) ||
      recoveryDays < MIN_RECOVERY_DAYS ||
      recoveryDays > MAX_RECOVERY_DAYS
    ) {
      // Checked here, before any call: never without a recovery window ≥ 7 days (docs/design.md#secrets-manager-recovery-window).
      throw new KeyStoreError(
        `secret ${name}: recovery window must be ${MIN_RECOVERY_DAYS}–${MAX_RECOVERY_DAYS} whole days, got ${recoveryDays}`,
      );
    }
    const existing = await this.describe(domain, selector);
    if (existing.deletionDate) return existing.deletionDate; // already scheduled: a re-run converges
    await this.client.send(
      new TagResourceCommand({
        SecretId: name,
        Tags: [{ Key: TAG_RECOVERY_DAYS, Value: String(recoveryDays) }],
      }),
    );
    let out;
    try {
      out = await this.client.send(
        new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: recoveryDays }),
      );
    } catch (err) {
      // A deletion whose answer was lost (a timeout, a 5xx after the fact) is
      // retried by the SDK or the next run, and Secrets Manager refuses the
      // second DeleteSecret with InvalidRequestException; DescribeSecret's
      // DeletedDate says whether ours went through (docs/design.md#secrets-manager-recovery-window).
      if ((err as Error).name !== "InvalidRequestException") throw err;
      const after = await this.describe(domain, selector);
      if (after.deletionDate) return after.deletionDate;
      throw err;
    }
    if (!out.DeletionDate)
      throw new KeyStoreError(`secret ${name}: DeleteSecret returned no DeletionDate`);
    return out.DeletionDate;
  }
}

/**
 * Read a plain secret that is not a DKIM key (the TSIG secret of an rfc2136
 * publisher) and mask it the moment it exists. The planner role may read
 * exactly the configured names (infra/components/policies.ts).
 */
export async function readPlainSecret(
  client: SecretsManagerClient,
  name: string,
  onSecret: (secret: string) => void,
): Promise<string> {
  let out;
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: name }));
  } catch (err) {
    throw new KeyStoreError(
      `secret ${name}: ${(err as Error).name}: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  const value = out.SecretString?.trim();
  if (!value) throw new KeyStoreError(`secret ${name} holds no SecretString`);
  onSecret(value);
  return value;
}
