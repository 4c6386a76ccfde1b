/**
 * Wiring: the one place that turns a config plus a few front-end choices into
 * the adapters the engine needs. The CLI, the action and the sandbox all call
 * this, so they run the same adapters against real AWS or the emulator.
 */
import type { SESv2ClientConfig } from "@aws-sdk/client-sesv2";
import type { Clock } from "./engine/clock";
import type { ProjectConfig } from "./engine/config";
import type { KeyStorePort, MetricsPort, SesPort } from "./engine/ports";
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
  /** The publisher of an identity whose `publisher` is rfc2136 or route53. */
  publisherFor: (identity: IdentityConfig) => DnsPublisherPort;
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
