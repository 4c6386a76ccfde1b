/**
 * The GitHub Actions side of the GitHub fake (scripts/github-fake.ts):
 * workflows, workflow runs and their jobs, deployment environments with
 * protection rules, run approvals, concurrency groups, repository variables,
 * the OIDC subject template and the runner's OIDC token service.
 *
 * Behaviour, each from GitHub's documentation (docs/design.md, "GitHub as
 * the fake models it"):
 *
 * - A job that names an environment with required reviewers waits ("Waiting")
 *   until a reviewer approves; a rejection fails the job and the run; after
 *   30 days without a decision the job fails ("Reviewing deployments").
 * - A job that names an environment that does not exist creates it, with no
 *   protection rules ("Managing environments for deployment"), and runs at once.
 * - A concurrency group holds at most one running and one pending job; a
 *   newly queued job cancels the group's existing pending job ("Control the
 *   concurrency of workflows and jobs").
 * - Whether a job waiting for approval is the group's *pending* job (field
 *   reports, e.g. hypothesis/lms#4533) or holds it like a running one is not
 *   documented: `waitingHolds` switches between the two readings, so a test
 *   can prove the product under both.
 * - With `prevent_self_review`, the user who triggered the run cannot approve it.
 * - The runner's OIDC token service issues a token only to a running job, with
 *   `sub` in the repository's format: `repo:OWNER/REPO:…`, or with immutable
 *   IDs `repo:OWNER@OWNER_ID/REPO@REPO_ID:…` ("Immutable subject claims"),
 *   `environment:<name>` for a job in an environment, else `ref:<ref>`.
 */
import { createHash } from "node:crypto";

export type JobStatus = "queued" | "pending" | "waiting" | "in_progress" | "completed";
export type Conclusion = "success" | "failure" | "cancelled" | null;

export interface FakeEnvironment {
  id: number;
  name: string;
  /** Required reviewers; empty = the environment has no required-reviewers rule. */
  reviewers: { type: "User" | "Team"; id: number; login: string }[];
  preventSelfReview: boolean;
  /** `null` = all branches may deploy; else the custom branch patterns. */
  branchPatterns: string[] | null;
  createdAt: string;
}

export interface FakeWorkflow {
  id: number;
  name: string;
  path: string;
  state: "active" | "disabled_manually" | "disabled_inactivity";
}

export interface FakeRun {
  id: number;
  workflowId: number;
  event: string;
  headSha: string;
  headBranch: string;
  actor: string;
  createdAt: string;
  updatedAt: string;
  approvals: {
    state: "approved" | "rejected";
    environments: string[];
    user: string;
    comment: string;
  }[];
}

export interface FakeJob {
  id: number;
  runId: number;
  name: string;
  environment?: string;
  group?: string;
  status: JobStatus;
  conclusion: Conclusion;
  /** true once a reviewer approved it (or it never needed approval). */
  cleared: boolean;
  createdAt: string;
  startedAt: string;
  completedAt: string | null;
  /** Secret handed to the job's runner for the OIDC token service. */
  runnerToken: string;
  /** The file that defines the job, as GitHub's `job_workflow_ref` claim names it (OWNER/REPO/PATH@REF). */
  workflowRef: string;
  /** Its commit (`job_workflow_sha`). */
  workflowSha: string;
  /** Why GitHub failed the job before it reached a runner (a deployment branch policy). */
  rejectedBy?: string;
}

/**
 * A deployment branch rule against a branch name: Ruby `File.fnmatch`
 * syntax, wildcards never matching `/` (GitHub REST, "Create a deployment
 * branch policy": docs/design.md#github-deployment-branches). Only `*` and
 * `?` are modelled; any other pattern character matches itself, which is
 * stricter than fnmatch's classes and braces.
 */
export function branchMatches(pattern: string, branch: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]");
  return new RegExp(`^${re}$`).test(branch);
}

export interface ApprovalRequest {
  runId: number;
  jobId: number;
  jobName: string;
  environment: string;
}

