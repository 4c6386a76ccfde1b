import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a as r,c as i}from"./chunk-LFPHRO4A.js";var o=i((p,e)=>{e.exports=r("node:http")});export{o as a};
