/**
 * Emulated AWS Secrets Manager (JSON 1.1), per Region.
 *
 * Follows the Secrets Manager API reference: names are unique per Region,
 * including secrets scheduled for deletion; deletion needs a recovery window
 * of 7–30 days; a secret marked for deletion refuses reads, writes and tag
 * changes until restored; ListSecrets hides planned deletions unless asked.
 * PutSecretValue and UpdateSecret are implemented faithfully so tests can
 * prove the key store never calls them (immutable keys, docs/design.md#invariant-4-key-material-stays-secret).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { AwsApiError, epochSeconds, isRecord } from "./common";

const DAY = 24 * 60 * 60 * 1000;
const NAME_PATTERN = /^[a-zA-Z0-9/_+=.@-]+$/;

/** Operations that touch a secret's value (what the key-store tests watch). */
export type SecretValueOperation =
  "CreateSecret" | "PutSecretValue" | "UpdateSecret" | "GetSecretValue";

interface Version {
  versionId: string;
  stages: string[];
  secretString?: string;
  secretBinary?: string;
  createdAt: Date;
}

interface Secret {
  region: string;
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: { Key: string; Value: string }[];
  createdAt: Date;
  lastChangedAt: Date;
  lastAccessedAt?: Date;
  deletedAt?: Date;
  deletionDate?: Date;
  versions: Version[];
  /** Every operation that named this secret, in order. */
  operations: { operation: string; at: Date }[];
}

/** What tests read about a secret. `currentValue` is there so tests can prove immutability. */
export interface SecretView {
  region: string;
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: Record<string, string>;
  createdAt: Date;
  deletedAt?: Date;
  deletionDate?: Date;
  versionCount: number;
  currentValue?: string;
  /** Count per operation that named this secret (CreateSecret, GetSecretValue, PutSecretValue, …). */
  operationCounts: Record<string, number>;
  /** Whether anything ever wrote a value after creation. */
  overwritten: boolean;
}

function invalidParameter(message: string): AwsApiError {
  return new AwsApiError("InvalidParameterException", message, 400);
}

function markedForDeletion(): AwsApiError {
  return new AwsApiError(
    "InvalidRequestException",
    "You can't perform this operation on the secret because it was marked for deletion.",
    400,
  );
}

function str(body: Record<string, unknown>, key: string, required: true): string;
function str(body: Record<string, unknown>, key: string, required?: false): string | undefined;
function str(body: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) {
    if (required) throw invalidParameter(`${key} is required.`);
    return undefined;
  }
  if (typeof v !== "string") throw invalidParameter(`${key} must be a string.`);
  return v;
}

function parseTags(tags: unknown): { Key: string; Value: string }[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags)) throw invalidParameter("Tags must be a list.");
  if (tags.length > 50) throw invalidParameter("A secret can have at most 50 tags.");
  return tags.map((t) => {
    if (!isRecord(t) || typeof t.Key !== "string" || t.Key.length < 1 || t.Key.length > 128) {
      throw invalidParameter("Each tag needs a Key of 1–128 characters.");
    }
    if (t.Key.startsWith("aws:"))
      throw invalidParameter("Tag keys starting with 'aws:' are reserved.");
    const value = t.Value ?? "";
    if (typeof value !== "string" || value.length > 256)
      throw invalidParameter("Tag values are at most 256 characters.");
    return { Key: t.Key, Value: value };
  });
}

export interface SecretsBackendOptions {
  accountId: string;
  /** Allow `ForceDeleteWithoutRecovery`. Off by default: this project never wants it. */
  allowForceDelete: boolean;
}

export class SecretsBackend {
  private readonly secrets = new Map<string, Secret>();

  constructor(private readonly options: SecretsBackendOptions) {}

  private key(region: string, name: string): string {
    return `${region}\n${name}`;
  }

