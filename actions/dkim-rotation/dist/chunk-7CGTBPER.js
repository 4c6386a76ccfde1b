import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
var t="DaysUntilExpiry",o="DkimStatusNotSuccess",_="PendingPublicationDays",E="Domain",I="DmarcDkimPass",e="DmarcDkimFail",D="Selector",M="DmarcNewestSelectorFailureShare",S="SesDkimRotation";export{t as a,o as b,_ as c,E as d,I as e,e as f,D as g,M as h,S as i};
