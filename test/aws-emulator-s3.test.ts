/**
 * The emulator's S3 and SES receiving, driven by the real @aws-sdk/client-s3
 * (path-style) and @aws-sdk/client-ses (query) over loopback: the S3 API
 * reference's errors and paging, the bucket policy SES writes under, and a
 * message SES sent landing raw at `<prefix><message id>`
 * (docs/design.md#emulated-s3, docs/design.md#emulated-ses-receiving).
 */
import { expect } from "chai";
import {
  DeleteObjectCommand,
  GetBucketPolicyCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  CreateReceiptRuleCommand,
  CreateReceiptRuleSetCommand,
  DescribeActiveReceiptRuleSetCommand,
  SESClient,
  SetActiveReceiptRuleSetCommand,
} from "@aws-sdk/client-ses";
import { startAwsEmulator, type AwsEmulator } from "../scripts/sandbox/aws-emulator";
import { sesReceivingBucketPolicy } from "../actions/dkim-rotation/src/engine/canary-config";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator-secret" };
const ACCOUNT = "123456789012";
const RECEIVING = "us-east-1";
const RULE_ARN = `arn:aws:ses:${RECEIVING}:${ACCOUNT}:receipt-rule-set/canary:receipt-rule/canary`;

async function expectError(p: Promise<unknown>, name: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect((err as Error).name, (err as Error).message).to.equal(name);
    return err as Error;
  }
  expect.fail(`expected ${name}`);
}

