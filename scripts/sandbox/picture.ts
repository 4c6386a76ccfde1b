/**
 * report.html: the run as a picture. One swimlane per domain and Region; in
 * each, one row per selector with what DNS served (published, then removed)
 * and what SES did with it in that Region (active, then grace until its
 * record left DNS), SES's not-signing windows (unsigned mail) in red, and the
 * marks of the people and jobs around it (record PR, merge, publication,
 * approval, swap, rollback).
 *
 * Read from the world's own records, as the verdict is: SES's status history
 * per Region, the ledger's rotations, GitHub's PR list, the approvals given
 * and the mail the verifier found unsigned. The page is plain SVG written
 * here, with no script, font, image or stylesheet from anywhere: a
 * Content-Security-Policy of `default-src 'none'` makes the browser refuse any
 * load (docs/design.md#sandbox-artifacts says which libraries were compared).
 */
import type { StatusChange } from "./aws-emulator/ses";
import { duration, type RotationRecord } from "./report";

export interface PictureInput {
  mode: "pipeline" | "naive";
  /** PASS or FAIL, and the verdict's sentence. */
  ok: boolean;
  verdict: string;
  start: Date;
  end: Date;
  identities: { domain: string; regions: string[] }[];
  rotations: RotationRecord[];
  /** The emulated SES's status history of an identity in a Region. */
  sesHistory: (region: string, domain: string) => StatusChange[];
  pulls: {
    number: number;
    head: string;
    title: string;
    createdAt: string;
    mergedAt: string | null;
  }[];
  /** Approvals given in the gated environment, with the job's name. */
  approvals: { at: number; job: string }[];
  /** Every message the verifier found unsigned. */
  unsigned: { domain: string; region: string; at: number }[];
}

export type SpanKind = "published" | "removed" | "active" | "grace" | "unsigned";
export type MarkKind = "pr" | "merge" | "publication" | "approval" | "swap" | "rollback";

export interface Span {
  kind: SpanKind;
  from: number;
  to: number;
  title: string;
}
export interface Mark {
  kind: MarkKind;
  at: number;
  title: string;
}
export interface SelectorRow {
  selector: string;
  spans: Span[];
}
export interface Lane {
  domain: string;
  region: string;
  rows: SelectorRow[];
  marks: Mark[];
  /** Minutes SES did not sign in this Region (PENDING or FAILED), within the run. */
  unsignedMinutes: number;
  unsignedMessages: number;
}