export interface ActionsModelOptions {
  owner: string;
  repo: string;
  ownerId: number;
  repositoryId: number;
  /** Default `sub` claims carry immutable IDs (repositories created, renamed or transferred after mid-2026). */
  immutableSubjects: boolean;
  /** See the module comment: how a job waiting for approval sits in its concurrency group. */
  waitingHolds: "pending" | "running";
  now: () => string;
  baseUrl: () => string;
}

export class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Out = { status: number; body?: unknown; headers?: Record<string, string> };

export class ActionsModel {
  readonly environments = new Map<string, FakeEnvironment>();
  readonly workflows: FakeWorkflow[] = [];
  readonly runs: FakeRun[] = [];
  readonly jobs: FakeJob[] = [];
  /** Every review request GitHub would send reviewers (one per job entering "waiting"). */
  readonly approvalRequests: ApprovalRequest[] = [];
  readonly variables = new Map<string, string>();
  /** The repository's OIDC subject template (GET …/actions/oidc/customization/sub). */
  subjectTemplate: { use_default: boolean; include_claim_keys?: string[] } = { use_default: true };
  private nextId = 100;

  constructor(readonly opts: ActionsModelOptions) {}

  // ------------------------------------------------------------ test hooks

  setEnvironment(
    name: string,
    rules: {
      reviewers?: { type: "User" | "Team"; id: number; login: string }[];
      preventSelfReview?: boolean;
      branchPatterns?: string[] | null;
    } = {},
  ): FakeEnvironment {
    const env: FakeEnvironment = {
      id: this.environments.get(name)?.id ?? this.id(),
      name,
      reviewers: rules.reviewers ?? [],
      preventSelfReview: rules.preventSelfReview ?? false,
      branchPatterns: rules.branchPatterns ?? null,
      createdAt: this.environments.get(name)?.createdAt ?? this.opts.now(),
    };
    this.environments.set(name, env);
    return env;
  }

  addWorkflow(path: string, name: string, state: FakeWorkflow["state"] = "active"): FakeWorkflow {
    const existing = this.workflows.find((w) => w.path === path);
    if (existing) {
      existing.state = state;
      return existing;
    }
    const wf: FakeWorkflow = { id: this.id(), name, path, state };
    this.workflows.push(wf);
    return wf;
  }

  /** A new run of the workflow at `path` (registered on first use). */
  startRun(
    path: string,
    opts: { event: string; headSha: string; headBranch?: string; actor?: string },
  ): FakeRun {
    const wf = this.workflows.find((w) => w.path === path) ?? this.addWorkflow(path, path);
    const now = this.opts.now();
    const run: FakeRun = {
      id: this.id(),
      workflowId: wf.id,
      event: opts.event,
      headSha: opts.headSha,
      headBranch: opts.headBranch ?? "main",
      actor: opts.actor ?? "octocat",
      createdAt: now,
      updatedAt: now,
      approvals: [],
    };
    this.runs.push(run);
    return run;
  }

  /**
   * Queue a job of a run, as the service does when the job's `needs` are met:
   * environment rules and the concurrency group decide whether it runs,
   * waits for a reviewer, or waits in its group.
   */
  queueJob(
    runId: number,
    job: {
      name: string;
      environment?: string;
      group?: string;
      /** job_workflow_ref; by default the run's own workflow at its branch (a job it defines itself). */
      workflowRef?: string;
      workflowSha?: string;
    },
  ): FakeJob {
    const run = this.run(runId);
    const now = this.opts.now();
    const path = this.workflows.find((w) => w.id === run.workflowId)!.path;
    const j: FakeJob = {
      id: this.id(),
      runId,
      name: job.name,
      environment: job.environment,
      group: job.group?.toLowerCase(), // group names are case-insensitive
      status: "queued",
      conclusion: null,
      cleared: false,
      createdAt: now,
      startedAt: now,
      completedAt: null,
      runnerToken: createHash("sha256").update(`runner-${this.nextId}-${now}`).digest("hex"),
      workflowRef:
        job.workflowRef ??
        `${this.opts.owner}/${this.opts.repo}/${path}@refs/heads/${run.headBranch}`,
      workflowSha: job.workflowSha ?? run.headSha,
    };
    this.jobs.push(j);
    let needsReview = false;
    if (job.environment) {
      // A missing environment is created on first use, unprotected.
      const env = this.environments.get(job.environment) ?? this.setEnvironment(job.environment);
      // A deployment branch policy is checked before anything else: a run
      // from a branch it does not name fails the job, which never reaches a
      // runner (GitHub Docs, "Deployment branches and tags"; the run shows
      // 'Branch "x" is not allowed to deploy to <env> due to environment
      // protection rules.'). See docs/design.md#github-deployment-branches.
      const branch = this.run(runId).headBranch;
      if (env.branchPatterns && !env.branchPatterns.some((p) => branchMatches(p, branch))) {
        j.rejectedBy = `Branch "${branch}" is not allowed to deploy to ${env.name} due to environment protection rules.`;
        this.finish(j, "failure");
        this.touch(runId);
        return j;
      }
      needsReview = env.reviewers.length > 0;
    }
    j.cleared = !needsReview;
    if (j.group) {
      // The group keeps one pending job: a new arrival cancels the existing one.
      const pending = this.pendingOf(j.group, j);
      if (pending) this.finish(pending, "cancelled");
      const holder = this.holderOf(j.group, j);
      if (needsReview && this.opts.waitingHolds === "pending") this.wait(j);
      else if (holder) j.status = "pending";
      else if (needsReview) this.wait(j);
      else j.status = "in_progress";
    } else if (needsReview) this.wait(j);
    else j.status = "in_progress";
    this.touch(runId);
    return j;
  }

