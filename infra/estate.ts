/**
 * The whole AWS (and optionally GitHub) estate for one stack, as a function of
 * validated config, so tests can build it for several configs in one process.
 *
 * Order matters once: the roles exist before the key (its policy names them),
 * and the role policies come after the key (they name it).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { notificationTopicArn, publisherOf } from "../actions/dkim-rotation/src/engine/config";
import type { EstateConfig } from "./config";
import { GithubOidc } from "./components/github-oidc";
import { GithubRepository, readRepositoryIds } from "./components/github-repository";
import { KeyVault } from "./components/key-vault";
import { DmarcReports, ruaRuleName } from "./components/dmarc-reports";
import { Monitoring } from "./components/monitoring";
import { Notifications } from "./components/notifications";
import {
  identityArn,
  namedSecretArn,
  type AccountScope,
  type Route53Zone,
} from "./components/policies";
import { RolePermissions } from "./components/role-permissions";
import { CanaryReceiving } from "./components/canary-receiving";
import { SesIdentity } from "./components/ses-identity";

export interface Estate {
  plannerRoleArn: pulumi.Output<string>;
  activatorRoleArn: pulumi.Output<string>;
  /** The post-merge publish job's role (docs/design.md#publishers). */
  publisherRoleArn: pulumi.Output<string>;
  /** The home Region's alert topic. */
  alertTopicArn: pulumi.Output<string>;
  /** Every Region's alert topic (alarms can only notify a topic in their own Region). */
  alertTopicArns: Record<string, pulumi.Output<string>>;
  kmsKeyArn: pulumi.Output<string>;
  kmsAliasName: pulumi.Output<string>;
  dashboardName: pulumi.Output<string>;
  identityArns: pulumi.Output<string>[];
  providers: Record<string, aws.Provider>;
  identities: SesIdentity[];
  oidc: GithubOidc;
  keyVault: KeyVault;
  permissions: RolePermissions;
  monitoring: Monitoring;
  githubRepository?: GithubRepository;
  /** The notification topic; absent without `notifications`. */
  notifications?: Notifications;
  notificationTopicArn?: pulumi.Output<string>;
  /** With `dmarcReports`: the rua rule, the reports role, its alarms and dashboard. */
  dmarcReports?: DmarcReports;
  reportsRoleArn?: pulumi.Output<string>;
  /** The canary's bucket, key and rule set; absent without `canary:` (docs/design.md#canary). */
  canaryReceiving?: CanaryReceiving;
}

export interface EstateOptions {
  /** Prefix for physical names (roles, topics, alarms, dashboard); default `<project>-<stack>`. */
  namePrefix?: string;
}

