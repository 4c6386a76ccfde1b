import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a,b}from"./chunk-H4FOXX5H.js";import"./chunk-RJGW723Q.js";import"./chunk-FBRTC5H5.js";import"./chunk-M4WYDR5I.js";import"./chunk-AU2GBQ5H.js";import"./chunk-TGL4KCRK.js";import"./chunk-4WCXJ52X.js";import"./chunk-G2JE3HPW.js";import"./chunk-VN4CE4US.js";import"./chunk-ZAHQUDZG.js";import"./chunk-WDIXXURR.js";import"./chunk-LFPHRO4A.js";export{a as StsCaller,b as missingCredentials};
