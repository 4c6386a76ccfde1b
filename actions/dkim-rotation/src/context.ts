/**
 * Wiring: the one place that turns a config plus a few front-end choices into
 * the adapters the engine needs. The CLI, the action and the sandbox all call
 * this, so they run the same adapters against real AWS or the emulator.
 */
import type { SESv2ClientConfig } from "@aws-sdk/client-sesv2";
import type { Clock } from "./engine/clock";
import type { ProjectConfig } from "./engine/config";
import type { CanaryPort, KeyStorePort, MetricsPort, SesPort } from "./engine/ports";
import type { ReceivingReadPort } from "./doctor";
import type { DmarcReportSourcePort } from "./engine/dmarc";
import { InputError } from "./engine/errors";
import { requestsPerSecondProblem } from "./engine/values";
import { RegionPacer } from "./adapters/pacer";
import type { KeyCustody } from "./adapters/kms";
import type { CallerPort, KmsReadPort } from "./doctor";
import { readPlainSecret, SecretsKeyStore } from "./adapters/secrets";
import { Rfc2136Publisher } from "./adapters/rfc2136";
import { notificationTopicArn, type IdentityConfig } from "./engine/config";
import type { Notices } from "./engine/notify";
import type { DnsPublisherPort, Notification, NotifierPort } from "./engine/ports";
import { noticeText } from "./notice-text";
import { systemClock } from "./engine/clock";
import { awsClientConfig, ROUTE53_SIGNING_REGION, SesAdapter } from "./adapters/ses";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

export interface AwsAdapterOptions {
  config: ProjectConfig;
  /** Emulator or other custom endpoint; AWS's own endpoints when absent. */
  endpoint?: string;
  credentials?: SESv2ClientConfig["credentials"];
  /** Overrides the config's `sesRequestsPerSecond` (AWS: 1, cannot be raised). */
  requestsPerSecond?: number;
  /** Where the override came from, for the error line: the CLI flag or the action input. */
  requestsPerSecondSource?: { file: string; field: string };
  clock?: Clock;
  onSecret: (secret: string) => void;
  maxAttempts?: number;
  /** The SDK's retry strategy instead of its adaptive mode (the sandbox scales backoff down). */
  retryStrategy?: SESv2ClientConfig["retryStrategy"];
  /** Per-attempt socket timeout (default 30 s). */
  requestTimeoutMs?: number;
  /** The SES pacer's margin over 1/rate, in ms (default 5 % of the interval; the bench varies it). */
  pacerMarginMs?: number;
}

export interface AwsAdapters {
  ses: SesPort;
  keys: KeyStorePort;
  metrics: MetricsPort;
  /** Read-only KMS key facts (doctor). */
  kmsRead?: KmsReadPort;
  /** Who the credentials belong to (doctor). */
  caller?: CallerPort;
  /** SNS notifications, when the config has a `notifications` block. */
  notices?: Notices;
  /** The canary's mail path, when the config has a `canary:` block (docs/design.md#canary). */
  canary?: CanaryPort;
  /** The canary's receiving side as doctor reads it (rule set, bucket policy). */
  receiving?: ReceivingReadPort;
  /** The publisher of an identity whose `publisher` is rfc2136 or route53. */
  publisherFor: (identity: IdentityConfig) => DnsPublisherPort;
  /** The DMARC report bucket, when the config has a `dmarcReports` block. */
  dmarcReports?: DmarcReportSourcePort;
  destroy(): void;
}

/** `make()` once, on first call; later calls share its promise. */
function onFirstUse<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

/**
 * The notifier, its topic ARN built from the caller's account on first use
 * (one STS call per run; infra/ names the topic from the same config).
 */
function topicNotifier(make: () => Promise<NotifierPort>): NotifierPort {
  const inner = onFirstUse(make);
  return { send: async (n: Notification) => (await inner()).send(n) };
}

function lazyCustody(load: () => Promise<KeyCustody>): KeyCustody {
  return {
    keyArn: async () => (await load()).keyArn(),
    generate: async (domain, selector) => (await load()).generate(domain, selector),
    unwrap: async (...args) => (await load()).unwrap(...args),
  };
}

