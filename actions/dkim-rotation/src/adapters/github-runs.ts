/**
 * What GitHub Actions knows about the gated jobs of this repository: which
 * activation, retirement and rollback jobs are waiting for a reviewer or
 * running, and which were rejected. The hourly verify reads it so that a
 * ready selector is put before reviewers once (docs/design.md, "One approval
 * request per decision"); the gate reads it so that an activation and a
 * rollback of one domain never run at once.
 *
 * Jobs are recognised by their names, which the workflows render from the
 * matrix (`Activate <selector> for <domain>`, …); test/workflows.test.ts
 * checks the workflow files use exactly the names below. Runs are those of
 * the calling workflows, whose file names adopters keep.
 */
import type { Octokit } from "@octokit/rest";
import { GitHubApiError } from "./github";

export const ACTIVATE_WORKFLOW = ".github/workflows/dkim-activate.yml";
export const ROLLBACK_WORKFLOW = ".github/workflows/dkim-rollback.yml";
const GATED_WORKFLOWS = [ACTIVATE_WORKFLOW, ROLLBACK_WORKFLOW];

export type GatedKind = "activate" | "retire" | "rollback";

/** The job names the workflows give their gated jobs (with `${{ matrix.* }}` / `${{ inputs.* }}`). */
export const GATED_JOB_NAMES: Record<GatedKind, (domain: string, selector: string) => string> = {
  activate: (domain, selector) => `Activate ${selector} for ${domain}`,
  retire: (domain, selector) => `Retire ${selector} of ${domain}`,
  rollback: (domain, selector) => `Roll back ${domain} to ${selector}`,
};

/**
 * The jobs run inside reusable workflows, which GitHub's API names
 * `<calling job's name> / <job's name>` (docs/design.md#reusable-workflows);
 * the prefix is optional so a job defined directly in a workflow matches too.
 */
const CALLER = String.raw`(?:.+ / )?`;
const NAME_PATTERNS: [GatedKind, RegExp, "sd" | "ds"][] = [
  ["activate", new RegExp(String.raw`^${CALLER}Activate (\S+) for (\S+)$`), "sd"],
  ["retire", new RegExp(String.raw`^${CALLER}Retire (\S+) of (\S+)$`), "sd"],
  ["rollback", new RegExp(String.raw`^${CALLER}Roll back (\S+) to (\S+)$`), "ds"],
];

export function parseGatedJobName(
  name: string,
): { kind: GatedKind; domain: string; selector: string } | undefined {
  for (const [kind, re, order] of NAME_PATTERNS) {
    const m = re.exec(name);
    if (m)
      return order === "sd"
        ? { kind, selector: m[1]!, domain: m[2]! }
        : { kind, domain: m[1]!, selector: m[2]! };
  }
  return undefined;
}

export interface GatedJob {
  kind: GatedKind;
  domain: string;
  selector: string;
  runId: number;
  runUrl: string;
  event: string;
  /** GitHub's job status: waiting = a reviewer has been asked. */
  status: string;
  conclusion: string | null;
  /** A reviewer rejected this run's deployment to the environment. */
  rejectedBy?: string;
}

/** Statuses of a run that is not finished (GitHub's list filter takes one at a time). */
const OPEN_RUN_STATUSES = ["waiting", "pending", "queued", "in_progress"] as const;

export class GitHubRuns {
  constructor(
    private readonly octokit: Octokit,
    private readonly repo: { owner: string; repo: string },
    /** This job's own run, left out of every answer. */
    private readonly ownRunId?: number,
  ) {}

  private async call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new GitHubApiError(operation, `${this.repo.owner}/${this.repo.repo}`, err);
    }
  }

  /** Unfinished gated jobs of other runs: waiting for a reviewer, queued in a group, or running. */
  async openGatedJobs(): Promise<GatedJob[]> {
    const seen = new Set<number>();
    const out: GatedJob[] = [];
    for (const status of OPEN_RUN_STATUSES) {
      const runs = await this.call(`listing ${status} workflow runs`, () =>
        this.octokit.paginate(this.octokit.rest.actions.listWorkflowRunsForRepo, {
          ...this.repo,
          status,
          per_page: 100,
        }),
      );
      for (const run of runs) {
        if (seen.has(run.id) || run.id === this.ownRunId || !GATED_WORKFLOWS.includes(run.path))
          continue;
        seen.add(run.id);
        for (const job of await this.jobsOf(run)) if (job.status !== "completed") out.push(job);
      }
    }
    return out;
  }

  /**
   * Gated jobs of the activation workflow's recent failed runs (a rejection
   * fails the run), newest first, each marked with who rejected it if a
   * reviewer did. At most `limit` runs are read.
   */
  async recentFailures(limit = 20): Promise<GatedJob[]> {
    const res = await this.call("listing failed activation runs", () =>
      this.octokit.rest.actions.listWorkflowRuns({
        ...this.repo,
        workflow_id: ACTIVATE_WORKFLOW.split("/").pop()!,
        status: "failure",
        per_page: limit,
      }),
    );
    const out: GatedJob[] = [];
    for (const run of res.data.workflow_runs) {
      if (run.id === this.ownRunId) continue;
      const approvals = await this.call(`reading the approvals of run ${run.id}`, () =>
        this.octokit.rest.actions.getReviewsForRun({ ...this.repo, run_id: run.id }),
      );
      const rejection = approvals.data.find((a) => a.state === "rejected");
      for (const job of await this.jobsOf(run)) {
        if (job.conclusion !== "failure") continue;
        out.push({ ...job, rejectedBy: rejection?.user?.login });
      }
    }
    return out;
  }

  private async jobsOf(run: { id: number; html_url: string; event: string }): Promise<GatedJob[]> {
    const jobs = await this.call(`listing the jobs of run ${run.id}`, () =>
      this.octokit.paginate(this.octokit.rest.actions.listJobsForWorkflowRun, {
        ...this.repo,
        run_id: run.id,
        per_page: 100,
      }),
    );
    const out: GatedJob[] = [];
    for (const job of jobs) {
      const named = parseGatedJobName(job.name);
      if (!named) continue;
      out.push({
        ...named,
        runId: run.id,
        runUrl: run.html_url,
        event: run.event,
        status: job.status,
        conclusion: job.conclusion,
      });
    }
    return out;
  }
}
