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
import { generateDkimKeyPair } from "./keys";
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
