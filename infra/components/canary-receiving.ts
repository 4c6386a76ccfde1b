/**
 * Where the canary lands (docs/design.md#canary), in the receiving Region:
 * a KMS key and an S3 bucket encrypted with it by default (SSE-KMS), public
 * access blocked, canaries expired after a few days, and a bucket policy
 * that admits only SES, for this account and this receipt rule
 * (docs/design.md#ses-receiving-s3-action); the receipt rule set with the
 * rule for the canary address, made active. S3 and KMS refuse every other
 * writer; the roles' own policies (policies.ts) decide who reads.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  receiptRuleArn,
  sesReceivingBucketPolicy,
  type CanaryConfig,
} from "../../actions/dkim-rotation/src/engine/config";
import type { AccountScope } from "./policies";

/** Days a canary object may outlive a crashed run before S3 expires it. */
export const CANARY_EXPIRY_DAYS = 3;

export interface CanaryReceivingArgs {
  canary: CanaryConfig;
  account: pulumi.Input<AccountScope>;
  activatorRoleArn: pulumi.Input<string>;
  /** A provider for `canary.region`. */
  provider: aws.Provider;
  /** The rua rule (dmarcReports with ruaAddress) that also stores into this bucket, on its own prefix. */
  rua?: { prefix: string; rule: string };
}

/** The KMS key policy: the account administers; SES may encrypt for this rule; the activator decrypts through S3. */
export function canaryKeyPolicy(p: {
  account: AccountScope;
  region: string;
  ruleArn: string;
  activatorRoleArn: string;
  /** Other receipt rules of the account that store here (the rua rule). */
  alsoRuleArns?: string[];
}): string {
  const root = `arn:${p.account.partition}:iam::${p.account.accountId}:root`;
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AccountAdministers",
        Effect: "Allow",
        Principal: { AWS: root },
        Action: "kms:*",
        Resource: "*",
      },
      {
        Sid: "SesEncryptsForTheCanaryRule",
        Effect: "Allow",
        Principal: { Service: "ses.amazonaws.com" },
        Action: ["kms:GenerateDataKey*", "kms:Encrypt"],
        Resource: "*",
        Condition: {
          StringEquals: { "aws:SourceAccount": p.account.accountId },
          ArnLike: { "aws:SourceArn": [p.ruleArn, ...(p.alsoRuleArns ?? [])] },
        },
      },
      {
        Sid: "ActivatorDecryptsThroughS3",
        Effect: "Allow",
        Principal: { AWS: p.activatorRoleArn },
        Action: "kms:Decrypt",
        Resource: "*",
        Condition: { StringEquals: { "kms:ViaService": `s3.${p.region}.amazonaws.com` } },
      },
    ],
  });
}

export class CanaryReceiving extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly key: aws.kms.Key;
  readonly ruleSet: aws.ses.ReceiptRuleSet;
  readonly rule: aws.ses.ReceiptRule;
  /** SES checks at a rule's creation that it may write: rules into this bucket depend on it. */
  readonly policy: aws.s3.BucketPolicy;

  constructor(name: string, args: CanaryReceivingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:CanaryReceiving", name, {}, opts);
    const c = args.canary;
    const childOpts = { parent: this, provider: args.provider };
    const account = pulumi.output(args.account);
    const arnOf = (rule: string) =>
      account.apply((a) =>
        receiptRuleArn({
          partition: a.partition,
          region: c.region,
          account: a.accountId,
          ruleSet: c.ruleSet,
          rule,
        }),
      );
    const ruleArn = arnOf(c.rule);
    const rua = args.rua;
    const ruaArn = rua ? arnOf(rua.rule) : pulumi.output(undefined);

    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `Encrypts canary mail in s3://${c.bucket}/${c.prefix}`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: pulumi
          .all([account, ruleArn, args.activatorRoleArn, ruaArn])
          .apply(([a, r, activator, ruaRule]) =>
            canaryKeyPolicy({
              account: a,
              region: c.region,
              ruleArn: r,
              activatorRoleArn: activator,
              ...(ruaRule ? { alsoRuleArns: [ruaRule] } : {}),
            }),
          ),
      },
      childOpts,
    );
    this.bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { bucket: c.bucket, forceDestroy: false },
      childOpts,
    );
    new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: this.bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      childOpts,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-sse`,
      {
        bucket: this.bucket.id,
        rules: [
          {
            applyServerSideEncryptionByDefault: {
              sseAlgorithm: "aws:kms",
              kmsMasterKeyId: this.key.arn,
            },
            bucketKeyEnabled: true,
          },
        ],
      },
      childOpts,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-expiry`,
      {
        bucket: this.bucket.id,
        rules: [
          {
            id: "expire-canaries",
            status: "Enabled",
            filter: { prefix: c.prefix },
            expiration: { days: CANARY_EXPIRY_DAYS },
          },
        ],
      },
      childOpts,
    );
    const policy = (this.policy = new aws.s3.BucketPolicy(
      `${name}-policy`,
      {
        bucket: this.bucket.id,
        policy: pulumi.all([account, ruleArn, ruaArn]).apply(([a, r, ruaRule]) =>
          sesReceivingBucketPolicy({
            bucket: c.bucket,
            prefix: c.prefix,
            account: a.accountId,
            ruleArn: r,
            partition: a.partition,
            ...(rua && ruaRule ? { also: [{ prefix: rua.prefix, ruleArn: ruaRule }] } : {}),
          }),
        ),
      },
      childOpts,
    ));
    this.ruleSet = new aws.ses.ReceiptRuleSet(
      `${name}-rule-set`,
      { ruleSetName: c.ruleSet },
      childOpts,
    );
    // SES checks at creation that it may write to the bucket: the policy first.
    this.rule = new aws.ses.ReceiptRule(
      `${name}-rule`,
      {
        name: c.rule,
        ruleSetName: this.ruleSet.ruleSetName,
        recipients: [c.address],
        enabled: true,
        scanEnabled: false,
        tlsPolicy: "Require",
        s3Actions: [{ bucketName: this.bucket.id, objectKeyPrefix: c.prefix, position: 1 }],
      },
      { ...childOpts, dependsOn: [policy] },
    );
    new aws.ses.ActiveReceiptRuleSet(
      `${name}-active`,
      { ruleSetName: this.ruleSet.ruleSetName },
      childOpts,
    );
    this.registerOutputs({ bucket: this.bucket.id, ruleSet: this.ruleSet.ruleSetName });
  }
}
