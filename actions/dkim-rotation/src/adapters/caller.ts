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

/**
 * The SDK's refusal when its provider chain found no usable credentials
 * (`CredentialsProviderError`), as one problem and its fix; undefined for any
 * other error. The SDK's own words ("Could not load credentials from any
 * providers") name no fix.
 */
export function missingCredentials(err: unknown): { problem: string; fix: string } | undefined {
  const e = err as { name?: string; message?: string } | undefined;
  if (e?.name !== "CredentialsProviderError") return undefined;
  const generic = /from any providers/.test(e.message ?? "");
  return {
    problem: generic
      ? "no AWS credentials found"
      : `no usable AWS credentials (${String(e.message).split("\n")[0]})`,
    fix: "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --endpoint for the local emulator; in a workflow, the OIDC role",
  };
}
