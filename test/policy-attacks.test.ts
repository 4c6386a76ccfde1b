/**
 * The produced IAM and key policies, evaluated by an IAM policy simulator
 * (@cloud-copilot/iam-simulate, which validates actions, resource types and
 * condition keys against AWS's service authorization data) for the attack
 * paths of issue 12: a hostile plan job reading, replicating or retagging a
 * key, or decrypting a blob; the activator exceeding its job; any other
 * principal of the account decrypting a wrapped key.
 *
 * Each path is evaluated twice for the roles: with the role's own policy, and
 * with `secretsmanager:*` and `kms:*` attached beside it (a broader policy
 * someone adds later); the explicit denies must hold in both.
 */
import { expect } from "chai";
import { runSimulation, runUnsafeSimulation, type Simulation } from "@cloud-copilot/iam-simulate";
import {
  activatorPolicy,
  identityArn,
  keyPolicy,
  namedSecretArn,
  notificationTopicPolicy,
  plannerPolicy,
  reportsPolicy,
  type PolicyDocument,
  type RolePolicyScope,
} from "../infra/components/policies";

const ACCOUNT = "123456789012";
const REGION = "ap-northeast-1";
const DOMAIN = "example.jp";
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const PLANNER = `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-planner`;
const ACTIVATOR = `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-activator`;
const ADMIN = `arn:aws:iam::${ACCOUNT}:role/Admin`;
const SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:dkim/${DOMAIN}/mail-20270101-AbCdEf`;
const VIA = `secretsmanager.${REGION}.amazonaws.com`;
const AWS_MANAGED_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/aws-secretsmanager-managed-0000`;
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:ses-dkim-rotation-notifications`;
const TSIG_NAME = `ses-dkim-rotation/tsig/${DOMAIN}`;
const TSIG_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${TSIG_NAME}-XyZ123`;
const ZONE_ID = "Z0123456789ABCDEFGHIJ";
const ZONE = `arn:aws:route53:::hostedzone/${ZONE_ID}`;
const DKIM_NAME = `mail-20270101._domainkey.${DOMAIN}`;
const CANARY_BUCKET = "dkim-proof-example";
const CANARY_OBJECT = `arn:aws:s3:::${CANARY_BUCKET}/canary/0a1b2c3d4e5f`;
const IDENTITY = `arn:aws:ses:${REGION}:${ACCOUNT}:identity/${DOMAIN}`;

const scope: RolePolicyScope = {
  partition: "aws",
  dnsSuffix: "amazonaws.com",
  accountId: ACCOUNT,
  homeRegion: REGION,
  secretPrefix: "dkim",
  kmsKeyArn: KEY_ARN,
  domains: [DOMAIN],
  identityArns: [
    identityArn(
      { partition: "aws", dnsSuffix: "", accountId: ACCOUNT, homeRegion: REGION },
      REGION,
      DOMAIN,
    ),
  ],
  metricsNamespace: "SesDkimRotation",
  // Every optional grant at once: notifications, an rfc2136 and a route53 publisher.
  notificationTopicArn: TOPIC,
  tsigSecretArns: [
    namedSecretArn(
      { partition: "aws", dnsSuffix: "", accountId: ACCOUNT, homeRegion: REGION },
      TSIG_NAME,
    ),
  ],
  route53Zones: [{ hostedZoneId: ZONE_ID, domains: [DOMAIN] }],
  canary: {
    bucket: CANARY_BUCKET,
    prefix: "canary/",
    kmsKeyArn: `arn:aws:kms:us-east-1:${ACCOUNT}:key/00000000-0000-4000-8000-000000000001`,
    localPart: "dkim-canary",
    region: "us-east-1",
  },
};
const KEY_POLICY = keyPolicy({
  ...scope,
  plannerRoleArn: PLANNER,
  activatorRoleArn: ACTIVATOR,
});
const TOPIC_POLICY = notificationTopicPolicy({
  topicArn: TOPIC,
  publisherRoleArns: [PLANNER, ACTIVATOR],
});
const BROAD: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [
    {
      Sid: "AttachedLater",
      Effect: "Allow",
      Action: ["secretsmanager:*", "kms:*"],
      Resource: "*",
    },
  ],
};
/** The admin role: the broad policy, and it may publish to any topic (the topic policy must refuse it). */
const ADMIN_POLICY: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [
    ...BROAD.Statement,
    { Sid: "AdminPublishes", Effect: "Allow", Action: ["sns:Publish"], Resource: "*" },
  ],
};
const CREATION_TAGS = {
  "aws:TagKeys": [
    "dkim:domain",
    "dkim:selector",
    "dkim:key-bits",
    "dkim:fingerprint",
    "dkim:created-at",
    "dkim:state",
    "dkim:key-origin",
  ],
  "aws:RequestTag/dkim:state": "pending",
  "aws:RequestTag/dkim:domain": DOMAIN,
  "aws:RequestTag/dkim:key-origin": "kms",
};
const WRAPPED = {
  "kms:EncryptionContext:domain": DOMAIN,
  "kms:EncryptionContext:selector": "mail-20270101",
  "kms:EncryptionContextKeys": ["domain", "selector"],
};
const EXISTING = {
  "aws:ResourceTag/dkim:state": "pending",
};
/** One ChangeResourceRecordSets batch, as Route 53 fills its condition keys. */
const change = (names: string[], types = ["TXT"], actions = ["UPSERT"]) => ({
  "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
  "route53:ChangeResourceRecordSetsRecordTypes": types,
  "route53:ChangeResourceRecordSetsActions": actions,
});

