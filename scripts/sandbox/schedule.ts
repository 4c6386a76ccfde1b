/**
 * GitHub's side of the sandbox: the shipped workflow files, run by the
 * workflow runner (scripts/workflow-runner.ts: GitHub's parser and evaluator)
 * on the simulated clock, with the action's `run()` in this process.
 *
 * - Schedules come from the files' own `on.schedule` crons (cron-parser, UTC,
 *   as GitHub evaluates them).
 * - A job that waits in an environment with required reviewers is answered
 *   by the simulated approvers `approvalDelayMs` after it asked.
 * - Every run's cost is measured: GitHub API requests (the fake's log) and
 *   SES control-plane calls (the emulator's log, without SendEmail).
 */
import { CronExpressionParser } from "cron-parser";
import type { SimClock } from "../../actions/dkim-rotation/src/engine/clock";
import type { RunEnvironment } from "../../actions/dkim-rotation/src/main";
import { inProcessHost } from "../action-host";
import type { GitHubFake } from "../github-fake";
import { WorkflowRunner, type RunRecord, type WorkflowEvent } from "../workflow-runner";
import type { AwsEmulator } from "./aws-emulator";

type CronIterator = ReturnType<typeof CronExpressionParser.parse>;

/** What one delivered event (or one approval that released jobs) cost. */
export interface RunCost {
  workflow: string;
  event: string;
  at: number;
  githubRequests: number;
  sesCalls: number;
  /** Approval requests GitHub made during it, by job name. */
  approvalRequests: string[];
  /** Real time it took (the action's steps run in this process, on the simulated clock). */
  wallMs: number;
}

export interface ScheduleOptions {
  /** The tool's checkout: its `.github/workflows` and `actions/` are what runs. */
  root: string;
  /** The adopting repository's checkout. */
  workspace: string;
  github: GitHubFake;
  emulator: AwsEmulator;
  credentials: { accessKeyId: string; secretAccessKey: string };
  clock: SimClock;
  /** Repository variables and secrets the callers read. */
  vars: Record<string, string>;
  secrets?: Record<string, string>;
  /** Environment secrets by environment name (only jobs in that environment receive them). */
  environmentSecrets?: Record<string, Record<string, string>>;
  /** What the action gets beside the runner's environment (the clock, scaled pacing). */
  actionEnvironment: Partial<RunEnvironment>;
  approvalDelayMs: number;
  reviewer: string;
}

interface WaitingJob {
  runId: number;
  environment: string;
  name: string;
  requestedAt: number;
}

export class WorkflowSchedule {
  readonly runner: WorkflowRunner;
  readonly costs: RunCost[] = [];
  private readonly waiting: WaitingJob[] = [];
  private readonly crons = new Map<string, string[]>();
  /**
   * Per cron: its parsed iterator and the fire it last gave. The run asks with
   * a growing `after`, so the iterator only moves forward (parsing each cron
   * anew for every fire cost 0.7 s of a half-year run's 30 s).
   */
  private readonly fires = new Map<string, { after: number; next: number; it: CronIterator }>();

  constructor(private readonly opts: ScheduleOptions) {
    this.runner = new WorkflowRunner({
      workspace: opts.workspace,
      toolDir: opts.root,
      workflowRoot: opts.root,
      github: opts.github,
      vars: opts.vars,
      secrets: opts.secrets,
      ...(opts.environmentSecrets ? { environmentSecrets: opts.environmentSecrets } : {}),
      aws: { endpoint: opts.emulator.url, credentials: opts.credentials },
      // The approvers answer later (approveDue), as people do.
      approve: (job) => {
        this.waiting.push({ ...job, requestedAt: opts.clock.t });
        return "wait";
      },
      reviewer: opts.reviewer,
      env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
      host: inProcessHost(opts.actionEnvironment),
    });
  }

  /** Jobs waiting for a reviewer. */
  get waitingJobs(): number {
    return this.waiting.length;
  }

  /** The next time `file`'s schedule fires after `after` (Infinity without one). */
  async nextFire(file: string, after: number): Promise<number> {
    let crons = this.crons.get(file);
    if (!crons) {
      const template = await this.runner.load(file);
      crons = (template.events.schedule ?? []).map((s) => s.cron);
      this.crons.set(file, crons);
    }
    let next = Infinity;
    for (const cron of crons) next = Math.min(next, this.fireAfter(cron, after));
    return next;
  }

  /** The first fire of `cron` strictly after `after`. */
  private fireAfter(cron: string, after: number): number {
    let f = this.fires.get(cron);
    if (!f || after < f.after) {
      const it = CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: "UTC" });
      f = { after, next: it.next().getTime(), it };
      this.fires.set(cron, f);
    }
    // Every fire in (f.after, f.next) was none, so f.next holds for any `after` before it.
    while (f.next <= after) f.next = f.it.next().getTime();
    f.after = after;
    return f.next;
  }

  async run(file: string, event: WorkflowEvent): Promise<RunRecord> {
    return this.measured(file, event.name, () => this.runner.run(file, event));
  }

  /** When the oldest waiting job will be answered (Infinity when none waits). */
  nextApprovalAt(): number {
    return this.waiting.reduce(
      (m, w) => Math.min(m, w.requestedAt + this.opts.approvalDelayMs),
      Infinity,
    );
  }

  /**
   * The approvers approve each job that has waited `approvalDelayMs`; GitHub
   * then starts it (and whatever its group released). Returns the runs whose
   * jobs ran, each with only the jobs that ran now.
   */
  async approveDue(now: number, onApprove?: (job: { name: string }) => void): Promise<RunRecord[]> {
    const due = this.waiting.filter((w) => w.requestedAt + this.opts.approvalDelayMs <= now);
    if (!due.length) return [];
    for (const w of due) this.waiting.splice(this.waiting.indexOf(w), 1);
    const before = new Map(this.runner.runs.map((r) => [r, r.jobs.map((j) => j.conclusion)]));
    await this.measured(due.map((w) => w.name).join(", "), "approval", async () => {
      for (const w of due) onApprove?.(w);
      for (const w of due)
        this.opts.github.actions.review(w.runId, w.environment, "approved", this.opts.reviewer);
      await this.runner.release();
    });
    return this.runner.runs.filter((r) =>
      r.jobs.some((j, i) => before.get(r)?.[i] !== j.conclusion),
    );
  }

  private async measured<T>(workflow: string, event: string, fn: () => Promise<T>): Promise<T> {
    const { github, emulator } = this.opts;
    const at = this.opts.clock.t;
    const g0 = github.requests.length;
    const s0 = emulator.sesControlPlaneCalls();
    const a0 = github.actions.approvalRequests.length;
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.costs.push({
        workflow,
        event,
        at,
        githubRequests: github.requests.length - g0,
        sesCalls: emulator.sesControlPlaneCalls() - s0,
        approvalRequests: github.actions.approvalRequests.slice(a0).map((r) => r.jobName),
        wallMs: performance.now() - t0,
      });
    }
  }
}
