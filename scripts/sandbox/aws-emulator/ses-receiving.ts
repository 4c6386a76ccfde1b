/**
 * Emulated SES v1 email receiving (docs/design.md#emulated-ses-receiving):
 * CreateReceiptRuleSet, CreateReceiptRule, SetActiveReceiptRuleSet and
 * DescribeActiveReceiptRuleSet as @aws-sdk/client-ses sends them (awsQuery:
 * a form-encoded `POST /` with `Action=…&Version=2010-12-01`, nested members
 * flattened as `Rule.Recipients.member.1`, `Rule.Actions.member.1.S3Action.BucketName`),
 * answered in XML in the `http://ses.amazonaws.com/doc/2010-12-01/` namespace;
 * and delivery: a message SES sent to a recipient of an enabled rule in the
 * active rule set is stored raw in S3 at `<ObjectKeyPrefix><message id>`.
 *
 * Strict where the docs are:
 * - receiving exists only in the receiving Regions (RECEIVING_REGIONS, the
 *   three the SES docs have always listed; today's list is longer, so this
 *   is stricter than AWS); a receipt call elsewhere is refused;
 * - one active rule set per account and Region; rule names are
 *   `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, unique in the set;
 * - CreateReceiptRule with an S3 action checks that SES may write to the
 *   bucket (the bucket policy must admit `ses.amazonaws.com` for this account
 *   and rule) by writing `AMAZON_SES_SETUP_NOTIFICATION` under the prefix, as
 *   SES does; refused: InvalidS3Configuration;
 * - the bucket must be in the rule's Region (SES writes to buckets in
 *   receiving Regions only, unless an IAM role is given, which is not emulated).
 */
import { randomBytes } from "node:crypto";
import {
  recipientMatches,
  SES_RECEIVING_REGIONS,
} from "../../../actions/dkim-rotation/src/engine/canary-config";
import { AwsApiError } from "./common";
import { xmlText } from "./route53";
import { type S3Backend, S3Error } from "./s3";

export const SES_V1_XMLNS = "http://ses.amazonaws.com/doc/2010-12-01/";
/** Where SES receives mail (the MX target is `inbound-smtp.<region>.amazonaws.com`). */
export const RECEIVING_REGIONS = SES_RECEIVING_REGIONS;

export interface S3ActionView {
  bucketName: string;
  objectKeyPrefix: string;
  kmsKeyArn?: string;
}

export interface ReceiptRuleView {
  name: string;
  enabled: boolean;
  recipients: string[];
  s3Actions: S3ActionView[];
  scanEnabled: boolean;
  tlsPolicy: string;
}

interface RuleSet {
  name: string;
  createdAt: Date;
  rules: ReceiptRuleView[];
}

