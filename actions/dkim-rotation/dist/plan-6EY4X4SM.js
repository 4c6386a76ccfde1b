import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{d as a,e as b,f as c,g as d,h as e,i as f,j as g,k as h}from"./chunk-3TDHL32H.js";import"./chunk-SPSCYHV3.js";import"./chunk-R3WZMXRL.js";import"./chunk-K6CKLL5K.js";import"./chunk-3FOTI24T.js";import"./chunk-PZQAXDY2.js";import"./chunk-NTVFFDUR.js";import"./chunk-SLJQ4SUC.js";import"./chunk-3VKNC42J.js";import"./chunk-EFCDYPHC.js";export{b as applyDecision,c as createKeyAndPropose,f as proposeRecordFor,g as proposeRemovalFor,d as publishByOf,h as publishMetrics,e as renderRotation,a as runPlan};
