/**
 * The sandbox keeps its timeline (docs/design.md#sandbox-artifacts): a short
 * run with `--json` (which prints no timeline) still writes `timeline.txt`
 * and `timeline.json`, the one rendered from the other, and every zone
 * snapshot says from when it was served.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { timelineLine, type TimelineEvent } from "../scripts/sandbox/timeline";

const ROOT = join(import.meta.dirname, "..");

describe("sandbox timeline and dated zone snapshots", function () {
  this.timeout(10 * 60_000);
  let tmp: string;
  let out: string;
  let stdout: string;
  let stderr: string;

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), "dkim-timeline-"));
    out = join(tmp, "out");
    // 22 simulated days: the first rotation of news.example from PR to activation.
    const run = spawnSync(
      process.execPath,
      ["--import", "tsx", "scripts/dkim.ts", "--json", "sandbox", "--years", "0.06", "--out", out],
      { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    stdout = run.stdout;
    stderr = run.stderr;
    expect(run.status, run.stderr).to.equal(0);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("with --json, stdout is the one JSON document and the timeline is still written", () => {
    expect(JSON.parse(stdout).command).to.equal("sandbox");
    expect(readdirSync(out)).to.include.members(["timeline.txt", "timeline.json"]);
    // stderr is not a terminal here: no progress line (scripts/progress.ts).
    expect(stderr).to.not.match(/sandbox: \d{4}-/);
  });

  it("timeline.txt is timeline.json rendered, one line per event, in time order", () => {
    const events = JSON.parse(readFileSync(join(out, "timeline.json"), "utf8")) as TimelineEvent[];
    const lines = readFileSync(join(out, "timeline.txt"), "utf8").trimEnd().split("\n");
    expect(lines).to.deep.equal(events.map(timelineLine));
    const times = events.map((e) => Date.parse(e.time));
    expect(times).to.deep.equal([...times].sort((a, b) => a - b));
    for (const e of events)
      expect(Object.keys(e)).to.deep.equal([
        "time",
        "domain",
        "selector",
        "regions",
        "kind",
        "detail",
      ]);
  });

  it("news.example's rotation is there as events with domain, selector and Regions", () => {
    const events = JSON.parse(readFileSync(join(out, "timeline.json"), "utf8")) as TimelineEvent[];
    const news = events.filter((e) => e.domain === "news.example");
    expect(news.map((e) => e.kind)).to.deep.equal([
      "pr-opened",
      "merged",
      "published",
      "approval-requested",
      "approved",
      // docs/design.md#canary: the swap is proven before it is recorded.
      "canary-pass",
      "activated",
    ]);
    const selector = news[0]!.selector!;
    expect(selector).to.match(/^news-\d{8}$/);
    for (const e of news) expect(e.selector, e.kind).to.equal(selector);
    expect(news.find((e) => e.kind === "activated")!.regions).to.deep.equal(["ap-northeast-1"]);
    expect(news.find((e) => e.kind === "canary-pass")!.regions).to.deep.equal(["ap-northeast-1"]);
    expect(news.find((e) => e.kind === "published")!.regions).to.deep.equal([]);
  });

  it("every zone snapshot names the time it was first served in a header comment", () => {
    const zones = readdirSync(join(out, "zones"));
    expect(zones.length).to.be.greaterThan(2);
    for (const file of zones) {
      const head = readFileSync(join(out, "zones", file), "utf8")
        .split("\n")
        .slice(0, 2);
      expect(head[1], file).to.match(/^; served from \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
  });
});
