import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
function s(t,r){return{domain:t,selector:r}}var n=class extends Error{constructor(r){super(r),this.name="KmsCustodyError"}};export{s as a,n as b};