  /** A reviewer's decision on the run's jobs waiting for `environment` (the "Review deployments" button). */
  review(
    runId: number,
    environment: string,
    state: "approved" | "rejected",
    user = "reviewer",
    comment = "",
  ): void {
    const run = this.run(runId);
    const env = this.environments.get(environment);
    if (!env) throw new HttpFailure(422, `No environment named ${environment}`);
    if (!env.reviewers.some((r) => r.login === user))
      throw new HttpFailure(422, `${user} is not a required reviewer of ${environment}`);
    if (env.preventSelfReview && user === run.actor)
      throw new HttpFailure(422, "Self-review is not allowed for this environment");
    const waiting = this.jobs.filter(
      (j) => j.runId === runId && j.environment === environment && j.status === "waiting",
    );
    if (!waiting.length)
      throw new HttpFailure(422, `No jobs of run ${runId} are waiting for ${environment}`);
    run.approvals.push({ state, environments: [environment], user, comment });
    for (const j of waiting) {
      if (state === "rejected") {
        this.finish(j, "failure");
        continue;
      }
      j.cleared = true;
      const holder = j.group ? this.holderOf(j.group, j) : undefined;
      j.status = holder ? "pending" : "in_progress";
    }
    this.touch(runId);
  }

  /** A waiting job reached GitHub's 30-day limit: it fails with no review recorded. */
  expire(jobId: number): void {
    const j = this.job(jobId);
    if (j.status !== "waiting") throw new Error(`job ${jobId} is ${j.status}, not waiting`);
    this.finish(j, "failure");
  }

  /** A running job ends; its group's pending job moves up. */
  complete(jobId: number, conclusion: "success" | "failure" = "success"): void {
    const j = this.job(jobId);
    if (j.status !== "in_progress") throw new Error(`job ${jobId} is ${j.status}, not running`);
    this.finish(j, conclusion);
  }

  /** Jobs of a run that are not finished. */
  openJobs(runId?: number): FakeJob[] {
    return this.jobs.filter(
      (j) => j.status !== "completed" && (runId === undefined || j.runId === runId),
    );
  }

  /** The environment variables a runner gives a step of this job (OIDC, run id). */
  runnerEnv(jobId: number): Record<string, string> {
    const j = this.job(jobId);
    return {
      GITHUB_RUN_ID: String(j.runId),
      GITHUB_REPOSITORY: `${this.opts.owner}/${this.opts.repo}`,
      GITHUB_API_URL: this.opts.baseUrl(),
      ACTIONS_ID_TOKEN_REQUEST_URL: `${this.opts.baseUrl()}/_runner/idtoken?job=${j.id}`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: j.runnerToken,
    };
  }

