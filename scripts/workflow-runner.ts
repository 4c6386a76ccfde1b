/**
 * Runs this repository's shipped workflow files the way GitHub would, against
 * the local stand-ins: the GitHub fake (runs, jobs, environments with required
 * reviewers, concurrency groups, the OIDC token service), the AWS emulator and
 * the loopback DNS servers.
 *
 * The files are read with GitHub's own parser (@actions/workflow-parser, which
 * also loads the reusable workflow a caller's job `uses:`), and every
 * expression is evaluated with GitHub's own evaluator (@actions/expressions).
 * Supported, each as GitHub documents it ("Workflow syntax for GitHub Actions"):
 *
 * - triggers: `schedule`, `push` with `branches` and `paths` filters,
 *   `workflow_dispatch` with typed inputs and defaults;
 * - a caller job that `uses: ./.github/workflows/<file>` (`workflow_call`), its
 *   `with:` checked against the called workflow's inputs, and `secrets:`;
 * - `needs`, job and step `if:` (with `success()`, `failure()`, `always()`),
 *   job `outputs`, `strategy.matrix` (including `include: ${{ fromJSON(…) }}`),
 *   `environment` (the fake queues the job; required reviewers answer through
 *   `approve`), job `concurrency` (the fake's one-pending-per-group rule);
 * - steps: `run:` (bash, with `GITHUB_OUTPUT`), and these `uses:`:
 *   - the action itself (`./<path>` with an `action.yml`): its real entry
 *     point (`runs.main`, e.g. `dist/index.js`) in a child `node` (or `run()`
 *     in this process: `host`, scripts/action-host.ts), with the
 *     runner's environment: `INPUT_*` (defaults from action.yml), `GITHUB_OUTPUT`,
 *     `GITHUB_STEP_SUMMARY`, `GITHUB_EVENT_PATH`, `GITHUB_WORKSPACE`, the job's
 *     OIDC token service, and the credentials the role step gave. One
 *     deviation, because AWS here is the emulator: the step also gets the
 *     `aws-endpoint` input (the emulator's loopback URL);
 *   - stand-ins, by name: `actions/checkout` (the workspace is already the
 *     checkout of main; `path: .dkim-tool` links the tool's repository there),
 *     `aws-actions/configure-aws-credentials` (records the role and Region and
 *     gives the emulator's credentials; refuses without `id-token: write`),
 *     `actions/create-github-app-token` (an installation token of the fake's
 *     App, narrowed to its `permission-administration`; `github.token` is
 *     the fake's workflow token instead, github-actions[bot], which is not
 *     the App: docs/design.md#gate-token),
 *     `actions/setup-node` (nothing: the runner's Node runs everything).
 *
 * Anything else (a `container`, `services`, another action, a reusable
 * workflow from another repository, `continue-on-error`) stops the run with
 * an `UnsupportedWorkflowError` naming the file and the construct.
 */
import { execFile, execFileSync } from "node:child_process";
import { childProcessHost, parseOutputFile, type ActionHost } from "./action-host";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  convertWorkflowTemplate,
  isBasicExpression,
  isBoolean,
  isMapping,
  isNumber,
  isSequence,
  isString,
  NoOperationTraceWriter,
  parseWorkflow,
  type WorkflowTemplate,
} from "@actions/workflow-parser";
import type { TemplateToken } from "@actions/workflow-parser/templates/tokens/template-token";
import type {
  ActionStep,
  Job,
  ReusableWorkflowJob,
  RunStep,
  Step,
  WorkflowJob,
} from "@actions/workflow-parser/model/workflow-template";
import { minimatch } from "minimatch";
import { parse as parseYaml } from "yaml";
import type { GitHubFake } from "./github-fake";
import type { FakeJob } from "./github-fake-actions";
import {
  coerceString,
  evaluateExpression,
  evaluateField,
  truthy,
  type JobStatus,
} from "./workflow-expressions";

const execFileAsync = promisify(execFile);

export class UnsupportedWorkflowError extends Error {
  constructor(file: string, construct: string) {
    super(`${file}: ${construct} is not supported by the local workflow runner`);
    this.name = "UnsupportedWorkflowError";
  }
}

/** What triggered the run. */
export type WorkflowEvent =
  | { name: "schedule"; cron?: string }
  | { name: "push"; branch?: string; changedPaths: string[] }
  | { name: "workflow_dispatch"; inputs?: Record<string, string | boolean> };

