/**
 * The IAM and KMS policy documents of the estate, as pure functions of
 * resolved values, so the tests and the docs can read exactly what AWS gets.
 *
 * The split of powers (docs/design.md#invariant-4-key-material-stays-secret: a private
 * key exists in plaintext only inside KMS and, for seconds, in the approved activation
 * job's memory), written for a hostile plan job:
 * - the planner (any run on `main`) asks KMS for a key pair it never sees
 *   (GenerateDataKeyPairWithoutPlaintext, bound to `{domain, selector}`) and
 *   creates its secret, with its value and creation tags, in one call, under
 *   the project key only, never declaring an adopted key; it reads only
 *   KMS-wrapped values (ciphertext, to check a pending key's custody:
 *   docs/design.md#key-origins), and can never overwrite, retag, replicate
 *   or delete a secret, nor decrypt a wrapped key;
 * - the activator (only a job in the approved environment) may read keys,
 *   decrypt them with their `{domain, selector}` context for the configured
 *   domains, hand them to SES, write the lifecycle tags (it alone), and
 *   schedule deletion with a recovery window of 7+ days; never write a value.
 * With notifications configured, both roles publish to the one notification
 * topic and may write one more tag on an existing key, `dkim:notified` (the
 * ledger of notifications sent), and nothing else. With a publisher other
 * than `manual`, DNS writes belong to two roles no scheduled job holds
 * (docs/design.md#publishers): the publisher (the post-merge `publish` job,
 * its own environment, main only) may CREATE `_domainkey` TXT records in the
 * configured hosted zones and read the TSIG secrets; the activator (the gated
 * retire job) may DELETE them and read the TSIG secrets. The planner may do
 * neither, explicitly.
 * The explicit denies hold even if a broader policy (`secretsmanager:*`) is
 * attached to either role later.
 */

import {
  CREATION_TAG_KEYS,
  KEY_CONTEXT_KEYS,
  LIFECYCLE_TAG_KEYS,
  TAG_KEY_ORIGIN,
  TAG_NOTIFIED,
  TAG_REPORT_SEEN,
  TAG_STATE,
  jobWorkflowRefOf,
  type WorkflowPin,
} from "../../actions/dkim-rotation/src/engine/config";

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";
export const GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com";

/** Secrets Manager's validation calls carry this encryption context value (AWS Secrets Manager guide, "Secret encryption and decryption"). */
export const KEY_ACCESS_VALIDATION_VERSION = "RequestToValidateKeyAccess";

/** AWS allows 7–30 days; anything shorter would make a deleted key unrecoverable. */
export const MIN_RECOVERY_WINDOW_DAYS = 7;

/** Every secret the pipeline creates carries this tag from its CreateSecret on. */
const LIFECYCLE_MARKER = TAG_STATE;

/**
 * The key origins the planner may declare (docs/design.md#key-origins):
 * `kms`, and `local` for the 1024-bit exception. `operator` (an adopted key,
 * which may be plaintext) is for an operator's own credentials only.
 */
export const PLANNER_KEY_ORIGINS = ["kms", "local"];

/**
 * Actions that would copy a key out of its one place or bypass its guards.
 * Neither role needs any of them; each is denied outright.
 */
export const FORBIDDEN_SECRET_ACTIONS = [
  "secretsmanager:PutSecretValue",
  "secretsmanager:UpdateSecret",
  "secretsmanager:ReplicateSecretToRegions",
  "secretsmanager:RemoveRegionsFromReplication",
  "secretsmanager:StopReplicationToReplica",
  "secretsmanager:RotateSecret",
  "secretsmanager:CancelRotateSecret",
  "secretsmanager:UpdateSecretVersionStage",
  "secretsmanager:PutResourcePolicy",
  "secretsmanager:DeleteResourcePolicy",
  "secretsmanager:RestoreSecret",
  "secretsmanager:UntagResource",
] as const;

export type Condition = Record<string, Record<string, string | string[] | number | boolean>>;

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: { AWS?: string | string[]; Federated?: string };
  Condition?: Condition;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

export function plannerSubject(owner: string, repo: string): string {
  return `repo:${owner}/${repo}:ref:refs/heads/main`;
}

export function activatorSubject(owner: string, repo: string, environment: string): string {
  return `repo:${owner}/${repo}:environment:${environment}`;
}

/** The publish job's environment: GitHub's one claim form for any environment job. */
export function publisherSubject(owner: string, repo: string, environment: string): string {
  return activatorSubject(owner, repo, environment);
}

/**
 * The `sub`s GitHub issues under the pinned template (`repo, context,
 * job_workflow_ref`): the default subject, then `:job_workflow_ref:` and the
 * reusable workflow that defines the job, one per file
 * (docs/design.md#github-oidc-subject).
 */
export function pinnedSubjects(
  subject: string,
  pin: WorkflowPin,
  files: readonly string[],
): string[] {
  return files.map((file) => `${subject}:job_workflow_ref:${jobWorkflowRefOf(pin, file)}`);
}

/**
 * Trust for a role assumed from GitHub Actions. `StringEquals` (not
 * `StringLike`) on `sub`, so no wildcard can widen it to another branch,
 * environment, repository or workflow file (a list is any of its exact
 * values); `aud` pins the token to STS.
 */
export function githubTrustPolicy(providerArn: string, subject: string | string[]): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "GithubActionsOidc",
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: ["sts:AssumeRoleWithWebIdentity"],
        Condition: {
          StringEquals: {
            [`${GITHUB_OIDC_HOST}:aud`]: GITHUB_OIDC_AUDIENCE,
            // One subject stays a string, as before pinning; several are "any of".
            [`${GITHUB_OIDC_HOST}:sub`]:
              Array.isArray(subject) && subject.length === 1 ? subject[0]! : subject,
          },
        },
      },
    ],
  };
}