export function buildAwsAdapters(options: AwsAdapterOptions): AwsAdapters {
  const { config } = options;
  const regions = [...new Set(config.identities.flatMap((i) => i.regions))];
  // SES and Secrets Manager serve every command. The other services' clients
  // and adapters, with their SDK packages, load by import() on first use, so
  // `status` never loads KMS, CloudWatch, STS, SNS or Route 53
  // (docs/design.md#action-bundle).
  const common = awsClientConfig(options);
  const home = config.defaultRegion ?? (regions[0] as string);
  const opened: { destroy(): void }[] = [];
  const open = <C extends { destroy(): void }>(client: C): C => {
    opened.push(client);
    return client;
  };
  const sesClients = new Map(
    regions.map((region) => [region, open(new SESv2Client({ ...common, region }))]),
  );
  const secrets = open(new SecretsManagerClient({ ...common, region: home }));
  const kmsClient = onFirstUse(async () => {
    const { KMSClient } = await import("@aws-sdk/client-kms");
    return open(new KMSClient({ ...common, region: home }));
  });
  const stsCaller = onFirstUse(async () => {
    const [{ STSClient }, { StsCaller }] = await Promise.all([
      import("@aws-sdk/client-sts"),
      import("./adapters/caller"),
    ]);
    return new StsCaller(open(new STSClient({ ...common, region: home })));
  });
  const custody = onFirstUse(async () => {
    const { KmsKeyCustody } = await import("./adapters/kms");
    return new KmsKeyCustody({ client: await kmsClient(), keyId: config.kmsKeyId });
  });
  const kmsReader = onFirstUse(async () => {
    const { KmsReader } = await import("./adapters/kms-read");
    return new KmsReader(await kmsClient());
  });
  const cloudwatch = onFirstUse(async () => {
    const [{ CloudWatchClient }, { CloudWatchMetrics }] = await Promise.all([
      import("@aws-sdk/client-cloudwatch"),
      import("./adapters/cloudwatch"),
    ]);
    return new CloudWatchMetrics({
      client: open(new CloudWatchClient({ ...common, region: home })),
      namespace: config.metricsNamespace,
      clock: options.clock,
    });
  });
  const route53 = onFirstUse(async () => {
    const { Route53Client } = await import("@aws-sdk/client-route-53");
    return open(new Route53Client({ ...common, region: ROUTE53_SIGNING_REGION }));
  });
  // S3 without bucket subdomains against an endpoint override (the emulator): path-style.
  const s3In = (region: string) =>
    onFirstUse(async () => {
      const { S3Client } = await import("@aws-sdk/client-s3");
      return open(
        new S3Client({ ...common, region, forcePathStyle: options.endpoint !== undefined }),
      );
    });
  const canaryRegion = config.canary?.region;
  const canaryS3 = canaryRegion ? s3In(canaryRegion) : undefined;
  const canaryMail = onFirstUse(async () => {
    const { CanaryMail } = await import("./adapters/canary");
    return new CanaryMail(sesClients, await canaryS3!());
  });
  const receivingReader = onFirstUse(async () => {
    const [{ SESClient }, { ReceivingReader }] = await Promise.all([
      import("@aws-sdk/client-ses"),
      import("./adapters/canary"),
    ]);
    return new ReceivingReader(
      open(new SESClient({ ...common, region: canaryRegion! })),
      await canaryS3!(),
    );
  });
  const reportsConfig = config.dmarcReports;
  const reportsS3 = reportsConfig ? s3In(reportsConfig.region) : undefined;
  const reportSource = onFirstUse(async () => {
    const { S3DmarcReports } = await import("./adapters/dmarc-reports");
    return new S3DmarcReports(await reportsS3!(), reportsConfig!.bucket, reportsConfig!.prefix);
  });
  const requestsPerSecond = options.requestsPerSecond ?? config.sesRequestsPerSecond;
  const problem = requestsPerSecondProblem(requestsPerSecond, { endpoint: options.endpoint });
  if (problem) {
    const source =
      options.requestsPerSecond !== undefined
        ? (options.requestsPerSecondSource ?? { file: "argv", field: "requestsPerSecond" })
        : { file: config.file, field: `${config.project}:sesRequestsPerSecond` };
    throw new InputError({
      ...source,
      problem,
      hint: "use 1 against AWS; faster rates only against the sandbox emulator's endpoint",
    });
  }
  const pacer = new RegionPacer({ requestsPerSecond, marginMs: options.pacerMarginMs });
  const caller: CallerPort = { whoAmI: async () => (await stsCaller()).whoAmI() };
  const notifications = config.notifications;
  const clock = options.clock ?? systemClock;
  const publishers = new Map<string, DnsPublisherPort>();
  const publisherFor = (identity: IdentityConfig): DnsPublisherPort => {
    let publisher = publishers.get(identity.domain);
    if (publisher) return publisher;
    if (identity.rfc2136) {
      const settings = identity.rfc2136;
      publisher = new Rfc2136Publisher(
        { ...settings, zone: settings.zone ?? identity.domain },
        {
          tsigSecret: () => readPlainSecret(secrets, settings.secretName, options.onSecret),
        },
      );
    } else if (identity.route53) {
      const zone = identity.route53.hostedZoneId;
      const adapter = onFirstUse(async () => {
        const { Route53Publisher } = await import("./adapters/route53");
        return new Route53Publisher(await route53(), zone, { sleep: (ms) => clock.sleep(ms) });
      });
      publisher = {
        kind: "route53",
        publish: async (req) => (await adapter()).publish(req),
        remove: async (req) => (await adapter()).remove(req),
      };
    } else {
      throw new Error(`${identity.domain}: publisher is manual; nothing publishes its records`);
    }
    publishers.set(identity.domain, publisher);
    return publisher;
  };
  return {
    ses: new SesAdapter({ clients: sesClients, pacer }),
    kmsRead: {
      describeKey: async (keyId) => (await kmsReader()).describeKey(keyId),
      rotationEnabled: async (keyArn) => (await kmsReader()).rotationEnabled(keyArn),
    },
    caller,
    publisherFor,
    ...(canaryS3
      ? {
          canary: {
            send: async (region, message) => (await canaryMail()).send(region, message),
            list: async (bucket, prefix) => (await canaryMail()).list(bucket, prefix),
            get: async (bucket, key) => (await canaryMail()).get(bucket, key),
            remove: async (bucket, key) => (await canaryMail()).remove(bucket, key),
          } satisfies CanaryPort,
          receiving: {
            activeRuleSet: async () => (await receivingReader()).activeRuleSet(),
            bucketPolicy: async (bucket) => (await receivingReader()).bucketPolicy(bucket),
          } satisfies ReceivingReadPort,
        }
      : {}),
    ...(reportsConfig
      ? {
          dmarcReports: {
            where: `s3://${reportsConfig.bucket}/${reportsConfig.prefix}`,
            list: async () => (await reportSource()).list(),
            read: async (key, maxBytes) => (await reportSource()).read(key, maxBytes),
            markProcessed: async (key) => (await reportSource()).markProcessed(key),
          } satisfies DmarcReportSourcePort,
        }
      : {}),
    ...(notifications
      ? {
          notices: {
            text: noticeText,
            reminderDays: notifications.reminderDays,
            notifier: topicNotifier(async () => {
              const [who, { SNSClient }, { SnsNotifier }] = await Promise.all([
                caller.whoAmI(),
                import("@aws-sdk/client-sns"),
                import("./adapters/sns"),
              ]);
              return new SnsNotifier(
                open(new SNSClient({ ...common, region: home })),
                notificationTopicArn({
                  partition: who.arn.split(":")[1] ?? "aws",
                  region: config.defaultRegion,
                  accountId: who.account,
                  topicName: notifications.topicName,
                }),
              );
            }),
          },
        }
      : {}),
    keys: new SecretsKeyStore({
      client: secrets,
      kmsKeyId: config.kmsKeyId,
      prefix: config.secretPrefix,
      onSecret: options.onSecret,
      custody: lazyCustody(custody),
    }),
    metrics: { publish: async (m) => (await cloudwatch()).publish(m) },
    destroy: () => {
      for (const c of opened) c.destroy();
    },
  };
}
