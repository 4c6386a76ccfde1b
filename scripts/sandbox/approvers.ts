/**
 * `--approval pull-request`: the approvers of the sandbox's adopting
 * repository (docs/design.md#approval-request-flow). They read each approval
 * request PR the verify job opens, and after a human delay two of them (code
 * owners of `approvals/`, neither the PR's author) submit APPROVE reviews on
 * its head commit through the GitHub fake's REST API, as people do in the
 * web UI; then one merges it. The merge is a push to main that the caller
 * delivers to the workflows.
 *
 * Like the people the docs address (docs/operations.md, "Runbook: approval
 * by pull request"), they do not approve a request whose evidence shows a
 * nameserver that does not serve the record: they wait for the next commit.
 */
import { parse } from "yaml";
import {
  approvalFileSchema,
  parseApprovalFilePath,
  type ApprovalKind,
} from "../../actions/dkim-rotation/src/engine/approval-files";
import type { GitHubFake } from "../github-fake";

export const APPROVERS = ["approver-a", "approver-b"];
export const APPROVERS_TEAM = "@example-jp/dkim-approvers";

/** One decision the approvers merged. */
export interface ApprovedRequest {
  number: number;
  kind: ApprovalKind;
  domain: string;
  selector: string;
  path: string;
  title: string;
  /** When the request was first seen open (the verify run that opened it). */
  openedAt: number;
  approvedAt: number;
  /** New commits the request got while open (stale evidence, then fresh again). */
  updates: number;
}

interface Watched {
  kind: ApprovalKind;
  domain: string;
  selector: string;
  approvedAt?: number;
  head: string;
  seenAt: number;
  openedAt: number;
  updates: number;
}

export class PullRequestApprovers {
  private readonly watched = new Map<number, Watched>();
  readonly merged: ApprovedRequest[] = [];

  constructor(
    private readonly o: {
      github: GitHubFake;
      delayMs: number;
      /** A timeline event (docs/design.md#sandbox-artifacts). */
      note: (e: {
        at: number;
        kind: "approval-requested" | "approved";
        domain: string;
        selector: string;
        detail: string;
      }) => void;
    },
  ) {}

  /** Note the open requests and their head commits (after every workflow run). */
  poll(now: number): void {
    for (const pr of this.open()) {
      const head = this.o.github.headOf(pr.head) ?? "";
      const w = this.watched.get(pr.number);
      if (!w) {
        const [, domain, selector, kind] =
          /^dkim-approval\/([^/]+)\/([^/]+)\.(activate|retire|rollback)$/.exec(pr.head) ?? [];
        if (!kind) continue;
        this.watched.set(pr.number, {
          kind: kind as ApprovalKind,
          domain: domain!,
          selector: selector!,
          head,
          seenAt: now,
          openedAt: now,
          updates: 0,
        });
        this.o.note({
          at: now,
          kind: "approval-requested",
          domain: domain!,
          selector: selector!,
          detail: `approval request #${pr.number} "${pr.title}" opened for review by ${APPROVERS_TEAM}`,
        });
      } else if (w.head !== head) {
        w.head = head;
        w.seenAt = now;
        w.updates++;
      }
    }
  }

  /** When the next review is due, or Infinity. */
  nextAt(): number {
    let next = Infinity;
    for (const pr of this.open()) {
      const w = this.watched.get(pr.number);
      if (w && this.servesEverywhere(pr.head, pr.number))
        next = Math.min(next, w.seenAt + this.o.delayMs);
    }
    return next;
  }

