/**
 * Record changes as GitHub pull requests (the action's ChangeRequestPort).
 *
 * One branch per change, created from the base branch's head with exactly one
 * commit that touches exactly one file (the record), like
 * peter-evans/create-pull-request: a fixed branch name per change, and a re-run
 * updates the open PR instead of opening another (docs/design.md#invariant-5-idempotent-and-crash-safe).
 *
 * - rotation:   branch `dkim/<domain>/<selector>`, adds `dns/<domain>/<selector>.zone`;
 *               at most one open rotation PR per domain.
 * - retirement: branch `dkim-retire/<domain>/<selector>`, deletes the record;
 *               at most one open retirement PR per domain and selector.
 *
 * Every Octokit failure becomes one line naming the operation and the input
 * (`github: creating pull request for <domain> (<branch>): 422 …`); the HTTP
 * response is never dumped.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Octokit } from "@octokit/rest";
import { RefusalError } from "../engine/errors";
import type { ChangeRequestPort } from "../engine/ports";

export const ROTATION_BRANCH_PREFIX = "dkim";
export const RETIREMENT_BRANCH_PREFIX = "dkim-retire";
export const DEFAULT_LABELS = ["dkim", "dns-change"];

export function rotationBranch(domain: string, selector: string): string {
  return `${ROTATION_BRANCH_PREFIX}/${domain}/${selector}`;
}

export function retirementBranch(domain: string, selector: string): string {
  return `${RETIREMENT_BRANCH_PREFIX}/${domain}/${selector}`;
}

export function rotationTitle(domain: string, selector: string): string {
  return `DKIM rotation: ${domain} → ${selector}`;
}

export function retirementTitle(domain: string, selector: string): string {
  return `DKIM retirement: ${domain} ← ${selector}`;
}

/** Git's object id for a blob (`git hash-object`), so a branch's file can be compared without downloading it. */
export function gitBlobSha(content: string | Buffer): string {
  const buf = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  return createHash("sha1")
    .update(Buffer.concat([Buffer.from(`blob ${buf.length}\0`), buf]))
    .digest("hex");
}

export interface CodeOwners {
  /** `@user` owners, without the `@`. */
  users: string[];
  /** `@org/team` owners: the team slug only (what `team_reviewers` takes). */
  teams: string[];
  /** Owners GitHub cannot be asked to review by API (e-mail addresses). */
  other: string[];
}

/**
 * The owners of `path` per a CODEOWNERS text: the *last* matching line wins,
 * as GitHub documents. Supports the gitignore-style patterns CODEOWNERS uses:
 * leading `/` anchors at the root, a trailing `/` matches everything below a
 * directory, `*` matches within one path segment, `**` across segments, and
 * a pattern without a slash matches at any depth.
 */
