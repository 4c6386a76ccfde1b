/**
 * The one schema for the project's configuration.
 *
 * Both the rotation engine and the Pulumi program read the identities from the
 * same `Pulumi.<stack>.yaml`, under the key `<project>:identities`, so there is
 * one list of domains for the AWS estate and for the pipeline. The front ends read
 * the YAML file (`loadConfig`, load-config.ts) and hand its text to
 * `parseStackFile`; the Pulumi program hands the values it
 * got from `pulumi.Config` to `parseProjectConfig`. Both get the same errors.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import { domainToASCII, domainToUnicode } from "node:url";
import * as z from "zod/mini";
import { canarySchema, type CanaryConfig } from "./canary-config";
import { InputError } from "./errors";
import { SES_SELECTOR_PATTERN } from "./selector";
import { EMULATOR_MAX_REQUESTS_PER_SECOND, MIN_REQUESTS_PER_SECOND, quote } from "./values";

/*
 * What the Pulumi program and the pipeline must agree on besides the stack
 * settings, so infra/ has this one module to import
 * (docs/design.md#boundaries): the error both report bad settings with, the
 * names of the metrics the alarms watch, and the key store's tags and KMS
 * context keys the IAM conditions restrict.
 */
export { InputError } from "./errors";
export {
  SES_RECEIVING_REGIONS,
  receiptRuleArn,
  sesReceivingBucketPolicy,
  type CanaryConfig,
} from "./canary-config";
export {
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DIMENSION_DOMAIN,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_DIMENSION_SELECTOR,
  METRIC_DMARC_DKIM_FAIL,
  METRIC_DMARC_DKIM_PASS,
  METRIC_DMARC_NEWEST_FAILURE_SHARE,
  METRIC_PENDING_PUBLICATION_DAYS,
} from "./metrics";
export {
  CREATION_TAG_KEYS,
  KEY_CONTEXT_KEYS,
  LIFECYCLE_TAG_KEYS,
  TAG_KEY_ORIGIN,
  TAG_NOTIFIED,
  TAG_REPORT_SEEN,
  TAG_STATE,
} from "./key-store-schema";

export const DEFAULT_CONFIG_FILE = "Pulumi.prod.yaml";
export const DEFAULT_ENVIRONMENT = "dkim-production";
/**
 * The environment of the post-merge `publish` job: the only job the publisher
 * role trusts, entered from the default branch only (docs/design.md#publishers).
 */
export const DEFAULT_PUBLISHER_ENVIRONMENT = "dkim-dns";
export const DEFAULT_PROJECT = "ses-dkim-rotation";

/**
 * Days of slack between "the DNS team's lead time is over" and "the expiry
 * alert fires". Rotation starts early enough that lead time + buffer ends
 * before the alert threshold, so a normal rotation never pages anyone.
 */
export const ROTATION_BUFFER_DAYS = 7;

/** `-yyyymmdd` plus room for `-NN`, inside SES's 63-character selector limit. */
const MAX_PREFIX_LENGTH = 63 - "-yyyymmdd".length - "-NN".length;

/** LDH labels; the top-level label letters only, or an IDNA A-label (`xn--…`, e.g. `.xn--tckwe`). */
const domainPattern =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/**
 * A domain as SES and DNS take it: lower-case A-labels, no trailing dot.
 * Every `xn--` label must be valid punycode: it must decode (UTS #46) to a
 * label that is no longer `xn--`, and encode back to the same name. Node 20
 * and 22 return "" for an invalid one; Node 24 (a newer URL parser) returns
 * the label unchanged, which the second test catches.
 */
function validALabels(value: string): boolean {
  const unicode = domainToUnicode(value);
  if (!unicode || domainToASCII(unicode) !== value) return false;
  return !unicode.split(".").some((label) => label.startsWith("xn--"));
}
const domainName = (error: string) =>
  z.string().check(
    z.superRefine((value, ctx) => {
      if (!domainPattern.test(value)) ctx.addIssue({ code: "custom", message: error });
      else if (!validALabels(value))
        ctx.addIssue({
          code: "custom",
          message:
            "has a label that is not a valid IDNA A-label (xn-- must be followed by punycode)",
        });
    }),
  );
