/**
 * Approval request PRs (github.approval: pull-request;
 * docs/design.md#approval-request-flow). One PR per decision, from the bot
 * branch `dkim-approval/<domain>/<selector>.<kind>`, adding exactly the
 * approvals file `approvals/<domain>/<selector>.<kind>.yml`
 * (engine/approval-files.ts, the one derivation of both).
 *
 * - A request opens only when no other request of the domain is open (a
 *   rollback waits only for another rollback: it must never queue behind an
 *   activation), and not when its file is already on the default branch
 *   (approved and merged: the gated job of that push carries it out).
 * - An open request whose file no longer says what the world says (a
 *   nameserver stopped serving) gets a new commit on its branch and a new
 *   body. GitHub's ruleset, not this code, then dismisses the approvals it had
 *   (`dismiss_stale_reviews_on_push`, `require_last_push_approval`).
 * - On a scheduled run a request closed without merging (rejected) is not
 *   opened again; a push or a manual run asks again.
 */
import type { Octokit } from "@octokit/rest";
import {
  APPROVAL_VALIDITY_DAYS,
  approvalBranch,
  approvalFilePath,
  parseApprovalFilePath,
  type ApprovalFile,
  type ApprovalKind,
} from "../engine/approval-files";
import {
  approvalTitle,
  readApprovalFile,
  renderApprovalFile,
  sameDecision,
} from "../engine/approval-request";
import { renderApprovalPrBody } from "../pr-body";
import { codeownersFor, GitHubApiError } from "./github";

export interface ApprovalRequestsOptions {
  owner: string;
  repo: string;
  /** The default branch the requests target; `main` by default. */
  base?: string;
  /** CODEOWNERS text: the approvals file's owners are named in the body as the approvers. */
  codeowners?: string;
  requiredApprovals: number;
}

export interface OpenRequest {
  number: number;
  url: string;
  branch: string;
  domain: string;
  selector: string;
  kind: ApprovalKind;
  body: string;
}

export type RequestOutcome =
  | { action: "opened" | "updated" | "unchanged"; number: number; url: string }
  | { action: "held"; reason: string };

const BRANCH = /^dkim-approval\/([^/]+)\/([^/]+)\.(activate|retire|rollback)$/;

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status;
  return typeof s === "number" ? s : undefined;
}

export class GitHubApprovalRequests {
  private readonly base: string;
  private openCache?: OpenRequest[];

  constructor(
    private readonly octokit: Octokit,
    private readonly opts: ApprovalRequestsOptions,
  ) {
    this.base = opts.base ?? "main";
  }

  /** The code owners of a decision's file: who can approve it. */
  approvers(path: string): string[] {
    const o = codeownersFor(path, this.opts.codeowners ?? "");
    return [...o.teams.map((t) => `@${this.opts.owner}/${t}`), ...o.users.map((u) => `@${u}`)];
  }

  /** Open requests of this repository (not from forks), oldest first; listed once per run. */
  async open(): Promise<OpenRequest[]> {
    if (this.openCache) return this.openCache;
    const full = `${this.opts.owner}/${this.opts.repo}`.toLowerCase();
    const pulls = await this.call("listing open pull requests", full, () =>
      this.octokit.paginate(this.octokit.rest.pulls.list, {
        owner: this.opts.owner,
        repo: this.opts.repo,
        state: "open",
        base: this.base,
        per_page: 100,
      }),
    );
    this.openCache = pulls
      .flatMap((p) => {
        const m = BRANCH.exec(p.head.ref);
        if (!m || p.head.repo?.full_name?.toLowerCase() !== full) return [];
        return [
          {
            number: p.number,
            url: p.html_url,
            branch: p.head.ref,
            domain: m[1]!,
            selector: m[2]!,
            kind: m[3] as ApprovalKind,
            body: p.body ?? "",
          },
        ];
      })
      .sort((a, b) => a.number - b.number);
    return this.openCache;
  }

