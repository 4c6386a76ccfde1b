/**
 * Checks for raw values every front end reads (CLI flags, action inputs,
 * stack-file settings), in one place so each is judged the same way
 * (docs/design.md, invariant 6: bad input fails early, in one short line).
 *
 * Each check returns the problem in words (or the parsed value); the caller
 * wraps it in the error type of its front end, naming its own flag or input.
 */

/** Longest piece of a user's value quoted back in an error line. */
export const QUOTE_MAX = 60;

/**
 * Quote a user's value for an error line: JSON-escaped (control characters
 * and newlines stay on one line) and clipped, so a 100 KB argument still
 * gives a short line.
 */
export function quote(value: string, max = QUOTE_MAX): string {
  const q = JSON.stringify(value);
  if (q.length <= max + 2) return q;
  return `${q.slice(0, max + 1)}…" (${value.length} characters)`;
}

/** Shorten any run of more than `max` non-space characters (for messages built elsewhere). */
export function clipLongWords(text: string, max = 120): string {
  return text.replace(
    new RegExp(`\\S{${max + 1},}`, "g"),
    (w) => `${w.slice(0, max)}…(${w.length} characters)`,
  );
}

/**
 * Any `scheme://user:password@` in a message, with the user information
 * replaced by `***`: an endpoint echoed back in an error must not print the
 * password it carried (docs/design.md#invariant-6-bad-input-fails-early).
 */
export function redactUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/?#\s"'@]*@/gi, "$1***@");
}

export interface NumberRule {
  /** Whole numbers only. */
  integer?: boolean;
  /** Smallest allowed value (inclusive unless `minExclusive`). */
  min: number;
  minExclusive?: boolean;
  max: number;
  /** What the number is, for the message: "a number of years". */
  what: string;
}

/**
 * Read a number the way a person writes it: plain decimal digits with an
 * optional fraction. Refused, each with its own reason: signs, exponents,
 * hex, `Infinity`, `NaN`, a leading zero (`014` is 12 to YAML 1.1 and shells,
 * 14 to YAML 1.2 and JavaScript), integers beyond 2^53 (not exact), and
 * values outside the rule's range.
 */
export function readNumber(raw: string, rule: NumberRule): { value: number } | { problem: string } {
  const text = raw.trim();
  const range = `${rule.minExclusive ? "above" : "from"} ${rule.min} ${rule.minExclusive ? "and at most" : "to"} ${rule.max}`;
  const problem = (p: string) => ({ problem: `${p}; expected ${rule.what} ${range}` });
  if (text === "") return problem("is empty");
  if (/^-/.test(text)) return problem(`${quote(text)} is negative`);
  if (/^[+-]?(infinity|inf|nan)$/i.test(text))
    return problem(`${quote(text)} is not a finite number`);
  if (/^0[0-9]/.test(text))
    return problem(
      `${quote(text)} has a leading zero (octal in some readers, decimal in others); write ${String(Number(text.replace(/^0+(?=\d)/, "")))}`,
    );
  if (!/^\d+(\.\d+)?$/.test(text)) return problem(`${quote(text)} is not a plain decimal number`);
  const value = Number(text);
  if (rule.integer && !Number.isInteger(value))
    return problem(`${quote(text)} is not a whole number`);
  if (Number.isInteger(value) && !Number.isSafeInteger(value))
    return problem(`${quote(text)} is beyond 2^53 and cannot be held exactly`);
  if (rule.minExclusive ? !(value > rule.min) : !(value >= rule.min))
    return problem(`${quote(text)} is too small`);
  if (!(value <= rule.max)) return problem(`${quote(text)} is too large`);
  return { value };
}

/**
 * An AWS endpoint override: an http(s) URL with a host, and nothing a signed
 * request should not carry (credentials, a query, a fragment). Returns the
 * URL without a trailing slash.
 */
export function readEndpoint(raw: string): { url: URL; text: string } | { problem: string } {
  const shown = quote(redactUrlCredentials(raw));
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return { problem: `${shown} is not a URL` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return { problem: `${shown} is not an http or https URL` };
  if (url.username || url.password)
    return { problem: `${shown} must not carry credentials (user:password@)` };
  if (!url.hostname) return { problem: `${shown} has no host` };
  if (url.search || url.hash) return { problem: "must not carry a query or fragment" };
  return { url, text: url.toString().replace(/\/$/, "") };
}

/** SES's control-plane limit: 1 request/s per account and Region, not raisable (SES v2 quotas). */
export const SES_REQUESTS_PER_SECOND = 1;
/**
 * The slowest pacing accepted: one call every 10 s. Slower turns a fleet run
 * into days (1,000 identities need several calls each), and a slower rate
 * would soon overflow Node's 24.8-day timer, which then fires at once and
 * silently disables pacing.
 */
export const MIN_REQUESTS_PER_SECOND = 0.1;
/** The fastest pacing accepted, and only against an emulator (`--endpoint`). */
export const EMULATOR_MAX_REQUESTS_PER_SECOND = 1000;

/**
 * Why a pacing value cannot be used, or undefined when it can. Above SES's
 * limit is allowed only against an endpoint override (the emulator), since
 * real AWS throttles every call beyond 1/s and throttled calls still count.
 */
export function requestsPerSecondProblem(
  rate: number,
  opts: { endpoint?: string } = {},
): string | undefined {
  if (!Number.isFinite(rate)) return `${rate} is not a finite number`;
  if (rate < MIN_REQUESTS_PER_SECOND)
    return `${rate} is below ${MIN_REQUESTS_PER_SECOND} (one call per ${1 / MIN_REQUESTS_PER_SECOND} s); a fleet run would take days`;
  if (rate > EMULATOR_MAX_REQUESTS_PER_SECOND)
    return `${rate} is above ${EMULATOR_MAX_REQUESTS_PER_SECOND}`;
  if (rate > SES_REQUESTS_PER_SECOND && !opts.endpoint)
    return `${rate} is above SES's limit of ${SES_REQUESTS_PER_SECOND} request/s per account and Region, which AWS does not raise`;
  return undefined;
}
