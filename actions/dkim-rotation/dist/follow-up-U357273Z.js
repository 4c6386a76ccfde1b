import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c}from"./chunk-ZJKJIVO6.js";import"./chunk-KUPEVI5Q.js";import"./chunk-X546ZTA2.js";import"./chunk-WKXN5PJB.js";import"./chunk-JHP2MPJF.js";import"./chunk-SLJQ4SUC.js";import"./chunk-H7YEBV64.js";import"./chunk-K3BHLIAD.js";import"./chunk-NTVFFDUR.js";import"./chunk-OHY7PRPL.js";import"./chunk-PWPW2RXZ.js";import"./chunk-EFCDYPHC.js";export{c as awaitingAutomaticPublication,a as followUp,b as publishMerged};
