/**
 * The one place the Pulumi program reads configuration.
 *
 * The identities and shared settings come from the same `Pulumi.<stack>.yaml`
 * the rotation engine reads, and are validated by the engine's own schema
 * (`parseProjectConfig`), so a bad value fails here with exactly the error the
 * pipeline would give: one line naming the file, the identity and the field.
 * The few settings only the estate needs are checked by a small schema below.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import {
  ESTATE_ONLY_KEYS,
  parseProjectConfig,
  type IdentityConfig,
  type ProjectConfig,
  InputError,
} from "../actions/dkim-rotation/src/engine/config";

/**
 * The notification webhook's URL: a Pulumi secret (`pulumi config set
 * --secret notificationWebhookUrl https://…`), since such URLs usually carry
 * their own credential.
 */
export const WEBHOOK_URL_KEY = "notificationWebhookUrl";

/** GitHub allows at most six reviewers (users plus teams) on one environment. */
export const MAX_ENVIRONMENT_REVIEWERS = 6;

const oidcProviderArnPattern =
  /^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/;

/** Settings only the estate uses; the engine schema accepts exactly these names (ESTATE_ONLY_KEYS) unvalidated. */
const estateOnlySchema = z.object({
  /** An IAM OIDC provider for GitHub that already exists in the account (one per account is allowed). */
  existingOidcProviderArn: z
    .string()
    .regex(oidcProviderArnPattern, {
      error: "must be the ARN of the token.actions.githubusercontent.com OIDC provider",
    })
    .optional(),
  /**
   * Protect the SES identities and the KMS key from `pulumi destroy` and from
   * being deleted when they drop out of the config: deleting either one stops
   * DKIM signing (identity) or makes every stored key unreadable (KMS key).
   */
  protect: z.boolean().default(true),
  /**
   * Identities that already exist in SES (e.g. the domain sending today):
   * `domain` for every configured Region, or `domain@region` for one. They
   * are adopted with Pulumi's `import` option instead of created, since
   * CreateEmailIdentity would fail with AlreadyExists. Their DKIM setup is
   * left exactly as it is.
   */
  adoptIdentities: z.array(z.string().min(1)).default([]),
  /**
   * Read only as a Pulumi secret (`config.getSecret`, readEstateConfig) and
   * never through this schema; named so the list of estate-only keys may
   * carry it.
   */
  [WEBHOOK_URL_KEY]: z.unknown().optional(),
});

export type GithubConfig = NonNullable<ProjectConfig["github"]>;

export interface EstateConfig extends ProjectConfig {
  /** Required by the estate: the OIDC trust policies name the repository. */
  github: GithubConfig;
  /** The alias to create for the key vault, e.g. `alias/ses-dkim-rotation`. */
  kmsAlias: string;
  existingOidcProviderArn?: string;
  protect: boolean;
  /** `domain@region` pairs to adopt (import) rather than create. */
  adopt: Set<string>;
  /** Every Region the estate touches: the home Region first, then each identity Region. */
  regions: string[];
  /** An HTTPS endpoint subscribed to the notification topic (a secret); needs `notifications`. */
  notificationWebhookUrl?: pulumi.Output<string>;
}

export type { IdentityConfig };

export interface ParseOptions {
  file: string;
  project: string;
  defaultRegion?: string;
}

function fieldOf(project: string, path: PropertyKey[]): string {
  let out = `${project}:`;
  path.forEach((seg, i) => {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += i === 0 ? String(seg) : `.${String(seg)}`;
  });
  return out;
}

/**
 * Validate the stack's project values (keys without the `<project>:` prefix).
 * Throws `InputError` on the first problem; nothing is created.
 */
