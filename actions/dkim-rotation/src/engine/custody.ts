/**
 * Where a new key's private half comes from (docs/design.md#invariant-4-key-material-stays-secret).
 *
 * 2048-bit keys are made by KMS (`KeyStorePort.generate`): the plan job never
 * holds their plaintext. KMS has no RSA-1024 data key pairs, so a `keyBits:
 * 1024` identity keeps the runner-side generator: the one documented
 * exception, warned about on every plan (RFC 8301 §3.2: signers SHOULD use
 * keys of at least 2048 bits).
 */
import type { IdentityConfig } from "./config";
import { generateDkimKeyPair, parseDnsPublicKey } from "./keys";
import type { EngineContext } from "./engine-context";
import type { StoredKey } from "./ports";

/** The one warning a 1024-bit identity gets on every plan. */
export function localKeyWarning(identity: IdentityConfig): string | undefined {
  if (identity.keyBits !== 1024) return undefined;
  return `${identity.domain}: keyBits 1024 — KMS cannot make RSA-1024 keys, so this identity's keys are generated on the runner and the plan job holds their plaintext (the documented exception); RFC 8301 says signers SHOULD use 2048 bits`;
}

/** Generate and store the key for `selector`: through KMS, or locally for the 1024-bit exception. */
export async function storeNewKey(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
): Promise<{ key: StoredKey; created: boolean }> {
  const now = ctx.clock.now();
  if (identity.keyBits === 2048) {
    ctx.log.info(`${identity.domain}: KMS generates RSA-2048 key for ${selector}`);
    return ctx.keys.generate(identity.domain, selector, now);
  }
  ctx.log.info(
    `${identity.domain}: generating RSA-${identity.keyBits} key for ${selector} locally`,
  );
  const pair = await generateDkimKeyPair(identity.keyBits, ctx.onSecret);
  return ctx.keys.create(identity.domain, selector, pair, now, "local");
}

/**
 * Whether a key was ever recorded active by the activator (its `dkim:state`
 * and `dkim:activated-at`, which the planner's IAM cannot write), or was
 * adopted by an operator (`dkim:key-origin=operator`, which the planner's IAM
 * cannot set): docs/design.md#key-origins.
 */
function vouchedFor(key: StoredKey): boolean {
  return key.origin === "operator" || key.state !== "pending" || key.activatedAt !== undefined;
}

/**
 * Why a stored key may never be proposed or activated, or undefined when its
 * custody is what the pipeline makes (docs/design.md#key-origins). Only a
 * pending key is judged: a key the activator recorded active, or one an
 * operator adopted, is what SES signs or signed with. A pending key must be
 * the configured size, and either KMS-wrapped (its value checked by the key
 * store) or, for a 1024-bit identity only, made on the runner.
 */
export function custodyProblem(identity: IdentityConfig, key: StoredKey): string | undefined {
  if (vouchedFor(key) || key.deletionDate) return undefined;
  let bits: number;
  try {
    bits = parseDnsPublicKey(key.publicKey).bits;
  } catch (err) {
    return `the public key in its description is unusable (${(err as Error).message})`;
  }
  if (bits !== identity.keyBits)
    return `holds an RSA-${bits} key, but ${identity.domain} is configured for keyBits ${identity.keyBits}`;
  switch (key.origin) {
    case "local":
      return identity.keyBits === 1024
        ? undefined
        : `a plaintext key (dkim:key-origin=local) for a 2048-bit identity, whose keys only KMS makes`;
    case "kms":
      if (identity.keyBits !== 2048)
        return `tagged dkim:key-origin=kms, but KMS makes no RSA-1024 keys`;
      if (!key.valueCheck) return `its value was not checked (tagged dkim:key-origin=kms)`;
      return key.valueCheck.ok ? undefined : key.valueCheck.why;
    default:
      return `has no dkim:key-origin tag (the pipeline tags every key it stores)`;
  }
}

/**
 * Whether the activator may accept a plaintext value for this key: only an
 * adopted key, a key that has been active, or the 1024-bit exception. Anything
 * else must be KMS-wrapped and decrypt with its own `{domain, selector}`
 * (docs/design.md#key-origins).
 */
export function plaintextAllowed(identity: IdentityConfig, key: StoredKey): boolean {
  return vouchedFor(key) || (identity.keyBits === 1024 && key.origin === "local");
}

/** The keys as the engine trusts them: a pending key with a custody problem is refused and reported. */
export function judgeCustody(identity: IdentityConfig, keys: StoredKey[]): StoredKey[] {
  return keys.map((key) => {
    const why = custodyProblem(identity, key);
    if (!why) return key;
    const what = `refused (never proposed or activated): ${why}`;
    return { ...key, refused: why, tampering: [...(key.tampering ?? []), what] };
  });
}