  /** SecretId may be the name or the full ARN. */
  private find(region: string, secretId: unknown): Secret {
    if (typeof secretId !== "string" || secretId.length < 1 || secretId.length > 2048) {
      throw invalidParameter("SecretId must be 1–2048 characters.");
    }
    const byName = this.secrets.get(this.key(region, secretId));
    if (byName) return byName;
    for (const s of this.secrets.values()) if (s.region === region && s.arn === secretId) return s;
    throw new AwsApiError(
      "ResourceNotFoundException",
      "Secrets Manager can't find the specified secret.",
      400,
    );
  }

  private record(secret: Secret, operation: string, now: Date): void {
    secret.operations.push({ operation, at: now });
  }

  /** Purge secrets whose recovery window has ended. */
  processDue(now: Date): void {
    for (const [k, s] of this.secrets) {
      if (s.deletionDate && s.deletionDate.getTime() <= now.getTime()) this.secrets.delete(k);
    }
  }

  private addVersion(
    secret: Secret,
    now: Date,
    value: { secretString?: string; secretBinary?: string },
    token?: string,
  ) {
    const versionId = token ?? randomUUID();
    for (const v of secret.versions) {
      if (v.stages.includes("AWSPREVIOUS")) v.stages = v.stages.filter((s) => s !== "AWSPREVIOUS");
    }
    for (const v of secret.versions) {
      if (v.stages.includes("AWSCURRENT"))
        v.stages = [...v.stages.filter((s) => s !== "AWSCURRENT"), "AWSPREVIOUS"];
    }
    secret.versions = secret.versions.filter((v) => v.stages.length > 0);
    secret.versions.push({ versionId, stages: ["AWSCURRENT"], ...value, createdAt: now });
    secret.lastChangedAt = now;
    return versionId;
  }

  private valueOf(
    body: Record<string, unknown>,
  ): { secretString?: string; secretBinary?: string } | undefined {
    const secretString = str(body, "SecretString");
    const secretBinary = str(body, "SecretBinary");
    if (secretString !== undefined && secretBinary !== undefined) {
      throw invalidParameter(
        "You can't specify both a binary secret value and a string secret value in the same secret.",
      );
    }
    if (secretString !== undefined && (secretString.length < 1 || secretString.length > 65536)) {
      throw invalidParameter("SecretString must be 1–65536 characters.");
    }
    if (secretString !== undefined) return { secretString };
    if (secretBinary !== undefined) return { secretBinary };
    return undefined;
  }

  /** The version matching an idempotency token, if a retry resent it with the same value. */
  private sameVersion(
    secret: Secret,
    token: string | undefined,
    value: { secretString?: string; secretBinary?: string } | undefined,
  ) {
    if (!token) return undefined;
    const v = secret.versions.find((x) => x.versionId === token);
    if (!v) return undefined;
    if (v.secretString !== value?.secretString || v.secretBinary !== value?.secretBinary) {
      throw new AwsApiError(
        "ResourceExistsException",
        "A resource with the ID you requested already exists.",
        400,
      );
    }
    return v;
  }

