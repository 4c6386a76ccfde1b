/**
 * A local, in-memory fake of the GitHub REST endpoints the change-request
 * adapter uses: git refs, blobs, trees and commits; contents (read); pulls
 * (list, get, create, update); issue labels; requested reviewers.
 *
 * It listens on loopback only, speaks real HTTP, and answers with the fields
 * GitHub's REST API returns that Octokit users read (`number`, `html_url`,
 * `head.ref`, `head.repo.full_name`, `sha`, `tree.sha`, …), so the adapter
 * is exercised over the wire exactly as against api.github.com. Blob SHAs are
 * real git object ids (`sha1("blob <size>\0" + content)`), so a caller can
 * compare a local file with the one on a branch without downloading it.
 *
 * Test hooks: `failNext()` injects an API error on a route, `merge()` merges
 * a pull request (applies its change to the base branch), `readFile()` and
 * `listFiles()` inspect a branch.
 *
 * Run standalone (for the sandbox): `tsx scripts/github-fake.ts [--port N]`.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
// One derivation of a blob id; test/git-blob-sha.test.ts checks it against `git hash-object`.
import { gitBlobSha } from "../actions/dkim-rotation/src/adapters/github";
import {
  CODEOWNERS_PATHS,
  codeownersFor,
  type CodeOwners,
} from "../actions/dkim-rotation/src/engine/codeowners";
import { ActionsModel, HttpFailure } from "./github-fake-actions";
import {
  BOT_BRANCH_RULES,
  DEFAULT_BRANCH_PULL_REQUEST,
} from "../actions/dkim-rotation/src/repository-rules";
import { botBranchPatterns } from "../actions/dkim-rotation/src/engine/config";

interface FakeCommit {
  sha: string;
  tree: string;
  parents: string[];
  message: string;
  date: string;
}

export interface FakePull {
  number: number;
  title: string;
  body: string | null;
  state: "open" | "closed";
  merged: boolean;
  mergedAt: string | null;
  head: string;
  base: string;
  /** Commit the head branch pointed at when the PR was merged or closed. */
  headSha?: string;
  labels: string[];
  reviewers: string[];
  teamReviewers: string[];
  createdAt: string;
  updatedAt: string;
  user: string;
  /** The commit the merge wrote on the base branch. */
  mergeCommitSha?: string;
  mergedBy?: string;
  /** Who pushed the head's latest commit (the opener, until someone pushes). */
  lastPusher: string;
  /** The base branch's tip when the PR was opened. */
  baseShaAtOpen: string;
}

/**
 * A pull-request review (GitHub Docs, "REST API endpoints for pull request
 * reviews"): PENDING until submitted; a DISMISSED one no longer counts.
 */
export interface FakeReview {
  id: number;
  pr: number;
  user: string;
  state: "APPROVED" | "CHANGES_REQUESTED" | "COMMENTED" | "DISMISSED" | "PENDING";
  commitId: string;
  body: string;
  submittedAt: string;
}

export interface InjectedFailure {
  method: string;
  /** Matched against the decoded path (e.g. `/repos/o/r/pulls`). A string must match exactly. */
  path: string | RegExp;
  status: number;
  message: string;
  /** Extra `errors` entries, as GitHub sends them on 422 (objects, or plain strings on review routes). */
  errors?: ({ resource?: string; code: string; field?: string; message?: string } | string)[];
  /** How many matching requests fail; default 1. */
  times?: number;
  /** Response headers, e.g. `retry-after` on a secondary rate limit. */
  headers?: Record<string, string>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  /** The JSON the fake answered with (for checks against GitHub's OpenAPI description). */
  response?: unknown;
  /** When the request arrived (ms since the epoch). */
  at: number;
}

export interface GitHubFakeOptions {
  owner?: string;
  repo?: string;
  defaultBranch?: string;
  /** Initial files on the default branch: path → content. */
  files?: Record<string, string>;
  /** Login that owns the token (PR author). */
  login?: string;
  port?: number;
  /** The owner's and the repository's immutable numeric IDs. */
  ownerId?: number;
  repositoryId?: number;
  /** Default OIDC `sub` claims carry the immutable IDs (GitHub docs, "Immutable subject claims"). */
  immutableSubjects?: boolean;
  /** How a job waiting for approval sits in its concurrency group (scripts/github-fake-actions.ts). */
  waitingHolds?: "pending" | "running";
  /** The App whose installation token the default login holds (rulesets name it as an `Integration` bypass actor). */
  appId?: number;
  /** Time of the timestamps it writes (PRs, runs, jobs, reviews); the system clock by default. The sandbox's is simulated. */
  clock?: { now(): Date };
  /** GET /repos/{o}/{r} `visibility` (and `private`); private by default. */
  visibility?: "public" | "private" | "internal";
  /** The owner's plan as GET /orgs/{org} shows it to an owner; unreadable (403) when undefined. */
  plan?: "free" | "pro" | "team" | "enterprise";
  /**
   * The Administration permission the App's installation is granted (default
   * write: what the pull-request gate's token needs, docs/design.md#gate-token).
   */
  appAdministration?: "read" | "write" | "none";
  /**
   * Which App token GET rulesets/{id} shows `bypass_actors` to. GitHub: "only
   * returned if the user making the API request has write access to the
   * ruleset"; strictly read, that is Administration: write (default), the
   * permission its update endpoint needs; `administration-read` is the
   * lenient reading (docs/design.md#gate-token).
   */
  rulesetReaders?: "administration-write" | "administration-read";
  /**
   * Whether an installation token limited to repositories (what
   * actions/create-github-app-token mints without `owner:`) still carries
   * the App's organization permissions (Members). GitHub's docs do not say;
   * the default, "owner-scoped-only", is the stricter reading
   * (docs/design.md#gate-token).
   */
  orgPermissionsInRepositoryTokens?: "owner-scoped-only" | "kept";
  /**
   * A second App, the approval gate's (docs/design.md#gate-token): installed
   * with Administration (and contents and pull requests read), never a bypass
   * actor, never pushing. Its private key is an environment secret of the
   * gated environment, so only a gated job can mint its token.
   */
  gateApp?: {
    clientId: string;
    privateKey: string;
    administration: "read" | "write";
    /** Members (organization): read, what the gate needs for team code owners; "none" when not granted. */
    members: "read" | "none";
  };
}

/**
 * A repository ruleset on branches, as `POST /repos/{o}/{r}/rulesets` takes it
 * (GitHub Docs, "About rulesets", "Available rules for rulesets"). Only the
 * rules the fake enforces on writes are modelled: `creation`, `update`,
 * `deletion` and `non_fast_forward`; others (e.g. `pull_request`) are
 * stored and reported by `GET …/rules/branches/{branch}` only.
 */
export interface FakeRuleset {
  id?: number;
  name: string;
  enforcement: "active" | "evaluate" | "disabled";
  /** fnmatch patterns of full ref names (`refs/heads/dkim/**\/*`), or `~DEFAULT_BRANCH` / `~ALL`. */
  include: string[];
  exclude?: string[];
  rules: { type: string; parameters?: Record<string, unknown> }[];
  bypassActors: {
    actorId: number | null;
    actorType: "Integration" | "RepositoryRole" | "Team" | "OrganizationAdmin" | "DeployKey";
    bypassMode?: "always" | "pull_request" | "exempt";
  }[];
}

/**
 * Who a token belongs to: the App's installation (any token the fake did not
 * mint otherwise), the workflow's own GITHUB_TOKEN (`workflowToken()`,
 * github-actions[bot], never the App), or a person with push rights.
 */
export interface FakeActor {
  login: string;
  type: "Bot" | "User";
  /** `gate-app`: the approval gate's own App (`gateApp`), which reads rules and nothing else. */
  via: "app" | "workflow" | "person" | "gate-app";
  /** An App token's Administration permission (docs/design.md#gate-token). */
  administration?: "read" | "write";
  /**
   * An App token's Members (organization) permission: GitHub answers a team
   * membership to an installation token only with it (docs/design.md#gate-token).
   */
  members?: "read";
}

/** The login GitHub shows for the workflow's GITHUB_TOKEN. */
export const WORKFLOW_TOKEN_LOGIN = "github-actions[bot]";

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: InjectedFailure["errors"],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

const DOCS = "https://docs.github.com/rest";

export class GitHubFake {
  readonly owner: string;
  readonly repo: string;
  readonly defaultBranch: string;
  readonly login: string;
  /** Every request served, in order (for assertions). */
  readonly requests: RecordedRequest[] = [];
  private readonly blobs = new Map<string, Buffer>();
  /** Flat trees: path → blob sha. GitHub's are nested; callers here only need paths. */
  private readonly trees = new Map<string, Map<string, string>>();
  private readonly commits = new Map<string, FakeCommit>();
  private readonly refs = new Map<string, string>();
  private readonly pulls: FakePull[] = [];
  private failures: InjectedFailure[] = [];
  private server?: Server;
  private baseUrl = "";
  private clock = 0;
  private readonly timeSource?: { now(): Date };
  readonly ownerId: number;
  readonly repositoryId: number;
  /** Workflows, runs, jobs, environments, approvals, variables, OIDC (scripts/github-fake-actions.ts). */
  readonly actions: ActionsModel;
  readonly appId: number;
  /** Repository rulesets on branches, in creation order. */
  private readonly rulesets: Required<FakeRuleset>[] = [];
  /** Tokens of people, of the workflow and narrowed App tokens: token → actor. Any other token is the App's. */
  private readonly people = new Map<string, FakeActor>();
  private readonly comments: { id: number; pr: number; body: string; user: string; at: string }[] =
    [];
  private readonly reviews: FakeReview[] = [];
  /** Who last pushed to each branch. */
  private readonly pushers = new Map<string, string>();
  /** Teams of the owner organisation: slug → member logins. */
  private readonly teams = new Map<string, Set<string>>();
  readonly visibility: "public" | "private" | "internal";
  readonly plan?: "free" | "pro" | "team" | "enterprise";
  readonly appAdministration: "read" | "write" | "none";
  readonly rulesetReaders: "administration-write" | "administration-read";
  readonly orgPermissionsInRepositoryTokens: "owner-scoped-only" | "kept";
  private readonly gateApp?: GitHubFakeOptions["gateApp"];

