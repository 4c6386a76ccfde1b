/**
 * Wiring: the one place that turns a config plus a few front-end choices into
 * the adapters the engine needs. The CLI, the action and the sandbox all call
 * this, so they run the same adapters against real AWS or the emulator.
 */
import type { SESv2ClientConfig } from "@aws-sdk/client-sesv2";
import type { Clock } from "./engine/clock";
import type { ProjectConfig } from "./engine/config";
import type { CanaryPort, KeyStorePort, MetricsPort, SesPort } from "./engine/ports";
import { CanaryMail, ReceivingReader } from "./adapters/canary";
import type { ReceivingReadPort } from "./doctor";
import { CloudWatchMetrics } from "./adapters/cloudwatch";
import { InputError } from "./engine/errors";
import { requestsPerSecondProblem } from "./engine/values";
import { RegionPacer } from "./adapters/pacer";
import { KmsKeyCustody } from "./adapters/kms";
import { KmsReader } from "./adapters/kms-read";
import type { CallerPort, KmsReadPort } from "./doctor";
import { StsCaller } from "./adapters/caller";
import { readPlainSecret, SecretsKeyStore } from "./adapters/secrets";
import { SnsNotifier } from "./adapters/sns";
import { Route53Publisher } from "./adapters/route53";
import { Rfc2136Publisher } from "./adapters/rfc2136";
import { notificationTopicArn, type IdentityConfig } from "./engine/config";
import type { Notices } from "./engine/notify";
import type { DnsPublisherPort, Notification, NotifierPort } from "./engine/ports";
import { noticeText } from "./notice-text";
import { systemClock } from "./engine/clock";
import { createAwsClients, SesAdapter } from "./adapters/ses";
import { S3DmarcReports } from "./adapters/dmarc-reports";
import type { DmarcReportSourcePort } from "./engine/dmarc";

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

/**
 * The notifier, its topic ARN built from the caller's account on first use
 * (one STS call per run; infra/ names the topic from the same config).
 */
class TopicNotifier implements NotifierPort {
  private inner?: Promise<SnsNotifier>;
  constructor(private readonly make: () => Promise<SnsNotifier>) {}
  async send(n: Notification) {
    this.inner ??= this.make();
    return (await this.inner).send(n);
  }
}

export function buildAwsAdapters(options: AwsAdapterOptions): AwsAdapters {
  const { config } = options;
  const regions = [...new Set(config.identities.flatMap((i) => i.regions))];
  const clients = createAwsClients({
    regions,
    homeRegion: config.defaultRegion,
    endpoint: options.endpoint,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts,
    retryStrategy: options.retryStrategy,
    requestTimeoutMs: options.requestTimeoutMs,
    s3Region: config.dmarcReports?.region,
    ...(config.canary ? { receivingRegion: config.canary.region } : {}),
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
  const caller = new StsCaller(clients.sts);
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
          tsigSecret: () => readPlainSecret(clients.secrets, settings.secretName, options.onSecret),
        },
      );
    } else if (identity.route53) {
      publisher = new Route53Publisher(clients.route53, identity.route53.hostedZoneId, {
        sleep: (ms) => clock.sleep(ms),
      });
    } else {
      throw new Error(`${identity.domain}: publisher is manual; nothing publishes its records`);
    }
    publishers.set(identity.domain, publisher);
    return publisher;
  };
  return {
    ses: new SesAdapter({ clients: clients.ses, pacer }),
    ...(clients.s3 && clients.sesReceiving
      ? {
          canary: new CanaryMail(clients.ses, clients.s3),
          receiving: new ReceivingReader(clients.sesReceiving, clients.s3),
        }
      : {}),
    kmsRead: new KmsReader(clients.kms),
    caller,
    publisherFor,
    ...(notifications
      ? {
          notices: {
            text: noticeText,
            reminderDays: notifications.reminderDays,
            notifier: new TopicNotifier(async () => {
              const who = await caller.whoAmI();
              return new SnsNotifier(
                clients.sns,
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
      client: clients.secrets,
      kmsKeyId: config.kmsKeyId,
      prefix: config.secretPrefix,
      onSecret: options.onSecret,
      custody: new KmsKeyCustody({ client: clients.kms, keyId: config.kmsKeyId }),
    }),
    ...(clients.reportsS3 && config.dmarcReports
      ? {
          dmarcReports: new S3DmarcReports(
            clients.reportsS3,
            config.dmarcReports.bucket,
            config.dmarcReports.prefix,
          ),
        }
      : {}),
    metrics: new CloudWatchMetrics({
      client: clients.cloudwatch,
      namespace: config.metricsNamespace,
      clock: options.clock,
    }),
    destroy: () => {
      for (const c of clients.ses.values()) c.destroy();
      clients.secrets.destroy();
      clients.kms.destroy();
      clients.cloudwatch.destroy();
      clients.sts.destroy();
      clients.sns.destroy();
      clients.route53.destroy();
      clients.s3?.destroy();
      clients.reportsS3?.destroy();
      clients.sesReceiving?.destroy();
    },
  };
}
