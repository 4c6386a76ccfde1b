import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
function i(n){let e=0,r=0;for(let[t,s]of Object.entries(n))t==="pass"?e+=s:t!=="none"&&(r+=s);return{pass:e,fail:r}}export{i as a};
