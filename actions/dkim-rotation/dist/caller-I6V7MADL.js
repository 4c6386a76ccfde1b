import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b}from"./chunk-YMQQIQZE.js";import"./chunk-D2T6FMGT.js";import"./chunk-CVOEUCLF.js";import"./chunk-XGQFUA67.js";import"./chunk-UQJCKHA4.js";import"./chunk-VWR34VT3.js";import"./chunk-DG5UYDIH.js";import"./chunk-PUDDN2P2.js";import"./chunk-ONBDM3QU.js";import"./chunk-BA5GH6P7.js";import"./chunk-UIDK3IWM.js";import"./chunk-EFCDYPHC.js";export{a as StsCaller,b as missingCredentials};
