/**
 * Notifications: which messages are due for a key, sent once each and
 * recorded in the key's `dkim:notified` tag, so a re-run after a crash sends
 * nothing it has recorded (docs/design.md#notifications). The engine decides
 * what is due and hands the facts to the front end's text (plain text for
 * SNS); the messages carry public keys only.
 *
 * Sending and recording are two services (SNS, Secrets Manager): a crash
 * after SNS accepted a message and before its tag was written repeats that
 * one message on the next run. Every message carries its `event-id`
 * (`domain/selector/event`) so a receiver can drop the repeat.
 */
import { DAY_MS } from "./clock";
import {
  type IdentityConfig,
  type PublisherKind,
  gatedEnvironmentOf,
  parseNameserver,
  publisherOf,
} from "./config";
import type { EngineContext, RotationInfo } from "./engine-context";
import type { Candidate } from "./lifecycle";
import type { DnsVerification, NotificationAudience, NotifierPort, StoredKey } from "./ports";

/** The events, in the order a rotation meets them. */
export type NoticeKind =
  | "pr-opened"
  | "merged"
  | "reminder"
  | "overdue"
  | "published"
  | "awaiting-approval"
  | "activated"
  | "rolled-back"
  /** The activation failed and no way back verified either: SES may not be signing. */
  | "activation-failed"
  | "retired"
  /** Receivers' DMARC reports show the active selector failing above the threshold (dmarc.ts). */
  | "dmarc-failures";

/** Who gets each event (infra/ subscribes each list with an `audience` filter policy). */
export const NOTICE_AUDIENCE: Record<NoticeKind, NotificationAudience[]> = {
  "pr-opened": ["dns-team"],
  merged: ["dns-team"],
  reminder: ["dns-team"],
  overdue: ["dns-team", "escalation"],
  published: ["dns-team"],
  "awaiting-approval": ["approvers"],
  activated: ["approvers", "dns-team"],
  "rolled-back": ["approvers", "dns-team", "escalation"],
  "activation-failed": ["approvers", "dns-team", "escalation"],
  retired: ["approvers", "dns-team"],
  "dmarc-failures": ["approvers", "dns-team", "escalation"],
};

/** Everything a message says, as facts; the front end words it (NoticeText). */
export interface NoticeFacts {
  /** The ledger entry: the kind, or `reminder-<days>`. */
  event: string;
  kind: NoticeKind;
  audience: NotificationAudience[];
  identity: IdentityConfig;
  selector: string;
  /** `<selector>._domainkey.<domain>` */
  recordName: string;
  publisher: PublisherKind;
  now: Date;
  /** The gated environment whose reviewers approve the swap. */
  environment: string;
  /** The record and its dates, for the DNS team's events. */
  rotation?: RotationInfo;
  pullRequest?: { number?: number; url?: string };
  /** A reminder's days before publish-by; overdue's days after it. */
  days?: number;
  dns?: DnsVerification;
  /** What happened, in the command's words (activation, rollback, retirement). */
  detail?: string;
}

export type NoticeText = (facts: NoticeFacts) => { subject: string; message: string };

/** What a front end hands the engine to send notifications; none means none are sent. */
export interface Notices {
  notifier: NotifierPort;
  text: NoticeText;
  /** Days before publish-by that a reminder goes out (config notifications.reminderDays). */
  reminderDays: number[];
}

export type NoticeResult = "sent" | "already-sent" | "off";

/**
 * Send `facts` unless the key's ledger already holds its event, then record
 * it. `key.notified` is updated in place so later events of the same run see
 * it.
 */
export async function sendOnce(
  ctx: EngineContext,
  key: StoredKey,
  facts: Omit<NoticeFacts, "audience" | "now" | "environment" | "publisher" | "recordName"> & {
    audience?: NotificationAudience[];
  },
  /** Events to record with this one without a message of their own (overtaken reminders). */
  alsoRecord: string[] = [],
): Promise<NoticeResult> {
  const notices = ctx.notices;
  if (!notices) return "off";
  const sent = key.notified ?? [];
  if (sent.includes(facts.event)) return "already-sent";
  const full: NoticeFacts = {
    ...facts,
    audience: facts.audience ?? NOTICE_AUDIENCE[facts.kind],
    now: ctx.clock.now(),
    environment: gatedEnvironmentOf(ctx.config),
    publisher: publisherOf(facts.identity),
    recordName: `${facts.selector}._domainkey.${facts.identity.domain}`,
  };
  const { subject, message } = notices.text(full);
  const { messageId } = await notices.notifier.send({
    event: full.event,
    domain: full.identity.domain,
    selector: full.selector,
    audience: full.audience,
    subject,
    message,
  });
  const events = [...sent, ...alsoRecord.filter((e) => !sent.includes(e)), facts.event];
  await ctx.keys.markNotified(key.domain, key.selector, events);
  key.notified = events;
  ctx.log.info(
    `${key.domain}: notified ${full.audience.join(", ")}: ${facts.event} (${messageId})`,
  );
  return "sent";
}

/**
 * The publication events due for a candidate whose record is on main but not
 * yet served everywhere: `merged` once, then the latest reminder whose day has
 * come (earlier ones it overtook are recorded without a message), then
 * `overdue` once publish-by has passed.
 */
export function publicationEventsDue(
  candidate: Candidate,
  publishBy: Date,
  reminderDays: number[],
  now: Date,
): { event: string; kind: NoticeKind; days?: number; skip?: string[] }[] {
  const sent = new Set(candidate.key.notified ?? []);
  const due: { event: string; kind: NoticeKind; days?: number; skip?: string[] }[] = [];
  // A PR merged before its message went out: `merged` says all it would have.
  if (!sent.has("merged"))
    due.push({
      event: "merged",
      kind: "merged",
      ...(sent.has("pr-opened") ? {} : { skip: ["pr-opened"] }),
    });
  const left = publishBy.getTime() - now.getTime();
  if (left <= 0) {
    if (!sent.has("overdue"))
      due.push({ event: "overdue", kind: "overdue", days: Math.floor(-left / DAY_MS) });
    return due;
  }
  const reached = [...new Set(reminderDays)]
    .filter((d) => left <= d * DAY_MS)
    .sort((a, b) => a - b)
    .map((d) => `reminder-${d}`);
  // `reached[0]` is the nearest day; the others were overtaken (a run did not happen that day).
  if (reached.length && !sent.has(reached[0]!)) {
    const days = Number(reached[0]!.slice("reminder-".length));
    due.push({
      event: reached[0]!,
      kind: "reminder",
      days,
      skip: reached.slice(1).filter((e) => !sent.has(e)),
    });
  }
  return due;
}

/** `dig` commands the DNS team can paste, one per authoritative server. */
export function digCommands(recordName: string, nameservers: string[]): string[] {
  return nameservers.map((ns) => {
    const parsed = parseNameserver(ns);
    if ("problem" in parsed) return `dig +short TXT ${recordName} @${ns}`;
    const port = parsed.port === 53 ? "" : ` -p ${parsed.port}`;
    return `dig +short TXT ${recordName} @${parsed.host}${port}`;
  });
}