const EASY = "easy-dkim";
const SWAP = /^signing attributes set: EXTERNAL selector (\S+)/;
const when = (t: number) => `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
const ms = (iso?: string | null) => (iso ? Date.parse(iso) : undefined);
const label = (s: string) => (s === EASY ? "Easy DKIM" : s);

/** The lanes, in the stack file's order of domains and Regions. */
export function buildLanes(p: PictureInput): Lane[] {
  return p.identities.flatMap((i) => i.regions.map((region) => buildLane(p, i.domain, region)));
}

function buildLane(p: PictureInput, domain: string, region: string): Lane {
  const t0 = p.start.getTime();
  const t1 = p.end.getTime();
  const clip = (s: Span): Span[] => {
    const from = Math.max(s.from, t0);
    const to = Math.min(s.to, t1);
    return to > from ? [{ ...s, from, to }] : [];
  };
  const rotations = p.rotations.filter((r) => r.domain === domain);
  const history = p.sesHistory(region, domain);
  const marks: Mark[] = [];

  // What SES signed with in this Region, from its history: one segment per
  // key set (a re-applied key continues its segment), and the windows in which
  // it was PENDING or FAILED (no signature on mail) until SUCCESS came back.
  const segments: { selector: string; from: number; to: number }[] = [];
  const windows: { from: number; to: number; selector: string }[] = [];
  let open: { from: number; selector: string } | undefined;
  for (const c of history) {
    const at = c.at.getTime();
    const put = SWAP.exec(c.reason)?.[1] ?? (c.reason.startsWith("Easy DKIM") ? EASY : undefined);
    if (put) {
      const last = segments.at(-1);
      if (last?.selector === put) {
        if (at >= t0 && at <= t1)
          marks.push({
            kind: "swap",
            at,
            title: `${when(at)} SES ${region}: ${label(put)} set again`,
          });
      } else {
        if (last) last.to = at;
        segments.push({ selector: put, from: at, to: Infinity });
        if (last && at >= t0 && at <= t1)
          marks.push({
            kind: "swap",
            at,
            title: `${when(at)} SES ${region}: swap ${label(last.selector)} → ${label(put)}`,
          });
      }
    }
    const signing = c.status === "SUCCESS" || c.status === "TEMPORARY_FAILURE";
    if (!signing && !open) open = { from: at, selector: segments.at(-1)?.selector ?? EASY };
    if (signing && open) {
      windows.push({ ...open, to: at });
      open = undefined;
    }
  }
  if (open) windows.push({ ...open, to: t1 });

  const unsignedHere = p.unsigned.filter((u) => u.domain === domain && u.region === region);
  const rows = new Map<string, SelectorRow>();
  const row = (selector: string) => {
    let r = rows.get(selector);
    if (!r) rows.set(selector, (r = { selector, spans: [] }));
    return r;
  };
  // Keys SES signed with during the run (not the Easy DKIM an identity had
  // for an instant before its legacy key was imported), and every candidate.
  for (const s of segments) if (s.to > t0) row(s.selector);
  for (const r of rotations) row(r.to);

  for (const [selector, r] of rows) {
    const own = rotations.find((x) => x.to === selector);
    const replacedBy = rotations.find((x) => x.from === selector && x.activatedAt);
    const mine = segments.filter((s) => s.selector === selector);
    // A key that signed before the run (the adopted legacy key, Easy DKIM) was published before it.
    const published =
      ms(own?.publishedAt) ??
      (selector === EASY || mine.some((s) => s.from <= t0) || replacedBy ? t0 : undefined);
    const removed = ms(replacedBy?.recordRemovedAt);
    const dnsName = selector === EASY ? "Easy DKIM CNAMEs" : `${selector}._domainkey.${domain}`;
    if (published !== undefined)
      r.spans.push(
        ...clip({
          kind: "published",
          from: published,
          to: removed ?? Infinity,
          title: `${dnsName} served by every authoritative server from ${when(Math.max(published, t0))}${published <= t0 ? " (before the run)" : ""}${removed ? ` to ${when(removed)}` : ""}`,
        }),
      );
    if (removed !== undefined)
      r.spans.push(
        ...clip({
          kind: "removed",
          from: removed,
          to: Infinity,
          title: `${dnsName} removed from every authoritative server ${when(removed)}`,
        }),
      );
    for (const s of mine) {
      r.spans.push(
        ...clip({
          kind: "active",
          from: s.from,
          to: s.to,
          title: `SES ${region} signs with ${label(selector)} from ${when(Math.max(s.from, t0))}${s.to < Infinity ? ` to ${when(s.to)}` : ""}`,
        }),
      );
      // Grace: replaced in SES, its record still served for mail in flight.
      if (s.to < Infinity && selector !== EASY)
        r.spans.push(
          ...clip({
            kind: "grace",
            from: s.to,
            to: removed ?? Infinity,
            title: `${selector}: grace in ${region}, replaced ${when(s.to)}, record kept ${removed ? `until ${when(removed)}` : "to the end of the run"}`,
          }),
        );
    }
    for (const w of windows.filter((x) => x.selector === selector)) {
      const msgs = unsignedHere.filter((u) => u.at >= w.from && u.at <= w.to).length;
      r.spans.push(
        ...clip({
          kind: "unsigned",
          from: w.from,
          to: w.to,
          title: `SES ${region} not signing (${label(selector)} PENDING or FAILED) ${when(w.from)} → ${when(w.to)}: ${duration((w.to - w.from) / 60_000)}, ${msgs} unsigned message(s)`,
        }),
      );
    }
  }

  // The domain's marks, the same in each of its Regions.
  for (const pr of p.pulls) {
    const [, kind, d, selector] = /^(dkim|dkim-retire)\/([^/]+)\/([^/]+)$/.exec(pr.head) ?? [];
    if (d !== domain) continue;
    const what = kind === "dkim" ? "record PR" : "removal PR";
    marks.push({
      kind: "pr",
      at: Date.parse(pr.createdAt),
      title: `${when(Date.parse(pr.createdAt))} ${what} #${pr.number} opened (${selector}): ${pr.title}`,
    });
    if (pr.mergedAt)
      marks.push({
        kind: "merge",
        at: Date.parse(pr.mergedAt),
        title: `${when(Date.parse(pr.mergedAt))} ${what} #${pr.number} merged (${selector})`,
      });
  }
  for (const r of rotations) {
    const pub = ms(r.publishedAt);
    if (pub)
      marks.push({
        kind: "publication",
        at: pub,
        title: `${when(pub)} ${r.to} published on every authoritative server`,
      });
    const back = ms(r.rolledBackAt);
    if (back)
      marks.push({
        kind: "rollback",
        at: back,
        title: `${when(back)} activation of ${r.to} rolled back to ${label(r.from ?? "?")}`,
      });
  }
  const job = new RegExp(`/ (Activate|Retire) (\\S+) (?:for|of) ${domain.replace(/\./g, "\\.")}$`);
  for (const a of p.approvals) {
    const m = job.exec(a.job);
    if (m)
      marks.push({
        kind: "approval",
        at: a.at,
        title: `${when(a.at)} approved: ${m[1] === "Activate" ? "activation" : "retirement"} of ${m[2]}`,
      });
  }
  const inRun = (t: number) => t >= t0 && t <= t1;
  const unsignedMinutes = windows.reduce(
    (n, w) => n + Math.max(0, Math.min(w.to, t1) - Math.max(w.from, t0)) / 60_000,
    0,
  );
  return {
    domain,
    region,
    rows: [...rows.values()],
    marks: marks.filter((m) => inRun(m.at)).sort((a, b) => a.at - b.at),
    unsignedMinutes: Math.round(unsignedMinutes),
    unsignedMessages: unsignedHere.length,
  };
}