  constructor(opts: GitHubFakeOptions = {}) {
    this.gateApp = opts.gateApp;
    this.owner = opts.owner ?? "example-jp";
    this.repo = opts.repo ?? "ses-dkim-rotation";
    this.defaultBranch = opts.defaultBranch ?? "main";
    this.login = opts.login ?? "dkim-rotation[bot]";
    this.timeSource = opts.clock;
    this.ownerId = opts.ownerId ?? 4200001;
    this.repositoryId = opts.repositoryId ?? 987654321;
    this.appId = opts.appId ?? 1001;
    this.visibility = opts.visibility ?? "private";
    this.plan = opts.plan;
    this.appAdministration = opts.appAdministration ?? "write";
    this.rulesetReaders = opts.rulesetReaders ?? "administration-write";
    this.orgPermissionsInRepositoryTokens =
      opts.orgPermissionsInRepositoryTokens ?? "owner-scoped-only";
    this.actions = new ActionsModel({
      owner: this.owner,
      repo: this.repo,
      ownerId: this.ownerId,
      repositoryId: this.repositoryId,
      immutableSubjects: opts.immutableSubjects ?? false,
      waitingHolds: opts.waitingHolds ?? "pending",
      now: () => this.now(),
      baseUrl: () => this.baseUrl,
    });
    const tree = new Map<string, string>();
    for (const [path, content] of Object.entries(opts.files ?? {}))
      tree.set(path, this.putBlob(Buffer.from(content)));
    const treeSha = this.putTree(tree);
    const root = this.putCommit(treeSha, [], "Initial commit");
    this.refs.set(this.defaultBranch, root);
  }

  /** Start listening on 127.0.0.1 (ephemeral port unless given). Returns the base URL for Octokit. */
  async listen(port = 0): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once("error", reject);
      this.server!.listen(port, "127.0.0.1", () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${addr.port}`;
    return this.baseUrl;
  }

  get url(): string {
    return this.baseUrl;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Make the next `times` matching requests fail with `status`. */
  failNext(failure: InjectedFailure): void {
    this.failures.push({ times: 1, ...failure });
  }

  /**
   * GitHub's secondary rate limit on the next `times` matching requests:
   * 403 (or 429) with `retry-after` and the message GitHub sends (REST API
   * docs, "Rate limits for the REST API": wait `retry-after` seconds).
   */
  secondaryRateLimit(
    method: string,
    path: string | RegExp,
    opts: { status?: 403 | 429; retryAfter?: number; times?: number } = {},
  ): void {
    this.failNext({
      method,
      path,
      status: opts.status ?? 403,
      message:
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
      headers: { "retry-after": String(opts.retryAfter ?? 60) },
      times: opts.times ?? 1,
    });
  }

  /**
   * A running job in `environment` that a required reviewer approved, in a
   * run of a workflow that is not one of the gated ones: what the approval
   * gate sees inside a properly gated job. Creates the environment (one
   * required reviewer, self-review prevented) if it does not exist.
   */
  approvedJob(
    environment = "dkim-production",
    name = "Gated job",
    /** The reusable workflow that defines the job (its job_workflow_ref), and the run's branch. */
    from: { workflow?: string; branch?: string } = {},
  ) {
    const branch = from.branch ?? this.defaultBranch;
    if (!this.actions.environments.get(environment)?.reviewers.length)
      this.actions.setEnvironment(environment, {
        reviewers: [{ type: "User", id: 501, login: "approver" }],
        preventSelfReview: true,
        branchPatterns: ["main"],
      });
    const run = this.actions.startRun(".github/workflows/gated-test.yml", {
      event: "workflow_dispatch",
      headSha: this.refs.get(this.defaultBranch)!,
      headBranch: branch,
    });
    const job = this.actions.queueJob(run.id, {
      name,
      environment,
      workflowRef: `${this.owner}/${this.repo}/.github/workflows/${from.workflow ?? "reusable-activate.yml"}@refs/heads/${branch}`,
    });
    this.actions.review(run.id, environment, "approved", "approver");
    return { run, job, env: this.actions.runnerEnv(job.id) };
  }

  /** Open and closed pull requests, oldest first (copies). */
  listPulls(): FakePull[] {
    return this.pulls.map((p) => ({
      ...p,
      labels: [...p.labels],
      reviewers: [...p.reviewers],
      teamReviewers: [...p.teamReviewers],
    }));
  }

  /** The commit `branch` points at, or undefined. */
  headOf(branch = this.defaultBranch): string | undefined {
    return this.refs.get(branch);
  }

  branches(): string[] {
    return [...this.refs.keys()];
  }

  /** The file's content on `branch` (default branch if omitted), or undefined. */
  readFile(path: string, branch = this.defaultBranch): string | undefined {
    const sha = this.treeOf(branch).get(path);
    return sha ? this.blobs.get(sha)!.toString("utf8") : undefined;
  }

  /** Every path on `branch`, sorted. */
  listFiles(branch = this.defaultBranch): string[] {
    return [...this.treeOf(branch).keys()].sort();
  }

  /**
   * Commit a change directly to a branch (e.g. a person editing main), as
   * `pusher` (the App by default). A test hook: it bypasses rulesets, as an
   * admin's push may.
   */
  commitFiles(
    changes: Record<string, string | null>,
    message = "Direct commit",
    branch = this.defaultBranch,
    pusher = this.login,
  ): string {
    const parent = this.refs.get(branch);
    if (!parent) throw new Error(`no branch ${branch}`);
    const tree = new Map(this.trees.get(this.commits.get(parent)!.tree)!);
    for (const [path, content] of Object.entries(changes)) {
      if (content === null) tree.delete(path);
      else tree.set(path, this.putBlob(Buffer.from(content)));
    }
    const sha = this.putCommit(this.putTree(tree), [parent], message);
    this.moveRef(branch, sha, pusher);
    return sha;
  }

  /**
   * Point `branch` at `sha`, as a push by `pusher`. A push to an open PR's
   * head records its pusher (require_last_push_approval) and, when the base
   * branch's active rules say dismiss_stale_reviews_on_push, dismisses the
   * PR's approvals (GitHub Docs, "Available rules for rulesets": "New,
   * reviewable commits pushed will dismiss previous pull request review
   * approvals"; docs/design.md#approval-by-pull-request).
   */
  private moveRef(branch: string, sha: string, pusher: string): void {
    const before = this.refs.get(branch);
    this.refs.set(branch, sha);
    this.pushers.set(branch, pusher);
    if (before === undefined || before === sha) return;
    for (const pr of this.pulls) {
      if (pr.state !== "open" || pr.head !== branch) continue;
      pr.lastPusher = pusher;
      const dismiss = this.pullRequestRules(pr.base).some(
        (r) => r.parameters.dismiss_stale_reviews_on_push === true,
      );
      if (dismiss)
        for (const r of this.reviews)
          if (r.pr === pr.number && r.state === "APPROVED") r.state = "DISMISSED";
    }
  }

  /** The `pull_request` rules of the active rulesets on `branch`, with their ruleset. */
  private pullRequestRules(branch: string) {
    return this.rulesFor(branch).flatMap((r) =>
      r.rules
        .filter((x) => x.type === "pull_request")
        .map((x) => ({ ruleset: r, parameters: x.parameters ?? {} })),
    );
  }

  /** A team of the owner organisation and its members (for code owners named `@org/team`). */
  setTeam(slug: string, members: string[]): void {
    this.teams.set(slug, new Set(members));
  }

  /** The reviews of a pull request, oldest first (copies). */
  listReviews(number: number): FakeReview[] {
    return this.reviews.filter((r) => r.pr === number).map((r) => ({ ...r }));
  }

  /** CODEOWNERS on `ref` (a branch or a commit), in GitHub's lookup order. */
  private codeownersAt(tree: Map<string, string>): string | undefined {
    const file = CODEOWNERS_PATHS.find((p) => tree.has(p));
    return file ? this.blobs.get(tree.get(file)!)!.toString("utf8") : undefined;
  }

  private isOwner(login: string, owners: CodeOwners): boolean {
    return (
      owners.users.includes(login) ||
      owners.orgTeams.some((t) => t.org === this.owner && !!this.teams.get(t.slug)?.has(login))
    );
  }

  /**
   * Why the base branch's rules refuse to merge `pr` for `actor`, or nothing
   * (GitHub Docs, "Available rules for rulesets", "Require a pull request
   * before merging"): the required count of approvals (the latest review per
   * reviewer, not by the author, counts; a dismissed one does not), no
   * outstanding request for changes, an approval by a code owner of each
   * owned file (per CODEOWNERS on the base), and an approval of the latest
   * push by someone other than its pusher. Only the App, named as an
   * `Integration` bypass actor, ever bypasses here: stricter than GitHub,
   * where a role or team may be named too.
   */
  private mergeBlockers(pr: FakePull, actor: FakeActor): string[] {
    const head = this.refs.get(pr.head)!;
    const latest = new Map<string, FakeReview>();
    for (const r of this.reviews)
      if (
        r.pr === pr.number &&
        r.user !== pr.user &&
        r.state !== "COMMENTED" &&
        r.state !== "PENDING"
      )
        latest.set(r.user, r);
    const approvals = [...latest.values()].filter((r) => r.state === "APPROVED");
    const why: string[] = [];
    for (const { ruleset, parameters } of this.pullRequestRules(pr.base)) {
      if (this.appBypasses(ruleset, actor)) continue;
      const need = Number(parameters.required_approving_review_count ?? 0);
      if (approvals.length < need)
        why.push(
          `At least ${need} approving review${need === 1 ? " is" : "s are"} required by reviewers with write access.`,
        );
      if ([...latest.values()].some((r) => r.state === "CHANGES_REQUESTED"))
        why.push("Changes must be addressed before merging.");
      if (parameters.require_code_owner_review === true) {
        const text = this.codeownersAt(this.treeOf(pr.base)) ?? "";
        const base = this.treeOf(pr.base);
        const after = this.trees.get(this.commits.get(head)!.tree)!;
        for (const path of [...new Set([...base.keys(), ...after.keys()])].sort()) {
          if (base.get(path) === after.get(path)) continue;
          const owners = codeownersFor(path, text);
          if (!owners.users.length && !owners.orgTeams.length) continue;
          if (!approvals.some((a) => this.isOwner(a.user, owners)))
            why.push(`Waiting on code owner review for ${path}.`);
        }
      }
      if (
        parameters.require_last_push_approval === true &&
        !approvals.some((a) => a.commitId === head && a.user !== pr.lastPusher)
      )
        why.push("The most recent push must be approved by someone other than the last pusher.");
    }
    return [...new Set(why)];
  }

  /**
   * `PUT /pulls/{n}/merge` as `actor`: 405 while the base branch's rules
   * refuse it (GitHub answers "Repository rule violations found"), 409 when
   * `sha` is not the head. The change is applied as "Squash and merge" does.
   */
  private mergeByApi(pr: FakePull, actor: FakeActor, sha: string | undefined) {
    if (pr.state !== "open") throw new HttpError(405, "Pull Request is not mergeable");
    const head = this.refs.get(pr.head);
    if (!head) throw new HttpError(405, "Pull Request is not mergeable");
    if (sha !== undefined && sha !== head)
      throw new HttpError(409, "Head branch was modified. Review and try the merge again.");
    const why = this.mergeBlockers(pr, actor);
    if (why.length)
      throw new HttpError(405, `Repository rule violations found\n\n${why.join("\n")}\n\n`);
    const merged = this.merge(pr.number, actor.login);
    return { sha: merged, merged: true, message: "Pull Request successfully merged" };
  }

  /**
   * Merge an open PR the way "Squash and merge" does: the change between the
   * head branch and the commit it forked from is applied to the base branch's
   * current tree. Returns the merge commit. A test hook that bypasses the
   * rules (an admin's merge); `PUT /pulls/{n}/merge` enforces them.
   */
  merge(number: number, by = this.login): string {
    const pr = this.pulls.find((p) => p.number === number);
    if (!pr) throw new Error(`no pull request #${number}`);
    if (pr.state !== "open")
      throw new Error(`pull request #${number} is ${pr.merged ? "merged" : "closed"}`);
    const headSha = this.refs.get(pr.head);
    if (!headSha) throw new Error(`head branch ${pr.head} is gone`);
    const mergeBase = this.mergeBase(headSha, this.refs.get(pr.base)!);
    const before = mergeBase
      ? this.trees.get(this.commits.get(mergeBase)!.tree)!
      : new Map<string, string>();
    const after = this.trees.get(this.commits.get(headSha)!.tree)!;
    const changes: Record<string, string | null> = {};
    for (const [path, sha] of after)
      if (before.get(path) !== sha) changes[path] = this.blobs.get(sha)!.toString("utf8");
    for (const path of before.keys()) if (!after.has(path)) changes[path] = null;
    const sha = this.commitFiles(changes, `${pr.title} (#${pr.number})`, pr.base, by);
    pr.state = "closed";
    pr.merged = true;
    pr.mergeCommitSha = sha;
    pr.mergedBy = by;
    pr.mergedAt = this.now();
    pr.headSha = headSha;
    pr.updatedAt = pr.mergedAt;
    return sha;
  }

