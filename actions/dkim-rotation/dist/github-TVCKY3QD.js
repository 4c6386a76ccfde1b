import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a as h,b as i,c as j,d as k,e as l,f as m,g as n,h as o,i as p,j as q,k as r}from"./chunk-UA3H2WWJ.js";import{a,b,c,d,e,f,g}from"./chunk-LP4IHO46.js";import"./chunk-PZQAXDY2.js";import"./chunk-NTVFFDUR.js";import"./chunk-SLJQ4SUC.js";import"./chunk-EFCDYPHC.js";export{c as DEFAULT_LABELS,n as GitHubApiError,r as GitHubChangeRequests,b as RETIREMENT_BRANCH_PREFIX,a as ROTATION_BRANCH_PREFIX,l as RUNNER_PACING,g as botBranchChange,j as codeownersFor,m as createOctokit,p as describeRebuild,i as gitBlobSha,q as judgeBranch,k as readCodeowners,e as retirementBranch,h as retirementTitle,d as rotationBranch,f as rotationTitle,o as withRebuildNotes};
