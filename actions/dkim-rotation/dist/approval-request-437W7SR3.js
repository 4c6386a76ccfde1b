import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{g as a,h as b,i as c,j as d,k as e,l as f,m as g,n as h,o as i}from"./chunk-XOQEK4UG.js";import"./chunk-JIBHREYX.js";import"./chunk-POMNULAG.js";import"./chunk-YXZBWGRW.js";import"./chunk-LFPHRO4A.js";export{a as PROBE_IN_GATED_JOB,c as activationRequest,i as approvalTitle,b as describeSigningNow,g as readApprovalFile,f as renderApprovalFile,d as retirementRequest,e as rollbackRequest,h as sameDecision};
