import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c}from"./chunk-QAUMKGIV.js";import"./chunk-2NK6F23O.js";import"./chunk-X546ZTA2.js";import"./chunk-WKXN5PJB.js";import"./chunk-4GEB2EGQ.js";import"./chunk-SLJQ4SUC.js";import"./chunk-NIZULA7O.js";import"./chunk-K3SAUPA3.js";import"./chunk-NTVFFDUR.js";import"./chunk-FHEMC7ET.js";import"./chunk-ABJB4OXV.js";import"./chunk-PWPW2RXZ.js";import"./chunk-EFCDYPHC.js";export{c as awaitingAutomaticPublication,a as followUp,b as publishMerged};
