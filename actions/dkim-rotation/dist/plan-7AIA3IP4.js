import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{d as a,e as b,f as c,g as d,h as e,i as f,j as g,k as h}from"./chunk-WZULLGF4.js";import"./chunk-EF2E2YEC.js";import"./chunk-2JMY3HIG.js";import"./chunk-TPU6JPYB.js";import"./chunk-DVXLWIRM.js";import"./chunk-EKQFGB43.js";import"./chunk-Y3QKIWLJ.js";import"./chunk-764RFIET.js";import"./chunk-NTVFFDUR.js";import"./chunk-I2OLQJVX.js";import"./chunk-PWPW2RXZ.js";import"./chunk-GA6VQ6MW.js";import"./chunk-3QM7FVCA.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";export{b as KEY_CONCURRENCY,c as applyDecision,d as createKeyAndPropose,f as proposeRecordFor,g as proposeRemovalFor,h as publishMetrics,e as renderRotation,a as runPlan};
