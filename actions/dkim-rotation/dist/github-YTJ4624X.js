import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{b as i,c as j,d as k,e as l,f as m,g as n,h as o,i as p,j as q,k as r,l as s}from"./chunk-LIIDOIFO.js";import{a,b,c,d,e,f,g,i as h}from"./chunk-FFAVXGAM.js";import"./chunk-WKXN5PJB.js";import"./chunk-SLJQ4SUC.js";import"./chunk-NTVFFDUR.js";import"./chunk-EFCDYPHC.js";export{c as DEFAULT_LABELS,o as GitHubApiError,s as GitHubChangeRequests,b as RETIREMENT_BRANCH_PREFIX,a as ROTATION_BRANCH_PREFIX,m as RUNNER_PACING,h as batchBranch,g as botBranchChange,i as codeownersFor,n as createOctokit,q as describeRebuild,k as gitBlobSha,r as judgeBranch,l as readCodeowners,e as retirementBranch,j as retirementTitle,d as rotationBranch,f as rotationTitle,p as withRebuildNotes};
