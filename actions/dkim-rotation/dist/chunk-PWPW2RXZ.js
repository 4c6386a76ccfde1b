import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
var t="DaysUntilExpiry",o="DkimStatusNotSuccess",_="PendingPublicationDays",E="Domain",I="DmarcDkimPass",e="DmarcDkimFail",D="Selector",M="DmarcNewestSelectorFailureShare",S="SesDkimRotation";export{t as a,o as b,_ as c,E as d,I as e,e as f,D as g,M as h,S as i};
