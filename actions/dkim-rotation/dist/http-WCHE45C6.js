import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
var a=()=>require("node:http");import"./chunk-LFPHRO4A.js";export default a();
