/**
 * Reading the stack file from disk: the one piece of configuration I/O. The
 * engine validates the text (`parseStackFile`, engine/config.ts); this module
 * turns a missing or unreadable file into the same one-line error.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  DEFAULT_CONFIG_FILE,
  parseStackFile,
  projectNameFrom,
  type ProjectConfig,
  type StackFileOptions,
} from "./engine/config";
import { InputError } from "./engine/errors";

/** Load and validate a Pulumi stack file. Throws `InputError` on any problem. */
export function loadConfig(
  file: string = DEFAULT_CONFIG_FILE,
  project?: string,
  opts: StackFileOptions = {},
): ProjectConfig {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError({
      file,
      field: "(file)",
      problem:
        code === "ENOENT"
          ? "does not exist"
          : code === "EISDIR"
            ? "is a directory, not a stack file"
            : `cannot be read (${code ?? "error"})`,
      hint: opts.fileHint ?? "pass --config FILE, or run from the repository root",
    });
  }
  return parseStackFile(stackFileText(bytes, file), file, project ?? projectNameFor(file), opts);
}

/**
 * A stack file is a few KB for a few domains, but about 1.5 MB for the
 * 10,000 identities the daily plan is sized for (docs/design.md#plan-ses-reads):
 * 8 MiB leaves room for 50,000 such entries; anything larger is the wrong file
 * (or an attack on the parser).
 */
const MAX_STACK_FILE_BYTES = 8 * 1024 * 1024;

/**
 * The text of a stack file: UTF-8 (decoded strictly: a stray Latin-1 byte
 * would otherwise become U+FFFD in a value), at most 8 MiB, a BOM dropped.
 */
function stackFileText(bytes: Buffer, file: string): string {
  const bad = (problem: string, hint: string) =>
    new InputError({ file, field: "(file)", problem, hint });
  if (bytes.length > MAX_STACK_FILE_BYTES)
    throw bad(
      `is ${bytes.length} bytes; a stack file is at most ${MAX_STACK_FILE_BYTES} (about 150 bytes an identity)`,
      "pass the Pulumi stack file (Pulumi.<stack>.yaml) with --config",
    );
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw bad(
      `is not UTF-8 text (an invalid byte sequence on line ${bytes.subarray(0, at).toString("latin1").split("\n").length})`,
      "save the file as UTF-8 (e.g. iconv -f SHIFT_JIS -t UTF-8)",
    );
  }
}

/** Where UTF-8 decoding first fails: the end of the longest prefix that decodes (or may yet). */
function firstInvalidUtf8(bytes: Buffer): number {
  let lo = 0;
  let hi = bytes.length;
  // The longest valid prefix, by bisection (a prefix may end mid-character: stream mode allows it).
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  return lo;
}

/** The project name from the `Pulumi.yaml` beside the stack file (none: the default). */
function projectNameFor(file: string): string {
  const pulumiYaml = join(dirname(file), "Pulumi.yaml");
  return projectNameFrom(() => {
    try {
      return readFileSync(pulumiYaml, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }, pulumiYaml);
}
