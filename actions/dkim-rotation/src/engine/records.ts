/**
 * Record files as they are on the main branch (the checkout), and the checks
 * the DNS-review workflow runs on them without any AWS access.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { IdentityConfig, ProjectConfig } from "./config";
import { InputError } from "./errors";
import { parseDnsPublicKey, publicKeyFingerprint, KeyFormatError } from "./keys";
import type { RecordOnMain } from "./ports";
import { parseRecordFile, recordOwner, RECORD_DIR, type ParsedRecordFile } from "./record";
import { isValidSelector } from "./selector";

const execFileAsync = promisify(execFile);

export interface RecordSource {
  read(domain: string): Promise<RecordOnMain[]>;
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
function parseFor(text: string, rel: string, domain: string): ParsedRecordFile {
  try {
    return parseRecordFile(text, rel);
  } catch (err) {
    if (err instanceof InputError && !err.parts.identity)
      throw new InputError({ ...err.parts, identity: domain });
    throw err;
  }
}

/**
 * Reads `dns/<domain>/*.zone` from a checkout; commit times from git when
 * available. Git history is read once per instance (one run of the CLI or the
 * action): create a new instance after the checkout moves.
 */
export class RepoRecords implements RecordSource {
  constructor(
    private readonly repoDir: string,
    private readonly config: ProjectConfig,
    private readonly mergedAt: (path: string) => Promise<Date | undefined> = gitMergeTimes(repoDir),
  ) {}

  async read(domain: string): Promise<RecordOnMain[]> {
    const identity = this.config.identities.find((i) => i.domain === domain);
    if (!identity) return [];
    const dir = join(this.repoDir, RECORD_DIR, domain);
    if (!existsSync(dir)) return [];
    const out: RecordOnMain[] = [];
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith(".zone")) continue;
      const rel = `${RECORD_DIR}/${domain}/${name}`;
      const parsed = parseFor(readFileSync(join(this.repoDir, rel), "utf8"), rel, domain);
      const record = validateRecordFile(parsed, identity);
      record.mergedAt = await this.mergedAt(rel);
      out.push(record);
    }
    return out;
  }
}

/** Every record file in the checkout, validated; used by `check-records`. */
export function checkAllRecords(
  repoDir: string,
  config: ProjectConfig,
): { records: RecordOnMain[]; errors: InputError[] } {
  const records: RecordOnMain[] = [];
  const errors: InputError[] = [];
  const root = join(repoDir, RECORD_DIR);
  if (!existsSync(root)) return { records, errors };
  for (const domain of readdirSync(root).sort()) {
    const dir = join(root, domain);
    const identity = config.identities.find((i) => i.domain === domain);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // a plain file such as dns/README.md
    }
    for (const name of names.sort()) {
      const rel = `${RECORD_DIR}/${domain}/${name}`;
      if (!name.endsWith(".zone")) continue;
      try {
        if (!identity) {
          throw new InputError({
            file: `${rel}:1`,
            identity: domain,
            field: "domain",
            problem: `is not an identity in ${config.file}`,
            hint: "add the identity to the stack file first, or move the file",
          });
        }
        records.push(
          validateRecordFile(
            parseFor(readFileSync(join(repoDir, rel), "utf8"), rel, domain),
            identity,
          ),
        );
      } catch (err) {
        if (err instanceof InputError) errors.push(err);
        else throw err;
      }
    }
  }
  return { records, errors };
}

/**
 * The time each file under `dns/` last changed on the checked-out branch,
 * from ONE `git log` (newest first, so a file's first appearance is its last
 * change). One git process per record file cost ~2,000 processes per run at
 * 1,000 identities, each walking history (docs/benchmarks.md).
 *
 * A shallow clone (actions/checkout's default `fetch-depth: 1`) shows every
 * file as added by the boundary commit, which would make every record look
 * freshly merged and hide an overdue publication. Files first seen in a
 * boundary commit therefore get no time (the planner then counts from the
 * key's creation, which is earlier: the overdue alert fires sooner, never later).
 */
export function gitMergeTimes(repoDir: string): (path: string) => Promise<Date | undefined> {
  let times: Promise<Map<string, Date>> | undefined;
  const load = async (): Promise<Map<string, Date>> => {
    const map = new Map<string, Date>();
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync(
        "git",
        ["log", "--format=%x01%H %cI", "--name-only", "--no-renames", "--", RECORD_DIR],
        { cwd: repoDir, maxBuffer: 256 * 1024 * 1024 },
      ));
    } catch {
      return map; // not a git checkout, or no commits yet: merge times unknown
    }
    const shallowFile = join(repoDir, ".git", "shallow");
    const boundary = new Set(
      existsSync(shallowFile) ? readFileSync(shallowFile, "utf8").split("\n").filter(Boolean) : [],
    );
    let current: Date | undefined;
    const seen = new Set<string>();
    for (const line of stdout.split("\n")) {
      if (line.startsWith("\x01")) {
        const [hash, time] = line.slice(1).split(" ");
        current = boundary.has(hash!) ? undefined : new Date(time!);
      } else if (line && !seen.has(line)) {
        seen.add(line);
        if (current) map.set(line, current);
      }
    }
    return map;
  };
  return async (path) => (await (times ??= load())).get(path);
}