const regionPattern = /^[a-z]{2}(-[a-z]+)+-\d$/;
const hostnamePattern =
  /^(?=.{1,253}\.?$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;

/** Four decimal octets 0–255, no leading zeros (which some resolvers read as octal). */
const ipv4Pattern = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** An IPv6 address as the WHATWG URL parser reads a bracketed host (no zone ids). */
function isIpv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return false;
  try {
    new URL(`http://[${text}]/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Split a nameserver entry: `host`, `host:port`, `ipv4:port`, a bare IPv6
 * address, or `[ipv6]:port` (RFC 3986 §3.2.2 brackets, as `dig` and Node's
 * `setServers` write them). The one reading of the config's nameservers:
 * the config check and the DNS adapter both call it.
 */
export function parseNameserver(
  entry: string,
  defaultPort = 53,
): { host: string; port: number } | { problem: string } {
  const bad = (detail: string) => ({
    problem: `${quote(entry)} is not host or host:port ([IPv6]:port for IPv6): ${detail}`,
  });
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(entry);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (!isIpv6(host)) return bad(`[${host}] is not an IPv6 address`);
  } else if (entry.indexOf(":") !== entry.lastIndexOf(":")) {
    // More than one colon: only a bare IPv6 address (default port) fits.
    if (!isIpv6(entry)) return bad("not an IPv6 address (write [address]:port for a port)");
    return { host: entry, port: defaultPort };
  } else {
    [host, portText] = entry.split(":") as [string, string | undefined];
    const numeric = /^[0-9.]+$/.test(host);
    if (numeric ? !ipv4Pattern.test(host) : !hostnamePattern.test(host))
      return bad(`${quote(host)} is not ${numeric ? "an IPv4 address" : "a host name"}`);
  }
  if (portText === undefined) return { host: host.replace(/\.$/, ""), port: defaultPort };
  if (!/^[1-9]\d{0,4}$/.test(portText) || Number(portText) > 65535)
    return bad(`port ${quote(portText)} is not a port number 1–65535`);
  return { host: host.replace(/\.$/, ""), port: Number(portText) };
}

/** How a record reaches DNS after its PR is merged. */
export const PUBLISHER_KINDS = ["manual", "rfc2136", "route53"] as const;
export type PublisherKind = (typeof PUBLISHER_KINDS)[number];
/** TSIG algorithms BIND's nsupdate accepts (RFC 8945 §6 lists HMAC-SHA256 as mandatory). */
export const TSIG_ALGORITHMS = [
  "hmac-sha256",
  "hmac-sha384",
  "hmac-sha512",
  "hmac-sha224",
  "hmac-sha1",
] as const;
export const DEFAULT_TOPIC_NAME = "ses-dkim-rotation-notifications";

const nameserverEntry = z.string().check(
  z.superRefine((entry, ctx) => {
    const parsed = parseNameserver(entry);
    if ("problem" in parsed) ctx.addIssue({ code: "custom", message: parsed.problem });
  }),
);

/** A whole number from `min` to `max` (zod's int, gte and lte checks). */
const wholeNumber = (min: number, max: number) =>
  z.number().check(z.int(), z.minimum(min), z.maximum(max));

export const identitySchema = z.strictObject({
  domain: domainName("must be a lower-case domain name without a trailing dot"),
  selectorPrefix: z.string().check(
    z.maxLength(MAX_PREFIX_LENGTH, { error: `must be at most ${MAX_PREFIX_LENGTH} characters` }),
    z.regex(SES_SELECTOR_PATTERN, {
      error: "must match SES's selector pattern: letters, digits and inner hyphens only",
    }),
  ),
  regions: z.optional(
    z
      .array(
        z
          .string()
          .check(z.regex(regionPattern, { error: "must be an AWS region such as ap-northeast-1" })),
      )
      .check(z.minLength(1, { error: "must list at least one region" })),
  ),
  keyBits: z._default(
    z.union([z.literal(1024), z.literal(2048)], {
      error: "must be 1024 or 2048 (the only RSA sizes SES accepts)",
    }),
    2048,
  ),
  rotationDays: z._default(wholeNumber(30, 3650), 365),
  dnsLeadDays: z._default(wholeNumber(0, 180), 14),
  alertDays: z._default(wholeNumber(1, 365), 30),
  graceDays: z._default(
    z.number().check(
      z.int(),
      z.minimum(4, {
        // RFC 6376 §3.6.1 gives no number; SMTP retries for 4–5 days and
        // dkim-rotate keeps old keys 88 h, Microsoft 365 96 h.
        error: "must be at least 4 days (SMTP retries and late verifiers need the old key)",
      }),
      z.maximum(90),
    ),
    7,
  ),
  recordTtl: z._default(wholeNumber(60, 86400), 3600),
  nameservers: z.optional(z.array(nameserverEntry).check(z.minLength(1))),
  // Who puts the record into DNS once its PR is merged (docs/operations.md#publishers).
  publisher: z._default(
    z.enum(PUBLISHER_KINDS, { error: `must be one of ${PUBLISHER_KINDS.join(", ")}` }),
    "manual",
  ),
  rfc2136: z.optional(
    z.strictObject({
      // The zone's primary: the one server RFC 2136 updates go to (§4.1).
      server: nameserverEntry,
      keyName: z.string().check(
        z.regex(hostnamePattern, {
          error: "must be the TSIG key's name as the primary knows it, e.g. dkim-rotation.",
        }),
      ),
      algorithm: z._default(
        z.enum(TSIG_ALGORITHMS, { error: `must be one of ${TSIG_ALGORITHMS.join(", ")}` }),
        "hmac-sha256",
      ),
      secretName: z.string().check(
        z.regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, {
          error: "must be a Secrets Manager secret name",
        }),
      ),
      /** The zone to update; the identity's domain when absent. */
      zone: z.optional(domainName("must be a lower-case domain name without a trailing dot")),
    }),
  ),
  route53: z.optional(
    z.strictObject({
      // Route 53 hosted zone IDs: "Z" and up to 32 upper-case letters and digits.
      hostedZoneId: z.string().check(
        z.regex(/^Z[A-Z0-9]{1,32}$/, {
          error: "must be a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ",
        }),
      ),
    }),
  ),
});

export const notificationsSchema = z.strictObject({
  // SNS topic names: 1–256 letters, digits, hyphens and underscores.
  topicName: z._default(
    z.string().check(
      z.regex(/^[A-Za-z0-9_-]{1,256}$/, {
        error: "must be 1–256 letters, digits, hyphens or underscores (SNS topic names)",
      }),
    ),
    DEFAULT_TOPIC_NAME,
  ),
  dnsTeamEmails: z._default(z.array(z.email()), []),
  escalationEmails: z._default(z.array(z.email()), []),
  approverEmails: z._default(z.array(z.email()), []),
  reminderDays: z._default(
    z.array(wholeNumber(1, 180)).check(z.maxLength(5, { error: "must list at most 5 reminders" })),
    [7, 2],
  ),
  /** AWS Chatbot posts every message to this Slack channel (infra/ only). */
  chatbot: z.optional(
    z.strictObject({
      slackTeamId: z.string().check(z.minLength(1)),
      slackChannelId: z.string().check(z.minLength(1)),
    }),
  ),
});

/** Default cap on one aggregate report, compressed and inflated (docs/design.md#dmarc-aggregate-reports). */
export const DEFAULT_MAX_REPORT_BYTES = 10 * 1024 * 1024;

/**
 * Where receivers' DMARC aggregate reports land (the `rua` receipt rule's S3
 * action) and what the report job concludes from them
 * (docs/design.md#dmarc-aggregate-reports). Without the block, production
 * proof from reports is off and retirement waits for graceDays only.
 */
export const dmarcReportsSchema = z.strictObject({
  // S3 bucket names: 3–63 lower-case letters, digits, dots and hyphens (S3 user guide, "Bucket naming rules").
  bucket: z.string().check(
    z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
      error: "must be an S3 bucket name: 3–63 lower-case letters, digits, dots and hyphens",
    }),
  ),
  prefix: z._default(
    z.string().check(
      z.regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/$/, {
        error: "must be an S3 key prefix ending in /, e.g. dmarc/",
      }),
    ),
    "dmarc/",
  ),
  region: z
    .string()
    .check(z.regex(regionPattern, { error: "must be an AWS region such as us-east-1" })),
  /** The `rua` mailbox SES receives for (infra/ makes its receipt rule); absent: reports arrive another way. */
  ruaAddress: z.optional(z.email()),
  /** SES receipt rule set the rua rule joins (infra/ only; the canary's rules share it). */
  ruleSetName: z.optional(
    z
      .string()
      .check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: "must be an SES receipt rule set name" })),
  ),
  /** Failure share (0–1) of the newest selector's DKIM results above which the alarm fires. */
  failureShareAlarm: z._default(z.number().check(z.gt(0), z.lt(1)), 0.02),
  /** Fewer messages than this for the newest selector are not judged (one bad receiver is noise). */
  minMessages: z._default(wholeNumber(1, 1_000_000), 20),
  /** Retirement waits until the old selector has not been seen in reports for this many days. */
  quietDays: z._default(wholeNumber(1, 90), 7),
  maxReportBytes: z._default(wholeNumber(1024, 100 * 1024 * 1024), DEFAULT_MAX_REPORT_BYTES),
});

export type DmarcReportsConfig = z.output<typeof dmarcReportsSchema>;

/*
 * The repository rules the stack creates with github.manageRepository and
 * docs/operations.md asks for (docs/design.md#bot-branches); here because
 * infra/ reads only this module of the action.
 */
/** The record branches: only the App (the ruleset's one bypass actor) may create, update or delete them. */
export const BOT_BRANCH_PATTERNS = [
  "refs/heads/dkim/**/*",
  "refs/heads/dkim-retire/**/*",
  "refs/heads/dkim-batch/**/*",
];
/** The most records one batch record PR carries (records-per-pr; docs/design.md#bulk-onboarding). */
export const MAX_RECORDS_PER_PR = 100;
export const BOT_BRANCH_RULES = ["creation", "update", "deletion"] as const;
/** Pull-request mode's request branches (`dkim-approval/<domain>/<selector>.<kind>`), restricted the same way. */
export const APPROVAL_BRANCH_PATTERN = "refs/heads/dkim-approval/**/*";
/** The bot-branch ruleset's patterns for an approval mode (docs/design.md#approval-by-pull-request). */
export function botBranchPatterns(approval: "environment" | "pull-request"): string[] {
  return approval === "pull-request"
    ? [...BOT_BRANCH_PATTERNS, APPROVAL_BRANCH_PATTERN]
    : BOT_BRANCH_PATTERNS;
}
/** The default branch's `pull_request` rule: an approval does not survive a later push. */
export const DEFAULT_BRANCH_PULL_REQUEST = {
  required_approving_review_count: 1,
  dismiss_stale_reviews_on_push: true,
  require_last_push_approval: true,
  require_code_owner_review: true,
  required_review_thread_resolution: false,
};

export const githubSchema = z
  .strictObject({
    owner: z
      .string()
      .check(z.regex(/^[A-Za-z0-9-]+$/, { error: "must be a GitHub user or organisation" })),
    repo: z.string().check(z.regex(/^[A-Za-z0-9._-]+$/, { error: "must be a repository name" })),
    environment: z._default(z.string().check(z.minLength(1)), DEFAULT_ENVIRONMENT),
    /** The `publish` job's environment (main only); never the gated one. */
    publisherEnvironment: z._default(
      z.string().check(z.minLength(1)),
      DEFAULT_PUBLISHER_ENVIRONMENT,
    ),
    manageRepository: z._default(z.boolean(), false),
    /**
     * Who approves a gated job: the environment's required reviewers
     * (public repositories, or Enterprise), or a reviewed pull request that
     * adds an approvals file (every plan; docs/design.md#approval-by-pull-request).
     */
    approval: z._default(z.enum(["environment", "pull-request"]), "environment"),
    /** Approvals from code owners of the approvals file a request PR needs (pull-request mode). */
    requiredApprovals: z._default(wholeNumber(1, 10), 2),
    /**
     * records-per-pr: how many new records one record PR carries (1: one PR
     * per record, from `dkim/<domain>/<selector>`; more: `dkim-batch/…`
     * branches, docs/design.md#bulk-onboarding).
     */
    recordsPerPr: z._default(wholeNumber(1, MAX_RECORDS_PER_PR), 1),
    /** The DKIM GitHub App's id: the only actor the record-branch ruleset lets push (docs/design.md#bot-branches). */
    appId: z.optional(z.number().check(z.int(), z.positive())),
    reviewers: z._default(
      z.object({
        users: z._default(z.array(z.number().check(z.int())), []),
        teams: z._default(z.array(z.number().check(z.int())), []),
      }),
      { users: [], teams: [] },
    ),
    /**
     * Pin the gated jobs to the tool's reusable workflows: the activator
     * trusts only `sub`s carrying `job_workflow_ref:<repository>/.github/
     * workflows/<file>@<ref>` (docs/design.md#github-oidc-subject).
     */
    workflowPin: z.optional(
      z.strictObject({
        repository: z.string().check(
          z.regex(/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/, {
            error: "must be OWNER/REPO of the repository holding the reusable workflows",
          }),
        ),
        ref: z.string().check(
          z.regex(/^(refs\/(heads|tags)\/[A-Za-z0-9._/-]+|[0-9a-f]{40})$/, {
            error: "must be refs/heads/<branch>, refs/tags/<tag> or a 40-hex commit",
          }),
        ),
      }),
    ),
  })
  // One environment for both would let the publish job assume the activator
  // role, and the gated jobs the publisher role (docs/design.md#publishers).
  .check(
    z.refine((g) => g.publisherEnvironment !== g.environment, {
      error: "must differ from github.environment (the gated environment); e.g. dkim-dns",
      path: ["publisherEnvironment"],
    }),
  );

/** The reusable workflow that defines each gated job (docs/design.md#github-approval-gate). */
export const GATED_WORKFLOW_FILE = {
  activate: "reusable-activate.yml",
  retire: "reusable-activate.yml",
  rollback: "reusable-rollback.yml",
} as const;

/** The reusable workflows whose jobs assume each role (the `role-to-assume` steps). */
export const ROLE_WORKFLOW_FILES = {
  planner: ["reusable-plan.yml", "reusable-activate.yml", "reusable-rollback.yml"],
  activator: ["reusable-activate.yml", "reusable-rollback.yml"],
  publisher: ["reusable-activate.yml"],
} as const;

export type WorkflowPin = NonNullable<z.output<typeof githubSchema>["workflowPin"]>;

/** GitHub's `job_workflow_ref` claim of a job defined in `file` of the pinned repository and ref. */
export function jobWorkflowRefOf(pin: WorkflowPin, file: string): string {
  return `${pin.repository}/.github/workflows/${file}@${pin.ref}`;
}

/**
 * The repository's OIDC subject template when workflows are pinned: GitHub
 * joins the keys in this order, `repo:…:environment:…:job_workflow_ref:…`
 * (docs/design.md#github-oidc-subject).
 */
export const PINNED_SUBJECT_CLAIM_KEYS = ["repo", "context", "job_workflow_ref"] as const;

export type IdentityInput = z.input<typeof identitySchema>;

export interface IdentityConfig {
  domain: string;
  selectorPrefix: string;
  regions: string[];
  keyBits: 1024 | 2048;
  rotationDays: number;
  dnsLeadDays: number;
  alertDays: number;
  graceDays: number;
  recordTtl: number;
  /** host[:port] pairs that replace NS discovery (tests, sandbox, split-horizon). */
  nameservers?: string[];
  /** Absent means `manual` (read it with `publisherOf`). */
  publisher?: PublisherKind;
  rfc2136?: Rfc2136Config;
  route53?: { hostedZoneId: string };
}

export interface Rfc2136Config {
  server: string;
  keyName: string;
  algorithm: (typeof TSIG_ALGORITHMS)[number];
  secretName: string;
  zone?: string;
}

export function publisherOf(identity: IdentityConfig): PublisherKind {
  return identity.publisher ?? "manual";
}

export type NotificationsConfig = z.output<typeof notificationsSchema>;

export interface ProjectConfig {
  /** The file the config was read from (for error messages and annotations). */
  file: string;
  project: string;
  defaultRegion: string;
  identities: IdentityConfig[];
  /** KMS key (id, ARN or alias) that encrypts the stored private keys. */
  kmsKeyId: string;
  /** Secret names are `<secretPrefix>/<domain>/<selector>`. */
  secretPrefix: string;
  /** Recovery window for scheduled secret deletion; AWS allows 7–30 days. */
  deletionRecoveryDays: number;
  /** CloudWatch namespace the alarms watch. */
  metricsNamespace: string;
  /** SES control-plane pacing; AWS enforces 1 request/s per account and Region. */
  sesRequestsPerSecond: number;
  dnsTeam?: string;
  alertEmails: string[];
  github?: z.output<typeof githubSchema>;
  /** Where the pipeline tells people what it did and what it waits for; none when absent. */
  notifications?: NotificationsConfig;
  /** DMARC aggregate report ingestion; production proof from reports is off without it. */
  dmarcReports?: DmarcReportsConfig;
  /** Proof in production (docs/design.md#canary); absent: activation ends at SES SUCCESS. */
  canary?: CanaryConfig;
  /**
   * The immutable numeric IDs of the repository's owner and of the
   * repository. Set both when the repository's OIDC tokens carry them
   * (`repo:OWNER@OWNER_ID/REPO@REPO_ID:…`, GitHub docs "Immutable subject
   * claims"); the roles then trust that form only.
   */
  githubOwnerId?: number;
  githubRepositoryId?: number;
  /**
   * Where the record files live in the repository, given by the front end
   * (not by the stack file); read it with `recordFolderOf` (engine/record.ts).
   */
  recordFolder?: string;
}

/** The environment whose required reviewers gate every key-reading job. */
export function gatedEnvironmentOf(config: ProjectConfig): string {
  return config.github?.environment ?? DEFAULT_ENVIRONMENT;
}

/** The environment the `publish` job runs in (the publisher role trusts it alone). */
export function publisherEnvironmentOf(config: ProjectConfig): string {
  return config.github?.publisherEnvironment ?? DEFAULT_PUBLISHER_ENVIRONMENT;
}

/** Project keys only the Pulumi program reads (validated in infra/config.ts). */
export const ESTATE_ONLY_KEYS = [
  "existingOidcProviderArn",
  "protect",
  "adoptIdentities",
  // A Pulumi secret (`pulumi config set --secret`): the HTTPS endpoint SNS posts to.
  "notificationWebhookUrl",
] as const;

/** Top-level project keys (without the `<project>:` prefix). */
const projectSchema = z.strictObject({
  identities: z
    .array(z.unknown())
    .check(z.minLength(1, { error: "must list at least one identity" })),
  kmsKeyId: z._default(z.string().check(z.minLength(1)), "alias/ses-dkim-rotation"),
  secretPrefix: z._default(z.string().check(z.regex(/^[a-z0-9-]+$/)), "dkim"),
  deletionRecoveryDays: z._default(
    z.number().check(
      z.int(),
      z.minimum(7, {
        error: "must be at least 7 days (a deleted key must stay recoverable)",
      }),
      z.maximum(30),
    ),
    30,
  ),
  metricsNamespace: z._default(z.string().check(z.minLength(1)), "SesDkimRotation"),
  // SES's own limit (1/s) is checked where the endpoint is known (context.ts):
  // faster pacing is for the sandbox emulator only.
  sesRequestsPerSecond: z._default(
    z.number().check(
      z.minimum(MIN_REQUESTS_PER_SECOND, {
        error: `must be at least ${MIN_REQUESTS_PER_SECOND} (one call per ${1 / MIN_REQUESTS_PER_SECOND} s; slower, a fleet run takes days)`,
      }),
      z.maximum(EMULATOR_MAX_REQUESTS_PER_SECOND),
    ),
    1,
  ),
  dnsTeam: z.optional(z.string().check(z.minLength(1))),
  alertEmails: z._default(z.array(z.email()), []),
  github: z.optional(githubSchema),
  notifications: z.optional(notificationsSchema),
  dmarcReports: z.optional(dmarcReportsSchema),
  canary: z.optional(canarySchema),
  githubOwnerId: z.optional(z.number().check(z.int(), z.positive())),
  githubRepositoryId: z.optional(z.number().check(z.int(), z.positive())),
  // Read only by the Pulumi program (infra/config.ts validates them); named
  // here so that a misspelt key is an error, not a setting silently ignored.
  ...Object.fromEntries(ESTATE_ONLY_KEYS.map((k) => [k, z.optional(z.unknown())])),
});

const EXAMPLE_HINT = `see ${DEFAULT_CONFIG_FILE} in the repository for a complete example`;

/** A value from the file, short, for a message: numbers as written, strings quoted, else its kind. */
function shown(input: unknown): string {
  if (typeof input === "number" || typeof input === "boolean") return String(input);
  if (typeof input === "string") return quote(input);
  if (input === null || input === undefined) return "empty";
  return Array.isArray(input) ? `a list of ${input.length}` : "a map";
}

/**
 * The number schema under optional/default wrappers, with its bounds and
 * default, folded from its checks as classic zod's `minValue`, `maxValue`
 * and `isInt` fold them (an int check bounds it to the safe integers).
 */
function numberRule(schema: unknown): { min?: number; max?: number; int: boolean; def?: unknown } {
  type Node = {
    _zod: {
      def: {
        type?: string;
        defaultValue?: unknown;
        innerType?: Node;
        checks?: Node[];
        check?: string;
        value?: unknown;
        format?: string;
      };
    };
  };
  let node = schema as Node | undefined;
  let def: unknown;
  while (node && (node._zod.def.type === "default" || node._zod.def.type === "optional")) {
    if (node._zod.def.type === "default") def = node._zod.def.defaultValue;
    node = node._zod.def.innerType;
  }
  if (node?._zod.def.type !== "number") return { int: false };
  let min = Number.NEGATIVE_INFINITY;
  let max = Number.POSITIVE_INFINITY;
  let int = false;
  for (const check of node._zod.def.checks ?? []) {
    const c = check._zod.def;
    if (c.check === "greater_than") min = Math.max(min, Number(c.value));
    else if (c.check === "less_than") max = Math.min(max, Number(c.value));
    else if (c.check === "number_format" && c.format?.includes("int")) {
      int = true;
      min = Math.max(min, Number.MIN_SAFE_INTEGER);
      max = Math.min(max, Number.MAX_SAFE_INTEGER);
    }
  }
  const finite = (v: number) => (Number.isFinite(v) ? v : undefined);
  return { min: finite(min), max: finite(max), int, def };
}

/**
 * One zod issue as an InputError's problem and hint, for every issue code
 * (docs/design.md#invariant-6-bad-input-fails-early): the value as written,
 * what is wrong with it, and what to write instead. `schema` is the field's
 * own schema when known (its range and default make the hint).
 */
function describeIssue(
  issue: z.core.$ZodIssue,
  schema: unknown,
  fieldHint: string | undefined,
): { problem: string; hint: string } {
  const input = (issue as { input?: unknown }).input;
  const rule = numberRule(schema);
  const range =
    rule.min !== undefined || rule.max !== undefined
      ? `${rule.int ? "a whole number" : "a number"}${rule.min !== undefined ? ` from ${rule.min}` : ""}${rule.max !== undefined ? ` to ${rule.max}` : ""}${rule.def !== undefined ? ` (default ${String(rule.def)})` : ""}`
      : undefined;
  const custom = !/^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message);
  const hint = (fallback: string) => ({ hint: fieldHint ?? range ?? fallback });
  switch (issue.code) {
    case "too_small":
    case "too_big": {
      const small = issue.code === "too_small";
      const bound = small ? issue.minimum : issue.maximum;
      const inclusive = issue.inclusive !== false;
      const limit = `${small ? (inclusive ? "at least" : "more than") : inclusive ? "at most" : "less than"} ${String(bound)}`;
      const problem = custom
        ? issue.message
        : issue.origin === "array" || issue.origin === "set"
          ? `lists ${Array.isArray(input) ? input.length : "too few or too many"} item(s); it must list ${limit}`
          : issue.origin === "string"
            ? small && bound === 1
              ? "is empty"
              : `${shown(input)} must be ${limit} characters long`
            : `${shown(input)} is ${small ? "below" : "above"} the allowed range: it must be ${limit}`;
      return { problem, ...hint(`use a value ${limit}`) };
    }
    case "invalid_type": {
      const expected = issue.expected as string;
      if (custom) return { problem: issue.message, ...hint(EXAMPLE_HINT) };
      if (expected === "int")
        return { problem: `${shown(input)} is not a whole number`, ...hint("e.g. 365") };
      if (expected === "number" && typeof input === "string")
        return {
          problem: `${shown(input)} is a string, not a number`,
          hint: `write the number without quotes${range ? `: ${range}` : ", e.g. 14"}`,
        };
      if (expected === "object" && issue.path.length === 0 && typeof input === "string")
        return {
          problem: `${shown(input)} is a bare string, not an identity`,
          hint: `write each identity as a map: "- domain: ${input}" with "selectorPrefix: mail" indented under it`,
        };
      const what: Record<string, string> = {
        array: "a YAML list, e.g. [a, b]",
        object: "a map of key: value lines",
        boolean: "true or false",
        string: "text, e.g. in quotes",
        number: "a plain number, e.g. 14",
      };
      return {
        problem: `is ${shown(input)}, not ${what[expected]?.split(",")[0] ?? expected}`,
        ...hint(`write ${what[expected] ?? expected}`),
      };
    }
    case "invalid_value":
      return {
        problem: custom ? issue.message : `${shown(input)} is not an allowed value`,
        hint: fieldHint ?? `one of ${issue.values.map((v) => String(v)).join(", ")}`,
      };
    case "invalid_format":
      return {
        problem: custom ? issue.message : `${shown(input)} is not a valid ${issue.format}`,
        ...hint(issue.format === "email" ? "e.g. dns-team@example.jp" : `write a ${issue.format}`),
      };
    case "unrecognized_keys":
      return {
        problem: `has unknown setting(s) ${issue.keys.join(", ")}`,
        hint: "remove them or fix their spelling",
      };
    default:
      return { problem: issue.message, ...hint(EXAMPLE_HINT) };
  }
}

function issueField(path: PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || "(root)";
}

/**
 * Validate already-parsed project values (`<project>:` prefix removed).
 * Throws `InputError` naming file, identity and field on the first problem.
 */
export function parseProjectConfig(
  values: Record<string, unknown>,
  opts: { file: string; project: string; defaultRegion?: string },
): ProjectConfig {
  const { file, project } = opts;
  const defaultRegion = opts.defaultRegion;
  if (defaultRegion !== undefined && !regionPattern.test(defaultRegion)) {
    throw new InputError({
      file,
      field: "aws:region",
      problem: `"${defaultRegion}" is not an AWS region`,
      hint: "e.g. ap-northeast-1",
    });
  }
  // reportInput: the messages quote the value as written (clipped by quote()).
  const top = projectSchema.safeParse(values, { reportInput: true });
  if (!top.success) {
    const issue = top.error.issues[0]!;
    const unknownKey =
      issue.code === "unrecognized_keys" && issue.path.length === 0
        ? (issue as { keys?: string[] }).keys?.[0]
        : undefined;
    if (unknownKey)
      throw new InputError({
        file,
        field: `${project}:${unknownKey}`,
        problem: "is not a known setting",
        hint: `known settings: ${Object.keys(projectSchema.shape).join(", ")}`,
      });
    const top0 = issue.path[0];
    throw new InputError({
      file,
      field: issueField(issue.path, `${project}:`).replace(/^(.*?):\./, "$1:"),
      ...describeIssue(
        issue,
        issue.path.length === 1 && typeof top0 === "string"
          ? (projectSchema.shape as Record<string, unknown>)[top0]
          : undefined,
        undefined,
      ),
    });
  }
  const identities: IdentityConfig[] = [];
  const seen = new Set<string>();
  top.data.identities.forEach((raw, index) => {
    const label =
      raw && typeof raw === "object" && typeof (raw as { domain?: unknown }).domain === "string"
        ? String((raw as { domain: string }).domain)
        : `#${index + 1}`;
    const field = (f: string) => `${project}:identities[${index}].${f}`;
    const parsed = identitySchema.safeParse(raw, { reportInput: true });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const unknownKey =
        issue.code === "unrecognized_keys" ? (issue as { keys?: string[] }).keys?.[0] : undefined;
      throw new InputError({
        file,
        identity: label,
        field: unknownKey
          ? field(unknownKey)
          : issueField(issue.path, `${project}:identities[${index}]`),
        ...(unknownKey
          ? {
              problem: "is not a known identity setting",
              hint: `known settings: ${Object.keys(identitySchema.shape).join(", ")}`,
            }
          : describeIssue(
              issue,
              issue.path.length === 1
                ? (identitySchema.shape as Record<string, unknown>)[String(issue.path[0])]
                : undefined,
              hintFor(issue.path[0]),
            )),
      });
    }
    const id = parsed.data;
    if (seen.has(id.domain)) {
      throw new InputError({
        file,
        identity: id.domain,
        field: field("domain"),
        problem: "is listed twice",
        hint: "list each domain once; put every Region in its regions list",
      });
    }
    seen.add(id.domain);
    const regions = id.regions ?? (defaultRegion ? [defaultRegion] : undefined);
    if (!regions) {
      throw new InputError({
        file,
        identity: id.domain,
        field: field("regions"),
        problem: "is not set and there is no aws:region default",
        hint: "set aws:region at the top of the stack file or list regions per identity",
      });
    }
    if (new Set(regions).size !== regions.length) {
      throw new InputError({
        file,
        identity: id.domain,
        field: field("regions"),
        problem: "lists a Region twice",
        hint: "each Region gets the same selector and key once",
      });
    }
    const minRotation = id.alertDays + id.dnsLeadDays + ROTATION_BUFFER_DAYS + id.graceDays;
    if (id.rotationDays <= minRotation) {
      throw new InputError({
        file,
        identity: id.domain,
        field: field("rotationDays"),
        problem: `${id.rotationDays} leaves no room: alertDays + dnsLeadDays + ${ROTATION_BUFFER_DAYS} buffer + graceDays = ${minRotation}`,
        hint: `raise rotationDays above ${minRotation} or shorten dnsLeadDays/alertDays`,
      });
    }
    const publisherProblem = publisherSettingsProblem(id);
    if (publisherProblem) {
      throw new InputError({
        file,
        identity: id.domain,
        field: field(publisherProblem.field),
        problem: publisherProblem.problem,
        hint: publisherProblem.hint,
      });
    }
    if (
      id.rfc2136 &&
      top.data.secretPrefix &&
      id.rfc2136.secretName.startsWith(`${top.data.secretPrefix}/`)
    ) {
      throw new InputError({
        file,
        identity: id.domain,
        field: field("rfc2136.secretName"),
        problem: `is under the DKIM key prefix ${top.data.secretPrefix}/, which the planner role may never read`,
        hint: "store the TSIG secret under its own name, e.g. ses-dkim-rotation/tsig/" + id.domain,
      });
    }
    identities.push({ ...id, regions });
  });
  const { identities: _ids, ...rest } = top.data;
  const ruaProblem = ruaReceivingProblem(rest.dmarcReports, rest.canary);
  if (ruaProblem)
    throw new InputError({
      file,
      field: `dmarcReports.${ruaProblem.field}`,
      problem: ruaProblem.problem,
      hint: ruaProblem.hint,
    });
  return {
    file,
    project,
    defaultRegion: defaultRegion ?? identities[0]!.regions[0]!,
    identities,
    kmsKeyId: rest.kmsKeyId,
    secretPrefix: rest.secretPrefix,
    deletionRecoveryDays: rest.deletionRecoveryDays,
    metricsNamespace: rest.metricsNamespace,
    sesRequestsPerSecond: rest.sesRequestsPerSecond,
    dnsTeam: rest.dnsTeam,
    alertEmails: rest.alertEmails,
    github: rest.github,
    notifications: rest.notifications,
    dmarcReports: rest.dmarcReports,
    ...(rest.canary ? { canary: rest.canary } : {}),
    githubOwnerId: rest.githubOwnerId,
    githubRepositoryId: rest.githubRepositoryId,
  };
}

