/**
 * DKIM TXT record files: `<record folder>/<domain>/<selector>.zone`; the
 * folder is `dns` unless the front end is given another (`--record-folder`,
 * the action's `record-folder` input; docs/design.md#record-folder).
 *
 * One resource record in BIND master-file syntax (RFC 1035 §5.1) with an
 * absolute owner, so the file can be `$INCLUDE`d into any zone. The value is
 * split into character-strings of at most 255 bytes (RFC 1035 §3.3.14;
 * RFC 6376 §3.6.2.2 says verifiers join them with no separator).
 */
import { InputError } from "./errors";
import { parseDnsPublicKey, publicKeyFingerprint, KeyFormatError } from "./keys";
import { isValidSelector } from "./selector";

export const TXT_STRING_MAX = 255;
export const RECORD_DIR = "dns";

export function recordPath(domain: string, selector: string, folder: string = RECORD_DIR): string {
  return `${folder}/${domain}/${selector}.zone`;
}

/** The record folder a loaded config carries (`dns` unless a front end set another). */
export function recordFolderOf(config: { recordFolder?: string }): string {
  return config.recordFolder ?? RECORD_DIR;
}

/**
 * Check a record folder given on the command line or as an action input: a
 * relative path inside the repository, in plain path segments (it is used in
 * git pathspecs, CODEOWNERS and workflow path filters). Returns it without a
 * trailing slash; throws InputError naming the flag or input.
 */
export function checkRecordFolder(value: string, source: { file: string; field: string }): string {
  const bad = (problem: string): never => {
    throw new InputError({
      ...source,
      problem,
      hint: "give a folder relative to the repository root, e.g. dns or dkim/records",
    });
  };
  const folder = value.replace(/\/+$/, "");
  if (!folder) bad("is empty");
  if (folder.length > 200) bad(`is ${folder.length} characters long (at most 200)`);
  if (folder.startsWith("/")) bad(`"${folder}" is absolute`);
  for (const segment of folder.split("/")) {
    if (segment === "" || segment === "." || segment === "..")
      bad(`"${folder}" has an empty, "." or ".." segment`);
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(segment))
      bad(`"${folder}" has a segment other than letters, digits, ".", "_" and "-"`);
    if (segment === ".git") bad(`"${folder}" is inside .git`);
  }
  return folder;
}

export function recordOwner(domain: string, selector: string): string {
  return `${selector}._domainkey.${domain}.`;
}

/** The record value per RFC 6376 §3.6.1. No `t=y`: testing mode is not for production. */
export function dkimRecordValue(publicKey: string): string {
  return `v=DKIM1; k=rsa; p=${publicKey}`;
}

/** Split a value into character-strings of at most `max` bytes (ASCII values only). */
export function splitTxt(value: string, max = TXT_STRING_MAX): string[] {
  if (max < 1 || max > TXT_STRING_MAX)
    throw new RangeError(`string size must be 1–${TXT_STRING_MAX}`);
  if (!/^[\x20-\x7e]*$/.test(value)) throw new RangeError("DKIM record values are printable ASCII");
  const out: string[] = [];
  for (let i = 0; i < value.length; i += max) out.push(value.slice(i, i + max));
  return out.length ? out : [""];
}

export interface RecordMeta {
  domain: string;
  selector: string;
  keyBits: number;
  fingerprint: string;
  createdAt: string;
  publishBy: string;
}

export interface RenderInput extends RecordMeta {
  publicKey: string;
  ttl: number;
  /** Authoritative nameservers to show in the `dig` lines (optional). */
  nameservers?: string[];
}

