/**
 * Record files as the engine reads them: the source port, and the checks on
 * one parsed file against its identity. Reading them from a checkout (and
 * their merge times from git) is the repo-records adapter's work.
 */
import type { IdentityConfig } from "./config";
import { InputError } from "./errors";
import { parseDnsPublicKey, publicKeyFingerprint, KeyFormatError } from "./keys";
import type { RecordOnMain } from "./ports";
import { parseRecordFile, recordOwner, type ParsedRecordFile } from "./record";
import { isValidSelector } from "./selector";

export interface RecordSource {
  /**
   * The domain's records on main. `mergeTimesFor`: the selectors whose merge
   * time is wanted (the planner needs it only for a pending key's record, to
   * count days awaiting publication); every record's when absent.
   */
  read(domain: string, options?: { mergeTimesFor?: ReadonlySet<string> }): Promise<RecordOnMain[]>;
}

/**
 * Check one parsed record file against its identity: file name, owner,
 * selector, key size and the fingerprint written at generation time.
 * Throws InputError naming file:line, identity and field.
 */
export function validateRecordFile(
  parsed: ParsedRecordFile,
  identity: IdentityConfig,
): RecordOnMain {
  const domain = identity.domain;
  const fileSelector = parsed.path
    .split("/")
    .pop()!
    .replace(/\.zone$/, "");
  const at = (line: number) => `${parsed.path}:${line}`;
  if (!isValidSelector(fileSelector)) {
    throw new InputError({
      file: at(1),
      identity: domain,
      field: "selector",
      problem: `file name "${fileSelector}" is not a valid SES selector`,
      hint: "name the file <selector>.zone; selectors are letters, digits and inner hyphens",
    });
  }
  if (parsed.meta.selector && parsed.meta.selector !== fileSelector) {
    throw new InputError({
      file: at(1),
      identity: domain,
      field: "selector",
      problem: `header says ${parsed.meta.selector} but the file is ${fileSelector}.zone`,
    });
  }
  const owner = recordOwner(domain, fileSelector);
  if (parsed.owner.toLowerCase() !== owner.toLowerCase()) {
    throw new InputError({
      file: at(parsed.line),
      identity: domain,
      field: "owner",
      problem: `is ${parsed.owner}, expected ${owner}`,
      hint: "the owner must be <selector>._domainkey.<domain>. with the trailing dot",
    });
  }
  const p = parsed.tags.get("p") ?? "";
  const line = parsed.strings[0]?.line ?? parsed.line;
  let bits: number;
  try {
    bits = parseDnsPublicKey(p).bits;
  } catch (err) {
    if (!(err instanceof KeyFormatError)) throw err;
    throw new InputError({ file: at(line), identity: domain, field: "p", problem: err.message });
  }
  if (bits !== identity.keyBits) {
    throw new InputError({
      file: at(line),
      identity: domain,
      field: "p",
      problem: `is an RSA-${bits} key; the identity is configured for ${identity.keyBits}`,
    });
  }
  if (parsed.meta.keyBits !== undefined && parsed.meta.keyBits !== bits) {
    throw new InputError({
      file: at(1),
      identity: domain,
      field: "key-bits",
      problem: `header says ${parsed.meta.keyBits} but p= is RSA-${bits}`,
    });
  }
  const fingerprint = publicKeyFingerprint(p);
  if (parsed.meta.fingerprint && parsed.meta.fingerprint !== fingerprint) {
    throw new InputError({
      file: at(line),
      identity: domain,
      field: "p",
      problem: `does not match the fingerprint recorded at generation (${parsed.meta.fingerprint.slice(0, 19)}…)`,
      hint: "the key in a record file must never be edited; regenerate instead",
    });
  }
  const t = parsed.tags.get("t");
  if (
    t &&
    t
      .split(":")
      .map((x) => x.trim())
      .includes("y")
  ) {
    throw new InputError({
      file: at(line),
      identity: domain,
      field: "t",
      problem: "t=y (testing) must not be published",
    });
  }
  return { domain, selector: fileSelector, path: parsed.path, publicKey: p, keyBits: bits };
}

/**
 * Parse a record file of `domain`'s directory. A syntax error (a string over
 * 255 bytes, a CNAME, an unterminated quote) is found before the identity is
 * known to the parser; add it, so the one-line error names the file, the
 * identity and the field (docs/design.md#invariant-6-bad-input-fails-early).
 */
export function parseFor(text: string, rel: string, domain: string): ParsedRecordFile {
  try {
    return parseRecordFile(text, rel);
  } catch (err) {
    if (err instanceof InputError && !err.parts.identity)
      throw new InputError({ ...err.parts, identity: domain });
    throw err;
  }
}

/** Two record files carrying one public key: a copy under a new selector is never a new key. */
export function duplicateKeyError(record: RecordOnMain, first: RecordOnMain): InputError {
  return new InputError({
    file: record.path,
    identity: record.domain,
    field: "p",
    problem: `is the same public key as ${first.path}`,
    hint: "every selector needs its own key; remove the copy and let the next plan run generate one",
  });
}
