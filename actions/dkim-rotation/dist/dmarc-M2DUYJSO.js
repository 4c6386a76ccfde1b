import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d,e}from"./chunk-CUVV4J4I.js";import"./chunk-AYKNMFM6.js";import"./chunk-2AILCEWP.js";import"./chunk-NTVFFDUR.js";import"./chunk-JEYTF4LS.js";import"./chunk-FHEMC7ET.js";import"./chunk-66DH7OOD.js";import"./chunk-PWPW2RXZ.js";import"./chunk-EFCDYPHC.js";export{b as aggregateReports,d as alarmLine,c as judgeNewestSelector,a as passFail,e as runReports};
