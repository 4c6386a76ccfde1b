/**
 * What infra/ makes for the canary (docs/design.md#canary), made in the
 * emulator the way the stack would have it: the bucket (SSE-KMS, lifecycle
 * expiry, a policy admitting only SES for this account and rule) and the
 * active receipt rule set whose rule stores mail for the canary address.
 * The rule set goes through the real SES v1 client, so SES's own check that
 * it may write to the bucket runs.
 */
import {
  CreateReceiptRuleCommand,
  CreateReceiptRuleSetCommand,
  SESClient,
  SetActiveReceiptRuleSetCommand,
} from "@aws-sdk/client-ses";
import {
  receiptRuleArn,
  sesReceivingBucketPolicy,
  type CanaryConfig,
} from "../../actions/dkim-rotation/src/engine/canary-config";
import type { DmarcReportsConfig } from "../../actions/dkim-rotation/src/engine/config";
import type { AwsEmulator } from "./aws-emulator";

export const CANARY_ACCOUNT = "123456789012";
/** The rua rule's name in the sandbox (infra/ names it `<prefix>-dmarc-rua`). */
const RUA_RULE = "dmarc-rua";

export async function provisionCanary(
  emulator: AwsEmulator,
  c: CanaryConfig,
  credentials: { accessKeyId: string; secretAccessKey: string },
  account = CANARY_ACCOUNT,
  /**
   * `dmarcReports` with a `ruaAddress`: its rule joins the rule set and
   * stores into the same bucket on its own prefix, as infra/ makes it
   * (docs/design.md#dmarc-aggregate-reports).
   */
  reports?: DmarcReportsConfig,
): Promise<void> {
  const arnOf = (rule: string) =>
    receiptRuleArn({ region: c.region, account, ruleSet: c.ruleSet, rule });
  const rua = reports?.ruaAddress
    ? { address: reports.ruaAddress, prefix: reports.prefix }
    : undefined;
  emulator.s3.createBucket({
    name: c.bucket,
    region: c.region,
    kmsKeyArn: `arn:aws:kms:${c.region}:${account}:key/00000000-0000-4000-8000-000000000001`,
    expirationDays: 7,
    policy: sesReceivingBucketPolicy({
      bucket: c.bucket,
      prefix: c.prefix,
      account,
      ruleArn: arnOf(c.rule),
      ...(rua ? { also: [{ prefix: rua.prefix, ruleArn: arnOf(RUA_RULE) }] } : {}),
    }),
  });
  const ses = new SESClient({ region: c.region, endpoint: emulator.url, credentials });
  try {
    await ses.send(new CreateReceiptRuleSetCommand({ RuleSetName: c.ruleSet }));
    await ses.send(
      new CreateReceiptRuleCommand({
        RuleSetName: c.ruleSet,
        Rule: {
          Name: c.rule,
          Enabled: true,
          Recipients: [c.address],
          Actions: [{ S3Action: { BucketName: c.bucket, ObjectKeyPrefix: c.prefix } }],
        },
      }),
    );
    if (rua)
      await ses.send(
        new CreateReceiptRuleCommand({
          RuleSetName: c.ruleSet,
          Rule: {
            Name: RUA_RULE,
            Enabled: true,
            Recipients: [rua.address],
            Actions: [{ S3Action: { BucketName: c.bucket, ObjectKeyPrefix: rua.prefix } }],
          },
        }),
      );
    await ses.send(new SetActiveReceiptRuleSetCommand({ RuleSetName: c.ruleSet }));
  } finally {
    ses.destroy();
  }
}