export interface AccountScope {
  partition: string;
  /** `amazonaws.com`, or `amazonaws.com.cn` in the China partition. */
  dnsSuffix: string;
  accountId: string;
  /** The Region of the key vault and the secrets (the stack's `aws:region`). */
  homeRegion: string;
}

export function secretArnPattern(scope: AccountScope, secretPrefix: string): string {
  return `arn:${scope.partition}:secretsmanager:${scope.homeRegion}:${scope.accountId}:secret:${secretPrefix}/*`;
}

/**
 * A secret named exactly `name`: Secrets Manager appends a hyphen and six
 * random characters to every secret ARN, so `-??????` matches that secret and
 * not `name-other` (AWS Secrets Manager guide, "Permissions reference",
 * resources: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources).
 */
export function namedSecretArn(scope: AccountScope, name: string): string {
  return `arn:${scope.partition}:secretsmanager:${scope.homeRegion}:${scope.accountId}:secret:${name}-??????`;
}

/** Route 53 is global: its ARNs have neither Region nor account. */
export function hostedZoneArn(scope: Pick<AccountScope, "partition">, zoneId: string): string {
  return `arn:${scope.partition}:route53:::hostedzone/${zoneId}`;
}

export function identityArn(scope: AccountScope, region: string, domain: string): string {
  return `arn:${scope.partition}:ses:${region}:${scope.accountId}:identity/${domain}`;
}

/** `kms:ViaService` value: the key is only usable through Secrets Manager in the home Region. */
export function secretsManagerService(scope: AccountScope): string {
  return `secretsmanager.${scope.homeRegion}.${scope.dnsSuffix}`;
}

export interface RolePolicyScope extends AccountScope {
  secretPrefix: string;
  kmsKeyArn: string;
  /** The configured domains: the only `domain` values a wrapped key may be bound to. */
  domains: string[];
  /** SES identity ARNs, one per identity and Region. */
  identityArns: string[];
  metricsNamespace: string;
  /** The notification topic (`notificationTopicArn`); absent without `notifications`. */
  notificationTopicArn?: string;
  /** `namedSecretArn` of each rfc2136 identity's `secretName` (the TSIG keys). */
  tsigSecretArns?: string[];
  /** Each route53 hosted zone and the domains whose DKIM records it holds. */
  route53Zones?: Route53Zone[];
  /** The canary's mail path (docs/design.md#canary); absent without `canary:`. */
  canary?: CanaryScope;
}

export interface CanaryScope {
  bucket: string;
  prefix: string;
  /** The bucket's SSE-KMS key (its key policy admits the activator through S3 only). */
  kmsKeyArn: string;
  /** The canary's sender is `<localPart>@<identity domain>`. */
  localPart: string;
  region: string;
}

/**
 * The activator reads and deletes canaries under the prefix, lists only the
 * prefix, decrypts them through S3, and sends from `<localPart>@<domain>` of
 * a configured identity (`ses:FromAddress`, IAM's check on SendEmail).
 */
function canaryMail(scope: RolePolicyScope): PolicyStatement[] {
  const c = scope.canary;
  if (!c) return [];
  const bucketArn = `arn:${scope.partition}:s3:::${c.bucket}`;
  return [
    {
      Sid: "ReadAndDeleteCanaries",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:DeleteObject"],
      Resource: `${bucketArn}/${c.prefix}*`,
    },
    {
      Sid: "ListCanaryPrefix",
      Effect: "Allow",
      Action: ["s3:ListBucket"],
      Resource: bucketArn,
      Condition: { StringLike: { "s3:prefix": `${c.prefix}*` } },
    },
    {
      Sid: "DecryptCanariesThroughS3",
      Effect: "Allow",
      Action: ["kms:Decrypt"],
      Resource: c.kmsKeyArn,
      Condition: { StringEquals: { "kms:ViaService": `s3.${c.region}.${scope.dnsSuffix}` } },
    },
    {
      Sid: "SendCanaries",
      Effect: "Allow",
      Action: ["ses:SendEmail"],
      Resource: scope.identityArns,
      Condition: {
        StringLike: { "ses:FromAddress": scope.domains.map((d) => `${c.localPart}@${d}`) },
      },
    },
  ];
}

/** The planner reads no mail: S3 and the canary key refuse it whatever else is attached. */
function plannerReadsNoCanary(scope: RolePolicyScope): PolicyStatement[] {
  const c = scope.canary;
  if (!c) return [];
  const bucketArn = `arn:${scope.partition}:s3:::${c.bucket}`;
  return [
    {
      Sid: "PlannerReadsNoCanaryMail",
      Effect: "Deny",
      Action: ["s3:GetObject", "s3:ListBucket", "s3:DeleteObject", "s3:PutObject"],
      Resource: [bucketArn, `${bucketArn}/*`],
    },
  ];
}

export interface Route53Zone {
  hostedZoneId: string;
  domains: string[];
}

/** The tags a role may write on an existing key: its own, plus the notification ledger. */
function existingKeyTags(scope: RolePolicyScope, own: string[]): string[] {
  return scope.notificationTopicArn ? [...own, TAG_NOTIFIED] : own;
}

