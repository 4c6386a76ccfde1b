/**
 * The stack file's `canary:` block and the facts it rests on
 * (docs/design.md#canary), apart from canary.ts so config.ts can import it
 * without the engine's mail code.
 */
import * as z from "zod/mini";

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
export const canarySchema = z.strictObject({
  /** The receiving Region: its rule set stores the canary in `bucket`. */
  region: z.enum(SES_RECEIVING_REGIONS, {
    error: `must be a Region where SES receives mail: ${SES_RECEIVING_REGIONS.join(", ")}`,
  }),
  bucket: z.string().check(
    z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      error: "must be an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)",
    }),
  ),
  prefix: z._default(
    z.string().check(
      z.regex(/^[A-Za-z0-9!_.*'()/-]{1,100}\/$/, {
        error: "must be an S3 key prefix of safe characters ending in / (e.g. canary/)",
      }),
    ),
    "canary/",
  ),
  /** The sender is `<localPart>@<identity domain>`. */
  localPart: z._default(
    z.string().check(
      z.regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, {
        error: "must be an e-mail local part (letters, digits, . _ + -)",
      }),
    ),
    "dkim-canary",
  ),
  /** The receiving address; its domain's MX points at inbound-smtp.<region>.amazonaws.com. */
  address: z.email({ error: "must be an e-mail address on the receiving domain" }),
  windowMinutes: z._default(z.number().check(z.int(), z.minimum(1), z.maximum(60)), 10),
  /** Sending Regions to prove; default every Region of each identity. */
  regions: z.optional(
    z
      .array(
        z
          .string()
          .check(z.regex(regionPattern, { error: "must be an AWS region such as ap-northeast-1" })),
      )
      .check(z.minLength(1)),
  ),
  ruleSet: z._default(
    z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)),
    "ses-dkim-rotation",
  ),
  rule: z._default(z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)), "dkim-canary"),
});

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
  /** More rules writing here, each on its own prefix (the rua rule; docs/design.md#dmarc-aggregate-reports). */
  also?: { prefix: string; ruleArn: string }[];
}): string {
  const grants = [{ prefix: p.prefix, ruleArn: p.ruleArn }, ...(p.also ?? [])];
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: grants.map((g, i) => ({
      Sid: `AllowSesReceivingPuts${i ? i + 1 : ""}`,
      Effect: "Allow",
      Principal: { Service: "ses.amazonaws.com" },
      Action: "s3:PutObject",
      Resource: `arn:${p.partition ?? "aws"}:s3:::${p.bucket}/${g.prefix}*`,
      Condition: {
        StringEquals: { "aws:SourceAccount": p.account },
        ArnLike: { "aws:SourceArn": g.ruleArn },
      },
    })),
  });
}

/** Who asks to put an object: a service principal on behalf of an account and a resource. */
export interface S3Writer {
  /** The service principal, e.g. `ses.amazonaws.com`. */
  service: string;
  sourceAccount: string;
  sourceArn: string;
}

/** Does `pattern` (IAM wildcards `*` and `?`) match `value`? */
function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  return re.test(value);
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/**
 * Whether `policy` allows `writer` to `s3:PutObject` at `arn:aws:s3:::bucket/key`.
 * Only what the SES receiving guide's policy uses is understood (Allow with a
 * service principal, Action, Resource, and StringEquals / StringLike /
 * ArnEquals / ArnLike on aws:SourceAccount and aws:SourceArn); anything else
 * in a statement makes it not apply, so an unknown condition never widens
 * access (docs/design.md#emulated-s3). An explicit Deny that matches wins.
 */
export function policyAdmitsPut(
  policy: string | undefined,
  bucket: string,
  key: string,
  writer: S3Writer,
): boolean {
  if (!policy) return false;
  let doc: unknown;
  try {
    doc = JSON.parse(policy);
  } catch {
    return false;
  }
  const statements = asList((doc as { Statement?: unknown }).Statement);
  const resource = `arn:aws:s3:::${bucket}/${key}`;
  const context: Record<string, string> = {
    "aws:sourceaccount": writer.sourceAccount,
    "aws:sourcearn": writer.sourceArn,
  };
  const applies = (s: Record<string, unknown>): boolean => {
    const principal = s.Principal as { Service?: unknown } | undefined;
    if (!principal || !asList(principal.Service).includes(writer.service)) return false;
    if (!asList(s.Action).some((a) => typeof a === "string" && globMatch(a, "s3:PutObject")))
      return false;
    if (!asList(s.Resource).some((r) => typeof r === "string" && globMatch(r, resource)))
      return false;
    const conditions = (s.Condition ?? {}) as Record<string, Record<string, unknown>>;
    for (const [op, entries] of Object.entries(conditions)) {
      const like = op === "StringLike" || op === "ArnLike";
      if (!like && op !== "StringEquals" && op !== "ArnEquals") return false;
      for (const [k, want] of Object.entries(entries)) {
        const have = context[k.toLowerCase()];
        if (have === undefined) return false;
        if (
          !asList(want).some(
            (w) => typeof w === "string" && (like ? globMatch(w, have) : w === have),
          )
        )
          return false;
      }
    }
    return true;
  };
  let allowed = false;
  for (const raw of statements) {
    if (typeof raw !== "object" || raw === null) continue;
    const s = raw as Record<string, unknown>;
    if (!applies(s)) continue;
    if (s.Effect === "Deny") return false;
    if (s.Effect === "Allow") allowed = true;
  }
  return allowed;
}

/** Does a receipt rule recipient (address, domain, or `.domain` for subdomains) match `address`? */
export function recipientMatches(rule: string, address: string): boolean {
  const r = rule.toLowerCase();
  const a = address.toLowerCase();
  const domain = a.slice(a.lastIndexOf("@") + 1);
  if (r.includes("@")) return r === a;
  if (r.startsWith(".")) return domain.endsWith(r);
  return domain === r;
}
