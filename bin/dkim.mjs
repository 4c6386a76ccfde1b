#!/usr/bin/env node
// The `dkim` / `ses-dkim-rotation` command (package.json "bin"). The CLI is
// TypeScript; tsx's loader API compiles it on the fly, on every supported
// Node (module.register needs Node ≥ 20.6). No npm banner: npx and a global
// install run this file directly.
import process from "node:process";
import { register } from "tsx/esm/api";

register();
const { main } = await import("../scripts/dkim.ts");
process.exitCode = await main(process.argv.slice(2));
