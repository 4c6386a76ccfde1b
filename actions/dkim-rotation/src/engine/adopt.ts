/**
 * `adopt`: take over a BYODKIM key this repository did not make (the seed
 * documents' production domain signs with a hand-made key kept in SSM
 * Parameter Store). Run once, by an operator with their own AWS credentials.
 *
 * It refuses unless the key is provably the one in use: the public key derived
 * from it is what EVERY authoritative nameserver serves for the selector, and
 * SES signs with that selector in EVERY configured Region. Then it stores the
 * key, normalised to what SES takes (base64 PKCS#1 DER), immutably, as the
 * active key with the activation date the operator gives (never SES's
 * LastSuccessTimestamp, which moves on every re-check), and writes the
 * selector's record file so the record is on main like any other.
 *
 * Every check runs before the first write (invariant 6); every write is
 * idempotent, so a re-run after a crash at any point converges (invariant 5).
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { isoDate } from "./clock";
import { InputError, RefusalError } from "./errors";
import { fromSesPrivateKey, publicKeyFingerprint, type DkimKeyPair } from "./keys";
import { regionSigning } from "./lifecycle";
import { findIdentity, type EngineContext } from "./engine-context";
import { summarizeDns } from "./snapshot";
import { recordFolderOf, recordPath, renderRecordFile } from "./record";
import { isValidSelector } from "./selector";

/** Where the legacy private key comes from: a file, or an SSM SecureString. */
export interface LegacyKeySource {
  /** `file key.pem`, `ssm:/mail/dkim/gooid-21-prod`: named in every message. */
  label: string;
  /** The key text (PEM or base64). Throws InputError naming the source when it cannot be read. */
  read(): Promise<string>;
}

export interface AdoptRequest {
  domain: string;
  selector: string;
  /** When the key started signing, as the operator knows it (ISO date or date-time). */
  activatedAt: string;
  source: LegacyKeySource;
  dryRun?: boolean;
}

export interface AdoptReport {
  domain: string;
  selector: string;
  activatedAt: string;
  fingerprint: string;
  keyBits: number;
  steps: {
    step: "store-key" | "record-activation" | "write-record";
    acted: boolean;
    detail: string;
  }[];
  message: string;
}

/**
 * Normalise a legacy key to SES's form. Accepts PKCS#1 or PKCS#8, PEM or
 * base64 DER, RSA 1024/2048 (SES's sizes); refuses anything else in one line.
 */
export function normaliseLegacyKey(text: string, where: string, domain: string): DkimKeyPair {
  const bad = (problem: string, hint?: string): never => {
    throw new InputError({
      file: where,
      identity: domain,
      field: "private key",
      problem,
      ...(hint ? { hint } : {}),
    });
  };
  const trimmed = text.trim();
  let key: KeyObject | undefined;
  if (trimmed.startsWith("-----BEGIN")) {
    try {
      key = createPrivateKey({ key: trimmed, format: "pem" });
    } catch {
      bad(
        "is PEM but not a readable private key",
        "an unencrypted RSA PRIVATE KEY or PRIVATE KEY block",
      );
    }
  } else {
    const b64 = trimmed.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) bad("is neither PEM nor base64");
    const der = Buffer.from(b64, "base64");
    for (const type of ["pkcs1", "pkcs8"] as const) {
      try {
        key = createPrivateKey({ key: der, format: "der", type });
        break;
      } catch {
        key = undefined;
      }
    }
    if (!key) bad("is base64 but not a PKCS#1 or PKCS#8 private key");
  }
  if (key!.asymmetricKeyType !== "rsa")
    bad(`is a ${key!.asymmetricKeyType} key; DKIM keys for SES are RSA`);
  const bits = key!.asymmetricKeyDetails?.modulusLength;
  if (bits !== 1024 && bits !== 2048)
    bad(
      `is RSA-${bits}; SES accepts only 1024 or 2048 bits`,
      "SES cannot sign with this key, so it cannot be the one in use",
    );
  return fromSesPrivateKey(key!.export({ type: "pkcs1", format: "der" }).toString("base64"));
}

function parseActivatedAt(value: string, domain: string, now: Date): Date {
  const at = /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z)?$/.test(value) ? new Date(value) : new Date(NaN);
  if (Number.isNaN(at.getTime()))
    throw new InputError({
      file: "argv",
      identity: domain,
      field: "--activated-at",
      problem: `"${value.slice(0, 40)}" is not a date`,
      hint: "YYYY-MM-DD or an ISO time in UTC, the day the key started signing",
    });
  if (at > now)
    throw new InputError({
      file: "argv",
      identity: domain,
      field: "--activated-at",
      problem: `${value} is in the future`,
      hint: "the day the key started signing",
    });
  return at;
}

