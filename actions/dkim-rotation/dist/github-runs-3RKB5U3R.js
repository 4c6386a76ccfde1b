import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a,b,c,d,e}from"./chunk-662GGYRE.js";import"./chunk-ZVS66QQU.js";import"./chunk-2NYQ372I.js";import"./chunk-YFVD6TZ7.js";import"./chunk-PXY4A5DK.js";import"./chunk-YXZBWGRW.js";import"./chunk-LFPHRO4A.js";export{a as ACTIVATE_WORKFLOW,c as GATED_JOB_NAMES,e as GitHubRuns,b as ROLLBACK_WORKFLOW,d as parseGatedJobName};