/** A publisher without its settings, or settings for a publisher not chosen. */
function publisherSettingsProblem(
  id: z.output<typeof identitySchema>,
): { field: string; problem: string; hint: string } | undefined {
  for (const kind of ["rfc2136", "route53"] as const) {
    if (id.publisher === kind && !id[kind])
      return {
        field: kind,
        problem: `is missing: publisher is ${kind}`,
        hint:
          kind === "rfc2136"
            ? "add rfc2136: { server, keyName, secretName } (docs/operations.md#publisher-rfc2136)"
            : "add route53: { hostedZoneId } (docs/operations.md#publisher-route53)",
      };
    if (id.publisher !== kind && id[kind])
      return {
        field: kind,
        problem: `is set but publisher is ${id.publisher}`,
        hint: `set publisher: ${kind}, or remove the ${kind} block`,
      };
  }
  return undefined;
}

function hintFor(field: PropertyKey | undefined): string | undefined {
  switch (field) {
    case "domain":
      return "write it as example.jp, lower case, no trailing dot";
    case "selectorPrefix":
      return "e.g. mail; the date and a counter are appended";
    case "keyBits":
      return "use 2048 unless your DNS host cannot serve a 410-byte TXT record";
    case "nameservers":
      return "host, host:port or [IPv6]:port, e.g. 127.0.0.1:5300, ns1.example.jp, [2001:db8::53]:53";
    case "regions":
      return "e.g. [ap-northeast-1, ap-northeast-3]";
    default:
      return undefined;
  }
}

