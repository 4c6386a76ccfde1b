/**
 * Emulated Amazon SES (API v2): identities, the DKIM status machine and
 * SendEmail with real DKIM signatures.
 *
 * Behaviour follows the SES v2 model shipped in @aws-sdk/client-sesv2 and
 * the SES developer guide:
 * - `DomainSigningPrivateKey`: 1–20480 chars of `^[a-zA-Z0-9+/]+={0,2}$`, an
 *   RSA key of 1024 or 2048 bits. PKCS#8 keys and base64'd PEM files have
 *   been reported as accepted and then never verifying; we reproduce that
 *   (accepted, DNS check always fails, FAILED after 72 h).
 * - `DomainSigningSelector`: 1–63 chars of
 *   `^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))$`.
 * - After `PutEmailIdentityDkimSigningAttributes` the identity is PENDING and
 *   mail goes out without the domain's signature until SES finds the record
 *   (the hazard this project exists to remove). SES keeps re-checking after
 *   SUCCESS; a record that stays missing for 72 h turns the identity FAILED.
 * DKIM is per Region: each Region here has its own identities.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  randomUUID,
  type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";
import { signRelaxedAll } from "../../../actions/dkim-rotation/src/engine/probe";
import {
  AwsApiError,
  epochSeconds,
  isRecord,
  validationMessage,
  type LookupTxt,
  type TxtLookupResult,
} from "./common";

/** The PEM text of each signing key, made once (a 2-year sandbox signs ~10,000 messages). */
const PEM_OF = new WeakMap<KeyObject, string>();

/** mailauth takes PEM only (and parses it per message): export each key once. */
function pemOf(key: KeyObject): string {
  let pem = PEM_OF.get(key);
  if (!pem) PEM_OF.set(key, (pem = key.export({ type: "pkcs1", format: "pem" }).toString()));
  return pem;
}

/**
 * rsa-sha256 relaxed signatures prepended to `raw`, in `signers`' order (the
 * first is the outermost header), made in one pass over the message.
 */
async function signedWith(
  raw: Buffer,
  signers: readonly { key: KeyObject; domain: string; selector: string }[],
  at: Date,
): Promise<Buffer> {
  const signed = await signRelaxedAll(
    raw,
    signers.map((s) => ({ domain: s.domain, selector: s.selector, privateKey: pemOf(s.key) })),
    at,
  );
  if (signed.errors?.length)
    throw new AwsApiError("InternalFailure", "DKIM signing failed inside the emulator.", 500);
  return Buffer.concat([Buffer.from(signed.signatures), raw]);
}

let wrongKeyPromise: Promise<KeyObject> | undefined;
/** The key `signWithWrongKey` signs with: one no DNS record publishes. */
const wrongKey = () =>
  (wrongKeyPromise ??= generateKeyPairAsync("rsa", { modulusLength: 2048 }).then(
    (k) => k.privateKey,
  ));

let amazonSesKeyPromise: Promise<KeyObject> | undefined;
/** SES's own amazonses.com signing key (its public half is not served by the sandbox's DNS). */
const amazonSesKey = () =>
  (amazonSesKeyPromise ??= generateKeyPairAsync("rsa", { modulusLength: 2048 }).then(
    (k) => k.privateKey,
  ));

/** SES's amazonses.com selector differs per Region; a stable stand-in per Region. */
export function amazonSesSelector(region: string): string {
  return `ses${region.replace(/-/g, "")}`;
}

const generateKeyPairAsync = promisify(generateKeyPair);

export type DkimStatus = "PENDING" | "SUCCESS" | "FAILED" | "TEMPORARY_FAILURE" | "NOT_STARTED";
export type DkimErrorType =
  "HOST_NOT_FOUND" | "TYPE_NOT_FOUND" | "INVALID_VALUE" | "DNS_SERVER_ERROR";

/**
 * An injected DKIM status fault for one PUT (see ../faults.ts): SES never
 * finds the record (PENDING until FAILED at `failAfterHours`), or reports
 * FAILED at its first check.
 */
export type DkimStatusFault = "dkim-stuck-pending" | "dkim-failed";

/** Asked once per EXTERNAL PUT of a selector the identity never verified; may return a fault. */
export type DkimStatusFaultHook = (selector: string) => DkimStatusFault | undefined;

/** How the emulator's DNS checks are scheduled (simulated time). */
export interface DkimTimings {
  /** First check after a PUT (default 5 minutes). */
  firstCheckMinutes: number;
  /** Interval while PENDING or TEMPORARY_FAILURE (default 30 minutes). */
  recheckMinutes: number;
  /** Interval after SUCCESS (default 24 hours). */
  successRecheckHours: number;
  /** How long a record may be missing before FAILED (SES: 72 hours). */
  failAfterHours: number;
}

export const DEFAULT_DKIM_TIMINGS: DkimTimings = {
  firstCheckMinutes: 5,
  recheckMinutes: 30,
  successRecheckHours: 24,
  failAfterHours: 72,
};

/**
 * How SES received the key. Only `pkcs1` can ever verify; the others are the
 * silent failures reported for real SES.
 */
export type SigningKeyFormat = "pkcs1" | "pkcs8" | "pem-text";

export interface StatusChange {
  at: Date;
  status: DkimStatus;
  reason: string;
  errorType?: DkimErrorType;
}

