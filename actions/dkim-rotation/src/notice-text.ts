/**
 * The words of every notification (docs/operations.md#notifications): plain
 * text, because SNS delivers the same message to e-mail, AWS Chatbot and a
 * webhook. Never a private key, and never a record value either: a message
 * names the pull request, the record file on main and the key fingerprint,
 * and the DNS team publishes from the repository, so a forged notice (any
 * role that may publish to the topic could send one) carries nothing the
 * team would put into DNS (docs/design.md#notifications).
 */
import { isoDate } from "./engine/clock";
import { describeRollback } from "./engine/lifecycle";
import { digCommands, type NoticeFacts } from "./engine/notify";
import { rotationBranch } from "./adapters/branches";

/** SNS Subject: ASCII, no line breaks, under 100 characters (SNS Publish API reference). */
export const SUBJECT_MAX = 99;

export function subjectLine(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, "?");
  return ascii.length <= SUBJECT_MAX ? ascii : `${ascii.slice(0, SUBJECT_MAX - 3)}...`;
}

function publishedBy(f: NoticeFacts): string {
  switch (f.publisher) {
    case "manual":
      return "the DNS team, by hand (publisher: manual)";
    case "rfc2136":
      return "the pipeline, by an RFC 2136 update to the primary, right after the merge (publisher: rfc2136)";
    case "route53":
      return "the pipeline, in Route 53, right after the merge (publisher: route53)";
  }
}

/** The one place the record's value lives: the file on main, which the DNS reviewers merged. */
function recordLines(f: NoticeFacts): string[] {
  const r = f.rotation;
  if (!r) return [`Record:      ${f.recordName}  TXT`];
  return [
    `Record:      ${f.recordName}  TXT  (TTL ${f.identity.recordTtl})`,
    `File:        ${r.path} on main`,
    `Key:         ${r.fingerprint} (the file's "; fingerprint:" line)`,
    `Publish by:  ${isoDate(r.publishBy)}`,
    `Published by ${publishedBy(f)}`,
    f.publisher === "manual"
      ? "Publish the value from that file on main, never from a message: this one carries none on purpose."
      : "Nothing to publish by hand: the pipeline publishes from main. A message asking you to publish a value did not come from it.",
  ];
}

/** Which pull request: its link when known, else the one from the rotation's fixed branch. */
function prLines(f: NoticeFacts): string[] {
  if (f.pullRequest?.url) return [`Pull request: ${f.pullRequest.url}`];
  if (f.pullRequest?.number) return [`Pull request: #${f.pullRequest.number}`];
  if (!f.rotation) return [];
  return [
    `Pull request: the one from branch ${rotationBranch(f.identity.domain, f.selector)} that added ${f.rotation.path}`,
  ];
}

function digLines(f: NoticeFacts): string[] {
  const servers = f.rotation?.nameservers ?? [];
  if (!servers.length) return [];
  return [
    "Check every authoritative nameserver:",
    ...digCommands(f.recordName, servers).map((c) => `  ${c}`),
  ];
}

function dnsLines(f: NoticeFacts): string[] {
  if (!f.dns?.servers.length) return [];
  return [
    "What each authoritative nameserver serves now:",
    ...f.dns.servers.map(
      (s) => `  ${s.server}: ${s.status}${s.status === "ok" ? "" : ` (${s.detail})`}`,
    ),
  ];
}

/** A record on main that is not served everywhere yet: the record, the answers, the checks. */
function stillPending(f: NoticeFacts): string[] {
  return ["", ...prLines(f), ...recordLines(f), "", ...dnsLines(f), "", ...digLines(f)];
}

