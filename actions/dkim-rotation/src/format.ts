/**
 * Plain-text renderings shared by the CLI and the action's log output, and
 * the CLI's record PR text. Presentation lives here, outside the engine: the
 * engine returns facts and reports, front ends decide how they read.
 */
import { isoDate } from "./engine/clock";
import type { ChangeText } from "./engine/engine-context";
import { describeRollback } from "./engine/lifecycle";
import type { PlanOutcome } from "./engine/plan";
import type { DnsVerification } from "./engine/ports";
import type { ReportsRunReport } from "./engine/dmarc";
import { passFail, type SelectorTally } from "./engine/dmarc-tally";
import { recordOwner } from "./engine/record";
import type { RetireReport } from "./engine/retire";
import { type IdentitySnapshot, type SesReads, describeSesReads } from "./engine/snapshot";
import type { SwapReport } from "./engine/swap";

/** A fixed-width table; the last column may run long. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export interface StatusRow {
  domain: string;
  activeSelector?: string;
  /** SES DKIM status per Region, e.g. `{ "ap-northeast-1": "SUCCESS" }`. */
  sesStatus: Record<string, string>;
  keyAgeDays?: number;
  daysToExpiry?: number;
  /** What happens next, and when: `idle until 2027-10-23`, `ready to activate mail-20261122`. */
  nextStep: string;
  reason: string;
  alerts: string[];
}

export function statusRows(snapshots: IdentitySnapshot[]): StatusRow[] {
  return snapshots.map((s) => ({
    domain: s.identity.domain,
    activeSelector: s.decision.activeSelector,
    sesStatus: Object.fromEntries(
      s.ses.map((r) => [r.region, r.exists ? (r.status ?? "NOT_STARTED") : "MISSING"]),
    ),
    keyAgeDays: s.decision.keyAgeDays,
    daysToExpiry: s.decision.daysToExpiry,
    nextStep: nextStepText(s),
    reason: s.decision.reason,
    alerts: s.decision.alerts.map((a) => `${a.kind}: ${a.message}`),
  }));
}

function nextStepText(s: IdentitySnapshot): string {
  const d = s.decision;
  switch (d.kind) {
    case "idle":
      return `idle until ${d.notBefore ? isoDate(d.notBefore) : "?"}`;
    case "rotate":
      return "rotate now";
    case "await-approval":
      return `awaiting DNS approval (${d.selector})`;
    case "await-publication":
      return `awaiting publication (${d.selector}, ${d.pendingPublicationDays ?? 0} d)`;
    case "activate":
      return `ready to activate ${d.selector}`;
    case "retire":
      return `retire ${d.selector} (${d.retireStep})`;
    case "alert":
      return `ALERT`;
  }
}

export function renderStatus(snapshots: IdentitySnapshot[]): string {
  const rows = statusRows(snapshots);
  const text = table(
    ["DOMAIN", "ACTIVE", "SES", "AGE", "EXPIRES IN", "NEXT STEP"],
    rows.map((r) => [
      r.domain,
      r.activeSelector ?? "-",
      Object.entries(r.sesStatus)
        .map(([region, st]) => `${region}=${st}`)
        .join(","),
      r.keyAgeDays === undefined ? "-" : `${r.keyAgeDays}d`,
      r.daysToExpiry === undefined ? "-" : `${r.daysToExpiry}d`,
      r.nextStep,
    ]),
  );
  const notes = rows.flatMap((r) => [
    `  ${r.domain}: ${r.reason}`,
    ...r.alerts.map((a) => `  ${r.domain}: ALERT ${a}`),
  ]);
  return `${text}\n\n${notes.join("\n")}`;
}

export function renderPlan(outcomes: PlanOutcome[], sesReads?: SesReads): string {
  return [
    ...outcomes.map(
      (o) =>
        `${o.domain}: ${o.decision.kind} — ${o.error ? `FAILED: ${o.error}` : o.action}\n  why: ${o.decision.reason}`,
    ),
    // Only for the whole fleet: a named domain is always read.
    ...(sesReads && !sesReads.named ? [describeSesReads(sesReads)] : []),
  ].join("\n");
}

export function renderVerification(v: DnsVerification): string {
  const head = `${v.selector}._domainkey.${v.domain}: ${v.ok ? "verified on every authoritative nameserver" : "NOT verified"}`;
  return [
    head,
    ...v.servers.map(
      (s) => `  ${s.server}: ${s.status}${s.status === "ok" ? "" : ` — ${s.detail}`}`,
    ),
  ].join("\n");
}

export function renderSwap(r: SwapReport): string {
  return [
    r.message,
    ...r.timeline.map(
      (e) => `  ${e.at.toISOString()}  ${e.ok ? "ok  " : "FAIL"}  ${e.step.padEnd(12)} ${e.detail}`,
    ),
  ].join("\n");
}

export function renderRetire(r: RetireReport): string {
  return [
    `${r.domain}: retire ${r.selector}`,
    ...r.steps.map((s) => `  ${s.step}: ${s.acted ? "done" : "no action"} — ${s.detail}`),
  ].join("\n");
}

/** One tally's cells: domain, selector, day, pass, fail, pass share, reports (text and Markdown alike). */
export function tallyCells(t: SelectorTally): string[] {
  const { pass, fail } = passFail(t.results);
  const share = pass + fail ? `${((100 * pass) / (pass + fail)).toFixed(1)}%` : "-";
  return [t.domain, t.selector, t.day, `${pass}`, `${fail}`, share, `${t.reports}`];
}

export const TALLY_HEADERS = ["domain", "selector", "day", "pass", "fail", "pass share", "reports"];

/** Receivers' aggregate reports per (domain, selector, day): pass, fail and the pass share. */
export function renderTallies(tallies: SelectorTally[]): string {
  return table(TALLY_HEADERS, tallies.map(tallyCells));
}

/** The `reports` command: the table, then skips, notes and alarms, one line each. */
export function renderReports(r: ReportsRunReport): string {
  if (!r.on) return r.notes.join("\n");
  return [
    `${r.read} report(s) read, ${r.skipped.length} skipped`,
    ...(r.tallies.length ? [renderTallies(r.tallies)] : []),
    ...r.skipped.map((s) => `skipped ${s.key}: ${s.why}`),
    ...r.notes,
    ...r.alarms,
  ].join("\n");
}

/** The CLI's record PR text (the action renders Markdown: pr-body.ts). */
export const plainChangeText: ChangeText = {
  rotation: (i) => ({
    title: `DKIM rotation: ${i.identity.domain} → ${i.selector}`,
    body: [
      `Publish ${recordOwner(i.identity.domain, i.selector)} TXT by ${isoDate(i.publishBy)}.`,
      "",
      `Rollback: ${describeRollback(i.rollback)}.`,
      "",
      i.recordFileText,
      "Joined value:",
      i.joinedValue,
      "",
      ...i.nameservers.map(
        (ns) => `dig +short TXT ${i.selector}._domainkey.${i.identity.domain} @${ns}`,
      ),
    ].join("\n"),
  }),
  retirement: (i) => ({
    title: `DKIM retirement: ${i.domain} ← ${i.selector}`,
    body: `Remove ${recordOwner(i.domain, i.selector)} TXT. SES signs with ${i.activeSelector ?? "another selector"}.`,
  }),
};
