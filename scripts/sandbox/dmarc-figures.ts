/**
 * The sandbox's figures from receivers' DMARC reports
 * (docs/design.md#dmarc-aggregate-reports): per rotation, the pass share of
 * the new and the old selector day by day around the activation, the alarms
 * the `reports` command raised and the reports it skipped.
 */
import { addDays } from "../../actions/dkim-rotation/src/engine/clock";
import { passFail, type ReportsRunReport } from "../../actions/dkim-rotation/src/engine/dmarc";
import {
  DEFAULT_MAX_REPORT_BYTES,
  type DmarcReportsConfig,
} from "../../actions/dkim-rotation/src/engine/config";
import { table, tallyCells, TALLY_HEADERS } from "../../actions/dkim-rotation/src/format";
import type { RotationRecord } from "./report";
import { SANDBOX_CANARY } from "./world";

/** The sandbox's report settings (the stack file it writes has none: its retirements stay as measured). */
export const SANDBOX_DMARC_REPORTS: DmarcReportsConfig = {
  // The canary's bucket and Region: the rua rule stores there (ruaReceivingProblem).
  bucket: SANDBOX_CANARY.bucket,
  prefix: "dmarc/",
  region: "us-east-1",
  ruaAddress: "dmarc-reports@proof.example.net",
  failureShareAlarm: 0.02,
  minMessages: 20,
  quietDays: 7,
  maxReportBytes: DEFAULT_MAX_REPORT_BYTES,
};

export interface DmarcFigures {
  reportsRead: number;
  skipped: string[];
  alarms: string[];
  /** The first rotation's aggregate-report table (text), as `dkim reports` prints it. */
  table: string;
  rotations: {
    domain: string;
    from?: string;
    to: string;
    activatedAt: string;
    /** Day → pass share of each selector that day ("97.5% of 40"). */
    days: { day: string; to?: string; from?: string }[];
  }[];
}

export function dmarcFigures(runs: ReportsRunReport[], rotations: RotationRecord[]): DmarcFigures {
  const tallies = runs.flatMap((r) => r.tallies);
  const share = (domain: string, selector: string | undefined, day: string) => {
    if (!selector) return undefined;
    let pass = 0;
    let fail = 0;
    for (const t of tallies)
      if (t.domain === domain && t.selector === selector && t.day === day) {
        const c = passFail(t.results);
        pass += c.pass;
        fail += c.fail;
      }
    return pass + fail
      ? `${((100 * pass) / (pass + fail)).toFixed(1)}% of ${pass + fail}`
      : undefined;
  };
  const out: DmarcFigures["rotations"] = [];
  for (const r of rotations) {
    if (!r.activatedAt) continue;
    const from = r.from && r.from !== "easy-dkim" ? r.from : undefined;
    const days: DmarcFigures["rotations"][number]["days"] = [];
    for (let i = -1; i <= 8; i++) {
      const day = addDays(new Date(r.activatedAt), i).toISOString().slice(0, 10);
      const to = share(r.domain, r.to, day);
      const old = share(r.domain, from, day);
      if (to || old) days.push({ day, ...(to ? { to } : {}), ...(old ? { from: old } : {}) });
    }
    out.push({
      domain: r.domain,
      ...(from ? { from } : {}),
      to: r.to,
      activatedAt: r.activatedAt,
      days,
    });
  }
  const first = out.find((r) => r.days.length);
  const firstTallies = first
    ? tallies.filter(
        (t) =>
          t.domain === first.domain &&
          (t.selector === first.to || t.selector === first.from) &&
          first.days.some((d) => d.day === t.day),
      )
    : [];
  return {
    reportsRead: runs.reduce((n, r) => n + r.read, 0),
    skipped: runs.flatMap((r) => r.skipped.map((s) => `${s.key}: ${s.why}`)),
    alarms: runs.flatMap((r) => r.alarms),
    table: table(TALLY_HEADERS, firstTallies.map(tallyCells)),
    rotations: out,
  };
}

export function renderDmarcFigures(f: DmarcFigures): string {
  return [
    `DMARC aggregate reports: ${f.reportsRead} read, ${f.skipped.length} skipped, ${f.alarms.length} alarm(s)`,
    ...f.rotations.flatMap((r) => [
      `  ${r.domain} ${r.from ?? "(Easy DKIM)"} → ${r.to} (activated ${r.activatedAt}): pass share per day`,
      ...r.days.map(
        (d) =>
          `    ${d.day}  ${r.to}: ${d.to ?? "-"}${r.from ? `  ${r.from}: ${d.from ?? "-"}` : ""}`,
      ),
    ]),
    ...(f.table
      ? ["  first rotation's reports:", ...f.table.split("\n").map((l) => `    ${l}`)]
      : []),
  ].join("\n");
}