  /** Close a PR without merging. */
  closePull(number: number): void {
    const pr = this.pulls.find((p) => p.number === number);
    if (!pr) throw new Error(`no pull request #${number}`);
    pr.state = "closed";
    pr.updatedAt = this.now();
  }

  /** A token that acts as `login`, a person with push rights (not the App). */
  personToken(login: string): string {
    const token = `person-${login}`;
    this.people.set(token, { login, type: "User", via: "person" });
    return token;
  }

  /**
   * The workflow's own GITHUB_TOKEN: github-actions[bot], not the App. It can
   * never hold Administration (GitHub Docs, "Controlling permissions for
   * GITHUB_TOKEN" lists no such scope), so it is no bypass actor and sees no
   * ruleset's bypass actors (docs/design.md#gate-token).
   */
  workflowToken(): string {
    const token = "ghs_workflowToken0123456789abcdefghijklmn";
    this.people.set(token, { login: WORKFLOW_TOKEN_LOGIN, type: "Bot", via: "workflow" });
    return token;
  }

  /**
   * An installation token of the App narrowed to `administration` (what
   * actions/create-github-app-token's `permission-administration` asks for;
   * none asked = the installation's). GitHub refuses a permission the
   * installation was not granted, so this throws.
   */
  installationToken(administration?: "read" | "write"): string {
    const granted = this.appAdministration === "none" ? undefined : this.appAdministration;
    const rank = (p?: string) => (p === "write" ? 2 : p === "read" ? 1 : 0);
    if (rank(administration) > rank(granted))
      throw new Error(
        `The permissions requested are not granted to this installation (administration: ${administration}; granted: ${this.appAdministration})`,
      );
    const token = `ghs_app${this.people.size}_${administration ?? "all"}`;
    this.people.set(token, { ...this.appActor(), administration: administration ?? granted });
    return token;
  }

  /**
   * What actions/create-github-app-token gets for `clientId` and `privateKey`:
   * the gate App's token when they are its own, else the App's
   * (`installationToken`). A wrong or empty key for the gate App is refused,
   * as GitHub refuses a JWT it cannot verify.
   */
  mintAppToken(
    clientId: string,
    privateKey: string,
    administration?: "read" | "write",
    members?: "read",
    scope: "repository" | "owner" = "repository",
  ): string {
    const gate = this.gateApp;
    if (!gate || clientId !== gate.clientId) return this.installationToken(administration);
    if (privateKey !== gate.privateKey)
      throw new Error(
        `A JSON web token could not be decoded (client ${clientId}: not its private key)`,
      );
    const rank = (p?: string) => (p === "write" ? 2 : p === "read" ? 1 : 0);
    if (rank(administration) > rank(gate.administration))
      throw new Error(
        `The permissions requested are not granted to this installation (administration: ${administration}; granted: ${gate.administration})`,
      );
    if (members && gate.members === "none")
      throw new Error(
        `The permissions requested are not granted to this installation (members: ${members}; granted: none)`,
      );
    // actions/create-github-app-token: with any permission-* input the token
    // holds only those; with none, all the installation's.
    const narrowed = administration !== undefined || members !== undefined;
    const asked = narrowed ? members : gate.members === "read" ? "read" : undefined;
    // Without `owner:` the token is limited to the repository; under the
    // stricter reading it then holds no organization permission.
    const holdsMembers =
      scope === "owner" || this.orgPermissionsInRepositoryTokens === "kept" ? asked : undefined;
    const token = `ghs_gate${this.people.size}_${administration ?? gate.administration}`;
    this.people.set(token, {
      login: "dkim-gate[bot]",
      type: "Bot",
      via: "gate-app",
      administration: administration ?? gate.administration,
      ...(holdsMembers ? { members: holdsMembers } : {}),
    });
    return token;
  }

  /** The App's installation token with all its permissions (any token not minted otherwise). */
  private appActor(): FakeActor {
    return {
      login: this.login,
      type: "Bot",
      via: "app",
      ...(this.appAdministration === "none" ? {} : { administration: this.appAdministration }),
    };
  }

  /** The App, named as an `Integration` bypass actor of `r`, acting through its own token. */
  private appBypasses(r: Required<FakeRuleset>, actor: FakeActor): boolean {
    return (
      actor.via === "app" &&
      r.bypassActors.some((a) => a.actorType === "Integration" && a.actorId === this.appId)
    );
  }

  /** An admin's push of an existing commit to `branch` (bypassing the rules). */
  pushRef(branch: string, sha: string, pusher: string): void {
    if (!this.commits.has(sha)) throw new Error(`no commit ${sha}`);
    this.moveRef(branch, sha, pusher);
  }

  /** An admin switches a ruleset to `enforcement`. Returns its id. */
  setRulesetEnforcement(id: number, enforcement: FakeRuleset["enforcement"]): number {
    const r = this.rulesets.find((x) => x.id === id);
    if (!r) throw new Error(`no ruleset ${id}`);
    r.enforcement = enforcement;
    return id;
  }

  /** An admin names who may bypass ruleset `id`. */
  setBypassActors(id: number, actors: FakeRuleset["bypassActors"]): void {
    const r = this.rulesets.find((x) => x.id === id);
    if (!r) throw new Error(`no ruleset ${id}`);
    r.bypassActors = actors;
  }

  /** An admin edits the `pull_request` rule's parameters of ruleset `id`. */
  setPullRequestRule(id: number, parameters: Record<string, unknown>): void {
    const rule = this.rulesets
      .find((x) => x.id === id)
      ?.rules.find((x) => x.type === "pull_request");
    if (!rule) throw new Error(`ruleset ${id} has no pull_request rule`);
    rule.parameters = { ...rule.parameters, ...parameters };
  }

  /** Add a branch ruleset (what an admin does in Settings → Rules, or infra/). Returns its id. */
  addRuleset(r: FakeRuleset): number {
    const id = r.id ?? this.rulesets.length + 1;
    this.rulesets.push({ exclude: [], ...r, id });
    return id;
  }

  /**
   * The rulesets docs/operations.md asks for and infra/ creates: the record
   * branches restricted with the App as the only bypass actor, and the
   * default branch's pull_request rule (docs/design.md#bot-branches); in
   * pull-request mode the request branches too, and the rule requires
   * `requiredApprovals` (docs/design.md#approval-by-pull-request).
   */
  protectAsDocumented(
    mode: { approval?: "environment" | "pull-request"; requiredApprovals?: number } = {},
  ): void {
    this.addRuleset({
      name: "DKIM record branches: the App only",
      enforcement: "active",
      include: botBranchPatterns(mode.approval ?? "environment"),
      rules: BOT_BRANCH_RULES.map((type) => ({ type })),
      bypassActors: [{ actorId: this.appId, actorType: "Integration", bypassMode: "always" }],
    });
    this.addRuleset({
      name: "Default branch: reviewed pull requests",
      enforcement: "active",
      include: ["~DEFAULT_BRANCH"],
      rules: [
        {
          type: "pull_request",
          parameters: {
            ...DEFAULT_BRANCH_PULL_REQUEST,
            ...(mode.approval === "pull-request"
              ? { required_approving_review_count: mode.requiredApprovals ?? 2 }
              : {}),
          },
        },
      ],
      bypassActors: [],
    });
  }

