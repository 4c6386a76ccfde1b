import { createRequire as __dkimCreateRequire } from 'node:module';
import { fileURLToPath as __dkimFileURLToPath } from 'node:url';
import { dirname as __dkimDirname } from 'node:path';
const require = __dkimCreateRequire(import.meta.url);
const __filename = __dkimFileURLToPath(import.meta.url);
const __dirname = __dkimDirname(__filename);
import{Be as r,le as n}from"./chunk-TGRRH2HP.js";import"./chunk-TL3WEYW6.js";import"./chunk-YGBK5OWC.js";import"./chunk-6FVDZYEF.js";import"./chunk-EUVSU6KO.js";import"./chunk-QLOUGZVR.js";import"./chunk-4PYLXCJ6.js";import"./chunk-F3KRG2KD.js";import"./chunk-3QM7FVCA.js";import"./chunk-PHCRVYVM.js";import"./chunk-5PTNV2UZ.js";import"./chunk-4FBLSEMY.js";import"./chunk-FMITSGBH.js";import"./chunk-UWBX6LOJ.js";import"./chunk-XPCFRVON.js";import"./chunk-EFCDYPHC.js";var a=class{constructor(e){this.client=e}client;async describeKey(e){let t=(await this.client.send(new n({KeyId:e}))).KeyMetadata;if(!t?.Arn)throw new Error(`DescribeKey returned no metadata for ${e}`);return{arn:t.Arn,enabled:t.Enabled===!0,state:t.KeyState??"unknown",usage:t.KeyUsage}}async rotationEnabled(e){return(await this.client.send(new r({KeyId:e}))).KeyRotationEnabled===!0}};export{a as KmsReader};
