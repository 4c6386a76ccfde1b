import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{a as e,b as i}from"./chunk-764RFIET.js";var o="dkim",s="dkim-retire",d=["dkim","dns-change"];function p(t,n){return`${o}/${t}/${n}`}function f(t,n){return`${s}/${t}/${n}`}function m(t,n){return`DKIM rotation: ${t} → ${n}`}function u(t,n=e){for(let[c,g]of[["rotation",o],["retirement",s]]){let r=new RegExp(`^${g}/([^/]+)/([^/]+)$`).exec(t);if(r)return{kind:c,domain:r[1],selector:r[2],path:i(r[1],r[2],n)}}}export{o as a,s as b,d as c,p as d,f as e,m as f,u as g};
