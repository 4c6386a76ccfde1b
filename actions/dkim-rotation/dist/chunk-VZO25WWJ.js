import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
function s(t,r){return{domain:t,selector:r}}var n=class extends Error{constructor(r){super(r),this.name="KmsCustodyError"}};export{s as a,n as b};
