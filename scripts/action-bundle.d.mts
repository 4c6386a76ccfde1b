import type { BuildOptions } from "esbuild";

export declare const ESM_REQUIRE_BANNER: string;
export declare function actionBuildOptions(root: string, entry: string): BuildOptions;
