/**
 * RSA key material in the two encodings SES and DNS want.
 *
 * - SES `DomainSigningPrivateKey`: base64 of PKCS#1 DER (`MIIEo…`/`MIIEp…` for
 *   2048-bit), no PEM armour, no newlines. PKCS#8 (`MIIEv…`, OpenSSL 3's
 *   default) and re-base64'd PEM have been reported as accepted by the API and
 *   then never verifying, so we refuse them before any call.
 * - DNS `p=` (RFC 6376 §3.6.1): base64 of SubjectPublicKeyInfo DER
 *   (`MIIBIjANBgkq…`, 392 characters for 2048-bit). PKCS#1 public keys
 *   (`MIIBCgKC…`) are wrong there.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
} from "node:crypto";
import { promisify } from "node:util";

const generateKeyPairAsync = promisify(generateKeyPair);

/** SES's regex for `DomainSigningPrivateKey`, with its 1–20480 length bound. */
export const SES_PRIVATE_KEY_PATTERN = /^[a-zA-Z0-9+/]+={0,2}$/;
export const SES_PRIVATE_KEY_MAX = 20480;
export const SES_KEY_BITS = [1024, 2048] as const;
export type KeyBits = (typeof SES_KEY_BITS)[number];

export interface DkimKeyPair {
  /** base64 PKCS#1 DER, exactly what SES accepts. Secret: mask it at once. */
  sesPrivateKey: string;
  /** base64 SubjectPublicKeyInfo DER, the DNS `p=` value. */
  publicKey: string;
  bits: KeyBits;
  /** `sha256:<hex>` of the SPKI DER; safe to show anywhere. */
  fingerprint: string;
}

export class KeyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyFormatError";
  }
}

/**
 * Generate a key pair off the main thread (libuv pool), so a fleet can create
 * many keys concurrently. `onSecret` runs synchronously the moment the private
 * key exists, before anything else can log it (docs/design.md#invariant-4-key-material-stays-secret).
 */
export async function generateDkimKeyPair(
  bits: KeyBits,
  onSecret: (secret: string) => void = () => {},
): Promise<DkimKeyPair> {
  const { privateKey } = await generateKeyPairAsync("rsa", {
    modulusLength: bits,
    publicExponent: 0x10001,
  });
  const sesPrivateKey = privateKey.export({ type: "pkcs1", format: "der" }).toString("base64");
  onSecret(sesPrivateKey);
  return fromSesPrivateKey(sesPrivateKey);
}

/** Check a stored key against everything SES requires; return its parsed form. */
export function parseSesPrivateKey(sesPrivateKey: string): { key: KeyObject; bits: KeyBits } {
  if (sesPrivateKey.length < 1 || sesPrivateKey.length > SES_PRIVATE_KEY_MAX) {
    throw new KeyFormatError(
      `private key is ${sesPrivateKey.length} characters; SES accepts 1–${SES_PRIVATE_KEY_MAX}`,
    );
  }
  if (sesPrivateKey.includes("-----")) {
    throw new KeyFormatError("private key has PEM armour; SES wants bare base64 PKCS#1 DER");
  }
  if (!SES_PRIVATE_KEY_PATTERN.test(sesPrivateKey)) {
    throw new KeyFormatError(
      "private key is not a single base64 string (newlines or other characters present)",
    );
  }
  const der = Buffer.from(sesPrivateKey, "base64");
  if (der.toString("base64") !== sesPrivateKey) {
    throw new KeyFormatError("private key is not canonical base64");
  }
  if (der.subarray(0, 5).toString("ascii").startsWith("-----") || der[0] === 0x2d) {
    throw new KeyFormatError("private key is base64 of a PEM file; SES wants base64 PKCS#1 DER");
  }
  let key: KeyObject | undefined;
  try {
    key = createPrivateKey({ key: der, format: "der", type: "pkcs1" });
  } catch {
    key = undefined;
  }
  // OpenSSL 3 (Node ≥ 17) also decodes an RSA PKCS#8 key when asked for
  // PKCS#1, so a successful parse proves nothing. PKCS#1 DER is canonical:
  // re-exporting it gives back exactly the input bytes; PKCS#8 does not.
  const isPkcs1 =
    key?.asymmetricKeyType === "rsa" && key.export({ type: "pkcs1", format: "der" }).equals(der);
  if (!key || !isPkcs1) {
    // Distinguish PKCS#8, the classic silent failure.
    let pkcs8: KeyObject | undefined;
    try {
      pkcs8 = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    } catch {
      pkcs8 = undefined;
    }
    if (pkcs8?.asymmetricKeyType === "rsa") {
      throw new KeyFormatError("private key is PKCS#8 (MIIEv…); SES wants PKCS#1 (MIIEo…/MIIEp…)");
    }
    if (pkcs8) throw new KeyFormatError(`private key is ${pkcs8.asymmetricKeyType}, not RSA`);
    throw new KeyFormatError("private key is not an RSA PKCS#1 DER key");
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits !== 1024 && bits !== 2048) {
    throw new KeyFormatError(`private key is RSA-${bits}; SES accepts only 1024 or 2048 bits`);
  }
  return { key, bits };
}