// ---- rendering ----------------------------------------------------------------

const COLORS: Record<SpanKind, string> = {
  published: "#9cc3ea",
  removed: "url(#removed)",
  active: "#2e8b57",
  grace: "#e5a83b",
  unsigned: "#d62728",
};
const SPAN_TEXT: Record<SpanKind, string> = {
  published: "record published (every authoritative server)",
  removed: "record removed from DNS",
  active: "SES signs with the key (active)",
  grace: "grace: replaced, record still published",
  unsigned: "SES not signing (PENDING or FAILED): unsigned mail",
};
const MARK_TEXT: Record<MarkKind, string> = {
  pr: "PR opened",
  merge: "PR merged",
  publication: "record published",
  approval: "approval given",
  swap: "SES key swap",
  rollback: "rollback",
};

const LABEL_W = 320;
const PLOT_W = 1040;
const ROW_H = 22;
/** Marks closer than this (px) go on the next of MARK_LEVELS lines, so none hides another. */
const MARK_GAP = 12;
const MARK_LEVELS = 3;
const MARK_H = 8 + MARK_LEVELS * 13;
const AXIS_H = 34;

/** The grey hatching of a removed record. */
const hatch = (id: string) =>
  `<pattern id="${id}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eee"/><line x1="0" y1="0" x2="0" y2="6" stroke="#aaa" stroke-width="2"/></pattern>`;

export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

function markShape(kind: MarkKind, x: number, y: number, laneBottom: number): string {
  switch (kind) {
    case "pr":
      return `<path d="M${x - 5} ${y + 5}L${x} ${y - 5}L${x + 5} ${y + 5}Z" fill="#7b4fb5"/>`;
    case "merge":
      return `<path d="M${x} ${y - 6}L${x + 5} ${y}L${x} ${y + 6}L${x - 5} ${y}Z" fill="#4b2a7b"/>`;
    case "publication":
      return `<circle cx="${x}" cy="${y}" r="5" fill="#1f5fa8"/>`;
    case "approval":
      return `<path d="M${x - 5} ${y}L${x - 1} ${y + 4}L${x + 6} ${y - 5}" stroke="#0a7d6b" stroke-width="3" fill="none"/>`;
    case "swap":
      return `<line x1="${x}" y1="${y - 7}" x2="${x}" y2="${laneBottom}" stroke="#222" stroke-width="1.5" stroke-dasharray="3 2"/><path d="M${x - 4} ${y - 7}L${x + 4} ${y - 7}L${x} ${y - 2}Z" fill="#222"/>`;
    case "rollback":
      return `<path d="M${x - 5} ${y - 5}L${x + 5} ${y + 5}M${x + 5} ${y - 5}L${x - 5} ${y + 5}" stroke="#d62728" stroke-width="3"/>`;
  }
}