  /**
   * Open the request for `file`, or bring its open PR up to date. `event` is
   * the workflow's event: a scheduled run does not ask again after a rejection.
   */
  async request(file: ApprovalFile, event: string): Promise<RequestOutcome> {
    const { domain, selector, kind } = file;
    const branch = approvalBranch(domain, selector, kind);
    const path = approvalFilePath(domain, selector, kind);
    const open = await this.open();
    const mine = open.find((p) => p.branch === branch);
    if (mine) return this.refresh(mine, file, path);
    // One request per decision, and per domain at a time: approvers answer one question.
    const other = open.find(
      (p) => p.domain === domain && (kind !== "rollback" || p.kind === "rollback"),
    );
    if (other)
      return {
        action: "held",
        reason: `request #${other.number} (${other.kind} ${other.selector}) is still open; not asking about ${kind} ${selector} until it is merged or closed`,
      };
    if (await this.fileSha(path, this.base, domain))
      return {
        action: "held",
        reason: `${path} is already on ${this.base}: approved; the gated job of that merge's push carries it out, and the hourly verify offers it again for ${APPROVAL_VALIDITY_DAYS} days after the merge while it stays ready`,
      };
    if (event === "schedule") {
      const rejected = await this.lastRejected(branch, domain);
      if (rejected !== undefined)
        return {
          action: "held",
          reason: `request #${rejected} was closed without merging; asked again after a new merge, a new key, or a manual run of the workflow`,
        };
    }
    await this.writeFile(branch, path, file, domain, true);
    const res = await this.call("creating pull request", `${domain} (${branch})`, () =>
      this.octokit.rest.pulls.create({
        owner: this.opts.owner,
        repo: this.opts.repo,
        head: branch,
        base: this.base,
        title: approvalTitle(kind, domain, selector),
        body: this.body(file, path),
        maintainer_can_modify: false,
      }),
    );
    const opened: OpenRequest = {
      number: res.data.number,
      url: res.data.html_url,
      branch,
      domain,
      selector,
      kind,
      body: res.data.body ?? "",
    };
    this.openCache?.push(opened);
    return { action: "opened", number: opened.number, url: opened.url };
  }

  /**
   * The decisions the commit `sha` adds to the default branch: the approvals
   * files that are `added` between its first parent and it (a merge's or a
   * squash's commit). What the gated job carries out is read from GitHub, not
   * from the workspace or the event payload.
   */
  async addedBy(sha: string): Promise<ApprovalFile[]> {
    const input = `commit ${sha.slice(0, 12)}`;
    const commit = await this.call("reading the pushed commit", input, () =>
      this.octokit.rest.git.getCommit({
        owner: this.opts.owner,
        repo: this.opts.repo,
        commit_sha: sha,
      }),
    );
    const parent = commit.data.parents[0]?.sha;
    if (!parent) return [];
    const diff = await this.call("comparing the pushed commit with its parent", input, () =>
      this.octokit.rest.repos.compareCommitsWithBasehead({
        owner: this.opts.owner,
        repo: this.opts.repo,
        basehead: `${parent}...${sha}`,
        per_page: 100,
      }),
    );
    const out: ApprovalFile[] = [];
    for (const f of diff.data.files ?? []) {
      const named = parseApprovalFilePath(f.filename);
      if (!named || f.status !== "added") continue;
      const text = await this.text(f.filename, sha, named.domain);
      const file = text === undefined ? undefined : readApprovalFile(text);
      // The file must say what its path says; anything else is no decision.
      if (
        !file ||
        file.domain !== named.domain ||
        file.selector !== named.selector ||
        file.kind !== named.kind
      )
        throw new GitHubApiError("reading the approvals file", `${f.filename} at ${input}`, {
          status: 422,
          message: `${f.filename} does not validate as an approvals file for ${named.kind} ${named.selector} of ${named.domain}`,
        });
      out.push(file);
    }
    return out;
  }

  /**
   * When the decision's approvals file reached the default branch: the date
   * of the last commit that touched it there (the merge the gate reads back),
   * or none when it is not there.
   */
  async mergedAt(path: string, domain: string): Promise<Date | undefined> {
    const commits = await this.call(
      `reading the history of ${path}`,
      domain,
      async () =>
        (
          await this.octokit.rest.repos.listCommits({
            owner: this.opts.owner,
            repo: this.opts.repo,
            sha: this.base,
            path,
            per_page: 1,
          })
        ).data,
    );
    const at = commits[0]?.commit.committer?.date;
    return at ? new Date(at) : undefined;
  }

  // ------------------------------------------------------------------ helpers

  private body(file: ApprovalFile, path: string): string {
    return renderApprovalPrBody({
      file,
      path,
      approvers: this.approvers(path),
      requiredApprovals: this.opts.requiredApprovals,
    });
  }

