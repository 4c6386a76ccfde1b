/**
 * The approval gate and "one approval request per decision", against the
 * GitHub fake's model of Actions (environments with protection rules, run
 * approvals, waiting jobs, one pending job per concurrency group) and the
 * real action (`execute`) on the AWS emulator and loopback DNS.
 *
 * GitHub's side of each workflow run is played here the way the service
 * plays it: the verify job runs the action, and one gated job per `ready`
 * entry is queued with the name, environment and concurrency group that
 * .github/workflows/dkim-activate.yml renders for it.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { parse } from "yaml";
import * as core from "@actions/core";
import type { RunEnvironment } from "../actions/dkim-rotation/src/main";
import { parseRecordFile, recordPath } from "../actions/dkim-rotation/src/engine/record";
import {
  ACTIVATE_WORKFLOW,
  ROLLBACK_WORKFLOW,
} from "../actions/dkim-rotation/src/adapters/github-runs";
import { fetchIdToken } from "../scripts/github-fake";
import type { FakeJob } from "../scripts/github-fake-actions";
import { startWorld, type World } from "./helpers/world";
import { action } from "./helpers/action";

const DOMAIN = "mail.example.jp";
const ENV = "dkim-production";
const REVIEWERS = [{ type: "User" as const, id: 501, login: "approver" }];

interface WorkflowJob {
  name: string;
  environment?: string;
  concurrency?: { group: string };
}
type CallerWorkflow = { jobs: Record<string, { name: string; uses: string }> };
/**
 * The jobs of the reusable workflow a caller calls, named as GitHub's API
 * names them: `<calling job's name> / <job's name>`.
 */
function calledJobs(callerPath: string): Record<string, WorkflowJob> {
  const [caller] = Object.values((parse(readFileSync(callerPath, "utf8")) as CallerWorkflow).jobs);
  const called = parse(readFileSync(caller!.uses, "utf8")) as { jobs: Record<string, WorkflowJob> };
  return Object.fromEntries(
    Object.entries(called.jobs).map(([id, job]) => [
      id,
      { ...job, name: `${caller!.name} / ${job.name}` },
    ]),
  );
}
const activateWf = { jobs: calledJobs(ACTIVATE_WORKFLOW) };
const rollbackWf = { jobs: calledJobs(ROLLBACK_WORKFLOW) };
/** `${{ matrix.x }}` / `${{ inputs.x }}` as the service renders them for one matrix entry. */
function render(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{\{\s*(?:matrix|inputs)\.(\w+)\s*\}\}/g, (_, k: string) => {
    if (!(k in values)) throw new Error(`no value for ${k} in ${template}`);
    return values[k]!;
  });
}

/** job_workflow_ref of a job that the repository's reusable workflow `file` defines, called from main. */
function reusableRef(world: World, file = "reusable-activate.yml"): string {
  return `${world.github.owner}/${world.github.repo}/.github/workflows/${file}@refs/heads/main`;
}

/** The env a runner gives a step of `job` (its run id, event and OIDC token). */
function inJob(world: World, job: FakeJob, event: string): Partial<RunEnvironment> {
  const env = world.github.actions.runnerEnv(job.id);
  return {
    runId: env.GITHUB_RUN_ID,
    event,
    idToken: (audience: string) => fetchIdToken(env, audience),
  };
}

/** A run of dkim-activate.yml: verify, then one gated job per ready/retire entry. */
async function activationRun(world: World, event: string) {
  const gh = world.github.actions;
  const run = gh.startRun(ACTIVATE_WORKFLOW, { event, headSha: "0".repeat(40) });
  const verify = gh.queueJob(run.id, { name: activateWf.jobs.verify!.name });
  const out = await action(world, { command: "verify" }, inJob(world, verify, event));
  expect(out.error, out.log).to.equal(undefined);
  gh.complete(verify.id);
  const queued: FakeJob[] = [];
  for (const [output, jobId] of [
    ["ready", "activate"],
    ["retire", "retire"],
  ] as const) {
    const job = activateWf.jobs[jobId]!;
    for (const entry of JSON.parse(out.outputs[output] ?? "[]") as Record<string, string>[]) {
      queued.push(
        gh.queueJob(run.id, {
          name: render(job.name, entry),
          environment: render(job.environment!, { environment: ENV }),
          group: render(job.concurrency!.group, entry),
          workflowRef: reusableRef(world),
        }),
      );
    }
  }
  return {
    run,
    queued,
    held: out.log.split("\n").filter((l) => /not asking again|rejected by/.test(l)),
  };
}

