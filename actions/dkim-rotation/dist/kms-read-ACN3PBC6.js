import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{Be as r,le as n}from"./chunk-ALDSUOIC.js";import"./chunk-22D3QWBO.js";import"./chunk-NYDZDSYU.js";import"./chunk-X4OIQR32.js";import"./chunk-WDYLJF6I.js";import"./chunk-4M2JAAAA.js";import"./chunk-WOKMHEC5.js";import"./chunk-Z3J4BBTR.js";import"./chunk-AWCE32EB.js";import"./chunk-EFCDYPHC.js";var a=class{constructor(e){this.client=e}client;async describeKey(e){let t=(await this.client.send(new n({KeyId:e}))).KeyMetadata;if(!t?.Arn)throw new Error(`DescribeKey returned no metadata for ${e}`);return{arn:t.Arn,enabled:t.Enabled===!0,state:t.KeyState??"unknown",usage:t.KeyUsage}}async rotationEnabled(e){return(await this.client.send(new r({KeyId:e}))).KeyRotationEnabled===!0}};export{a as KmsReader};