  createSecret(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const name = str(body, "Name", true);
    if (name.length < 1 || name.length > 512 || !NAME_PATTERN.test(name)) {
      throw invalidParameter(
        "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
      );
    }
    const description = str(body, "Description");
    if (description !== undefined && description.length > 2048)
      throw invalidParameter("Description is at most 2048 characters.");
    const kmsKeyId = str(body, "KmsKeyId");
    const token = str(body, "ClientRequestToken");
    const value = this.valueOf(body);
    const tags = parseTags(body.Tags);
    const existing = this.secrets.get(this.key(region, name));
    if (existing) {
      if (existing.deletedAt) {
        throw new AwsApiError(
          "InvalidRequestException",
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
          400,
        );
      }
      // A retry of the same request (same idempotency token and value) is answered, not refused.
      const same = this.sameVersion(existing, token, value);
      if (same) return { ARN: existing.arn, Name: existing.name, VersionId: same.versionId };
      throw new AwsApiError(
        "ResourceExistsException",
        `The operation failed because the secret ${name} already exists.`,
        400,
      );
    }
    const suffix = [...randomBytes(6)]
      .map((b) => "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[b % 62])
      .join("");
    const secret: Secret = {
      region,
      arn: `arn:aws:secretsmanager:${region}:${this.options.accountId}:secret:${name}-${suffix}`,
      name,
      ...(description !== undefined ? { description } : {}),
      ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
      tags,
      createdAt: now,
      lastChangedAt: now,
      versions: [],
      operations: [],
    };
    this.record(secret, "CreateSecret", now);
    const versionId = value ? this.addVersion(secret, now, value, token) : undefined;
    this.secrets.set(this.key(region, name), secret);
    return { ARN: secret.arn, Name: secret.name, ...(versionId ? { VersionId: versionId } : {}) };
  }

  private describe(secret: Secret, list: boolean): Record<string, unknown> {
    const stages: Record<string, string[]> = {};
    for (const v of secret.versions) stages[v.versionId] = [...v.stages];
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      ...(secret.kmsKeyId !== undefined ? { KmsKeyId: secret.kmsKeyId } : {}),
      LastChangedDate: epochSeconds(secret.lastChangedAt),
      ...(secret.lastAccessedAt ? { LastAccessedDate: epochSeconds(secret.lastAccessedAt) } : {}),
      // DeletedDate is when DeleteSecret was called; the purge happens a recovery window later.
      ...(secret.deletedAt ? { DeletedDate: epochSeconds(secret.deletedAt) } : {}),
      Tags: secret.tags.map((t) => ({ ...t })),
      [list ? "SecretVersionsToStages" : "VersionIdsToStages"]: stages,
      CreatedDate: epochSeconds(secret.createdAt),
    };
  }