export function renderRecordFile(r: RenderInput): string {
  const owner = recordOwner(r.domain, r.selector);
  const strings = splitTxt(dkimRecordValue(r.publicKey));
  const ns = r.nameservers?.length ? r.nameservers : ["<authoritative-ns>"];
  const lines = [
    "; DKIM public key for Amazon SES (BYODKIM), written by ses-dkim-rotation.",
    "; Do not edit by hand: the key is checked against the one stored at generation time.",
    `; domain:      ${r.domain}`,
    `; selector:    ${r.selector}`,
    `; key-bits:    ${r.keyBits}`,
    `; fingerprint: ${r.fingerprint}`,
    `; created:     ${r.createdAt}`,
    `; publish-by:  ${r.publishBy}`,
    "; activation:  only after every authoritative nameserver serves exactly this key",
    ...ns.map((n) => `; check:       dig +short TXT ${owner.slice(0, -1)} @${n}`),
    `${owner} ${r.ttl} IN TXT (`,
    ...strings.map((s, i) => `    "${s}"${i === strings.length - 1 ? " )" : ""}`),
    "",
  ];
  return lines.join("\n");
}

export interface ParsedRecordFile {
  path: string;
  meta: Partial<RecordMeta>;
  owner: string;
  ttl: number;
  /** The character-strings as written, with the line each starts on. */
  strings: { text: string; bytes: number; line: number }[];
  /** The strings joined with no separator. */
  value: string;
  tags: Map<string, string>;
  /** Line of the resource record's owner name (for annotations). */
  line: number;
}

function fail(
  path: string,
  line: number,
  field: string,
  problem: string,
  hint?: string,
  identity?: string,
): never {
  throw new InputError({ file: `${path}:${line}`, identity, field, problem, hint });
}

/**
 * Parse a record file written by `renderRecordFile` (or by a person following
 * the same shape). Strict: one TXT record, absolute owner, quoted strings of
 * at most 255 bytes, DKIM tags valid. Errors name file:line and the field.
 */
