import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{a}from"./chunk-HYGGQ5H6.js";import"./chunk-LFPHRO4A.js";export default a();
