/**
 * Who the AWS credentials belong to: STS GetCallerIdentity, which needs no
 * permission (AWS: "No permissions are required to perform this operation"),
 * so `doctor` can name the caller even when everything else is denied.
 */
import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import type { CallerPort } from "../doctor";

export class StsCaller implements CallerPort {
  constructor(private readonly client: STSClient) {}

  async whoAmI(): Promise<{ arn: string; account: string }> {
    const res = await this.client.send(new GetCallerIdentityCommand({}));
    if (!res.Arn || !res.Account) throw new Error("GetCallerIdentity returned no Arn or Account");
    return { arn: res.Arn, account: res.Account };
  }
}
