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
 * - batch:      branch `dkim-batch/<domain>/<count>-<digest>` (records-per-pr > 1),
 *               adds several records in one commit; a domain's record in an
 *               open batch PR counts as its open rotation PR.
 *
 * Every Octokit failure becomes one line naming the operation and the input
 * (`github: creating pull request for <domain> (<branch>): 422 …`); the HTTP
 * response is never dumped.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Octokit } from "@octokit/rest";
import { retry } from "@octokit/plugin-retry";
import { throttling } from "@octokit/plugin-throttling";
import Bottleneck from "bottleneck/light.js";
import { CODEOWNERS_PATHS, codeownersFor } from "../engine/codeowners";
import { RefusalError } from "../engine/errors";
import type { ChangeRequestPort, ProposedChange, RecordChange } from "../engine/ports";
import {
  type BatchEntry,
  batchBranch,
  batchBranchProblem,
  botBranchChange,
  DEFAULT_LABELS,
  isBatchBranch,
  retirementBranch,
  rotationBranch,
} from "./branches";

// The branch names live apart from Octokit so that modules every command loads
// (record files, notice text) do not load Octokit (docs/design.md#action-bundle).
export {
  ROTATION_BRANCH_PREFIX,
  RETIREMENT_BRANCH_PREFIX,
  DEFAULT_LABELS,
  rotationBranch,
  retirementBranch,
  rotationTitle,
  botBranchChange,
  batchBranch,
} from "./branches";

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

// One reading of CODEOWNERS for the adapter, the fake and the gate (docs/design.md#codeowners).
export { codeownersFor, type CodeOwners } from "../engine/codeowners";

/** Read CODEOWNERS from a checkout, in GitHub's lookup order (.github/, root, docs/). */
export function readCodeowners(root: string): string | undefined {
  for (const p of CODEOWNERS_PATHS) {
    const f = join(root, p);
    if (existsSync(f)) return readFileSync(f, "utf8");
  }
  return undefined;
}

/** Octokit with GitHub's retry and throttling plugins (docs/design.md#github-rate-limits). */
const PacedOctokit = /* @__PURE__ */ Octokit.plugin(retry, throttling);
export type GitHubClient = InstanceType<typeof PacedOctokit>;

export interface GitHubPacing {
  /** Milliseconds per second of `retry-after` (1000 on a runner; tests shrink it). */
  retryAfterBaseMs: number;
  /** Gap between content-creating requests (GitHub: about 80 a minute; Octokit paces 1/s). */
  writeIntervalMs: number;
  /**
   * Gap between requests that notify people, such as opening a PR (Octokit's
   * throttling plugin: 3 s, after GitHub's advice on content creation).
   * Default 3000.
   */
  notificationIntervalMs?: number;
}

export const RUNNER_PACING: GitHubPacing = { retryAfterBaseMs: 1000, writeIntervalMs: 1000 };

/**
 * An Octokit for the adapters: retries 5xx and network errors (plugin-retry),
 * and on primary and secondary rate limits (403/429) waits `retry-after` or
 * until `x-ratelimit-reset` and retries up to three times (plugin-throttling),
 * as GitHub's REST docs ask ("Best practices for using the REST API").
 * Octokit's request log prints every non-2xx response with `console.error`,
 * including the 404s this adapter expects, so it is silenced: the adapters
 * report real failures themselves, in one line.
 */