export interface RunnerOptions {
  /** The caller repository's checkout (the workspace every job starts from). */
  workspace: string;
  /** The checkout of this tool: where `.dkim-tool` (job.workflow_repository at job.workflow_sha) points. */
  toolDir: string;
  /** Where the workflow files are read from (a copy in the mutation tests). Default: `workspace`. */
  workflowRoot?: string;
  github: GitHubFake;
  /** Repository variables (`vars`). */
  vars: Record<string, string>;
  secrets?: Record<string, string>;
  /**
   * Environment secrets, by environment name. GitHub: a caller passes a
   * secret by name even if it exists only in an environment; the called
   * workflow's job that sets that `environment` receives its value, every
   * other job the repository's (or empty) ("Reusing workflows", using
   * environment secrets; docs/design.md#gate-token).
   */
  environmentSecrets?: Record<string, Record<string, string>>;
  /** The emulator: its URL goes to the action's `aws-endpoint` input; its credentials to the role step. */
  aws: { endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  /** A required reviewer's answer to a job waiting in an environment; `wait` leaves it waiting. */
  approve: (job: {
    name: string;
    environment: string;
    runId: number;
  }) => "approve" | "reject" | "wait";
  /** The reviewer who answers. */
  reviewer?: string;
  /** Extra environment for every child process (e.g. to silence the SDK's Node-version warning). */
  env?: Record<string, string>;
  /** The tool's commit (`job.workflow_sha`); default: `git rev-parse HEAD` in `toolDir`. */
  toolSha?: string;
  /** Where the action's steps run (scripts/action-host.ts). Default: the bundle in a child node. */
  host?: ActionHost;
}

export interface StepRecord {
  job: string;
  step: string;
  uses?: string;
  outcome: "success" | "failure" | "skipped";
  outputs: Record<string, string>;
  /** What the step printed (the action's log lines), masked as GitHub shows it. */
  log?: string;
  /** Values the step masked (`::add-mask::`): secrets the runner knows of. */
  masked?: string[];
  role?: string;
}

export interface JobRecord {
  id: string;
  /** As GitHub's API names it: `<calling job's name> / <job's name>`. */
  name: string;
  conclusion: "success" | "failure" | "skipped" | "waiting" | "cancelled" | "pending";
  outputs: Record<string, string>;
  matrix?: Record<string, unknown>;
  /** Why GitHub failed the job before any step (e.g. an empty matrix). */
  error?: string;
}

export interface RunRecord {
  workflow: string;
  event: string;
  runId?: number;
  triggered: boolean;
  jobs: JobRecord[];
  steps: StepRecord[];
}

type Contexts = Record<string, unknown>;

/** Plain JS from a template token, with expressions evaluated against `contexts`. */
function valueOf(token: TemplateToken | undefined, contexts: Contexts): unknown {
  if (!token) return undefined;
  if (isBasicExpression(token)) return evaluateExpression(token.expression, contexts);
  if (isString(token)) return token.value;
  if (isNumber(token)) return token.value;
  if (isBoolean(token)) return token.value;
  if (isSequence(token)) return [...token].map((t) => valueOf(t, contexts));
  if (isMapping(token))
    return Object.fromEntries(
      [...token].map((kv) => [String(valueOf(kv.key, contexts)), valueOf(kv.value, contexts)]),
    );
  return null;
}

const stringOf = (token: TemplateToken | undefined, contexts: Contexts) =>
  coerceString(valueOf(token, contexts));

/**
 * The log GitHub would show: `::add-mask::` commands are consumed by the
 * runner, and every later occurrence of a masked value prints as `***`
 * (GitHub Docs, "Workflow commands", "Masking a value in a log").
 */
export function maskedValues(stdout: string): string[] {
  return [...stdout.matchAll(/^::add-mask::(.+)$/gm)].map((m) => m[1]!);
}

export function runnerLog(stdout: string): string {
  const masks: string[] = [];
  const out: string[] = [];
  for (const line of stdout.split("\n")) {
    const mask = /^::add-mask::(.*)$/.exec(line);
    if (mask) {
      if (mask[1]) masks.push(mask[1]);
      continue;
    }
    out.push(masks.reduce((l, m) => l.split(m).join("***"), line));
  }
  return out.join("\n");
}

/** A pinned third-party action the runner stands in for, by repository. */
const STAND_INS = [
  "actions/checkout",
  "aws-actions/configure-aws-credentials",
  "actions/create-github-app-token",
  "actions/setup-node",
] as const;

interface PendingJob {
  fake: FakeJob;
  run: () => Promise<void>;
}

export class WorkflowRunner {
  readonly runs: RunRecord[] = [];
  /** Gated jobs GitHub holds (waiting for a reviewer, or pending in their group), to run when released. */
  private readonly held: PendingJob[] = [];
  /** Per reusable-workflow call: which caller secret each of its secrets names. */
  private readonly secretRefs = new WeakMap<Contexts, Record<string, string>>();
  /** Each run's GITHUB_SHA. */
  private readonly runShas = new Map<number, string>();

