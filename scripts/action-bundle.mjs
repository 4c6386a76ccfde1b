/**
 * The esbuild options of the action bundle, shared by the build
 * (scripts/build-action.mjs) and the start-up profile
 * (scripts/bench/profile.ts), so the profile measures the bundle that ships.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join } from "node:path";

/**
 * The bundle is ESM (the sources and @actions/core@3 are ESM). Bundled
 * CommonJS dependencies, and the built-ins (below), call `require()`; the
 * banner gives every chunk one. No bundled code uses `__dirname` or
 * `__filename` (test/action-bundle.test.ts checks), so the action's banner
 * does not compute them in each of its chunks at every start.
 */
export const ACTION_BANNER = [
  "import { createRequire as __dkimCreateRequire } from 'node:module';",
  "const require = __dkimCreateRequire(import.meta.url);",
].join("\n");

/** The banner for other bundles of the repository's code (tests), with `__dirname` too. */
export const ESM_REQUIRE_BANNER = [
  ACTION_BANNER,
  "import { fileURLToPath as __dkimFileURLToPath } from 'node:url';",
  "import { dirname as __dkimDirname } from 'node:path';",
  "const __filename = __dkimFileURLToPath(import.meta.url);",
  "const __dirname = __dkimDirname(__filename);",
].join("\n");

/**
 * undici stands in for nothing the action calls: @actions/http-client imports
 * its ProxyAgent only for `getAgentDispatcher()` (fetch through a proxy),
 * which neither @actions/core's OIDC client nor Octokit calls. Bundled, it
 * was 0.4 MB of the action; this stub fails loudly if anything ever
 * constructs it (docs/design.md#action-bundle).
 */
export const UNDICI_STUB = [
  "export class ProxyAgent {",
  "  constructor() {",
  "    throw new Error('undici is not bundled with the action: @actions/http-client getAgentDispatcher() is unsupported');",
  "  }",
  "}",
].join("\n");

/**
 * libmime (under mailauth) converts header text in legacy charsets with
 * iconv-lite and encoding-japanese, 0.5 MB bundled. The activation probe
 * signs and verifies a message it writes itself, in ASCII, so neither is ever
 * reached; were one reached, its stub throws and libmime falls back to UTF-8
 * on its own (libmime/lib/charset.js `decode`).
 */
export const CHARSET_STUB = [
  "const unsupported = () => {",
  "  throw new Error('legacy charsets are not bundled with the action');",
  "};",
  "export const decode = unsupported;",
  "export const encode = unsupported;",
  "export const convert = unsupported;",
  "export default { decode, encode, convert };",
].join("\n");

/**
 * joi, with its @hapi helpers 0.19 MB bundled, reaches the action only
 * through mailauth/lib/tools.js, which checks a DKIM key record's `p=` with
 * `Joi.string().base64({ paddingRequired: false })` (mailauth's SPF and BIMI
 * schemas are not bundled: the probe imports its DKIM modules only). This
 * stand-in makes that one check by joi 18's own rules, copied: undefined
 * passes (joi's schemas are optional), else a non-empty string matching
 * joi's base64 pattern. It has no other schema (calling one throws a
 * TypeError); test/action-bundle.test.ts compares it with joi
 * (docs/design.md#action-bundle).
 */
export const JOI_STUB = [
  "const BASE64 = {",
  "  true: {",
  "    true: /^(?:[\\w\\-]{2}[\\w\\-]{2})*(?:[\\w\\-]{2}==|[\\w\\-]{3}=)?$/,",
  "    false: /^(?:[A-Za-z0-9+\\/]{2}[A-Za-z0-9+\\/]{2})*(?:[A-Za-z0-9+\\/]{2}==|[A-Za-z0-9+\\/]{3}=)?$/,",
  "  },",
  "  false: {",
  "    true: /^(?:[\\w\\-]{2}[\\w\\-]{2})*(?:[\\w\\-]{2}(==)?|[\\w\\-]{3}=?)?$/,",
  "    false: /^(?:[A-Za-z0-9+\\/]{2}[A-Za-z0-9+\\/]{2})*(?:[A-Za-z0-9+\\/]{2}(==)?|[A-Za-z0-9+\\/]{3}=?)?$/,",
  "  },",
  "};",
  "const fail = (value, type, message) => {",
  "  const error = new Error(message);",
  "  error.name = 'ValidationError';",
  "  error.details = [{ message, path: [], type, context: { label: 'value', value } }];",
  "  return { value, error };",
  "};",
  "export function string() {",
  "  return {",
  "    base64({ paddingRequired = true, urlSafe = false } = {}) {",
  "      const pattern = BASE64[paddingRequired][urlSafe];",
  "      return {",
  "        validate(value) {",
  "          if (value === undefined) return { value };",
  "          if (typeof value !== 'string') return fail(value, 'string.base', '\"value\" must be a string');",
  "          if (value === '') return fail(value, 'string.empty', '\"value\" is not allowed to be empty');",
  "          if (!pattern.test(value)) return fail(value, 'string.base64', '\"value\" must be a valid base64 string');",
  "          return { value };",
  "        },",
  "      };",
  "    },",
  "  };",
  "}",
  "export default { string };",
].join("\n");

/**
 * bowser parses a browser's user agent for the AWS SDK's browser build;
 * @aws-sdk/core's client module reaches it by `import()` in a function Node
 * never calls, yet esbuild emits its 34 KB chunk. `parse` is only called
 * where `window` exists.
 */
export const BOWSER_STUB = [
  "export function parse() {",
  "  throw new Error('bowser is not bundled with the action: browser user agents only');",
  "}",
  "export default { parse };",
].join("\n");

