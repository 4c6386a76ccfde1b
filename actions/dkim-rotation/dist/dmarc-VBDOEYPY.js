import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c,d,e}from"./chunk-IQTNBWB3.js";import"./chunk-OQQGBVCH.js";import"./chunk-AP5MAIL6.js";import"./chunk-NTVFFDUR.js";import"./chunk-XLJCM36G.js";import"./chunk-PNKPBVIY.js";import"./chunk-PWPW2RXZ.js";import"./chunk-EFCDYPHC.js";export{b as aggregateReports,d as alarmLine,c as judgeNewestSelector,a as passFail,e as runReports};