type Who = "planner" | "activator" | "admin" | "reports";
const REPORTS = `arn:aws:iam::${ACCOUNT}:role/ses-dkim-rotation-prod-reports`;
const REPORTS_BUCKET = "dkim-receiving-example";
/** A report SES stored under the rua rule's prefix, and the canary's prefix beside it. */
const REPORT_OBJECT = `arn:aws:s3:::${REPORTS_BUCKET}/dmarc/0o1b2c3d4e5f`;
const REPORTS_CANARY_OBJECT = `arn:aws:s3:::${REPORTS_BUCKET}/canary/0o1b2c3d4e5f`;
const ROLE: Record<Who, string> = {
  planner: PLANNER,
  activator: ACTIVATOR,
  admin: ADMIN,
  reports: REPORTS,
};
const POLICY: Record<Who, PolicyDocument> = {
  planner: plannerPolicy(scope),
  activator: activatorPolicy(scope),
  admin: ADMIN_POLICY,
  reports: reportsPolicy({ ...scope, reportsBucket: REPORTS_BUCKET, reportsPrefix: "dmarc/" }),
};

interface AttackPath {
  who: Who;
  what: string;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  /** Expected with the role's own policy only. */
  expect: "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";
  /** Expected with `secretsmanager:*` and `kms:*` attached too (default: same as `expect`, Allowed stays Allowed). */
  withBroad?: "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";
}

async function evaluate(path: AttackPath, broad: boolean): Promise<string> {
  const policies = [{ name: "own", policy: POLICY[path.who] }];
  if (broad && path.who !== "admin") policies.push({ name: "broad", policy: BROAD });
  const simulation: Simulation = {
    request: {
      principal: ROLE[path.who],
      action: path.action,
      resource: { resource: path.resource, accountId: ACCOUNT },
      contextVariables: {
        "aws:PrincipalArn": ROLE[path.who],
        "aws:PrincipalAccount": ACCOUNT,
        ...(path.action.startsWith("kms:") ? { "kms:CallerAccount": ACCOUNT } : {}),
        ...(path.context ?? {}),
      },
    },
    identityPolicies: policies,
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    // KMS consults the key policy, SNS the topic policy; the secrets have none
    // (docs/infrastructure.md says why).
    ...(path.action.startsWith("kms:") ? { resourcePolicy: KEY_POLICY } : {}),
    ...(path.action.startsWith("sns:") ? { resourcePolicy: TOPIC_POLICY } : {}),
  };
  // iam-simulate 0.1.173 matches variable condition keys only when they are
  // "/"-separated (aws:ResourceTag/…): it drops kms:EncryptionContext:<key> as
  // unknown, which would evaluate every context condition as absent. Those
  // requests run unvalidated; every other request is validated against AWS's
  // service authorization data (actions, resource types, condition keys).
  if (Object.keys(path.context ?? {}).some((k) => k.startsWith("kms:EncryptionContext:"))) {
    // The unsafe engine loads the resource policy without a name and then
    // reads it; a pre-validated policy (iam-policy's ValidatedPolicy shape)
    // carries one.
    return runUnsafeSimulation(
      {
        ...simulation,
        resourcePolicy: {
          __validated: true,
          policyDocument: KEY_POLICY,
          metadata: { name: "key-policy" },
          errors: [],
        },
      },
      {},
    );
  }
  const result = await runSimulation(simulation, {});
  if (result.resultType === "error")
    throw new Error(`${path.what}: ${JSON.stringify(result.errors)}`);
  if (result.resultType === "single" && result.result.ignoredContextKeys?.length)
    throw new Error(
      `${path.what}: the simulator ignored ${result.result.ignoredContextKeys.join(", ")}`,
    );
  return result.overallResult;
}

