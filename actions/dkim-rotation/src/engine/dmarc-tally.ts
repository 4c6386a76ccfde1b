/**
 * A selector's tally of DMARC aggregate report results, and its pass/fail
 * split: what the job summary formats (format.ts) without the report parser
 * (engine/dmarc-report.ts, with fast-xml-parser and fflate), which only
 * `reports` loads (docs/design.md#action-bundle).
 */
import type { DkimResult } from "./dmarc-report";

/** Messages per (domain, selector, report day), by DKIM result. */
export interface SelectorTally {
  domain: string;
  selector: string;
  /** UTC day the report's date range begins. */
  day: string;
  begin: Date;
  end: Date;
  results: Partial<Record<DkimResult, number>>;
  reports: number;
}

/** pass, and everything a verifier tried that did not pass (`none` is no signature: not counted). */
export function passFail(results: Partial<Record<DkimResult, number>>): {
  pass: number;
  fail: number;
} {
  let pass = 0;
  let fail = 0;
  for (const [r, n] of Object.entries(results)) {
    if (r === "pass") pass += n;
    else if (r !== "none") fail += n;
  }
  return { pass, fail };
}
