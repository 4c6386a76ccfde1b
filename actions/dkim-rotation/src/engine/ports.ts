/**
 * Ports: what the engine needs from the outside world. Adapters implement
 * them and are each handed their client, so tests and the sandbox hand in
 * local ones (the AWS emulator, a loopback DNS server, a GitHub fake).
 */
import type { DkimKeyPair } from "./keys";
import type { KeyProof } from "./key-store-schema";

export type SesDkimStatus = "PENDING" | "SUCCESS" | "FAILED" | "TEMPORARY_FAILURE" | "NOT_STARTED";

/** One Region's view of one identity, from `GetEmailIdentity`. */
export interface SesIdentityState {
  region: string;
  domain: string;
  /** false when SES answered NotFoundException. */
  exists: boolean;
  signingEnabled: boolean;
  status?: SesDkimStatus;
  /** For BYODKIM, `[selector]`; for Easy DKIM, three tokens. */
  tokens: string[];
  /** `AWS_SES`, `EXTERNAL`, or `AWS_SES_<REGION>` (deterministic Easy DKIM). */
  origin?: string;
  /**
   * `DkimAttributes.SigningHostedZone`: Easy DKIM's CNAMEs point at
   * `<token>.<zone>` (docs/design.md#ses-signing-hosted-zone). Absent when SES
   * gave none: then nothing may assume a zone.
   */
  signingHostedZone?: string;
  lastCheckedAt?: Date;
  lastSuccessAt?: Date;
  errorType?: string;
}

export interface SesPort {
  getIdentity(region: string, domain: string): Promise<SesIdentityState>;
  /**
   * `PutEmailIdentityDkimSigningAttributes` with origin EXTERNAL. Switches
   * signing at once (the hazard): callers must have verified DNS first.
   */
  putExternalKey(
    region: string,
    domain: string,
    selector: string,
    sesPrivateKey: string,
  ): Promise<{ status?: SesDkimStatus; tokens: string[] }>;
  /**
   * `PutEmailIdentityDkimSigningAttributes` with origin AWS_SES: back to Easy
   * DKIM, the way back of a first BYODKIM switch that did not verify.
   */
  useEasyDkim(
    region: string,
    domain: string,
  ): Promise<{ status?: SesDkimStatus; tokens: string[] }>;
}

export type KeyState = "pending" | "active" | "retired";

/**
 * Where a stored key's private half came from, and so how the activator reads it:
 * - `kms`: made by KMS `GenerateDataKeyPairWithoutPlaintext`; stored wrapped,
 *   decrypted only by the activator (no plaintext ever in the plan job);
 * - `local`: made on the runner, stored as SES's base64 PKCS#1 (1024-bit keys,
 *   which KMS cannot make, and keys stored before KMS custody);
 * - `operator`: a key an operator brought (`adopt`), base64 PKCS#1 or PKCS#8.
 */
export type KeyOrigin = "kms" | "local" | "operator";

/** A key as the key store describes it, without the private part. */
export interface StoredKey {
  domain: string;
  selector: string;
  secretName: string;
  createdAt: Date;
  /** base64 SPKI, kept in the secret's description so the planner role can rebuild the record. */
  publicKey: string;
  keyBits: number;
  state: KeyState;
  activatedAt?: Date;
  /**
   * Its `dkim:proof` tag: `unverified` when recorded active before SES
   * verified it (docs/design.md#unproven-activation); absent on keys
   * activated the usual way.
   */
  proof?: KeyProof;
  retiredAt?: Date;
  /** Set when deletion is scheduled (recovery window running). */
  deletionDate?: Date;
  /** As the key's tag says (the value itself decides how it is read). */
  origin?: KeyOrigin;
  /**
   * Where the secret's tags contradict facts (its name, its creation date, its
   * public key): the key store used the facts; each entry says what differed.
   */
  tampering?: string[];
  /** Notifications already sent about this key (its `dkim:notified` tag). */
  notified?: string[];
  /**
   * The end of the newest DMARC aggregate report that counted a message
   * signed with this selector (its `dkim:report-seen` tag): the retirement
   * gate reads it without reading the reports (docs/design.md#dmarc-aggregate-reports).
   */
  reportSeenAt?: Date;
  /**
   * A pending key tagged `kms`: what reading its value showed (the shape of a
   * KMS-wrapped key bound to this name, or why not). The planner may read
   * exactly these values: ciphertext it cannot decrypt.
   */
  valueCheck?: { ok: true } | { ok: false; why: string };
  /**
   * Set by the engine (custody.ts) when a pending key's custody is not what
   * the pipeline makes: it is never proposed or activated.
   */
  refused?: string;
}

