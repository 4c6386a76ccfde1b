import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import"./chunk-EFCDYPHC.js";function e(){throw new Error("bowser is not bundled with the action: browser user agents only")}var r={parse:e};export{r as default,e as parse};