/** Both roles tell people what they did: Publish to the one topic, nothing else on SNS. */
function publishNotifications(scope: RolePolicyScope): PolicyStatement[] {
  if (!scope.notificationTopicArn) return [];
  return [
    {
      // SNS has no condition key for message attributes: the topic's
      // subscription filter policies (on `audience`) decide who reads what.
      Sid: "PublishNotifications",
      Effect: "Allow",
      Action: ["sns:Publish"],
      Resource: scope.notificationTopicArn,
    },
  ];
}

const R53_TYPES = "route53:ChangeResourceRecordSetsRecordTypes";
const R53_ACTIONS = "route53:ChangeResourceRecordSetsActions";
const R53_NAMES = "route53:ChangeResourceRecordSetsNormalizedRecordNames";

/**
 * Route 53 changes of DKIM records, one change action only: CREATE for the
 * publisher (Route 53 refuses a CREATE of an existing record set, so the
 * active record can never be overwritten), DELETE for the activator (the
 * gated retire job). Only TXT records, only names under `_domainkey.` of the
 * domains each zone serves, only in the configured zones. The three condition
 * keys hold every change of the batch, so ForAllValues checks each one;
 * ForAllValues is true when a key is absent, so Null requires all three.
 * Names are normalized (lower case, no trailing dot, other characters
 * octal-escaped) (docs/design.md#route53-changes):
 * https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html
 */
function route53DkimChanges(
  scope: RolePolicyScope,
  action: "CREATE" | "DELETE",
): PolicyStatement[] {
  const zones = scope.route53Zones ?? [];
  if (zones.length === 0) return [];
  const verb = action === "CREATE" ? "Create" : "Delete";
  return [
    ...zones.map((zone): PolicyStatement => ({
      Sid: `${verb}DkimRecordsInZone${zone.hostedZoneId}`,
      Effect: "Allow",
      Action: ["route53:ChangeResourceRecordSets"],
      Resource: hostedZoneArn(scope, zone.hostedZoneId),
      Condition: {
        "ForAllValues:StringEquals": { [R53_TYPES]: ["TXT"], [R53_ACTIONS]: [action] },
        "ForAllValues:StringLike": {
          [R53_NAMES]: zone.domains.map((domain) => `*._domainkey.${domain}`),
        },
        Null: { [R53_TYPES]: "false", [R53_ACTIONS]: "false", [R53_NAMES]: "false" },
      },
    })),
    {
      // Read back what the zone serves before a change (idempotence).
      Sid: "ListDkimZoneRecords",
      Effect: "Allow",
      Action: ["route53:ListResourceRecordSets"],
      Resource: zones.map((zone) => hostedZoneArn(scope, zone.hostedZoneId)),
    },
    {
      // Wait for INSYNC. Change IDs are not known in advance, so change/*
      // (GetChange's only resource type) is as narrow as it gets.
      Sid: "WatchRoute53Changes",
      Effect: "Allow",
      Action: ["route53:GetChange"],
      Resource: `arn:${scope.partition}:route53:::change/*`,
    },
    {
      // Holds even if a broader Route 53 policy is attached later: a batch
      // with any other change action is refused.
      Sid: `${verb}IsTheOnlyRoute53Change`,
      Effect: "Deny",
      Action: ["route53:ChangeResourceRecordSets"],
      Resource: "*",
      Condition: { "ForAnyValue:StringNotEquals": { [R53_ACTIONS]: [action] } },
    },
  ];
}

/** The stored keys' metadata (state, public half, tags): never their value. */
function readKeyMetadata(secrets: string): PolicyStatement[] {
  return [
    {
      Sid: "DescribeKeys",
      Effect: "Allow",
      Action: ["secretsmanager:DescribeSecret"],
      Resource: secrets,
    },
    {
      // ListSecrets has no resource type: it only accepts "*".
      Sid: "ListKeys",
      Effect: "Allow",
      Action: ["secretsmanager:ListSecrets"],
      Resource: "*",
    },
  ];
}

/** The rfc2136 TSIG secrets: exactly the configured ones (the publisher and the activator). */
function readTsigSecrets(scope: RolePolicyScope): PolicyStatement[] {
  const tsigSecrets = scope.tsigSecretArns ?? [];
  if (!tsigSecrets.length) return [];
  return [
    {
      // Never under the DKIM key prefix: the config refuses that, and the
      // deny of each role holds.
      Sid: "ReadTsigSecrets",
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: tsigSecrets,
    },
  ];
}

/** Explicit denies of both roles: they hold even if someone later attaches a broader policy. */
function sharedDenies(scope: RolePolicyScope): PolicyStatement[] {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  return [
    {
      // BatchGetSecretValue has no resource type: a deny scoped to the
      // secrets' ARNs never matches it. It must name "*".
      Sid: "NoBatchReads",
      Effect: "Deny",
      Action: ["secretsmanager:BatchGetSecretValue"],
      Resource: "*",
    },
    {
      // A stored key is immutable and lives in one Region, under one key,
      // with no policy of its own (docs/infrastructure.md, threat model).
      Sid: "StoredKeysStayPut",
      Effect: "Deny",
      Action: [...FORBIDDEN_SECRET_ACTIONS],
      Resource: secrets,
    },
    {
      // The tag-key conditions below read aws:TagKeys with ForAllValues
      // (true when the key is absent) and ForAnyValue (false when absent):
      // a request without it is refused outright, so neither can be
      // sidestepped (IAM User Guide, "Single-valued vs. multivalued context
      // keys": https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
      Sid: "NoTaggingWithoutTagKeys",
      Effect: "Deny",
      Action: ["secretsmanager:TagResource"],
      Resource: secrets,
      Condition: { Null: { "aws:TagKeys": "true" } },
    },
    {
      Sid: "NoForcedDeletion",
      Effect: "Deny",
      Action: ["secretsmanager:DeleteSecret"],
      Resource: secrets,
      Condition: { Bool: { "secretsmanager:ForceDeleteWithoutRecovery": "true" } },
    },
    {
      // A window shorter than 7 days is refused outright (the activator's allow
      // also needs the key present, so an omitted window is not allowed either).
      Sid: "NoShortRecoveryWindow",
      Effect: "Deny",
      Action: ["secretsmanager:DeleteSecret"],
      Resource: secrets,
      Condition: {
        NumericLessThan: { "secretsmanager:RecoveryWindowInDays": MIN_RECOVERY_WINDOW_DAYS },
      },
    },
    {
      // Plaintext key pairs, re-encryption under another key, and grants
      // would each move a key out of its custody.
      Sid: "NoKeyCustodyBypass",
      Effect: "Deny",
      Action: [
        "kms:GenerateDataKeyPair",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:CreateGrant",
        "kms:Encrypt",
      ],
      Resource: "*",
    },
  ];
}

