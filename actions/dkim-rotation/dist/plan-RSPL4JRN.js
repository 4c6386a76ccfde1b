import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{d as a,e as b,f as c,g as d,h as e,i as f,j as g,k as h}from"./chunk-UYTYDNCU.js";import"./chunk-TMLABJG7.js";import"./chunk-7QJYGYEW.js";import"./chunk-WKXN5PJB.js";import"./chunk-NP7YTA53.js";import"./chunk-SLJQ4SUC.js";import"./chunk-OQQGBVCH.js";import"./chunk-AP5MAIL6.js";import"./chunk-NTVFFDUR.js";import"./chunk-PNKPBVIY.js";import"./chunk-PWPW2RXZ.js";import"./chunk-EFCDYPHC.js";export{b as KEY_CONCURRENCY,c as applyDecision,d as createKeyAndPropose,f as proposeRecordFor,g as proposeRemovalFor,h as publishMetrics,e as renderRotation,a as runPlan};