/**
 * The project name from the `Pulumi.yaml` beside the stack file. `read`
 * returns its text, or undefined when there is none (the default project);
 * a file that cannot be read or parsed is one error naming it.
 */
export function projectNameFrom(read: () => string | undefined, pulumiYaml: string): string {
  let doc: { name?: unknown } | null | undefined;
  try {
    const text = read();
    doc =
      text === undefined ? undefined : (readYaml(text, pulumiYaml) as { name?: unknown } | null);
  } catch (err) {
    throw new InputError({
      file: pulumiYaml,
      field: "name",
      problem: `cannot be read: ${(err as Error).message.split("\n")[0]}`,
      hint: "Pulumi.yaml beside the stack file names the project (name: ses-dkim-rotation)",
    });
  }
  return typeof doc?.name === "string" ? doc.name : DEFAULT_PROJECT;
}

/**
 * Where a number is written in a notation readers disagree on, or cannot
 * hold exactly: a leading zero (`014` is 12 to YAML 1.1 readers, 14 to YAML
 * 1.2, which this engine uses), hex/octal/exponent forms, `.inf`, `.nan`, and
 * integers beyond 2^53. Pulumi and this engine must read the same value.
 */
function numberNotationProblem(source: string, value: unknown): string | undefined {
  if (typeof value !== "number") return undefined;
  const text = source.trim();
  if (/^[-+]?\.(inf|nan)$/i.test(text)) return `${text} is not a finite number`;
  if (/^[-+]?0\d/.test(text))
    return `${text} has a leading zero (octal to YAML 1.1 readers, decimal to YAML 1.2); write ${text.replace(/^([-+]?)0+(?=\d)/, "$1")}`;
  if (!/^-?\d+(\.\d+)?$/.test(text)) return `${text} is not a plain decimal number`;
  if (Number.isInteger(value) && !Number.isSafeInteger(value))
    return `${text} is beyond 2^53 and cannot be held exactly`;
  return undefined;
}

