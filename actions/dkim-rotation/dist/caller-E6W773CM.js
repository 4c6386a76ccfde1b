import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a,b}from"./chunk-NU67SYN3.js";import"./chunk-MWMQBVSV.js";import"./chunk-7V4652G7.js";import"./chunk-22D3QWBO.js";import"./chunk-NYDZDSYU.js";import"./chunk-X4OIQR32.js";import"./chunk-WDYLJF6I.js";import"./chunk-4M2JAAAA.js";import"./chunk-WOKMHEC5.js";import"./chunk-Z3J4BBTR.js";import"./chunk-AWCE32EB.js";import"./chunk-EFCDYPHC.js";export{a as StsCaller,b as missingCredentials};