export interface KeyStorePort {
  /** Every key for the domain, including those scheduled for deletion (names are never reused). */
  list(domain: string): Promise<StoredKey[]>;
  /**
   * Every key of every domain, by domain, in one paginated listing (the
   * fleet-wide commands read the key store once per run, not once per
   * identity: docs/design.md#key-store-listing). A domain whose secrets
   * cannot be read maps to that error, raised only where that domain is
   * read, so one bad secret does not stop the others.
   */
  listAll(): Promise<Map<string, StoredKey[] | Error>>;
  /**
   * Have KMS make an RSA-2048 key pair and store it wrapped, in one
   * CreateSecret; this process never holds the private key. If the name is
   * taken, return what is there with `created: false` and do not touch it.
   */
  generate(
    domain: string,
    selector: string,
    createdAt: Date,
  ): Promise<{ key: StoredKey; created: boolean }>;
  /**
   * Store a key whose private half exists in plaintext here: `local` for the
   * documented 1024-bit exception, `operator` for an adopted key. One call
   * with its value (a stored key is immutable); an existing name is returned
   * with `created: false`, untouched.
   */
  create(
    domain: string,
    selector: string,
    pair: DkimKeyPair,
    createdAt: Date,
    origin?: Exclude<KeyOrigin, "kms">,
  ): Promise<{ key: StoredKey; created: boolean }>;
  /**
   * Read the private key as SES takes it (base64 PKCS#1 DER); a KMS-wrapped
   * key is decrypted with the context of its name. A plaintext value is
   * refused unless `accept.plaintext` (custody.ts `plaintextAllowed`). Only
   * the activator role can. The adapter masks it (onSecret) the moment it exists.
   */
  readPrivateKey(
    domain: string,
    selector: string,
    accept?: { plaintext: boolean },
  ): Promise<string>;
  /**
   * Record lifecycle timestamps and state as tags; `proof` goes in the same
   * call (an activation recorded before SES verified it says so at once).
   */
  markState(
    domain: string,
    selector: string,
    state: KeyState,
    at: Date,
    proof?: KeyProof,
  ): Promise<void>;
  /** Record how an activation recorded `unverified` was proven later (the activator's). */
  markProof(domain: string, selector: string, proof: KeyProof): Promise<void>;
  /**
   * Record the notifications sent about this key (the full list), in its
   * `dkim:notified` tag: the one tag the planner may write on an existing key.
   */
  markNotified(domain: string, selector: string, events: string[]): Promise<void>;
  /**
   * Record when reports last saw this selector (`dkim:report-seen`, the
   * report job's one tag). Callers pass only a later date than the tag holds.
   * Absent in key stores that keep no such tag: the job then says so.
   */
  markReportSeen?(domain: string, selector: string, at: Date): Promise<void>;
  /** Schedule deletion with a recovery window (≥ 7 days, docs/design.md#secrets-manager-recovery-window). */
  scheduleDeletion(domain: string, selector: string, recoveryDays: number): Promise<Date>;
}

/** `error`: the server answered with an error RCODE (REFUSED, SERVFAIL…), named in `detail`. */
export type NameserverCheckStatus =
  "ok" | "missing" | "mismatch" | "malformed" | "unreachable" | "error" | "revoked";

export interface NameserverCheck {
  /** What we asked: `ns1.example.jp (192.0.2.1:53)` or `127.0.0.1:5300`. */
  server: string;
  status: NameserverCheckStatus;
  /** Human-readable: which tag differs, NXDOMAIN vs NODATA, the error code… */
  detail: string;
  /** The joined value served, when there was one. */
  value?: string;
}

export interface DnsVerification {
  domain: string;
  selector: string;
  /** true only if every authoritative server answered ok. */
  ok: boolean;
  servers: NameserverCheck[];
  checkedAt: Date;
}

export interface DnsPort {
  /** The authoritative nameservers to query (configured, or discovered from NS). */
  nameservers(domain: string, configured?: string[]): Promise<string[]>;
  verify(
    domain: string,
    selector: string,
    expectedPublicKey: string,
    configured?: string[],
  ): Promise<DnsVerification>;
  /**
   * Whether every authoritative nameserver serves each Easy DKIM CNAME
   * (`name` → `target`, as SES asked: easy-dkim.ts derives them from
   * SigningHostedZone): the way back to Easy DKIM exists only while they do.
   * `selector` in the result is the first token.
   */
  verifyEasyDkim(
    domain: string,
    cnames: readonly { token: string; name: string; target: string }[],
    configured?: string[],
  ): Promise<DnsVerification>;
}

/** A record file as it is on the main branch. */
export interface RecordOnMain {
  domain: string;
  selector: string;
  path: string;
  publicKey: string;
  keyBits: number;
  /** When it reached main (commit time), if known. */
  mergedAt?: Date;
}

