/**
 * The IAM and KMS policy documents of the estate, as pure functions of
 * resolved values, so the tests and the docs can read exactly what AWS gets.
 *
 * The split of powers (docs/design.md#invariant-4-key-material-stays-secret, "private key material never leaves
 * AWS"):
 * - the planner (any run on `main`) may create a key's secret, with its value,
 *   in one call, but can never read, overwrite or delete one;
 * - the activator (only a job in the approved environment) may read keys and
 *   hand them to SES for the configured identities, and schedule deletion with
 *   a recovery window, but never write a value.
 */

export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";
export const GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com";

/** Secrets Manager's validation calls carry this encryption context value (AWS Secrets Manager guide, "Secret encryption and decryption"). */
export const KEY_ACCESS_VALIDATION_VERSION = "RequestToValidateKeyAccess";

/** AWS allows 7–30 days; anything shorter would make a deleted key unrecoverable. */
export const MIN_RECOVERY_WINDOW_DAYS = 7;

export type Condition = Record<string, Record<string, string | string[] | number | boolean>>;

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Action: string[];
  Resource?: string | string[];
  Principal?: { AWS?: string | string[]; Federated?: string };
  Condition?: Condition;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** Actions that would read, overwrite or force-delete a stored key. Neither role may ever use them unguarded. */
export const SECRET_VALUE_READS = [
  "secretsmanager:GetSecretValue",
  "secretsmanager:BatchGetSecretValue",
] as const;
export const SECRET_VALUE_WRITES = [
  "secretsmanager:PutSecretValue",
  "secretsmanager:UpdateSecret",
] as const;

export function plannerSubject(owner: string, repo: string): string {
  return `repo:${owner}/${repo}:ref:refs/heads/main`;
}

export function activatorSubject(owner: string, repo: string, environment: string): string {
  return `repo:${owner}/${repo}:environment:${environment}`;
}

/**
 * Trust for a role assumed from GitHub Actions. `StringEquals` (not
 * `StringLike`) on `sub`, so no wildcard can widen it to another branch,
 * environment or repository; `aud` pins the token to STS.
 */
export function githubTrustPolicy(providerArn: string, subject: string): PolicyDocument {
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
            [`${GITHUB_OIDC_HOST}:sub`]: subject,
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
  /** SES identity ARNs, one per identity and Region. */
  identityArns: string[];
  metricsNamespace: string;
}

/** Explicit denies that hold even if someone later attaches a broader policy. */
function immutableKeyDenies(scope: RolePolicyScope, reads: boolean): PolicyStatement[] {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  return [
    {
      Sid: "StoredKeysAreImmutable",
      Effect: "Deny",
      Action: [...SECRET_VALUE_WRITES, ...(reads ? SECRET_VALUE_READS : [])],
      Resource: secrets,
    },
    {
      Sid: "NoDeletionWithoutRecoveryWindow",
      Effect: "Deny",
      Action: ["secretsmanager:DeleteSecret"],
      Resource: secrets,
      Condition: { Bool: { "secretsmanager:ForceDeleteWithoutRecovery": "true" } },
    },
  ];
}

export function plannerPolicy(scope: RolePolicyScope): PolicyDocument {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  const viaSecretsManager = { "kms:ViaService": secretsManagerService(scope) };
  return {
    Version: "2012-10-17",
    Statement: [
      {
        // CreateSecret carries the value and the tags in the same call; the
        // key is never written again (no PutSecretValue/UpdateSecret).
        Sid: "CreateAndDescribeKeys",
        Effect: "Allow",
        Action: [
          "secretsmanager:CreateSecret",
          "secretsmanager:TagResource",
          "secretsmanager:DescribeSecret",
        ],
        Resource: secrets,
      },
      {
        // ListSecrets has no resource type: it only accepts "*".
        Sid: "ListKeys",
        Effect: "Allow",
        Action: ["secretsmanager:ListSecrets"],
        Resource: "*",
      },
      {
        Sid: "EncryptNewKeysThroughSecretsManager",
        Effect: "Allow",
        Action: ["kms:GenerateDataKey"],
        Resource: scope.kmsKeyArn,
        Condition: { StringEquals: viaSecretsManager },
      },
      {
        // CreateSecret with a customer managed key makes Secrets Manager call
        // GenerateDataKey and Decrypt once to validate the caller's access,
        // with SecretVersionId = RequestToValidateKeyAccess. Allowing Decrypt
        // only for that context means no real secret version can ever be
        // decrypted on the planner's behalf.
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
      ...immutableKeyDenies(scope, true),
    ],
  };
}

export function activatorPolicy(scope: RolePolicyScope): PolicyDocument {
  const secrets = secretArnPattern(scope, scope.secretPrefix);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        // Read the new key (and, for a rollback, the previous one) and record
        // the activation/retirement state as tags.
        Sid: "ReadAndMarkKeys",
        Effect: "Allow",
        Action: [
          "secretsmanager:GetSecretValue",
          "secretsmanager:DescribeSecret",
          "secretsmanager:TagResource",
        ],
        Resource: secrets,
      },
      {
        Sid: "ListKeys",
        Effect: "Allow",
        Action: ["secretsmanager:ListSecrets"],
        Resource: "*",
      },
      {
        // A retired key is deleted only with a recovery window
        // (docs/design.md#secrets-manager-recovery-window). The condition key is absent when the caller omits
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
        Sid: "DecryptKeysThroughSecretsManager",
        Effect: "Allow",
        Action: ["kms:Decrypt"],
        Resource: scope.kmsKeyArn,
        Condition: { StringEquals: { "kms:ViaService": secretsManagerService(scope) } },
      },
      {
        Sid: "SwapSigningKey",
        Effect: "Allow",
        Action: ["ses:GetEmailIdentity", "ses:PutEmailIdentityDkimSigningAttributes"],
        Resource: scope.identityArns,
      },
      ...immutableKeyDenies(scope, false),
    ],
  };
}

export interface KeyPolicyScope extends AccountScope {
  plannerRoleArn: string;
  activatorRoleArn: string;
}

/**
 * The key policy. The account (root) may administer the key but not use it
 * for cryptography, so no IAM policy can grant another principal access to
 * the stored keys; only the two roles can, and only through Secrets Manager
 * in the home Region (`kms:ViaService`).
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
        Sid: "ActivatorDecryptsThroughSecretsManager",
        Effect: "Allow",
        Principal: { AWS: scope.activatorRoleArn },
        Action: ["kms:Decrypt"],
        Resource: "*",
        Condition: { StringEquals: via },
      },
    ],
  };
}
