/**
 * The canary's mail path (docs/design.md#canary): SES v2 SendEmail through
 * the identity's Region, and the receiving bucket's prefix through S3. The
 * activator role may send from the identity and read and delete under the
 * prefix, nothing more (infra/components/role-permissions.ts).
 */
import { SendEmailCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import {
  DeleteObjectCommand,
  GetBucketPolicyCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  type S3Client,
} from "@aws-sdk/client-s3";
import { DescribeActiveReceiptRuleSetCommand, type SESClient } from "@aws-sdk/client-ses";
import type { CanaryPort } from "../engine/ports";
import type { ReceivingReadPort } from "../doctor";

/** A canary is a few kB; a bigger object under the prefix is not ours and is not read. */
const MAX_CANARY_BYTES = 1024 * 1024;

export class CanaryMail implements CanaryPort {
  constructor(
    private readonly ses: ReadonlyMap<string, SESv2Client>,
    private readonly s3: S3Client,
  ) {}

  async send(
    region: string,
    m: { from: string; to: string; subject: string; headers: Record<string, string>; text: string },
  ): Promise<string> {
    const client = this.ses.get(region);
    if (!client) throw new Error(`no SES client for Region ${region}`);
    const out = await client.send(
      new SendEmailCommand({
        FromEmailAddress: m.from,
        Destination: { ToAddresses: [m.to] },
        Content: {
          Simple: {
            Subject: { Data: m.subject },
            Body: { Text: { Data: m.text } },
            Headers: Object.entries(m.headers).map(([Name, Value]) => ({ Name, Value })),
          },
        },
      }),
    );
    return out.MessageId ?? "";
  }

  async list(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? [])
        if (o.Key && (o.Size ?? 0) <= MAX_CANARY_BYTES) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async get(bucket: string, key: string): Promise<Buffer | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (err) {
      if (err instanceof NoSuchKey) return undefined;
      throw err;
    }
  }

  async remove(bucket: string, key: string): Promise<void> {
    await this.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  }
}

/** What doctor reads of the receiving side: the active rule set (SES v1) and the bucket policy. */
export class ReceivingReader implements ReceivingReadPort {
  constructor(
    private readonly ses: SESClient,
    private readonly s3: S3Client,
  ) {}

  async activeRuleSet() {
    const out = await this.ses.send(new DescribeActiveReceiptRuleSetCommand({}));
    if (!out.Metadata?.Name) return undefined;
    return {
      name: out.Metadata.Name,
      rules: (out.Rules ?? []).map((r) => ({
        name: r.Name ?? "",
        enabled: r.Enabled === true,
        recipients: r.Recipients ?? [],
        s3: (r.Actions ?? []).flatMap((a) =>
          a.S3Action
            ? [{ bucket: a.S3Action.BucketName ?? "", prefix: a.S3Action.ObjectKeyPrefix ?? "" }]
            : [],
        ),
      })),
    };
  }

  async bucketPolicy(bucket: string): Promise<string | undefined> {
    try {
      return (await this.s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy;
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchBucketPolicy") return undefined;
      throw err;
    }
  }
}