  describeSecret(
    region: string,
    now: Date,
    body: Record<string, unknown>,
  ): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "DescribeSecret", now);
    return this.describe(secret, false);
  }

  listSecrets(region: string, _now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const includeDeleted = body.IncludePlannedDeletion === true;
    const maxResults = body.MaxResults ?? 100;
    if (
      typeof maxResults !== "number" ||
      !Number.isInteger(maxResults) ||
      maxResults < 1 ||
      maxResults > 100
    ) {
      throw invalidParameter("MaxResults must be between 1 and 100.");
    }
    const filters = Array.isArray(body.Filters) ? body.Filters : [];
    if (filters.length > 10) throw invalidParameter("At most 10 filters are allowed.");
    const sortOrder = body.SortOrder === "asc" ? "asc" : "desc";
    let matches = [...this.secrets.values()]
      .filter((s) => s.region === region && (includeDeleted || !s.deletedAt))
      .filter((s) => filters.every((f) => matchesFilter(s, f)))
      .sort(
        (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.name.localeCompare(b.name),
      );
    if (sortOrder === "desc") matches = matches.reverse();
    let offset = 0;
    if (body.NextToken !== undefined) {
      const decoded =
        typeof body.NextToken === "string"
          ? Number(Buffer.from(body.NextToken, "base64").toString("utf8"))
          : NaN;
      if (!Number.isInteger(decoded) || decoded < 0) {
        throw new AwsApiError("InvalidNextTokenException", "The NextToken value is invalid.", 400);
      }
      offset = decoded;
    }
    const page = matches.slice(offset, offset + maxResults);
    const next =
      offset + maxResults < matches.length
        ? Buffer.from(String(offset + maxResults)).toString("base64")
        : undefined;
    return {
      SecretList: page.map((s) => this.describe(s, true)),
      ...(next ? { NextToken: next } : {}),
    };
  }

  getSecretValue(
    region: string,
    now: Date,
    body: Record<string, unknown>,
  ): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "GetSecretValue", now);
    if (secret.deletedAt) throw markedForDeletion();
    const versionId = str(body, "VersionId");
    const stage = str(body, "VersionStage") ?? (versionId ? undefined : "AWSCURRENT");
    const version = secret.versions.find(
      (v) => (!versionId || v.versionId === versionId) && (!stage || v.stages.includes(stage)),
    );
    if (!version) {
      throw new AwsApiError(
        "ResourceNotFoundException",
        `Secrets Manager can't find the specified secret value for ${versionId ? `VersionId: ${versionId}` : `staging label: ${stage}`}`,
        400,
      );
    }
    // LastAccessedDate is kept to the day, as Secrets Manager reports it.
    secret.lastAccessedAt = new Date(Math.floor(now.getTime() / DAY) * DAY);
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
      ...(version.secretBinary !== undefined ? { SecretBinary: version.secretBinary } : {}),
      VersionStages: [...version.stages],
      CreatedDate: epochSeconds(version.createdAt),
    };
  }

  putSecretValue(
    region: string,
    now: Date,
    body: Record<string, unknown>,
  ): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "PutSecretValue", now);
    if (secret.deletedAt) throw markedForDeletion();
    const value = this.valueOf(body);
    if (!value) throw invalidParameter("You must provide either SecretString or SecretBinary.");
    const token = str(body, "ClientRequestToken");
    const same = this.sameVersion(secret, token, value);
    const versionId = same ? same.versionId : this.addVersion(secret, now, value, token);
    const stages = secret.versions.find((v) => v.versionId === versionId)?.stages ?? [];
    return { ARN: secret.arn, Name: secret.name, VersionId: versionId, VersionStages: [...stages] };
  }

  updateSecret(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "UpdateSecret", now);
    if (secret.deletedAt) throw markedForDeletion();
    const description = str(body, "Description");
    const kmsKeyId = str(body, "KmsKeyId");
    const value = this.valueOf(body);
    if (description !== undefined) secret.description = description;
    if (kmsKeyId !== undefined) secret.kmsKeyId = kmsKeyId;
    secret.lastChangedAt = now;
    let versionId: string | undefined;
    if (value) {
      const token = str(body, "ClientRequestToken");
      const same = this.sameVersion(secret, token, value);
      versionId = same ? same.versionId : this.addVersion(secret, now, value, token);
    }
    return { ARN: secret.arn, Name: secret.name, ...(versionId ? { VersionId: versionId } : {}) };
  }

  tagResource(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "TagResource", now);
    if (secret.deletedAt) throw markedForDeletion();
    for (const tag of parseTags(body.Tags)) {
      const existing = secret.tags.find((t) => t.Key === tag.Key);
      if (existing) existing.Value = tag.Value;
      else secret.tags.push(tag);
    }
    if (secret.tags.length > 50) throw invalidParameter("A secret can have at most 50 tags.");
    secret.lastChangedAt = now;
    return {};
  }

  untagResource(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "UntagResource", now);
    if (secret.deletedAt) throw markedForDeletion();
    if (!Array.isArray(body.TagKeys)) throw invalidParameter("TagKeys is required.");
    const keys = new Set(body.TagKeys.filter((k): k is string => typeof k === "string"));
    secret.tags = secret.tags.filter((t) => !keys.has(t.Key));
    secret.lastChangedAt = now;
    return {};
  }

  deleteSecret(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "DeleteSecret", now);
    const window = body.RecoveryWindowInDays;
    const force = body.ForceDeleteWithoutRecovery === true;
    if (force && window !== undefined) {
      throw invalidParameter(
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    if (force && !this.options.allowForceDelete) {
      throw invalidParameter(
        "ForceDeleteWithoutRecovery is refused by this emulator (option allowForceDelete); DKIM keys are deleted only with a recovery window.",
      );
    }
    if (
      window !== undefined &&
      (typeof window !== "number" || !Number.isInteger(window) || window < 7 || window > 30)
    ) {
      throw invalidParameter(
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
      );
    }
    if (secret.deletedAt) {
      throw new AwsApiError(
        "InvalidRequestException",
        "You can't delete a secret that is already scheduled for deletion.",
        400,
      );
    }
    const days = force ? 0 : ((window as number | undefined) ?? 30);
    secret.deletedAt = now;
    secret.deletionDate = new Date(now.getTime() + days * DAY);
    if (force) this.secrets.delete(this.key(region, secret.name));
    return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(secret.deletionDate) };
  }

  restoreSecret(region: string, now: Date, body: Record<string, unknown>): Record<string, unknown> {
    const secret = this.find(region, body.SecretId);
    this.record(secret, "RestoreSecret", now);
    secret.deletedAt = undefined;
    secret.deletionDate = undefined;
    secret.lastChangedAt = now;
    return { ARN: secret.arn, Name: secret.name };
  }

  views(region?: string): SecretView[] {
    return [...this.secrets.values()].filter((s) => !region || s.region === region).map(toView);
  }

  view(region: string, name: string): SecretView | undefined {
    const s = this.secrets.get(this.key(region, name));
    return s ? toView(s) : undefined;
  }
}