/** One message SES received and stored. */
export interface ReceivedMessage {
  region: string;
  ruleSet: string;
  rule: string;
  bucket: string;
  key: string;
  recipients: string[];
  at: Date;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const invalid = (m: string) => new AwsApiError("InvalidParameterValue", m, 400);

/** `Rule.Recipients.member.N` → the list, in N order. */
function members(form: URLSearchParams, prefix: string): string[] {
  const out: [number, string][] = [];
  for (const [k, v] of form) {
    const m = new RegExp(`^${prefix.replace(/\./g, "\\.")}\\.member\\.(\\d+)$`).exec(k);
    if (m) out.push([Number(m[1]), v]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

export class SesReceivingBackend {
  private readonly sets = new Map<string, Map<string, RuleSet>>();
  private readonly active = new Map<string, string>();
  readonly received: ReceivedMessage[] = [];

  constructor(
    private readonly s3: S3Backend,
    private readonly accountId: string,
  ) {}

  private regionSets(region: string): Map<string, RuleSet> {
    if (!(RECEIVING_REGIONS as readonly string[]).includes(region))
      throw new AwsApiError(
        "InvalidAction",
        `Email receiving is not available in ${region}; receiving Regions: ${RECEIVING_REGIONS.join(", ")}`,
        400,
      );
    let sets = this.sets.get(region);
    if (!sets) this.sets.set(region, (sets = new Map()));
    return sets;
  }

  ruleArn(region: string, set: string, rule: string): string {
    return `arn:aws:ses:${region}:${this.accountId}:receipt-rule-set/${set}:receipt-rule/${rule}`;
  }

  /** The active rule set of a Region, for tests and the sandbox. */
  activeRuleSet(region: string): { name: string; rules: ReceiptRuleView[] } | undefined {
    const name = this.active.get(region);
    const set = name ? this.sets.get(region)?.get(name) : undefined;
    return set ? { name: set.name, rules: set.rules.map((r) => ({ ...r })) } : undefined;
  }

  /** One awsQuery request; returns the XML answer. */
  handle(region: string, now: Date, form: URLSearchParams, requestId: string): string {
    const action = form.get("Action") ?? "";
    if (form.get("Version") !== "2010-12-01")
      throw new AwsApiError(
        "InvalidAction",
        `Could not find operation ${action} for version ${form.get("Version")}`,
        400,
      );
    const wrap = (inner: string) =>
      `<${action}Response xmlns="${SES_V1_XMLNS}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`;
    const sets = this.regionSets(region);
    const setName = form.get("RuleSetName") ?? "";
    switch (action) {
      case "CreateReceiptRuleSet": {
        if (!NAME.test(setName)) throw invalid(`Invalid rule set name: ${setName}`);
        if (sets.has(setName))
          throw new AwsApiError("AlreadyExists", `Rule set already exists: ${setName}`, 400);
        sets.set(setName, { name: setName, createdAt: now, rules: [] });
        return wrap("");
      }
      case "CreateReceiptRule": {
        const set = sets.get(setName);
        if (!set)
          throw new AwsApiError("RuleSetDoesNotExist", `Rule set does not exist: ${setName}`, 400);
        const rule = this.parseRule(form);
        if (set.rules.some((r) => r.name === rule.name))
          throw new AwsApiError("AlreadyExists", `Rule already exists: ${rule.name}`, 400);
        for (const a of rule.s3Actions) this.checkS3Action(region, setName, rule.name, a, now);
        const after = form.get("After");
        if (after !== null) {
          const at = set.rules.findIndex((r) => r.name === after);
          if (at < 0)
            throw new AwsApiError("RuleDoesNotExist", `Rule does not exist: ${after}`, 400);
          set.rules.splice(at + 1, 0, rule);
        } else set.rules.unshift(rule);
        return wrap("");
      }
      case "SetActiveReceiptRuleSet": {
        if (!form.has("RuleSetName")) {
          this.active.delete(region);
          return wrap("");
        }
        if (!sets.has(setName))
          throw new AwsApiError("RuleSetDoesNotExist", `Rule set does not exist: ${setName}`, 400);
        this.active.set(region, setName);
        return wrap("");
      }
      case "DescribeActiveReceiptRuleSet": {
        const name = this.active.get(region);
        const set = name ? sets.get(name) : undefined;
        if (!set) return wrap("");
        return wrap(
          `<Metadata><Name>${xmlText(set.name)}</Name><CreatedTimestamp>${set.createdAt.toISOString()}</CreatedTimestamp></Metadata><Rules>${set.rules.map(ruleXml).join("")}</Rules>`,
        );
      }
    }
    throw new AwsApiError("InvalidAction", `Operation ${action} is not emulated`, 400);
  }

  private parseRule(form: URLSearchParams): ReceiptRuleView {
    const name = form.get("Rule.Name") ?? "";
    if (!NAME.test(name)) throw invalid(`Invalid rule name: ${name}`);
    const s3Actions: S3ActionView[] = [];
    for (let i = 1; ; i++) {
      const p = `Rule.Actions.member.${i}`;
      const keys = [...form.keys()].filter((k) => k.startsWith(`${p}.`));
      if (!keys.length) break;
      const bucket = form.get(`${p}.S3Action.BucketName`);
      if (bucket === null) throw invalid(`Only S3 actions are emulated (action ${i}: ${keys[0]})`);
      const kms = form.get(`${p}.S3Action.KmsKeyArn`);
      s3Actions.push({
        bucketName: bucket,
        objectKeyPrefix: form.get(`${p}.S3Action.ObjectKeyPrefix`) ?? "",
        ...(kms ? { kmsKeyArn: kms } : {}),
      });
    }
    const tls = form.get("Rule.TlsPolicy") ?? "Optional";
    if (tls !== "Optional" && tls !== "Require") throw invalid(`Invalid TlsPolicy: ${tls}`);
    return {
      name,
      enabled: form.get("Rule.Enabled") === "true",
      recipients: members(form, "Rule.Recipients"),
      s3Actions,
      scanEnabled: form.get("Rule.ScanEnabled") === "true",
      tlsPolicy: tls,
    };
  }

  private checkS3Action(region: string, set: string, rule: string, a: S3ActionView, now: Date) {
    const spec = this.s3.bucketSpec(a.bucketName);
    const refuse = () =>
      new AwsApiError("InvalidS3Configuration", `Could not write to bucket: ${a.bucketName}`, 400);
    if (!spec || spec.region !== region) throw refuse();
    try {
      this.s3.putObject(
        a.bucketName,
        `${a.objectKeyPrefix}AMAZON_SES_SETUP_NOTIFICATION`,
        "Amazon SES setup notification",
        {
          now,
          writer: {
            service: "ses.amazonaws.com",
            sourceAccount: this.accountId,
            sourceArn: this.ruleArn(region, set, rule),
          },
        },
      );
    } catch (err) {
      if (err instanceof S3Error) throw refuse();
      throw err;
    }
  }

  /**
   * Deliver a message SES sent: each recipient that an enabled rule of a
   * Region's active rule set names is stored once per S3 action, at
   * `<prefix><message id>` (the receipt's message ID). Returns what was stored;
   * a recipient no rule names is not SES's mail to receive.
   */
  deliver(raw: Buffer, recipients: readonly string[], now: Date): ReceivedMessage[] {
    const out: ReceivedMessage[] = [];
    for (const region of RECEIVING_REGIONS) {
      const name = this.active.get(region);
      const set = name ? this.sets.get(region)?.get(name) : undefined;
      if (!set) continue;
      // Rules run in order; the recipients of one message get one receipt.
      const matched = set.rules.filter(
        (r) =>
          r.enabled && recipients.some((a) => r.recipients.some((p) => recipientMatches(p, a))),
      );
      if (!matched.length) continue;
      const id = randomBytes(20)
        .toString("base64url")
        .toLowerCase()
        .replace(/[^a-z0-9]/g, "0")
        .slice(0, 26);
      const received = Buffer.concat([
        Buffer.from(
          `Return-Path: <${recipients[0]}>\r\nReceived: from a1-2.smtp-out.amazonses.com by inbound-smtp.${region}.amazonaws.com with SMTP id ${id} for ${recipients.join(", ")}; ${now.toUTCString()}\r\n`,
        ),
        raw,
      ]);
      for (const rule of matched)
        for (const a of rule.s3Actions) {
          const key = `${a.objectKeyPrefix}${id}`;
          try {
            this.s3.putObject(a.bucketName, key, received, {
              now,
              writer: {
                service: "ses.amazonaws.com",
                sourceAccount: this.accountId,
                sourceArn: this.ruleArn(region, set.name, rule.name),
              },
            });
          } catch (err) {
            // The policy changed after the rule was made: SES cannot store it (the mail bounces).
            if (err instanceof S3Error) continue;
            throw err;
          }
          const r = {
            region,
            ruleSet: set.name,
            rule: rule.name,
            bucket: a.bucketName,
            key,
            recipients: [...recipients],
            at: now,
          };
          this.received.push(r);
          out.push(r);
        }
    }
    return out;
  }
}

function ruleXml(r: ReceiptRuleView): string {
  const actions = r.s3Actions
    .map(
      (a) =>
        `<member><S3Action><BucketName>${xmlText(a.bucketName)}</BucketName><ObjectKeyPrefix>${xmlText(a.objectKeyPrefix)}</ObjectKeyPrefix>${a.kmsKeyArn ? `<KmsKeyArn>${xmlText(a.kmsKeyArn)}</KmsKeyArn>` : ""}</S3Action></member>`,
    )
    .join("");
  return `<member><Name>${xmlText(r.name)}</Name><Enabled>${r.enabled}</Enabled><TlsPolicy>${r.tlsPolicy}</TlsPolicy><Recipients>${r.recipients.map((x) => `<member>${xmlText(x)}</member>`).join("")}</Recipients><Actions>${actions}</Actions><ScanEnabled>${r.scanEnabled}</ScanEnabled></member>`;
}