interface Identity {
  region: string;
  name: string;
  type: "DOMAIN" | "EMAIL_ADDRESS";
  createdAt: Date;
  tags: { Key: string; Value: string }[];
  configurationSetName?: string;
  signingEnabled: boolean;
  origin: "AWS_SES" | "EXTERNAL";
  status: DkimStatus;
  tokens: string[];
  verifiedForSending: boolean;
  /** EXTERNAL: the imported key. AWS_SES: the emulator's own key (made on first send). */
  selector?: string;
  keyFormat?: SigningKeyFormat;
  signingKey?: KeyObject;
  /** base64 SPKI of the signing key: what `p=` must equal. */
  publicKey?: string;
  keyBits?: number;
  signingAttributesSetAt: Date;
  nextCheckAt?: Date;
  /** Start of the current run of failed checks (PENDING since PUT, or since SUCCESS was lost). */
  failingSince?: Date;
  lastCheckedAt?: Date;
  lastSuccessAt?: Date;
  errorType?: DkimErrorType;
  history: StatusChange[];
  /** Injected for the current PUT; cleared by the next PUT. */
  statusFault?: DkimStatusFault;
  /** Selectors SES found in DNS at least once for this identity. */
  verifiedSelectors: Set<string>;
  /** Successful re-checks while SUCCESS (drives the TEMPORARY_FAILURE quirk). */
  successRechecks?: number;
  /** The identity's last Easy DKIM set-up (tokens and SES-held key), for a switch back. */
  easyDkim?: { tokens: string[]; signingKey?: KeyObject; publicKey?: string };
}

/** What tests and the sandbox read about an identity (no private key). */
export interface IdentityView {
  region: string;
  identity: string;
  type: "DOMAIN" | "EMAIL_ADDRESS";
  verifiedForSending: boolean;
  signingEnabled: boolean;
  status: DkimStatus;
  origin: "AWS_SES" | "EXTERNAL";
  tokens: string[];
  /** The Region's zone for Easy DKIM keys (the DNS team's CNAMEs point at `<token>.<zone>`). */
  signingHostedZone: string;
  selector?: string;
  keyFormat?: SigningKeyFormat;
  publicKey?: string;
  keyBits?: number;
  signingAttributesSetAt: Date;
  nextCheckAt?: Date;
  lastCheckedAt?: Date;
  lastSuccessAt?: Date;
  errorType?: DkimErrorType;
  history: StatusChange[];
  statusFault?: DkimStatusFault;
}

/** One message SES accepted, as it would leave SES (signed or not). */
export interface SentMessage {
  region: string;
  messageId: string;
  /** The domain identity whose DKIM settings applied (null for an address-only identity). */
  domain: string | null;
  /** The selector of the domain's signature, or null when SES sent it unsigned. */
  selector: string | null;
  dkimStatus: DkimStatus | null;
  from: string;
  to: string[];
  raw: Buffer;
  sentAt: Date;
  /** SES signed with a key other than the identity's (the `signWithWrongKey` switch). */
  wrongKey?: boolean;
}

const SELECTOR_PATTERN = /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))$/;
const PRIVATE_KEY_PATTERN = /^[a-zA-Z0-9+/]+={0,2}$/;
const DOMAIN_PATTERN =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const EMAIL_PATTERN = /^[^@\s]+@([^@\s]+)$/;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function badRequest(message: string): AwsApiError {
  return new AwsApiError("BadRequestException", message, 400);
}

/** Validate a `DomainSigningSelector` the way the SES model does. */
export function validateSelector(value: unknown, path: string): string {
  if (typeof value !== "string" || value.length < 1 || value.length > 63) {
    throw badRequest(validationMessage(value, path, "Member must have length between 1 and 63"));
  }
  if (!SELECTOR_PATTERN.test(value)) {
    throw badRequest(
      validationMessage(
        value,
        path,
        `Member must satisfy regular expression pattern: ${SELECTOR_PATTERN.source}`,
      ),
    );
  }
  return value;
}

/**
 * Validate a `DomainSigningPrivateKey`. The value is secret, so like AWS's
 * messages for sensitive members, errors never echo it.
 */
export function validateSigningKey(
  value: unknown,
  path: string,
): { key: KeyObject; format: SigningKeyFormat; bits: number } {
  if (typeof value !== "string" || value.length < 1 || value.length > 20480) {
    throw badRequest(
      `1 validation error detected: Value at '${path}' failed to satisfy constraint: Member must have length between 1 and 20480`,
    );
  }
  if (!PRIVATE_KEY_PATTERN.test(value)) {
    throw badRequest(
      `1 validation error detected: Value at '${path}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${PRIVATE_KEY_PATTERN.source}`,
    );
  }
  const der = Buffer.from(value, "base64");
  const attempts: [SigningKeyFormat, () => KeyObject][] = [
    ["pkcs1", () => createPrivateKey({ key: der, format: "der", type: "pkcs1" })],
    ["pkcs8", () => createPrivateKey({ key: der, format: "der", type: "pkcs8" })],
    // base64 of a whole PEM file: reported as accepted and never verifying.
    ["pem-text", () => createPrivateKey({ key: der.toString("utf8"), format: "pem" })],
  ];
  for (const [format, parse] of attempts) {
    if (format === "pem-text" && !der.toString("latin1").startsWith("-----BEGIN")) continue;
    let key: KeyObject;
    try {
      key = parse();
    } catch {
      continue;
    }
    if (key.asymmetricKeyType !== "rsa") {
      throw badRequest("Invalid DKIM private key: only RSA keys are supported.");
    }
    // OpenSSL 3 also decodes PKCS#8 when asked for PKCS#1; PKCS#1 DER is
    // canonical, so only a byte-exact re-export proves the input was PKCS#1.
    if (format === "pkcs1" && !key.export({ type: "pkcs1", format: "der" }).equals(der)) continue;
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits !== 1024 && bits !== 2048) {
      throw badRequest(
        `Invalid DKIM private key: key length ${bits} is not supported; use 1024 or 2048 bits.`,
      );
    }
    return { key, format, bits };
  }
  throw badRequest(
    "Invalid DKIM private key: could not parse it as a base64-encoded RSA private key.",
  );
}

