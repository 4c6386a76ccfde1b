/**
 * The stack file's `canary:` block and the facts it rests on
 * (docs/design.md#canary), apart from canary.ts so config.ts can import it
 * without the engine's mail code.
 */
import { z } from "zod";

/**
 * Regions where SES receives mail and the MX target is
 * `inbound-smtp.<region>.amazonaws.com` (docs/design.md#ses-receiving-regions).
 * The three every edition of the SES docs lists; newer Regions are refused
 * rather than assumed.
 */
export const SES_RECEIVING_REGIONS = ["us-east-1", "us-west-2", "eu-west-1"] as const;

/** The header that carries the canary's token (and nothing else). */
export const CANARY_HEADER = "X-DKIM-Canary";

const regionPattern = /^[a-z]{2}(-[a-z]+)+-\d$/;

/** The stack file's `canary:` block. */
export const canarySchema = z
  .object({
    /** The receiving Region: its rule set stores the canary in `bucket`. */
    region: z.enum(SES_RECEIVING_REGIONS, {
      error: `must be a Region where SES receives mail: ${SES_RECEIVING_REGIONS.join(", ")}`,
    }),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      error: "must be an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)",
    }),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9!_.*'()/-]{1,100}\/$/, {
        error: "must be an S3 key prefix of safe characters ending in / (e.g. canary/)",
      })
      .default("canary/"),
    /** The sender is `<localPart>@<identity domain>`. */
    localPart: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, {
        error: "must be an e-mail local part (letters, digits, . _ + -)",
      })
      .default("dkim-canary"),
    /** The receiving address; its domain's MX points at inbound-smtp.<region>.amazonaws.com. */
    address: z.email({ error: "must be an e-mail address on the receiving domain" }),
    windowMinutes: z.number().int().min(1).max(60).default(10),
    /** Sending Regions to prove; default every Region of each identity. */
    regions: z
      .array(
        z.string().regex(regionPattern, { error: "must be an AWS region such as ap-northeast-1" }),
      )
      .min(1)
      .optional(),
    ruleSet: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
      .default("ses-dkim-rotation"),
    rule: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
      .default("dkim-canary"),
  })
  .strict();

export type CanaryConfig = z.output<typeof canarySchema>;

/** What `doctor` and the job summary say when there is no `canary:` block. */
export function productionProofOff(config: { file: string }): string {
  return `production proof is off: no canary: block in ${config.file}, so activation ends at SES SUCCESS without a signed message received`;
}

/** The ARN SES writes to S3 with (its aws:SourceArn). */
export function receiptRuleArn(p: {
  partition?: string;
  region: string;
  account: string;
  ruleSet: string;
  rule: string;
}): string {
  return `arn:${p.partition ?? "aws"}:ses:${p.region}:${p.account}:receipt-rule-set/${p.ruleSet}:receipt-rule/${p.rule}`;
}

/**
 * The bucket policy SES receiving needs, and no more: s3:PutObject under the
 * prefix for ses.amazonaws.com, only for this account and this rule (the
 * confused-deputy conditions of the SES guide, receiving-email-permissions).
 * S3 enforces it; infra/ writes it and doctor compares against it.
 */
export function sesReceivingBucketPolicy(p: {
  bucket: string;
  prefix: string;
  account: string;
  ruleArn: string;
  partition?: string;
}): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AllowSesReceivingPuts",
        Effect: "Allow",
        Principal: { Service: "ses.amazonaws.com" },
        Action: "s3:PutObject",
        Resource: `arn:${p.partition ?? "aws"}:s3:::${p.bucket}/${p.prefix}*`,
        Condition: {
          StringEquals: { "aws:SourceAccount": p.account },
          ArnLike: { "aws:SourceArn": p.ruleArn },
        },
      },
    ],
  });
}