/** Only the configured domains, and only the `{domain, selector}` context (no more, no less). */
function wrappedKeyContext(domains: string[], extra: Record<string, string> = {}): Condition {
  return {
    "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": KEY_CONTEXT_KEYS },
    StringEquals: { "kms:EncryptionContext:domain": domains, ...extra },
    Null: { "kms:EncryptionContext:selector": "false" },
  };
}

export function plannerPolicy(scope: RolePolicyScope): PolicyDocument {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  const viaSecretsManager = { "kms:ViaService": secretsManagerService(scope) };
  return {
    Version: "2012-10-17",
    Statement: [
      {
        // CreateSecret carries the value and the tags in the same call; the
        // key is never written again (no PutSecretValue/UpdateSecret). Only
        // under the project key (not aws/secretsmanager, outside the key
        // policy), only the creation tags, state pending, no replicas.
        Sid: "CreateKeysUnderTheProjectKey",
        Effect: "Allow",
        Action: ["secretsmanager:CreateSecret"],
        Resource: secrets,
        Condition: {
          StringEquals: {
            "secretsmanager:KmsKeyArn": scope.kmsKeyArn,
            "aws:RequestTag/dkim:state": "pending",
            [`aws:RequestTag/${TAG_KEY_ORIGIN}`]: PLANNER_KEY_ORIGINS,
          },
          "ForAllValues:StringEquals": { "aws:TagKeys": CREATION_TAG_KEYS },
          Null: { "secretsmanager:AddReplicaRegions": "true" },
        },
      },
      {
        // CreateSecret with tags also needs TagResource (Secrets Manager API
        // reference). Only on a secret that carries no lifecycle tag yet: the
        // one being created. Every secret the planner creates carries
        // dkim:state from then on, so it can never retag an existing one.
        Sid: "TagOnlyAtCreation",
        Effect: "Allow",
        Action: ["secretsmanager:TagResource"],
        Resource: secrets,
        Condition: {
          Null: { [`aws:ResourceTag/${LIFECYCLE_MARKER}`]: "true" },
          StringEquals: {
            "aws:RequestTag/dkim:state": "pending",
            [`aws:RequestTag/${TAG_KEY_ORIGIN}`]: PLANNER_KEY_ORIGINS,
          },
          "ForAllValues:StringEquals": { "aws:TagKeys": CREATION_TAG_KEYS },
        },
      },
      ...(scope.notificationTopicArn
        ? [
            {
              // The notification ledger: after a message is sent, the key it
              // was about records it, so the next run does not send it again.
              // Only that one tag, only on an existing key; ForAllValues is
              // true for an absent key, so Null requires aws:TagKeys.
              Sid: "RecordNotificationsSent",
              Effect: "Allow" as const,
              Action: ["secretsmanager:TagResource"],
              Resource: secrets,
              Condition: {
                Null: { [`aws:ResourceTag/${LIFECYCLE_MARKER}`]: "false", "aws:TagKeys": "false" },
                "ForAllValues:StringEquals": { "aws:TagKeys": [TAG_NOTIFIED] },
              },
            },
          ]
        : []),
      ...readKeyMetadata(secrets),
      {
        // A pending key tagged kms must hold a KMS-wrapped value bound to its
        // name (docs/design.md#key-origins): the planner reads those values,
        // ciphertext it can never decrypt, and no other (the tag is set at
        // creation, and nobody but an admin can change it later).
        Sid: "ReadWrappedKeyValues",
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue"],
        Resource: secrets,
        Condition: { StringEquals: { [`aws:ResourceTag/${TAG_KEY_ORIGIN}`]: "kms" } },
      },
      {
        // Secrets Manager's envelope of those values (GetSecretValue).
        Sid: "DecryptWrappedValuesThroughSecretsManager",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: scope.kmsKeyArn,
        Condition: {
          StringEquals: viaSecretsManager,
          StringLike: { "kms:EncryptionContext:SecretARN": secrets },
        },
      },
      {
        // KMS makes the key pair and returns the private key encrypted, bound
        // to {domain, selector} of a configured domain, RSA-2048 only.
        Sid: "GenerateWrappedKeyPairs",
        Effect: "Allow",
        Action: ["kms:GenerateDataKeyPairWithoutPlaintext"],
        Resource: scope.kmsKeyArn,
        Condition: wrappedKeyContext(scope.domains, { "kms:DataKeyPairSpec": "RSA_2048" }),
      },
      {
        // The key's ARN for CreateSecret's KmsKeyArn condition, and a check
        // that it is an enabled symmetric key.
        Sid: "DescribeProjectKey",
        Effect: "Allow",
        Action: ["kms:DescribeKey"],
        Resource: scope.kmsKeyArn,
      },
      {
        // Secrets Manager's envelope for the (already wrapped) secret value.
        Sid: "EncryptNewKeysThroughSecretsManager",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey"],
        Resource: scope.kmsKeyArn,
        Condition: {
          StringEquals: viaSecretsManager,
          StringLike: { "kms:EncryptionContext:SecretARN": secrets },
        },
      },
      {
        // CreateSecret with a customer managed key makes Secrets Manager call
        // GenerateDataKey and Decrypt once to validate the caller's access,
        // with SecretVersionId = RequestToValidateKeyAccess. Allowing Decrypt
        // only for that context means no real secret version, and no wrapped
        // DKIM key, can ever be decrypted on the planner's behalf.
        Sid: "ValidateKeyAccessOnCreate",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: scope.kmsKeyArn,
        Condition: {
          StringEquals: {
            ...viaSecretsManager,
            "kms:EncryptionContext:SecretVersionId": KEY_ACCESS_VALIDATION_VERSION,
          },
        },
      },
      {
        Sid: "ReadIdentityState",
        Effect: "Allow",
        Action: ["ses:GetEmailIdentity"],
        Resource: scope.identityArns,
      },
      {
        // PutMetricData has no resource type; the namespace condition keeps
        // the planner from writing into anyone else's metrics.
        Sid: "PublishRotationMetrics",
        Effect: "Allow",
        Action: ["cloudwatch:PutMetricData"],
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": scope.metricsNamespace } },
      },
      ...publishNotifications(scope),
      ...sharedDenies(scope),
      ...plannerReadsNoCanary(scope),
      {
        // Negated operators match when the key is absent: a secret without
        // dkim:key-origin=kms (adopted, 1024-bit, untagged) is never read.
        Sid: "PlannerReadsOnlyWrappedKeys",
        Effect: "Deny",
        Action: ["secretsmanager:GetSecretValue"],
        Resource: secrets,
        Condition: { StringNotEquals: { [`aws:ResourceTag/${TAG_KEY_ORIGIN}`]: "kms" } },
      },
      {
        Sid: "PlannerNeverDeletesKeys",
        Effect: "Deny",
        Action: ["secretsmanager:DeleteSecret"],
        Resource: secrets,
      },
      {
        // An adopted key may be plaintext; only an operator's own credentials
        // (npm run dkim -- adopt) may declare one. Absent is refused too.
        Sid: "PlannerNeverCreatesAdoptedKeys",
        Effect: "Deny",
        Action: ["secretsmanager:CreateSecret"],
        Resource: "*",
        Condition: {
          StringNotEquals: { [`aws:RequestTag/${TAG_KEY_ORIGIN}`]: PLANNER_KEY_ORIGINS },
        },
      },
      {
        // The planner runs on every push and on schedules: it changes no DNS
        // record; publication is the publisher role's, removal the
        // activator's (docs/design.md#publishers).
        Sid: "PlannerNeverPublishes",
        Effect: "Deny",
        Action: ["route53:ChangeResourceRecordSets"],
        Resource: "*",
      },
      {
        // No secret outside the DKIM prefix (no TSIG key); inside it,
        // PlannerReadsOnlyWrappedKeys leaves only KMS-wrapped values
        // (docs/design.md#key-origins).
        Sid: "PlannerReadsNoOtherSecret",
        Effect: "Deny",
        Action: ["secretsmanager:GetSecretValue"],
        NotResource: secrets,
      },
      {
        // Negated operators match when the key is absent: no KmsKeyId (the
        // account's aws/secretsmanager key) is refused too.
        Sid: "PlannerCreatesOnlyUnderTheProjectKey",
        Effect: "Deny",
        Action: ["secretsmanager:CreateSecret"],
        Resource: "*",
        Condition: { StringNotEquals: { "secretsmanager:KmsKeyArn": scope.kmsKeyArn } },
      },
      {
        Sid: "PlannerCreatesOnlyPendingKeys",
        Effect: "Deny",
        Action: ["secretsmanager:CreateSecret"],
        Resource: "*",
        Condition: { StringNotEquals: { "aws:RequestTag/dkim:state": "pending" } },
      },
      scope.notificationTopicArn
        ? {
            // Lifecycle tags steer retirement: only the activator writes
            // them. On an existing key the planner may write the ledger
            // and nothing else: ForAnyValue matches as soon as one key is
            // outside the set (it is false when aws:TagKeys is absent, which
            // NoTaggingWithoutTagKeys refuses).
            Sid: "PlannerRetagsExistingKeysOnlyWithTheLedger",
            Effect: "Deny",
            Action: ["secretsmanager:TagResource"],
            Resource: secrets,
            Condition: {
              Null: { [`aws:ResourceTag/${LIFECYCLE_MARKER}`]: "false" },
              "ForAnyValue:StringNotEquals": { "aws:TagKeys": [TAG_NOTIFIED] },
            },
          }
        : {
            // Lifecycle tags steer retirement: only the activator writes them.
            Sid: "PlannerNeverRetagsExistingKeys",
            Effect: "Deny",
            Action: ["secretsmanager:TagResource"],
            Resource: secrets,
            Condition: { Null: { [`aws:ResourceTag/${LIFECYCLE_MARKER}`]: "false" } },
          },
      {
        // Negated operators match when the key is absent: any Decrypt but
        // Secrets Manager's validation probe is refused. The keys of one
        // operator must all match, so each further context is an exception
        // bound to an exact encryption context, which no wrapped DKIM key
        // ({domain, selector}) and no key secret's version can carry: SNS's
        // data keys for the notification topic (publishing to an encrypted
        // topic needs Decrypt: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
        Sid: "PlannerDecryptsNothing",
        Effect: "Deny",
        Action: ["kms:Decrypt"],
        Resource: "*",
        Condition: {
          StringNotEquals: {
            "kms:EncryptionContext:SecretVersionId": KEY_ACCESS_VALIDATION_VERSION,
            ...(scope.notificationTopicArn
              ? { "kms:EncryptionContext:aws:sns:topicArn": scope.notificationTopicArn }
              : {}),
          },
          // The DKIM secrets' envelopes: Secrets Manager decrypts them only
          // for GetSecretValue, which PlannerReadsOnlyWrappedKeys limits.
          StringNotLike: { "kms:EncryptionContext:SecretARN": [secrets] },
        },
      },
    ],
  };
}