function spkiBase64(key: KeyObject): string {
  return createPublicKey(key).export({ type: "spki", format: "der" }).toString("base64");
}

/**
 * Regions whose Easy DKIM keys SES serves from `dkim.<region>.amazonses.com`
 * rather than `dkim.amazonses.com` (AWS General Reference, "Amazon SES
 * endpoints and quotas", DKIM domains; docs/design.md#ses-signing-hosted-zone).
 */
export const REGIONAL_DKIM_ZONE_REGIONS: readonly string[] = [
  "af-south-1",
  "ap-northeast-3",
  "ap-south-2",
  "ap-southeast-3",
  "ap-southeast-5",
  "ca-west-1",
  "eu-central-2",
  "eu-south-1",
  "il-central-1",
  "me-central-1",
  "us-gov-east-1",
];

/** The zone SES serves a Region's Easy DKIM keys from: what GetEmailIdentity says as SigningHostedZone. */
export function signingHostedZoneOf(region: string): string {
  return REGIONAL_DKIM_ZONE_REGIONS.includes(region)
    ? `dkim.${region}.amazonses.com`
    : "dkim.amazonses.com";
}

function easyDkimTokens(): string[] {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  return [0, 1, 2].map(() => [...randomBytes(32)].map((b) => alphabet[b % 32]).join(""));
}

/** Parse `tag=value; …` (RFC 6376 §3.2); whitespace inside `p=` is folding and is dropped. */
function dkimTags(record: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of record.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part
      .slice(eq + 1)
      .replace(/\s+/g, name === "p" ? "" : " ")
      .trim();
    if (name && !tags.has(name)) tags.set(name, value);
  }
  return tags;
}

type CheckResult = { ok: true } | { ok: false; errorType: DkimErrorType };

function judgeRecord(answer: TxtLookupResult, identity: Identity): CheckResult {
  if (answer === "NXDOMAIN") return { ok: false, errorType: "HOST_NOT_FOUND" };
  if (answer === "NODATA" || answer.length === 0) return { ok: false, errorType: "TYPE_NOT_FOUND" };
  for (const strings of answer) {
    const tags = dkimTags(strings.join(""));
    const v = tags.get("v");
    const k = tags.get("k");
    if (v !== undefined && v !== "DKIM1") continue;
    if (k !== undefined && k !== "rsa") continue;
    // Only a PKCS#1 import ever verifies: the reported silent failure of PKCS#8 / PEM-text imports.
    if (identity.keyFormat === "pkcs1" && tags.get("p") === identity.publicKey) return { ok: true };
  }
  return { ok: false, errorType: "INVALID_VALUE" };
}

/**
 * Documented SES answers the engine must survive, each behind a switch
 * (docs/design.md, "SES as AWS answers"). `LastSuccessTimestamp` moving
 * forward on every successful re-check is always on: it is how SES behaves.
 */
export interface SesQuirks {
  /**
   * BYODKIM identities answer `"Tokens": []` (GetEmailIdentity and the PUT's
   * `DkimTokens`), as in the SES developer guide's own BYODKIM example; off,
   * `[selector]` as the API reference describes.
   */
  emptyExternalTokens?: boolean;
  /**
   * Every `temporaryFailureEvery`-th successful re-check of an identity that
   * is already SUCCESS reports TEMPORARY_FAILURE instead, for one recheck
   * interval, then SUCCESS again (SES documents TEMPORARY_FAILURE as a
   * transient state that may follow SUCCESS).
   */
  temporaryFailureEvery?: number;
  /**
   * What a switch from BYODKIM back to Easy DKIM (`SigningAttributesOrigin`
   * `AWS_SES`) gives: `new-tokens` (the default, the stricter reading) makes
   * three new tokens and a new SES-held key, whose CNAMEs nobody has
   * published; `same-tokens` gives back the identity's earlier tokens and key.
   * The API reference lists "Change from using BYODKIM to using Easy DKIM"
   * and says nothing about the tokens (docs/design.md, "ses-easy-dkim-switch-back").
   */
  easyDkimSwitchBack?: "new-tokens" | "same-tokens";
  /**
   * GetEmailIdentity answers without `DkimAttributes.SigningHostedZone` (the
   * API reference marks no output member as always present): the engine must
   * then assume no zone (docs/design.md#ses-signing-hosted-zone). Off, the
   * Region's documented zone.
   */
  omitSigningHostedZone?: boolean;
}

export interface SesBackendOptions {
  timings: DkimTimings;
  quirks?: SesQuirks;
  lookupTxt: LookupTxt;
  /** Keep each sent message in `sent` (AwsEmulatorOptions.retainSentMessages). */
  retainSent: boolean;
  onMessage?: (event: SentMessage) => void | Promise<void>;
  /**
   * SES publishes each Easy DKIM key at `<token>.<zone>` (the Region's
   * SigningHostedZone) as soon as it makes it; a world that serves those
   * zones hears of every new key here.
   */
  onEasyDkimKey?: (key: EasyDkimKey) => void | Promise<void>;
  /** Every BYODKIM key set (PutEmailIdentityDkimSigningAttributes, EXTERNAL), as it is set. */
  onExternalKey?: (key: ExternalKeySet) => void;
  /** Read at every SendEmail, so a test or the sandbox can flip them at run time. */
  switches?: SesSwitches;
}