  /** Comments on a pull request (oldest first). */
  listComments(number: number): string[] {
    return this.comments.filter((c) => c.pr === number).map((c) => c.body);
  }

  /**
   * The rules of active rulesets that apply to `branch` (evaluate and disabled
   * ones do not count: GitHub Docs, "Get rules for a branch").
   */
  private rulesFor(branch: string) {
    const ref = `refs/heads/${branch}`;
    const hits = (patterns: string[]) =>
      patterns.some((p) =>
        p === "~ALL"
          ? true
          : p === "~DEFAULT_BRANCH"
            ? branch === this.defaultBranch
            : fnmatchRef(p).test(ref),
      );
    return this.rulesets.filter(
      (r) => r.enforcement === "active" && hits(r.include) && !hits(r.exclude),
    );
  }

  /**
   * Refuse a write to `branch` that a ruleset restricts, unless the actor may
   * bypass it. Only the App is ever a bypass actor here (`Integration` with
   * its id); a person's token never is, which is stricter than a real
   * repository where a role or team may be. GitHub answers a REST ref or
   * contents write a ruleset blocks with 422 "Repository rule violations
   * found" (docs/design.md#bot-branches).
   */
  private enforceRules(
    branch: string,
    actor: FakeActor,
    kind: "creation" | "update" | "deletion",
    forced = false,
  ): void {
    for (const r of this.rulesFor(branch)) {
      if (this.appBypasses(r, actor)) continue;
      const types = new Set(r.rules.map((x) => x.type));
      const why = types.has(kind)
        ? kind === "creation"
          ? "Cannot create ref due to creations being restricted."
          : kind === "deletion"
            ? "Cannot delete this protected ref."
            : "Cannot update this protected ref."
        : forced && types.has("non_fast_forward")
          ? "Cannot force-push to this branch"
          : kind === "update" && types.has("pull_request")
            ? // A push to a branch whose rules require a pull request (GitHub Docs, "Available rules for rulesets").
              "Changes must be made through a pull request."
            : undefined;
      if (why)
        throw new HttpError(422, `Repository rule violations found\n\n${why}\n\n`, undefined);
    }
  }

  // ---------------------------------------------------------------- storage

