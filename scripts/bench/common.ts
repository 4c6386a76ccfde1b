/**
 * Pieces every benchmark section shares: statistics, the machine
 * description, progress lines (stderr, so `--json` stays one document on
 * stdout) and the plain-text table renderer.
 */
import { cpus, loadavg, totalmem, platform, release } from "node:os";
import { readFileSync } from "node:fs";
import { ProgressLine } from "../progress";

/** Dummy SigV4 credentials: the emulator checks the header's shape, never a secret. */
export const BENCH_CREDENTIALS = {
  accessKeyId: "AKIABENCHEXAMPLE0000",
  secretAccessKey: "bench-secret-access-key-not-real",
};

/** The stack file's project prefix (no Pulumi.yaml beside the bench's stack files). */
export const PROJECT = "ses-dkim-rotation";

export function median(values: number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export function round(value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  platform: string;
  /** 1-, 5- and 15-minute load averages when the run started: other work skews the figures. */
  loadAverage: number[];
}

/** CPU model from /proc/cpuinfo (falls back to os.cpus()). */
export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // not Linux: os.cpus() is what we have
  }
  return {
    cpuModel,
    cores: cpus().length,
    ramGiB: round(totalmem() / 1024 ** 3, 1),
    node: process.version,
    platform: `${platform()} ${release()}`,
    loadAverage: loadavg().map((l) => round(l, 2)),
  };
}

/** Progress goes to stderr: stdout carries the table or the one JSON document. */
let progressLine = new ProgressLine(process.stderr, { json: false });

/** Set once from the options: quiet with `--json`, in CI and when stderr is not a terminal. */
export function configureProgress(o: { json: boolean }): void {
  progressLine = new ProgressLine(process.stderr, o);
}

/** The bench's progress line (scripts/progress.ts); a lazy `line` is built only when shown. */
export function progress(line: string | (() => string)): void {
  progressLine.update(() => `bench: ${typeof line === "string" ? line : line()}`);
}

/** Remove the progress line before results or errors are printed. */
export function clearProgress(): void {
  progressLine.clear();
}

/** Fixed-width text table; numbers right-aligned. */
export function table(
  headers: string[],
  rows: (string | number | boolean | undefined)[][],
): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? "-" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const numeric = headers.map((_, i) =>
    cells.every((r) => /^-?[\d.,]+( ?[a-zA-Z%×/]+)?$|^-$/.test(r[i] ?? "-")),
  );
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join(
    "\n",
  );
}

// One bounded-concurrency helper for the engine and the bench.
export { mapLimit } from "../../actions/dkim-rotation/src/engine/map-limit";

export interface Goal {
  section: string;
  name: string;
  goal: string;
  value: string;
  met: boolean;
  /**
   * A correctness property (one read per identity, no throttle surfaced, DNS
   * verified, no failed signature) rather than a timing on this machine: a
   * miss makes the bench exit 1, so CI's smoke run catches it.
   */
  invariant?: boolean;
}
