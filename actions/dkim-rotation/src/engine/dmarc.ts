/**
 * `reports`: what receivers concluded about our selectors, from their DMARC
 * aggregate reports (docs/design.md#dmarc-aggregate-reports). New reports
 * are read through a port (S3 in production, the sandbox's receivers in the
 * sandbox), counted per domain, selector and result, published as CloudWatch
 * metrics per selector, and each selector's last sighting is kept in its
 * key's `dkim:report-seen` tag, where the planner reads it without reading
 * the reports. The newest selector's failure share above the configured
 * threshold is an alert (notify.ts), once per key.
 */
import { isoDate } from "./clock";
import type { DmarcReportsConfig, IdentityConfig } from "./config";
import { type AggregateReport, readAggregateReport, ReportRejected } from "./dmarc-report";
import type { EngineContext } from "./engine-context";
import {
  METRIC_DMARC_DKIM_FAIL,
  METRIC_DMARC_DKIM_PASS,
  METRIC_DMARC_NEWEST_FAILURE_SHARE,
} from "./metrics";
import { sendOnce } from "./notify";
import { passFail, type SelectorTally } from "./dmarc-tally";
import { REPORTS_OFF } from "./report-evidence";
import type { MetricDatum, StoredKey } from "./ports";

// The tally and its pass/fail split live apart from the report parser, so the
// summary formatter (loaded by every command) does not load fast-xml-parser
// and fflate (docs/design.md#action-bundle).
export { passFail, type SelectorTally };

/** One stored report object, as the source lists it. */
export interface ReportObject {
  key: string;
  size: number;
}

/**
 * Where reports come from. `list` returns the objects not yet marked
 * processed; `markProcessed` makes a re-run skip one (idempotent).
 */
export interface DmarcReportSourcePort {
  /** For messages: `s3://bucket/prefix`. */
  readonly where: string;
  list(): Promise<ReportObject[]>;
  /** The object's bytes; refuses (ReportRejected) more than `maxBytes` without reading them all. */
  read(key: string, maxBytes: number): Promise<Uint8Array>;
  markProcessed(key: string): Promise<void>;
}

/**
 * Count messages per (signing domain, selector, report day) from `row/count`,
 * for the given domains only. A row's several DKIM results each count (RFC
 * 9990 asks for one per signature tried); results without a selector cannot
 * be placed and are returned as `unplaced` messages.
 */
export function aggregateReports(
  reports: AggregateReport[],
  domains: readonly string[],
): { tallies: SelectorTally[]; unplaced: number } {
  const wanted = new Set(domains);
  const byKey = new Map<string, SelectorTally>();
  let unplaced = 0;
  for (const report of reports) {
    const day = isoDate(report.begin);
    const seen = new Set<string>();
    for (const row of report.rows) {
      for (const d of row.dkim) {
        if (!wanted.has(d.domain)) continue;
        if (!d.selector) {
          unplaced += row.count;
          continue;
        }
        const k = `${d.domain}\u0000${d.selector}\u0000${day}`;
        let t = byKey.get(k);
        if (!t) {
          t = {
            domain: d.domain,
            selector: d.selector,
            day,
            begin: report.begin,
            end: report.end,
            results: {},
            reports: 0,
          };
          byKey.set(k, t);
        }
        if (!seen.has(k)) {
          seen.add(k);
          t.reports++;
          if (report.begin < t.begin) t.begin = report.begin;
          if (report.end > t.end) t.end = report.end;
        }
        t.results[d.result] = (t.results[d.result] ?? 0) + row.count;
      }
    }
  }
  const tallies = [...byKey.values()].sort(
    (a, b) =>
      a.domain.localeCompare(b.domain) ||
      a.day.localeCompare(b.day) ||
      a.selector.localeCompare(b.selector),
  );
  return { tallies, unplaced };
}

export interface NewestSelectorVerdict {
  domain: string;
  selector: string;
  activatedAt: Date;
  pass: number;
  fail: number;
  share: number;
  threshold: number;
  /** true: the alarm fires; false: below the threshold; undefined: too few messages to judge. */
  breaching?: boolean;
}

