import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import"./chunk-EFCDYPHC.js";function l(e,t,a,o,f){let s=[],d=[];for(let n of t){let c=a.find(r=>r.domain===n.domain);if(c){d.push({...n,reason:`not asking again: ${u(c)}`});continue}let i=o.find(r=>r.kind===e&&r.domain===n.domain&&r.selector===n.selector);if(i?.rejectedBy&&f==="schedule"){d.push({...n,reason:`rejected by ${i.rejectedBy} in run ${i.runId}; asked again after a new merge to dns/, a new key, or a manual run of the workflow`});continue}s.push(n)}return{offer:s,held:d}}function u(e){let t=e.status==="waiting"?"waits for approval":e.status==="in_progress"?"is running":"is queued";return`the ${e.kind} job for ${e.selector} ${t} in run ${e.runId} (${e.runUrl})`}function p(e,t){let a=e.find(o=>o.kind==="rollback"&&o.domain===t);return a?`${u(a)}; approve, reject or cancel that run before dispatching another`:void 0}export{l as holdBack,p as openRollbackOf};