export function parseRecordFile(text: string, path: string): ParsedRecordFile {
  const meta: Partial<RecordMeta> = {};
  const rawLines = text.split(/\r?\n/);
  const body: { text: string; line: number }[] = [];
  rawLines.forEach((raw, i) => {
    const line = i + 1;
    const header = /^;\s*([a-z-]+):\s*(.*?)\s*$/.exec(raw);
    if (header) {
      const [, key, value] = header;
      if (key === "domain") meta.domain = value;
      else if (key === "selector") meta.selector = value;
      else if (key === "key-bits") meta.keyBits = Number(value);
      else if (key === "fingerprint") meta.fingerprint = value;
      else if (key === "created") meta.createdAt = value;
      else if (key === "publish-by") meta.publishBy = value;
      return;
    }
    const stripped = stripComment(raw);
    if (stripped.trim()) body.push({ text: stripped, line });
  });
  const identity = meta.domain;
  // Master-file directives (RFC 1035 §5.1, BIND's $TTL from RFC 2308 §4): a
  // record file is $INCLUDEd into the DNS team's zone, where a directive would
  // change the TTL, origin or content of the records after it, beyond the one
  // record reviewers approved.
  for (const { text: lineText, line } of body) {
    const directive = /^\s*(\$[A-Za-z]*)/.exec(lineText)?.[1];
    if (!directive) continue;
    const name = directive.toUpperCase();
    const why: Record<string, string> = {
      $TTL: "would set the default TTL for every record after it in the including zone",
      $ORIGIN: "would change the origin of every relative name after it in the including zone",
      $INCLUDE: "would pull another file into the zone, unseen by the reviewers of this one",
      $GENERATE: "would generate records beyond the one reviewed",
    };
    fail(
      path,
      line,
      name,
      `directive is not allowed in a record file: it ${why[name] ?? "is not a resource record"}`,
      name === "$TTL"
        ? "remove the line; the record carries its own TTL (recordTtl)"
        : "remove the line; a record file holds one TXT record with an absolute owner",
      identity,
    );
  }
  if (!body.length) fail(path, 1, "record", "holds no resource record", undefined, identity);

  // Tokenise the record: bare words and quoted strings, across parentheses.
  const tokens: {
    kind: "word" | "string" | "open" | "close";
    text: string;
    line: number;
    bytes: number;
  }[] = [];
  for (const { text: lineText, line } of body) {
    let i = 0;
    while (i < lineText.length) {
      const c = lineText[i]!;
      if (c === " " || c === "\t") {
        i++;
      } else if (c === "(" || c === ")") {
        tokens.push({ kind: c === "(" ? "open" : "close", text: c, line, bytes: 0 });
        i++;
      } else if (c === '"') {
        let out = "";
        let bytes = 0;
        i++;
        let closed = false;
        while (i < lineText.length) {
          const d = lineText[i]!;
          if (d === "\\") {
            const dec = /^\\(\d{3})/.exec(lineText.slice(i));
            if (dec) {
              out += String.fromCharCode(Number(dec[1]));
              i += 4;
            } else {
              out += lineText[i + 1] ?? "";
              i += 2;
            }
            bytes++;
          } else if (d === '"') {
            closed = true;
            i++;
            break;
          } else {
            out += d;
            bytes += Buffer.byteLength(d);
            i++;
          }
        }
        if (!closed)
          fail(
            path,
            line,
            "TXT",
            "has an unterminated quoted string",
            "close every string on the line it starts",
            identity,
          );
        tokens.push({ kind: "string", text: out, line, bytes });
      } else {
        let j = i;
        while (j < lineText.length && !' \t()"'.includes(lineText[j]!)) j++;
        tokens.push({ kind: "word", text: lineText.slice(i, j), line, bytes: 0 });
        i = j;
      }
    }
  }
  const first = tokens[0]!;
  if (first.kind !== "word")
    fail(path, first.line, "owner", "record must start with the owner name", undefined, identity);
  const owner = first.text;
  let k = 1;
  let ttl = NaN;
  // RFC 1035 allows TTL and class in either order; we write TTL first.
  for (let n = 0; n < 2; n++) {
    const t = tokens[k];
    if (t?.kind === "word" && /^\d+$/.test(t.text)) {
      ttl = Number(t.text);
      k++;
    } else if (t?.kind === "word" && t.text.toUpperCase() === "IN") {
      k++;
    }
  }
  const type = tokens[k];
  if (type?.kind !== "word" || type.text.toUpperCase() !== "TXT") {
    fail(
      path,
      type?.line ?? first.line,
      "type",
      `is ${type?.text ?? "missing"}, not TXT`,
      "BYODKIM uses one TXT record, not CNAMEs (those are Easy DKIM)",
      identity,
    );
  }
  k++;
  if (Number.isNaN(ttl))
    fail(path, first.line, "ttl", "is missing", "write e.g. 3600 after the owner name", identity);
  const strings: ParsedRecordFile["strings"] = [];
  let depth = 0;
  for (; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === "open") depth++;
    else if (t.kind === "close") depth--;
    else if (t.kind === "string") strings.push({ text: t.text, bytes: t.bytes, line: t.line });
    else
      fail(
        path,
        t.line,
        "TXT",
        `has an unquoted word "${t.text}"`,
        "quote every piece of the value",
        identity,
      );
    if (depth < 0) fail(path, t.line, "TXT", "has an unbalanced ')'", undefined, identity);
  }
  if (depth !== 0)
    fail(path, tokens[tokens.length - 1]!.line, "TXT", "has an unclosed '('", undefined, identity);
  if (!strings.length) fail(path, first.line, "TXT", "has no value", undefined, identity);
  for (const s of strings) {
    if (s.bytes > TXT_STRING_MAX) {
      fail(
        path,
        s.line,
        "TXT",
        `has a ${s.bytes}-byte string; one TXT string holds at most ${TXT_STRING_MAX} bytes`,
        'split it into several quoted strings: ( "…" "…" )',
        identity,
      );
    }
  }
  if (!owner.endsWith(".")) {
    fail(
      path,
      first.line,
      "owner",
      `"${owner}" is relative`,
      "write the absolute name ending in a dot, e.g. sel._domainkey.example.jp.",
      identity,
    );
  }
  const value = strings.map((s) => s.text).join("");
  let tags: Map<string, string>;
  try {
    tags = parseDkimTags(value);
  } catch (err) {
    fail(path, strings[0]!.line, "TXT", (err as Error).message, undefined, identity);
  }
  return { path, meta, owner, ttl, strings, value, tags, line: first.line };
}

