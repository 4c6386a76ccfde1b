/**
 * Alerts for the rotation pipeline and for the sending reputation it protects.
 *
 * - Per identity, on the metrics the daily planner run publishes (names shared
 *   with the pipeline through engine/metrics.ts, re-exported by engine/config.ts): key expiry, SES DKIM status,
 *   and a DNS publication that takes too long.
 * - Per Region, on SES's own account reputation metrics.
 *
 * CloudWatch alarm actions can only notify an SNS topic in the alarm's own
 * Region, so there is one alert topic per Region the estate touches, each with
 * the same e-mail subscriptions. The pipeline's metrics (and so the identity
 * alarms and the dashboard) live in the home Region.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DIMENSION_DOMAIN,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_PENDING_PUBLICATION_DAYS,
} from "../../actions/dkim-rotation/src/engine/config";

/** Early warning, below SES's account review at 5% (it may pause sending at 10%). */
export const BOUNCE_RATE_ALARM_THRESHOLD = 0.02;
/** Early warning, below SES's account review at 0.1% (it may pause sending at 0.5%). */
export const COMPLAINT_RATE_ALARM_THRESHOLD = 0.0005;
/** Slack beyond the DNS team's lead time before a pending publication pages someone. */
export const PENDING_PUBLICATION_SLACK_DAYS = 7;
/** The planner publishes once a day. */
export const DAY_SECONDS = 86_400;
/**
 * Two daily periods must breach before the expiry alarm fires: one delayed or
 * skipped scheduled run (GitHub does not guarantee schedule times) should not
 * page anyone, a stopped schedule should within about two days.
 */
export const EXPIRY_EVALUATION_DAYS = 2;

export interface MonitoredIdentity {
  domain: string;
  alertDays: number;
  dnsLeadDays: number;
}

export interface MonitoringArgs {
  /** Where the pipeline publishes its metrics; the first of `regions`. */
  homeRegion: string;
  /** Every Region with SES identities (for the reputation alarms). */
  regions: string[];
  providers: Record<string, aws.Provider>;
  namespace: string;
  identities: MonitoredIdentity[];
  alertEmails: string[];
  /** Prefix for alarm, topic and dashboard names, e.g. `ses-dkim-rotation-prod`. */
  namePrefix: string;
}

type MetricWidgetMetric = (string | Record<string, string>)[];

function metricWidget(
  title: string,
  region: string,
  metrics: MetricWidgetMetric[],
  stat: string,
  period: number,
  annotations: { label: string; value: number }[],
): Record<string, unknown> {
  return {
    type: "metric",
    width: 12,
    height: 6,
    properties: {
      title,
      region,
      view: "timeSeries",
      stacked: false,
      stat,
      period,
      metrics,
      annotations: { horizontal: annotations },
    },
  };
}

export class Monitoring extends pulumi.ComponentResource {
  /** Alert topic per Region; the home Region's is the stack output. */
  readonly topicArns: Record<string, pulumi.Output<string>> = {};
  readonly alarms: aws.cloudwatch.MetricAlarm[] = [];
  readonly dashboardName: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:Monitoring", name, {}, opts);
    const providerFor = (region: string): aws.Provider => {
      const provider = args.providers[region];
      if (!provider) throw new Error(`no AWS provider for Region ${region}`);
      return provider;
    };
    const regions = [args.homeRegion, ...args.regions.filter((r) => r !== args.homeRegion)];

    for (const region of regions) {
      const provider = providerFor(region);
      const topic = new aws.sns.Topic(
        `${name}-alerts-${region}`,
        { name: `${args.namePrefix}-alerts`, displayName: "SES DKIM rotation" },
        { parent: this, provider },
      );
      args.alertEmails.forEach((email, i) => {
        // Each address must confirm each Region's subscription once.
        new aws.sns.TopicSubscription(
          `${name}-alerts-${region}-email-${i}`,
          { topic: topic.arn, protocol: "email", endpoint: email },
          { parent: topic, provider },
        );
      });
      this.topicArns[region] = topic.arn;
    }