/**
 * Faults of SES's sending side that only a message can reveal
 * (docs/design.md#emulated-ses-receiving).
 */
export interface SesSwitches {
  /**
   * SES signs with a private key other than the one it was given (and the
   * one DNS publishes), under the right d= and s=: the signature is present
   * and fails. True for every BYODKIM identity, or a predicate on
   * (region, domain, selector).
   */
  signWithWrongKey?: boolean | ((region: string, domain: string, selector: string) => boolean);
  /** Mail to these recipients (lower case, or a predicate) is accepted by SendEmail and never delivered. */
  dropInbound?: boolean | ((recipient: string) => boolean);
}

/** The d= SES adds to every message it sends, besides the identity's own signature. */
export const AMAZONSES_DOMAIN = "amazonses.com";

/** A BYODKIM key SES was just given: what the world must already serve at `<selector>._domainkey.<identity>`. */
export interface ExternalKeySet {
  region: string;
  identity: string;
  selector: string;
  /** Base64 SPKI, the record's `p=`. */
  publicKey: string;
  at: Date;
}

/** An Easy DKIM key SES holds: the three tokens and the public key their CNAMEs lead to. */
export interface EasyDkimKey {
  region: string;
  identity: string;
  tokens: string[];
  /** The Region's SigningHostedZone: the key is served at `<token>.<zone>`. */
  zone: string;
  publicKey: string;
}

export class SesBackend {
  private readonly identities = new Map<string, Identity>();
  readonly sent: SentMessage[] = [];
  /** When the next DNS check falls due (every setter outside processDue lowers it). */
  private earliestDueMs = 0;

  constructor(private readonly options: SesBackendOptions) {}

  private key(region: string, name: string): string {
    return `${region}\n${name}`;
  }

  private find(region: string, name: string): Identity {
    const identity = this.identities.get(this.key(region, normalizeIdentity(name)));
    if (!identity)
      throw new AwsApiError("NotFoundException", `Email identity ${name} does not exist.`, 404);
    return identity;
  }

  private setStatus(
    identity: Identity,
    at: Date,
    status: DkimStatus,
    reason: string,
    errorType?: DkimErrorType,
  ): void {
    identity.status = status;
    identity.history.push({ at, status, reason, ...(errorType ? { errorType } : {}) });
  }

  /** Run every DNS check that is due at `now`. DNS is read once per name per call. */
  async processDue(now: Date): Promise<void> {
    // Every request advances the clock: skip the walk over every identity
    // until the earliest check is due (a fleet of thousands would otherwise
    // cost the emulator O(identities) per request).
    if (now.getTime() < this.earliestDueMs) return;
    const answers = new Map<string, Promise<TxtLookupResult | Error>>();
    const lookup = (name: string) => {
      let p = answers.get(name);
      if (!p) {
        p = this.options
          .lookupTxt(name)
          .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
        answers.set(name, p);
      }
      return p;
    };
    for (const identity of this.identities.values()) {
      while (identity.nextCheckAt && identity.nextCheckAt.getTime() <= now.getTime()) {
        const at = identity.nextCheckAt;
        if (identity.origin === "AWS_SES") {
          // Easy DKIM: each of the three CNAMEs must lead to SES's key.
          await this.signingKeyOf(identity);
          let easy: CheckResult = { ok: true };
          for (const token of identity.tokens) {
            const answer = await lookup(`${token}._domainkey.${identity.name}`);
            const one: CheckResult =
              answer instanceof Error
                ? { ok: false, errorType: "DNS_SERVER_ERROR" }
                : judgeRecord(answer, identity);
            if (!one.ok) {
              easy = one;
              break;
            }
          }
          this.applyCheck(identity, at, easy);
          continue;
        }
        const answer = await lookup(`${identity.selector}._domainkey.${identity.name}`);
        let result: CheckResult =
          answer instanceof Error
            ? { ok: false, errorType: "DNS_SERVER_ERROR" }
            : judgeRecord(answer, identity);
        if (identity.statusFault === "dkim-stuck-pending" && result.ok) {
          // Whatever DNS says, this PUT never verifies (the injected fault).
          result = { ok: false, errorType: "HOST_NOT_FOUND" };
        }
        if (identity.statusFault === "dkim-failed") {
          identity.lastCheckedAt = at;
          identity.errorType = result.ok ? "INVALID_VALUE" : result.errorType;
          identity.nextCheckAt = undefined;
          this.setStatus(
            identity,
            at,
            "FAILED",
            "DKIM verification failed (injected fault)",
            identity.errorType,
          );
          continue;
        }
        this.applyCheck(identity, at, result);
      }
    }
    this.earliestDueMs = Math.min(
      Infinity,
      ...[...this.identities.values()].map((x) => x.nextCheckAt?.getTime() ?? Infinity),
    );
  }

