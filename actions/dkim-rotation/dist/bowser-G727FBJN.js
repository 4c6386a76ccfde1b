import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import"./chunk-LFPHRO4A.js";function e(){throw new Error("bowser is not bundled with the action: browser user agents only")}var r={parse:e};export{r as default,e as parse};
