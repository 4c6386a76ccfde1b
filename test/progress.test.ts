/**
 * Progress on long work (scripts/progress.ts, docs/design.md#progress): one
 * line rewritten in place on a terminal, throttled, and nothing at all when
 * stderr is not a terminal, in CI or with --json. The last test runs a short
 * sandbox under a pseudo-terminal (util-linux `script`).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { ProgressLine, showsProgress, simulatedProgress } from "../scripts/progress";
import { findBinary } from "./helpers/bind";

const ROOT = join(import.meta.dirname, "..");

function stream(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, written, write: (s: string) => written.push(s) };
}

describe("progress on long work", () => {
  it("shows only to a terminal, outside CI, without --json", () => {
    expect(showsProgress(stream(true), { json: false, env: {} })).to.equal(true);
    expect(showsProgress(stream(false), { json: false, env: {} })).to.equal(false);
    expect(showsProgress(stream(true), { json: true, env: {} })).to.equal(false);
    expect(showsProgress(stream(true), { json: false, env: { CI: "true" } })).to.equal(false);
    expect(showsProgress(stream(true), { json: false, env: { CI: "1" } })).to.equal(false);
    // CI=false is how some tools say "not CI".
    expect(showsProgress(stream(true), { json: false, env: { CI: "false" } })).to.equal(true);
  });

  it("rewrites one line at most every intervalMs, and clears it", () => {
    let now = 0;
    const s = stream(true);
    const line = new ProgressLine(s, { json: false, env: {}, intervalMs: 250, now: () => now });
    let built = 0;
    const text = (t: string) => () => {
      built++;
      return t;
    };
    line.update(text("a"));
    now = 100;
    line.update(text("b")); // throttled: not even built
    now = 250;
    line.update(text("c"));
    line.clear();
    line.clear(); // nothing shown since: nothing written
    expect(s.written).to.deep.equal(["\r\x1b[Ka", "\r\x1b[Kc", "\r\x1b[K"]);
    expect(built).to.equal(2);
  });

  it("writes nothing when not shown", () => {
    const s = stream(false);
    const line = new ProgressLine(s, { json: false, env: {} });
    line.update("a");
    line.clear();
    expect(s.written).to.deep.equal([]);
  });

  it("says the simulated date and the share done", () => {
    const start = new Date("2027-01-04T00:00:00Z");
    const end = new Date("2029-01-03T00:00:00Z");
    expect(simulatedProgress(new Date("2028-01-04T00:00:00Z"), start, end, 2)).to.equal(
      "2028-01-04, 50% of 2 years",
    );
    expect(simulatedProgress(end, start, end, 1)).to.equal("2029-01-03, 100% of 1 year");
  });

  it("the sandbox under a pseudo-terminal: the progress line on stderr, cleared before the summary", function () {
    const script = findBinary("script");
    if (!script) this.skip();
    this.timeout(10 * 60_000);
    const tmp = mkdtempSync(join(tmpdir(), "dkim-progress-"));
    try {
      const command = `${process.execPath} --import tsx scripts/dkim.ts sandbox --years 0.03 --out ${join(tmp, "out")}`;
      const env = { ...process.env };
      delete env.CI;
      const run = spawnSync(script, ["-qec", command, "/dev/null"], {
        cwd: ROOT,
        encoding: "utf8",
        env,
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(run.status, run.stdout.slice(-2000)).to.equal(0);
      // ESC [ K, the line's clear, shown as <EL>.
      const shown = run.stdout.replaceAll("\x1b[K", "<EL>");
      expect(shown).to.match(/\r<EL>sandbox: 2027-01-\d\d, \d+% of 0\.03 years, \d+ messages/);
      // Cleared before the summary (its DMARC block, then the counts): the
      // summary's first line starts clean, and no progress line follows it.
      expect(shown).to.match(/\r<EL>(\r\n)*(DMARC aggregate reports: |messages \d+ {2}verified)/);
      const summary = shown.slice(
        shown.search(/DMARC aggregate reports: |messages \d+ {2}verified/),
      );
      expect(summary).to.not.include("<EL>");
      expect(summary).to.match(/\r\nmessages \d+ {2}verified/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
