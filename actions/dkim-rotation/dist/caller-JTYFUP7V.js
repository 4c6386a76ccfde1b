import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b}from"./chunk-5WR2A44P.js";import"./chunk-VIQNQEUU.js";import"./chunk-TL3WEYW6.js";import"./chunk-4ZNHSBL7.js";import"./chunk-YGBK5OWC.js";import"./chunk-6FVDZYEF.js";import"./chunk-EUVSU6KO.js";import"./chunk-QLOUGZVR.js";import"./chunk-4PYLXCJ6.js";import"./chunk-F3KRG2KD.js";import"./chunk-3QM7FVCA.js";import"./chunk-PHCRVYVM.js";import"./chunk-5PTNV2UZ.js";import"./chunk-4FBLSEMY.js";import"./chunk-FMITSGBH.js";import"./chunk-UWBX6LOJ.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";export{a as StsCaller,b as missingCredentials};
