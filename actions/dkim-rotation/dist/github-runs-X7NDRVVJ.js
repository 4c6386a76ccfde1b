import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a,b,c,d,e}from"./chunk-J3P6DUAH.js";import"./chunk-3HPQFRGG.js";import"./chunk-SBJUZNVK.js";import"./chunk-YFVD6TZ7.js";import"./chunk-PXY4A5DK.js";import"./chunk-YXZBWGRW.js";import"./chunk-X5BK4QIE.js";import"./chunk-A2F6IBPC.js";import"./chunk-MYKQUIOW.js";import"./chunk-26B36JUF.js";import"./chunk-LFPHRO4A.js";export{a as ACTIVATE_WORKFLOW,c as GATED_JOB_NAMES,e as GitHubRuns,b as ROLLBACK_WORKFLOW,d as parseGatedJobName};