  private applyCheck(identity: Identity, at: Date, result: CheckResult): void {
    const { recheckMinutes, successRecheckHours, failAfterHours } = this.options.timings;
    identity.lastCheckedAt = at;
    if (result.ok) {
      const every = this.options.quirks?.temporaryFailureEvery;
      if (every && identity.status === "SUCCESS") {
        identity.successRechecks = (identity.successRechecks ?? 0) + 1;
        if (identity.successRechecks % every === 0) {
          // A transient spell: signing goes on, SES reports it cannot tell.
          this.setStatus(identity, at, "TEMPORARY_FAILURE", "transient DNS issue (quirk)");
          identity.nextCheckAt = new Date(at.getTime() + recheckMinutes * MINUTE);
          return;
        }
      }
      if (identity.selector) identity.verifiedSelectors.add(identity.selector);
      identity.lastSuccessAt = at;
      identity.errorType = undefined;
      identity.failingSince = undefined;
      identity.verifiedForSending = true;
      if (identity.status !== "SUCCESS")
        this.setStatus(identity, at, "SUCCESS", "DKIM record found and matches the key");
      identity.nextCheckAt = new Date(at.getTime() + successRecheckHours * HOUR);
      return;
    }
    identity.errorType = result.errorType;
    // A quirk spell is TEMPORARY_FAILURE with no failing run yet: this check starts one.
    if (identity.status === "TEMPORARY_FAILURE") identity.failingSince ??= at;
    if (identity.status === "SUCCESS") {
      identity.failingSince = at;
      this.setStatus(
        identity,
        at,
        "TEMPORARY_FAILURE",
        "DKIM record no longer found or no longer matches",
        result.errorType,
      );
    }
    const since = identity.failingSince ?? identity.signingAttributesSetAt;
    const deadline = since.getTime() + failAfterHours * HOUR;
    if (at.getTime() >= deadline) {
      identity.nextCheckAt = undefined;
      this.setStatus(
        identity,
        at,
        "FAILED",
        `DKIM record not verified within ${failAfterHours} h`,
        result.errorType,
      );
      return;
    }
    identity.nextCheckAt = new Date(Math.min(at.getTime() + recheckMinutes * MINUTE, deadline));
  }

  private applyExternal(
    identity: Identity,
    now: Date,
    attrs: Record<string, unknown>,
    statusFault?: DkimStatusFaultHook,
  ): void {
    const selector = validateSelector(
      attrs.DomainSigningSelector,
      "signingAttributes.domainSigningSelector",
    );
    const parsed = validateSigningKey(
      attrs.DomainSigningPrivateKey,
      "signingAttributes.domainSigningPrivateKey",
    );
    identity.origin = "EXTERNAL";
    identity.selector = selector;
    identity.tokens = [selector];
    identity.keyFormat = parsed.format;
    identity.signingKey = parsed.key;
    identity.publicKey = spkiBase64(parsed.key);
    identity.keyBits = parsed.bits;
    identity.signingEnabled = true;
    // Status faults model "SES cannot verify this NEW key"; a selector SES
    // already verified (a rollback target) is spared, or no engine could recover.
    identity.statusFault = identity.verifiedSelectors.has(selector)
      ? undefined
      : statusFault?.(selector);
    this.startChecking(identity, now, `signing attributes set: EXTERNAL selector ${selector}`);
    this.options.onExternalKey?.({
      region: identity.region,
      identity: identity.name,
      selector,
      publicKey: identity.publicKey,
      at: now,
    });
  }

  /** New signing attributes: PENDING, the first DNS check due after `firstCheckMinutes`. */
  private startChecking(identity: Identity, now: Date, reason: string): void {
    identity.signingAttributesSetAt = now;
    identity.failingSince = undefined;
    identity.errorType = undefined;
    identity.nextCheckAt = new Date(
      now.getTime() + this.options.timings.firstCheckMinutes * MINUTE,
    );
    this.earliestDueMs = Math.min(this.earliestDueMs, identity.nextCheckAt.getTime());
    this.setStatus(identity, now, "PENDING", reason);
  }

  private applyEasyDkim(identity: Identity, now: Date): void {
    // SES looks for the three CNAMEs and signs only "after successful
    // detection" (API reference, IdentityDkimAttributes): PENDING until then.
    const back = this.options.quirks?.easyDkimSwitchBack === "same-tokens" && identity.easyDkim;
    const easy = back || { tokens: easyDkimTokens() };
    identity.easyDkim = easy;
    identity.origin = "AWS_SES";
    identity.statusFault = undefined;
    identity.tokens = [...easy.tokens];
    identity.selector = identity.tokens[0];
    identity.keyFormat = "pkcs1";
    identity.signingKey = easy.signingKey;
    identity.publicKey = easy.publicKey;
    identity.keyBits = 2048;
    identity.signingEnabled = true;
    this.startChecking(
      identity,
      now,
      `Easy DKIM (AWS_SES) configured: tokens ${identity.tokens.join(", ")}`,
    );
  }

  createEmailIdentity(
    region: string,
    now: Date,
    body: Record<string, unknown>,
  ): Record<string, unknown> {
    const raw = body.EmailIdentity;
    if (typeof raw !== "string" || raw.length < 1) {
      throw badRequest(
        validationMessage(
          raw,
          "emailIdentity",
          "Member must have length greater than or equal to 1",
        ),
      );
    }
    const name = normalizeIdentity(raw);
    const isEmail = EMAIL_PATTERN.test(name);
    if (!isEmail && !DOMAIN_PATTERN.test(name)) throw badRequest(`Invalid email identity: ${raw}`);
    if (this.identities.has(this.key(region, name))) {
      throw new AwsApiError("AlreadyExistsException", `Email identity ${raw} already exists.`, 400);
    }
    const identity: Identity = {
      region,
      name,
      type: isEmail ? "EMAIL_ADDRESS" : "DOMAIN",
      createdAt: now,
      tags: parseTags(body.Tags),
      ...(typeof body.ConfigurationSetName === "string"
        ? { configurationSetName: body.ConfigurationSetName }
        : {}),
      signingEnabled: false,
      origin: "AWS_SES",
      status: "NOT_STARTED",
      tokens: [],
      verifiedForSending: false,
      signingAttributesSetAt: now,
      history: [],
      verifiedSelectors: new Set(),
    };
    if (isEmail) {
      if (body.DkimSigningAttributes !== undefined) {
        throw badRequest("DkimSigningAttributes can only be specified for a domain identity.");
      }
      // Address verification needs a click on a link; the emulator assumes it happened.
      identity.verifiedForSending = true;
    } else if (isRecord(body.DkimSigningAttributes)) {
      const attrs = body.DkimSigningAttributes;
      if (
        attrs.DomainSigningSelector !== undefined ||
        attrs.DomainSigningPrivateKey !== undefined
      ) {
        this.applyExternal(identity, now, attrs);
      } else {
        this.applyEasyDkim(identity, now);
      }
    } else {
      this.applyEasyDkim(identity, now);
    }
    this.identities.set(this.key(region, name), identity);
    return {
      IdentityType: identity.type,
      VerifiedForSendingStatus: identity.verifiedForSending,
      ...(identity.type === "DOMAIN" ? { DkimAttributes: dkimAttributes(identity) } : {}),
    };
  }

