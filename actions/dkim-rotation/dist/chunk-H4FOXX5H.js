import { createRequire as __dkimCreateRequire } from 'node:module';
const require = __dkimCreateRequire(import.meta.url);
import{Ga as r}from"./chunk-RJGW723Q.js";var t=class{constructor(e){this.client=e}client;async whoAmI(){let e=await this.client.send(new r({}));if(!e.Arn||!e.Account)throw new Error("GetCallerIdentity returned no Arn or Account");return{arn:e.Arn,account:e.Account}}};function s(n){let e=n;return e?.name!=="CredentialsProviderError"?void 0:{problem:/from any providers/.test(e.message??"")?"no AWS credentials found":`no usable AWS credentials (${String(e.message).split(`
`)[0]})`,fix:"set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --endpoint for the local emulator; in a workflow, the OIDC role"}}export{t as a,s as b};
