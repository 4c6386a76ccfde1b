import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{Be as r,le as n}from"./chunk-IC4U626H.js";import"./chunk-WTTHHHFM.js";import"./chunk-CBIMVF3O.js";import"./chunk-PSQZGN7K.js";import"./chunk-Y2FWXLGC.js";import"./chunk-LMNBXCQS.js";import"./chunk-BGI4IIAW.js";import"./chunk-W27CSGU4.js";import"./chunk-R35V34Q5.js";import"./chunk-EFCDYPHC.js";var a=class{constructor(e){this.client=e}client;async describeKey(e){let t=(await this.client.send(new n({KeyId:e}))).KeyMetadata;if(!t?.Arn)throw new Error(`DescribeKey returned no metadata for ${e}`);return{arn:t.Arn,enabled:t.Enabled===!0,state:t.KeyState??"unknown",usage:t.KeyUsage}}async rotationEnabled(e){return(await this.client.send(new r({KeyId:e}))).KeyRotationEnabled===!0}};export{a as KmsReader};