  getEmailIdentity(region: string, name: string): Record<string, unknown> {
    const identity = this.find(region, name);
    const verificationInfo: Record<string, unknown> = {};
    if (identity.lastCheckedAt)
      verificationInfo.LastCheckedTimestamp = epochSeconds(identity.lastCheckedAt);
    if (identity.lastSuccessAt)
      verificationInfo.LastSuccessTimestamp = epochSeconds(identity.lastSuccessAt);
    if (identity.errorType) verificationInfo.ErrorType = identity.errorType;
    return {
      IdentityType: identity.type,
      FeedbackForwardingStatus: true,
      VerifiedForSendingStatus: identity.verifiedForSending,
      DkimAttributes: {
        ...dkimAttributes(identity),
        Tokens: this.tokensOf(identity),
        ...(identity.type === "DOMAIN" && !this.options.quirks?.omitSigningHostedZone
          ? { SigningHostedZone: signingHostedZoneOf(identity.region) }
          : {}),
      },
      MailFromAttributes: { BehaviorOnMxFailure: "USE_DEFAULT_VALUE" },
      Policies: {},
      Tags: identity.tags,
      ...(identity.configurationSetName
        ? { ConfigurationSetName: identity.configurationSetName }
        : {}),
      VerificationStatus:
        identity.type === "DOMAIN"
          ? identity.status
          : identity.verifiedForSending
            ? "SUCCESS"
            : "PENDING",
      ...(identity.type === "DOMAIN" ? { VerificationInfo: verificationInfo } : {}),
    };
  }

  putDkimSigningAttributes(
    region: string,
    name: string,
    now: Date,
    body: Record<string, unknown>,
    statusFault?: DkimStatusFaultHook,
  ): Record<string, unknown> {
    const origin = body.SigningAttributesOrigin;
    if (origin !== "EXTERNAL" && origin !== "AWS_SES") {
      if (typeof origin === "string" && origin.startsWith("AWS_SES_")) {
        throw badRequest(
          `SigningAttributesOrigin ${origin} (deterministic Easy DKIM) is not emulated.`,
        );
      }
      throw badRequest(
        validationMessage(
          origin,
          "signingAttributesOrigin",
          "Member must satisfy enum value set: [AWS_SES, EXTERNAL]",
        ),
      );
    }
    const identity = this.find(region, name);
    if (identity.type !== "DOMAIN")
      throw badRequest("DKIM signing attributes apply only to domain identities.");
    const attrs = isRecord(body.SigningAttributes) ? body.SigningAttributes : undefined;
    if (origin === "EXTERNAL") {
      if (
        !attrs ||
        attrs.DomainSigningSelector === undefined ||
        attrs.DomainSigningPrivateKey === undefined
      ) {
        throw badRequest(
          "SigningAttributes with DomainSigningSelector and DomainSigningPrivateKey are required when SigningAttributesOrigin is EXTERNAL.",
        );
      }
      if (attrs.NextSigningKeyLength !== undefined) {
        throw badRequest(
          "NextSigningKeyLength can only be used when SigningAttributesOrigin is AWS_SES.",
        );
      }
      this.applyExternal(identity, now, attrs, statusFault);
    } else {
      if (
        attrs &&
        (attrs.DomainSigningSelector !== undefined || attrs.DomainSigningPrivateKey !== undefined)
      ) {
        throw badRequest(
          "DomainSigningSelector and DomainSigningPrivateKey can only be used with EXTERNAL.",
        );
      }
      this.applyEasyDkim(identity, now);
    }
    return { DkimStatus: identity.status, DkimTokens: this.tokensOf(identity) };
  }

  /** `Tokens` as this emulator answers them (see SesQuirks.emptyExternalTokens). */
  tokensOf(identity: Identity): string[] {
    return identity.origin === "EXTERNAL" && this.options.quirks?.emptyExternalTokens
      ? []
      : [...identity.tokens];
  }

  putDkimAttributes(
    region: string,
    name: string,
    now: Date,
    body: Record<string, unknown>,
  ): Record<string, unknown> {
    const identity = this.find(region, name);
    if (identity.type !== "DOMAIN")
      throw badRequest("DKIM attributes apply only to domain identities.");
    if (body.SigningEnabled !== undefined && typeof body.SigningEnabled !== "boolean") {
      throw badRequest(
        validationMessage(body.SigningEnabled, "signingEnabled", "Member must be a boolean"),
      );
    }
    const enabled = body.SigningEnabled === true;
    if (enabled !== identity.signingEnabled) {
      identity.signingEnabled = enabled;
      identity.history.push({
        at: now,
        status: identity.status,
        reason: `SigningEnabled set to ${enabled}`,
      });
    }
    return {};
  }

