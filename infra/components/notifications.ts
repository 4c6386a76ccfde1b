/**
 * The one topic the pipeline tells people through: what it did, and what it
 * waits for (a DNS change, an approval). The plan/verify jobs (planner role)
 * and the gated jobs (activator role) publish with the message attribute
 * `audience` (String.Array of dns-team, escalation, approvers); each e-mail
 * subscription's filter policy picks its audience. A Slack channel (AWS
 * Chatbot) and an HTTPS webhook, when configured, get every message.
 *
 * The topic lives in the default Region under the configured name, so the
 * pipeline derives its ARN from the config alone (`notificationTopicArn`).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { NotificationsConfig } from "../../actions/dkim-rotation/src/engine/config";
import {
  audienceFilterPolicy,
  NOTIFICATION_AUDIENCES,
  notificationTopicPolicy,
  type AccountScope,
} from "./policies";

/** SNS's AWS managed key: publishers need no key grant, only the planner's Decrypt exception. */
export const SNS_MANAGED_KEY = "alias/aws/sns";

export interface NotificationsArgs {
  notifications: NotificationsConfig;
  account: pulumi.Output<AccountScope>;
  /** The roles that may publish. */
  plannerRoleArn: pulumi.Input<string>;
  activatorRoleArn: pulumi.Input<string>;
  /** An HTTPS endpoint that gets every message, from a Pulumi secret. */
  webhookUrl?: pulumi.Output<string>;
  /** Prefix for the Chatbot role and configuration names. */
  namePrefix: string;
  /** The default Region's provider. */
  provider: aws.Provider;
}

export class Notifications extends pulumi.ComponentResource {
  readonly topic: aws.sns.Topic;
  readonly topicArn: pulumi.Output<string>;
  readonly subscriptions: aws.sns.TopicSubscription[] = [];
  readonly chatbot?: aws.chatbot.SlackChannelConfiguration;

  constructor(name: string, args: NotificationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-dkim-rotation:index:Notifications", name, {}, opts);
    const childOpts = { parent: this, provider: args.provider };
    const settings = args.notifications;

    this.topic = new aws.sns.Topic(
      `${name}-topic`,
      {
        name: settings.topicName,
        displayName: "SES DKIM rotation",
        kmsMasterKeyId: SNS_MANAGED_KEY,
      },
      childOpts,
    );
    this.topicArn = this.topic.arn;

    new aws.sns.TopicPolicy(
      `${name}-topic-policy`,
      {
        arn: this.topic.arn,
        policy: pulumi
          .all([this.topic.arn, args.plannerRoleArn, args.activatorRoleArn])
          .apply(([topicArn, planner, activator]) =>
            JSON.stringify(
              notificationTopicPolicy({ topicArn, publisherRoleArns: [planner, activator] }),
            ),
          ),
      },
      childOpts,
    );

    const audiences: [string, string[]][] = [
      [NOTIFICATION_AUDIENCES.dnsTeam, settings.dnsTeamEmails],
      [NOTIFICATION_AUDIENCES.escalation, settings.escalationEmails],
      [NOTIFICATION_AUDIENCES.approvers, settings.approverEmails],
    ];
    for (const [audience, emails] of audiences) {
      emails.forEach((email, i) => {
        // Each address confirms its subscription once (SNS mails a link).
        this.subscriptions.push(
          new aws.sns.TopicSubscription(
            `${name}-${audience}-email-${i}`,
            {
              topic: this.topic.arn,
              protocol: "email",
              endpoint: email,
              filterPolicyScope: "MessageAttributes",
              filterPolicy: audienceFilterPolicy(audience),
            },
            { parent: this.topic, provider: args.provider },
          ),
        );
      });
    }

    if (args.webhookUrl) {
      // The URL often carries its own credential: it stays a secret in
      // state and in the preview, and is never printed in an error.
      const endpoint = pulumi.secret(
        args.webhookUrl.apply((url) => {
          if (!/^https:\/\/[^\s/]+/.test(url))
            throw new pulumi.RunError(
              "notificationWebhookUrl: must be an https:// URL (SNS HTTPS subscription)",
            );
          return url;
        }),
      );
      this.subscriptions.push(
        new aws.sns.TopicSubscription(
          `${name}-webhook`,
          { topic: this.topic.arn, protocol: "https", endpoint },
          { parent: this.topic, provider: args.provider },
        ),
      );
    }

    if (settings.chatbot) {
      // Chatbot only relays the topic's messages: its role needs no
      // permission, and the channel's guardrail denies everything, so no
      // Slack user can run AWS commands through it (AWS Chatbot guide,
      // "Understanding permissions" / channel guardrails:
      // https://docs.aws.amazon.com/chatbot/latest/adminguide/understanding-permissions.html).
      const role = new aws.iam.Role(
        `${name}-chatbot`,
        {
          name: `${args.namePrefix}-chatbot`,
          assumeRolePolicy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Effect: "Allow",
                Principal: { Service: "chatbot.amazonaws.com" },
                Action: "sts:AssumeRole",
              },
            ],
          }),
        },
        childOpts,
      );
      this.chatbot = new aws.chatbot.SlackChannelConfiguration(
        `${name}-slack`,
        {
          configurationName: `${args.namePrefix}-notifications`.slice(0, 128),
          iamRoleArn: role.arn,
          slackTeamId: settings.chatbot.slackTeamId,
          slackChannelId: settings.chatbot.slackChannelId,
          snsTopicArns: [this.topic.arn],
          guardrailPolicyArns: [
            args.account.apply((a) => `arn:${a.partition}:iam::aws:policy/AWSDenyAll`),
          ],
          loggingLevel: "ERROR",
        },
        childOpts,
      );
    }

    this.registerOutputs({ topicArn: this.topicArn });
  }
}