  /**
   * The `sub` claim GitHub would put in this job's OIDC token: the default
   * `repo:…:<context>`, or the custom template's keys joined in order as
   * `key:value`, `repo` and `context` as in the default, `:` in a value as
   * `%3A` (docs/design.md#github-oidc-subject).
   */
  subjectOf(job: FakeJob): string {
    const run = this.run(job.runId);
    const { owner, repo, ownerId, repositoryId, immutableSubjects } = this.opts;
    const who = immutableSubjects
      ? `repo:${owner}@${ownerId}/${repo}@${repositoryId}`
      : `repo:${owner}/${repo}`;
    const context = job.environment
      ? `environment:${job.environment}`
      : `ref:refs/heads/${run.headBranch}`;
    if (this.subjectTemplate.use_default) return `${who}:${context}`;
    const claims: Record<string, string> = {
      job_workflow_ref: job.workflowRef,
      ...this.claimsOf(job),
    };
    return (this.subjectTemplate.include_claim_keys ?? [])
      .map((key) => {
        if (key === "repo") return who;
        if (key === "context") return context;
        // Stricter than GitHub: a key the fake does not model fails the token.
        if (!(key in claims)) throw new HttpFailure(500, `fake: claim ${key} is not modelled`);
        return `${key}:${claims[key]!.replace(/:/g, "%3A")}`;
      })
      .join(":");
  }

  /** The custom claims GitHub documents, for this job (docs/design.md#github-oidc-subject). */
  private claimsOf(job: FakeJob): Record<string, string> {
    const run = this.run(job.runId);
    const wf = this.workflows.find((w) => w.id === run.workflowId)!;
    return {
      repository: `${this.opts.owner}/${this.opts.repo}`,
      repository_owner: this.opts.owner,
      repository_id: String(this.opts.repositoryId),
      repository_owner_id: String(this.opts.ownerId),
      run_id: String(run.id),
      ref: `refs/heads/${run.headBranch}`,
      ref_type: "branch",
      sha: run.headSha,
      event_name: run.event,
      actor: run.actor,
      workflow_ref: `${this.opts.owner}/${this.opts.repo}/${wf.path}@refs/heads/${run.headBranch}`,
      workflow_sha: run.headSha,
      job_workflow_ref: job.workflowRef,
      job_workflow_sha: job.workflowSha,
      ...(job.environment ? { environment: job.environment } : {}),
    };
  }

  // ------------------------------------------------------------ REST