export function activatorPolicy(scope: RolePolicyScope): PolicyDocument {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  const activatorTags = existingKeyTags(scope, LIFECYCLE_TAG_KEYS);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        // Read the new key (and, for a rollback, the previous one).
        Sid: "ReadKeys",
        Effect: "Allow",
        Action: ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
        Resource: secrets,
      },
      {
        // The only writer of lifecycle state, only on secrets the pipeline
        // created (they carry dkim:state), only the lifecycle tags (and the
        // notification ledger when notifications are configured).
        // ForAllValues is true for an absent key, so Null requires aws:TagKeys.
        Sid: "WriteLifecycleTags",
        Effect: "Allow",
        Action: ["secretsmanager:TagResource"],
        Resource: secrets,
        Condition: {
          Null: { [`aws:ResourceTag/${LIFECYCLE_MARKER}`]: "false", "aws:TagKeys": "false" },
          "ForAllValues:StringEquals": { "aws:TagKeys": activatorTags },
        },
      },
      {
        Sid: "ListKeys",
        Effect: "Allow",
        Action: ["secretsmanager:ListSecrets"],
        Resource: "*",
      },
      {
        // A retired key is deleted only with a recovery window
        // (docs/design.md#secrets-manager-recovery-window). The condition key
        // is absent when the caller omits
        // RecoveryWindowInDays, so the pipeline must always pass it.
        Sid: "ScheduleRetiredKeyDeletion",
        Effect: "Allow",
        Action: ["secretsmanager:DeleteSecret"],
        Resource: secrets,
        Condition: {
          NumericGreaterThanEquals: {
            "secretsmanager:RecoveryWindowInDays": MIN_RECOVERY_WINDOW_DAYS,
          },
        },
      },
      {
        // GetSecretValue: Secrets Manager's own envelope, for DKIM secrets only.
        Sid: "DecryptSecretsThroughSecretsManager",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: scope.kmsKeyArn,
        Condition: {
          StringEquals: { "kms:ViaService": secretsManagerService(scope) },
          StringLike: { "kms:EncryptionContext:SecretARN": secrets },
        },
      },
      {
        // The wrapped private key: only with its {domain, selector} context,
        // only for a configured domain. A blob moved to another name fails.
        Sid: "DecryptWrappedKeys",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: scope.kmsKeyArn,
        Condition: wrappedKeyContext(scope.domains),
      },
      {
        Sid: "SwapSigningKey",
        Effect: "Allow",
        Action: ["ses:GetEmailIdentity", "ses:PutEmailIdentityDkimSigningAttributes"],
        Resource: scope.identityArns,
      },
      ...publishNotifications(scope),
      ...canaryMail(scope),
      // The gated retire job takes a retired selector's record out of DNS
      // (never the active one: engine/retire.ts, and a reviewer approves it).
      ...route53DkimChanges(scope, "DELETE"),
      ...readTsigSecrets(scope),
      ...sharedDenies(scope),
      {
        // ForAnyValue: one key outside the set is enough to refuse the call.
        Sid: "ActivatorWritesOnlyLifecycleTags",
        Effect: "Deny",
        Action: ["secretsmanager:TagResource"],
        Resource: "*",
        Condition: { "ForAnyValue:StringNotEquals": { "aws:TagKeys": activatorTags } },
      },
      {
        Sid: "ActivatorNeverCreatesKeys",
        Effect: "Deny",
        Action: ["secretsmanager:CreateSecret", "kms:GenerateDataKeyPairWithoutPlaintext"],
        Resource: "*",
      },
    ],
  };
}