export function parseEstateConfig(
  values: Record<string, unknown>,
  opts: ParseOptions,
): EstateConfig {
  const shared = parseProjectConfig(values, opts);
  const { file, project } = opts;

  // strict(): the engine's list of estate-only names and this schema cannot drift apart.
  const extra = estateOnlySchema
    .strict()
    .safeParse(Object.fromEntries(ESTATE_ONLY_KEYS.map((k) => [k, values[k]])));
  if (!extra.success) {
    const issue = extra.error.issues[0]!;
    throw new InputError({ file, field: fieldOf(project, issue.path), problem: issue.message });
  }

  const github = shared.github;
  if (!github) {
    throw new InputError({
      file,
      field: `${project}:github`,
      problem: "is missing",
      hint: "the OIDC roles trust one repository: set github.owner, github.repo and github.environment",
    });
  }
  if ((shared.githubOwnerId === undefined) !== (shared.githubRepositoryId === undefined)) {
    throw new InputError({
      file,
      field: `${project}:${shared.githubOwnerId === undefined ? "githubOwnerId" : "githubRepositoryId"}`,
      problem: "is missing while the other immutable ID is set",
      hint: "set both githubOwnerId and githubRepositoryId (gh api repos/OWNER/REPO --jq '.owner.id, .id'), or neither",
    });
  }
  const reviewerCount = github.reviewers.users.length + github.reviewers.teams.length;
  // In pull-request mode the approvers are the code owners of approvals/, not environment reviewers.
  if (github.manageRepository && github.approval === "environment" && reviewerCount === 0) {
    throw new InputError({
      file,
      field: `${project}:github.reviewers`,
      problem: "names nobody, so the activation environment would have no human gate",
      hint: "list numeric user or team ids under github.reviewers.users / github.reviewers.teams, or set github.approval: pull-request (approval by reviewed pull request)",
    });
  }
  if (github.manageRepository && github.appId === undefined) {
    throw new InputError({
      file,
      field: `${project}:github.appId`,
      problem:
        "is missing, so the record-branch ruleset would have no bypass actor and the plan could not push its PRs",
      hint: "set the DKIM GitHub App's numeric id (gh api apps/APP_SLUG --jq .id); docs/design.md#bot-branches",
    });
  }
  if (reviewerCount > MAX_ENVIRONMENT_REVIEWERS) {
    throw new InputError({
      file,
      field: `${project}:github.reviewers`,
      problem: `names ${reviewerCount} reviewers; GitHub allows at most ${MAX_ENVIRONMENT_REVIEWERS} per environment`,
      hint: "name a team instead of its members",
    });
  }

  // The estate creates the key, so it needs a name to give it: an alias the
  // pipeline then passes as KmsKeyId to CreateSecret.
  if (
    !/^alias\/[a-zA-Z0-9/_-]+$/.test(shared.kmsKeyId) ||
    shared.kmsKeyId.startsWith("alias/aws/")
  ) {
    throw new InputError({
      file,
      field: `${project}:kmsKeyId`,
      problem: `"${shared.kmsKeyId}" is not an alias the estate can create`,
      hint: "use an alias such as alias/ses-dkim-rotation (alias/aws/* is reserved for AWS managed keys)",
    });
  }

  const adopt = new Set<string>();
  extra.data.adoptIdentities.forEach((entry, i) => {
    const [domain, region] = entry.split("@");
    const identity = shared.identities.find((id) => id.domain === domain);
    const targets = identity ? (region ? [region] : identity.regions) : [];
    if (!identity || targets.some((r) => !identity.regions.includes(r))) {
      throw new InputError({
        file,
        identity: domain,
        field: `${project}:adoptIdentities[${i}]`,
        problem: `"${entry}" is not a configured identity${region ? " Region" : ""}`,
        hint: "write domain or domain@region for a domain listed under identities",
      });
    }
    for (const r of targets) adopt.add(`${domain}@${r}`);
  });

  const regions = [shared.defaultRegion];
  for (const identity of shared.identities) {
    for (const region of identity.regions) if (!regions.includes(region)) regions.push(region);
  }

  return {
    ...shared,
    github,
    kmsAlias: shared.kmsKeyId,
    existingOidcProviderArn: extra.data.existingOidcProviderArn,
    protect: extra.data.protect,
    adopt,
    regions,
  };
}

/** Keys whose values are plain strings even when they look like JSON (e.g. a numeric namespace). */
const STRING_KEYS = new Set([
  "kmsKeyId",
  "secretPrefix",
  "metricsNamespace",
  "dnsTeam",
  "existingOidcProviderArn",
]);

/**
 * Decode one value as the Pulumi engine hands it to the program: structured
 * values (lists, maps) and scalars from YAML arrive as JSON text, plain strings
 * arrive as they are.
 */
function decode(key: string, raw: string, file: string, project: string): unknown {
  if (STRING_KEYS.has(key)) return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    if (/^\s*[[{]/.test(raw)) {
      throw new InputError({
        file,
        field: `${project}:${key}`,
        problem: "is not valid structured config (JSON expected from the Pulumi engine)",
      });
    }
    return raw;
  }
}

/** Read and validate the current stack's config through `pulumi.Config`. */
export function readEstateConfig(): EstateConfig {
  const project = pulumi.getProject();
  const file = `Pulumi.${pulumi.getStack()}.yaml`;
  const config = new pulumi.Config();
  const aws = new pulumi.Config("aws");

  // Every `<project>:*` key the engine set, not a fixed list: the engine's
  // schema decides what is known, so the two can never disagree.
  const prefix = `${project}:`;
  const values: Record<string, unknown> = {};
  for (const fullKey of Object.keys(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    // A secret is read as one, below, and never decoded into plain values.
    if (key === WEBHOOK_URL_KEY) continue;
    const raw = config.get(key);
    if (raw !== undefined) values[key] = decode(key, raw, file, project);
  }
  if (!("identities" in values)) {
    throw new InputError({
      file,
      field: `${project}:identities`,
      problem: "is missing",
      hint: `list the SES identities under config.${project}:identities`,
    });
  }
  const parsed = parseEstateConfig(values, { file, project, defaultRegion: aws.get("region") });
  const webhook = config.getSecret(WEBHOOK_URL_KEY);
  if (webhook === undefined) return parsed;
  if (!parsed.notifications) {
    throw new InputError({
      file,
      field: `${project}:${WEBHOOK_URL_KEY}`,
      problem:
        "is set but there is no notifications block, so there is no topic to subscribe it to",
      hint: `add ${project}:notifications (at least topicName), or remove the webhook`,
    });
  }
  return { ...parsed, notificationWebhookUrl: webhook };
}

/**
 * `readEstateConfig` for the program's entry point: a config problem becomes a
 * `pulumi.RunError`, which the Pulumi CLI prints as its one-line message
 * without a stack trace (docs/design.md#invariant-6-bad-input-fails-early).
 */
export function loadEstateConfig(): EstateConfig {
  try {
    return readEstateConfig();
  } catch (err) {
    if (err instanceof InputError) throw new pulumi.RunError(err.message);
    throw err;
  }
}
