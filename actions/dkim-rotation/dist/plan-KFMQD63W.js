import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{d as a,e as b,f as c,g as d,h as e,i as f,j as g,k as h}from"./chunk-NCWWH5OH.js";import"./chunk-EFNBZEY5.js";import"./chunk-56LJKJ22.js";import"./chunk-HSMCEAET.js";import"./chunk-AREMYQ5M.js";import"./chunk-27KUSLOF.js";import"./chunk-6Y5CWFDI.js";import"./chunk-PZQAXDY2.js";import"./chunk-NTVFFDUR.js";import"./chunk-SLJQ4SUC.js";import"./chunk-PWPW2RXZ.js";import"./chunk-EFCDYPHC.js";export{b as KEY_CONCURRENCY,c as applyDecision,d as createKeyAndPropose,f as proposeRecordFor,g as proposeRemovalFor,h as publishMetrics,e as renderRotation,a as runPlan};