/**
 * The publisher role: the post-merge `publish` job, in its own environment
 * entered from the default branch only, never on a schedule. It reads what
 * the verify job reads (SES status, key metadata: the public halves) and adds
 * a merged record to DNS: Route 53 CREATE only (AWS refuses a CREATE over an
 * existing record set, so the active selector's record cannot be
 * overwritten), or an RFC 2136 update signed with the TSIG key it alone
 * reads among the scheduled jobs. It never reads, writes or tags a DKIM key,
 * never deletes a record and sends no message (docs/design.md#publishers).
 */
export function publisherPolicy(scope: RolePolicyScope): PolicyDocument {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  const tsigSecrets = scope.tsigSecretArns ?? [];
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadIdentityState",
        Effect: "Allow",
        Action: ["ses:GetEmailIdentity"],
        Resource: scope.identityArns,
      },
      ...readKeyMetadata(secrets),
      ...readTsigSecrets(scope),
      ...route53DkimChanges(scope, "CREATE"),
      ...sharedDenies(scope),
      {
        Sid: "PublisherNeverTouchesKeys",
        Effect: "Deny",
        Action: [
          "secretsmanager:GetSecretValue",
          "secretsmanager:CreateSecret",
          "secretsmanager:DeleteSecret",
          "secretsmanager:TagResource",
        ],
        Resource: secrets,
      },
      {
        Sid: "PublisherNeverUsesTheProjectKey",
        Effect: "Deny",
        Action: ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyPairWithoutPlaintext"],
        Resource: scope.kmsKeyArn,
      },
      {
        // The notices come from the planner and the activator only (the
        // topic policy says so too): a publish job has nothing to announce.
        Sid: "PublisherSendsNoMessages",
        Effect: "Deny",
        Action: ["sns:Publish"],
        Resource: "*",
      },
      ...(tsigSecrets.length
        ? []
        : [
            {
              // Without rfc2136 identities there is no secret to read.
              Sid: "PublisherReadsNoSecretValue",
              Effect: "Deny" as const,
              Action: ["secretsmanager:GetSecretValue"],
              Resource: "*",
            },
          ]),
    ],
  };
}

