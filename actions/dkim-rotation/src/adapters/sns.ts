/**
 * Notifications through SNS `Publish` to one topic. Who receives a message
 * is decided by the subscriptions' filter policies (infra/), on the
 * `audience` attribute: a String.Array, so one message can reach several
 * audiences. `event`, `domain` and `selector` are attributes too, for
 * filters and for whoever reads the raw message.
 */
import { PublishCommand, type SNSClient } from "@aws-sdk/client-sns";
import type { Notification, NotifierPort } from "../engine/ports";

function describe(err: unknown): string {
  if (err instanceof Error) {
    const text = `${err.name}: ${err.message}`;
    return text.replace(/\s+/g, " ").trim();
  }
  return String(err).replace(/\s+/g, " ").trim();
}

export class SnsNotifier implements NotifierPort {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async send(n: Notification): Promise<{ messageId: string }> {
    let messageId: string | undefined;
    try {
      const out = await this.client.send(
        new PublishCommand({
          TopicArn: this.topicArn,
          Subject: n.subject,
          Message: n.message,
          MessageAttributes: {
            audience: { DataType: "String.Array", StringValue: JSON.stringify(n.audience) },
            event: { DataType: "String", StringValue: n.event },
            domain: { DataType: "String", StringValue: n.domain },
            selector: { DataType: "String", StringValue: n.selector },
          },
        }),
      );
      messageId = out.MessageId;
    } catch (err) {
      throw new Error(
        `SNS Publish to ${this.topicArn} failed (${n.event} for ${n.selector}._domainkey.${n.domain}): ${describe(err)}`,
        { cause: err },
      );
    }
    if (!messageId)
      throw new Error(`SNS Publish to ${this.topicArn} answered without a MessageId (${n.event})`);
    return { messageId };
  }
}