export function createOctokit(opts: {
  token: string;
  baseUrl?: string;
  userAgent?: string;
  pacing?: GitHubPacing;
  /** One line per rate-limit wait (the action passes core.info). */
  onWait?: (message: string) => void;
}): GitHubClient {
  const noop = () => {};
  const pacing = opts.pacing ?? RUNNER_PACING;
  const onLimit =
    (kind: string) =>
    (
      retryAfter: number,
      options: { method?: string; url?: string },
      _o: unknown,
      retryCount: number,
    ) => {
      opts.onWait?.(
        `github: ${kind} rate limit on ${options.method ?? ""} ${options.url ?? ""}; retrying in ${retryAfter} s (attempt ${retryCount + 1} of 3)`,
      );
      return retryCount < 3;
    };
  return new PacedOctokit({
    auth: opts.token,
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
    userAgent: opts.userAgent ?? "ses-dkim-rotation",
    log: { debug: noop, info: noop, warn: console.warn, error: noop },
    // 429 is left to plugin-throttling, which honours retry-after (plugin-retry
    // would retry it at once with its own backoff).
    retry: {
      retryAfterBaseValue: pacing.retryAfterBaseMs,
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
    },
    throttle: {
      retryAfterBaseValue: pacing.retryAfterBaseMs,
      // One limiter per client: tests run several fakes in one process.
      id: `dkim-${Math.random().toString(36).slice(2)}`,
      write: new Bottleneck.Group({ maxConcurrent: 1, minTime: pacing.writeIntervalMs }),
      notifications: new Bottleneck.Group({
        maxConcurrent: 1,
        minTime: pacing.notificationIntervalMs ?? 3000,
      }),
      onRateLimit: onLimit("primary"),
      onSecondaryRateLimit: onLimit("secondary"),
    },
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
  /** The head commit when listed (names a rebuild's comment, so it is posted once). */
  headSha?: string;
  selector: string;
  kind: "rotation" | "retirement";
  title: string;
  body: string;
  labels: string[];
  reviewers: string[];
  teamReviewers: string[];
  /** A batch PR's records, from its diff (docs/design.md#bulk-onboarding). */
  records?: { domain: string; selector: string; path: string }[];
}

export interface ChangeResult {
  number?: number;
  url?: string;
  created: boolean;
  /** The branch that holds the change. */
  branch?: string;
  /** true when the branch's file (or its absence) had to be (re)written. */
  updated?: boolean;
  /** Set when the branch held more than its one change and was rebuilt from the base. */
  rebuilt?: BranchRebuild;
}

/** What a rebuild dropped from a bot branch (docs/design.md#bot-branches). */
export interface BranchRebuild {
  /** Paths the branch changed besides its record (or the record, changed the wrong way). */
  paths: string[];
  /** Commits the branch held (short SHAs, oldest first), all dropped by the rebuild. */
  commits: string[];
}

/** The hidden marker of a rebuild note in a PR body, so later runs keep the note. */
const REBUILT_MARK = "<!-- dkim-branch-rebuilt -->";

/** `body` plus the rebuild notes an earlier body carried (and a new one), each once. */
export function withRebuildNotes(body: string, earlier = "", note?: string): string {
  const notes = earlier.split("\n").filter((l) => l.includes(REBUILT_MARK));
  if (note) notes.push(note);
  const missing = [...new Set(notes)].filter((n) => !body.split("\n").includes(n));
  return missing.length ? `${body.replace(/\n+$/, "")}\n\n${missing.join("\n")}\n` : body;
}

/** One line naming what a rebuild dropped: paths first, then commits. */
export function describeRebuild(r: BranchRebuild, base: string): string {
  const paths = r.paths.length ? r.paths.map((p) => `\`${p}\``).join(", ") : "none";
  return `unexpected paths: ${paths}; commits dropped: ${r.commits.join(", ") || "none"}; rebuilt from ${base}`;
}

/**
 * The compare API's answer about a bot branch: the diff from the merge base
 * (`files`, at most 300) and the commits (at most 250) that `ahead_by` counts.
 */
interface BranchDiff {
  aheadBy: number;
  behindBy: number;
  baseSha: string;
  files: { filename: string; status: string; sha?: string | null }[];
  commits: string[];
}

/**
 * Whether a bot branch holds exactly its one change: one commit whose diff
 * against the base is the record added with the wanted blob (rotation) or
 * the record removed (retirement). "stale" is the record alone in one commit
 * with other content (an earlier run's text): rewritten, not reported.
 * Anything else is a rebuild the PR must report (docs/design.md#bot-branches).
 */
export function judgeBranch(
  diff: BranchDiff,
  path: string,
  wanted: string | undefined,
): { verdict: "right" | "empty" | "stale" } | { verdict: "tampered"; rebuild: BranchRebuild } {
  if (diff.aheadBy === 0 && !diff.files.length) return { verdict: "empty" };
  const own = diff.files.find((f) => f.filename === path);
  const rightKind =
    own !== undefined &&
    (wanted === undefined ? own.status === "removed" : own.status !== "removed");
  const others = diff.files.filter((f) => f !== own).map((f) => f.filename);
  if (others.length === 0 && rightKind && diff.aheadBy === 1)
    return { verdict: wanted === undefined || own.sha === wanted ? "right" : "stale" };
  const extra =
    diff.commits.length < diff.aheadBy ? [`and ${diff.aheadBy - diff.commits.length} more`] : [];
  return {
    verdict: "tampered",
    rebuild: {
      paths: [...(own && !rightKind ? [path] : []), ...others],
      commits: [...diff.commits.map((c) => c.slice(0, 7)), ...extra],
    },
  };
}

export class GitHubChangeRequests implements ChangeRequestPort {
  private readonly octokit: Octokit;
  private readonly owner: string;
  private readonly repo: string;
  private readonly base: string;
  private readonly labels: string[];
  private readonly opts: GitHubChangeRequestsOptions;
  private readonly warn: (message: string) => void;
  /** Our open PRs, oldest first ("the open PR" is stable across runs); listed once. */
  private openCache?: OpenPull[];
  /** Rebuild notes of this run, per branch, for the PR body. */
  private readonly pendingNotes = new Map<string, string>();

  constructor(octokit: Octokit, opts: GitHubChangeRequestsOptions) {
    this.octokit = octokit;
    this.owner = opts.owner;
    this.repo = opts.repo;
    this.base = opts.base ?? "main";
    this.labels = opts.labels ?? DEFAULT_LABELS;
    this.opts = opts;
    this.warn = opts.onWarning ?? (() => {});
  }

  async proposeRecord(change: RecordChange): Promise<ChangeResult> {
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
    // Already in an open batch PR: its name fixes its content, so it is left
    // as it is (docs/design.md#bulk-onboarding).
    if (mine?.records)
      return { number: mine.number, url: mine.url, created: false, branch: mine.branch };
    const written = await this.writeBranch(
      branch,
      domain,
      change.path,
      change.content,
      `Add DKIM record ${change.path}`,
      mine,
    );
    return this.refreshOrOpen(mine, branch, domain, change, written);
  }

  /**
   * records-per-pr > 1 (docs/design.md#bulk-onboarding): a record already in
   * an open PR (one-record or batch) goes through proposeRecord as before;
   * the others go out `perPr` to a PR, in the order given, from a
   * `dkim-batch/…` branch whose name fixes its files. A group of one is an
   * ordinary one-record PR. The same records in the same order give the same
   * groups and branch names, so a re-run after a crash between branch and PR
   * finds the branch and opens its PR.
   */
  async proposeRecords(
    changes: RecordChange[],
    perPr: number,
    text: (group: RecordChange[]) => { title: string; body: string },
  ): Promise<Map<string, ProposedChange | Error>> {
    const out = new Map<string, ProposedChange | Error>();
    const fresh: RecordChange[] = [];
    for (const c of changes) {
      try {
        if ((await this.openPulls(c.domain, "rotation")).length)
          out.set(c.domain, await this.proposeRecord(c));
        else fresh.push(c);
      } catch (err) {
        out.set(c.domain, err as Error);
      }
    }
    for (let i = 0; i < fresh.length; i += perPr) {
      const group = fresh.slice(i, i + perPr);
      try {
        const result =
          group.length === 1
            ? await this.proposeRecord(group[0]!)
            : await this.proposeGroup(group, text(group));
        for (const c of group) out.set(c.domain, result);
      } catch (err) {
        for (const c of group) out.set(c.domain, err as Error);
      }
    }
    return out;
  }

  /** One batch PR: its branch written (or found right), then the PR opened. */
  private async proposeGroup(
    group: RecordChange[],
    text: { title: string; body: string },
  ): Promise<ChangeResult> {
    const entries = group.map((c) => ({ path: c.path, blob: gitBlobSha(c.content) }));
    const branch = batchBranch(entries);
    const who = `${group.length} records`;
    const written = await this.writeBatchBranch(branch, who, group, entries);
    const body = withRebuildNotes(text.body, "", this.pendingNotes.get(branch));
    const pr = await this.createPull(branch, who, text.title, body);
    const opened: OpenPull = {
      ...pr,
      branch,
      selector: "",
      kind: "rotation",
      title: text.title,
      body,
      labels: [],
      reviewers: [],
      teamReviewers: [],
      records: group.map((c) => ({ domain: c.domain, selector: c.selector, path: c.path })),
    };
    this.openCache?.push(opened);
    await this.decorate(opened, who, branch, group[0]!.path);
    return { number: pr.number, url: pr.url, created: true, branch, ...written };
  }

  /**
   * Make the batch branch = base head + one commit adding exactly `group`
   * (docs/design.md#bot-branches). A branch already right (an earlier run
   * crashed before its PR) is left alone; one holding anything else is
   * reported and force-reset to a fresh commit. The commit is made before
   * the ref, so a new branch never exists without its files: base head,
   * its tree, one tree with every file, one commit, one ref.
   */
  private async writeBatchBranch(
    branch: string,
    who: string,
    group: RecordChange[],
    entries: BatchEntry[],
  ): Promise<{ updated: boolean; rebuilt?: BranchRebuild }> {
    const input = `${who} (${branch})`;
    const diff = await this.compare(branch, who);
    let rebuilt: BranchRebuild | undefined;
    if (diff) {
      const added = diff.files
        .filter((f) => f.status === "added")
        .map((f) => ({ path: f.filename, blob: f.sha ?? "" }));
      const right =
        diff.aheadBy === 1 &&
        added.length === diff.files.length &&
        !batchBranchProblem(branch, added);
      if (right) return { updated: false };
      if (diff.aheadBy > 0 || diff.files.length) {
        const wanted = new Map(entries.map((e) => [e.path, e.blob]));
        rebuilt = {
          paths: diff.files.filter((f) => wanted.get(f.filename) !== f.sha).map((f) => f.filename),
          commits: diff.commits.map((c) => c.slice(0, 7)),
        };
        await this.reportRebuild(undefined, branch, who, rebuilt);
      }
    }
    const baseSha = await this.branchHead(this.base, who);
    if (!baseSha)
      throw new GitHubApiError("reading base branch", `${who} (${this.base})`, {
        status: 404,
        message: "Not Found",
      });
    const baseTree = await this.call("reading the base commit", input, () =>
      this.octokit.rest.git.getCommit({ owner: this.owner, repo: this.repo, commit_sha: baseSha }),
    );
    const tree = await this.call("writing the records' tree", input, () =>
      this.octokit.rest.git.createTree({
        owner: this.owner,
        repo: this.repo,
        base_tree: baseTree.data.tree.sha,
        tree: group.map((c) => ({
          path: c.path,
          mode: "100644" as const,
          type: "blob" as const,
          content: c.content,
        })),
      }),
    );
    const commit = await this.call("committing the records", input, () =>
      this.octokit.rest.git.createCommit({
        owner: this.owner,
        repo: this.repo,
        message: `Add ${group.length} DKIM records\n\n${group.map((c) => c.path).join("\n")}`,
        tree: tree.data.sha,
        parents: [baseSha],
      }),
    );
    if (diff) {
      await this.call("resetting branch to the records", input, () =>
        this.octokit.rest.git.updateRef({
          owner: this.owner,
          repo: this.repo,
          ref: `heads/${branch}`,
          sha: commit.data.sha,
          force: true,
        }),
      );
    } else if (!(await this.createRef(branch, commit.data.sha, input))) {
      // Another run created it between our compare and now: it judges it.
      throw new RefusalError(
        who,
        `batch branch ${branch} appeared while this run was writing it (another plan run?); the next run checks it and opens its PR`,
      );
    }
    return { updated: true, ...(rebuilt ? { rebuilt } : {}) };
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
    const onBase = mine ? undefined : await this.fileSha(change.path, this.base, domain);
    if (!mine && !onBase) {
      // Already gone from the base branch: nothing to propose.
      return { created: false, branch };
    }
    const written = await this.writeBranch(
      branch,
      domain,
      change.path,
      null,
      `Remove DKIM record ${change.path}`,
      mine,
      onBase,
    );
    return this.refreshOrOpen(mine, branch, domain, change, written);
  }

  /** Refresh this change's open PR (title, body, labels, reviewers), or open it. */
  private async refreshOrOpen(
    mine: OpenPull | undefined,
    branch: string,
    domain: string,
    change: { path: string; title: string; body: string },
    written: { updated: boolean; rebuilt?: BranchRebuild },
  ): Promise<ChangeResult> {
    const { updated, rebuilt } = written;
    // Rebuild notes stay in the body on every later refresh (docs/design.md#bot-branches).
    const note = this.pendingNotes.get(branch);
    if (mine) {
      const body = withRebuildNotes(change.body, mine.body, note);
      await this.refreshPull(mine, change.title, body, domain);
      await this.decorate(mine, domain, branch, change.path);
      return { number: mine.number, url: mine.url, created: false, branch, updated, rebuilt };
    }
    const body = withRebuildNotes(change.body, "", note);
    const pr = await this.createPull(branch, domain, change.title, body);
    const { selector, kind } = botBranchChange(branch)!;
    const opened: OpenPull = {
      ...pr,
      branch,
      selector,
      kind,
      title: change.title,
      body,
      labels: [],
      reviewers: [],
      teamReviewers: [],
    };
    this.openCache?.push(opened);
    await this.decorate(opened, domain, branch, change.path);
    return { number: pr.number, url: pr.url, created: true, branch, updated, rebuilt };
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
    this.openCache ??= await this.listOpen(domain);
    return this.openCache
      .flatMap((p) => {
        if (!p.records) return p.branch.split("/")[1] === domain ? [p] : [];
        // A batch PR, seen as this domain's rotation PR when it holds its record.
        const own = p.records.find((r) => r.domain === domain);
        return own ? [{ ...p, selector: own.selector }] : [];
      })
      .filter((p) => !kind || p.kind === kind)
      .sort((a, b) => a.number - b.number);
  }

  /**
   * Every open PR of ours, listed once per adapter (one run): the daily plan
   * asks about each identity, and one listing serves them all.
   */
  private async listOpen(domain: string): Promise<OpenPull[]> {
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
      const batch = isBatchBranch(p.head.ref);
      const change = batch
        ? { kind: "rotation" as const, selector: "" }
        : botBranchChange(p.head.ref);
      if (!change) continue;
      out.push({
        ...(batch ? { records: await this.batchRecords(p.head.ref, domain) } : {}),
        number: p.number,
        url: p.html_url,
        branch: p.head.ref,
        headSha: p.head.sha,
        selector: change.selector,
        kind: change.kind,
        title: p.title,
        body: p.body ?? "",
        labels: (p.labels ?? []).map((l) => l.name ?? ""),
        reviewers: (p.requested_reviewers ?? []).map((u) => u.login),
        teamReviewers: (p.requested_teams ?? []).map((t) => t.slug),
      });
    }
    return out;
  }

  /**
   * The records an open batch PR adds, from its diff: what the duplicate
   * check needs, one compare per open batch PR. A file that is no record
   * is not one; the required check fails such a PR (docs/design.md#bot-branches).
   */
  private async batchRecords(
    branch: string,
    domain: string,
  ): Promise<NonNullable<OpenPull["records"]>> {
    const diff = await this.compare(branch, domain);
    const problem = diff
      ? batchBranchProblem(
          branch,
          diff.files
            .filter((f) => f.status === "added")
            .map((f) => ({ path: f.filename, blob: f.sha ?? "" })),
        )
      : "the branch is gone";
    if (problem)
      this.warn(
        `github: batch record PR branch ${branch} is not what its name says: ${problem}; its PR cannot pass the record files check (close it; the next plan run proposes its records again) (docs/design.md#bot-branches)`,
      );
    return (diff?.files ?? []).flatMap((f) => {
      const m = /([^/]+)\/([^/]+)\.zone$/.exec(f.filename);
      return f.status === "added" && m
        ? [{ domain: m[1]!, selector: m[2]!, path: f.filename }]
        : [];
    });
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
   * (or deletes it when `content` is null), and nothing else
   * (docs/design.md#bot-branches). A branch that already holds exactly that
   * change is left alone (no force-push, no re-triggered checks, approvals
   * stay). A branch holding anything else (another path, a second commit, the
   * record changed the wrong way) is reported on its PR first, then reset to
   * the base head and the change re-applied: what the reviewers approve is
   * only ever the bot's one file.
   *
   * A new branch costs three requests: read the base head, create the ref
   * there, and one contents write (GitHub makes blob, tree and commit in one
   * call). A "Reference already exists" answer means an earlier run got that
   * far (invariant 5): the branch is then compared and, if it is not right,
   * rebuilt. A crash after the report and before the reset re-reports nothing
   * (the comment is keyed by the head commit) and resets on the next run.
   */
  private async writeBranch(
    branch: string,
    domain: string,
    path: string,
    content: string | null,
    message: string,
    pr: OpenPull | undefined,
    /** The file's blob on the base branch, when the caller has just read it. */
    onBase?: string,
  ): Promise<{ updated: boolean; rebuilt?: BranchRebuild }> {
    const input = `${domain} (${branch})`;
    const wanted = content === null ? undefined : gitBlobSha(content);
    // An open PR's branch exists: one compare tells whether it is already right.
    let diff = pr ? await this.compare(branch, domain) : undefined;
    let created = false;
    if (!diff) {
      const baseSha = await this.branchHead(this.base, domain);
      if (!baseSha)
        throw new GitHubApiError("reading base branch", `${domain} (${this.base})`, {
          status: 404,
          message: "Not Found",
        });
      created = await this.createRef(branch, baseSha, input);
      if (!created) diff = await this.compare(branch, domain);
    }
    let rebuilt: BranchRebuild | undefined;
    if (diff) {
      const judged = judgeBranch(diff, path, wanted);
      if (judged.verdict === "right") return { updated: false };
      if (judged.verdict === "tampered") {
        rebuilt = judged.rebuild;
        await this.reportRebuild(pr, branch, domain, rebuilt);
      }
      if (diff.aheadBy > 0 || diff.behindBy > 0)
        await this.call("resetting branch to the base", input, () =>
          this.octokit.rest.git.updateRef({
            owner: this.owner,
            repo: this.repo,
            ref: `heads/${branch}`,
            sha: diff!.baseSha,
            force: true,
          }),
        );
    }
    // The branch now equals the base, so the file's state there is the base's.
    const current =
      content === null
        ? (onBase ?? (await this.fileSha(path, branch, domain)))
        : created
          ? undefined
          : await this.fileSha(path, branch, domain);
    if (content === null) {
      if (!current) return { updated: !created, rebuilt };
      await this.call("removing the record", `${domain} (${path})`, () =>
        this.octokit.rest.repos.deleteFile({
          owner: this.owner,
          repo: this.repo,
          path,
          message,
          sha: current,
          branch,
        }),
      );
      return { updated: true, rebuilt };
    }
    if (current === wanted) return { updated: !created, rebuilt };
    await this.call("writing the record", `${domain} (${path})`, () =>
      this.octokit.rest.repos.createOrUpdateFileContents({
        owner: this.owner,
        repo: this.repo,
        path,
        message,
        content: Buffer.from(content, "utf8").toString("base64"),
        branch,
        ...(current ? { sha: current } : {}),
      }),
    );
    return { updated: true, rebuilt };
  }

  /**
   * `GET /repos/{o}/{r}/compare/{base}...{branch}`: the branch's diff from its
   * merge base with the base branch, and the base's head. Undefined when the
   * branch does not exist (404).
   */
  private async compare(branch: string, domain: string): Promise<BranchDiff | undefined> {
    try {
      const res = await this.octokit.rest.repos.compareCommitsWithBasehead({
        owner: this.owner,
        repo: this.repo,
        basehead: `${this.base}...${branch}`,
        per_page: 100,
      });
      const d = res.data;
      return {
        aheadBy: d.ahead_by,
        behindBy: d.behind_by,
        baseSha: d.base_commit.sha,
        files: (d.files ?? []).map((f) => ({ filename: f.filename, status: f.status, sha: f.sha })),
        commits: d.commits.map((c) => c.sha),
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw new GitHubApiError(`comparing ${this.base}...${branch}`, domain, err);
    }
  }

  /**
   * Say that a bot branch is being rebuilt, before it is: one log line (the
   * run's annotations), and on an open PR a comment (once per head commit)
   * and a note kept in its body, so reviewers see why the branch moved.
   */
  private async reportRebuild(
    pr: OpenPull | undefined,
    branch: string,
    domain: string,
    rebuild: BranchRebuild,
  ): Promise<void> {
    const what = describeRebuild(rebuild, this.base);
    this.warn(
      `github: ${domain} (${branch}) held more than its one record change; ${what} (docs/design.md#bot-branches)`,
    );
    const note = `> **This branch was rebuilt by the DKIM bot**: it held more than its one record change (${what}). Review the change again. ${REBUILT_MARK}`;
    this.pendingNotes.set(branch, note);
    if (!pr) return;
    const input = `${domain} (${branch})`;
    const key = `<!-- dkim-branch-rebuilt:${pr.headSha ?? "unknown"} -->`;
    const comments = await this.call(`reading comments of #${pr.number}`, input, () =>
      this.octokit.paginate(this.octokit.rest.issues.listComments, {
        owner: this.owner,
        repo: this.repo,
        issue_number: pr.number,
        per_page: 100,
      }),
    );
    if (!comments.some((c) => c.body?.includes(key)))
      await this.call(`commenting on #${pr.number}`, input, () =>
        this.octokit.rest.issues.createComment({
          owner: this.owner,
          repo: this.repo,
          issue_number: pr.number,
          body: `This branch held more than its one record change, so the DKIM bot rebuilt it from \`${this.base}\` and re-applied only the record.\n\n- ${describeRebuild(rebuild, this.base).split("; ").join("\n- ")}\n\nAny earlier approval covered content that is gone; review the change again. ${key}`,
        }),
      );
    // The note goes into the body before the reset, so a crash cannot lose it.
    const body = withRebuildNotes(pr.body, "", note);
    if (body !== pr.body) {
      await this.call(`updating pull request #${pr.number}`, input, () =>
        this.octokit.rest.pulls.update({
          owner: this.owner,
          repo: this.repo,
          pull_number: pr.number,
          body,
        }),
      );
      pr.body = body;
    }
  }

  /** Create `refs/heads/<branch>` at `sha`; false when it already exists (GitHub's 422 "Reference already exists"). */
  private async createRef(branch: string, sha: string, input: string): Promise<boolean> {
    try {
      await this.octokit.rest.git.createRef({
        owner: this.owner,
        repo: this.repo,
        ref: `refs/heads/${branch}`,
        sha,
      });
      return true;
    } catch (err) {
      const e = err as { status?: number; response?: { data?: { message?: unknown } } };
      if (e.status === 422 && /reference already exists/i.test(String(e.response?.data?.message)))
        return false;
      throw new GitHubApiError("creating branch", input, err);
    }
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

  /**
   * Labels and extra reviewers, each only when missing, so the daily run does
   * not notify anyone again. Both are best effort: a PR without them is still
   * a valid change (GitHub requests the CODEOWNERS itself when the PR opens,
   * and branch protection still requires them), so a failure is a warning.
   */
  private async decorate(
    pr: OpenPull,
    domain: string,
    branch: string,
    path: string,
  ): Promise<void> {
    const input = `${domain} (${branch})`;
    const missingLabels = this.labels.filter((l) => !pr.labels.includes(l));
    if (missingLabels.length) {
      try {
        await this.octokit.rest.issues.addLabels({
          owner: this.owner,
          repo: this.repo,
          issue_number: pr.number,
          labels: missingLabels,
        });
        pr.labels.push(...missingLabels);
      } catch (err) {
        this.warn(
          new GitHubApiError(
            `labelling pull request #${pr.number} (${missingLabels.join(", ")})`,
            input,
            err,
          ).message,
        );
      }
    }
    if (this.opts.codeowners !== undefined) {
      const owners = codeownersFor(path, this.opts.codeowners);
      if (!owners.users.length && !owners.teams.length && !pr.reviewers.length)
        this.warn(
          `github: no CODEOWNERS entry covers ${path}, so GitHub asks nobody to review #${pr.number} for ${input} (add "/dns/ @org/dns-team" to .github/CODEOWNERS)`,
        );
    }
    const reviewers = [...new Set(this.opts.reviewers ?? [])].filter(
      (u) => !pr.reviewers.includes(u),
    );
    const teamReviewers = [...new Set(this.opts.teamReviewers ?? [])].filter(
      (t) => !pr.teamReviewers.includes(t),
    );
    if (!reviewers.length && !teamReviewers.length) return;
    try {
      await this.octokit.rest.pulls.requestReviewers({
        owner: this.owner,
        repo: this.repo,
        pull_number: pr.number,
        reviewers,
        team_reviewers: teamReviewers,
      });
      pr.reviewers.push(...reviewers);
      pr.teamReviewers.push(...teamReviewers);
    } catch (err) {
      this.warn(
        new GitHubApiError(
          `requesting reviewers ${[...reviewers, ...teamReviewers.map((t) => `${this.owner}/${t}`)].join(", ")} on #${pr.number}`,
          input,
          err,
        ).message,
      );
    }
  }
}
