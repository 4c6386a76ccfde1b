import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{b as r,e as a,g as o,h as i,j as s,k as p}from"./chunk-ABJB4OXV.js";var l=["activate","retire","rollback"],c="approvals";function d(t,n,e){return`${c}/${t}/${n}.${e}.yml`}function z(t,n,e){return`dkim-approval/${t}/${n}.${e}`}var m=/^approvals\/([^/]+)\/([^/]+)\.(activate|retire|rollback)\.yml$/;function A(t){let n=m.exec(t);if(n)return{domain:n[1],selector:n[2],kind:n[3]}}var g=i({nameserver:r().min(1),address:r().min(1).optional(),serves:a(),detail:r().optional()}).strict(),u=i({version:p(1),kind:s(l),domain:r().min(1),selector:r().min(1),fingerprint:r().min(1),regions:o(r().min(1)).min(1),signsNow:r().min(1),wayBack:r().min(1),reason:r().optional(),evidence:i({checkedAt:r().min(1),nameservers:o(g),probe:r().min(1)}).strict()}).strict();export{c as a,d as b,z as c,A as d,u as e};
