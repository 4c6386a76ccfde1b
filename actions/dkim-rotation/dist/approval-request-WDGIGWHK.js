import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{g as a,h as b,i as c,j as d,k as e,l as f,m as g,n as h,o as i}from"./chunk-HYT3NTB3.js";import"./chunk-DVXLWIRM.js";import"./chunk-EKQFGB43.js";import"./chunk-I2OLQJVX.js";import"./chunk-GA6VQ6MW.js";import"./chunk-3QM7FVCA.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";export{a as PROBE_IN_GATED_JOB,c as activationRequest,i as approvalTitle,b as describeSigningNow,g as readApprovalFile,f as renderApprovalFile,d as retirementRequest,e as rollbackRequest,h as sameDecision};