/**
 * Parse YAML (1.2, duplicate keys refused) and check every number's notation.
 * Errors name the file and line; a number's error also names its key path.
 */
function readYaml(text: string, file: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  const error = doc.errors[0];
  if (error) {
    const line = error.linePos?.[0]?.line;
    const problem = error.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new InputError({
      file: line ? `${file}:${line}` : file,
      field: "(yaml)",
      problem: `is not valid YAML: ${problem}`,
      hint: YAML_HINTS[error.code] ?? "check the indentation and quoting on that line",
    });
  }
  visit(doc, {
    Scalar(_key, node, path) {
      if (node.type !== "PLAIN" || typeof node.source !== "string") return;
      const problem = numberNotationProblem(node.source, node.value);
      if (!problem) return;
      const field: string[] = [];
      let identity: string | undefined;
      path.forEach((ancestor, i) => {
        const next = path[i + 1] ?? node;
        if (isPair(ancestor) && isScalar(ancestor.key)) {
          const key = String(ancestor.key.value);
          if (key !== "config") field.push(field.length ? `.${key}` : key);
        } else if (isSeq(ancestor)) {
          const index = ancestor.items.indexOf(next as never);
          field.push(`[${index}]`);
          const item = ancestor.items[index];
          const domain = isMap(item) ? item.get("domain") : undefined;
          if (typeof domain === "string") identity = domain;
        }
      });
      const line = node.range ? lines.linePos(node.range[0]).line : undefined;
      throw new InputError({
        file: line ? `${file}:${line}` : file,
        identity,
        field: field.join("") || "(value)",
        problem,
        hint: "write numbers as plain decimals, e.g. 14 or 0.5",
      });
    },
  });
  try {
    // yaml's default maxAliasCount (100) stops an alias bomb ("billion laughs").
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    throw new InputError({
      file,
      field: "(yaml)",
      problem: `cannot be expanded: ${(err as Error).message.split("\n")[0]}`,
      hint: `write the values out; anchors and aliases may expand at most ${MAX_YAML_ALIASES} times`,
    });
  }
}