describe("emulator: S3 against the real client", function () {
  this.timeout(20_000);
  let aws: AwsEmulator;
  let s3: S3Client;
  before(async () => {
    aws = await startAwsEmulator({
      sesRequestsPerSecond: 50,
      s3Buckets: [
        {
          name: "mail-proof",
          region: RECEIVING,
          kmsKeyArn: `arn:aws:kms:${RECEIVING}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
          policy: sesReceivingBucketPolicy({
            bucket: "mail-proof",
            prefix: "canary/",
            account: ACCOUNT,
            ruleArn: RULE_ARN,
          }),
        },
      ],
    });
    s3 = new S3Client({ endpoint: aws.url, region: RECEIVING, forcePathStyle: true, credentials });
  });
  after(() => aws.close());

  it("puts, gets, lists and deletes objects with SSE-KMS as the bucket's default", async () => {
    const put = await s3.send(
      new PutObjectCommand({ Bucket: "mail-proof", Key: "x/a b+ü.eml", Body: "hello" }),
    );
    expect(put.ServerSideEncryption).to.equal("aws:kms");
    const got = await s3.send(new GetObjectCommand({ Bucket: "mail-proof", Key: "x/a b+ü.eml" }));
    expect(await got.Body!.transformToString()).to.equal("hello");
    expect(got.SSEKMSKeyId).to.match(/^arn:aws:kms:/);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: "mail-proof", Prefix: "x/" }));
    expect(list.Contents?.map((c) => c.Key)).to.deep.equal(["x/a b+ü.eml"]);
    expect(list.KeyCount).to.equal(1);
    await s3.send(new DeleteObjectCommand({ Bucket: "mail-proof", Key: "x/a b+ü.eml" }));
    await expectError(
      s3.send(new GetObjectCommand({ Bucket: "mail-proof", Key: "x/a b+ü.eml" })),
      NoSuchKey.name,
    );
    // Deleting a key that is not there is not an error (unversioned bucket).
    await s3.send(new DeleteObjectCommand({ Bucket: "mail-proof", Key: "x/never" }));
  });

  it("answers NoSuchBucket for a bucket that does not exist", async () => {
    await expectError(
      s3.send(new GetObjectCommand({ Bucket: "nope-bucket", Key: "k" })),
      NoSuchBucket.name,
    );
    await expectError(
      s3.send(new ListObjectsV2Command({ Bucket: "nope-bucket" })),
      NoSuchBucket.name,
    );
  });

  it("pages ListObjectsV2 at 1000 keys with continuation tokens, and refuses a forged token", async () => {
    for (let i = 0; i < 1203; i++)
      aws.s3.putObject("mail-proof", `page/${String(i).padStart(5, "0")}`, "x");
    const first = await s3.send(
      new ListObjectsV2Command({ Bucket: "mail-proof", Prefix: "page/", MaxKeys: 5000 }),
    );
    expect(first.Contents).to.have.length(1000);
    expect(first.MaxKeys).to.equal(1000);
    expect(first.IsTruncated).to.equal(true);
    const second = await s3.send(
      new ListObjectsV2Command({
        Bucket: "mail-proof",
        Prefix: "page/",
        ContinuationToken: first.NextContinuationToken!,
      }),
    );
    expect(second.Contents).to.have.length(203);
    expect(second.IsTruncated).to.equal(false);
    expect(second.NextContinuationToken).to.equal(undefined);
    expect(second.Contents![0]!.Key).to.equal("page/01000");
    await expectError(
      s3.send(new ListObjectsV2Command({ Bucket: "mail-proof", ContinuationToken: "not-a-token" })),
      "InvalidArgument",
    );
    for (const o of aws.s3.objects("mail-proof", "page/")) aws.s3.deleteObject("mail-proof", o.key);
  });

  it("refuses a request signed for another Region than the bucket's", async () => {
    const elsewhere = new S3Client({
      endpoint: aws.url,
      region: "eu-west-1",
      forcePathStyle: true,
      credentials,
    });
    await expectError(
      elsewhere.send(new GetObjectCommand({ Bucket: "mail-proof", Key: "k" })),
      "AuthorizationHeaderMalformed",
    );
  });

  it("returns the bucket policy, and admits SES only for this account and rule", async () => {
    const policy = await s3.send(new GetBucketPolicyCommand({ Bucket: "mail-proof" }));
    expect(JSON.parse(policy.Policy!).Statement[0].Principal.Service).to.equal("ses.amazonaws.com");
    const writer = { service: "ses.amazonaws.com", sourceAccount: ACCOUNT, sourceArn: RULE_ARN };
    aws.s3.putObject("mail-proof", "canary/ok", "x", { writer });
    expect(() =>
      aws.s3.putObject("mail-proof", "canary/x", "x", {
        writer: { ...writer, sourceAccount: "999999999999" },
      }),
    ).to.throw("Access Denied");
    expect(() =>
      aws.s3.putObject("mail-proof", "canary/x", "x", {
        writer: { ...writer, sourceArn: `${RULE_ARN}-other` },
      }),
    ).to.throw("Access Denied");
    expect(() => aws.s3.putObject("mail-proof", "elsewhere/x", "x", { writer })).to.throw(
      "Access Denied",
    );
    aws.s3.deleteObject("mail-proof", "canary/ok");
  });

  it("SES receiving: rule set, rule with an S3 action, active set, and SES refuses a rule whose bucket it may not write to", async () => {
    const ses = new SESClient({ endpoint: aws.url, region: RECEIVING, credentials });
    await ses.send(new CreateReceiptRuleSetCommand({ RuleSetName: "canary" }));
    await ses.send(
      new CreateReceiptRuleCommand({
        RuleSetName: "canary",
        Rule: {
          Name: "canary",
          Enabled: true,
          Recipients: ["canary@proof.example.net"],
          Actions: [{ S3Action: { BucketName: "mail-proof", ObjectKeyPrefix: "canary/" } }],
        },
      }),
    );
    // SES proves it may write by storing its setup notification.
    expect(aws.s3.getObject("mail-proof", "canary/AMAZON_SES_SETUP_NOTIFICATION")).to.not.equal(
      undefined,
    );
    await ses.send(new SetActiveReceiptRuleSetCommand({ RuleSetName: "canary" }));
    const active = await ses.send(new DescribeActiveReceiptRuleSetCommand({}));
    expect(active.Metadata?.Name).to.equal("canary");
    expect(active.Rules?.[0]?.Actions?.[0]?.S3Action?.ObjectKeyPrefix).to.equal("canary/");
    expect(active.Rules?.[0]?.Recipients).to.deep.equal(["canary@proof.example.net"]);
    // A rule whose bucket SES may not write to is refused, as SES checks at creation.
    await expectError(
      ses.send(
        new CreateReceiptRuleCommand({
          RuleSetName: "canary",
          Rule: {
            Name: "other",
            Enabled: true,
            Recipients: ["x@proof.example.net"],
            Actions: [{ S3Action: { BucketName: "mail-proof", ObjectKeyPrefix: "other/" } }],
          },
        }),
      ),
      "InvalidS3ConfigurationException",
    );
    const outside = new SESClient({ endpoint: aws.url, region: "ap-northeast-1", credentials });
    await expectError(
      outside.send(new CreateReceiptRuleSetCommand({ RuleSetName: "x" })),
      "InvalidAction",
    );
  });
});
