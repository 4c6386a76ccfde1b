import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{b as h,c as i,d as j,e as k,f as l,g as m,h as n,i as o,j as p,k as q,l as r}from"./chunk-DQNSFL6O.js";import{a,b,c,d,e,f,g}from"./chunk-VTWKTT6P.js";import"./chunk-764RFIET.js";import"./chunk-NTVFFDUR.js";import"./chunk-I2OLQJVX.js";import"./chunk-GA6VQ6MW.js";import"./chunk-5PTNV2UZ.js";import"./chunk-UWBX6LOJ.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";export{c as DEFAULT_LABELS,n as GitHubApiError,r as GitHubChangeRequests,b as RETIREMENT_BRANCH_PREFIX,a as ROTATION_BRANCH_PREFIX,l as RUNNER_PACING,g as botBranchChange,h as codeownersFor,m as createOctokit,p as describeRebuild,j as gitBlobSha,q as judgeBranch,k as readCodeowners,e as retirementBranch,i as retirementTitle,d as rotationBranch,f as rotationTitle,o as withRebuildNotes};