  /** An open request: a new commit and body only when the decision or its evidence changed. */
  private async refresh(mine: OpenRequest, file: ApprovalFile, path: string) {
    const text = await this.text(path, mine.branch, file.domain);
    const onBranch = text === undefined ? undefined : readApprovalFile(text);
    if (onBranch && sameDecision(onBranch, file))
      return { action: "unchanged" as const, number: mine.number, url: mine.url };
    await this.writeFile(mine.branch, path, file, file.domain, false);
    await this.call(
      `updating pull request #${mine.number}`,
      `${file.domain} (${mine.branch})`,
      () =>
        this.octokit.rest.pulls.update({
          owner: this.opts.owner,
          repo: this.opts.repo,
          pull_number: mine.number,
          title: approvalTitle(file.kind, file.domain, file.selector),
          body: this.body(file, path),
        }),
    );
    return { action: "updated" as const, number: mine.number, url: mine.url };
  }

  /**
   * Write the file on the branch: a new branch starts at the default branch's
   * head (an earlier run's leftover branch is reset there first, so it holds
   * only this file); an open request's branch gets one more commit.
   */
  private async writeFile(
    branch: string,
    path: string,
    file: ApprovalFile,
    domain: string,
    fresh: boolean,
  ): Promise<void> {
    const input = `${domain} (${branch})`;
    if (fresh) {
      const head = await this.call("reading the default branch", input, () =>
        this.octokit.rest.git.getRef({
          owner: this.opts.owner,
          repo: this.opts.repo,
          ref: `heads/${this.base}`,
        }),
      );
      const sha = head.data.object.sha;
      try {
        await this.octokit.rest.git.createRef({
          owner: this.opts.owner,
          repo: this.opts.repo,
          ref: `refs/heads/${branch}`,
          sha,
        });
      } catch (err) {
        if (statusOf(err) !== 422) throw new GitHubApiError("creating branch", input, err);
        await this.call("resetting branch to the default branch", input, () =>
          this.octokit.rest.git.updateRef({
            owner: this.opts.owner,
            repo: this.opts.repo,
            ref: `heads/${branch}`,
            sha,
            force: true,
          }),
        );
      }
    }
    const current = await this.fileSha(path, branch, domain);
    await this.call("writing the approvals file", `${domain} (${path})`, () =>
      this.octokit.rest.repos.createOrUpdateFileContents({
        owner: this.opts.owner,
        repo: this.opts.repo,
        path,
        branch,
        message: `${approvalTitle(file.kind, file.domain, file.selector)} (evidence of ${file.evidence.checkedAt})`,
        content: Buffer.from(renderApprovalFile(file), "utf8").toString("base64"),
        ...(current ? { sha: current } : {}),
      }),
    );
  }

  /** The newest request for `branch` closed without merging, if the newest closed one was. */
  private async lastRejected(branch: string, domain: string): Promise<number | undefined> {
    const closed = await this.call("listing closed requests", `${domain} (${branch})`, () =>
      this.octokit.rest.pulls.list({
        owner: this.opts.owner,
        repo: this.opts.repo,
        state: "closed",
        head: `${this.opts.owner}:${branch}`,
        base: this.base,
        per_page: 1,
      }),
    );
    const last = closed.data[0];
    return last && !last.merged_at ? last.number : undefined;
  }

  private async fileSha(path: string, ref: string, domain: string): Promise<string | undefined> {
    const got = await this.content(path, ref, domain);
    return got?.sha;
  }

  private async text(path: string, ref: string, domain: string): Promise<string | undefined> {
    const got = await this.content(path, ref, domain);
    return got ? Buffer.from(got.content, "base64").toString("utf8") : undefined;
  }

  private async content(
    path: string,
    ref: string,
    domain: string,
  ): Promise<{ sha: string; content: string } | undefined> {
    try {
      const res = await this.octokit.rest.repos.getContent({
        owner: this.opts.owner,
        repo: this.opts.repo,
        path,
        ref,
      });
      const d = res.data as { type?: string; sha?: string; content?: string };
      return d.type === "file" && d.sha ? { sha: d.sha, content: d.content ?? "" } : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new GitHubApiError(`reading ${path} on ${ref}`, domain, err);
    }
  }

  private async call<T>(operation: string, input: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new GitHubApiError(operation, input, err);
    }
  }
}
