import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d,e,f,g}from"./chunk-EUVSU6KO.js";import"./chunk-F3KRG2KD.js";import"./chunk-3QM7FVCA.js";import"./chunk-PHCRVYVM.js";import"./chunk-5PTNV2UZ.js";import"./chunk-4FBLSEMY.js";import"./chunk-FMITSGBH.js";import"./chunk-UWBX6LOJ.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";export{f as ENV_ACCOUNT_ID,e as ENV_CREDENTIAL_SCOPE,d as ENV_EXPIRATION,a as ENV_KEY,b as ENV_SECRET,c as ENV_SESSION,g as fromEnv};