  constructor(private readonly opts: RunnerOptions) {}

  private get root(): string {
    return this.opts.workflowRoot ?? this.opts.workspace;
  }

  private readonly templates = new Map<string, Promise<WorkflowTemplate>>();
  /** What the running job's stand-ins leave in the workspace, undone when it ends. */
  private readonly jobCleanups: (() => void)[] = [];

  /** The file, parsed and converted once per runner (the files do not change under it). */
  load(file: string): Promise<WorkflowTemplate> {
    let template = this.templates.get(file);
    if (!template) {
      template = this.parse(file);
      this.templates.set(file, template);
    }
    return template;
  }

  private async parse(file: string): Promise<WorkflowTemplate> {
    const path = join(this.root, file);
    const trace = new NoOperationTraceWriter();
    const parsed = parseWorkflow({ name: file, content: readFileSync(path, "utf8") }, trace);
    const errors = parsed.context.errors.getErrors().map((e) => e.message);
    if (errors.length || !parsed.value) throw new Error(`${file}: ${errors.join("; ")}`);
    const template = await convertWorkflowTemplate(
      parsed.context,
      parsed.value,
      {
        getFileContent: async (ref) => {
          if (!("path" in ref) || "repository" in ref)
            throw new UnsupportedWorkflowError(file, "a reusable workflow from another repository");
          return { name: ref.path, content: readFileSync(join(this.root, ref.path), "utf8") };
        },
      },
      { fetchReusableWorkflowDepth: 1 },
    );
    if (template.errors?.length)
      throw new Error(`${file}: ${template.errors.map((e) => e.Message).join("; ")}`);
    return template;
  }

  /** Would this event start the workflow? (GitHub's trigger filters.) */
  private triggered(template: WorkflowTemplate, event: WorkflowEvent): boolean {
    const on = template.events;
    if (event.name === "schedule") return !!on.schedule?.length;
    if (event.name === "workflow_dispatch") return !!on.workflow_dispatch;
    const push = on.push;
    if (!push) return false;
    const branch = event.branch ?? "main";
    if (push.branches && !push.branches.some((p) => minimatch(branch, p))) return false;
    if (push.paths && !event.changedPaths.some((f) => push.paths!.some((p) => minimatch(f, p))))
      return false;
    return true;
  }

  /** Dispatch inputs with their declared types and defaults (GitHub: "on.workflow_dispatch.inputs"). */
  private dispatchInputs(template: WorkflowTemplate, event: WorkflowEvent): Contexts {
    if (event.name !== "workflow_dispatch") return {};
    const declared = template.events.workflow_dispatch?.inputs ?? {};
    const given = event.inputs ?? {};
    for (const name of Object.keys(given))
      if (!(name in declared)) throw new Error(`workflow_dispatch: unexpected input ${name}`);
    const out: Contexts = {};
    for (const [name, input] of Object.entries(declared)) {
      const value = given[name] ?? input.default ?? (input.type === "boolean" ? false : "");
      if (input.required && (value === "" || value === undefined))
        throw new Error(`workflow_dispatch: input ${name} is required`);
      out[name] = input.type === "boolean" ? value === true || value === "true" : value;
    }
    return out;
  }

  /** Run `file` for `event`: every job, in `needs` order, until done or held for approval. */
  async run(file: string, event: WorkflowEvent): Promise<RunRecord> {
    const template = await this.load(file);
    const record: RunRecord = {
      workflow: file,
      event: event.name,
      triggered: this.triggered(template, event),
      jobs: [],
      steps: [],
    };
    this.runs.push(record);
    if (!record.triggered) return record;
    const gh = this.opts.github.actions;
    // GITHUB_SHA: the commit the event is for, main's head when it fired ("Events
    // that trigger workflows"); the run's head_sha and its OIDC tokens' `sha` claim say the same.
    const sha = this.opts.github.headOf("main") ?? "";
    const run = gh.startRun(file, {
      event: event.name,
      headSha: sha || "0".repeat(40),
    });
    record.runId = run.id;
    this.runShas.set(run.id, sha);
    const github = {
      event_name: event.name,
      run_id: String(run.id),
      repository: `${this.opts.github.owner}/${this.opts.github.repo}`,
      repository_owner: this.opts.github.owner,
      ref: "refs/heads/main",
      // GITHUB_TOKEN: the workflow's own, never the App's (docs/design.md#gate-token).
      token: this.opts.github.workflowToken(),
      workflow_ref: `${this.opts.github.owner}/${this.opts.github.repo}/${file}@refs/heads/main`,
    };
    const base: Contexts = {
      github,
      inputs: this.dispatchInputs(template, event),
      vars: this.opts.vars,
      secrets: this.opts.secrets ?? {},
    };
    for (const job of template.jobs) {
      if (job.type !== "reusableWorkflowJob")
        throw new UnsupportedWorkflowError(file, `job ${job.id.value} with steps in a caller`);
      await this.callReusable(file, job, base, record, run.id);
    }
    return record;
  }