/** Tick dates: month starts, or week starts (Mondays) for runs under ~3 months. */
function ticks(t0: number, t1: number): number[] {
  const out: number[] = [];
  const weekly = t1 - t0 < 92 * 86_400_000;
  const d = new Date(t0);
  d.setUTCHours(0, 0, 0, 0);
  if (weekly) {
    while (d.getUTCDay() !== 1) d.setUTCDate(d.getUTCDate() + 1);
    for (; d.getTime() <= t1; d.setUTCDate(d.getUTCDate() + 7)) out.push(d.getTime());
  } else {
    d.setUTCDate(1);
    if (d.getTime() < t0) d.setUTCMonth(d.getUTCMonth() + 1);
    for (; d.getTime() <= t1; d.setUTCMonth(d.getUTCMonth() + 1)) out.push(d.getTime());
  }
  return out;
}

export function renderReportHtml(p: PictureInput): string {
  const lanes = buildLanes(p);
  const t0 = p.start.getTime();
  const t1 = p.end.getTime();
  const x = (t: number) => LABEL_W + ((t - t0) / (t1 - t0)) * PLOT_W;
  const f = (n: number) => n.toFixed(1);
  const svg: string[] = [];
  let y = AXIS_H;
  const laneHeights = lanes.map((l) => MARK_H + l.rows.length * ROW_H + 14);
  const height = AXIS_H + laneHeights.reduce((a, b) => a + b, 0) + AXIS_H;
  const width = LABEL_W + PLOT_W + 20;
  const axis = (yy: number, above: boolean) =>
    ticks(t0, t1)
      .map(
        (t) =>
          `<text x="${f(x(t))}" y="${above ? yy - 8 : yy + 16}" class="tick">${new Date(t).toISOString().slice(0, 10)}</text>`,
      )
      .join("");
  svg.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Rotation timeline by domain and Region">`,
    `<defs>${hatch("removed")}</defs>`,
    ...ticks(t0, t1).map(
      (t) =>
        `<line x1="${f(x(t))}" y1="${AXIS_H - 4}" x2="${f(x(t))}" y2="${height - AXIS_H + 4}" class="grid"/>`,
    ),
    `<g class="axis" data-axis="top">${axis(AXIS_H, true)}</g>`,
  );
  lanes.forEach((lane, i) => {
    const top = y;
    const bottom = top + laneHeights[i]!;
    svg.push(
      `<g class="lane" data-domain="${escapeXml(lane.domain)}" data-region="${escapeXml(lane.region)}">`,
      `<rect x="0" y="${top}" width="${width}" height="${bottom - top}" class="${i % 2 ? "odd" : "even"}"/>`,
      `<text x="8" y="${top + 16}" class="lane-title">${escapeXml(lane.domain)}</text>`,
      `<text x="8" y="${top + 31}" class="lane-sub">${escapeXml(lane.region)}</text>`,
      `<text x="8" y="${top + 45}" class="lane-sub ${lane.unsignedMinutes || lane.unsignedMessages ? "bad" : ""}"><title>SES PENDING or FAILED in this Region during the run, and the messages the verifier found unsigned</title>unsigned: ${escapeXml(duration(lane.unsignedMinutes))}, ${lane.unsignedMessages} msg</text>`,
    );
    const lastX: number[] = [];
    for (const m of lane.marks) {
      const mx = Number(f(x(m.at)));
      let level = lastX.findIndex((l) => mx - l >= MARK_GAP);
      if (level < 0) level = lastX.length < MARK_LEVELS ? lastX.length : MARK_LEVELS - 1;
      lastX[level] = mx;
      svg.push(
        `<g class="mark" data-kind="${m.kind}" data-at="${new Date(m.at).toISOString()}"><title>${escapeXml(m.title)}</title>${markShape(m.kind, mx, top + 10 + level * 13, bottom - 4)}</g>`,
      );
    }
    lane.rows.forEach((row, j) => {
      const ry = top + MARK_H + j * ROW_H + 4;
      svg.push(
        `<g class="row" data-selector="${escapeXml(row.selector)}"><text x="${LABEL_W - 6}" y="${ry + 14}" class="sel">${escapeXml(label(row.selector))}</text>`,
      );
      const order: SpanKind[] = ["published", "removed", "active", "grace", "unsigned"];
      for (const kind of order)
        for (const s of row.spans.filter((sp) => sp.kind === kind)) {
          const dns = kind === "published" || kind === "removed";
          const w = Math.max(2, x(s.to) - x(s.from));
          svg.push(
            `<rect class="span" data-kind="${kind}" x="${f(x(s.from))}" y="${dns ? ry + 1 : ry + 6}" width="${f(w)}" height="${dns ? 17 : 8}" fill="${COLORS[kind]}"><title>${escapeXml(s.title)}</title></rect>`,
          );
        }
      svg.push("</g>");
    });
    svg.push("</g>");
    y = bottom;
  });
  svg.push(`<g class="axis" data-axis="bottom">${axis(y, false)}</g>`, "</svg>");

  const legend = [
    ...(Object.keys(SPAN_TEXT) as SpanKind[]).map(
      (k) =>
        `<li><svg width="26" height="14">${k === "removed" ? `<defs>${hatch("removed-legend")}</defs>` : ""}<rect x="1" y="${k === "published" || k === "removed" ? 0 : 4}" width="24" height="${k === "published" || k === "removed" ? 14 : 6}" fill="${k === "removed" ? "url(#removed-legend)" : COLORS[k]}"/></svg>${escapeXml(SPAN_TEXT[k])}</li>`,
    ),
    ...(Object.keys(MARK_TEXT) as MarkKind[]).map(
      (k) =>
        `<li><svg width="26" height="18">${markShape(k, 13, 10, 18)}</svg>${escapeXml(MARK_TEXT[k])}</li>`,
    ),
  ];
  const title =
    p.mode === "naive"
      ? "Naive flow (the seed documents): SES swapped first, DNS asked after"
      : "Pipeline: DNS first, verified on every server, approved, then swapped";
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    // Nothing may load: no script, font, image or stylesheet from anywhere.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>DKIM sandbox (${p.mode}) ${p.start.toISOString().slice(0, 10)} → ${p.end.toISOString().slice(0, 10)}</title>`,
    "<style>",
    "body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}",
    "h1{font-size:20px;margin:0 0 4px}p{margin:4px 0}",
    ".verdict.ok{color:#1b6e3a}.verdict.fail{color:#b3261e}",
    "ul.legend{list-style:none;padding:0;margin:8px 0 12px;display:flex;flex-wrap:wrap;gap:4px 18px}",
    "ul.legend li{display:flex;align-items:center;gap:6px}",
    ".tick{font-size:11px;text-anchor:middle;fill:#444}.grid{stroke:#ddd;stroke-width:1}",
    ".even{fill:#fafafa}.odd{fill:#f0f3f7}",
    ".lane-title{font-weight:600;font-size:13px}.lane-sub{font-size:12px;fill:#555}.bad{fill:#b3261e}",
    ".sel{font-size:12px;text-anchor:end;font-family:ui-monospace,monospace}",
    "</style></head><body>",
    `<h1>${escapeXml(title)}</h1>`,
    `<p>Simulated ${p.start.toISOString().slice(0, 10)} → ${p.end.toISOString().slice(0, 10)} (UTC). One lane per domain and Region; one row per selector: the tall pale bar is DNS, the thin bar is SES in that Region. Hover any bar or mark for its time and detail.</p>`,
    `<p class="verdict ${p.ok ? "ok" : "fail"}"><strong>${p.ok ? "PASS" : "FAIL"}</strong>: ${escapeXml(p.verdict)}</p>`,
    `<ul class="legend">${legend.join("")}</ul>`,
    svg.join("\n"),
    "</body></html>",
    "",
  ].join("\n");
}
