import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{Be as o}from"./chunk-RJFS462U.js";import"./chunk-WTTHHHFM.js";import{d as n,g as c,i as r}from"./chunk-PWPW2RXZ.js";import"./chunk-CBIMVF3O.js";import"./chunk-PSQZGN7K.js";import"./chunk-Y2FWXLGC.js";import"./chunk-LMNBXCQS.js";import"./chunk-BGI4IIAW.js";import"./chunk-W27CSGU4.js";import"./chunk-R35V34Q5.js";import"./chunk-EFCDYPHC.js";var s=1e3,l=class{client;namespace;clock;constructor(t){this.client=t.client,this.namespace=t.namespace??r,this.clock=t.clock}async publish(t){let a=this.clock?.now(),i=t.map(e=>{if(!Number.isFinite(e.value))throw new RangeError(`metric ${e.name} for ${e.domain} is not a finite number`);return{MetricName:e.name,Dimensions:[{Name:n,Value:e.domain},...e.selector?[{Name:c,Value:e.selector}]:[]],Value:e.value,...e.unit?{Unit:e.unit}:{},...e.at??a?{Timestamp:e.at??a}:{}}});for(let e=0;e<i.length;e+=s)await this.client.send(new o({Namespace:this.namespace,MetricData:i.slice(e,e+s)}))}};export{l as CloudWatchMetrics,s as MAX_DATUMS_PER_CALL};