  private async callReusable(
    file: string,
    caller: ReusableWorkflowJob,
    base: Contexts,
    record: RunRecord,
    runId: number,
  ): Promise<void> {
    const calledFile = caller.ref.value.replace(/^\.\//, "");
    if (!caller.ref.value.startsWith("./.github/workflows/"))
      throw new UnsupportedWorkflowError(file, `uses: ${caller.ref.value}`);
    const declared = (valueOf(caller["input-definitions"], {}) ?? {}) as Record<
      string,
      { type: string; required?: boolean; default?: unknown }
    >;
    const given = (valueOf(caller["input-values"], base) ?? {}) as Record<string, unknown>;
    // GitHub refuses a call with an undeclared or a missing required input ("on.workflow_call.inputs").
    for (const name of Object.keys(given))
      if (!(name in declared))
        throw new Error(`${file}: ${calledFile} has no input ${name} (job ${caller.id.value})`);
    const inputs: Contexts = {};
    for (const [name, def] of Object.entries(declared)) {
      if (def.required && !(name in given))
        throw new Error(`${file}: input ${name} of ${calledFile} is required`);
      let value =
        name in given ? given[name] : (def.default ?? (def.type === "boolean" ? false : ""));
      if (def.type === "boolean") value = value === true || value === "true";
      if (def.type === "string") value = coerceString(value);
      inputs[name] = value;
    }
    const secretDefs = (valueOf(caller["secret-definitions"], {}) ?? {}) as Record<string, unknown>;
    const secretValues = (valueOf(caller["secret-values"], base) ?? {}) as Record<string, string>;
    // Which caller secret each passed secret names, so that a job in an
    // environment can be given that environment's value of it.
    const names = new Set([
      ...Object.keys(this.opts.secrets ?? {}),
      ...Object.values(this.opts.environmentSecrets ?? {}).flatMap((s) => Object.keys(s)),
    ]);
    const marked = (valueOf(caller["secret-values"], {
      ...base,
      secrets: Object.fromEntries([...names].map((n) => [n, `\u0001${n}`])),
    }) ?? {}) as Record<string, string>;
    const refs = Object.fromEntries(
      Object.entries(marked).flatMap(([k, v]) =>
        typeof v === "string" && v.startsWith("\u0001") ? [[k, v.slice(1)]] : [],
      ),
    );
    for (const name of Object.keys(secretValues))
      if (!(name in secretDefs)) throw new Error(`${file}: ${calledFile} has no secret ${name}`);
    const callerName = stringOf(caller.name ?? caller.id, base);
    const contexts: Contexts = {
      github: base.github,
      inputs,
      vars: base.vars,
      secrets: secretValues,
    };
    this.secretRefs.set(contexts, refs);
    const results = new Map<
      string,
      { result: JobStatus | "skipped"; outputs: Record<string, string> }
    >();
    for (const job of order(caller.jobs ?? [])) {
      if (job.type !== "job")
        throw new UnsupportedWorkflowError(calledFile, "a nested reusable workflow");
      await this.runJob(calledFile, callerName, job, contexts, results, record, runId);
    }
  }

  private async runJob(
    file: string,
    callerName: string,
    job: Job,
    contexts: Contexts,
    results: Map<string, { result: JobStatus | "skipped"; outputs: Record<string, string> }>,
    record: RunRecord,
    runId: number,
  ): Promise<void> {
    const id = job.id.value;
    for (const unsupported of ["container", "services"] as const)
      if (job[unsupported]) throw new UnsupportedWorkflowError(file, `${unsupported} in job ${id}`);
    const needs = Object.fromEntries(
      (job.needs ?? []).map((n) => {
        const r = results.get(n.value);
        return [n.value, { result: r?.result ?? "skipped", outputs: r?.outputs ?? {} }];
      }),
    );
    const needsOk = Object.values(needs).every((n) => n.result === "success");
    const jobContexts = { ...contexts, needs };
    const runIf = truthy(
      evaluateExpression(job.if.expression, jobContexts, needsOk ? "success" : "failure"),
    );
    /** A job that never starts; GitHub shows a matrix job's name with empty matrix values then. */
    const unrun = (conclusion: "skipped" | "failure", error?: string) => {
      results.set(id, { result: conclusion, outputs: {} });
      const name = stringOf(job.name ?? job.id, { ...jobContexts, matrix: {}, strategy: {} });
      record.jobs.push({ id, name: `${callerName} / ${name}`, conclusion, outputs: {}, error });
    };
    if (!runIf) return unrun("skipped");
    const strategy = (valueOf(job.strategy, jobContexts) ?? {}) as {
      matrix?: { include?: Record<string, unknown>[] } & Record<string, unknown>;
    };
    let matrices: (Record<string, unknown> | undefined)[];
    try {
      matrices = expandMatrix(file, id, strategy.matrix);
    } catch (err) {
      if (err instanceof UnsupportedWorkflowError) throw err;
      // GitHub fails the job before it starts; the run goes on with the jobs that do not need it.
      return unrun("failure", (err as Error).message);
    }
    let result: JobStatus = "success";
    let outputs: Record<string, string> = {};
    for (const matrix of matrices) {
      const named = { ...jobContexts, matrix: matrix ?? {}, strategy: {} };
      const name = `${callerName} / ${stringOf(job.name ?? job.id, named)}`;
      const environment = job.environment
        ? stringOf(
            isMapping(job.environment) ? job.environment.find("name") : job.environment,
            named,
          )
        : undefined;
      // The environment's own secrets take precedence in a job that sets it.
      const own = environment ? this.opts.environmentSecrets?.[environment] : undefined;
      const refs = this.secretRefs.get(contexts) ?? {};
      const ctx = own
        ? {
            ...named,
            secrets: Object.fromEntries(
              Object.entries(contexts.secrets as Record<string, string>).map(([k, v]) => [
                k,
                refs[k] !== undefined && own[refs[k]] !== undefined ? own[refs[k]] : v,
              ]),
            ),
          }
        : named;
      const concurrency = job.concurrency
        ? (valueOf(job.concurrency, ctx) as { group?: string } | string)
        : undefined;
      const group = typeof concurrency === "string" ? concurrency : concurrency?.group;
      const gh = this.opts.github.actions;
      // A job of a local reusable workflow: GitHub's job_workflow_ref names the
      // called file at the caller's ref (docs/design.md#github-oidc-subject).
      const fake = gh.queueJob(runId, {
        name,
        environment,
        group,
        workflowRef: `${this.opts.github.owner}/${this.opts.github.repo}/${file}@${(contexts.github as { ref: string }).ref}`,
      });
      const jobRecord: JobRecord = {
        id,
        name,
        conclusion: "pending",
        outputs: {},
        matrix: matrix ?? undefined,
      };
      record.jobs.push(jobRecord);
      const execute = async () => {
        const out = await this.runSteps(file, job, ctx, fake, record, jobRecord);
        jobRecord.conclusion = out.ok ? "success" : "failure";
        jobRecord.outputs = out.outputs;
        gh.complete(fake.id, out.ok ? "success" : "failure");
        return out;
      };
      if (fake.status === "waiting") {
        const answer = this.opts.approve({ name, environment: environment!, runId });
        if (answer === "wait") {
          jobRecord.conclusion = "waiting";
          this.held.push({ fake, run: async () => void (await execute()) });
          result = "failure";
          continue;
        }
        gh.review(
          runId,
          environment!,
          answer === "approve" ? "approved" : "rejected",
          this.opts.reviewer ?? "approver",
        );
      }
      if (fake.status !== "in_progress") {
        jobRecord.conclusion =
          fake.status === "completed"
            ? ((fake.conclusion ?? "failure") as JobRecord["conclusion"])
            : "pending";
        if (fake.status !== "completed")
          this.held.push({ fake, run: async () => void (await execute()) });
        result = "failure";
        continue;
      }
      const out = await execute();
      if (!out.ok) result = "failure";
      outputs = out.outputs;
    }
    results.set(id, { result, outputs });
  }

  /** Jobs GitHub released since (approved later, or moved up in their group): run them now. */
  async release(): Promise<number> {
    let n = 0;
    for (const pending of [...this.held]) {
      if (pending.fake.status !== "in_progress") continue;
      this.held.splice(this.held.indexOf(pending), 1);
      await pending.run();
      n++;
    }
    return n;
  }

  private async runSteps(
    file: string,
    job: Job,
    contexts: Contexts,
    fake: FakeJob,
    record: RunRecord,
    jobRecord: JobRecord,
  ): Promise<{ ok: boolean; outputs: Record<string, string> }> {
    const temp = mkdtempSync(join(tmpdir(), "dkim-runner-"));
    // The parser's model leaves out permissions: read them from its token tree.
    const permissions = (valueOf(
      rawJob(join(this.root, file), job.id.value).get("permissions"),
      {},
    ) ?? {}) as Record<string, string>;
    const steps: Contexts = {};
    const env: Record<string, string> = {};
    let status: JobStatus = "success";
    try {
      for (const [i, step] of job.steps.entries()) {
        assertSupported(file, job.id.value, step);
        const ctx = { ...contexts, steps, env, job: jobContext(this.opts) };
        const stepName = step.name ? stringOf(step.name, ctx) : step.id;
        const runIf = step.if
          ? truthy(evaluateExpression(step.if.expression, ctx, status))
          : status === "success";
        const stepRecord: StepRecord = {
          job: jobRecord.name,
          step: stepName,
          outcome: "skipped",
          outputs: {},
        };
        if ("uses" in step) stepRecord.uses = step.uses.value;
        record.steps.push(stepRecord);
        if (!runIf) continue;
        const raw = rawStep(join(this.root, file), job.id.value, i);
        for (const key of raw.keys())
          if (
            ![
              "id",
              "name",
              "if",
              "uses",
              "run",
              "with",
              "env",
              "working-directory",
              "shell",
            ].includes(key)
          )
            throw new UnsupportedWorkflowError(file, `${key} in a step of job ${job.id.value}`);
        const outputFile = join(temp, `output-${i}`);
        writeFileSync(outputFile, "");
        let ok: boolean;
        if ("run" in step) {
          ok = await this.runScript(step, ctx, env, outputFile, fake, stepRecord, raw);
        } else {
          ok = await this.runAction(
            file,
            job.id.value,
            step as ActionStep,
            ctx,
            env,
            outputFile,
            temp,
            fake,
            stepRecord,
            permissions,
            raw,
          );
        }
        stepRecord.outcome = ok ? "success" : "failure";
        stepRecord.outputs = {
          ...stepRecord.outputs,
          ...parseOutputFile(readFileSync(outputFile, "utf8")),
        };
        if (step.id && !step.id.startsWith("__"))
          steps[step.id] = {
            outputs: stepRecord.outputs,
            outcome: stepRecord.outcome,
            conclusion: stepRecord.outcome,
          };
        if (!ok) status = "failure";
      }
      const outputs = Object.fromEntries(
        Object.entries(
          (valueOf(job.outputs, { ...contexts, steps, job: jobContext(this.opts) }) ??
            {}) as Record<string, unknown>,
        ).map(([k, v]) => [k, coerceString(v)]),
      );
      return { ok: status === "success", outputs };
    } finally {
      rmSync(temp, { recursive: true, force: true });
      for (const undo of this.jobCleanups.splice(0)) undo();
    }
  }

  private runnerEnv(
    fake: FakeJob,
    outputFile: string,
    extra: Record<string, string>,
  ): Record<string, string> {
    return {
      ...this.opts.env,
      ...this.opts.github.actions.runnerEnv(fake.id),
      GITHUB_SHA: this.runShas.get(fake.runId) ?? "",
      GITHUB_ACTIONS: "true",
      GITHUB_WORKSPACE: this.opts.workspace,
      GITHUB_OUTPUT: outputFile,
      ...extra,
    };
  }

  private async runScript(
    step: RunStep,
    ctx: Contexts,
    env: Record<string, string>,
    outputFile: string,
    fake: FakeJob,
    stepRecord: StepRecord,
    raw: Map<string, TemplateToken>,
  ): Promise<boolean> {
    const script = stringOf(step.run, ctx);
    const cwd = raw.get("working-directory")
      ? resolve(this.opts.workspace, stringOf(raw.get("working-directory"), ctx))
      : this.opts.workspace;
    const stepEnv = Object.fromEntries(
      Object.entries((valueOf(step.env, ctx) ?? {}) as Record<string, unknown>).map(([k, v]) => [
        k,
        coerceString(v),
      ]),
    );
    try {
      const { stdout } = await execFileAsync("bash", ["-e", "-c", script], {
        cwd,
        env: {
          ...(process.env as Record<string, string>),
          ...this.runnerEnv(fake, outputFile, { ...env, ...stepEnv }),
        },
      });
      stepRecord.log = runnerLog(stdout);
      return true;
    } catch (err) {
      stepRecord.log = runnerLog(String((err as { stdout?: string }).stdout ?? err));
      return false;
    }
  }

  private async runAction(
    file: string,
    jobId: string,
    step: ActionStep,
    ctx: Contexts,
    env: Record<string, string>,
    outputFile: string,
    temp: string,
    fake: FakeJob,
    stepRecord: StepRecord,
    permissions: Record<string, string>,
    raw: Map<string, TemplateToken>,
  ): Promise<boolean> {
    const uses = step.uses.value;
    const given = Object.fromEntries(
      Object.entries((valueOf(raw.get("with"), ctx) ?? {}) as Record<string, unknown>).map(
        ([k, v]) => [k, coerceString(v)],
      ),
    );
    const standIn = STAND_INS.find((s) => uses.startsWith(`${s}@`));
    if (standIn === "actions/checkout") {
      if (given.path === ".dkim-tool") {
        const link = join(this.opts.workspace, ".dkim-tool");
        const want = jobContext(this.opts);
        if (given.repository !== want.workflow_repository || given.ref !== want.workflow_sha)
          throw new Error(
            `${file} job ${jobId}: checks out ${given.repository}@${given.ref}, not the reusable workflow's own ${want.workflow_repository}@${want.workflow_sha}`,
          );
        if (!existsSync(link)) {
          symlinkSync(resolve(this.opts.toolDir), link);
          // A job's workspace does not outlive the job: the next one checks the tool out again.
          this.jobCleanups.push(() => rmSync(link, { force: true }));
        }
      }
      return true;
    }
    if (standIn === "aws-actions/configure-aws-credentials") {
      if (permissions["id-token"] !== "write")
        throw new Error(
          `${file} job ${jobId}: assumes a role through OIDC without permissions: id-token: write`,
        );
      if (!/^arn:aws:iam::\d{12}:role\/.+/.test(given["role-to-assume"] ?? ""))
        throw new Error(
          `${file} job ${jobId}: role-to-assume is ${JSON.stringify(given["role-to-assume"])}, not a role ARN`,
        );
      stepRecord.role = given["role-to-assume"];
      env.AWS_ACCESS_KEY_ID = this.opts.aws.credentials.accessKeyId;
      env.AWS_SECRET_ACCESS_KEY = this.opts.aws.credentials.secretAccessKey;
      env.AWS_REGION = env.AWS_DEFAULT_REGION = given["aws-region"] ?? "";
      return true;
    }
    if (standIn === "actions/create-github-app-token") {
      // The action fails without the App's client ID and private key.
      if (!given["client-id"] || !given["private-key"])
        throw new Error(`${file} job ${jobId}: ${uses} without client-id and private-key`);
      const administration = given["permission-administration"];
      if (administration !== undefined && administration !== "read" && administration !== "write")
        throw new Error(
          `${file} job ${jobId}: permission-administration ${JSON.stringify(administration)} is not read or write`,
        );
      const members = given["permission-members"];
      if (members !== undefined && members !== "read")
        throw new Error(
          `${file} job ${jobId}: permission-members ${JSON.stringify(members)} is not read (the gate only reads team memberships)`,
        );
      writeFileSync(
        outputFile,
        `token=${this.opts.github.mintAppToken(given["client-id"], given["private-key"], administration || undefined, members || undefined, given.owner && !given.repositories ? "owner" : "repository")}\n`,
      );
      return true;
    }
    if (standIn === "actions/setup-node") return true;
    if (!uses.startsWith("./"))
      throw new UnsupportedWorkflowError(file, `uses: ${uses} (job ${jobId})`);
    // The action: read its action.yml, check the inputs, run runs.main as the runner does.
    const dir = resolve(this.opts.workspace, uses);
    const metadataFile = join(dir, "action.yml");
    if (!existsSync(metadataFile))
      throw new Error(`${file} job ${jobId}: no action.yml at ${uses}`);
    const metadata = parseYaml(readFileSync(metadataFile, "utf8")) as {
      inputs?: Record<string, { default?: string; required?: boolean }>;
      runs: { using: string; main: string };
    };
    if (!/^node\d+$/.test(metadata.runs.using))
      throw new UnsupportedWorkflowError(file, `runs.using ${metadata.runs.using}`);
    const declared = metadata.inputs ?? {};
    // GitHub only warns about an unexpected input; a misspelt input is a bug, so this runner fails.
    for (const name of Object.keys(given))
      if (!(name in declared))
        throw new Error(`${file} job ${jobId}: ${uses} has no input ${name}`);
    const inputs: Record<string, string> = { "aws-endpoint": this.opts.aws.endpoint };
    for (const [name, def] of Object.entries(declared)) {
      const value =
        name in given ? given[name]! : coerceString(evaluateField(def.default ?? "", ctx));
      if (name === "aws-endpoint" && !value) continue;
      inputs[name] = value;
    }
    const eventPath = join(temp, "event.json");
    writeFileSync(
      eventPath,
      JSON.stringify({
        repository: { full_name: ctx.github && (ctx.github as { repository: string }).repository },
      }),
    );
    const summary = join(temp, `summary-${stepRecord.step.replace(/\W/g, "_")}`);
    writeFileSync(summary, "");
    const inputEnv = Object.fromEntries(
      Object.entries(inputs).map(([k, v]) => [`INPUT_${k.replace(/ /g, "_").toUpperCase()}`, v]),
    );
    const { stdout, ok } = await (this.opts.host ?? childProcessHost)({
      dir,
      main: join(dir, metadata.runs.main),
      cwd: this.opts.workspace,
      env: this.runnerEnv(fake, outputFile, {
        ...env,
        ...inputEnv,
        GITHUB_EVENT_PATH: eventPath,
        GITHUB_EVENT_NAME: String((ctx.github as { event_name: string }).event_name),
        GITHUB_STEP_SUMMARY: summary,
        RUNNER_TEMP: temp,
      }),
    });
    stepRecord.log = runnerLog(stdout);
    stepRecord.masked = maskedValues(stdout);
    return ok;
  }
}

/**
 * Keys of a step the parser's model leaves out (`with`, `working-directory`):
 * read from the parser's token tree of the same file, job and step index.
 */
const rawTrees = new Map<string, TemplateToken>();
const find = (t: TemplateToken | undefined, key: string) =>
  t && isMapping(t) ? t.find(key) : undefined;
const entries = (t: TemplateToken | undefined) => {
  const out = new Map<string, TemplateToken>();
  if (t && isMapping(t)) for (const kv of t) out.set(String(valueOf(kv.key, {})), kv.value);
  return out;
};
function rawJobToken(path: string, jobId: string): TemplateToken | undefined {
  let root = rawTrees.get(path);
  if (!root) {
    const parsed = parseWorkflow(
      { name: path, content: readFileSync(path, "utf8") },
      new NoOperationTraceWriter(),
    );
    root = parsed.value!;
    rawTrees.set(path, root);
  }
  return find(find(root, "jobs"), jobId);
}
/** A job's keys as written (one parse per file). */
function rawJob(path: string, jobId: string): Map<string, TemplateToken> {
  return entries(rawJobToken(path, jobId));
}
function rawStep(path: string, jobId: string, index: number): Map<string, TemplateToken> {
  const steps = find(rawJobToken(path, jobId), "steps");
  return entries(steps && isSequence(steps) ? steps.get(index) : undefined);
}

/** The reusable workflow's own repository and commit (GitHub's job.workflow_repository / job.workflow_sha). */
function jobContext(opts: RunnerOptions): { workflow_repository: string; workflow_sha: string } {
  return {
    workflow_repository: TOOL_REPOSITORY,
    workflow_sha: opts.toolSha ?? toolSha(opts.toolDir),
  };
}

/** The tool's repository as the callers name it. */
export const TOOL_REPOSITORY = "example-jp/ses-dkim-rotation";

const shas = new Map<string, string>();
function toolSha(dir: string): string {
  if (!shas.has(dir)) {
    let sha = "";
    try {
      sha = execFileSync("git", ["rev-parse", "HEAD"], {
        cwd: dir,
        stdio: ["ignore", "pipe", "ignore"],
      })
        .toString()
        .trim();
    } catch {
      sha = "f".repeat(40); // a copy without git history: any fixed commit will do
    }
    shas.set(dir, sha);
  }
  return shas.get(dir)!;
}

function assertSupported(file: string, job: string, step: Step): void {
  if (!("run" in step) && !("uses" in step))
    throw new UnsupportedWorkflowError(file, `a step of job ${job} that neither runs nor uses`);
  const coe = (step as { "continue-on-error"?: unknown })["continue-on-error"];
  if (coe !== undefined && coe !== false)
    throw new UnsupportedWorkflowError(file, `continue-on-error in job ${job}`);
}

/** One job instance per matrix combination; `[undefined]` without a matrix. */
function expandMatrix(
  file: string,
  job: string,
  matrix: ({ include?: Record<string, unknown>[] } & Record<string, unknown>) | undefined,
): (Record<string, unknown> | undefined)[] {
  if (!matrix) return [undefined];
  const { include, ...axes } = matrix;
  if (Object.keys(axes).some((k) => k !== "exclude"))
    throw new UnsupportedWorkflowError(file, `matrix axes other than include in job ${job}`);
  if (!Array.isArray(include))
    throw new Error(`${file} job ${job}: matrix.include is ${JSON.stringify(include)}, not a list`);
  // GitHub fails a job whose matrix expands to nothing ("Matrix vector … does not contain any values").
  if (!include.length) throw new Error(`${file} job ${job}: the matrix is empty`);
  return include;
}

/** Jobs in an order that respects `needs`. */
function order(jobs: WorkflowJob[]): WorkflowJob[] {
  const done = new Set<string>();
  const out: WorkflowJob[] = [];
  const pending = [...jobs];
  while (pending.length) {
    const i = pending.findIndex((j) => (j.needs ?? []).every((n) => done.has(n.value)));
    if (i < 0) throw new Error(`a cycle in needs: ${pending.map((j) => j.id.value).join(", ")}`);
    const [job] = pending.splice(i, 1);
    done.add(job!.id.value);
    out.push(job!);
  }
  return out;
}