  async sendEmail(
    region: string,
    now: Date,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const content = isRecord(body.Content) ? body.Content : undefined;
    if (!content) throw badRequest(validationMessage(null, "content", "Member must not be null"));
    let raw: Buffer;
    if (isRecord(content.Raw)) {
      if (typeof content.Raw.Data !== "string") throw badRequest("RawMessage.Data is required.");
      raw = Buffer.from(content.Raw.Data, "base64");
    } else if (isRecord(content.Simple)) {
      raw = buildSimpleMessage(body, content.Simple, now);
    } else {
      throw badRequest("Content must contain Raw or Simple (templates are not emulated).");
    }
    const headers = headerBlock(raw);
    const from = addressOf(
      typeof body.FromEmailAddress === "string"
        ? body.FromEmailAddress
        : headerValue(headers, "from"),
    );
    if (!from) throw badRequest("Missing From address.");
    const destination = isRecord(body.Destination) ? body.Destination : undefined;
    const to = destination
      ? (["ToAddresses", "CcAddresses", "BccAddresses"] as const).flatMap((k) =>
          Array.isArray(destination[k])
            ? (destination[k] as unknown[]).filter((a): a is string => typeof a === "string")
            : [],
        )
      : (["to", "cc", "bcc"] as const).flatMap((h) => splitAddresses(headerValue(headers, h)));
    if (to.length === 0) throw badRequest("Message has no recipients.");
    if (to.length > 50)
      throw new AwsApiError("MessageRejected", "Recipient count exceeds 50.", 400);

    const sender = this.senderIdentity(region, from);
    if (!sender?.verifiedForSending) {
      throw new AwsApiError(
        "MessageRejected",
        `Email address is not verified. The following identities failed the check in region ${region.toUpperCase()}: ${from}`,
        400,
      );
    }
    const domainIdentity = sender.type === "DOMAIN" ? sender : this.domainIdentityFor(region, from);

    const messageId = `010601${now.getTime().toString(16)}-${randomUUID()}-000000`;
    if (headerValue(headers, "message-id") === undefined) {
      raw = Buffer.concat([
        Buffer.from(`Message-ID: <${messageId}@${region}.amazonses.com>\r\n`),
        raw,
      ]);
    }

    let selector: string | null = null;
    let wrongKeyUsed = false;
    // SES also signs every message as amazonses.com (the receipt's dkimVerdict can pass on it):
    // that header comes first, above the identity's own.
    const signers = [
      {
        key: await amazonSesKey(),
        domain: AMAZONSES_DOMAIN,
        selector: amazonSesSelector(region),
      },
    ];
    if (
      domainIdentity &&
      domainIdentity.signingEnabled &&
      (domainIdentity.status === "SUCCESS" || domainIdentity.status === "TEMPORARY_FAILURE") &&
      domainIdentity.selector
    ) {
      const wrong = this.options.switches?.signWithWrongKey;
      const useWrong =
        domainIdentity.origin === "EXTERNAL" &&
        (typeof wrong === "function"
          ? wrong(region, domainIdentity.name, domainIdentity.selector)
          : wrong === true);
      const key = useWrong ? await wrongKey() : await this.signingKeyOf(domainIdentity);
      signers.push({ key, domain: domainIdentity.name, selector: domainIdentity.selector });
      selector = domainIdentity.selector;
      wrongKeyUsed = useWrong;
    }
    raw = await signedWith(raw, signers, now);
    const event: SentMessage = {
      region,
      messageId,
      domain: domainIdentity?.name ?? null,
      selector,
      dkimStatus: domainIdentity?.status ?? null,
      from,
      to,
      raw,
      sentAt: now,
      ...(wrongKeyUsed ? { wrongKey: true } : {}),
    };
    if (this.options.retainSent) this.sent.push(event);
    await this.options.onMessage?.(event);
    return { MessageId: messageId };
  }

  private async signingKeyOf(identity: Identity): Promise<KeyObject> {
    if (!identity.signingKey) {
      const { privateKey } = await generateKeyPairAsync("rsa", { modulusLength: 2048 });
      identity.signingKey = privateKey;
      identity.publicKey = spkiBase64(privateKey);
      if (identity.origin === "AWS_SES" && identity.easyDkim) {
        identity.easyDkim.signingKey = privateKey;
        identity.easyDkim.publicKey = identity.publicKey;
        await this.options.onEasyDkimKey?.({
          region: identity.region,
          identity: identity.name,
          tokens: [...identity.easyDkim.tokens],
          zone: signingHostedZoneOf(identity.region),
          publicKey: identity.publicKey,
        });
      }
    }
    return identity.signingKey;
  }

  /** The exact address identity, else the closest verified parent domain identity. */
  private senderIdentity(region: string, address: string): Identity | undefined {
    const exact = this.identities.get(this.key(region, address.toLowerCase()));
    if (exact?.verifiedForSending) return exact;
    return this.domainIdentityFor(region, address) ?? exact;
  }

  private domainIdentityFor(region: string, address: string): Identity | undefined {
    const labels = (address.split("@")[1] ?? "").toLowerCase().split(".");
    for (let i = 0; i < labels.length - 1; i++) {
      const found = this.identities.get(this.key(region, labels.slice(i).join(".")));
      if (found?.type === "DOMAIN") return found;
    }
    return undefined;
  }

  view(region: string, name: string): IdentityView | undefined {
    const identity = this.identities.get(this.key(region, normalizeIdentity(name)));
    return identity ? toView(identity) : undefined;
  }

  views(region?: string): IdentityView[] {
    return [...this.identities.values()].filter((i) => !region || i.region === region).map(toView);
  }

