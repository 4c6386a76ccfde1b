/**
 * Errors that the front ends (CLI, action, sandbox) turn into one line.
 *
 * docs/design.md#invariant-6-bad-input-fails-early: bad input fails early, in one line that names the file,
 * the identity and the field, and nothing is written. `InputError` carries
 * exactly those parts so every front end formats them the same way.
 */
import { clipLongWords, redactUrlCredentials } from "./values";

export interface InputErrorParts {
  /** The file (or input source, e.g. `input:domain`, `argv`) that held the bad value. */
  file: string;
  /** The identity (domain) the value belongs to, when known. */
  identity?: string;
  /** The field name, dotted for nested fields (e.g. `identities[1].keyBits`). */
  field: string;
  /** What is wrong, in plain words. */
  problem: string;
  /** What to do about it. */
  hint?: string;
}

export class InputError extends Error {
  readonly parts: InputErrorParts;
  constructor(parts: InputErrorParts) {
    super(formatInputError(parts));
    this.name = "InputError";
    this.parts = parts;
  }
}

export function formatInputError(p: InputErrorParts): string {
  const where = [p.file, p.identity ? `identity ${p.identity}` : undefined, `field ${p.field}`]
    .filter(Boolean)
    .join(": ");
  const hint = p.hint ? ` (hint: ${p.hint})` : "";
  return clipLongWords(
    redactUrlCredentials(`${where}: ${p.problem}${hint}`.replace(/\s*\n\s*/g, " ")),
  );
}

/**
 * A refusal: the engine decided not to act because acting would break an
 * invariant (e.g. "DNS not verified on ns2"). Not a bug, not bad input; the
 * message says why and what would make it act.
 */
export class RefusalError extends Error {
  readonly identity: string;
  constructor(identity: string, message: string) {
    super(`${identity}: ${message}`.replace(/\s*\n\s*/g, " "));
    this.name = "RefusalError";
    this.identity = identity;
  }
}

/** Exit codes shared by the CLI and documented in README/docs. */
export const ExitCode = {
  ok: 0,
  /** Unexpected failure (network, AWS error after retries, bug). */
  failure: 1,
  /** Bad input: config, arguments, record files. Nothing was written. */
  badInput: 2,
  /** The engine refused to act (precondition not met). Safe to re-run later. */
  refused: 3,
  /** An activation failed and was rolled back. */
  rolledBack: 4,
  /** Another run holds the lock for this domain. */
  locked: 5,
} as const;

/** One short line for any thrown value; no stack trace, no 100 KB argument echoed back. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return clipLongWords(redactUrlCredentials(text.replace(/\s*\n\s*/g, " ")));
}