const PATHS: AttackPath[] = [
  // DMARC reports (docs/design.md#dmarc-aggregate-reports): only the reports
  // role reads the rua prefix; the planner reads nothing there.
  {
    who: "planner",
    what: "reads a DMARC report SES stored",
    action: "s3:GetObject",
    resource: REPORT_OBJECT,
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "planner",
    what: "lists the DMARC report prefix",
    action: "s3:ListBucket",
    resource: `arn:aws:s3:::${REPORTS_BUCKET}`,
    context: { "s3:prefix": "dmarc/" },
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "reports",
    what: "reads a DMARC report SES stored",
    action: "s3:GetObject",
    resource: REPORT_OBJECT,
    expect: "Allowed",
  },
  {
    who: "reports",
    what: "lists the DMARC report prefix",
    action: "s3:ListBucket",
    resource: `arn:aws:s3:::${REPORTS_BUCKET}`,
    context: { "s3:prefix": "dmarc/" },
    expect: "Allowed",
  },
  {
    who: "reports",
    what: "lists the canary's prefix",
    action: "s3:ListBucket",
    resource: `arn:aws:s3:::${REPORTS_BUCKET}`,
    context: { "s3:prefix": "canary/" },
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "reports",
    what: "reads a canary message",
    action: "s3:GetObject",
    resource: REPORTS_CANARY_OBJECT,
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "reports",
    what: "overwrites a stored report",
    action: "s3:PutObject",
    resource: REPORT_OBJECT,
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "reports",
    what: "marks a report processed",
    action: "s3:PutObject",
    resource: `arn:aws:s3:::${REPORTS_BUCKET}/dmarc/processed/0o1b2c3d4e5f`,
    expect: "Allowed",
  },
  {
    who: "reports",
    what: "tags when reports last saw a selector",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { "aws:TagKeys": ["dkim:report-seen"] },
    expect: "Allowed",
  },
  {
    who: "reports",
    what: "retags a key's state",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { "aws:TagKeys": ["dkim:state"] },
    expect: "ImplicitlyDenied",
  },
  {
    who: "reports",
    what: "reads a private key",
    action: "secretsmanager:GetSecretValue",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  // ---- the canary's mail (docs/design.md#canary) ----
  {
    who: "planner",
    what: "read a canary message",
    action: "s3:GetObject",
    resource: CANARY_OBJECT,
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "list the canary bucket",
    action: "s3:ListBucket",
    resource: `arn:aws:s3:::${CANARY_BUCKET}`,
    context: { "s3:prefix": "canary/" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "read a canary message",
    action: "s3:GetObject",
    resource: CANARY_OBJECT,
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "delete a canary message",
    action: "s3:DeleteObject",
    resource: CANARY_OBJECT,
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "read an object outside the canary prefix",
    action: "s3:GetObject",
    resource: `arn:aws:s3:::${CANARY_BUCKET}/dmarc/report.xml.gz`,
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "activator",
    what: "list beyond the canary prefix",
    action: "s3:ListBucket",
    resource: `arn:aws:s3:::${CANARY_BUCKET}`,
    context: { "s3:prefix": "" },
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "activator",
    what: "send the canary from the identity",
    action: "ses:SendEmail",
    resource: IDENTITY,
    context: { "ses:FromAddress": `dkim-canary@${DOMAIN}` },
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "send as another sender of the identity",
    action: "ses:SendEmail",
    resource: IDENTITY,
    context: { "ses:FromAddress": `ceo@${DOMAIN}` },
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  // ---- the plan job, hostile ----
  {
    who: "planner",
    what: "read a key",
    action: "secretsmanager:GetSecretValue",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "batch-read every key",
    action: "secretsmanager:BatchGetSecretValue",
    resource: "*",
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "replicate a key to another Region",
    action: "secretsmanager:ReplicateSecretToRegions",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "retag an existing key (lifecycle state)",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { ...EXISTING, "aws:TagKeys": ["dkim:state"], "aws:RequestTag/dkim:state": "retired" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "untag an existing key",
    action: "secretsmanager:UntagResource",
    resource: SECRET,
    context: { ...EXISTING, "aws:TagKeys": ["dkim:state"] },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "create a key under aws/secretsmanager",
    action: "secretsmanager:CreateSecret",
    resource: SECRET,
    context: { ...CREATION_TAGS, "secretsmanager:KmsKeyArn": AWS_MANAGED_KEY },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "create a key born 'active'",
    action: "secretsmanager:CreateSecret",
    resource: SECRET,
    context: {
      ...CREATION_TAGS,
      "aws:RequestTag/dkim:state": "active",
      "secretsmanager:KmsKeyArn": KEY_ARN,
    },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "create a key under the project key (its job)",
    action: "secretsmanager:CreateSecret",
    resource: SECRET,
    context: { ...CREATION_TAGS, "secretsmanager:KmsKeyArn": KEY_ARN },
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "tag the key it is creating (its job)",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: CREATION_TAGS,
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "decrypt a wrapped key blob",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: WRAPPED,
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "Secrets Manager opens a DKIM secret's envelope (for the wrapped-value read its IAM allows)",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: {
      "kms:ViaService": VIA,
      "kms:EncryptionContext:SecretARN": SECRET,
      "kms:EncryptionContext:SecretVersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
      "kms:EncryptionContextKeys": ["SecretARN", "SecretVersionId"],
    },
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "decrypt another secret's version through Secrets Manager",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: {
      "kms:ViaService": VIA,
      "kms:EncryptionContext:SecretARN": `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:other/x-AbCdEf`,
      "kms:EncryptionContext:SecretVersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
      "kms:EncryptionContextKeys": ["SecretARN", "SecretVersionId"],
    },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "read a pending key's KMS-wrapped value (dkim:key-origin=kms: ciphertext; the custody check)",
    action: "secretsmanager:GetSecretValue",
    resource: SECRET,
    context: { "aws:ResourceTag/dkim:key-origin": "kms" },
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "read an adopted key (dkim:key-origin=operator: plaintext)",
    action: "secretsmanager:GetSecretValue",
    resource: SECRET,
    context: { "aws:ResourceTag/dkim:key-origin": "operator" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "read a 1024-bit identity's key (dkim:key-origin=local: plaintext)",
    action: "secretsmanager:GetSecretValue",
    resource: SECRET,
    context: { "aws:ResourceTag/dkim:key-origin": "local" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "plant a key that claims to be adopted (dkim:key-origin=operator at CreateSecret)",
    action: "secretsmanager:CreateSecret",
    resource: SECRET,
    context: {
      ...CREATION_TAGS,
      "aws:RequestTag/dkim:key-origin": "operator",
      "secretsmanager:KmsKeyArn": KEY_ARN,
    },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "plant a key with no dkim:key-origin tag",
    action: "secretsmanager:CreateSecret",
    resource: SECRET,
    context: {
      "aws:TagKeys": CREATION_TAGS["aws:TagKeys"].filter((k) => k !== "dkim:key-origin"),
      "aws:RequestTag/dkim:state": "pending",
      "secretsmanager:KmsKeyArn": KEY_ARN,
    },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "tag a key it is creating as adopted (dkim:key-origin=operator)",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { ...CREATION_TAGS, "aws:RequestTag/dkim:key-origin": "operator" },
    expect: "ImplicitlyDenied",
    // With secretsmanager:* attached this TagResource alone is allowed; the
    // CreateSecret it belongs to is still refused (the path above).
    withBroad: "Allowed",
  },
  {
    who: "planner",
    what: "Secrets Manager's key-access probe on CreateSecret (its job)",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: {
      "kms:ViaService": VIA,
      "kms:EncryptionContext:SecretARN": SECRET,
      "kms:EncryptionContext:SecretVersionId": "RequestToValidateKeyAccess",
      "kms:EncryptionContextKeys": ["SecretARN", "SecretVersionId"],
    },
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "make a key pair with plaintext",
    action: "kms:GenerateDataKeyPair",
    resource: KEY_ARN,
    context: { ...WRAPPED, "kms:DataKeyPairSpec": "RSA_2048" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "make a wrapped pair for a domain it does not serve",
    action: "kms:GenerateDataKeyPairWithoutPlaintext",
    resource: KEY_ARN,
    context: {
      ...WRAPPED,
      "kms:EncryptionContext:domain": "evil.example",
      "kms:DataKeyPairSpec": "RSA_2048",
    },
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "planner",
    what: "make a wrapped RSA-2048 pair (its job)",
    action: "kms:GenerateDataKeyPairWithoutPlaintext",
    resource: KEY_ARN,
    context: { ...WRAPPED, "kms:DataKeyPairSpec": "RSA_2048" },
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "delete a key",
    action: "secretsmanager:DeleteSecret",
    resource: SECRET,
    context: { "secretsmanager:RecoveryWindowInDays": "30" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "attach a resource policy to a key",
    action: "secretsmanager:PutResourcePolicy",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  // ---- the plan/verify jobs: notifications and publishers ----
  {
    who: "planner",
    what: "record a sent notification on an existing key (its job)",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { ...EXISTING, "aws:TagKeys": ["dkim:notified"] },
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "record a notification and move the key's state in the same call",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: {
      ...EXISTING,
      "aws:TagKeys": ["dkim:notified", "dkim:state"],
      "aws:RequestTag/dkim:state": "retired",
    },
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "tag an existing key with no tag keys in the request",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: EXISTING,
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "publish to the notification topic (its job)",
    action: "sns:Publish",
    resource: TOPIC,
    expect: "Allowed",
  },
  {
    who: "planner",
    what: "publish to another topic",
    action: "sns:Publish",
    resource: `arn:aws:sns:${REGION}:${ACCOUNT}:someone-elses-topic`,
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  // DNS writes left the planner (docs/design.md#publishers): the publisher
  // and activator paths are in test/attack-publisher.test.ts.
  {
    who: "planner",
    what: "read the configured TSIG secret",
    action: "secretsmanager:GetSecretValue",
    resource: TSIG_SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "decrypt a wrapped key blob under the notification topic's context",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: { ...WRAPPED, "kms:EncryptionContext:aws:sns:topicArn": TOPIC },
    // The key policy's deny: a blob with a domain context is the activator's only.
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "UPSERT the DKIM TXT record",
    action: "route53:ChangeResourceRecordSets",
    resource: ZONE,
    context: change([DKIM_NAME]),
    expect: "ExplicitlyDenied",
  },
  // ---- the activator, beyond its job ----
  {
    who: "activator",
    what: "record a sent notification (its job)",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { ...EXISTING, "aws:TagKeys": ["dkim:notified"] },
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "tag with no tag keys in the request",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: EXISTING,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "publish to the notification topic (its job)",
    action: "sns:Publish",
    resource: TOPIC,
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "UPSERT a DKIM record in Route 53 (it may only DELETE)",
    action: "route53:ChangeResourceRecordSets",
    resource: ZONE,
    context: change([DKIM_NAME]),
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "read the TSIG secret (the gated retire job's rfc2136 delete)",
    action: "secretsmanager:GetSecretValue",
    resource: TSIG_SECRET,
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "decrypt a wrapped key of a configured domain (its job)",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: WRAPPED,
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "decrypt a wrapped key of another domain",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: { ...WRAPPED, "kms:EncryptionContext:domain": "evil.example" },
    expect: "ImplicitlyDenied",
    withBroad: "ImplicitlyDenied",
  },
  {
    who: "activator",
    what: "read a key (its job)",
    action: "secretsmanager:GetSecretValue",
    resource: SECRET,
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "write lifecycle tags (its job)",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { ...EXISTING, "aws:TagKeys": ["dkim:state", "dkim:activated-at"] },
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "rewrite a key's selector tag",
    action: "secretsmanager:TagResource",
    resource: SECRET,
    context: { ...EXISTING, "aws:TagKeys": ["dkim:selector"] },
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "batch-read every key",
    action: "secretsmanager:BatchGetSecretValue",
    resource: "*",
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "replicate a key to another Region",
    action: "secretsmanager:ReplicateSecretToRegions",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "rotate a key",
    action: "secretsmanager:RotateSecret",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "move a version stage",
    action: "secretsmanager:UpdateSecretVersionStage",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "attach a resource policy",
    action: "secretsmanager:PutResourcePolicy",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "delete a resource policy",
    action: "secretsmanager:DeleteResourcePolicy",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "restore a deleted key",
    action: "secretsmanager:RestoreSecret",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "overwrite a key",
    action: "secretsmanager:PutSecretValue",
    resource: SECRET,
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "delete with a 3-day window",
    action: "secretsmanager:DeleteSecret",
    resource: SECRET,
    context: { "secretsmanager:RecoveryWindowInDays": "3" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "force-delete without recovery",
    action: "secretsmanager:DeleteSecret",
    resource: SECRET,
    context: { "secretsmanager:ForceDeleteWithoutRecovery": "true" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "activator",
    what: "delete with a 7-day window (its job)",
    action: "secretsmanager:DeleteSecret",
    resource: SECRET,
    context: { "secretsmanager:RecoveryWindowInDays": "7" },
    expect: "Allowed",
  },
  {
    who: "activator",
    what: "create a key",
    action: "secretsmanager:CreateSecret",
    resource: SECRET,
    context: { ...CREATION_TAGS, "secretsmanager:KmsKeyArn": KEY_ARN },
    expect: "ExplicitlyDenied",
  },
  // ---- anyone else in the account, even with kms:* and secretsmanager:* ----
  {
    who: "admin",
    what: "an admin role decrypts a wrapped key",
    action: "kms:Decrypt",
    resource: KEY_ARN,
    context: WRAPPED,
    expect: "ExplicitlyDenied",
  },
  {
    who: "planner",
    what: "publish to the notification topic without TLS",
    action: "sns:Publish",
    resource: TOPIC,
    context: { "aws:SecureTransport": "false" },
    expect: "ExplicitlyDenied",
  },
  {
    who: "admin",
    what: "an admin role publishes to the notification topic (even with sns:Publish)",
    action: "sns:Publish",
    resource: TOPIC,
    expect: "ExplicitlyDenied",
  },
  {
    who: "admin",
    what: "an admin role reads a secret (ciphertext only)",
    action: "secretsmanager:GetSecretValue",
    resource: SECRET,
    expect: "Allowed",
  },
];

describe("policy attack paths (iam-simulate over the produced policies)", function () {
  this.timeout(60_000);
  const rows: string[] = [];
  after(function () {
    console.log(
      `      policy attack paths evaluated: ${rows.length}\n${rows.map((r) => `        ${r}`).join("\n")}`,
    );
  });

  for (const path of PATHS) {
    it(`${path.who}: ${path.what} → ${path.expect}`, async function () {
      const own = await evaluate(path, false);
      expect(own, "with its own policy").to.equal(path.expect);
      const broadExpected =
        path.withBroad ?? (path.expect === "ImplicitlyDenied" ? "Allowed" : path.expect);
      const broad = path.who === "admin" ? own : await evaluate(path, true);
      expect(broad, "with secretsmanager:* and kms:* attached").to.equal(broadExpected);
      rows.push(`${path.who} | ${path.what} | ${own} | broad: ${broad}`);
    });
  }
});
