import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d}from"./chunk-HHSEBWAB.js";import"./chunk-R3WZMXRL.js";import"./chunk-K6CKLL5K.js";import"./chunk-3FOTI24T.js";import"./chunk-NTVFFDUR.js";import"./chunk-SLJQ4SUC.js";import"./chunk-3VKNC42J.js";import"./chunk-EFCDYPHC.js";export{a as ActivationFailedError,c as EASY_DKIM,d as pollUntilSettled,b as putKey};
