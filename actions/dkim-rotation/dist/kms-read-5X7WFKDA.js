import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{Be as r,le as n}from"./chunk-JU4KI5D6.js";import"./chunk-XGQFUA67.js";import"./chunk-UQJCKHA4.js";import"./chunk-VWR34VT3.js";import"./chunk-DG5UYDIH.js";import"./chunk-PUDDN2P2.js";import"./chunk-ONBDM3QU.js";import"./chunk-BA5GH6P7.js";import"./chunk-UIDK3IWM.js";import"./chunk-EFCDYPHC.js";var a=class{constructor(e){this.client=e}client;async describeKey(e){let t=(await this.client.send(new n({KeyId:e}))).KeyMetadata;if(!t?.Arn)throw new Error(`DescribeKey returned no metadata for ${e}`);return{arn:t.Arn,enabled:t.Enabled===!0,state:t.KeyState??"unknown",usage:t.KeyUsage}}async rotationEnabled(e){return(await this.client.send(new r({KeyId:e}))).KeyRotationEnabled===!0}};export{a as KmsReader};
