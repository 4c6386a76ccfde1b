import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d,e,f,g,h,i}from"./chunk-QVUZZIAZ.js";import"./chunk-MSRMEQQ4.js";import"./chunk-4GEB2EGQ.js";import"./chunk-SLJQ4SUC.js";import"./chunk-FHEMC7ET.js";import"./chunk-ABJB4OXV.js";import"./chunk-EFCDYPHC.js";export{a as PROBE_IN_GATED_JOB,c as activationRequest,i as approvalTitle,b as describeSigningNow,g as readApprovalFile,f as renderApprovalFile,d as retirementRequest,e as rollbackRequest,h as sameDecision};