  /** The public key SES signs with for an Easy DKIM identity (so a sandbox resolver can serve it). */
  async easyDkimPublicKey(region: string, name: string): Promise<string> {
    const identity = this.find(region, name);
    if (identity.origin !== "AWS_SES")
      throw new Error(`${name} in ${region} does not use Easy DKIM`);
    await this.signingKeyOf(identity);
    return identity.publicKey as string;
  }
}

function toView(i: Identity): IdentityView {
  return {
    region: i.region,
    identity: i.name,
    type: i.type,
    verifiedForSending: i.verifiedForSending,
    signingEnabled: i.signingEnabled,
    status: i.status,
    origin: i.origin,
    tokens: [...i.tokens],
    signingHostedZone: signingHostedZoneOf(i.region),
    ...(i.selector ? { selector: i.selector } : {}),
    ...(i.keyFormat ? { keyFormat: i.keyFormat } : {}),
    ...(i.publicKey ? { publicKey: i.publicKey } : {}),
    ...(i.keyBits ? { keyBits: i.keyBits } : {}),
    signingAttributesSetAt: i.signingAttributesSetAt,
    ...(i.nextCheckAt ? { nextCheckAt: i.nextCheckAt } : {}),
    ...(i.lastCheckedAt ? { lastCheckedAt: i.lastCheckedAt } : {}),
    ...(i.lastSuccessAt ? { lastSuccessAt: i.lastSuccessAt } : {}),
    ...(i.errorType ? { errorType: i.errorType } : {}),
    history: i.history.map((h) => ({ ...h })),
    ...(i.statusFault ? { statusFault: i.statusFault } : {}),
  };
}

function dkimAttributes(i: Identity): Record<string, unknown> {
  if (i.type !== "DOMAIN") return { SigningEnabled: false, Status: "NOT_STARTED", Tokens: [] };
  return {
    SigningEnabled: i.signingEnabled,
    Status: i.status,
    Tokens: i.tokens,
    SigningAttributesOrigin: i.origin,
    ...(i.origin === "AWS_SES"
      ? {
          CurrentSigningKeyLength: "RSA_2048_BIT",
          NextSigningKeyLength: "RSA_2048_BIT",
          LastKeyGenerationTimestamp: epochSeconds(i.signingAttributesSetAt),
        }
      : {}),
  };
}

/** Domains are case-insensitive (RFC 4343); keep the local part of an address as given. */
function normalizeIdentity(name: string): string {
  const at = name.lastIndexOf("@");
  return at < 0
    ? name.toLowerCase().replace(/\.$/, "")
    : `${name.slice(0, at)}@${name.slice(at + 1).toLowerCase()}`;
}

function parseTags(tags: unknown): { Key: string; Value: string }[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags)) throw badRequest("Tags must be a list.");
  return tags.map((t) => {
    if (!isRecord(t) || typeof t.Key !== "string" || typeof t.Value !== "string") {
      throw badRequest("Each tag needs a Key and a Value.");
    }
    return { Key: t.Key, Value: t.Value };
  });
}

/** The header block of an RFC 5322 message, unfolded. */
function headerBlock(raw: Buffer): Map<string, string> {
  const text = raw.toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  const block = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, " ");
  const headers = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}

function headerValue(headers: Map<string, string>, name: string): string | undefined {
  return headers.get(name);
}

function addressOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const angle = /<([^<>@\s]+@[^<>@\s]+)>/.exec(value);
  if (angle) return angle[1];
  const bare = /([^\s<>,;:"]+@[^\s<>,;:"]+)/.exec(value);
  return bare?.[1];
}

function splitAddresses(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(",")
    .map((part) => addressOf(part))
    .filter((a): a is string => Boolean(a));
}

function buildSimpleMessage(
  body: Record<string, unknown>,
  simple: Record<string, unknown>,
  now: Date,
): Buffer {
  const from = typeof body.FromEmailAddress === "string" ? body.FromEmailAddress : undefined;
  if (!from) throw badRequest("FromEmailAddress is required with Simple content.");
  const destination = isRecord(body.Destination) ? body.Destination : {};
  const list = (k: string) =>
    Array.isArray(destination[k]) ? (destination[k] as string[]).join(", ") : "";
  const subject =
    isRecord(simple.Subject) && typeof simple.Subject.Data === "string" ? simple.Subject.Data : "";
  const bodyPart = isRecord(simple.Body) ? simple.Body : {};
  const text =
    isRecord(bodyPart.Text) && typeof bodyPart.Text.Data === "string" ? bodyPart.Text.Data : "";
  const lines = [
    `From: ${from}`,
    list("ToAddresses") ? `To: ${list("ToAddresses")}` : "",
    list("CcAddresses") ? `Cc: ${list("CcAddresses")}` : "",
    `Subject: ${subject}`,
    `Date: ${now.toUTCString()}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: 8bit",
    // Message.Headers (SES v2): custom headers, one line each; no line breaks allowed.
    ...(Array.isArray(simple.Headers) ? simple.Headers : []).map((h: unknown) => {
      const name = isRecord(h) && typeof h.Name === "string" ? h.Name : "";
      const value = isRecord(h) && typeof h.Value === "string" ? h.Value : "";
      if (!/^[!-9;-~]{1,126}$/.test(name) || /[\r\n]/.test(value) || value.length > 870)
        throw badRequest(`Invalid message header: ${name}`);
      return `${name}: ${value}`;
    }),
  ].filter(Boolean);
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${text.replace(/\r?\n/g, "\r\n")}\r\n`, "utf8");
}
