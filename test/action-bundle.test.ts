/**
 * The committed bundle is split into chunks (docs/design.md#action-bundle):
 * its size counts every chunk, `status` loads no other command's code, and
 * check-dist compares every file of dist/.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { BUNDLE, bundleSizes } from "../scripts/bench/startup";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = dirname(BUNDLE);

describe("action bundle (dist/, split into chunks)", function () {
  this.timeout(120_000);

  // The goal is 2 MB; the canary's S3 and SES v1 clients, the report
  // parser and fflate brought it to 2.49 MB (docs/benchmarks.md, start-up and
  // size). This ceiling guards against growth until that goal is met.
  it("counts every chunk, and all of them together stay within 2.6 MB", function () {
    const sizes = bundleSizes();
    const js = readdirSync(DIST).filter((f) => f.endsWith(".js"));
    expect(sizes.files).to.equal(js.length);
    expect(js.length).to.be.greaterThan(1);
    expect(sizes.totalBytes).to.be.at.most(2.6e6);
  });

  it("status loads no chunk of another command (activation, plan, GitHub, doctor, gate, retire)", function () {
    // The entry and its static imports: what `node dist/index.js` loads before any import().
    const { loaded } = bundleSizes();
    expect(loaded).to.include("index.js");
    const commandChunk =
      /^(activate|plan|github|doctor|gate|retire|follow-up|kms|route53|sns|cloudwatch|caller)-/;
    expect(loaded.filter((f) => commandChunk.test(f))).to.deep.equal([]);
    // What status loads is a fraction of the whole.
    const sizes = bundleSizes();
    expect(sizes.loadedBytes).to.be.below(sizes.totalBytes / 2);
  });

  it("check-dist fails on a missing chunk and on an extra one, naming each", function () {
    const copy = mkdtempSync(join(tmpdir(), "dkim-dist-copy-"));
    try {
      cpSync(DIST, copy, { recursive: true });
      const chunk = readdirSync(copy).find((f) => /^activate-.*\.js$/.test(f))!;
      expect(chunk, "an activate chunk in dist/").to.be.a("string");
      rmSync(join(copy, chunk));
      cpSync(join(DIST, "index.js"), join(copy, "stale-chunk.js"));
      const r = spawnSync(
        process.execPath,
        ["scripts/build-action.mjs", "--check", "--outdir", copy],
        { cwd: ROOT, encoding: "utf8" },
      );
      expect(r.status).to.equal(1);
      expect(r.stderr).to.include(`${chunk} is missing`);
      expect(r.stderr).to.include("stale-chunk.js is not produced by the build");
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
