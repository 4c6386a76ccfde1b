import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{Be as o}from"./chunk-IWFZDE6V.js";import{d as a,e as r}from"./chunk-3VKNC42J.js";import"./chunk-XGQFUA67.js";import"./chunk-UQJCKHA4.js";import"./chunk-VWR34VT3.js";import"./chunk-DG5UYDIH.js";import"./chunk-PUDDN2P2.js";import"./chunk-ONBDM3QU.js";import"./chunk-BA5GH6P7.js";import"./chunk-UIDK3IWM.js";import"./chunk-EFCDYPHC.js";var c=1e3,s=class{client;namespace;clock;constructor(t){this.client=t.client,this.namespace=t.namespace??r,this.clock=t.clock}async publish(t){let i=this.clock?.now(),n=t.map(e=>{if(!Number.isFinite(e.value))throw new RangeError(`metric ${e.name} for ${e.domain} is not a finite number`);return{MetricName:e.name,Dimensions:[{Name:a,Value:e.domain}],Value:e.value,...e.unit?{Unit:e.unit}:{},...i?{Timestamp:i}:{}}});for(let e=0;e<n.length;e+=c)await this.client.send(new o({Namespace:this.namespace,MetricData:n.slice(e,e+c)}))}};export{s as CloudWatchMetrics,c as MAX_DATUMS_PER_CALL};