    const home = providerFor(args.homeRegion);
    const alarm = (
      logical: string,
      region: string,
      alarmArgs: Omit<aws.cloudwatch.MetricAlarmArgs, "alarmActions" | "okActions">,
    ): aws.cloudwatch.MetricAlarm => {
      const topicArn = this.topicArns[region]!;
      const created = new aws.cloudwatch.MetricAlarm(
        `${name}-${logical}`,
        { ...alarmArgs, alarmActions: [topicArn], okActions: [topicArn] },
        { parent: this, provider: region === args.homeRegion ? home : providerFor(region) },
      );
      this.alarms.push(created);
      return created;
    };

    for (const identity of args.identities) {
      const dimensions = { [METRIC_DIMENSION_DOMAIN]: identity.domain };
      alarm(`${identity.domain}-expiry`, args.homeRegion, {
        name: `${args.namePrefix}-${identity.domain}-days-until-expiry`,
        alarmDescription:
          `The active DKIM key of ${identity.domain} expires in under ${identity.alertDays} days, ` +
          `or the daily rotation run has stopped publishing (missing data counts as breaching: ` +
          `GitHub disables idle scheduled workflows). Check the dkim-rotate workflow.`,
        namespace: args.namespace,
        metricName: METRIC_DAYS_UNTIL_EXPIRY,
        dimensions,
        statistic: "Minimum",
        period: DAY_SECONDS,
        evaluationPeriods: EXPIRY_EVALUATION_DAYS,
        datapointsToAlarm: EXPIRY_EVALUATION_DAYS,
        comparisonOperator: "LessThanThreshold",
        threshold: identity.alertDays,
        treatMissingData: "breaching",
      });
      alarm(`${identity.domain}-dkim-status`, args.homeRegion, {
        name: `${args.namePrefix}-${identity.domain}-dkim-status-not-success`,
        alarmDescription:
          `SES reports a DKIM status other than SUCCESS for ${identity.domain} in at least one Region: ` +
          `mail may be going out unsigned. Check the identity in the SES console.`,
        namespace: args.namespace,
        metricName: METRIC_DKIM_STATUS_NOT_SUCCESS,
        dimensions,
        statistic: "Maximum",
        period: DAY_SECONDS,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        threshold: 1,
        // The expiry alarm already pages on missing data.
        treatMissingData: "notBreaching",
      });
      const pendingLimit = identity.dnsLeadDays + PENDING_PUBLICATION_SLACK_DAYS;
      alarm(`${identity.domain}-pending-publication`, args.homeRegion, {
        name: `${args.namePrefix}-${identity.domain}-pending-publication-days`,
        alarmDescription:
          `The new DKIM record of ${identity.domain} has waited more than ${pendingLimit} days ` +
          `(DNS lead time ${identity.dnsLeadDays} + ${PENDING_PUBLICATION_SLACK_DAYS}) to be served by every ` +
          `authoritative nameserver. Chase the DNS change request.`,
        namespace: args.namespace,
        metricName: METRIC_PENDING_PUBLICATION_DAYS,
        dimensions,
        statistic: "Maximum",
        period: DAY_SECONDS,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanThreshold",
        threshold: pendingLimit,
        treatMissingData: "notBreaching",
      });
    }