/**
 * The active selector's failure share over the reports that end after its
 * activation (earlier ones cannot carry its signatures, but might carry a
 * probe's), judged once it has `minMessages`.
 */
export function judgeNewestSelector(
  tallies: SelectorTally[],
  active: { domain: string; selector: string; activatedAt: Date },
  cfg: Pick<DmarcReportsConfig, "failureShareAlarm" | "minMessages">,
): NewestSelectorVerdict | undefined {
  const mine = tallies.filter(
    (t) =>
      t.domain === active.domain && t.selector === active.selector && t.end > active.activatedAt,
  );
  if (!mine.length) return undefined;
  let pass = 0;
  let fail = 0;
  for (const t of mine) {
    const c = passFail(t.results);
    pass += c.pass;
    fail += c.fail;
  }
  const total = pass + fail;
  const share = total ? fail / total : 0;
  return {
    ...active,
    pass,
    fail,
    share,
    threshold: cfg.failureShareAlarm,
    ...(total >= cfg.minMessages ? { breaching: share > cfg.failureShareAlarm } : {}),
  };
}

/** The alarm line, as logs, summaries and the sandbox print it. */
export function alarmLine(v: NewestSelectorVerdict): string {
  return `ALARM ${v.domain}: ${v.selector} failed DKIM at ${(v.share * 100).toFixed(1)}% of ${v.pass + v.fail} messages in receivers' reports since its activation ${v.activatedAt.toISOString()} (threshold ${(v.threshold * 100).toFixed(1)}%)`;
}

export interface ReportsRunReport {
  /** false: no `dmarcReports` block, nothing read. */
  on: boolean;
  read: number;
  skipped: { key: string; why: string }[];
  tallies: SelectorTally[];
  unplaced: number;
  verdicts: NewestSelectorVerdict[];
  alarms: string[];
  seen: { domain: string; selector: string; at: Date }[];
  notes: string[];
}

/**
 * Read every new report, count, publish, record sightings, judge the newest
 * selector, then mark each report processed. A crash before the marks
 * re-reads those reports on the next run: the sighting tags only move
 * forward and the alert is sent once per key, but CloudWatch sums the
 * re-published counts again (docs/design.md#dmarc-aggregate-reports).
 */