  private now(): string {
    // Strictly increasing, second resolution like GitHub's timestamps.
    const now = this.timeSource?.now().getTime() ?? Date.now();
    this.clock = Math.max(this.clock + 1000, Math.floor(now / 1000) * 1000);
    return new Date(this.clock).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  private putBlob(content: Buffer): string {
    const sha = gitBlobSha(content);
    this.blobs.set(sha, content);
    return sha;
  }

  private putTree(tree: Map<string, string>): string {
    const entries = [...tree.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    const sha = createHash("sha1")
      .update(`tree ${JSON.stringify(entries)}`)
      .digest("hex");
    this.trees.set(sha, new Map(entries));
    return sha;
  }

  private putCommit(tree: string, parents: string[], message: string): string {
    const date = this.now();
    const sha = createHash("sha1")
      .update(`commit ${JSON.stringify({ tree, parents, message, date, n: this.commits.size })}`)
      .digest("hex");
    this.commits.set(sha, { sha, tree, parents, message, date });
    return sha;
  }

  private treeOf(branch: string): Map<string, string> {
    const sha = this.refs.get(branch);
    if (!sha) throw new Error(`no branch ${branch}`);
    return this.trees.get(this.commits.get(sha)!.tree)!;
  }

  private ancestors(sha: string): Set<string> {
    const seen = new Set<string>();
    const stack = [sha];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      stack.push(...(this.commits.get(s)?.parents ?? []));
    }
    return seen;
  }

  private mergeBase(a: string, b: string): string | undefined {
    const ofB = this.ancestors(b);
    // Breadth-first from a: the first ancestor of a that b also has.
    const queue = [a];
    const seen = new Set<string>();
    while (queue.length) {
      const s = queue.shift()!;
      if (seen.has(s)) continue;
      seen.add(s);
      if (ofB.has(s)) return s;
      queue.push(...(this.commits.get(s)?.parents ?? []));
    }
    return undefined;
  }

  // ---------------------------------------------------------------- shapes

  private repoJson() {
    const full = `${this.owner}/${this.repo}`;
    return {
      ...this.actions.minimalRepository(),
      name: this.repo,
      full_name: full,
      private: this.visibility !== "public",
      visibility: this.visibility,
      clone_url: `https://github.com/${full}.git`,
      git_url: `git://github.com/${full}.git`,
      ssh_url: `git@github.com:${full}.git`,
      svn_url: `https://github.com/${full}`,
      homepage: null,
      language: null,
      mirror_url: null,
      license: null,
      forks: 0,
      forks_count: 0,
      stargazers_count: 0,
      watchers: 0,
      watchers_count: 0,
      open_issues: 0,
      open_issues_count: 0,
      network_count: 0,
      subscribers_count: 0,
      size: 0,
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_downloads: true,
      has_discussions: false,
      archived: false,
      disabled: false,
      pushed_at: "2026-01-01T00:00:00Z",
      created_at: "2026-01-01T00:00:00Z",
      updated_at: "2026-01-01T00:00:00Z",
      html_url: `https://github.com/${full}`,
      url: `${this.baseUrl}/repos/${full}`,
      default_branch: this.defaultBranch,
    };
  }

  private commitJson(c: FakeCommit) {
    return {
      sha: c.sha,
      node_id: `C_${c.sha.slice(0, 8)}`,
      url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/git/commits/${c.sha}`,
      html_url: `https://github.com/${this.owner}/${this.repo}/commit/${c.sha}`,
      message: c.message,
      tree: {
        sha: c.tree,
        url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/git/trees/${c.tree}`,
      },
      parents: c.parents.map((p) => ({
        sha: p,
        url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/git/commits/${p}`,
      })),
      author: { name: this.login, email: "bot@example.invalid", date: c.date },
      committer: { name: this.login, email: "bot@example.invalid", date: c.date },
      verification: { verified: false, reason: "unsigned", signature: null, payload: null },
    };
  }

  private refJson(branch: string) {
    const sha = this.refs.get(branch)!;
    return {
      ref: `refs/heads/${branch}`,
      node_id: `REF_${branch}`,
      url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/git/refs/heads/${branch}`,
      object: {
        type: "commit",
        sha,
        url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/git/commits/${sha}`,
      },
    };
  }

  /**
   * `GET /repos/{o}/{r}/compare/{base}...{head}` (GitHub Docs, "Compare two
   * commits"): `ahead_by`/`behind_by` count the commits each side has that the
   * other lacks; `commits` are the head's, oldest first, at most 250; `files`
   * is the diff from the merge base to the head, at most 300.
   */
  private compareJson(baseRef: string, headRef: string) {
    const resolve = (r: string) => this.refs.get(r) ?? (this.commits.has(r) ? r : undefined);
    const base = resolve(baseRef);
    const head = resolve(headRef);
    if (!base || !head) throw new HttpError(404, "Not Found");
    const mb = this.mergeBase(head, base);
    if (!mb) throw new HttpError(404, `No common ancestor between ${baseRef} and ${headRef}.`);
    const ofBase = this.ancestors(base);
    const ofHead = this.ancestors(head);
    const ahead = this.firstParentOrder(head).filter((c) => !ofBase.has(c));
    const behindBy = [...ofBase].filter((c) => !ofHead.has(c)).length;
    const before = this.trees.get(this.commits.get(mb)!.tree)!;
    const after = this.trees.get(this.commits.get(head)!.tree)!;
    const files = [...new Set([...before.keys(), ...after.keys()])]
      .sort()
      .filter((p) => before.get(p) !== after.get(p))
      .slice(0, 300)
      .map((p) => {
        const sha = after.get(p) ?? before.get(p)!;
        const status = !before.has(p) ? "added" : !after.has(p) ? "removed" : "modified";
        const lines = this.blobs.get(sha)!.toString("utf8").split("\n").length;
        const blob = `https://github.com/${this.owner}/${this.repo}/blob/${head}/${p}`;
        return {
          sha,
          filename: p,
          status,
          additions: status === "removed" ? 0 : lines,
          deletions: status === "added" ? 0 : lines,
          changes: lines * (status === "modified" ? 2 : 1),
          blob_url: blob,
          raw_url: blob.replace("/blob/", "/raw/"),
          contents_url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/contents/${p}?ref=${head}`,
        };
      });
    const html = `https://github.com/${this.owner}/${this.repo}/compare/${baseRef}...${headRef}`;
    return {
      url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/compare/${baseRef}...${headRef}`,
      html_url: html,
      permalink_url: `https://github.com/${this.owner}/${this.repo}/compare/${this.owner}:${base.slice(0, 7)}...${this.owner}:${head.slice(0, 7)}`,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      base_commit: this.restCommitJson(base),
      merge_base_commit: this.restCommitJson(mb),
      status:
        ahead.length && behindBy
          ? "diverged"
          : ahead.length
            ? "ahead"
            : behindBy
              ? "behind"
              : "identical",
      ahead_by: ahead.length,
      behind_by: behindBy,
      total_commits: ahead.length,
      commits: ahead.slice(0, 250).map((c) => this.restCommitJson(c)),
      files,
    };
  }

  /** The head's commits in first-parent order, oldest first. */
  private firstParentOrder(head: string): string[] {
    const out: string[] = [];
    for (let c: string | undefined = head; c; c = this.commits.get(c)?.parents[0]) out.unshift(c);
    return out;
  }

  /** A commit as the REST "commits" endpoints return it (schema `commit`). */
  private restCommitJson(sha: string) {
    const c = this.commits.get(sha)!;
    const git = this.commitJson(c);
    const api = `${this.baseUrl}/repos/${this.owner}/${this.repo}`;
    return {
      url: `${api}/commits/${sha}`,
      sha,
      node_id: git.node_id,
      html_url: git.html_url,
      comments_url: `${api}/commits/${sha}/comments`,
      commit: {
        url: git.url,
        author: git.author,
        committer: git.committer,
        message: c.message,
        comment_count: 0,
        tree: git.tree,
        verification: { ...git.verification, verified_at: null },
      },
      author: null,
      committer: null,
      parents: git.parents.map((p) => ({
        ...p,
        html_url: `https://github.com/${this.owner}/${this.repo}/commit/${p.sha}`,
      })),
    };
  }

  private commentJson(c: { id: number; pr: number; body: string; user: string; at: string }) {
    const api = `${this.baseUrl}/repos/${this.owner}/${this.repo}`;
    return {
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${api}/issues/comments/${c.id}`,
      html_url: `https://github.com/${this.owner}/${this.repo}/pull/${c.pr}#issuecomment-${c.id}`,
      issue_url: `${api}/issues/${c.pr}`,
      body: c.body,
      user: {
        ...this.actions.userJson(c.user, 41898282),
        type: c.user.endsWith("[bot]") ? "Bot" : "User",
      },
      created_at: c.at,
      updated_at: c.at,
      author_association: "NONE",
    };
  }

  private labelJson(name: string, i: number) {
    return {
      id: i + 1,
      node_id: `LA_${i + 1}`,
      url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/labels/${encodeURIComponent(name)}`,
      name,
      // pull-request-simple's label requires a string here.
      description: "",
      color: "ededed",
      default: false,
    };
  }

  /** A user as the REST API shows one; the App's login is a Bot. */
  private userOf(login: string) {
    return {
      ...this.actions.userJson(login, login === this.login ? 41898282 : 600 + (hash(login) % 1000)),
      type: login.endsWith("[bot]") ? "Bot" : "User",
    };
  }

  private reviewJson(r: FakeReview) {
    const api = `${this.baseUrl}/repos/${this.owner}/${this.repo}`;
    const html = `https://github.com/${this.owner}/${this.repo}/pull/${r.pr}#pullrequestreview-${r.id}`;
    return {
      id: r.id,
      node_id: `PRR_${r.id}`,
      user: this.userOf(r.user),
      body: r.body,
      state: r.state,
      html_url: html,
      pull_request_url: `${api}/pulls/${r.pr}`,
      _links: { html: { href: html }, pull_request: { href: `${api}/pulls/${r.pr}` } },
      ...(r.state === "PENDING" ? {} : { submitted_at: r.submittedAt }),
      commit_id: r.commitId,
      author_association: "COLLABORATOR",
    };
  }

  /**
   * A ruleset as `GET /repos/{o}/{r}/rulesets/{id}` returns it. Its
   * `bypass_actors` are shown only to a token that may edit the ruleset
   * (docs/design.md#gate-token): an App token with Administration write (or
   * read, under `rulesetReaders: "administration-read"`); never the
   * workflow's GITHUB_TOKEN, nor a person's (a writer here, not an admin).
   */
  private rulesetJson(r: Required<FakeRuleset>, actor: FakeActor) {
    const readsBypass =
      (actor.via === "app" || actor.via === "gate-app") &&
      (actor.administration === "write" ||
        (actor.administration === "read" && this.rulesetReaders === "administration-read"));
    const full = `${this.owner}/${this.repo}`;
    return {
      id: r.id,
      name: r.name,
      target: "branch",
      source_type: "Repository",
      source: full,
      enforcement: r.enforcement,
      ...(readsBypass
        ? {
            bypass_actors: r.bypassActors.map((a) => ({
              actor_id: a.actorId,
              actor_type: a.actorType,
              bypass_mode: a.bypassMode ?? "always",
            })),
          }
        : {}),
      current_user_can_bypass: this.appBypasses(r, actor) ? "always" : "never",
      node_id: `RRS_${r.id}`,
      _links: {
        self: { href: `${this.baseUrl}/repos/${full}/rulesets/${r.id}` },
        html: { href: `https://github.com/${full}/rules/${r.id}` },
      },
      conditions: { ref_name: { include: r.include, exclude: r.exclude } },
      rules: r.rules,
      created_at: "2026-01-01T00:00:00Z",
      updated_at: "2026-01-01T00:00:00Z",
    };
  }

  /** `GET /commits/{sha}`: the commit with its files against its first parent. */
  private commitWithFilesJson(sha: string) {
    const c = this.commits.get(sha)!;
    const before = c.parents[0]
      ? this.trees.get(this.commits.get(c.parents[0])!.tree)!
      : new Map<string, string>();
    const after = this.trees.get(c.tree)!;
    const files = [...new Set([...before.keys(), ...after.keys()])]
      .sort()
      .filter((p) => before.get(p) !== after.get(p))
      .map((p) => {
        const blob = after.get(p) ?? before.get(p)!;
        const status = !before.has(p) ? "added" : !after.has(p) ? "removed" : "modified";
        const lines = this.blobs.get(blob)!.toString("utf8").split("\n").length;
        const url = `https://github.com/${this.owner}/${this.repo}/blob/${sha}/${p}`;
        return {
          sha: blob,
          filename: p,
          status,
          additions: status === "removed" ? 0 : lines,
          deletions: status === "added" ? 0 : lines,
          changes: lines,
          blob_url: url,
          raw_url: url.replace("/blob/", "/raw/"),
          contents_url: `${this.baseUrl}/repos/${this.owner}/${this.repo}/contents/${p}?ref=${sha}`,
        };
      });
    const total = files.reduce((n, f) => n + f.changes, 0);
    return {
      ...this.restCommitJson(sha),
      stats: {
        total,
        additions: files.reduce((n, f) => n + f.additions, 0),
        deletions: files.reduce((n, f) => n + f.deletions, 0),
      },
      files,
    };
  }

  private pullJson(p: FakePull) {
    const full = `${this.owner}/${this.repo}`;
    const headSha = this.refs.get(p.head) ?? p.headSha ?? "";
    const api = `${this.baseUrl}/repos/${full}`;
    const html = `https://github.com/${full}/pull/${p.number}`;
    const links = {
      self: `${api}/pulls/${p.number}`,
      html,
      issue: `${api}/issues/${p.number}`,
      comments: `${api}/issues/${p.number}/comments`,
      review_comments: `${api}/pulls/${p.number}/comments`,
      review_comment: `${api}/pulls/comments{/number}`,
      commits: `${api}/pulls/${p.number}/commits`,
      statuses: `${api}/statuses/${headSha}`,
    };
    return {
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: links.issue,
      commits_url: links.commits,
      review_comments_url: links.review_comments,
      review_comment_url: links.review_comment,
      comments_url: links.comments,
      statuses_url: links.statuses,
      _links: Object.fromEntries(Object.entries(links).map(([k, href]) => [k, { href }])),
      assignee: null,
      assignees: [],
      milestone: null,
      active_lock_reason: null,
      merge_commit_sha: p.mergeCommitSha ?? null,
      author_association: "NONE",
      auto_merge: null,
      additions: 0,
      deletions: 0,
      changed_files: 1,
      comments: 0,
      review_comments: 0,
      commits: 1,
      mergeable: null,
      mergeable_state: "unknown",
      maintainer_can_modify: false,
      merged_by: p.mergedBy ? this.userOf(p.mergedBy) : null,
      url: `${this.baseUrl}/repos/${full}/pulls/${p.number}`,
      id: 1000 + p.number,
      node_id: `PR_${p.number}`,
      html_url: `https://github.com/${full}/pull/${p.number}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      body: p.body,
      user: this.userOf(p.user),
      labels: p.labels.map((name, i) => this.labelJson(name, i)),
      requested_reviewers: p.reviewers.map((login, i) => this.actions.userJson(login, 600 + i)),
      requested_teams: p.teamReviewers.map((slug, i) =>
        this.actions.teamJson({ id: 700 + i, login: slug }),
      ),
      created_at: p.createdAt,
      updated_at: p.updatedAt,
      closed_at: p.state === "closed" ? p.updatedAt : null,
      merged_at: p.mergedAt,
      merged: p.merged,
      draft: false,
      head: {
        label: `${this.owner}:${p.head}`,
        ref: p.head,
        sha: headSha,
        user: this.actions.userJson(this.owner, this.ownerId),
        repo: this.repoJson(),
      },
      base: {
        label: `${this.owner}:${p.base}`,
        ref: p.base,
        sha: this.refs.get(p.base) ?? "",
        user: this.actions.userJson(this.owner, this.ownerId),
        repo: this.repoJson(),
      },
    };
  }

  // ---------------------------------------------------------------- HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const path = decodeURIComponent(url.pathname);
    const query = Object.fromEntries(url.searchParams.entries());
    const method = (req.method ?? "GET").toUpperCase();
    let body: unknown = undefined;
    let status = 500;
    let response: unknown = undefined;
    const at = Date.now();
    try {
      const raw = await readBody(req);
      if (raw.length) {
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          throw new HttpError(400, "Problems parsing JSON");
        }
      }
      if (!req.headers.authorization) throw new HttpError(401, "Requires authentication");
      const injected = this.takeFailure(method, path);
      if (injected)
        throw new HttpError(injected.status, injected.message, injected.errors, injected.headers);
      const out =
        path === "/_runner/idtoken" && method === "GET"
          ? this.actions.idToken(query, req.headers.authorization)
          : this.route(
              method,
              path,
              query,
              (body ?? {}) as Record<string, unknown>,
              this.actorOf(req.headers.authorization),
            );
      response = out.body;
      status = out.status;
      res.writeHead(out.status, {
        "content-type": "application/json; charset=utf-8",
        "x-github-request-id": `FAKE:${this.requests.length + 1}`,
        ...out.headers,
      });
      res.end(out.status === 204 ? undefined : JSON.stringify(out.body));
    } catch (err) {
      const e =
        err instanceof HttpError
          ? err
          : err instanceof HttpFailure
            ? new HttpError(err.status, err.message)
            : new HttpError(500, `fake: ${(err as Error).message}`);
      status = e.status;
      res.writeHead(e.status, {
        "content-type": "application/json; charset=utf-8",
        "x-github-request-id": `FAKE:${this.requests.length + 1}`,
        ...e.headers,
      });
      response = {
        message: e.message,
        ...(e.errors ? { errors: e.errors } : {}),
        documentation_url: DOCS,
        status: String(e.status),
      };
      res.end(JSON.stringify(response));
    } finally {
      this.requests.push({ method, path, query, body, status, response, at });
    }
  }

  private actorOf(authorization: string): FakeActor {
    const token = authorization.replace(/^(token|bearer)\s+/i, "");
    return this.people.get(token) ?? this.appActor();
  }

  private takeFailure(method: string, path: string): InjectedFailure | undefined {
    const f = this.failures.find(
      (x) =>
        x.method.toUpperCase() === method &&
        (typeof x.path === "string" ? x.path === path : x.path.test(path)),
    );
    if (!f) return undefined;
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.failures = this.failures.filter((x) => x !== f);
    return f;
  }

  private route(
    method: string,
    path: string,
    query: Record<string, string>,
    body: Record<string, unknown>,
    actor: FakeActor = this.appActor(),
  ): { status: number; body?: unknown; headers?: Record<string, string> } {
    const prefix = `/repos/${this.owner}/${this.repo}`;
    if (path === "/user" && method === "GET")
      return { status: 200, body: { login: this.login, type: "Bot" } };
    const org = this.orgRoute(method, path, actor);
    if (org) return org;
    if (!path.startsWith(prefix)) throw new HttpError(404, "Not Found");
    const rest = path.slice(prefix.length);
    let m: RegExpExecArray | null;

    if (rest === "" && method === "GET") return { status: 200, body: this.repoJson() };
    const actions = this.actions.route(method, rest, query, body);
    if (actions) return actions;

    // --- git refs
    if ((m = /^\/git\/ref\/heads\/(.+)$/.exec(rest)) && method === "GET") {
      if (!this.refs.has(m[1]!)) throw new HttpError(404, "Not Found");
      return { status: 200, body: this.refJson(m[1]!) };
    }
    if (rest === "/git/refs" && method === "POST") {
      const ref = str(body.ref, "ref");
      const sha = str(body.sha, "sha");
      const bm = /^refs\/heads\/(.+)$/.exec(ref);
      if (!bm) throw new HttpError(422, "Reference name must start with 'refs/heads/'");
      if (this.refs.has(bm[1]!)) throw new HttpError(422, "Reference already exists");
      if (!this.commits.has(sha)) throw new HttpError(422, "Object does not exist");
      this.enforceRules(bm[1]!, actor, "creation");
      this.moveRef(bm[1]!, sha, actor.login);
      return { status: 201, body: this.refJson(bm[1]!) };
    }
    if ((m = /^\/git\/refs\/heads\/(.+)$/.exec(rest))) {
      const branch = m[1]!;
      if (!this.refs.has(branch)) throw new HttpError(422, "Reference does not exist");
      if (method === "PATCH") {
        const sha = str(body.sha, "sha");
        if (!this.commits.has(sha)) throw new HttpError(422, "Object does not exist");
        const fastForward = this.ancestors(sha).has(this.refs.get(branch)!);
        if (body.force !== true && !fastForward) {
          throw new HttpError(422, "Update is not a fast forward");
        }
        this.enforceRules(branch, actor, "update", !fastForward);
        this.moveRef(branch, sha, actor.login);
        return { status: 200, body: this.refJson(branch) };
      }
      if (method === "DELETE") {
        if (branch === this.defaultBranch)
          throw new HttpError(422, "Cannot delete the default branch");
        this.enforceRules(branch, actor, "deletion");
        this.refs.delete(branch);
        return { status: 204 };
      }
    }

    // --- git objects
    if ((m = /^\/git\/commits\/([0-9a-f]{40})$/.exec(rest)) && method === "GET") {
      const c = this.commits.get(m[1]!);
      if (!c) throw new HttpError(404, "Not Found");
      return { status: 200, body: this.commitJson(c) };
    }
    if (rest === "/git/blobs" && method === "POST") {
      const content = str(body.content, "content");
      const encoding = body.encoding === undefined ? "utf-8" : str(body.encoding, "encoding");
      if (encoding !== "utf-8" && encoding !== "base64")
        throw new HttpError(422, "Invalid request. encoding must be utf-8 or base64");
      const sha = this.putBlob(Buffer.from(content, encoding === "base64" ? "base64" : "utf8"));
      return { status: 201, body: { sha, url: `${this.baseUrl}${prefix}/git/blobs/${sha}` } };
    }
    if (rest === "/git/trees" && method === "POST") {
      const entries = body.tree;
      if (!Array.isArray(entries))
        throw new HttpError(422, "Invalid request. tree wasn't supplied.");
      let tree = new Map<string, string>();
      if (body.base_tree !== undefined) {
        const base = this.trees.get(str(body.base_tree, "base_tree"));
        if (!base) throw new HttpError(422, "Invalid request. base_tree is not a valid tree oid");
        tree = new Map(base);
      }
      for (const e of entries as Record<string, unknown>[]) {
        const p = str(e.path, "tree.path");
        if (e.mode !== "100644" && e.mode !== "100755")
          throw new HttpError(
            422,
            `Invalid request. mode ${String(e.mode)} is not supported by the fake`,
          );
        if (e.type !== undefined && e.type !== "blob")
          throw new HttpError(422, "Invalid request. type must be blob");
        if (e.sha === null) {
          if (!tree.has(p))
            throw new HttpError(
              422,
              `GitRPC::BadObjectState: path ${p} does not exist in base_tree`,
            );
          tree.delete(p);
        } else if (typeof e.sha === "string") {
          if (!this.blobs.has(e.sha))
            throw new HttpError(422, `Invalid request. sha ${e.sha} is not a blob`);
          tree.set(p, e.sha);
        } else if (typeof e.content === "string") {
          tree.set(p, this.putBlob(Buffer.from(e.content)));
        } else {
          throw new HttpError(422, "Invalid request. Must supply tree.sha or tree.content");
        }
      }
      const sha = this.putTree(tree);
      return {
        status: 201,
        body: {
          sha,
          url: `${this.baseUrl}${prefix}/git/trees/${sha}`,
          truncated: false,
          tree: [...tree.entries()].map(([p, s]) => ({
            path: p,
            mode: "100644",
            type: "blob",
            sha: s,
            size: this.blobs.get(s)!.length,
          })),
        },
      };
    }
    if (rest === "/git/commits" && method === "POST") {
      const tree = str(body.tree, "tree");
      if (!this.trees.has(tree)) throw new HttpError(422, "Tree SHA does not exist");
      const parents = Array.isArray(body.parents)
        ? (body.parents as unknown[]).map((p) => str(p, "parents"))
        : [];
      for (const p of parents)
        if (!this.commits.has(p))
          throw new HttpError(422, "Parent SHA does not exist or is not a commit object");
      const sha = this.putCommit(tree, parents, str(body.message, "message"));
      return { status: 201, body: this.commitJson(this.commits.get(sha)!) };
    }

    // --- contents: create, update or delete one file in one commit
    if ((m = /^\/contents\/(.+)$/.exec(rest)) && (method === "PUT" || method === "DELETE")) {
      const p = m[1]!;
      const branch = body.branch === undefined ? this.defaultBranch : str(body.branch, "branch");
      if (!this.refs.has(branch)) throw new HttpError(404, `Branch ${branch} not found`);
      const message = str(body.message, "message");
      this.enforceRules(branch, actor, "update");
      const current = this.treeOf(branch).get(p);
      const given = body.sha === undefined ? undefined : str(body.sha, "sha");
      if (method === "DELETE") {
        if (!current) throw new HttpError(404, "Not Found");
        if (given === undefined)
          throw new HttpError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
        if (given !== current) throw new HttpError(409, `${p} does not match ${given}`);
        const sha = this.commitFiles({ [p]: null }, message, branch, actor.login);
        return {
          status: 200,
          body: { content: null, commit: this.commitJson(this.commits.get(sha)!) },
        };
      }
      const content = Buffer.from(str(body.content, "content"), "base64");
      if (current && given === undefined)
        throw new HttpError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
      if (current && given !== current) throw new HttpError(409, `${p} does not match ${given}`);
      const sha = this.commitFiles({ [p]: content.toString("utf8") }, message, branch, actor.login);
      const blob = gitBlobSha(content);
      return {
        status: current ? 200 : 201,
        body: {
          content: {
            name: p.split("/").pop(),
            path: p,
            sha: blob,
            size: content.length,
            type: "file",
            url: `${this.baseUrl}${prefix}/contents/${p}?ref=${branch}`,
            html_url: `https://github.com/${this.owner}/${this.repo}/blob/${branch}/${p}`,
            git_url: `${this.baseUrl}${prefix}/git/blobs/${blob}`,
            download_url: `https://raw.githubusercontent.com/${this.owner}/${this.repo}/${branch}/${p}`,
            _links: {
              self: `${this.baseUrl}${prefix}/contents/${p}?ref=${branch}`,
              git: `${this.baseUrl}${prefix}/git/blobs/${blob}`,
              html: `https://github.com/${this.owner}/${this.repo}/blob/${branch}/${p}`,
            },
          },
          commit: this.commitJson(this.commits.get(sha)!),
        },
      };
    }

    // --- contents (read)
    if ((m = /^\/contents\/(.+)$/.exec(rest)) && method === "GET") {
      const ref = query.ref ?? this.defaultBranch;
      const branch = ref.replace(/^refs\/heads\//, "");
      const atCommit = !this.refs.has(branch) && this.commits.has(ref);
      if (!this.refs.has(branch) && !atCommit)
        throw new HttpError(404, `No commit found for the ref ${ref}`);
      const tree = atCommit ? this.trees.get(this.commits.get(ref)!.tree)! : this.treeOf(branch);
      const p = m[1]!.replace(/\/$/, "");
      const sha = tree.get(p);
      if (sha) {
        const content = this.blobs.get(sha)!;
        return {
          status: 200,
          body: {
            type: "file",
            encoding: "base64",
            size: content.length,
            name: p.split("/").pop(),
            path: p,
            sha,
            // GitHub wraps base64 at 60 columns.
            content: (content.toString("base64").match(/.{1,60}/g) ?? [""]).join("\n") + "\n",
            url: `${this.baseUrl}${prefix}/contents/${p}?ref=${branch}`,
            html_url: `https://github.com/${this.owner}/${this.repo}/blob/${branch}/${p}`,
            git_url: `${this.baseUrl}${prefix}/git/blobs/${sha}`,
            download_url: `https://raw.githubusercontent.com/${this.owner}/${this.repo}/${branch}/${p}`,
            _links: {
              self: `${this.baseUrl}${prefix}/contents/${p}?ref=${branch}`,
              git: `${this.baseUrl}${prefix}/git/blobs/${sha}`,
              html: `https://github.com/${this.owner}/${this.repo}/blob/${branch}/${p}`,
            },
          },
        };
      }
      const children = new Map<string, { type: "file" | "dir"; sha: string }>();
      for (const [fp, fsha] of tree) {
        if (!fp.startsWith(`${p}/`)) continue;
        const rel = fp.slice(p.length + 1);
        const [first, ...more] = rel.split("/");
        children.set(first!, more.length ? { type: "dir", sha: "" } : { type: "file", sha: fsha });
      }
      if (!children.size) throw new HttpError(404, "Not Found");
      return {
        status: 200,
        body: [...children.entries()]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([name, c]) => ({
            type: c.type,
            name,
            path: `${p}/${name}`,
            sha: c.sha,
            size: c.type === "file" ? this.blobs.get(c.sha)!.length : 0,
          })),
      };
    }

    // --- compare two branches (three-dot: the head's changes since the merge base)
    if ((m = /^\/compare\/(.+)\.\.\.(.+)$/.exec(rest)) && method === "GET")
      return { status: 200, body: this.compareJson(m[1]!, m[2]!) };

    // --- the rules that apply to a branch (it need not exist)
    if ((m = /^\/rules\/branches\/(.+)$/.exec(rest)) && method === "GET") {
      const full = `${this.owner}/${this.repo}`;
      return {
        status: 200,
        body: this.rulesFor(m[1]!).flatMap((r) =>
          r.rules.map((rule) => ({
            ...rule,
            ruleset_source_type: "Repository",
            ruleset_source: full,
            ruleset_id: r.id,
          })),
        ),
      };
    }

    // --- one ruleset, with its bypass actors (docs/design.md#approval-by-pull-request)
    if ((m = /^\/rulesets\/(\d+)$/.exec(rest)) && method === "GET") {
      const r = this.rulesets.find((x) => x.id === Number(m![1]));
      if (!r) throw new HttpError(404, "Not Found");
      return { status: 200, body: this.rulesetJson(r, actor) };
    }

    // --- commits: one (with files), the history of a path, the PRs of a commit
    if ((m = /^\/commits\/([0-9a-f]{40})\/pulls$/.exec(rest)) && method === "GET") {
      const sha = m[1]!;
      if (!this.commits.has(sha)) throw new HttpError(422, `No commit found for SHA: ${sha}`);
      // GitHub: the merged PRs that introduced the commit, and open PRs whose head holds it.
      const list = this.pulls.filter((p) => {
        if (p.mergeCommitSha === sha) return true;
        const tip = this.refs.get(p.head) ?? p.headSha;
        return !!tip && this.ancestors(tip).has(sha) && !this.ancestors(p.baseShaAtOpen).has(sha);
      });
      return { status: 200, body: [...list].reverse().map((p) => this.pullJson(p)) };
    }
    if ((m = /^\/commits\/([0-9a-f]{40})$/.exec(rest)) && method === "GET") {
      if (!this.commits.has(m[1]!)) throw new HttpError(422, `No commit found for SHA: ${m[1]}`);
      return { status: 200, body: this.commitWithFilesJson(m[1]!) };
    }
    if (rest === "/commits" && method === "GET") {
      const from = query.sha ?? this.defaultBranch;
      const tip =
        this.refs.get(from.replace(/^refs\/heads\//, "")) ??
        (this.commits.has(from) ? from : undefined);
      if (!tip) throw new HttpError(404, "Not Found");
      const perPage = Math.min(Number(query.per_page ?? 30) || 30, 100);
      const page = Math.max(Number(query.page ?? 1) || 1, 1);
      // Newest first along first parents (the fake's merges are squashes).
      let list = this.firstParentOrder(tip).reverse();
      if (query.path) {
        const path = query.path;
        list = list.filter((sha) => {
          const c = this.commits.get(sha)!;
          const parent = c.parents[0] ? this.commits.get(c.parents[0])! : undefined;
          const now = this.trees.get(c.tree)!.get(path);
          const was = parent ? this.trees.get(parent.tree)!.get(path) : undefined;
          return now !== was;
        });
      }
      return {
        status: 200,
        body: list.slice((page - 1) * perPage, page * perPage).map((c) => this.restCommitJson(c)),
      };
    }

    // --- issue comments (a PR is an issue)
    if ((m = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
      const pr = this.pull(Number(m[1]));
      if (method === "GET") {
        const perPage = Math.min(Number(query.per_page ?? 30) || 30, 100);
        const page = Math.max(Number(query.page ?? 1) || 1, 1);
        const list = this.comments.filter((c) => c.pr === pr.number);
        return {
          status: 200,
          body: list.slice((page - 1) * perPage, page * perPage).map((c) => this.commentJson(c)),
          ...(page * perPage < list.length
            ? {
                headers: {
                  link: `<${this.baseUrl}${prefix}/issues/${pr.number}/comments?per_page=${perPage}&page=${page + 1}>; rel="next"`,
                },
              }
            : {}),
        };
      }
      if (method === "POST") {
        const c = {
          id: 9000 + this.comments.length + 1,
          pr: pr.number,
          body: str(body.body, "body"),
          user: actor.login,
          at: this.now(),
        };
        this.comments.push(c);
        return { status: 201, body: this.commentJson(c) };
      }
    }

    // --- pulls
    if (rest === "/pulls" && method === "GET") {
      const state = query.state ?? "open";
      let list = this.pulls.filter((p) => state === "all" || p.state === state);
      if (query.base) list = list.filter((p) => p.base === query.base);
      if (query.head) list = list.filter((p) => `${this.owner}:${p.head}` === query.head);
      // GitHub's default sort is `created` descending.
      list = [...list].reverse();
      const perPage = Math.min(Number(query.per_page ?? 30) || 30, 100);
      const page = Math.max(Number(query.page ?? 1) || 1, 1);
      const items = list.slice((page - 1) * perPage, page * perPage);
      const headers: Record<string, string> = {};
      if (page * perPage < list.length) {
        const next = new URL(`${this.baseUrl}${prefix}/pulls`);
        for (const [k, v] of Object.entries({
          ...query,
          per_page: String(perPage),
          page: String(page + 1),
        }))
          next.searchParams.set(k, v);
        headers.link = `<${next.toString()}>; rel="next"`;
      }
      return { status: 200, body: items.map((p) => this.pullJson(p)), headers };
    }
    if (rest === "/pulls" && method === "POST") {
      const title = str(body.title, "title");
      const headIn = str(body.head, "head");
      const base = str(body.base, "base");
      const head = headIn.includes(":") ? headIn.slice(headIn.indexOf(":") + 1) : headIn;
      refuseLongBody(body.body);
      if (!this.refs.has(base))
        throw new HttpError(422, "Validation Failed", [
          { resource: "PullRequest", field: "base", code: "invalid" },
        ]);
      if (!this.refs.has(head))
        throw new HttpError(422, "Validation Failed", [
          { resource: "PullRequest", field: "head", code: "invalid" },
        ]);
      if (this.pulls.some((p) => p.state === "open" && p.head === head && p.base === base)) {
        throw new HttpError(422, "Validation Failed", [
          {
            resource: "PullRequest",
            code: "custom",
            message: `A pull request already exists for ${this.owner}:${head}.`,
          },
        ]);
      }
      if (this.ancestors(this.refs.get(base)!).has(this.refs.get(head)!)) {
        throw new HttpError(422, "Validation Failed", [
          {
            resource: "PullRequest",
            code: "custom",
            message: `No commits between ${base} and ${head}`,
          },
        ]);
      }
      const now = this.now();
      const pr: FakePull = {
        number: this.pulls.length + 1,
        title,
        body: typeof body.body === "string" ? body.body : null,
        state: "open",
        merged: false,
        mergedAt: null,
        head,
        base,
        labels: [],
        reviewers: [],
        teamReviewers: [],
        createdAt: now,
        updatedAt: now,
        user: actor.login,
        lastPusher: this.pushers.get(head) ?? actor.login,
        baseShaAtOpen: this.refs.get(base)!,
      };
      this.requestCodeOwners(pr);
      this.pulls.push(pr);
      return { status: 201, body: this.pullJson(pr) };
    }
    if ((m = /^\/pulls\/(\d+)$/.exec(rest))) {
      const pr = this.pull(Number(m[1]));
      if (method === "GET") return { status: 200, body: this.pullJson(pr) };
      if (method === "PATCH") {
        refuseLongBody(body.body);
        if (body.title !== undefined) pr.title = str(body.title, "title");
        if (body.body !== undefined) pr.body = str(body.body, "body");
        if (body.state === "closed" || body.state === "open") pr.state = body.state;
        pr.updatedAt = this.now();
        return { status: 200, body: this.pullJson(pr) };
      }
    }
    // --- reviews (GitHub Docs, "REST API endpoints for pull request reviews")
    if ((m = /^\/pulls\/(\d+)\/reviews$/.exec(rest))) {
      const pr = this.pull(Number(m[1]));
      if (method === "GET") {
        const perPage = Math.min(Number(query.per_page ?? 30) || 30, 100);
        const page = Math.max(Number(query.page ?? 1) || 1, 1);
        // A pending review is visible to its author only.
        const list = this.reviews.filter(
          (r) => r.pr === pr.number && (r.state !== "PENDING" || r.user === actor.login),
        );
        return {
          status: 200,
          body: list.slice((page - 1) * perPage, page * perPage).map((r) => this.reviewJson(r)),
        };
      }
      if (method === "POST") {
        const event = body.event === undefined ? undefined : str(body.event, "event");
        const text = body.body === undefined ? "" : str(body.body, "body");
        const head = this.refs.get(pr.head) ?? pr.headSha ?? "";
        const commitId = body.commit_id === undefined ? head : str(body.commit_id, "commit_id");
        if (!this.commits.has(commitId) || !this.ancestors(head).has(commitId))
          throw new HttpError(422, "Unprocessable Entity", [
            { resource: "PullRequestReview", field: "commit_id", code: "invalid" },
          ]);
        if (pr.state !== "open" && event !== undefined && event !== "COMMENT")
          throw new HttpError(422, "Unprocessable Entity", [
            `Can not ${event === "APPROVE" ? "approve" : "request changes on"} a closed pull request`,
          ]);
        // GitHub refuses a self-review by the PR's author (422).
        if (actor.login === pr.user && event === "APPROVE")
          throw new HttpError(422, "Unprocessable Entity", [
            "Can not approve your own pull request",
          ]);
        if (actor.login === pr.user && event === "REQUEST_CHANGES")
          throw new HttpError(422, "Unprocessable Entity", [
            "Can not request changes on your own pull request",
          ]);
        if ((event === "REQUEST_CHANGES" || event === "COMMENT") && !text)
          throw new HttpError(422, "Unprocessable Entity", [
            `Review Can not be blank when using ${event} event`,
          ]);
        const state =
          event === undefined
            ? "PENDING"
            : event === "APPROVE"
              ? "APPROVED"
              : event === "REQUEST_CHANGES"
                ? "CHANGES_REQUESTED"
                : event === "COMMENT"
                  ? "COMMENTED"
                  : undefined;
        if (!state)
          throw new HttpError(422, "Unprocessable Entity", [
            { resource: "PullRequestReview", field: "event", code: "invalid" },
          ]);
        if (
          state === "PENDING" &&
          this.reviews.some(
            (r) => r.pr === pr.number && r.user === actor.login && r.state === "PENDING",
          )
        )
          throw new HttpError(422, "Unprocessable Entity", [
            "User can only have one pending review per pull request",
          ]);
        const review: FakeReview = {
          id: 80000 + this.reviews.length + 1,
          pr: pr.number,
          user: actor.login,
          state,
          commitId,
          body: text,
          submittedAt: this.now(),
        };
        this.reviews.push(review);
        return { status: 200, body: this.reviewJson(review) };
      }
    }
    if ((m = /^\/pulls\/(\d+)\/reviews\/(\d+)\/dismissals$/.exec(rest)) && method === "PUT") {
      const pr = this.pull(Number(m[1]));
      const review = this.reviews.find((r) => r.pr === pr.number && r.id === Number(m![2]));
      if (!review) throw new HttpError(404, "Not Found");
      str(body.message, "message");
      if (review.state === "PENDING")
        throw new HttpError(422, "Unprocessable Entity", ["Can not dismiss a pending review"]);
      review.state = "DISMISSED";
      return { status: 200, body: this.reviewJson(review) };
    }
    if ((m = /^\/pulls\/(\d+)\/merge$/.exec(rest)) && method === "PUT") {
      const pr = this.pull(Number(m[1]));
      const sha = body.sha === undefined ? undefined : str(body.sha, "sha");
      return { status: 200, body: this.mergeByApi(pr, actor, sha) };
    }

    if ((m = /^\/pulls\/(\d+)\/requested_reviewers$/.exec(rest)) && method === "POST") {
      const pr = this.pull(Number(m[1]));
      const users = arr(body.reviewers, "reviewers");
      const teams = arr(body.team_reviewers, "team_reviewers");
      if (users.includes(pr.user)) {
        throw new HttpError(422, "Review cannot be requested from pull request author.");
      }
      for (const u of users) if (!pr.reviewers.includes(u)) pr.reviewers.push(u);
      for (const t of teams) if (!pr.teamReviewers.includes(t)) pr.teamReviewers.push(t);
      return { status: 201, body: this.pullJson(pr) };
    }

    // --- issue labels (a PR is an issue)
    if ((m = /^\/issues\/(\d+)\/labels$/.exec(rest)) && method === "POST") {
      const pr = this.pull(Number(m[1]));
      for (const l of arr(body.labels, "labels")) if (!pr.labels.includes(l)) pr.labels.push(l);
      return {
        status: 200,
        body: pr.labels.map((name, i) => this.labelJson(name, i)),
      };
    }

    throw new HttpError(404, "Not Found");
  }

  /**
   * `GET /orgs/{org}` (its `plan` shown only when the fake has one: GitHub
   * shows it to the organisation's owners) and a team membership
   * (`GET /orgs/{org}/teams/{slug}/memberships/{user}`: 404 for a non-member).
   */
  private orgRoute(method: string, path: string, actor: FakeActor) {
    if (method !== "GET") return undefined;
    let m: RegExpExecArray | null;
    if ((m = /^\/orgs\/([^/]+)$/.exec(path))) {
      if (m[1] !== this.owner) throw new HttpError(404, "Not Found");
      return {
        status: 200,
        body: {
          login: this.owner,
          id: this.ownerId,
          node_id: `O_${this.ownerId}`,
          url: `${this.baseUrl}/orgs/${this.owner}`,
          repos_url: `${this.baseUrl}/orgs/${this.owner}/repos`,
          events_url: `${this.baseUrl}/orgs/${this.owner}/events`,
          hooks_url: `${this.baseUrl}/orgs/${this.owner}/hooks`,
          issues_url: `${this.baseUrl}/orgs/${this.owner}/issues`,
          members_url: `${this.baseUrl}/orgs/${this.owner}/members{/member}`,
          public_members_url: `${this.baseUrl}/orgs/${this.owner}/public_members{/member}`,
          avatar_url: `https://avatars.githubusercontent.com/u/${this.ownerId}`,
          description: null,
          html_url: `https://github.com/${this.owner}`,
          has_organization_projects: true,
          has_repository_projects: true,
          public_repos: 0,
          public_gists: 0,
          followers: 0,
          following: 0,
          type: "Organization",
          created_at: "2026-01-01T00:00:00Z",
          updated_at: "2026-01-01T00:00:00Z",
          archived_at: null,
          ...(this.plan && actor.via === "app"
            ? { plan: { name: this.plan, space: 976562499, private_repos: 999999 } }
            : {}),
        },
      };
    }
    if ((m = /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/.exec(path))) {
      // GitHub Docs, "Get team membership for a user": an installation token
      // needs "Members" organization permissions (read); GITHUB_TOKEN can never
      // hold it (docs/design.md#gate-token).
      if (actor.via !== "person" && actor.members !== "read")
        throw new HttpError(403, "Resource not accessible by integration");
      const members = m[1] === this.owner ? this.teams.get(m[2]!) : undefined;
      if (!members?.has(m[3]!)) throw new HttpError(404, "Not Found");
      return {
        status: 200,
        body: {
          url: `${this.baseUrl}/orgs/${this.owner}/teams/${m[2]}/memberships/${m[3]}`,
          role: "member",
          state: "active",
        },
      };
    }
    return undefined;
  }

  /**
   * GitHub requests review from the code owners of the changed files when a
   * (non-draft) PR opens, per the base branch's CODEOWNERS ("About code
   * owners"; lookup order .github/, root, docs/).
   */
  private requestCodeOwners(pr: FakePull): void {
    const base = this.treeOf(pr.base);
    const text = this.codeownersAt(base);
    if (text === undefined) return;
    const head = this.treeOf(pr.head);
    const changed = [...new Set([...base.keys(), ...head.keys()])].filter(
      (p) => base.get(p) !== head.get(p),
    );
    for (const path of changed) {
      const owners = codeownersFor(path, text);
      for (const u of owners.users)
        if (u !== pr.user && !pr.reviewers.includes(u)) pr.reviewers.push(u);
      for (const t of owners.teams) if (!pr.teamReviewers.includes(t)) pr.teamReviewers.push(t);
    }
  }

  private pull(n: number): FakePull {
    const pr = this.pulls.find((p) => p.number === n);
    if (!pr) throw new HttpError(404, "Not Found");
    return pr;
  }
}

/**
 * A ruleset's ref pattern (fnmatch, GitHub Docs "Creating rulesets for a
 * repository"): `*` matches within one path segment, `**` across segments
 * (`**\/` also matches none), `?` one character.
 */
function fnmatchRef(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      i++;
      if (pattern[i + 1] === "/") {
        i++;
        re += "(?:.*/)?";
      } else re += ".*";
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/** A small stable number for a login (fake user ids). */
function hash(text: string): number {
  return createHash("sha1").update(text).digest().readUInt32BE(0);
}

function str(v: unknown, field: string): string {
  if (typeof v !== "string")
    throw new HttpError(422, `Invalid request. "${field}" wasn't supplied or is not a string.`);
  return v;
}

function arr(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw new HttpError(422, `Invalid request. "${field}" is not an array of strings.`);
  }
  return v as string[];
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/**
 * What `core.getIDToken(audience)` does on a runner, for tests that hand the
 * action an `idToken` function: GET the runner's token URL with its bearer token.
 */
export async function fetchIdToken(env: Record<string, string>, audience: string): Promise<string> {
  const res = await fetch(
    `${env.ACTIONS_ID_TOKEN_REQUEST_URL}&audience=${encodeURIComponent(audience)}`,
    { headers: { authorization: `Bearer ${env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}` } },
  );
  if (!res.ok) throw new Error(`Failed to get ID Token (${res.status})`);
  return ((await res.json()) as { value: string }).value;
}

/** Create and start a fake. Close it with `await fake.close()`. */
export async function startGitHubFake(opts: GitHubFakeOptions = {}): Promise<GitHubFake> {
  const fake = new GitHubFake(opts);
  await fake.listen(opts.port ?? 0);
  return fake;
}

// Standalone: print the base URL and serve until interrupted.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const portArg = process.argv.indexOf("--port");
  const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
  const fake = await startGitHubFake({ port });
  console.log(`GitHub fake for ${fake.owner}/${fake.repo} listening on ${fake.url}`);
  const stop = () => void fake.close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

/**
 * GitHub answers a PR body over 65,536 characters with 422 "body is too long
 * (maximum is 65536 characters)" (docs/design.md#bulk-onboarding).
 */
function refuseLongBody(text: unknown): void {
  if (typeof text === "string" && [...text].length > 65536)
    throw new HttpError(422, "Validation Failed", [
      {
        resource: "Issue",
        code: "custom",
        field: "body",
        message: "body is too long (maximum is 65536 characters)",
      },
    ]);
}