export function codeownersFor(path: string, codeownersText: string): CodeOwners {
  const file = path.replace(/^\/+/, "");
  let owners: string[] | undefined;
  for (const raw of codeownersText.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (!line) continue;
    const [pattern, ...rest] = line.split(/\s+/);
    if (pattern && codeownersPattern(pattern).test(file)) owners = rest;
  }
  const out: CodeOwners = { users: [], teams: [], other: [] };
  for (const o of owners ?? []) {
    const team = /^@([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(o);
    const user = /^@([A-Za-z0-9-]+)$/.exec(o);
    if (team) out.teams.push(team[2]!);
    else if (user) out.users.push(user[1]!);
    else out.other.push(o);
  }
  return out;
}

function codeownersPattern(pattern: string): RegExp {
  let p = pattern;
  const anchored = p.startsWith("/") || p.replace(/\/$/, "").includes("/");
  p = p.replace(/^\//, "");
  const dirOnly = p.endsWith("/");
  p = p.replace(/\/$/, "");
  let re = "";
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === "*" && p[i + 1] === "*") {
      re += ".*";
      i++;
      if (p[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  const head = anchored ? "^" : "^(?:.*/)?";
  // A directory pattern (or any name) also matches everything below it.
  const tail = dirOnly ? "/.*$" : "(?:/.*)?$";
  return new RegExp(head + re + tail);
}

/** Read CODEOWNERS from a checkout, in GitHub's lookup order (.github/, root, docs/). */
export function readCodeowners(root: string): string | undefined {
  for (const p of [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"]) {
    const f = join(root, p);
    if (existsSync(f)) return readFileSync(f, "utf8");
  }
  return undefined;
}

/**
 * An Octokit for the adapter. Octokit's request log prints every non-2xx
 * response with `console.error`, including the 404s this adapter expects
 * (a branch or file that does not exist yet); the adapter reports real
 * failures itself, in one line, so the request log is silenced here.
 */
export function createOctokit(opts: {
  token: string;
  baseUrl?: string;
  userAgent?: string;
}): Octokit {
  const noop = () => {};
  return new Octokit({
    auth: opts.token,
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
    userAgent: opts.userAgent ?? "ses-dkim-rotation",
    log: { debug: noop, info: noop, warn: console.warn, error: noop },
  });
}

/** One line for an Octokit failure: `github: <operation> for <input>: <status> <message>: <details>`. */
export class GitHubApiError extends Error {
  readonly status?: number;
  readonly operation: string;
  constructor(operation: string, input: string, err: unknown) {
    const e = err as {
      status?: number;
      message?: string;
      response?: { data?: unknown };
    };
    const data = (e.response?.data ?? {}) as {
      message?: unknown;
      errors?: { message?: unknown; code?: unknown; field?: unknown; resource?: unknown }[];
    };
    const status = typeof e.status === "number" ? e.status : undefined;
    const base =
      typeof data.message === "string" ? data.message : firstLine(e.message ?? String(err));
    const details = (Array.isArray(data.errors) ? data.errors : [])
      .map((x) =>
        typeof x.message === "string"
          ? x.message
          : [x.resource, x.field, x.code].filter((v) => typeof v === "string").join(" "),
      )
      .filter(Boolean);
    const what = [status, base].filter((v) => v !== undefined && v !== "").join(" ");
    super(
      `github: ${operation} for ${input}: ${what}${details.length ? `: ${details.join("; ")}` : ""}`.replace(
        /\s*\n\s*/g,
        " ",
      ),
    );
    this.name = "GitHubApiError";
    this.status = status;
    this.operation = operation;
  }
}

function firstLine(s: string): string {
  // Octokit appends " - https://docs.github.com/…" to messages; drop it.
  return s.split("\n")[0]!.replace(/\s+-\s+https:\/\/docs\.github\.com\S*$/, "");
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown }).status;
  return typeof s === "number" ? s : undefined;
}

export interface GitHubChangeRequestsOptions {
  owner: string;
  repo: string;
  /** Branch the PRs target; default `main`. */
  base?: string;
  /** Labels added to every PR; default `dkim`, `dns-change`. */
  labels?: string[];
  /** Extra user reviewers (logins, no `@`). */
  reviewers?: string[];
  /** Extra team reviewers (slugs, no org). */
  teamReviewers?: string[];
  /** CODEOWNERS text; the owners of each record path are requested as reviewers. */
  codeowners?: string;
  /** Called with one line for problems that do not stop the change (e.g. a reviewer could not be requested). */
  onWarning?: (message: string) => void;
}

interface OpenPull {
  number: number;
  url: string;
  branch: string;
  selector: string;
  kind: "rotation" | "retirement";
  title: string;
  body: string;
}

export interface ChangeResult {
  number?: number;
  url?: string;
  created: boolean;
  /** The branch that holds the change. */
  branch?: string;
  /** true when the branch's file (or its absence) had to be (re)written. */
  updated?: boolean;
}

export class GitHubChangeRequests implements ChangeRequestPort {
  private readonly octokit: Octokit;
  private readonly owner: string;
  private readonly repo: string;
  private readonly base: string;
  private readonly labels: string[];
  private readonly opts: GitHubChangeRequestsOptions;
  private readonly warn: (message: string) => void;

  constructor(octokit: Octokit, opts: GitHubChangeRequestsOptions) {
    this.octokit = octokit;
    this.owner = opts.owner;
    this.repo = opts.repo;
    this.base = opts.base ?? "main";
    this.labels = opts.labels ?? DEFAULT_LABELS;
    this.opts = opts;
    this.warn = opts.onWarning ?? (() => {});
  }

  async proposeRecord(change: {
    domain: string;
    selector: string;
    path: string;
    content: string;
    title: string;
    body: string;
  }): Promise<ChangeResult> {
    const { domain, selector } = change;
    const branch = rotationBranch(domain, selector);
    const open = await this.openPulls(domain, "rotation");
    const other = open.find((p) => p.selector !== selector);
    if (other) {
      // Invariant 5: never a second rotation PR for the same domain.
      throw new RefusalError(
        domain,
        `rotation PR #${other.number} (${other.branch}) is still open; not opening one for ${selector} (merge or close #${other.number} first)`,
      );
    }
    const mine = open.find((p) => p.selector === selector);
    const updated = await this.writeBranch(
      branch,
      domain,
      change.path,
      change.content,
      `Add DKIM record ${change.path}`,
    );
    return this.refreshOrOpen(mine, branch, domain, change, updated);
  }

  async proposeRemoval(change: {
    domain: string;
    selector: string;
    path: string;
    title: string;
    body: string;
  }): Promise<ChangeResult> {
    const { domain, selector } = change;
    const branch = retirementBranch(domain, selector);
    const open = await this.openPulls(domain, "retirement");
    const mine = open.find((p) => p.selector === selector);
    if (!mine && !(await this.fileSha(change.path, this.base, domain))) {
      // Already gone from the base branch: nothing to propose.
      return { created: false, branch };
    }
    const updated = await this.writeBranch(
      branch,
      domain,
      change.path,
      null,
      `Remove DKIM record ${change.path}`,
    );
    return this.refreshOrOpen(mine, branch, domain, change, updated);
  }

  /** Refresh this change's open PR (title, body, labels, reviewers), or open it. */
  private async refreshOrOpen(
    mine: OpenPull | undefined,
    branch: string,
    domain: string,
    change: { path: string; title: string; body: string },
    updated: boolean,
  ): Promise<ChangeResult> {
    if (mine) {
      await this.refreshPull(mine, change.title, change.body, domain);
      await this.decorate(mine.number, domain, branch, change.path);
      return { number: mine.number, url: mine.url, created: false, branch, updated };
    }
    const pr = await this.createPull(branch, domain, change.title, change.body);
    await this.decorate(pr.number, domain, branch, change.path);
    return { number: pr.number, url: pr.url, created: true, branch, updated };
  }

  async findOpen(
    domain: string,
  ): Promise<{ number?: number; selector: string; kind: "rotation" | "retirement" } | undefined> {
    const open = await this.openPulls(domain);
    const pick = open.find((p) => p.kind === "rotation") ?? open[0];
    return pick ? { number: pick.number, selector: pick.selector, kind: pick.kind } : undefined;
  }

  // ------------------------------------------------------------------ helpers

  private async call<T>(operation: string, input: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new GitHubApiError(operation, input, err);
    }
  }

  /**
   * Open PRs of this repository whose head branch is `<prefix>/<domain>/<selector>`.
   * GitHub's `head` filter matches one exact branch, so list all open PRs
   * against the base and filter by prefix; PRs from forks never count.
   */
  private async openPulls(domain: string, kind?: "rotation" | "retirement"): Promise<OpenPull[]> {
    const pulls = await this.call("listing open pull requests", domain, () =>
      this.octokit.paginate(this.octokit.rest.pulls.list, {
        owner: this.owner,
        repo: this.repo,
        state: "open",
        base: this.base,
        per_page: 100,
      }),
    );
    const full = `${this.owner}/${this.repo}`.toLowerCase();
    const out: OpenPull[] = [];
    for (const p of pulls) {
      if (p.head.repo?.full_name?.toLowerCase() !== full) continue;
      for (const [k, prefix] of [
        ["rotation", ROTATION_BRANCH_PREFIX],
        ["retirement", RETIREMENT_BRANCH_PREFIX],
      ] as const) {
        const start = `${prefix}/${domain}/`;
        if (p.head.ref.startsWith(start) && (!kind || kind === k)) {
          out.push({
            number: p.number,
            url: p.html_url,
            branch: p.head.ref,
            selector: p.head.ref.slice(start.length),
            kind: k,
            title: p.title,
            body: p.body ?? "",
          });
        }
      }
    }
    // Oldest first, so "the open PR" is stable across runs.
    return out.sort((a, b) => a.number - b.number);
  }

  /** The blob SHA of `path` on `ref`, or undefined if it does not exist there. */
  private async fileSha(path: string, ref: string, domain: string): Promise<string | undefined> {
    try {
      const res = await this.octokit.rest.repos.getContent({
        owner: this.owner,
        repo: this.repo,
        path,
        ref,
      });
      const data = res.data as { type?: string; sha?: string } | unknown[];
      if (Array.isArray(data)) return undefined;
      return data.type === "file" ? data.sha : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new GitHubApiError(`reading ${path} on ${ref}`, domain, err);
    }
  }

  private async branchHead(branch: string, domain: string): Promise<string | undefined> {
    try {
      const res = await this.octokit.rest.git.getRef({
        owner: this.owner,
        repo: this.repo,
        ref: `heads/${branch}`,
      });
      return res.data.object.sha;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new GitHubApiError("reading branch", `${domain} (${branch})`, err);
    }
  }

  /**
   * Make `branch` = base head + one commit that sets `path` to `content`
   * (or deletes it when `content` is null). If the branch already has the
   * wanted file state it is left alone (no force-push, no re-triggered checks).
   * Returns whether the branch was written.
   */
  private async writeBranch(
    branch: string,
    domain: string,
    path: string,
    content: string | null,
    message: string,
  ): Promise<boolean> {
    const input = `${domain} (${branch})`;
    const existing = await this.branchHead(branch, domain);
    if (existing) {
      const sha = await this.fileSha(path, branch, domain);
      const wanted = content === null ? undefined : gitBlobSha(content);
      if (sha === wanted) return false;
    }
    const baseSha = await this.branchHead(this.base, domain);
    if (!baseSha)
      throw new GitHubApiError("reading base branch", `${domain} (${this.base})`, {
        status: 404,
        message: "Not Found",
      });
    const baseCommit = await this.call("reading base commit", input, () =>
      this.octokit.rest.git.getCommit({ owner: this.owner, repo: this.repo, commit_sha: baseSha }),
    );
    let entry: { path: string; mode: "100644"; type: "blob"; sha: string | null };
    if (content === null) {
      entry = { path, mode: "100644", type: "blob", sha: null };
    } else {
      const blob = await this.call("creating blob", `${domain} (${path})`, () =>
        this.octokit.rest.git.createBlob({
          owner: this.owner,
          repo: this.repo,
          content,
          encoding: "utf-8",
        }),
      );
      entry = { path, mode: "100644", type: "blob", sha: blob.data.sha };
    }
    const tree = await this.call("creating tree", `${domain} (${path})`, () =>
      this.octokit.rest.git.createTree({
        owner: this.owner,
        repo: this.repo,
        base_tree: baseCommit.data.tree.sha,
        tree: [entry],
      }),
    );
    const commit = await this.call("creating commit", input, () =>
      this.octokit.rest.git.createCommit({
        owner: this.owner,
        repo: this.repo,
        message,
        tree: tree.data.sha,
        parents: [baseSha],
      }),
    );
    if (existing) {
      // Our own branch, rebuilt on the current base: it must hold only the record change.
      await this.call("updating branch", input, () =>
        this.octokit.rest.git.updateRef({
          owner: this.owner,
          repo: this.repo,
          ref: `heads/${branch}`,
          sha: commit.data.sha,
          force: true,
        }),
      );
    } else {
      await this.call("creating branch", input, () =>
        this.octokit.rest.git.createRef({
          owner: this.owner,
          repo: this.repo,
          ref: `refs/heads/${branch}`,
          sha: commit.data.sha,
        }),
      );
    }
    return true;
  }

  private async createPull(
    branch: string,
    domain: string,
    title: string,
    body: string,
  ): Promise<{ number: number; url: string }> {
    const res = await this.call("creating pull request", `${domain} (${branch})`, () =>
      this.octokit.rest.pulls.create({
        owner: this.owner,
        repo: this.repo,
        head: branch,
        base: this.base,
        title,
        body,
        maintainer_can_modify: false,
      }),
    );
    return { number: res.data.number, url: res.data.html_url };
  }

  private async refreshPull(
    pr: OpenPull,
    title: string,
    body: string,
    domain: string,
  ): Promise<void> {
    if (pr.title === title && pr.body === body) return;
    await this.call(`updating pull request #${pr.number}`, `${domain} (${pr.branch})`, () =>
      this.octokit.rest.pulls.update({
        owner: this.owner,
        repo: this.repo,
        pull_number: pr.number,
        title,
        body,
      }),
    );
  }

  /** Labels (failure is fatal: filters and dashboards rely on them) and reviewers (failure is a warning). */
  private async decorate(
    number: number,
    domain: string,
    branch: string,
    path: string,
  ): Promise<void> {
    if (this.labels.length) {
      await this.call(`labelling pull request #${number}`, `${domain} (${branch})`, () =>
        this.octokit.rest.issues.addLabels({
          owner: this.owner,
          repo: this.repo,
          issue_number: number,
          labels: this.labels,
        }),
      );
    }
    const owners = this.opts.codeowners
      ? codeownersFor(path, this.opts.codeowners)
      : { users: [], teams: [], other: [] };
    const reviewers = [...new Set([...owners.users, ...(this.opts.reviewers ?? [])])];
    const teamReviewers = [...new Set([...owners.teams, ...(this.opts.teamReviewers ?? [])])];
    if (!reviewers.length && !teamReviewers.length) return;
    try {
      await this.octokit.rest.pulls.requestReviewers({
        owner: this.owner,
        repo: this.repo,
        pull_number: number,
        reviewers,
        team_reviewers: teamReviewers,
      });
    } catch (err) {
      // CODEOWNERS still auto-requests the owners and branch protection still
      // requires them, so the PR is valid without the explicit request.
      this.warn(
        new GitHubApiError(
          `requesting reviewers ${[...reviewers, ...teamReviewers.map((t) => `${this.owner}/${t}`)].join(", ")} on #${number}`,
          `${domain} (${branch})`,
          err,
        ).message,
      );
    }
  }
}
