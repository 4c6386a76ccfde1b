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

/** Options for bundling `entry` (absolute or relative to `root`) for the action's runtime. */
export function actionBuildOptions(root, entry) {
  return {
    absWorkingDir: root,
    entryPoints: { index: entry },
    bundle: true,
    platform: "node",
    target: "node24",
    format: "esm",
    outExtension: { ".js": ".js" },
    banner: { js: ESM_REQUIRE_BANNER },
    // Licences of bundled code go to dist/index.js.LEGAL.txt, not into the bundle.
    legalComments: "external",
    // Deterministic output: no absolute paths, no metafile, stable charset.
    charset: "utf8",
    tsconfig: join(root, "tsconfig.json"),
  };
}