export async function runAdopt(ctx: EngineContext, req: AdoptRequest): Promise<AdoptReport> {
  const identity = findIdentity(ctx.config, req.domain);
  const { domain, selector } = req;
  if (!isValidSelector(selector))
    throw new InputError({
      file: "argv",
      identity: domain,
      field: "--selector",
      problem: `"${selector.slice(0, 70)}" is not a valid SES selector`,
      hint: "1–63 letters, digits or inner hyphens",
    });
  const activatedAt = parseActivatedAt(req.activatedAt, domain, ctx.clock.now());
  const refuse = (why: string): never => {
    throw new RefusalError(domain, `adopt ${selector} refused: ${why}`);
  };

  // 1. The key, normalised (nothing is written if it is unusable).
  const text = await req.source.read();
  ctx.onSecret(text);
  const pair = normaliseLegacyKey(text, req.source.label, domain);
  ctx.onSecret(pair.sesPrivateKey);

  // 2. SES signs with this selector in every configured Region.
  const [keys, ses] = await Promise.all([
    ctx.keys.list(domain),
    Promise.all(identity.regions.map((region) => ctx.ses.getIdentity(region, domain))),
  ]);
  const differs: string[] = [];
  for (const s of ses) {
    if (!s.exists) {
      differs.push(`${s.region}: no SES identity`);
      continue;
    }
    const on = regionSigning(s, []);
    // Empty Tokens (the developer guide's own BYODKIM example) cannot name
    // another selector; DNS below still proves the key is the served one.
    if (on.kind === "byodkim" && on.selector !== selector)
      differs.push(`${s.region}: signs with ${on.selector}`);
    else if (on.kind === "easy-dkim") differs.push(`${s.region}: uses Easy DKIM (${on.origin})`);
    else if (s.status !== "SUCCESS" && s.status !== "TEMPORARY_FAILURE")
      differs.push(`${s.region}: DKIM status ${s.status}`);
  }
  if (differs.length)
    refuse(
      `SES does not sign with ${selector} everywhere (${differs.join("; ")}); adopt only the key SES uses in every Region`,
    );

  // 3. Every authoritative nameserver serves exactly this public key.
  const dns = await ctx.dns.verify(domain, selector, pair.publicKey, identity.nameservers);
  if (!dns.ok)
    refuse(
      `the key from ${req.source.label} is not what DNS serves for ${selector}._domainkey.${domain}: ${summarizeDns(dns)}`,
    );

  // 4. The key store: the same key may already be there (a re-run), never another one.
  const existing = keys.find((k) => k.selector === selector);
  if (existing && existing.publicKey !== pair.publicKey)
    refuse(
      `the key store already holds a different key for ${selector} (${publicKeyFingerprint(existing.publicKey).slice(0, 19)}…); a stored key is never replaced`,
    );
  if (existing?.deletionDate) refuse(`the stored key for ${selector} is scheduled for deletion`);

  const steps: AdoptReport["steps"] = [];
  const path = recordPath(domain, selector, recordFolderOf(ctx.config));
  const nameservers = await ctx.dns.nameservers(domain, identity.nameservers).catch(() => []);
  const recordFileText = renderRecordFile({
    domain,
    selector,
    keyBits: pair.bits,
    fingerprint: pair.fingerprint,
    createdAt: activatedAt.toISOString(),
    publishBy: isoDate(activatedAt),
    publicKey: pair.publicKey,
    ttl: identity.recordTtl,
    nameservers,
  });
  const base = {
    domain,
    selector,
    activatedAt: activatedAt.toISOString(),
    fingerprint: pair.fingerprint,
    keyBits: pair.bits,
  };
  if (req.dryRun) {
    return {
      ...base,
      steps: [
        {
          step: "store-key",
          acted: false,
          detail: existing ? "already stored" : `would store ${selector} as the active key`,
        },
        {
          step: "record-activation",
          acted: false,
          detail: `would record activation ${activatedAt.toISOString()}`,
        },
        { step: "write-record", acted: false, detail: `would write ${path}` },
      ],
      message: `${domain}: ${selector} can be adopted (DNS and SES agree); nothing written (--dry-run)`,
    };
  }

  // Stored now (the key store dates a key by its secret's creation); its
  // activation date is the operator's, recorded next.
  const { created } = existing
    ? { created: false }
    : await ctx.keys.create(domain, selector, pair, ctx.clock.now(), "operator");
  steps.push({
    step: "store-key",
    acted: created,
    detail: created ? `stored ${selector} (immutable)` : `${selector} already stored`,
  });
  const recorded =
    existing?.state === "active" && existing.activatedAt?.getTime() === activatedAt.getTime();
  if (!recorded) await ctx.keys.markState(domain, selector, "active", activatedAt);
  steps.push({
    step: "record-activation",
    acted: !recorded,
    detail: `active since ${activatedAt.toISOString()}`,
  });
  const pr = await ctx.changes.proposeRecord({
    domain,
    selector,
    path,
    content: recordFileText,
    title: `DKIM adoption: ${domain} ${selector}`,
    body: `Record file for ${selector}._domainkey.${domain}, which SES already signs with (adopted; DNS unchanged).`,
  });
  steps.push({
    step: "write-record",
    acted: pr.created,
    detail: `${path}${pr.number ? ` (#${pr.number})` : ""}`,
  });
  return {
    ...base,
    steps,
    message: `${domain}: adopted ${selector} (RSA-${pair.bits}, active since ${isoDate(activatedAt)}); commit ${path} to main`,
  };
}
