/**
 * The job summary every run writes: one table of identities and, for an
 * activation, a timeline of what happened (DNS check per server, swap per
 * Region, SES polls). Plain data in, GitHub-flavoured Markdown out, so the
 * CLI can print the same tables and tests can read them.
 *
 * Nothing secret goes in here: the inputs are selectors, statuses and dates.
 */
import type { SelectorTally } from "./engine/dmarc";
import { TALLY_HEADERS, tallyCells } from "./format";
import * as core from "@actions/core";
import type { StatusRow } from "./format";
import { rotationGantt, type RotationGanttInput } from "./gantt";
import type { ProjectConfig } from "./engine/config";
import { productionProofOff } from "./engine/canary-config";

/**
 * One identity's row: the engine's status row without the long reason and
 * alerts (those go in the notes list), so the CLI and the summary agree.
 */
export type IdentitySummaryRow = Omit<StatusRow, "reason" | "alerts">;

export interface TimelineEvent {
  at: Date;
  /** `dns ns1.example.jp`, `swap ap-northeast-1`, `poll ap-northeast-1`, `rollback ap-northeast-1`. */
  step: string;
  detail: string;
  ok: boolean;
}

export interface JobSummary {
  title: string;
  /** One line under the title, e.g. the command and whether it was a dry run. */
  intro?: string;
  /** Whether activations are proven by a canary (docs/design.md#canary); activate jobs say so. */
  proof?: string;
  identities: IdentitySummaryRow[];
  /** Each identity's rotation in flight: its plan and progress as a Mermaid gantt chart. */
  rotations?: RotationGanttInput[];
  /** Per-domain timelines of an activation or rollback. */
  timelines?: { domain: string; selector: string; events: TimelineEvent[] }[];
  /** Extra lines (refusals, PR links) shown as a list. */
  notes?: string[];
  /** The `reports` command's counts per (domain, selector, day) (docs/design.md#dmarc-aggregate-reports). */
  selectorReports?: SelectorTally[];
}

/** Escape a table cell: pipes split cells, newlines end rows, `<` could open HTML. */
export function cell(text: string): string {
  return text
    .replace(/\\/g, "\\\\")
    .replace(/\|/g, "\\|")
    .replace(/</g, "&lt;")
    .replace(/\r?\n/g, " ")
    .trim();
}

function table(header: string[], rows: string[][]): string {
  const out = [`| ${header.map(cell).join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const r of rows) out.push(`| ${r.map(cell).join(" | ")} |`);
  return out.join("\n");
}

function statusMark(status: string | undefined): string {
  if (!status) return "–";
  if (status === "SUCCESS") return "✅ SUCCESS";
  if (status === "PENDING") return "⏳ PENDING";
  if (status === "FAILED" || status === "TEMPORARY_FAILURE") return `❌ ${status}`;
  return status;
}

function days(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? "–" : String(Math.floor(n));
}

function expiry(n: number | undefined, alertDays = 30): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  const d = Math.floor(n);
  if (d < 0) return `❌ ${d} (expired)`;
  if (d < alertDays) return `⚠️ ${d}`;
  return String(d);
}

/**
 * The identity table. SES status gets one column per Region that any
 * identity uses, so a multi-Region identity whose Regions disagree shows it
 * at a glance.
 */
export function identityTableMarkdown(
  rows: IdentitySummaryRow[],
  opts: { alertDays?: number } = {},
): string {
  if (!rows.length) return "_No identities._";
  const regions = [...new Set(rows.flatMap((r) => Object.keys(r.sesStatus)))].sort();
  const header = [
    "Domain",
    "Active selector",
    ...regions.map((r) => `SES ${r}`),
    "Key age (days)",
    "Days to expiry",
    "Next step",
  ];
  const body = rows.map((r) => [
    r.domain,
    r.activeSelector ?? "–",
    ...regions.map((region) => (region in r.sesStatus ? statusMark(r.sesStatus[region]) : "n/a")),
    days(r.keyAgeDays),
    expiry(r.daysToExpiry, opts.alertDays),
    r.nextStep,
  ]);
  return table(header, body);
}

/** An activation's timeline, oldest first, with the offset from the first event. */
export function timelineMarkdown(events: TimelineEvent[]): string {
  if (!events.length) return "_No events._";
  const sorted = [...events].sort((a, b) => a.at.getTime() - b.at.getTime());
  const t0 = sorted[0]!.at.getTime();
  return table(
    ["Time (UTC)", "+s", "Step", "Result", "Detail"],
    sorted.map((e) => [
      e.at
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d{3}Z$/, "Z"),
      String(Math.round((e.at.getTime() - t0) / 1000)),
      e.step,
      e.ok ? "✅" : "❌",
      e.detail,
    ]),
  );
}

/** The canary in one line, or that production proof is off (docs/design.md#canary). */
export function proofLine(config: ProjectConfig): string {
  const c = config.canary;
  return c
    ? `on: each Region's swap is proven by a canary from ${c.localPart}@<domain> to ${c.address}, read from s3://${c.bucket}/${c.prefix} in ${c.region} within ${c.windowMinutes} min`
    : productionProofOff(config);
}

/** The whole summary as Markdown. */
export function renderJobSummary(s: JobSummary, opts: { alertDays?: number } = {}): string {
  const parts = [`## ${s.title}`, ""];
  if (s.intro) parts.push(s.intro, "");
  if (s.proof) parts.push(`**Production proof:** ${s.proof}`, "");
  parts.push("### Identities", "", identityTableMarkdown(s.identities, opts), "");
  for (const r of s.rotations ?? [])
    parts.push(`### Rotation: ${r.domain} → ${r.selector}`, "", rotationGantt(r), "");
  for (const t of s.timelines ?? []) {
    parts.push(`### Timeline: ${t.domain} → ${t.selector}`, "", timelineMarkdown(t.events), "");
  }
  if (s.selectorReports?.length) {
    parts.push(
      "### DMARC aggregate reports per selector",
      "",
      table(TALLY_HEADERS, s.selectorReports.map(tallyCells)),
      "",
    );
  }
  if (s.notes?.length) {
    parts.push("### Notes", "", ...s.notes.map((n) => `- ${n.replace(/\r?\n/g, " ")}`), "");
  }
  return parts.join("\n");
}

/**
 * Append the summary to the job's step summary (`$GITHUB_STEP_SUMMARY`).
 * Outside Actions (no such variable) it does nothing and returns the Markdown,
 * so the CLI can print it instead.
 */
export async function writeJobSummary(
  s: JobSummary,
  opts: { alertDays?: number } = {},
): Promise<string> {
  const md = renderJobSummary(s, opts);
  if (process.env.GITHUB_STEP_SUMMARY) {
    await core.summary.addRaw(md, true).write();
  }
  return md;
}
