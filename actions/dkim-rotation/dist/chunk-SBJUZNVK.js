import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a as e,b as i}from"./chunk-YFVD6TZ7.js";var o="dkim",s="dkim-retire",d=["dkim","dns-change"];function p(t,n){return`${o}/${t}/${n}`}function f(t,n){return`${s}/${t}/${n}`}function m(t,n){return`DKIM rotation: ${t} → ${n}`}function u(t,n=e){for(let[c,g]of[["rotation",o],["retirement",s]]){let r=new RegExp(`^${g}/([^/]+)/([^/]+)$`).exec(t);if(r)return{kind:c,domain:r[1],selector:r[2],path:i(r[1],r[2],n)}}}export{o as a,s as b,d as c,p as d,f as e,m as f,u as g};
