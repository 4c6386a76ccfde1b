import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{d,e as g}from"./chunk-7QJYGYEW.js";import{b as p,c}from"./chunk-WKXN5PJB.js";import{d as a}from"./chunk-SLJQ4SUC.js";import{i as s}from"./chunk-NTVFFDUR.js";import"./chunk-EFCDYPHC.js";async function K(e,r,i,f){let y=d(e.config,r),n;if(f==="stored"){let t=(await e.keys.list(r)).find(o=>o.selector===i);if(!t)throw new s(r,`no stored key for ${i}; nothing to verify against`);n=a(await g(e,y,t)).publicKey}else{let t=(await e.records.read(r)).find(o=>o.selector===i);if(!t)throw new s(r,`${p(r,i,c(e.config))} is not on main`);n=t.publicKey}return{...await e.dns.verify(r,i,n,y.nameservers),keySource:f}}export{K as runVerify};