/** Derive everything public from a stored SES private key (invariant 1 compares against this). */
export function fromSesPrivateKey(sesPrivateKey: string): DkimKeyPair {
  const { key, bits } = parseSesPrivateKey(sesPrivateKey);
  const publicKey = createPublicKey(key).export({ type: "spki", format: "der" }).toString("base64");
  return { sesPrivateKey, publicKey, bits, fingerprint: publicKeyFingerprint(publicKey) };
}

export function publicKeyFingerprint(spkiBase64: string): string {
  return `sha256:${createHash("sha256").update(Buffer.from(spkiBase64, "base64")).digest("hex")}`;
}

/** Parse a DNS `p=` value; return its size, or throw saying what is wrong with it. */
export function parseDnsPublicKey(p: string): { bits: number } {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(p)) throw new KeyFormatError("p= is not base64");
  const der = Buffer.from(p, "base64");
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch {
    try {
      createPublicKey({ key: der, format: "der", type: "pkcs1" });
      throw new KeyFormatError(
        "p= is a PKCS#1 RSAPublicKey (MIIBCgKC…); DNS wants SubjectPublicKeyInfo (MIIBIjANBgkq…)",
      );
    } catch (err) {
      if (err instanceof KeyFormatError) throw err;
      throw new KeyFormatError("p= is not an RSA SubjectPublicKeyInfo");
    }
  }
  if (key.asymmetricKeyType !== "rsa") throw new KeyFormatError("p= is not an RSA key");
  return { bits: key.asymmetricKeyDetails?.modulusLength ?? 0 };
}

/**
 * A PKCS#8 DER RSA private key (what KMS `Decrypt` returns for a data key
 * pair) as SES's `DomainSigningPrivateKey`: base64 PKCS#1 DER. `onSecret` runs
 * on the result before it is returned. The DER buffer is zeroed afterwards:
 * the only copy left is the string the caller holds for the swap.
 */
export function pkcs8DerToSesPrivateKey(
  der: Uint8Array,
  onSecret: (secret: string) => void = () => {},
): string {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  } catch {
    throw new KeyFormatError("decrypted key is not a PKCS#8 DER private key");
  } finally {
    der.fill?.(0);
  }
  if (key.asymmetricKeyType !== "rsa")
    throw new KeyFormatError(`decrypted key is ${key.asymmetricKeyType}, not RSA`);
  const pkcs1 = key.export({ type: "pkcs1", format: "der" });
  const sesPrivateKey = pkcs1.toString("base64");
  pkcs1.fill(0);
  onSecret(sesPrivateKey);
  parseSesPrivateKey(sesPrivateKey); // bits and shape, as for every key handed to SES
  return sesPrivateKey;
}

/**
 * An operator's key, as an adopted secret may hold it: base64 PKCS#1 DER (what
 * SES takes) or base64 PKCS#8 DER (also accepted by SES's current guide; sent
 * as PKCS#1 because PKCS#8 has been reported to verify never). Returns PKCS#1.
 */
export function operatorKeyToSesPrivateKey(
  value: string,
  onSecret: (secret: string) => void = () => {},
): string {
  try {
    parseSesPrivateKey(value);
    return value;
  } catch (err) {
    if (!(err instanceof KeyFormatError) || !/PKCS#8/.test(err.message)) throw err;
  }
  return pkcs8DerToSesPrivateKey(Buffer.from(value, "base64"), onSecret);
}

/** PEM form of a SES private key, for signing libraries that want PEM (sandbox only). */
export function sesPrivateKeyToPem(sesPrivateKey: string): string {
  return parseSesPrivateKey(sesPrivateKey).key.export({ type: "pkcs1", format: "pem" }).toString();
}
