import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b,c}from"./chunk-WZULLGF4.js";import"./chunk-EF2E2YEC.js";import"./chunk-2JMY3HIG.js";import"./chunk-TPU6JPYB.js";import"./chunk-DVXLWIRM.js";import"./chunk-EKQFGB43.js";import"./chunk-Y3QKIWLJ.js";import"./chunk-764RFIET.js";import"./chunk-NTVFFDUR.js";import"./chunk-I2OLQJVX.js";import"./chunk-PWPW2RXZ.js";import"./chunk-GA6VQ6MW.js";import"./chunk-3QM7FVCA.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";export{c as awaitingAutomaticPublication,a as followUp,b as publishMerged};
