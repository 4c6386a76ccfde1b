import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d}from"./chunk-PLG6X2IM.js";import"./chunk-EFNBZEY5.js";import"./chunk-HSMCEAET.js";import"./chunk-AREMYQ5M.js";import"./chunk-27KUSLOF.js";import"./chunk-6Y5CWFDI.js";import"./chunk-NTVFFDUR.js";import"./chunk-SLJQ4SUC.js";import"./chunk-PWPW2RXZ.js";import"./chunk-EFCDYPHC.js";export{a as ActivationFailedError,c as EASY_DKIM,d as pollUntilSettled,b as putKey};