/** Where SES's rua rule stores reports (`dmarcReports.bucket` and `.prefix`). */
export interface ReportsScope extends RolePolicyScope {
  reportsBucket: string;
  reportsPrefix: string;
  /** The receiving bucket's SSE-KMS key: reading a report and writing a mark need it, through S3 only. */
  receivingKey?: { arn: string; region: string };
}

/**
 * The reports role (the scheduled `reports` job; docs/design.md#dmarc-aggregate-reports):
 * it lists and reads the report prefix only, writes only the processed marks
 * under it, publishes the report metrics, and may write only the
 * `dkim:report-seen` and `dkim:notified` tags on a key. It never reads a key
 * value or uses the project's KMS key. The planner's and activator's
 * policies grant nothing in S3, so neither reads a report.
 */
export function reportsPolicy(scope: ReportsScope): PolicyDocument {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  const bucket = `arn:${scope.partition}:s3:::${scope.reportsBucket}`;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ListReportPrefixOnly",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: bucket,
        Condition: { StringLike: { "s3:prefix": [`${scope.reportsPrefix}*`] } },
      },
      {
        Sid: "ReadReports",
        Effect: "Allow",
        Action: ["s3:GetObject"],
        Resource: `${bucket}/${scope.reportsPrefix}*`,
      },
      {
        Sid: "MarkReportsProcessed",
        Effect: "Allow",
        Action: ["s3:PutObject"],
        Resource: `${bucket}/${scope.reportsPrefix}processed/*`,
      },
      ...(scope.receivingKey
        ? [
            {
              Sid: "ReportsKeyThroughS3Only",
              Effect: "Allow" as const,
              Action: ["kms:Decrypt", "kms:GenerateDataKey"],
              Resource: scope.receivingKey.arn,
              Condition: {
                StringEquals: { "kms:ViaService": `s3.${scope.receivingKey.region}.amazonaws.com` },
              },
            },
          ]
        : []),
      {
        Sid: "PublishReportMetrics",
        Effect: "Allow",
        Action: ["cloudwatch:PutMetricData"],
        Resource: "*",
        Condition: { StringEquals: { "cloudwatch:namespace": scope.metricsNamespace } },
      },
      {
        Sid: "ListKeys",
        Effect: "Allow",
        Action: ["secretsmanager:ListSecrets"],
        Resource: "*",
      },
      {
        Sid: "DescribeKeys",
        Effect: "Allow",
        Action: ["secretsmanager:DescribeSecret"],
        Resource: secrets,
      },
      {
        Sid: "TagReportSightingsOnly",
        Effect: "Allow",
        Action: ["secretsmanager:TagResource"],
        Resource: secrets,
        Condition: {
          "ForAllValues:StringEquals": { "aws:TagKeys": existingKeyTags(scope, [TAG_REPORT_SEEN]) },
        },
      },
      ...(scope.notificationTopicArn
        ? [
            {
              Sid: "SendReportAlarms",
              Effect: "Allow" as const,
              Action: ["sns:Publish"],
              Resource: scope.notificationTopicArn,
            },
          ]
        : []),
      {
        Sid: "ReportsNeverTouchKeyValues",
        Effect: "Deny",
        Action: [
          "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue",
          "secretsmanager:CreateSecret",
          "secretsmanager:DeleteSecret",
          "secretsmanager:UntagResource",
        ],
        Resource: "*",
      },
      {
        Sid: "ReportsNeverUseTheProjectKey",
        Effect: "Deny",
        Action: ["kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyPairWithoutPlaintext"],
        Resource: scope.kmsKeyArn,
      },
    ],
  };
}

export interface KeyPolicyScope extends AccountScope {
  plannerRoleArn: string;
  activatorRoleArn: string;
  /** The configured domains (the `domain` a wrapped key may be bound to). */
  domains: string[];
}

/**
 * The key policy. The account (root) may administer the key but not use it
 * for cryptography, so no IAM policy can grant another principal access to
 * the stored keys. Only the two roles can: through Secrets Manager in the
 * home Region (`kms:ViaService`) for the secrets' envelope; directly, with
 * the `{domain, selector}` context, for the wrapped DKIM keys (the planner
 * may only make them, the activator only decrypt them). An explicit deny
 * stops any other principal decrypting a wrapped key, whatever IAM says.
 */
