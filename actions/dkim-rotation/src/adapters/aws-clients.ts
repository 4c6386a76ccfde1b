/**
 * Every AWS client of the project at once, for the tests and tools that want
 * them all. The action builds its clients in context.ts instead, each on first
 * use, so that a command loads only the SDK packages it calls
 * (docs/design.md#action-bundle).
 */
import { SNSClient } from "@aws-sdk/client-sns";
import { Route53Client } from "@aws-sdk/client-route-53";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { STSClient } from "@aws-sdk/client-sts";
import { KMSClient } from "@aws-sdk/client-kms";
import { awsClientConfig, ROUTE53_SIGNING_REGION, type AwsClientsOptions } from "./ses";

export interface AwsClients {
  ses: Map<string, SESv2Client>;
  secrets: SecretsManagerClient;
  /** In the home Region, beside the secrets it wraps keys for. */
  kms: KMSClient;
  cloudwatch: CloudWatchClient;
  /** GetCallerIdentity: doctor, and the account of the notification topic's ARN. */
  sts: STSClient;
  /** Notifications, in the home Region where infra/ makes the topic. */
  sns: SNSClient;
  /** Route 53 is global: the SDK signs for us-east-1 (AWS General Reference, Route 53 endpoints). */
  route53: Route53Client;
}

/**
 * Build real SDK clients. `retryMode: "adaptive"` adds client-side rate
 * limiting that backs off on throttling errors (TooManyRequestsException),
 * behind the RegionPacer that should make them rare.
 */
export function createAwsClients(options: AwsClientsOptions): AwsClients {
  if (options.regions.length === 0)
    throw new Error("createAwsClients: at least one Region is required");
  const common = awsClientConfig(options);
  const home = options.homeRegion ?? (options.regions[0] as string);
  return {
    ses: new Map(options.regions.map((region) => [region, new SESv2Client({ ...common, region })])),
    secrets: new SecretsManagerClient({ ...common, region: home }),
    kms: new KMSClient({ ...common, region: home }),
    cloudwatch: new CloudWatchClient({ ...common, region: home }),
    sts: new STSClient({ ...common, region: home }),
    sns: new SNSClient({ ...common, region: home }),
    route53: new Route53Client({ ...common, region: ROUTE53_SIGNING_REGION }),
  };
}
