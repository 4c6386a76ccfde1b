/**
 * report.html in a real browser (Debian's headless Chromium through
 * playwright-core): the page of a short pipeline run and of a short naive run
 * loads with no console error and no request beyond the file itself, has one
 * swimlane per domain and Region with tooltips, and is screenshotted into
 * artifacts/screenshots/, which CI keeps (docs/design.md#sandbox-artifacts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect } from "chai";
import { runSandbox, type SandboxReport } from "../scripts/sandbox/run";
import { sandboxConfig } from "../scripts/sandbox/world";
import { CHROMIUM, openOffline, type Opened } from "./helpers/browser";

const SCREENSHOTS = resolve(import.meta.dirname, "..", "artifacts", "screenshots");
const LANES = sandboxConfig("stack.yaml", ["127.0.0.1:53"]).identities.flatMap((i) =>
  i.regions.map((region) => ({ domain: i.domain, region })),
);

/**
 * What the page shows, read in the page. A string, not a function: tsx's
 * transform adds helper calls to functions that the page does not define.
 */
const READ_PAGE = `(() => {
  const count = (els, attr) => {
    const c = {};
    for (const e of els) c[e.getAttribute(attr)] = (c[e.getAttribute(attr)] ?? 0) + 1;
    return c;
  };
  return {
    lanes: [...document.querySelectorAll("g.lane")].map((g) => ({
      domain: g.getAttribute("data-domain"),
      region: g.getAttribute("data-region"),
      rows: g.querySelectorAll("g.row").length,
      spans: count(g.querySelectorAll("rect.span"), "data-kind"),
      marks: [...g.querySelectorAll("g.mark")].map((m) => ({
        kind: m.getAttribute("data-kind"),
        at: Date.parse(m.getAttribute("data-at")),
      })),
    })),
    marks: count(document.querySelectorAll("g.mark"), "data-kind"),
    untitled: [...document.querySelectorAll("rect.span, g.mark")].filter(
      (e) => !e.querySelector(":scope > title")?.textContent,
    ).length,
    ticks: [...document.querySelectorAll("g.axis .tick")].map((t) => t.textContent ?? ""),
  };
})()`;

interface PageFacts {
  lanes: {
    domain: string;
    region: string;
    rows: number;
    spans: Record<string, number>;
    marks: { kind: string; at: number }[];
  }[];
  marks: Record<string, number>;
  untitled: number;
  ticks: string[];
}
type Loaded = PageFacts & Omit<Opened, "value">;

/** When a lane's first mark of a kind is (Infinity without one). */
const first = (lane: PageFacts["lanes"][number], kind: string) =>
  Math.min(...lane.marks.filter((m) => m.kind === kind).map((m) => m.at));

describe("report.html (headless Chromium)", function () {
  // Two half-year sandbox runs: about 45 s each on an idle machine, several
  // minutes each on a loaded one.
  this.timeout(1_200_000);
  const outs: string[] = [];
  const runs: Record<"pipeline" | "naive", { report: SandboxReport; page: Loaded; png: string }> =
    {} as never;

  before(async function () {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
    // Half a year: the Easy DKIM domain is onboarded, the adopted legacy key
    // rotates and is retired after the grace period (naive: both swap first).
    for (const mode of ["pipeline", "naive"] as const) {
      const out = mkdtempSync(join(tmpdir(), `report-html-${mode}-`));
      outs.push(out);
      const report = await runSandbox({ out, years: 0.5, naive: mode === "naive" });
      const png = join(SCREENSHOTS, `report-${mode === "pipeline" ? "default" : "naive"}.png`);
      const opened = await openOffline(join(out, "report.html"), png, READ_PAGE);
      runs[mode] = { report, page: { ...opened, ...(opened.value as PageFacts) }, png };
    }
  });
  after(() => {
    for (const out of outs) rmSync(out, { recursive: true, force: true });
  });

  for (const mode of ["pipeline", "naive"] as const) {
    it(`${mode}: loads with no console error and no request beyond the file`, () => {
      const { page } = runs[mode];
      expect(page.consoleErrors, "console errors").to.deep.equal([]);
      expect(page.offPage, "requests other than report.html").to.deep.equal([]);
    });

    it(`${mode}: one swimlane per domain and Region, each with a selector row that signed`, () => {
      const { page } = runs[mode];
      expect(page.lanes.map((l) => `${l.domain} ${l.region}`)).to.deep.equal(
        LANES.map((l) => `${l.domain} ${l.region}`),
      );
      for (const lane of page.lanes) {
        const where = `${lane.domain} ${lane.region}`;
        expect(lane.spans.active, where).to.be.at.least(lane.rows).and.at.least(1);
        expect(lane.spans.published, where).to.be.at.least(1);
      }
    });

    it(`${mode}: every bar and mark has a tooltip, and the axis carries dates`, () => {
      const { page } = runs[mode];
      expect(page.untitled).to.equal(0);
      expect(page.ticks.length).to.be.at.least(4);
      for (const t of page.ticks) expect(t).to.match(/^\d{4}-\d{2}-\d{2}$/);
    });

    it(`${mode}: a full-page screenshot is kept in artifacts/screenshots/`, () => {
      const { png } = runs[mode];
      expect(statSync(png).size).to.be.greaterThan(10_000);
      expect(readFileSync(png).subarray(1, 4).toString()).to.equal("PNG");
    });
  }

  it("pipeline: PR, merge, publication, approval and swap marks; grace and removal of the old selector", () => {
    const { page, report } = runs.pipeline;
    expect(report.ok, report.verdict).to.equal(true);
    for (const kind of ["pr", "merge", "publication", "approval", "swap"])
      expect(page.marks[kind] ?? 0, kind).to.be.at.least(1);
    // One swap per Region: shop.example's two Regions and news.example's one.
    expect(page.marks.swap).to.equal(3);
    for (const lane of page.lanes) {
      // The old key and the new one, each published and active in turn; DNS first.
      expect(lane.rows, lane.domain).to.equal(2);
      expect(first(lane, "publication"), lane.domain).to.be.below(first(lane, "swap"));
    }
    const shop = page.lanes.filter((l) => l.domain === "shop.example");
    for (const lane of shop) {
      expect(lane.spans.grace, lane.region).to.equal(1);
      expect(lane.spans.removed, lane.region).to.equal(1);
    }
  });

  it("naive: the swap comes before the publication, with unsigned mail in every lane and no approval", () => {
    const { page, report } = runs.naive;
    expect(report.ok).to.equal(false);
    expect(page.marks.approval ?? 0).to.equal(0);
    for (const lane of page.lanes) {
      expect(lane.spans.unsigned ?? 0, lane.domain).to.be.at.least(1);
      expect(first(lane, "swap"), lane.domain).to.be.below(first(lane, "publication"));
    }
  });
});
