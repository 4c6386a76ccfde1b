/**
 * The sandbox's timeline: one event per lifecycle moment (PR opened, merged,
 * published, approval asked and given, swap, refusal, rollback, retirement,
 * failed and retried jobs). Each event is kept as data and rendered as the
 * one line stdout shows; a run writes both, `timeline.txt` and
 * `timeline.json`, to its output folder whether or not the lines were
 * printed (docs/design.md#sandbox-artifacts).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stamp } from "./report";

export type TimelineKind =
  /** The world's starting state, the publisher's set-up. */
  | "start"
  /** The operator adopted a legacy key. */
  | "adopted"
  | "pr-opened"
  /** A record PR merged (publication planned, or left to the publish job). */
  | "merged"
  /** A retirement PR merged (removal planned, or left to the retire job). */
  | "retirement-merged"
  /** Every authoritative server serves the selector. */
  | "published"
  /** No authoritative server serves it any longer. */
  | "removed"
  /** A gated job waits for the environment's reviewers. */
  | "approval-requested"
  | "approved"
  /** SES signs with the selector in every Region. */
  | "activated"
  | "refused"
  | "rolled-back"
  | "activation-failed"
  /** The retire job scheduled the old key's deletion. */
  | "key-deletion-scheduled"
  | "job-failed"
  /** A job that failed earlier concluded when it next ran. */
  | "retried"
  /** `--naive`: generated and swapped at once, or re-applied after FAILED. */
  | "naive-swap"
  | "naive-reapplied"
  /** A canary SES signed reached the receiving bucket and verified with the new selector (docs/design.md#canary). */
  | "canary-pass"
  /** The canary failed a check: the activation rolled back. */
  | "canary-failed"
  /** No canary was sent: SES did not reach SUCCESS with the key (the activation rolled back). */
  | "canary-not-run"
  /** The `reports` command skipped a DMARC aggregate report it could not read. */
  | "dmarc-skipped"
  /** The newest selector's failure share in receivers' reports passed the threshold. */
  | "dmarc-alarm";

export interface TimelineEvent {
  /** ISO 8601, simulated time. */
  time: string;
  domain: string | null;
  selector: string | null;
  /** The SES Regions the event concerns; empty for DNS and GitHub events. */
  regions: string[];
  kind: TimelineKind;
  /** The line's text after its time stamp. */
  detail: string;
}

export interface TimelineInput {
  at: Date | number;
  kind: TimelineKind;
  domain?: string;
  selector?: string;
  regions?: readonly string[];
  detail: string;
}

/** The line stdout shows for an event: `YYYY-MM-DD HH:MM <detail>`. */
export function timelineLine(e: TimelineEvent): string {
  return `${stamp(new Date(e.time))} ${e.detail}`;
}

export class Timeline {
  readonly events: TimelineEvent[] = [];

  /** `print` hears each event's line as it happens (stdout, unless `--json`). */
  constructor(private readonly print: (line: string) => void = () => {}) {}

  add(input: TimelineInput): void {
    const event: TimelineEvent = {
      time: new Date(input.at).toISOString(),
      domain: input.domain ?? null,
      selector: input.selector ?? null,
      regions: [...(input.regions ?? [])],
      kind: input.kind,
      detail: input.detail,
    };
    this.events.push(event);
    this.print(timelineLine(event));
  }

  /** `timeline.txt` (the lines) and `timeline.json` (the events) in `out`. */
  write(out: string): void {
    writeFileSync(
      join(out, "timeline.txt"),
      this.events.map((e) => `${timelineLine(e)}\n`).join(""),
    );
    writeFileSync(join(out, "timeline.json"), `${JSON.stringify(this.events, null, 2)}\n`);
  }
}