/** Where record changes go: a GitHub PR (action), the working tree (CLI), a fake (sandbox). */
/**
 * What proposing a change did: a PR (the action, `number`/`url`), or with
 * `file` set, only a file written to (or removed from) a local working tree:
 * no PR exists and nothing is on main until someone commits it and a PR merges.
 */
export interface ProposedChange {
  number?: number;
  url?: string;
  created: boolean;
  file?: string;
}

/** One record file to propose, with its own one-record PR text. */
export interface RecordChange {
  domain: string;
  selector: string;
  path: string;
  content: string;
  title: string;
  body: string;
}

export interface ChangeRequestPort {
  /** Open or update the rotation PR adding `path`. Idempotent per domain. */
  proposeRecord(change: RecordChange): Promise<ProposedChange>;
  /** Open or update the retirement PR removing `path`. Idempotent per domain and selector. */
  proposeRemoval(change: {
    domain: string;
    selector: string;
    path: string;
    title: string;
    body: string;
  }): Promise<ProposedChange>;
  /**
   * Propose several new records, up to `perPr` in one PR (records-per-pr,
   * docs/design.md#bulk-onboarding). A record already in an open PR is
   * refreshed or left as proposeRecord would; the rest go out in groups of
   * `perPr`, each PR's text from `text`. Keyed by domain: each record's PR,
   * or the error that stopped it. Absent: the engine proposes one by one.
   */
  proposeRecords?(
    changes: RecordChange[],
    perPr: number,
    text: (group: RecordChange[]) => { title: string; body: string },
  ): Promise<Map<string, ProposedChange | Error>>;
  /** The open change for this domain, if any. */
  findOpen(
    domain: string,
  ): Promise<{ number?: number; selector: string; kind: "rotation" | "retirement" } | undefined>;
}

/** One datum; `selector` adds the Selector dimension, `at` its timestamp (a report's day). */
export interface MetricDatum {
  name: string;
  domain: string;
  value: number;
  unit?: "Count" | "None";
  selector?: string;
  at?: Date;
}

/** Metrics the CloudWatch alarms watch. */
export interface MetricsPort {
  publish(metrics: MetricDatum[]): Promise<void>;
}

/**
 * Puts a selector's TXT record into DNS itself (`publisher: rfc2136 | route53`)
 * once its record file is on main: the DNS reviewers' merge is the approval.
 * The DNS-first gate still verifies every authoritative nameserver afterwards
 * (docs/design.md#invariant-1-no-swap-without-dns).
 */
export interface DnsPublisherPort {
  /** `rfc2136` or `route53`, for messages. */
  readonly kind: string;
  /**
   * Make `<selector>._domainkey.<domain>` hold exactly one TXT record made of
   * `strings` (each at most 255 bytes, RFC 1035 §3.3), replacing what is
   * there in one atomic change, and return once the provider reports it
   * live (Route 53: `GetChange` INSYNC). Re-running with the same value is a
   * no-op that succeeds.
   */
  publish(req: {
    domain: string;
    selector: string;
    strings: string[];
    ttl: number;
  }): Promise<{ detail: string }>;
  /**
   * Delete every TXT record at `<selector>._domainkey.<domain>`. A name that
   * holds none already is success with `acted: false`.
   */
  remove(req: { domain: string; selector: string }): Promise<{ acted: boolean; detail: string }>;
}

/** Who a notification is for; each maps to subscriptions in infra/ (SNS filter policies). */
export type NotificationAudience = "dns-team" | "escalation" | "approvers";

/** One message to people, sent through SNS `Publish`. */
export interface Notification {
  /** The event, e.g. `pr-opened`, `reminder-7`; also the ledger entry. */
  event: string;
  domain: string;
  selector: string;
  audience: NotificationAudience[];
  /** SNS `Subject`: ASCII, no line breaks, under 100 characters. */
  subject: string;
  message: string;
}

export interface NotifierPort {
  send(n: Notification): Promise<{ messageId: string }>;
}

/**
 * The canary's mail path (docs/design.md#canary): SES v2 SendEmail from the
 * identity in a Region, and the S3 prefix SES receiving stores raw mail under.
 */
export interface CanaryPort {
  /** Send one plain-text message from `from`; returns SES's MessageId. */
  send(
    region: string,
    message: {
      from: string;
      to: string;
      subject: string;
      headers: Record<string, string>;
      text: string;
    },
  ): Promise<string>;
  /** Every key under `prefix` (all pages). */
  list(bucket: string, prefix: string): Promise<string[]>;
  /** The object's bytes, or undefined when it is gone. */
  get(bucket: string, key: string): Promise<Buffer | undefined>;
  remove(bucket: string, key: string): Promise<void>;
}