  /** Answer an Actions/environments route under `/repos/{owner}/{repo}`, or undefined. */
  route(
    method: string,
    rest: string,
    query: Record<string, string>,
    body: Record<string, unknown>,
  ): Out | undefined {
    let m: RegExpExecArray | null;
    if (method === "GET" && rest === "/environments") {
      const list = [...this.environments.values()];
      return {
        status: 200,
        body: { total_count: list.length, environments: list.map((e) => this.envJson(e)) },
      };
    }
    if (method === "GET" && (m = /^\/environments\/([^/]+)$/.exec(rest))) {
      const env = this.environments.get(m[1]!);
      if (!env) throw new HttpFailure(404, "Not Found");
      return { status: 200, body: this.envJson(env) };
    }
    if (
      method === "GET" &&
      (m = /^\/environments\/([^/]+)\/deployment-branch-policies$/.exec(rest))
    ) {
      const env = this.environments.get(m[1]!);
      if (!env) throw new HttpFailure(404, "Not Found");
      // Without custom branch policies there is no list to read: the fake answers 404
      // (stricter than assuming an empty list; doctor reads it only under custom policies).
      if (!env.branchPatterns) throw new HttpFailure(404, "Not Found");
      const branch_policies = env.branchPatterns.map((name, i) => ({
        id: env.id * 100 + i,
        node_id: `GB_${env.id}_${i}`,
        name,
        type: "branch",
      }));
      return { status: 200, body: { total_count: branch_policies.length, branch_policies } };
    }
    if (method === "GET" && rest === "/actions/oidc/customization/sub")
      return { status: 200, body: this.subjectTemplate };
    if (method === "GET" && rest === "/actions/variables") {
      const list = [...this.variables.entries()].map(([name, value]) => ({
        name,
        value,
        created_at: this.opts.now(),
        updated_at: this.opts.now(),
      }));
      return { status: 200, body: { total_count: list.length, variables: list } };
    }
    if (method === "GET" && rest === "/actions/workflows") {
      return {
        status: 200,
        body: {
          total_count: this.workflows.length,
          workflows: this.workflows.map((w) => this.workflowJson(w)),
        },
      };
    }
    if (method === "GET" && (m = /^\/actions\/workflows\/([^/]+)\/runs$/.exec(rest))) {
      const key = m[1]!;
      const wf = this.workflows.find(
        (w) => String(w.id) === key || w.path === `.github/workflows/${key}`,
      );
      if (!wf) throw new HttpFailure(404, "Not Found");
      return this.listRuns(
        this.runs.filter((r) => r.workflowId === wf.id),
        query,
      );
    }
    if (method === "GET" && rest === "/actions/runs") return this.listRuns(this.runs, query);
    if (method === "GET" && (m = /^\/actions\/runs\/(\d+)$/.exec(rest)))
      return { status: 200, body: this.runJson(this.run(Number(m[1]))) };
    if (method === "GET" && (m = /^\/actions\/runs\/(\d+)\/jobs$/.exec(rest))) {
      const run = this.run(Number(m[1]));
      const jobs = this.jobs.filter((j) => j.runId === run.id);
      return {
        status: 200,
        body: { total_count: jobs.length, jobs: jobs.map((j) => this.jobJson(j)) },
      };
    }
    if (method === "GET" && (m = /^\/actions\/runs\/(\d+)\/approvals$/.exec(rest))) {
      const run = this.run(Number(m[1]));
      return {
        status: 200,
        body: run.approvals.map((a) => ({
          state: a.state,
          comment: a.comment,
          user: this.userJson(a.user),
          environments: a.environments.map((n) => this.envJson(this.environments.get(n)!, false)),
        })),
      };
    }
    if (method === "GET" && (m = /^\/actions\/runs\/(\d+)\/pending_deployments$/.exec(rest))) {
      const run = this.run(Number(m[1]));
      const envs = [
        ...new Set(
          this.jobs
            .filter((j) => j.runId === run.id && j.status === "waiting")
            .map((j) => j.environment!),
        ),
      ];
      return {
        status: 200,
        body: envs.map((name) => {
          const e = this.environments.get(name)!;
          return {
            environment: {
              id: e.id,
              node_id: `EN_${e.id}`,
              name: e.name,
              url: `${this.opts.baseUrl()}${this.prefix()}/environments/${e.name}`,
              html_url: `https://github.com/${this.opts.owner}/${this.opts.repo}/deployments/activity_log?environments_filter=${e.name}`,
            },
            wait_timer: 0,
            wait_timer_started_at: null,
            current_user_can_approve: false,
            reviewers: e.reviewers.map((r) => ({
              type: r.type,
              reviewer: r.type === "User" ? this.userJson(r.login, r.id) : this.teamJson(r),
            })),
          };
        }),
      };
    }
    void body;
    return undefined;
  }