export function keyPolicy(scope: KeyPolicyScope): PolicyDocument {
  const root = `arn:${scope.partition}:iam::${scope.accountId}:root`;
  const via = {
    "kms:ViaService": secretsManagerService(scope),
    "kms:CallerAccount": scope.accountId,
  };
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AccountAdministersTheKey",
        Effect: "Allow",
        Principal: { AWS: root },
        Action: [
          "kms:Describe*",
          "kms:Get*",
          "kms:List*",
          "kms:Put*",
          "kms:Update*",
          "kms:Enable*",
          "kms:Disable*",
          "kms:Revoke*",
          "kms:Delete*",
          "kms:CreateAlias",
          "kms:TagResource",
          "kms:UntagResource",
          "kms:ScheduleKeyDeletion",
          "kms:CancelKeyDeletion",
          "kms:RotateKeyOnDemand",
        ],
        Resource: "*",
      },
      {
        Sid: "PlannerEncryptsThroughSecretsManager",
        Effect: "Allow",
        Principal: { AWS: scope.plannerRoleArn },
        Action: ["kms:GenerateDataKey"],
        Resource: "*",
        Condition: { StringEquals: via },
      },
      {
        Sid: "PlannerValidatesKeyAccessOnCreate",
        Effect: "Allow",
        Principal: { AWS: scope.plannerRoleArn },
        Action: ["kms:Decrypt"],
        Resource: "*",
        Condition: {
          StringEquals: {
            ...via,
            "kms:EncryptionContext:SecretVersionId": KEY_ACCESS_VALIDATION_VERSION,
          },
        },
      },
      {
        // The envelope of a KMS-wrapped value the planner reads (its IAM
        // limits this to DKIM secrets tagged dkim:key-origin=kms).
        Sid: "PlannerReadsWrappedValuesThroughSecretsManager",
        Effect: "Allow",
        Principal: { AWS: scope.plannerRoleArn },
        Action: ["kms:Decrypt"],
        Resource: "*",
        Condition: { StringEquals: via },
      },
      {
        Sid: "ActivatorDecryptsThroughSecretsManager",
        Effect: "Allow",
        Principal: { AWS: scope.activatorRoleArn },
        Action: ["kms:Decrypt"],
        Resource: "*",
        Condition: { StringEquals: via },
      },
      {
        Sid: "PlannerMakesWrappedKeyPairs",
        Effect: "Allow",
        Principal: { AWS: scope.plannerRoleArn },
        Action: ["kms:GenerateDataKeyPairWithoutPlaintext"],
        Resource: "*",
        Condition: wrappedKeyContext(scope.domains, {
          "kms:DataKeyPairSpec": "RSA_2048",
          "kms:CallerAccount": scope.accountId,
        }),
      },
      {
        Sid: "PlannerDescribesTheKey",
        Effect: "Allow",
        Principal: { AWS: scope.plannerRoleArn },
        Action: ["kms:DescribeKey"],
        Resource: "*",
      },
      {
        Sid: "ActivatorDecryptsWrappedKeys",
        Effect: "Allow",
        Principal: { AWS: scope.activatorRoleArn },
        Action: ["kms:Decrypt"],
        Resource: "*",
        Condition: wrappedKeyContext(scope.domains, { "kms:CallerAccount": scope.accountId }),
      },
      {
        // Whatever IAM grants: a wrapped DKIM key (it has a `domain` context)
        // decrypts for the activator role only.
        Sid: "OnlyTheActivatorDecryptsWrappedKeys",
        Effect: "Deny",
        Principal: { AWS: "*" },
        Action: ["kms:Decrypt"],
        Resource: "*",
        Condition: {
          Null: { "kms:EncryptionContext:domain": "false" },
          ArnNotEquals: { "aws:PrincipalArn": scope.activatorRoleArn },
        },
      },
    ],
  };
}

/** Who reads which notification: the `audience` message attribute's values. */
export const NOTIFICATION_AUDIENCES = {
  dnsTeam: "dns-team",
  escalation: "escalation",
  approvers: "approvers",
} as const;

/**
 * A subscription's filter on the `audience` attribute. The pipeline sends it
 * as String.Array; a subscription accepts the message when any element
 * matches one of the policy's values (Amazon SNS developer guide,
 * "Subscription filter policies":
 * https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html).
 */
export function audienceFilterPolicy(audience: string): string {
  return JSON.stringify({ audience: [audience] });
}

export interface TopicPolicyScope {
  topicArn: string;
  /** The roles that may publish (the planner and the activator). */
  publisherRoleArns: string[];
}

/**
 * The notification topic's access policy. In the same account an IAM allow
 * is enough to publish whatever the topic policy says, so only an explicit
 * deny on `aws:PrincipalArn` makes the two roles the only publishers; and
 * only over TLS.
 */
export function notificationTopicPolicy(scope: TopicPolicyScope): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "PipelineRolesPublish",
        Effect: "Allow",
        Principal: { AWS: scope.publisherRoleArns },
        Action: ["sns:Publish"],
        Resource: scope.topicArn,
      },
      {
        Sid: "NobodyElsePublishes",
        Effect: "Deny",
        Principal: { AWS: "*" },
        Action: ["sns:Publish"],
        Resource: scope.topicArn,
        Condition: { ArnNotEquals: { "aws:PrincipalArn": scope.publisherRoleArns } },
      },
      {
        Sid: "PublishOverTlsOnly",
        Effect: "Deny",
        Principal: { AWS: "*" },
        Action: ["sns:Publish"],
        Resource: scope.topicArn,
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}