/** A ready selector: planned, its PR merged, its record served by both nameservers. */
async function readySelector(world: World): Promise<string> {
  await world.createEasyDkimIdentity(DOMAIN);
  const plan = await action(world, { command: "plan" }, {});
  expect(plan.error, plan.log).to.equal(undefined);
  const pr = world.github.listPulls()[0]!;
  const selector = pr.head.split("/").pop()!;
  const path = recordPath(DOMAIN, selector);
  const publicKey = parseRecordFile(world.github.readFile(path, pr.head)!, path).tags.get("p")!;
  world.github.merge(pr.number);
  world.syncFromMain();
  world.publish(DOMAIN, selector, publicKey);
  return selector;
}

// A week of hourly runs under the field reports' reading; a day under the other.
for (const [waitingHolds, days] of [
  ["pending", 7],
  ["running", 1],
] as const) {
  describe(`one approval request per decision (a waiting job ${waitingHolds === "pending" ? "is the group's pending job" : "holds its group"})`, function () {
    this.timeout(300_000);
    let world: World;
    let selector: string;

    before(async () => {
      world = await startWorld({ github: { waitingHolds } });
      world.github.actions.setEnvironment(ENV, { reviewers: REVIEWERS, preventSelfReview: true });
      selector = await readySelector(world);
    });
    after(async () => world?.close());

    it("the fake models the problem: queueing every hour re-asks and cancels the waiting request", () => {
      const gh = world.github.actions;
      const before = gh.approvalRequests.length;
      const jobs = [0, 1, 2].map(() => {
        const run = gh.startRun(".github/workflows/naive.yml", {
          event: "schedule",
          headSha: "1".repeat(40),
        });
        return gh.queueJob(run.id, { name: "naive", environment: ENV, group: "naive-group" });
      });
      if (waitingHolds === "pending") {
        expect(gh.approvalRequests.length - before).to.equal(3);
        expect(jobs.map((j) => j.conclusion)).to.deep.equal(["cancelled", "cancelled", null]);
      } else {
        // The first holds the group; each newer one cancels the previous pending one.
        expect(jobs.map((j) => j.conclusion)).to.deep.equal([null, "cancelled", null]);
      }
      for (const j of jobs.filter((x) => x.status !== "completed"))
        if (j.status === "waiting") gh.review(j.runId, ENV, "rejected", "approver");
    });

    it(`${days} day(s) of hourly runs put the ready selector before the reviewers exactly once`, async () => {
      const gh = world.github.actions;
      const before = gh.approvalRequests.length;
      let first: FakeJob | undefined;
      for (let hour = 0; hour < days * 24; hour++) {
        const { queued, held } = await activationRun(world, "schedule");
        if (hour === 0) {
          expect(queued.map((j) => j.name)).to.deep.equal([
            `DKIM / Activate ${selector} for ${DOMAIN}`,
          ]);
          first = queued[0];
        } else {
          expect(queued, `hour ${hour}`).to.deep.equal([]);
          expect(held.join("\n")).to.match(/waits for approval in run/);
        }
      }
      const requests = gh.approvalRequests.slice(before);
      expect(requests.map((r) => r.jobName)).to.deep.equal([
        `DKIM / Activate ${selector} for ${DOMAIN}`,
      ]);
      // The request was never cancelled: it still waits, as on the first hour.
      expect(first!.status).to.equal("waiting");
      expect(
        gh.jobs.filter((j) => j.conclusion === "cancelled" && /(^| \/ )Activate /.test(j.name)),
      ).to.deep.equal([]);
    });

    it("a rejected request is not asked again by the schedule; a waiting rollback is never cancelled", async () => {
      const gh = world.github.actions;
      const waiting = gh.jobs.find(
        (j) => j.status === "waiting" && /(^| \/ )Activate /.test(j.name),
      )!;
      gh.review(waiting.runId, ENV, "rejected", "approver", "not this week");
      const before = gh.approvalRequests.length;
      // An operator asks for a rollback (to the Easy DKIM state there is none; any selector will do for the queue).
      const rb = gh.startRun(ROLLBACK_WORKFLOW, {
        event: "workflow_dispatch",
        headSha: "2".repeat(40),
      });
      const rbJob = rollbackWf.jobs.rollback!;
      const rollback = gh.queueJob(rb.id, {
        name: render(rbJob.name, { domain: DOMAIN, selector }),
        environment: render(rbJob.environment!, { environment: ENV }),
        // No concurrency group (reusable-rollback.yml): nothing can cancel it.
        group: rbJob.concurrency?.group,
      });
      expect(rollback.status).to.equal("waiting");
      for (let hour = 0; hour < 12; hour++) {
        const { queued } = await activationRun(world, "schedule");
        expect(queued).to.deep.equal([]);
      }
      // A push (a new merge to dns/) re-asks after a rejection, but not while the rollback is open.
      expect((await activationRun(world, "push")).queued).to.deep.equal([]);
      expect(rollback.status).to.equal("waiting");
      expect(gh.approvalRequests.length - before).to.equal(1); // the rollback's own request
      gh.review(rb.id, ENV, "rejected", "approver");
      for (let hour = 0; hour < 24; hour++)
        expect((await activationRun(world, "schedule")).held.join("\n")).to.match(
          /rejected by approver/,
        );
      expect(gh.approvalRequests.length - before).to.equal(1);
    });

    it("a new merge asks again, once; approved, the activation runs past the gate and swaps SES", async () => {
      const gh = world.github.actions;
      const before = gh.approvalRequests.length;
      const push = await activationRun(world, "push");
      expect(push.queued.map((j) => j.name)).to.deep.equal([
        `DKIM / Activate ${selector} for ${DOMAIN}`,
      ]);
      for (let hour = 0; hour < 5; hour++)
        expect((await activationRun(world, "schedule")).queued).to.deep.equal([]);
      expect(gh.approvalRequests.length - before).to.equal(1);
      const job = push.queued[0]!;
      gh.review(job.runId, ENV, "approved", "approver");
      expect(job.status).to.equal("in_progress");
      const out = await action(
        world,
        { command: "activate", domain: DOMAIN, selector },
        inJob(world, job, "push"),
      );
      expect(out.error, out.log).to.equal(undefined);
      expect(out.log).to.match(
        /approval gate: job in dkim-production \(required reviewers: approver\); run \d+ approved by approver/,
      );
      gh.complete(job.id);
      expect(world.emulator.ses.identity("ap-northeast-1", DOMAIN)?.selector).to.equal(selector);
      // Active now: later runs offer nothing, so nobody is asked again.
      for (let hour = 0; hour < 3; hour++)
        expect((await activationRun(world, "schedule")).queued).to.deep.equal([]);
      expect(gh.approvalRequests.length - before).to.equal(1);
    });
  });
}