  /** The runner's OIDC token service: `GET /_runner/idtoken?job=<id>&audience=<aud>`. */
  idToken(query: Record<string, string>, authorization: string | undefined): Out {
    const job = this.jobs.find((j) => String(j.id) === query.job);
    if (!job || authorization !== `Bearer ${job.runnerToken}`)
      throw new HttpFailure(401, "Bad runner token");
    // Only a job that is running holds a token: a waiting job has not started.
    if (job.status !== "in_progress") throw new HttpFailure(403, `job is ${job.status}`);
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: "https://token.actions.githubusercontent.com",
      aud: query.audience ?? `https://github.com/${this.opts.owner}`,
      sub: this.subjectOf(job),
      ...this.claimsOf(job),
      iat: now,
      nbf: now,
      exp: now + 300,
    };
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    // The signature is not real: nothing here verifies it (AWS STS would).
    const jwt = `${b64({ alg: "RS256", typ: "JWT", kid: "fake" })}.${b64(claims)}.${Buffer.from("fake-signature").toString("base64url")}`;
    return { status: 200, body: { value: jwt, count: 1 } };
  }

  // ------------------------------------------------------------ internals

  private id(): number {
    return this.nextId++;
  }

  private prefix(): string {
    return `/repos/${this.opts.owner}/${this.opts.repo}`;
  }

  private run(id: number): FakeRun {
    const r = this.runs.find((x) => x.id === id);
    if (!r) throw new HttpFailure(404, "Not Found");
    return r;
  }

  private job(id: number): FakeJob {
    const j = this.jobs.find((x) => x.id === id);
    if (!j) throw new Error(`no job ${id}`);
    return j;
  }

  private wait(j: FakeJob): void {
    j.status = "waiting";
    this.approvalRequests.push({
      runId: j.runId,
      jobId: j.id,
      jobName: j.name,
      environment: j.environment!,
    });
  }

  /** The job that holds the group (runs, or under `waitingHolds: running`, waits for review). */
  private holderOf(group: string, except: FakeJob): FakeJob | undefined {
    return this.jobs.find(
      (j) =>
        j !== except &&
        j.group === group &&
        (j.status === "in_progress" ||
          (j.status === "waiting" && this.opts.waitingHolds === "running")),
    );
  }

  private pendingOf(group: string, except: FakeJob): FakeJob | undefined {
    return this.jobs.find(
      (j) =>
        j !== except &&
        j.group === group &&
        (j.status === "pending" ||
          (j.status === "waiting" && this.opts.waitingHolds === "pending")),
    );
  }

  private finish(j: FakeJob, conclusion: Exclude<Conclusion, null>): void {
    const group = j.group;
    const held = j.status === "in_progress" || j.status === "waiting";
    j.status = "completed";
    j.conclusion = conclusion;
    j.completedAt = this.opts.now();
    this.touch(j.runId);
    if (!group || !held) return;
    if (this.holderOf(group, j)) return;
    // The group is free: its pending job moves up.
    const next = this.jobs.find((x) => x.group === group && x.status === "pending");
    if (!next) return;
    if (next.cleared) next.status = "in_progress";
    else this.wait(next);
  }

  private touch(runId: number): void {
    this.run(runId).updatedAt = this.opts.now();
  }

  /** A run's status and conclusion, derived from its jobs as the service reports them. */
  runState(run: FakeRun): { status: string; conclusion: Conclusion } {
    const jobs = this.jobs.filter((j) => j.runId === run.id);
    if (jobs.some((j) => j.status === "waiting")) return { status: "waiting", conclusion: null };
    if (jobs.some((j) => j.status === "in_progress"))
      return { status: "in_progress", conclusion: null };
    if (jobs.some((j) => j.status === "pending")) return { status: "pending", conclusion: null };
    if (jobs.some((j) => j.status === "queued")) return { status: "queued", conclusion: null };
    if (!jobs.length) return { status: "in_progress", conclusion: null };
    if (jobs.some((j) => j.conclusion === "failure"))
      return { status: "completed", conclusion: "failure" };
    if (jobs.some((j) => j.conclusion === "cancelled"))
      return { status: "completed", conclusion: "cancelled" };
    return { status: "completed", conclusion: "success" };
  }

  private listRuns(runs: FakeRun[], query: Record<string, string>): Out {
    let list = [...runs].reverse(); // newest first, as GitHub lists them
    if (query.event) list = list.filter((r) => r.event === query.event);
    if (query.status) {
      // `status` filters by status or by conclusion (GitHub's list endpoint).
      list = list.filter((r) => {
        const s = this.runState(r);
        return s.status === query.status || s.conclusion === query.status;
      });
    }
    const perPage = Math.min(Number(query.per_page ?? 30) || 30, 100);
    const page = Math.max(Number(query.page ?? 1) || 1, 1);
    return {
      status: 200,
      body: {
        total_count: list.length,
        workflow_runs: list.slice((page - 1) * perPage, page * perPage).map((r) => this.runJson(r)),
      },
    };
  }

  userJson(login: string, id = 1) {
    // A bot's login ("name[bot]") is percent-encoded in its URLs, as GitHub does.
    const u = `https://api.github.com/users/${encodeURIComponent(login)}`;
    return {
      login,
      id,
      node_id: `U_${id}`,
      avatar_url: `https://avatars.githubusercontent.com/u/${id}`,
      gravatar_id: "",
      url: u,
      html_url: `https://github.com/${encodeURIComponent(login)}`,
      followers_url: `${u}/followers`,
      following_url: `${u}/following{/other_user}`,
      gists_url: `${u}/gists{/gist_id}`,
      starred_url: `${u}/starred{/owner}{/repo}`,
      subscriptions_url: `${u}/subscriptions`,
      organizations_url: `${u}/orgs`,
      repos_url: `${u}/repos`,
      events_url: `${u}/events{/privacy}`,
      received_events_url: `${u}/received_events`,
      type: "User",
      site_admin: false,
    };
  }

  teamJson(r: { id: number; login: string }) {
    const url = `https://api.github.com/teams/${r.id}`;
    return {
      id: r.id,
      node_id: `T_${r.id}`,
      url,
      html_url: `https://github.com/orgs/${this.opts.owner}/teams/${r.login}`,
      name: r.login,
      slug: r.login,
      description: null,
      privacy: "closed",
      permission: "pull",
      members_url: `${url}/members{/member}`,
      repositories_url: `${url}/repos`,
      parent: null,
      type: "organization",
    };
  }

  private envJson(e: FakeEnvironment, withRules = true) {
    const base = {
      id: e.id,
      node_id: `EN_${e.id}`,
      name: e.name,
      url: `${this.opts.baseUrl()}${this.prefix()}/environments/${e.name}`,
      html_url: `https://github.com/${this.opts.owner}/${this.opts.repo}/deployments/activity_log?environments_filter=${e.name}`,
      created_at: e.createdAt,
      updated_at: e.createdAt,
    };
    if (!withRules) return base;
    const rules: unknown[] = [];
    if (e.reviewers.length) {
      rules.push({
        id: e.id * 10 + 1,
        node_id: `GA_${e.id}_1`,
        type: "required_reviewers",
        prevent_self_review: e.preventSelfReview,
        reviewers: e.reviewers.map((r) => ({
          type: r.type,
          reviewer: r.type === "User" ? this.userJson(r.login, r.id) : this.teamJson(r),
        })),
      });
    }
    if (e.branchPatterns)
      rules.push({ id: e.id * 10 + 2, node_id: `GA_${e.id}_2`, type: "branch_policy" });
    return {
      ...base,
      protection_rules: rules,
      deployment_branch_policy: e.branchPatterns
        ? { protected_branches: false, custom_branch_policies: true }
        : null,
    };
  }

  private workflowJson(w: FakeWorkflow) {
    const full = `${this.opts.owner}/${this.opts.repo}`;
    return {
      id: w.id,
      node_id: `W_${w.id}`,
      name: w.name,
      path: w.path,
      state: w.state,
      created_at: "2026-01-01T00:00:00Z",
      updated_at: "2026-01-01T00:00:00Z",
      url: `${this.opts.baseUrl()}${this.prefix()}/actions/workflows/${w.id}`,
      html_url: `https://github.com/${full}/blob/main/${w.path}`,
      badge_url: `https://github.com/${full}/workflows/${encodeURIComponent(w.name)}/badge.svg`,
    };
  }

  private jobJson(j: FakeJob) {
    const run = this.run(j.runId);
    const wf = this.workflows.find((w) => w.id === run.workflowId)!;
    const api = `${this.opts.baseUrl()}${this.prefix()}`;
    return {
      id: j.id,
      node_id: `J_${j.id}`,
      run_id: j.runId,
      run_url: `${api}/actions/runs/${j.runId}`,
      run_attempt: 1,
      head_sha: run.headSha,
      head_branch: run.headBranch,
      workflow_name: wf.name,
      name: j.name,
      url: `${api}/actions/jobs/${j.id}`,
      html_url: `https://github.com/${this.opts.owner}/${this.opts.repo}/actions/runs/${j.runId}/job/${j.id}`,
      check_run_url: `${api}/check-runs/${j.id}`,
      status: j.status,
      conclusion: j.conclusion,
      created_at: j.createdAt,
      started_at: j.startedAt,
      completed_at: j.completedAt,
      labels: ["ubuntu-latest"],
      runner_id: null,
      runner_name: null,
      runner_group_id: null,
      runner_group_name: null,
      steps: [],
    };
  }

  private runJson(r: FakeRun) {
    const wf = this.workflows.find((w) => w.id === r.workflowId)!;
    const api = `${this.opts.baseUrl()}${this.prefix()}`;
    const state = this.runState(r);
    const repo = this.minimalRepository();
    return {
      id: r.id,
      node_id: `WR_${r.id}`,
      name: wf.name,
      display_title: wf.name,
      head_branch: r.headBranch,
      head_sha: r.headSha,
      path: wf.path,
      run_number: r.id,
      run_attempt: 1,
      event: r.event,
      status: state.status,
      conclusion: state.conclusion,
      workflow_id: wf.id,
      url: `${api}/actions/runs/${r.id}`,
      html_url: `https://github.com/${this.opts.owner}/${this.opts.repo}/actions/runs/${r.id}`,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
      run_started_at: r.createdAt,
      actor: this.userJson(r.actor),
      triggering_actor: this.userJson(r.actor),
      pull_requests: [],
      jobs_url: `${api}/actions/runs/${r.id}/jobs`,
      logs_url: `${api}/actions/runs/${r.id}/logs`,
      check_suite_url: `${api}/check-suites/${r.id}`,
      artifacts_url: `${api}/actions/runs/${r.id}/artifacts`,
      cancel_url: `${api}/actions/runs/${r.id}/cancel`,
      rerun_url: `${api}/actions/runs/${r.id}/rerun`,
      workflow_url: `${api}/actions/workflows/${wf.id}`,
      head_commit: {
        id: r.headSha,
        tree_id: r.headSha,
        message: "head",
        timestamp: r.createdAt,
        author: { name: "octocat", email: "octocat@example.invalid" },
        committer: { name: "octocat", email: "octocat@example.invalid" },
      },
      repository: repo,
      head_repository: repo,
    };
  }

  /** GitHub's `minimal-repository` shape (every URL template it lists). */
  minimalRepository() {
    const { owner, repo, repositoryId, ownerId } = this.opts;
    const api = `https://api.github.com/repos/${owner}/${repo}`;
    const templates: Record<string, string> = {
      archive_url: "/{archive_format}{/ref}",
      assignees_url: "/assignees{/user}",
      blobs_url: "/git/blobs{/sha}",
      branches_url: "/branches{/branch}",
      collaborators_url: "/collaborators{/collaborator}",
      comments_url: "/comments{/number}",
      commits_url: "/commits{/sha}",
      compare_url: "/compare/{base}...{head}",
      contents_url: "/contents/{+path}",
      contributors_url: "/contributors",
      deployments_url: "/deployments",
      downloads_url: "/downloads",
      events_url: "/events",
      forks_url: "/forks",
      git_commits_url: "/git/commits{/sha}",
      git_refs_url: "/git/refs{/sha}",
      git_tags_url: "/git/tags{/sha}",
      hooks_url: "/hooks",
      issue_comment_url: "/issues/comments{/number}",
      issue_events_url: "/issues/events{/number}",
      issues_url: "/issues{/number}",
      keys_url: "/keys{/key_id}",
      labels_url: "/labels{/name}",
      languages_url: "/languages",
      merges_url: "/merges",
      milestones_url: "/milestones{/number}",
      notifications_url: "/notifications{?since,all,participating}",
      pulls_url: "/pulls{/number}",
      releases_url: "/releases{/id}",
      stargazers_url: "/stargazers",
      statuses_url: "/statuses/{sha}",
      subscribers_url: "/subscribers",
      subscription_url: "/subscription",
      tags_url: "/tags",
      teams_url: "/teams",
      trees_url: "/git/trees{/sha}",
    };
    return {
      id: repositoryId,
      node_id: `R_${repositoryId}`,
      name: repo,
      full_name: `${owner}/${repo}`,
      private: true,
      owner: { ...this.userJson(owner, ownerId), type: "Organization" },
      html_url: `https://github.com/${owner}/${repo}`,
      description: null,
      fork: false,
      url: api,
      ...Object.fromEntries(Object.entries(templates).map(([k, t]) => [k, `${api}${t}`])),
    };
  }
}
