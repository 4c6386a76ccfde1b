import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a,b,c,d,e,f,g}from"./chunk-4WCXJ52X.js";import"./chunk-VN4CE4US.js";import"./chunk-ZAHQUDZG.js";import"./chunk-WDIXXURR.js";import"./chunk-LFPHRO4A.js";export{f as ENV_ACCOUNT_ID,e as ENV_CREDENTIAL_SCOPE,d as ENV_EXPIRATION,a as ENV_KEY,b as ENV_SECRET,c as ENV_SESSION,g as fromEnv};
