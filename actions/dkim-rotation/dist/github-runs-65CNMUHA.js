import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d,e}from"./chunk-ESJ5P2LM.js";import"./chunk-DQNSFL6O.js";import"./chunk-VTWKTT6P.js";import"./chunk-764RFIET.js";import"./chunk-NTVFFDUR.js";import"./chunk-I2OLQJVX.js";import"./chunk-GA6VQ6MW.js";import"./chunk-5PTNV2UZ.js";import"./chunk-UWBX6LOJ.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";export{a as ACTIVATE_WORKFLOW,c as GATED_JOB_NAMES,e as GitHubRuns,b as ROLLBACK_WORKFLOW,d as parseGatedJobName};