function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\") i++;
    else if (c === '"') inString = !inString;
    else if (c === ";" && !inString) return line.slice(0, i);
  }
  return line;
}

/**
 * Parse a DKIM key record's tag-list (RFC 6376 §3.2, §3.6.1). Whitespace
 * inside `p=` is folding whitespace and is removed. Throws on duplicate tags or
 * a `v=` that is present but not first or not `DKIM1`.
 */
export function parseDkimTags(value: string): Map<string, string> {
  const tags = new Map<string, string>();
  const parts = value.split(";");
  parts.forEach((part, index) => {
    if (!part.trim()) return;
    const eq = part.indexOf("=");
    if (eq < 0) throw new Error(`tag "${part.trim().slice(0, 20)}" has no '='`);
    const name = part.slice(0, eq).trim();
    let val = part.slice(eq + 1).trim();
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`tag name "${name}" is invalid`);
    if (tags.has(name)) throw new Error(`tag ${name}= appears twice`);
    if (name === "p") val = val.replace(/\s+/g, "");
    if (name === "v" && (index !== 0 || val !== "DKIM1"))
      throw new Error("v= must come first and be DKIM1");
    tags.set(name, val);
  });
  if (!tags.has("p")) throw new Error("has no p= tag");
  return tags;
}

export type RecordCheck =
  | { status: "ok" }
  | { status: "revoked"; detail: string }
  | { status: "mismatch"; tag: string; detail: string }
  | { status: "malformed"; detail: string };

/**
 * Compare a published (joined) record value with the public key we expect.
 * `expectedPublicKey` must come from the *stored private key* (invariant 1).
 */
export function checkRecordValue(value: string, expectedPublicKey: string): RecordCheck {
  let tags: Map<string, string>;
  try {
    tags = parseDkimTags(value);
  } catch (err) {
    return { status: "malformed", detail: (err as Error).message };
  }
  const k = tags.get("k") ?? "rsa";
  if (k !== "rsa") return { status: "mismatch", tag: "k", detail: `k=${k}, expected rsa` };
  const t = tags.get("t");
  if (
    t &&
    t
      .split(":")
      .map((f) => f.trim())
      .includes("y")
  ) {
    return {
      status: "mismatch",
      tag: "t",
      detail: "t=y (testing mode) must not be published for production",
    };
  }
  const h = tags.get("h");
  if (
    h &&
    !h
      .split(":")
      .map((x) => x.trim())
      .includes("sha256")
  ) {
    return { status: "mismatch", tag: "h", detail: `h=${h} excludes sha256, which SES signs with` };
  }
  const p = tags.get("p") ?? "";
  if (p === "")
    return { status: "revoked", detail: "p= is empty: the key is revoked (RFC 6376 §3.6.1)" };
  try {
    parseDnsPublicKey(p);
  } catch (err) {
    if (err instanceof KeyFormatError) return { status: "malformed", detail: err.message };
    throw err;
  }
  if (p !== expectedPublicKey) {
    return {
      status: "mismatch",
      tag: "p",
      detail: `p= is ${publicKeyFingerprint(p).slice(0, 19)}…, stored key is ${publicKeyFingerprint(expectedPublicKey).slice(0, 19)}…`,
    };
  }
  return { status: "ok" };
}

/** Validate a selector read from a file name or argument. */
export function assertSelector(
  selector: string,
  file: string,
  field: string,
  identity?: string,
): void {
  if (!isValidSelector(selector)) {
    throw new InputError({
      file,
      identity,
      field,
      problem: `"${selector}" is not a valid SES selector`,
      hint: "1–63 letters, digits and inner hyphens; no dots or underscores",
    });
  }
}
