/**
 * The design lives in the repository (docs/design.md) and code cites it by
 * anchor. This fails when a source file cites a document outside the
 * repository (the design brief, the shared folder, the seed documents), or
 * cites a docs/design.md anchor that is not a heading there.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, posix, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";

const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const SELF = relative(ROOT, fileURLToPath(import.meta.url));
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|ya?ml|sh)$/;

/** Tracked and untracked (not ignored) files, as git sees the working tree. */
function repoFiles(): string[] {
  return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .split("\n")
    .filter((f) => f && !f.startsWith("actions/dkim-rotation/dist/"));
}

/** Citations of documents outside the repository. Built from parts so this file does not match itself. */
const OUTSIDE = [
  new RegExp(`\\b${"DESIGN"}\\b`), // the design brief, by file name or as "<brief> invariant N"
  new RegExp(`(^|[^\\w-])${"shared"}/`), // the team's shared folder
  new RegExp(`(^|[^\\w-])${"seeds"}/`), // the seed documents
  new RegExp(`/${"work"}/`), // absolute paths on the build machine
];

export function outsideCitations(text: string): { line: number; text: string }[] {
  return text
    .split("\n")
    .map((t, i) => ({ line: i + 1, text: t }))
    .filter((l) => OUTSIDE.some((re) => re.test(l.text)));
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** Every heading's anchor; a repeated heading gets `-1`, `-2`… as on GitHub. Explicit `<a id>`/`<a name>` too. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    for (const a of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(a[1]!);
    const m = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = headingSlug(m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1"));
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n ? `${slug}-${n}` : slug);
  }
  return anchors;
}