const STUBS = {
  undici: UNDICI_STUB,
  "iconv-lite": CHARSET_STUB,
  "encoding-japanese": CHARSET_STUB,
  joi: JOI_STUB,
  bowser: BOWSER_STUB,
};

const stubModules = {
  name: "stub-modules",
  setup(b) {
    b.onResolve({ filter: /^(undici|iconv-lite|encoding-japanese|joi|bowser)$/ }, (a) => ({
      path: a.path,
      namespace: "dkim-stub",
    }));
    b.onLoad({ filter: /.*/, namespace: "dkim-stub" }, (a) => ({
      contents: STUBS[a.path],
      loader: "js",
    }));
  },
};

/**
 * Node built-ins are loaded with `require()`, not `import`: an ESM import of a
 * built-in makes Node build a facade of every export, which runs the lazy
 * getters too. In Node 24 `http`'s `WebSocket`, `CloseEvent` and
 * `MessageEvent` load Node's bundled undici that way, and `crypto`'s
 * `webcrypto` its Web Crypto: 40 to 65 ms of CPU before any command starts, for
 * features no command uses (docs/design.md#action-bundle). Each built-in
 * becomes a one-line CommonJS module over the banner's `require`.
 */
const BUILTIN = new RegExp(
  `^(?:node:)?(?:${builtinModules.map((m) => m.replace(/[/]/g, "\\/")).join("|")})$`,
);
const builtinsByRequire = {
  name: "builtins-by-require",
  setup(b) {
    b.onResolve({ filter: BUILTIN }, (a) =>
      a.namespace === "dkim-builtin"
        ? { path: a.path, external: true }
        : { path: a.path.replace(/^node:/, ""), namespace: "dkim-builtin" },
    );
    b.onLoad({ filter: /.*/, namespace: "dkim-builtin" }, (a) => ({
      contents: `module.exports = require("node:${a.path}");`,
      loader: "js",
    }));
  },
};

/**
 * A built-in's one-line module (above) used by several commands becomes a
 * chunk of its own, a file of about 250 bytes, and Node's ESM loader spends
 * about a millisecond on every file it resolves, reads, compiles and links:
 * `status` loaded ten such files (docs/design.md#action-bundle). After the
 * build, each import of such a chunk becomes `var x=()=>require("node:…")`
 * in the importer (every chunk has the banner's `require`; the importer
 * calls `x()` where it called the chunk's lazy wrapper, and Node caches the
 * built-in), and the chunk is deleted. A chunk or an import of another shape
 * is left alone, or stops the build, never half rewritten.
 */
const BUILTIN_CHUNK =
  /^import\{\w+ as (\w+),\w+ as (\w+)\}from"\.\/[\w-]+\.js";var (\w+)=\2\(\(\w+,(\w+)\)=>\{(?:"use strict";)?\4\.exports=\1\("(node:[\w/]+)"\)\}\);export\{\3 as (\w+)\};\s*$/;
export function inlineBuiltinChunks(outdir) {
  const files = readdirSync(outdir).filter((f) => f.endsWith(".js"));
  const banner = `${ACTION_BANNER}\n`;
  const text = new Map(files.map((f) => [f, readFileSync(join(outdir, f), "utf8")]));
  const chunks = new Map();
  for (const [f, t] of text) {
    const m = t.startsWith(banner) ? BUILTIN_CHUNK.exec(t.slice(banner.length)) : null;
    if (m) chunks.set(f, { builtin: m[5], exported: m[6] });
  }
  for (const [f, t] of text) {
    if (chunks.has(f)) continue;
    const out = t
      .replace(/import\s*"\.\/([\w-]+\.js)";/g, (all, file) => (chunks.has(file) ? "" : all))
      .replace(/import\{([^}]*)\}from\s*"\.\/([\w-]+\.js)";/g, (all, specs, file) => {
        const chunk = chunks.get(file);
        if (!chunk) return all;
        const [name, local = name] = specs.trim().split(/\s+as\s+/);
        if (name !== chunk.exported || !/^[\w$]+$/.test(local) || !t.startsWith(banner))
          throw new Error(`${f}: an import of ${file} this build cannot inline: {${specs}}`);
        return `var ${local}=()=>require("${chunk.builtin}");`;
      });
    for (const c of chunks.keys())
      if (out.includes(`"./${c}"`)) throw new Error(`${f}: ${c} is still imported`);
    if (out !== t) writeFileSync(join(outdir, f), out);
  }
  for (const f of chunks.keys()) rmSync(join(outdir, f));
  return chunks.size;
}

/** Options for bundling `entry` (absolute or relative to `root`) for the action's runtime. */
export function actionBuildOptions(root, entry) {
  return {
    absWorkingDir: root,
    entryPoints: { index: entry },
    bundle: true,
    platform: "node",
    target: "node24",
    format: "esm",
    // One chunk per command's own code, loaded by import() when it runs
    // (docs/design.md#action-bundle); dist/index.js stays the entry.
    splitting: true,
    chunkNames: "[name]-[hash]",
    plugins: [stubModules, builtinsByRequire],
    // ESM builds first (dist-es): esbuild drops what is not imported, which it
    // cannot do for CommonJS (docs/design.md#action-bundle).
    mainFields: ["module", "main"],
    outExtension: { ".js": ".js" },
    banner: { js: ACTION_BANNER },
    // Licences of bundled code go to dist/index.js.LEGAL.txt, not into the bundle.
    legalComments: "external",
    // Deterministic output: no absolute paths, no metafile, stable charset.
    charset: "utf8",
    tsconfig: join(root, "tsconfig.json"),
  };
}
