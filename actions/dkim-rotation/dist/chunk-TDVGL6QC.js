import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
function i(n){let e=0,r=0;for(let[t,s]of Object.entries(n))t==="pass"?e+=s:t!=="none"&&(r+=s);return{pass:e,fail:r}}export{i as a};
