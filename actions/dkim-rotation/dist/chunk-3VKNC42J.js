import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
var t="DaysUntilExpiry",o="DkimStatusNotSuccess",I="PendingPublicationDays",_="Domain",E="SesDkimRotation";export{t as a,o as b,I as c,_ as d,E as e};
