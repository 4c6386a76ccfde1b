import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d,e}from"./chunk-QVLUQ6WL.js";import"./chunk-LIIDOIFO.js";import"./chunk-FFAVXGAM.js";import"./chunk-WKXN5PJB.js";import"./chunk-SLJQ4SUC.js";import"./chunk-NTVFFDUR.js";import"./chunk-EFCDYPHC.js";export{a as ACTIVATE_WORKFLOW,c as GATED_JOB_NAMES,e as GitHubRuns,b as ROLLBACK_WORKFLOW,d as parseGatedJobName};