function render(f: NoticeFacts): { subject: string; lines: string[] } {
  const d = f.identity.domain;
  const sel = f.selector;
  const publishBy = f.rotation ? isoDate(f.rotation.publishBy) : "?";
  switch (f.kind) {
    case "pr-opened":
      return {
        subject: `[DKIM] ${d}: review ${sel}, publish by ${publishBy}`,
        lines: [
          `A new DKIM key for ${d} needs its DNS record.`,
          f.publisher === "manual"
            ? "Please review and merge the pull request, then publish the record file from main on every authoritative nameserver."
            : "Please review and merge the pull request; the pipeline publishes the record itself after the merge.",
          "",
          ...prLines(f),
          ...recordLines(f),
          "",
          ...digLines(f),
          "",
          `Mail keeps its current key until every nameserver serves this record and an approver approves the swap in ${f.environment}.`,
        ],
      };
    case "merged":
      return {
        subject: `[DKIM] ${d}: ${sel} merged, ${f.publisher === "manual" ? `publish by ${publishBy}` : `publishing by ${f.publisher}`}`,
        lines: [
          `The record for ${sel} is on main.`,
          f.publisher === "manual"
            ? `Please publish it from the file on main on every authoritative nameserver by ${publishBy}.`
            : `The pipeline publishes it now by ${f.publisher}, then verifies every authoritative nameserver.`,
          "",
          ...prLines(f),
          ...recordLines(f),
          "",
          ...digLines(f),
          ...(f.dns ? ["", ...dnsLines(f)] : []),
        ],
      };
    case "reminder":
      return {
        subject: `[DKIM] Reminder: publish ${sel} for ${d} by ${publishBy} (${f.days} days left)`,
        lines: [
          `Reminder: the record for ${sel} is merged but not yet served by every authoritative nameserver.`,
          `Publish-by is ${publishBy}, ${f.days} day(s) from now.`,
          ...stillPending(f),
        ],
      };
    case "overdue":
      return {
        subject: `[DKIM] OVERDUE: ${sel} for ${d} was due ${publishBy}`,
        lines: [
          `Escalation: the record for ${sel} was due on every authoritative nameserver by ${publishBy} and is not served everywhere${f.days ? ` (${f.days} day(s) late)` : ""}.`,
          `Nothing is broken yet: mail still signs with the current key. The current key's expiry alert fires if this stays unpublished.`,
          ...stillPending(f),
        ],
      };
    case "published":
      return {
        subject: `[DKIM] ${d}: ${sel} is served by every nameserver`,
        lines: [
          `Every authoritative nameserver of ${d} serves ${f.recordName} with the stored public key.`,
          "",
          ...dnsLines(f),
          "",
          `Next: an approver approves the swap in ${f.environment}. Please leave the record in place.`,
        ],
      };
    case "awaiting-approval":
      return {
        subject: `[DKIM] Approval needed: activate ${sel} for ${d}`,
        lines: [
          `The record for ${sel} is served by every authoritative nameserver of ${d}.`,
          `A job in the ${f.environment} environment waits for your approval to swap SES to ${sel} in ${f.identity.regions.join(", ")}.`,
          `Before the swap it verifies every nameserver again and a real signature against each one.`,
          ...(f.rotation
            ? [`If SES does not verify the key: ${describeRollback(f.rotation.rollback)}.`]
            : []),
          "",
          ...dnsLines(f),
        ],
      };
    case "activated":
      return {
        subject: `[DKIM] ${d} now signs with ${sel}`,
        lines: [
          `${f.detail ?? `SES signs with ${sel}`}.`,
          `Any previous record stays published for the grace period (${f.identity.graceDays} days); its retirement is a pull request of its own.`,
        ],
      };
    case "rolled-back":
      return {
        subject: `[DKIM] ROLLED BACK: ${d} ${sel}`,
        lines: [
          `The activation of ${sel} for ${d} did not verify and was rolled back.`,
          f.detail ?? "",
          "",
          "Mail keeps signing with the key it went back to. Look at the job's summary before trying again.",
        ],
      };
    case "activation-failed":
      return {
        subject: `[DKIM] ACTIVATION FAILED: ${d} ${sel}, no way back verified`,
        lines: [
          `The activation of ${sel} for ${d} did not verify, and going back did not verify either: SES may not be signing ${d}'s mail with its own key.`,
          f.detail ?? "",
          "",
          "Act now: read the job's summary and follow docs/operations.md (Runbook: emergency rollback).",
        ],
      };
    case "retired":
      return {
        subject: `[DKIM] ${d}: retired ${sel}`,
        lines: [`${sel} is retired: ${f.detail ?? "its record is gone from main"}.`],
      };
    case "dmarc-failures":
      return {
        subject: `[DKIM] DMARC REPORTS: ${d} ${sel} fails at receivers`,
        lines: [
          `${f.detail ?? `Receivers report DKIM failures for ${sel}`}.`,
          "",
          `Check that ${f.recordName} is served unchanged by every nameserver and that receivers' caches have its record; the previous selector stays published for the grace period, so a rollback is still possible (docs/operations.md, Runbook: emergency rollback).`,
        ],
      };
  }
}

/** The front ends' NoticeText: subject and plain-text body, ending with the event id. */
export function noticeText(facts: NoticeFacts): { subject: string; message: string } {
  const { subject, lines } = render(facts);
  const body = [...lines, "", `Event: ${facts.identity.domain}/${facts.selector}/${facts.event}`];
  return { subject: subjectLine(subject), message: body.join("\n").replace(/\n{3,}/g, "\n\n") };
}