export function createEstate(config: EstateConfig, options: EstateOptions = {}): Estate {
  const namePrefix = options.namePrefix ?? `${config.project}-${pulumi.getStack()}`;
  const home = config.defaultRegion;

  // One explicit provider per Region: SES, SNS and CloudWatch are regional,
  // and nothing may silently land in whatever Region the default provider has.
  const providers: Record<string, aws.Provider> = {};
  for (const region of config.regions) {
    providers[region] = new aws.Provider(`aws-${region}`, {
      region,
      defaultTags: { tags: { Project: config.project, ManagedBy: "pulumi" } },
    });
  }
  const homeProvider = providers[home]!;

  const caller = aws.getCallerIdentityOutput({}, { provider: homeProvider });
  const partition = aws.getPartitionOutput({}, { provider: homeProvider });
  const account: pulumi.Output<AccountScope> = pulumi.all([caller, partition]).apply(([c, p]) => ({
    partition: p.partition,
    dnsSuffix: p.dnsSuffix,
    accountId: c.accountId,
    homeRegion: home,
  }));

  const identities: SesIdentity[] = [];
  for (const identity of config.identities) {
    for (const region of identity.regions) {
      identities.push(
        new SesIdentity(`${identity.domain}-${region}`, {
          domain: identity.domain,
          region,
          provider: providers[region]!,
          protect: config.protect,
          adoptExisting: config.adopt.has(`${identity.domain}@${region}`),
        }),
      );
    }
  }
  // Built from the account, not from the resources, so the roles can be
  // granted the identities before (or without) Pulumi creating them.
  const identityArns = config.identities.flatMap((identity) =>
    identity.regions.map((region) => account.apply((a) => identityArn(a, region, identity.domain))),
  );

  const oidc = new GithubOidc("github-oidc", {
    owner: config.github.owner,
    repo: config.github.repo,
    // Immutable subjects when the IDs are configured, or read from GitHub when the stack manages the repository.
    ids:
      config.githubOwnerId !== undefined && config.githubRepositoryId !== undefined
        ? { ownerId: config.githubOwnerId, repositoryId: config.githubRepositoryId }
        : config.github.manageRepository
          ? readRepositoryIds(config.github.owner, config.github.repo)
          : undefined,
    environment: config.github.environment,
    workflowPin: config.github.workflowPin,
    publisherEnvironment: config.github.publisherEnvironment,
    existingProviderArn: config.existingOidcProviderArn,
    namePrefix,
    provider: homeProvider,
  });

  const keyVault = new KeyVault("key-vault", {
    alias: config.kmsAlias,
    account,
    plannerRoleArn: oidc.plannerRole.arn,
    activatorRoleArn: oidc.activatorRole.arn,
    domains: config.identities.map((identity) => identity.domain),
    secretPrefix: config.secretPrefix,
    protect: config.protect,
    provider: homeProvider,
  });

  // The publishers' grants, from the config alone (like the identity ARNs).
  const tsigSecretNames = [
    ...new Set(
      config.identities.flatMap((identity) =>
        publisherOf(identity) === "rfc2136" && identity.rfc2136
          ? [identity.rfc2136.secretName]
          : [],
      ),
    ),
  ];
  const route53Zones: Route53Zone[] = [];
  for (const identity of config.identities) {
    if (publisherOf(identity) !== "route53" || !identity.route53) continue;
    const zoneId = identity.route53.hostedZoneId;
    const zone = route53Zones.find((z) => z.hostedZoneId === zoneId);
    if (zone) zone.domains.push(identity.domain);
    else route53Zones.push({ hostedZoneId: zoneId, domains: [identity.domain] });
  }
  const topicName = config.notifications?.topicName;

  // docs/design.md#canary: the receiving Region may be none of the identities' Regions.
  const canary = config.canary;
  if (canary && !providers[canary.region])
    providers[canary.region] = new aws.Provider(`aws-${canary.region}`, {
      region: canary.region,
      defaultTags: { tags: { Project: config.project, ManagedBy: "pulumi" } },
    });
  const receiving = canary
    ? new CanaryReceiving("canary", {
        canary,
        account,
        activatorRoleArn: oidc.activatorRole.arn,
        provider: providers[canary.region]!,
        // docs/design.md#dmarc-aggregate-reports: the rua rule stores into this bucket too.
        ...(config.dmarcReports?.ruaAddress
          ? { rua: { prefix: config.dmarcReports.prefix, rule: ruaRuleName(namePrefix) } }
          : {}),
      })
    : undefined;

  const permissions = new RolePermissions("role-permissions", {
    plannerRole: oidc.plannerRole,
    activatorRole: oidc.activatorRole,
    publisherRole: oidc.publisherRole,
    scope: pulumi
      .all([account, keyVault.key.arn, pulumi.all(identityArns), receiving?.key.arn])
      .apply(([a, kmsKeyArn, arns, canaryKeyArn]) => ({
        ...a,
        kmsKeyArn,
        identityArns: arns,
        domains: config.identities.map((identity) => identity.domain),
        secretPrefix: config.secretPrefix,
        metricsNamespace: config.metricsNamespace,
        notificationTopicArn:
          topicName === undefined
            ? undefined
            : notificationTopicArn({
                partition: a.partition,
                region: home,
                accountId: a.accountId,
                topicName,
              }),
        tsigSecretArns: tsigSecretNames.map((name) => namedSecretArn(a, name)),
        route53Zones,
        ...(canary && canaryKeyArn
          ? {
              canary: {
                bucket: canary.bucket,
                prefix: canary.prefix,
                kmsKeyArn: canaryKeyArn,
                localPart: canary.localPart,
                region: canary.region,
              },
            }
          : {}),
      })),
    provider: homeProvider,
  });

  const notifications = config.notifications
    ? new Notifications("notifications", {
        notifications: config.notifications,
        account,
        plannerRoleArn: oidc.plannerRole.arn,
        activatorRoleArn: oidc.activatorRole.arn,
        webhookUrl: config.notificationWebhookUrl,
        namePrefix,
        provider: homeProvider,
      })
    : undefined;

  const monitoring = new Monitoring("monitoring", {
    homeRegion: home,
    regions: config.regions,
    providers,
    namespace: config.metricsNamespace,
    identities: config.identities.map(({ domain, alertDays, dnsLeadDays }) => ({
      domain,
      alertDays,
      dnsLeadDays,
    })),
    alertEmails: config.alertEmails,
    namePrefix,
  });

  // Production proof from DMARC reports, with a provider where SES receives.
  const reports = config.dmarcReports;
  const dmarcReports = reports
    ? new DmarcReports("dmarc-reports", {
        reports,
        domains: config.identities.map((identity) => identity.domain),
        namespace: config.metricsNamespace,
        namePrefix,
        providerArn: oidc.providerArn,
        subjects: oidc.subjects.planner,
        scope: permissions.scope,
        alarmTopicArn: monitoring.topicArns[home]!,
        home: homeProvider,
        homeRegion: home,
        ...(receiving
          ? {
              canary: { ruleSet: receiving.ruleSet.ruleSetName, bucketPolicy: receiving.policy },
              receivingKeyArn: receiving.key.arn,
            }
          : {}),
        receiving:
          providers[reports.region] ??
          new aws.Provider(`aws-${reports.region}`, {
            region: reports.region,
            defaultTags: { tags: { Project: config.project, ManagedBy: "pulumi" } },
          }),
      })
    : undefined;

  const githubRepository = config.github.manageRepository
    ? new GithubRepository("github-repository", {
        owner: config.github.owner,
        repo: config.github.repo,
        environment: config.github.environment,
        publisherEnvironment: config.github.publisherEnvironment,
        reviewers: config.github.reviewers,
        appId: config.github.appId!,
        plannerRoleArn: oidc.plannerRole.arn,
        activatorRoleArn: oidc.activatorRole.arn,
        publisherRoleArn: oidc.publisherRole.arn,
        region: home,
        pinWorkflows: config.github.workflowPin !== undefined,
        approval: config.github.approval,
        requiredApprovals: config.github.requiredApprovals,
      })
    : undefined;

  return {
    plannerRoleArn: oidc.plannerRole.arn,
    activatorRoleArn: oidc.activatorRole.arn,
    publisherRoleArn: oidc.publisherRole.arn,
    alertTopicArn: monitoring.topicArns[home]!,
    alertTopicArns: monitoring.topicArns,
    kmsKeyArn: keyVault.key.arn,
    kmsAliasName: keyVault.alias.name,
    dashboardName: monitoring.dashboardName,
    identityArns,
    providers,
    identities,
    oidc,
    keyVault,
    permissions,
    monitoring,
    githubRepository,
    notifications,
    notificationTopicArn: notifications?.topicArn,
    dmarcReports,
    reportsRoleArn: dmarcReports?.role.arn,
    ...(receiving ? { canaryReceiving: receiving } : {}),
  };
}
