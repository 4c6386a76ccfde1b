import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{Be as o}from"./chunk-WQNZV2LG.js";import{d as n,g as c,i as r}from"./chunk-PWPW2RXZ.js";import"./chunk-22D3QWBO.js";import"./chunk-NYDZDSYU.js";import"./chunk-X4OIQR32.js";import"./chunk-WDYLJF6I.js";import"./chunk-4M2JAAAA.js";import"./chunk-WOKMHEC5.js";import"./chunk-Z3J4BBTR.js";import"./chunk-AWCE32EB.js";import"./chunk-EFCDYPHC.js";var s=1e3,l=class{client;namespace;clock;constructor(t){this.client=t.client,this.namespace=t.namespace??r,this.clock=t.clock}async publish(t){let a=this.clock?.now(),i=t.map(e=>{if(!Number.isFinite(e.value))throw new RangeError(`metric ${e.name} for ${e.domain} is not a finite number`);return{MetricName:e.name,Dimensions:[{Name:n,Value:e.domain},...e.selector?[{Name:c,Value:e.selector}]:[]],Value:e.value,...e.unit?{Unit:e.unit}:{},...e.at??a?{Timestamp:e.at??a}:{}}});for(let e=0;e<i.length;e+=s)await this.client.send(new o({Namespace:this.namespace,MetricData:i.slice(e,e+s)}))}};export{l as CloudWatchMetrics,s as MAX_DATUMS_PER_CALL};