function toView(s: Secret): SecretView {
  const operationCounts: Record<string, number> = {};
  for (const o of s.operations)
    operationCounts[o.operation] = (operationCounts[o.operation] ?? 0) + 1;
  const current = s.versions.find((v) => v.stages.includes("AWSCURRENT"));
  return {
    region: s.region,
    arn: s.arn,
    name: s.name,
    ...(s.description !== undefined ? { description: s.description } : {}),
    ...(s.kmsKeyId !== undefined ? { kmsKeyId: s.kmsKeyId } : {}),
    tags: Object.fromEntries(s.tags.map((t) => [t.Key, t.Value])),
    createdAt: s.createdAt,
    ...(s.deletedAt ? { deletedAt: s.deletedAt } : {}),
    ...(s.deletionDate ? { deletionDate: s.deletionDate } : {}),
    versionCount: s.versions.length,
    ...(current?.secretString !== undefined ? { currentValue: current.secretString } : {}),
    operationCounts,
    overwritten:
      (operationCounts.PutSecretValue ?? 0) > 0 ||
      (operationCounts.UpdateSecret ?? 0) > 0 ||
      s.versions.length > 1,
  };
}

/**
 * ListSecrets filters: keys AND together, values OR together, each value a
 * prefix match; `!` negates. `name`, `tag-key` and `tag-value` are
 * case-sensitive, `description` and `all` are not (Secrets Manager API
 * reference, Filter).
 */
function matchesFilter(secret: Secret, filter: unknown): boolean {
  if (!isRecord(filter) || typeof filter.Key !== "string" || !Array.isArray(filter.Values)) {
    throw invalidParameter("Each filter needs a Key and Values.");
  }
  const key = filter.Key;
  const fields: Record<string, { values: string[]; caseSensitive: boolean }> = {
    name: { values: [secret.name], caseSensitive: true },
    description: { values: secret.description ? [secret.description] : [], caseSensitive: false },
    "tag-key": { values: secret.tags.map((t) => t.Key), caseSensitive: true },
    "tag-value": { values: secret.tags.map((t) => t.Value), caseSensitive: true },
    all: {
      values: [
        secret.name,
        secret.description ?? "",
        ...secret.tags.flatMap((t) => [t.Key, t.Value]),
      ],
      caseSensitive: false,
    },
  };
  const field = fields[key];
  if (!field) throw invalidParameter(`Filter key ${key} is not supported.`);
  const values = (filter.Values as unknown[]).filter((v): v is string => typeof v === "string");
  const norm = (s: string) => (field.caseSensitive ? s : s.toLowerCase());
  const positive = values.filter((v) => !v.startsWith("!"));
  const negative = values.filter((v) => v.startsWith("!")).map((v) => v.slice(1));
  const hit = (prefix: string) => field.values.some((fv) => norm(fv).startsWith(norm(prefix)));
  if (negative.some(hit)) return false;
  return positive.length === 0 || positive.some(hit);
}
