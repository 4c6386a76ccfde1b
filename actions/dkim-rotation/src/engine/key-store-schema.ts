/**
 * The key store's schema as AWS sees it: secret tag keys and the KMS
 * encryption context of a wrapped key. One definition, read by the key store
 * adapter (adapters/secrets.ts, adapters/kms.ts) and by the IAM policies that
 * restrict them (infra/components/policies.ts).
 */
export const TAG_DOMAIN = "dkim:domain";
export const TAG_SELECTOR = "dkim:selector";
export const TAG_KEY_BITS = "dkim:key-bits";
export const TAG_FINGERPRINT = "dkim:fingerprint";
export const TAG_CREATED_AT = "dkim:created-at";
export const TAG_STATE = "dkim:state";
export const TAG_ACTIVATED_AT = "dkim:activated-at";
export const TAG_RETIRED_AT = "dkim:retired-at";
export const TAG_KEY_ORIGIN = "dkim:key-origin";
/**
 * The recovery window we asked for. Secrets Manager reports only when
 * DeleteSecret was called (DeletedDate), not when the purge happens, so we
 * record the window before deleting to compute the deletion date later.
 */
export const TAG_RECOVERY_DAYS = "dkim:recovery-days";

/**
 * The notifications already sent about this key, space-separated event names
 * (tag values allow letters, digits, spaces and `_ . : / = + - @`, at most 256
 * characters). The one tag the planner may write on an existing key, and
 * only this one (docs/design.md#notifications).
 */
export const TAG_NOTIFIED = "dkim:notified";

/**
 * The end (ISO 8601) of the newest DMARC aggregate report that counted mail
 * signed with this selector. Written only by the report job's role, and only
 * this tag and `dkim:notified` (docs/design.md#dmarc-aggregate-reports).
 */
export const TAG_REPORT_SEEN = "dkim:report-seen";

/**
 * How an activation recorded in `dkim:state` was proven. Absent on keys
 * activated the usual way (SES SUCCESS, then the canary when configured).
 * `unverified`: recorded active while SES had not verified it, after a second
 * try with no way back (docs/design.md#unproven-activation); the first
 * activate after SES SUCCESS proves it and writes `canary` (or `ses` where no
 * canary is configured). Written only by the activator, with `dkim:state`.
 */
export const TAG_PROOF = "dkim:proof";
export const PROOFS = ["unverified", "canary", "ses"] as const;
export type KeyProof = (typeof PROOFS)[number];

/** Tags set once, by CreateSecret (the planner's IAM allows exactly these, only at creation). */
export const CREATION_TAG_KEYS = [
  TAG_DOMAIN,
  TAG_SELECTOR,
  TAG_KEY_BITS,
  TAG_FINGERPRINT,
  TAG_CREATED_AT,
  TAG_STATE,
  TAG_KEY_ORIGIN,
];
/** Lifecycle tags only the activator writes (its IAM allows exactly these). */
export const LIFECYCLE_TAG_KEYS = [
  TAG_STATE,
  TAG_ACTIVATED_AT,
  TAG_RETIRED_AT,
  TAG_RECOVERY_DAYS,
  TAG_PROOF,
];

/** The encryption context keys every KMS-wrapped DKIM key is bound to. */
export const KEY_CONTEXT_KEYS = ["domain", "selector"];