/** The Markdown links of a document outside code fences and code spans: `[text](target)`. */
export function markdownLinks(markdown: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  let fenced = false;
  markdown.split("\n").forEach((text, i) => {
    if (/^\s*(```|~~~)/.test(text)) fenced = !fenced;
    if (fenced) return;
    const bare = text.replace(/`[^`]*`/g, "");
    for (const m of bare.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
      out.push({ line: i + 1, target: m[1]! });
  });
  return out;
}

/**
 * The intra-repository links of `file` that lead nowhere: a relative path
 * that does not exist, or a `#anchor` that is no heading of its target
 * (GitHub's slug rules). Links to other sites are not followed.
 */
export function brokenLinks(
  file: string,
  read: (path: string) => string | undefined,
): { line: number; target: string; why: string }[] {
  const text = read(file) ?? "";
  const out: { line: number; target: string; why: string }[] = [];
  for (const { line, target } of markdownLinks(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const [path, anchor] = target.split("#") as [string, string | undefined];
    const resolved = path ? posix.normalize(posix.join(posix.dirname(file), path)) : file;
    const body = read(resolved.replace(/\/$/, ""));
    if (body === undefined) {
      out.push({ line, target, why: `${resolved} does not exist` });
      continue;
    }
    if (anchor && resolved.endsWith(".md") && !headingAnchors(body).has(anchor))
      out.push({ line, target, why: `no heading #${anchor} in ${resolved}` });
  }
  return out;
}

const CITATION = /docs\/design\.md#([\w-]+)/g;

describe("docs/design.md and the citations of it", () => {
  const files = repoFiles();
  const sources = files.filter((f) => SOURCE.test(f) && f !== SELF);
  const design = readFileSync(join(ROOT, "docs/design.md"), "utf8");
  const anchors = headingAnchors(design);

  it("the detectors catch what they are for (so the checks below can fail)", () => {
    expect(outsideCitations(` * bad input fails (${"DESIGN"} invariant 6).`)).to.have.length(1);
    expect(outsideCitations(`// see ${"DESIGN"}.md, hard facts`)).to.have.length(1);
    expect(outsideCitations(`// from /${"work"}/${"shared"}/${"seeds"}/x.md`)).to.have.length(1);
    expect(outsideCitations(`// ../${"seeds"}/requirements.md`)).to.have.length(1);
    expect(outsideCitations("// docs/design.md#invariant-6-bad-input-fails-early")).to.deep.equal(
      [],
    );
    expect(outsideCitations("const design = loadDesign(); // designs/shared-config")).to.deep.equal(
      [],
    );
    expect(headingSlug("Invariant 1: no swap without DNS")).to.equal(
      "invariant-1-no-swap-without-dns",
    );
    expect(headingSlug("`ses-throttling`")).to.equal("ses-throttling");
  });

  it("no source file cites a document outside the repository", () => {
    expect(sources.length, "source files found").to.be.greaterThan(50);
    const hits = sources.flatMap((f) =>
      outsideCitations(readFileSync(join(ROOT, f), "utf8")).map(
        (h) => `${f}:${h.line}: ${h.text.trim()}`,
      ),
    );
    expect(hits, "cite docs/design.md#<anchor> instead").to.deep.equal([]);
  });

  it("every docs/design.md#anchor cited in code is a heading of docs/design.md", () => {
    const cited: string[] = [];
    const missing: string[] = [];
    for (const f of sources) {
      const text = readFileSync(join(ROOT, f), "utf8");
      for (const m of text.matchAll(CITATION)) {
        cited.push(m[1]!);
        if (!anchors.has(m[1]!)) missing.push(`${f}: #${m[1]}`);
      }
    }
    // The code cites the invariants and the facts; an empty list would mean the scan is broken.
    expect(cited.length, "citations found").to.be.greaterThan(20);
    expect(missing).to.deep.equal([]);
  });

  it("links into design.md from the docs and from design.md itself name existing headings", () => {
    const missing: string[] = [];
    for (const f of files.filter((f) => f.endsWith(".md"))) {
      const text = readFileSync(join(ROOT, f), "utf8");
      const own = f === "docs/design.md";
      const links = own ? /\]\(#([\w-]+)\)/g : /design\.md#([\w-]+)/g;
      for (const m of text.matchAll(links)) if (!anchors.has(m[1]!)) missing.push(`${f}: #${m[1]}`);
    }
    expect(missing).to.deep.equal([]);
  });

  it("every intra-repository link and anchor in README.md and docs/*.md resolves", () => {
    const read = (path: string): string | undefined => {
      const full = join(ROOT, path);
      if (!existsSync(full)) return undefined;
      return statSync(full).isDirectory() ? "" : readFileSync(full, "utf8");
    };
    // The checker itself: a missing file, a missing anchor, a repeated heading's suffix.
    const fake: Record<string, string> = {
      "docs/a.md":
        "# Top\n## Same\n## Same\n[ok](#same-1) [bad](#nope) [gone](missing.md) [up](../README.md#top)",
      "README.md": "# Top",
    };
    expect(brokenLinks("docs/a.md", (p) => fake[p]).map((b) => b.target)).to.deep.equal([
      "#nope",
      "missing.md",
    ]);
    const docs = ["README.md", ...files.filter((f) => /^docs\/[^/]+\.md$/.test(f))];
    expect(docs.length).to.be.greaterThan(4);
    const broken = docs.flatMap((f) =>
      brokenLinks(f, read).map((b) => `${f}:${b.line}: (${b.target}) ${b.why}`),
    );
    expect(broken).to.deep.equal([]);
  });

  it("every test title it quotes is in the test file it names", () => {
    // "- Tests:" bullets name `test/<file>.test.ts`, then quote titles from that file.
    const squash = (t: string) => t.replace(/\s+/g, " ");
    const bullets = design.split(/\n(?=- )/).filter((b) => b.startsWith("- Tests:"));
    const missing: string[] = [];
    let quoted = 0;
    for (const bullet of bullets) {
      let file: string | undefined;
      for (const m of squash(bullet).matchAll(/`(test\/[\w.-]+\.test\.ts)`|"([^"]+)"/g)) {
        if (m[1]) file = m[1];
        else if (file) {
          quoted++;
          const source = squash(readFileSync(join(ROOT, file), "utf8"));
          if (!source.includes(m[2]!)) missing.push(`${file}: "${m[2]}"`);
        }
      }
    }
    expect(bullets, "one Tests bullet per invariant").to.have.length(6);
    expect(quoted).to.be.greaterThan(20);
    expect(missing).to.deep.equal([]);
  });

  it("every repository file it names exists", () => {
    const named = [
      ...design.matchAll(
        /`((?:actions|infra|scripts|test|docs|\.github)\/[\w./-]+\.(?:ts|mjs|js|yml|md))(?::\d+)?`/g,
      ),
    ].map((m) => m[1]!);
    expect(named.length).to.be.greaterThan(20);
    expect(named.filter((f) => !files.includes(f))).to.deep.equal([]);
  });

  it("has the lifecycle diagram, the six invariants and the hard facts", () => {
    expect(design).to.match(/```mermaid\nstateDiagram-v2\n/);
    for (let n = 1; n <= 6; n++)
      expect(
        [...anchors].some((a) => a.startsWith(`invariant-${n}-`)),
        `invariant ${n}`,
      ).to.equal(true);
    for (const a of ["lifecycle", "invariants", "ses-throttling", "negative-caching"])
      expect(anchors.has(a), a).to.equal(true);
  });
});

describe("the test tiers in package.json", () => {
  const scripts = (
    JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it("npm test runs every test file; test:fast leaves out only slow files that exist", () => {
    expect(scripts.test).to.equal("mocha 'test/**/*.test.ts'");
    const m = /--ignore 'test\/\{([^}]+)\}\.test\.ts' 'test\/\*\*\/\*\.test\.ts'$/.exec(
      scripts["test:fast"] ?? "",
    );
    expect(m, "test:fast's --ignore list").to.not.equal(null);
    // A renamed slow file would otherwise slip into the fast tier unnoticed.
    const missing = m![1]!
      .split(",")
      .filter((name) => !repoFiles().includes(`test/${name}.test.ts`));
    expect(missing).to.deep.equal([]);
  });

  it("README's test section names both commands, and every file test:fast leaves out", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).to.include("npm test");
    expect(readme).to.include("npm run test:fast");
    const section = readme.slice(readme.indexOf("## Run the tests"));
    const left = /--ignore 'test\/\{([^}]+)\}/.exec(scripts["test:fast"] ?? "")![1]!.split(",");
    expect(left.filter((name) => !section.includes(`\`${name}\``))).to.deep.equal([]);
  });
});