export async function runReports(
  ctx: EngineContext,
  /** Built by the front end whenever the config has a `dmarcReports` block. */
  source: DmarcReportSourcePort | undefined,
  opts: { dryRun?: boolean } = {},
): Promise<ReportsRunReport> {
  const cfg = ctx.config.dmarcReports;
  const empty: ReportsRunReport = {
    on: false,
    read: 0,
    skipped: [],
    tallies: [],
    unplaced: 0,
    verdicts: [],
    alarms: [],
    seen: [],
    notes: [REPORTS_OFF],
  };
  if (!cfg) return empty;
  if (!source)
    throw new Error("dmarcReports is configured but the front end gave no report source");
  const limits = { maxBytes: cfg.maxReportBytes };
  const objects = await source.list();
  const reports: AggregateReport[] = [];
  const done: string[] = [];
  const skipped: ReportsRunReport["skipped"] = [];
  const notes: string[] = [];
  for (const obj of objects) {
    let report: AggregateReport;
    try {
      if (obj.size > cfg.maxReportBytes)
        throw new ReportRejected(
          `object is ${obj.size} bytes, above maxReportBytes ${cfg.maxReportBytes}`,
        );
      report = readAggregateReport(await source.read(obj.key, cfg.maxReportBytes), limits);
      if (report.rows.length && !report.rows.some((r) => r.dkim.some((d) => d.selector)))
        throw new ReportRejected(
          `${report.orgName} report ${report.reportId} names no DKIM selector; nothing to count per selector`,
        );
    } catch (err) {
      if (!(err instanceof ReportRejected)) throw err;
      skipped.push({ key: obj.key, why: err.why });
      ctx.log.warn(`reports: skipped ${obj.key}: ${err.why}`);
      done.push(obj.key);
      continue;
    }
    for (const w of report.warnings)
      notes.push(`${obj.key} (${report.orgName} ${report.reportId}): ${w}`);
    reports.push(report);
    done.push(obj.key);
  }
  const identities = ctx.config.identities;
  const { tallies, unplaced } = aggregateReports(
    reports,
    identities.map((i) => i.domain),
  );
  if (unplaced)
    notes.push(`${unplaced} message(s) had DKIM results without a selector and were not counted`);

  const metrics: MetricDatum[] = tallies.flatMap((t) => {
    const { pass, fail } = passFail(t.results);
    const at = new Date(`${t.day}T00:00:00Z`);
    return [
      {
        name: METRIC_DMARC_DKIM_PASS,
        domain: t.domain,
        selector: t.selector,
        value: pass,
        unit: "Count",
        at,
      },
      {
        name: METRIC_DMARC_DKIM_FAIL,
        domain: t.domain,
        selector: t.selector,
        value: fail,
        unit: "Count",
        at,
      },
    ] satisfies MetricDatum[];
  });

  const verdicts: NewestSelectorVerdict[] = [];
  const alarms: string[] = [];
  const seen: ReportsRunReport["seen"] = [];
  const keysByDomain = new Map<string, StoredKey[]>();
  for (const identity of identities) {
    if (!tallies.some((t) => t.domain === identity.domain)) continue;
    const keys = await ctx.keys.list(identity.domain);
    keysByDomain.set(identity.domain, keys);
    for (const key of keys) {
      const ends = tallies
        .filter((t) => t.domain === identity.domain && t.selector === key.selector)
        .filter((t) => passFail(t.results).pass + passFail(t.results).fail > 0)
        .map((t) => t.end.getTime());
      if (!ends.length) continue;
      const at = new Date(Math.max(...ends));
      if (key.reportSeenAt && key.reportSeenAt >= at) continue;
      seen.push({ domain: identity.domain, selector: key.selector, at });
    }
    const active = activeKey(keys);
    if (!active?.activatedAt) continue;
    const verdict = judgeNewestSelector(
      tallies,
      { domain: identity.domain, selector: active.selector, activatedAt: active.activatedAt },
      cfg,
    );
    if (!verdict) continue;
    verdicts.push(verdict);
    metrics.push({
      name: METRIC_DMARC_NEWEST_FAILURE_SHARE,
      domain: identity.domain,
      value: verdict.share,
      unit: "None",
    });
    if (verdict.breaching) alarms.push(alarmLine(verdict));
  }

  const result: ReportsRunReport = {
    on: true,
    read: reports.length,
    skipped,
    tallies,
    unplaced,
    verdicts,
    alarms,
    seen,
    notes,
  };
  if (opts.dryRun) {
    notes.push(`dry run: ${done.length} report(s) left unmarked, no metric or tag written`);
    return result;
  }
  if (metrics.length) {
    if (ctx.metrics) await ctx.metrics.publish(metrics);
    else notes.push("no metrics port: per-selector counts were not published");
  }
  for (const s of seen) {
    if (ctx.keys.markReportSeen) await ctx.keys.markReportSeen(s.domain, s.selector, s.at);
    else
      notes.push(
        `the key store keeps no report-seen tag: ${s.selector} seen ${s.at.toISOString()} not recorded`,
      );
  }
  for (const v of verdicts.filter((x) => x.breaching)) {
    const identity = identities.find((i) => i.domain === v.domain)!;
    const key = activeKey(keysByDomain.get(v.domain) ?? [])!;
    ctx.log.warn(alarmLine(v));
    await alert(ctx, identity, key, v);
  }
  for (const key of done) await source.markProcessed(key);
  return result;
}

function activeKey(keys: StoredKey[]): StoredKey | undefined {
  return keys
    .filter((k) => k.state === "active" && !k.deletionDate && k.activatedAt)
    .sort((a, b) => b.activatedAt!.getTime() - a.activatedAt!.getTime())[0];
}

async function alert(
  ctx: EngineContext,
  identity: IdentityConfig,
  key: StoredKey,
  v: NewestSelectorVerdict,
): Promise<void> {
  await sendOnce(ctx, key, {
    event: "dmarc-failures",
    kind: "dmarc-failures",
    identity,
    selector: v.selector,
    detail: alarmLine(v),
  });
}