describe("the approval gate refuses before any key is read", function () {
  this.timeout(120_000);
  let world: World;
  let selector: string;
  const reads = () => world.emulator.callCount({ operation: "GetSecretValue" });

  before(async () => {
    world = await startWorld();
    selector = await readySelector(world);
  });
  after(async () => world?.close());

  async function gated(job: FakeJob, extra: Partial<RunEnvironment> = {}) {
    const before = reads();
    const out = await action(
      world,
      { command: "activate", domain: DOMAIN, selector },
      { ...inJob(world, job, "push"), ...extra },
    );
    expect(reads() - before, "private keys read").to.equal(0);
    // The refused job ends, as it would on a runner.
    if (job.status === "in_progress") world.github.actions.complete(job.id, "failure");
    return out.error ?? "";
  }

  function jobIn(environment: string | undefined): FakeJob {
    const gh = world.github.actions;
    const run = gh.startRun(ACTIVATE_WORKFLOW, { event: "push", headSha: "3".repeat(40) });
    return gh.queueJob(run.id, {
      name: `DKIM / Activate ${selector} for ${DOMAIN}`,
      environment,
      workflowRef: reusableRef(world),
    });
  }

  it("a job outside the environment", async () => {
    expect(await gated(jobIn(undefined))).to.equal(
      `${DOMAIN}: activate refused by the approval gate: this job is not in the dkim-production environment (its OIDC token names no environment); set \`environment: dkim-production\` on the job`,
    );
  });

  it("an environment GitHub created on first use, with no protection rules", async () => {
    expect(world.github.actions.environments.has(ENV)).to.equal(false);
    const err = await gated(jobIn(ENV));
    expect(world.github.actions.environments.get(ENV)?.reviewers).to.deep.equal([]);
    expect(err).to.equal(
      `${DOMAIN}: activate refused by the approval gate: environment dkim-production requires no reviewers, so nobody approved this run; add required reviewers to it (Settings → Environments; on a private repository this needs GitHub Enterprise), or set github.manageRepository: true`,
    );
  });

  it("a run nobody approved (reviewers were added after the job started)", async () => {
    const job = jobIn(ENV);
    world.github.actions.setEnvironment(ENV, { reviewers: REVIEWERS });
    expect(await gated(job)).to.match(
      /activate refused by the approval gate: run \d+ has no approval for environment dkim-production; a required reviewer \(approver\) must approve the job in dkim-production$/,
    );
  });

  it("no GitHub token, or no OIDC token", async () => {
    const { job } = world.github.approvedJob(ENV);
    const before = reads();
    const out = await action(
      world,
      { command: "rollback", domain: DOMAIN, selector, githubToken: undefined },
      inJob(world, job, "workflow_dispatch"),
    );
    expect(reads()).to.equal(before);
    expect(out.error).to.match(
      /rollback refused by the approval gate: no GitHub token .*actions: read/,
    );
    expect(
      await gated(job, {
        idToken: () =>
          Promise.reject(new Error("Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable")),
      }),
    ).to.match(/cannot obtain this job's OIDC token .*id-token: write/);
  });

  it("another gated job of the domain is running", async () => {
    const gh = world.github.actions;
    const rb = gh.startRun(ROLLBACK_WORKFLOW, {
      event: "workflow_dispatch",
      headSha: "4".repeat(40),
    });
    const rollback = gh.queueJob(rb.id, {
      name: `Roll back ${DOMAIN} to old-1`,
      environment: ENV,
    });
    gh.review(rb.id, ENV, "approved", "approver");
    expect(rollback.status).to.equal("in_progress");
    const { job } = world.github.approvedJob(ENV);
    expect(await gated(job)).to.match(
      /the rollback job for old-1 is running in run \d+; re-run this job when that one has finished$/,
    );
    gh.complete(rollback.id);
  });

  it("passes in an approved job, reading the OIDC token through @actions/core as on a runner", async () => {
    const { job } = world.github.approvedJob(ENV);
    const env = world.github.actions.runnerEnv(job.id);
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const out = await action(
        world,
        { command: "activate", domain: DOMAIN, selector, dryRun: true },
        {
          runId: env.GITHUB_RUN_ID,
          idToken: (aud) => core.getIDToken(aud),
        },
      );
      expect(out.error).to.equal(undefined);
      expect(out.log).to.match(/approval gate: job in dkim-production/);
    } finally {
      for (const k of Object.keys(env)) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
