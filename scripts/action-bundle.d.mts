import type { BuildOptions } from "esbuild";

export declare const ESM_REQUIRE_BANNER: string;
export declare const ACTION_BANNER: string;
export declare function actionBuildOptions(root: string, entry: string): BuildOptions;
/** The stand-in bundled for joi (mailauth's one schema), as module source. */
export declare const JOI_STUB: string;
/** The stand-in bundled for bowser (browser user agents), as module source. */
export declare const BOWSER_STUB: string;
/** After the build: each built-in's one-line chunk inlined as a require() in its importers; returns how many. */
export declare function inlineBuiltinChunks(outdir: string): number;