/** The most alias expansions a stack file may need (yaml's default; a few suffice). */
const MAX_YAML_ALIASES = 100;

/** What to do about the YAML errors a hand-edited stack file most often has, by yaml's error code. */
const YAML_HINTS: Partial<Record<string, string>> = {
  DUPLICATE_KEY: "give each key once: remove or merge the second one",
  TAB_AS_INDENT: "indent with spaces; YAML does not allow tabs for indentation",
  BAD_INDENT: "indent the entries of one map or list by the same number of spaces",
  MISSING_CHAR: "close the bracket or quote opened on that line",
  MULTIPLE_DOCS: "a stack file is one YAML document: remove the --- separator",
};

/** How a front end asks for a stack file to be read (load-config.ts reads the file). */
export interface StackFileOptions {
  /** How to point at another file, in the front end's words (a CLI flag, an action input). */
  fileHint?: string;
  /** The record folder the front end was given (checked with checkRecordFolder); `dns` when absent. */
  recordFolder?: string;
}

/**
 * Validate the text of a Pulumi stack file, `projectName` being the project
 * it belongs to. Throws `InputError` on any problem.
 */
export function parseStackFile(
  text: string,
  file: string,
  projectName: string,
  opts: StackFileOptions = {},
): ProjectConfig {
  const doc = readYaml(text, file);
  const config = (doc as { config?: unknown } | null)?.config;
  if (!config || typeof config !== "object") {
    throw new InputError({
      file,
      field: "config",
      problem: "is missing",
      hint: `a Pulumi stack file has a top-level config: map with ${projectName}:identities`,
    });
  }
  const values: Record<string, unknown> = {};
  let region: string | undefined;
  for (const [key, value] of Object.entries(config as Record<string, unknown>)) {
    if (key === "aws:region") region = String(value);
    else if (key.startsWith(`${projectName}:`)) values[key.slice(projectName.length + 1)] = value;
  }
  if (!("identities" in values)) {
    throw new InputError({
      file,
      field: `${projectName}:identities`,
      problem: "is missing",
      hint: `list the SES identities under config.${projectName}:identities`,
    });
  }
  const parsed = parseProjectConfig(values, {
    file,
    project: projectName,
    defaultRegion: region,
  });
  return opts.recordFolder === undefined ? parsed : { ...parsed, recordFolder: opts.recordFolder };
}

