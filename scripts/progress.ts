/**
 * Progress on long work (the sandbox, the bench): one line on stderr,
 * rewritten in place, at most every `intervalMs`, and only for a person at a
 * terminal. Quiet when stderr is not a terminal (a log or a pipe would keep
 * every rewrite), when `CI` is set (CI runners' logs; GitHub Actions sets
 * `CI=true`), and with `--json` (stdout is one document; nothing else
 * appears). docs/design.md#progress
 */

export interface ProgressStream {
  isTTY?: boolean;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  json: boolean;
  env?: NodeJS.ProcessEnv;
  /** Least time between two rewrites (default 250 ms). */
  intervalMs?: number;
  now?: () => number;
}

/** Whether a person is watching `stream`: a terminal, not CI, not `--json`. */
export function showsProgress(stream: ProgressStream, o: ProgressOptions): boolean {
  const ci = (o.env ?? process.env).CI;
  const inCi = ci !== undefined && ci !== "" && ci !== "false" && ci !== "0";
  return stream.isTTY === true && !inCi && !o.json;
}

/** Clear to the end of the line (ECMA-48 EL). */
const CLEAR = "\r\x1b[K";

export class ProgressLine {
  readonly enabled: boolean;
  private last = -Infinity;
  private shown = false;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly stream: ProgressStream,
    o: ProgressOptions,
  ) {
    this.enabled = showsProgress(stream, o);
    this.intervalMs = o.intervalMs ?? 250;
    this.now = o.now ?? Date.now;
  }

  /** Rewrite the line, unless the last rewrite was under `intervalMs` ago; `text` is built only when shown. */
  update(text: string | (() => string)): void {
    if (!this.enabled) return;
    const t = this.now();
    if (t - this.last < this.intervalMs) return;
    this.last = t;
    this.shown = true;
    this.stream.write(`${CLEAR}${typeof text === "string" ? text : text()}`);
  }

  /** Remove the line (before the result is printed). */
  clear(): void {
    if (!this.shown) return;
    this.shown = false;
    this.stream.write(CLEAR);
  }
}

/** `2027-03-14, 18% of 2 years` for a simulated instant between `start` and `end`. */
export function simulatedProgress(now: Date, start: Date, end: Date, years: number): string {
  const share = Math.min(
    1,
    Math.max(0, (now.getTime() - start.getTime()) / (end.getTime() - start.getTime())),
  );
  return `${now.toISOString().slice(0, 10)}, ${Math.floor(share * 100)}% of ${years} year${years === 1 ? "" : "s"}`;
}