  /** Review and merge every request whose delay has passed. Returns the merged ones. */
  async reviewDue(now: number): Promise<ApprovedRequest[]> {
    const done: ApprovedRequest[] = [];
    for (const pr of this.open()) {
      const w = this.watched.get(pr.number);
      if (!w || w.seenAt + this.o.delayMs > now || !this.servesEverywhere(pr.head, pr.number))
        continue;
      const head = this.o.github.headOf(pr.head)!;
      for (const login of APPROVERS) {
        const res = await fetch(
          `${this.o.github.url}/repos/${this.o.github.owner}/${this.o.github.repo}/pulls/${pr.number}/reviews`,
          {
            method: "POST",
            headers: {
              authorization: `token ${this.o.github.personToken(login)}`,
              "content-type": "application/json",
              accept: "application/vnd.github+json",
            },
            body: JSON.stringify({
              event: "APPROVE",
              commit_id: head,
              body: "Checked the evidence",
            }),
          },
        );
        if (!res.ok)
          throw new Error(
            `sandbox: ${login} could not approve #${pr.number}: ${res.status} ${await res.text()}`,
          );
      }
      const path = this.o.github
        .listFiles(pr.head)
        .find((p) => parseApprovalFilePath(p) && !this.o.github.readFile(p))!;
      const named = parseApprovalFilePath(path)!;
      // The merge goes through GitHub's REST API with a person's token, so the
      // default branch's rules apply (405 until they pass), not the admin hook.
      const merge = await fetch(
        `${this.o.github.url}/repos/${this.o.github.owner}/${this.o.github.repo}/pulls/${pr.number}/merge`,
        {
          method: "PUT",
          headers: {
            authorization: `token ${this.o.github.personToken(APPROVERS[0]!)}`,
            "content-type": "application/json",
            accept: "application/vnd.github+json",
          },
          body: JSON.stringify({ sha: head, merge_method: "squash" }),
        },
      );
      if (!merge.ok)
        throw new Error(
          `sandbox: ${APPROVERS[0]} could not merge #${pr.number}: ${merge.status} ${await merge.text()}`,
        );
      w.approvedAt = now;
      const approved: ApprovedRequest = {
        number: pr.number,
        ...named,
        path,
        title: pr.title,
        openedAt: w.openedAt,
        approvedAt: now,
        updates: w.updates,
      };
      this.merged.push(approved);
      done.push(approved);
      this.o.note({
        at: now,
        kind: "approved",
        domain: named.domain,
        selector: named.selector,
        detail: `${APPROVERS.join(" and ")} approved #${pr.number} "${pr.title}"; merged`,
      });
    }
    return done;
  }

  /**
   * A rotation's approval PRs (its activation's, and the retirement of the
   * key it replaced) and the minutes from its activation request to the merge.
   */
  figuresFor(
    domain: string,
    to: string,
    from?: string,
  ): { approvalPrs: number; readyToApprovedMinutes?: number } {
    const mine = [...this.watched.values()].filter(
      (w) =>
        w.domain === domain &&
        ((w.kind === "activate" && w.selector === to) ||
          (w.kind === "retire" && w.selector === from)),
    );
    const activation = mine.find((w) => w.kind === "activate" && w.approvedAt !== undefined);
    return {
      approvalPrs: mine.length,
      ...(activation
        ? {
            readyToApprovedMinutes: Math.round(
              (activation.approvedAt! - activation.openedAt) / 60_000,
            ),
          }
        : {}),
    };
  }

  /** All requests: PRs, distinct decisions, merged. */
  totals(): { prs: number; decisions: number; merged: number } {
    const all = [...this.watched.values()];
    return {
      prs: all.length,
      decisions: new Set(all.map((w) => `${w.kind} ${w.domain} ${w.selector}`)).size,
      merged: all.filter((w) => w.approvedAt !== undefined).length,
    };
  }

  private open() {
    return this.o.github
      .listPulls()
      .filter((p) => p.state === "open" && p.head.startsWith("dkim-approval/"));
  }

  /** What the approvers check first: every nameserver in the evidence serves the record. */
  private servesEverywhere(branch: string, number: number): boolean {
    const path = this.o.github
      .listFiles(branch)
      .find((p) => parseApprovalFilePath(p) && !this.o.github.readFile(p));
    if (!path) return false;
    const file = approvalFileSchema.safeParse(parse(this.o.github.readFile(path, branch)!));
    if (!file.success) throw new Error(`sandbox: request #${number}: ${path} does not validate`);
    const ns = file.data.evidence.nameservers;
    return ns.every((n) => n.serves);
  }
}