/**
 * The notification topic's ARN, as the pipeline and the Pulumi program both
 * derive it: the topic lives in the stack's default Region (aws:region) and
 * is named by `notifications.topicName`.
 */
export function notificationTopicArn(p: {
  partition: string;
  region: string;
  accountId: string;
  topicName: string;
}): string {
  return `arn:${p.partition}:sns:${p.region}:${p.accountId}:${p.topicName}`;
}

/**
 * SES receives into one active receipt rule set per Region, and S3 admits
 * only the writers its bucket policy names (docs/design.md#ses-receiving-s3-action):
 * the rua rule infra/ makes therefore joins the canary's active rule set and
 * writes into the canary's bucket, whose policy admits both rules, each on
 * its own prefix. Anything else would be a rule SES never runs or a write S3
 * refuses.
 */
export function ruaReceivingProblem(
  reports: DmarcReportsConfig | undefined,
  canary: CanaryConfig | undefined,
): { field: string; problem: string; hint: string } | undefined {
  if (!reports?.ruaAddress) return undefined;
  if (!canary)
    return {
      field: "ruaAddress",
      problem:
        "needs the canary's receiving setup (a canary: block): its bucket, rule set and Region receive the reports",
      hint: "add a canary: block with the same bucket and region, or remove ruaAddress if reports reach the bucket another way",
    };
  if (reports.bucket !== canary.bucket)
    return {
      field: "bucket",
      problem: `${quote(reports.bucket)} is not the canary's bucket ${quote(canary.bucket)}; infra/ admits SES's rua writes only there`,
      hint: `set dmarcReports.bucket: ${canary.bucket} (the reports keep their own prefix)`,
    };
  if (reports.region !== canary.region)
    return {
      field: "region",
      problem: `${reports.region} is not the canary's receiving Region ${canary.region}`,
      hint: `set dmarcReports.region: ${canary.region}`,
    };
  if (reports.prefix.startsWith(canary.prefix) || canary.prefix.startsWith(reports.prefix))
    return {
      field: "prefix",
      problem: `${quote(reports.prefix)} overlaps the canary's prefix ${quote(canary.prefix)}`,
      hint: "give the reports their own prefix, e.g. dmarc/",
    };
  if (reports.ruleSetName !== undefined && reports.ruleSetName !== canary.ruleSet)
    return {
      field: "ruleSetName",
      problem: `${quote(reports.ruleSetName)} is not the canary's active rule set ${quote(canary.ruleSet)}; SES runs only the active one`,
      hint: "remove ruleSetName (the rua rule joins the canary's rule set)",
    };
  return undefined;
}