    for (const region of regions) {
      alarm(`bounce-rate-${region}`, region, {
        name: `${args.namePrefix}-ses-bounce-rate`,
        alarmDescription:
          `SES account bounce rate in ${region} is at or above ${BOUNCE_RATE_ALARM_THRESHOLD * 100}%; ` +
          `SES reviews the account at 5%. Failing DKIM is one cause: check the DKIM status alarms.`,
        namespace: "AWS/SES",
        metricName: "Reputation.BounceRate",
        statistic: "Maximum",
        period: 3600,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        threshold: BOUNCE_RATE_ALARM_THRESHOLD,
        // No sending, no data: not a problem in itself.
        treatMissingData: "notBreaching",
      });
      alarm(`complaint-rate-${region}`, region, {
        name: `${args.namePrefix}-ses-complaint-rate`,
        alarmDescription:
          `SES account complaint rate in ${region} is at or above ${COMPLAINT_RATE_ALARM_THRESHOLD * 100}%; ` +
          `SES reviews the account at 0.1%.`,
        namespace: "AWS/SES",
        metricName: "Reputation.ComplaintRate",
        statistic: "Maximum",
        period: 3600,
        evaluationPeriods: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        threshold: COMPLAINT_RATE_ALARM_THRESHOLD,
        treatMissingData: "notBreaching",
      });
    }

    const perDomain = (metric: string): MetricWidgetMetric[] =>
      args.identities.map((i) => [args.namespace, metric, METRIC_DIMENSION_DOMAIN, i.domain]);
    const distinct = (values: number[]) => [...new Set(values)].sort((a, b) => a - b);
    const staticWidgets: Record<string, unknown>[] = [
      metricWidget(
        "Days until DKIM key expiry",
        args.homeRegion,
        perDomain(METRIC_DAYS_UNTIL_EXPIRY),
        "Minimum",
        DAY_SECONDS,
        distinct(args.identities.map((i) => i.alertDays)).map((value) => ({
          label: `alert (${value} d)`,
          value,
        })),
      ),
      metricWidget(
        "SES DKIM status not SUCCESS (1 = problem)",
        args.homeRegion,
        perDomain(METRIC_DKIM_STATUS_NOT_SUCCESS),
        "Maximum",
        DAY_SECONDS,
        [{ label: "alarm", value: 1 }],
      ),
      metricWidget(
        "Days a new record has been waiting for DNS",
        args.homeRegion,
        perDomain(METRIC_PENDING_PUBLICATION_DAYS),
        "Maximum",
        DAY_SECONDS,
        distinct(args.identities.map((i) => i.dnsLeadDays + PENDING_PUBLICATION_SLACK_DAYS)).map(
          (value) => ({ label: `alarm (> ${value} d)`, value }),
        ),
      ),
      ...regions.flatMap((region) => [
        metricWidget(
          `SES bounce rate (${region})`,
          region,
          [["AWS/SES", "Reputation.BounceRate", { region }]],
          "Maximum",
          3600,
          [
            { label: "alarm (2%)", value: BOUNCE_RATE_ALARM_THRESHOLD },
            { label: "SES review (5%)", value: 0.05 },
          ],
        ),
        metricWidget(
          `SES complaint rate (${region})`,
          region,
          [["AWS/SES", "Reputation.ComplaintRate", { region }]],
          "Maximum",
          3600,
          [
            { label: "alarm (0.05%)", value: COMPLAINT_RATE_ALARM_THRESHOLD },
            { label: "SES review (0.1%)", value: 0.001 },
          ],
        ),
      ]),
    ];

    const dashboard = new aws.cloudwatch.Dashboard(
      `${name}-dashboard`,
      {
        dashboardName: `${args.namePrefix}`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 255),
        dashboardBody: pulumi.all(this.alarms.map((a) => a.arn)).apply((alarmArns) =>
          JSON.stringify({
            widgets: [
              {
                type: "alarm",
                width: 24,
                height: Math.max(3, Math.ceil(alarmArns.length / 4) + 2),
                properties: { title: "DKIM rotation and SES reputation alarms", alarms: alarmArns },
              },
              ...staticWidgets,
            ],
          }),
        ),
      },
      { parent: this, provider: home },
    );
    this.dashboardName = dashboard.dashboardName;

    this.registerOutputs({
      topicArns: this.topicArns,
      dashboardName: this.dashboardName,
      alarmArns: this.alarms.map((a) => a.arn),
    });
  }
}
