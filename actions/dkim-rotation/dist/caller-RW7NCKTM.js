import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b}from"./chunk-MNLOQMU7.js";import"./chunk-XEAZXPMF.js";import"./chunk-WTTHHHFM.js";import"./chunk-O6XDJEYY.js";import"./chunk-CBIMVF3O.js";import"./chunk-PSQZGN7K.js";import"./chunk-Y2FWXLGC.js";import"./chunk-LMNBXCQS.js";import"./chunk-BGI4IIAW.js";import"./chunk-W27CSGU4.js";import"./chunk-R35V34Q5.js";import"./chunk-EFCDYPHC.js";export{a as StsCaller,b as missingCredentials};
