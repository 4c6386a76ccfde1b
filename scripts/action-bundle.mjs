/**
 * The esbuild options of the action bundle, shared by the build
 * (scripts/build-action.mjs) and the start-up profile
 * (scripts/bench/profile.ts), so the profile measures the bundle that ships.
 */
import { join } from "node:path";

/**
 * The bundle is ESM (the sources and @actions/core@3 are ESM). Some bundled
 * CommonJS dependencies call `require()` for Node built-ins, and `__dirname`;
 * the banner gives them both.
 */
export const ESM_REQUIRE_BANNER = [
  "import { createRequire as __dkimCreateRequire } from 'node:module';",
  "import { fileURLToPath as __dkimFileURLToPath } from 'node:url';",
  "import { dirname as __dkimDirname } from 'node:path';",
  "const require = __dkimCreateRequire(import.meta.url);",
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

const STUBS = {
  undici: UNDICI_STUB,
  "iconv-lite": CHARSET_STUB,
  "encoding-japanese": CHARSET_STUB,
};

const stubModules = {
  name: "stub-modules",
  setup(b) {
    b.onResolve({ filter: /^(undici|iconv-lite|encoding-japanese)$/ }, (a) => ({
      path: a.path,
      namespace: "dkim-stub",
    }));
    b.onLoad({ filter: /.*/, namespace: "dkim-stub" }, (a) => ({
      contents: STUBS[a.path],
      loader: "js",
    }));
  },
};

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
    plugins: [stubModules],
    // ESM builds first (dist-es): esbuild drops what is not imported, which it
    // cannot do for CommonJS (docs/design.md#action-bundle).
    mainFields: ["module", "main"],
    outExtension: { ".js": ".js" },
    banner: { js: ESM_REQUIRE_BANNER },
    // Licences of bundled code go to dist/index.js.LEGAL.txt, not into the bundle.
    legalComments: "external",
    // Deterministic output: no absolute paths, no metafile, stable charset.
    charset: "utf8",
    tsconfig: join(root, "tsconfig.json"),
  };
}
