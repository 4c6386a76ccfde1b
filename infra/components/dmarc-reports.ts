/**
 * Production proof from receivers' DMARC aggregate reports
 * (docs/design.md#dmarc-aggregate-reports): the `rua` receipt rule storing
 * reports under `dmarcReports.prefix` of the receiving bucket, the reports
 * role (main branch only, like the planner; its policy in policies.ts reads
 * that prefix and nothing else in S3), one alarm per domain on the newest
 * selector's failure share, and a dashboard with a series per selector.
 *
 * The bucket itself (SSE-KMS, the policy admitting only SES for this account
 * and rule, lifecycle expiry) and the active rule set are shared with the
 * canary and made there; this component names them.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  METRIC_DIMENSION_DOMAIN,
  METRIC_DIMENSION_SELECTOR,
  METRIC_DMARC_DKIM_FAIL,
  METRIC_DMARC_DKIM_PASS,
  METRIC_DMARC_NEWEST_FAILURE_SHARE,
  type DmarcReportsConfig,
} from "../../actions/dkim-rotation/src/engine/config";
import { githubTrustPolicy, reportsPolicy, type RolePolicyScope } from "./policies";
import { DAY_SECONDS } from "./monitoring";

export interface DmarcReportsArgs {
  reports: DmarcReportsConfig;
  domains: string[];
  namespace: string;
  namePrefix: string;
  /** The OIDC provider and the `sub`s the planner role trusts (main branch, pinned or not). */
  providerArn: pulumi.Input<string>;
  subjects: pulumi.Input<string[]>;
  scope: pulumi.Input<RolePolicyScope>;
  /** The home Region's alert topic. */
  alarmTopicArn: pulumi.Input<string>;
  home: aws.Provider;
  homeRegion: string;
  /** A provider in `reports.region`, where SES receives. */
  receiving: aws.Provider;
  /**
   * With `ruaAddress`: the canary's receiving setup the rua rule joins (its
   * active rule set, its bucket's policy that admits the rule, its KMS key);
   * the stack file's validation makes them one (ruaReceivingProblem).
   */
  canary?: { ruleSet: pulumi.Input<string>; bucketPolicy: aws.s3.BucketPolicy };
  /** The receiving bucket's KMS key (SSE-KMS): the reports role decrypts and marks through S3 only. */
  receivingKeyArn?: pulumi.Input<string>;
}

/** The rua receipt rule's name (the canary's bucket policy and KMS key name it). */
export function ruaRuleName(namePrefix: string): string {
  return `${namePrefix}-dmarc-rua`.slice(0, 64);
}

export class DmarcReports extends pulumi.ComponentResource {
  readonly role: aws.iam.Role;
  readonly alarms: aws.cloudwatch.MetricAlarm[] = [];
  readonly dashboardName: pulumi.Output<string>;
  readonly rule?: aws.ses.ReceiptRule;

  constructor(name: string, args: DmarcReportsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:DmarcReports", name, {}, opts);
    const home = { parent: this, provider: args.home };
    const r = args.reports;

    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        name: `${args.namePrefix}-reports`.slice(0, 64),
        description: "Reads DMARC aggregate reports; tags when reports last saw each selector",
        assumeRolePolicy: pulumi
          .all([args.providerArn, args.subjects])
          .apply(([arn, sub]) => JSON.stringify(githubTrustPolicy(arn, sub))),
        maxSessionDuration: 3600,
      },
      home,
    );
    new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        role: this.role.name,
        name: "dkim-reports",
        policy: pulumi.all([args.scope, args.receivingKeyArn]).apply(([s, keyArn]) =>
          JSON.stringify(
            reportsPolicy({
              ...s,
              reportsBucket: r.bucket,
              reportsPrefix: r.prefix,
              ...(keyArn ? { receivingKey: { arn: keyArn, region: r.region } } : {}),
            }),
          ),
        ),
      },
      home,
    );

    if (r.ruaAddress && args.canary) {
      // SES stores each received message whole under the prefix (the S3
      // action; docs/design.md#dmarc-aggregate-reports).
      this.rule = new aws.ses.ReceiptRule(
        `${name}-rua`,
        {
          name: ruaRuleName(args.namePrefix),
          ruleSetName: args.canary.ruleSet,
          recipients: [r.ruaAddress],
          enabled: true,
          scanEnabled: true,
          tlsPolicy: "Optional",
          s3Actions: [{ bucketName: r.bucket, objectKeyPrefix: r.prefix, position: 1 }],
        },
        // SES checks at creation that it may write to the bucket: the policy first.
        { parent: this, provider: args.receiving, dependsOn: [args.canary.bucketPolicy] },
      );
    }

    for (const domain of args.domains) {
      this.alarms.push(
        new aws.cloudwatch.MetricAlarm(
          `${name}-${domain}-failures`,
          {
            name: `${args.namePrefix}-${domain}-dmarc-dkim-failures`.slice(0, 255),
            alarmDescription: `Receivers' DMARC reports: ${domain}'s newest selector fails DKIM above ${(r.failureShareAlarm * 100).toFixed(1)}% (dkim reports)`,
            namespace: args.namespace,
            metricName: METRIC_DMARC_NEWEST_FAILURE_SHARE,
            dimensions: { [METRIC_DIMENSION_DOMAIN]: domain },
            statistic: "Maximum",
            period: DAY_SECONDS,
            evaluationPeriods: 1,
            comparisonOperator: "GreaterThanThreshold",
            threshold: r.failureShareAlarm,
            // No reports is not a failure: the retirement gate says when data is missing.
            treatMissingData: "notBreaching",
            alarmActions: [args.alarmTopicArn],
            okActions: [args.alarmTopicArn],
          },
          home,
        ),
      );
    }

    const series = (metric: string, domain: string, label: string) => ({
      expression: `SEARCH('{${args.namespace},${METRIC_DIMENSION_DOMAIN},${METRIC_DIMENSION_SELECTOR}} MetricName="${metric}" ${METRIC_DIMENSION_DOMAIN}="${domain}"', 'Sum', ${DAY_SECONDS})`,
      label,
      id: `${label}${args.domains.indexOf(domain)}`,
    });
    const dashboard = new aws.cloudwatch.Dashboard(
      `${name}-dashboard`,
      {
        dashboardName: `${args.namePrefix}-dmarc`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 255),
        dashboardBody: JSON.stringify({
          widgets: args.domains.flatMap((domain) =>
            [
              [METRIC_DMARC_DKIM_PASS, "pass"],
              [METRIC_DMARC_DKIM_FAIL, "fail"],
            ].map(([metric, label]) => ({
              type: "metric",
              width: 12,
              height: 6,
              properties: {
                title: `${domain}: DKIM ${label} per selector (DMARC reports)`,
                region: args.homeRegion,
                view: "timeSeries",
                stat: "Sum",
                period: DAY_SECONDS,
                metrics: [[series(metric!, domain, label!)]],
              },
            })),
          ),
        }),
      },
      home,
    );
    this.dashboardName = dashboard.dashboardName;
    this.registerOutputs({ roleArn: this.role.arn, dashboardName: this.dashboardName });
  }
}
