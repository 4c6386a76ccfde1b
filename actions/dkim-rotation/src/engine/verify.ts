/** `verify`: one selector checked on every authoritative nameserver. */
import { RefusalError } from "./errors";
import { fromSesPrivateKey } from "./keys";
import type { DnsVerification } from "./ports";
import { recordFolderOf, recordPath } from "./record";
import { type EngineContext, findIdentity, readKey } from "./engine-context";

/** `verify`: DNS check of one selector on every authoritative nameserver. */
export async function runVerify(
  ctx: EngineContext,
  domain: string,
  selector: string,
  keySource: "stored" | "record",
): Promise<DnsVerification & { keySource: string }> {
  const identity = findIdentity(ctx.config, domain);
  let publicKey: string;
  if (keySource === "stored") {
    const key = (await ctx.keys.list(domain)).find((k) => k.selector === selector);
    if (!key) {
      throw new RefusalError(domain, `no stored key for ${selector}; nothing to verify against`);
    }
    publicKey = fromSesPrivateKey(await readKey(ctx, identity, key)).publicKey;
  } else {
    const record = (await ctx.records.read(domain)).find((r) => r.selector === selector);
    if (!record)
      throw new RefusalError(
        domain,
        `${recordPath(domain, selector, recordFolderOf(ctx.config))} is not on main`,
      );
    publicKey = record.publicKey;
  }
  const v = await ctx.dns.verify(domain, selector, publicKey, identity.nameservers);
  return { ...v, keySource };
}
