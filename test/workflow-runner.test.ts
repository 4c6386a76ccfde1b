/**
 * The shipped workflow files, run the way GitHub would (scripts/workflow-runner.ts:
 * GitHub's parser and evaluator, the action's real entry point in a child
 * process) against the world: the GitHub fake, the AWS emulator and two
 * loopback nameservers. Then the proof that it is the shipped files that run:
 * a copy of the repository with one thing changed in a workflow, or in the
 * action's outputs, gives another verdict, naming the job.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parseRecordFile } from "../actions/dkim-rotation/src/engine/record";
import {
  UnsupportedWorkflowError,
  WorkflowRunner,
  type RunRecord,
} from "../scripts/workflow-runner";
import { EMULATOR_CREDENTIALS, startWorld, type World } from "./helpers/world";
import { copyRepository, edit } from "./helpers/repository-copy";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DOMAIN = "mail.example.jp";
const VARS = {
  AWS_PLANNER_ROLE_ARN: "arn:aws:iam::123456789012:role/dkim-planner",
  AWS_ACTIVATOR_ROLE_ARN: "arn:aws:iam::123456789012:role/dkim-activator",
  AWS_REGION: "ap-northeast-1",
};

interface Verdict {
  ok: boolean;
  /** One line per problem, naming the job. */
  problems: string[];
  runs: RunRecord[];
  /** Per rotation: what it cost. */
  approvalRequests: number;
  workflowRuns: number;
  githubRequests: number;
  sesCalls: number;
}

/**
 * One rotation through the shipped workflows: plan (dispatch), the DNS team
 * merges and publishes, a push to dns/ runs activate, a reviewer approves.
 * `toolDir` is the repository whose workflows and action run (a mutated copy
 * in the proof tests).
 */
async function rotateOnce(world: World, toolDir: string): Promise<Verdict> {
  world.github.actions.setEnvironment("dkim-production", {
    reviewers: [{ type: "User", id: 501, login: "approver" }],
    preventSelfReview: true,
    branchPatterns: ["main"],
  });
  const runner = new WorkflowRunner({
    workspace: world.workspace,
    toolDir,
    workflowRoot: toolDir,
    github: world.github,
    vars: VARS,
    aws: { endpoint: world.emulator.url, credentials: EMULATOR_CREDENTIALS },
    approve: () => "approve",
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  });
  const problems: string[] = [];
  const c0 = { github: world.github.requests.length, ses: sesCalls(world) };
  const failedJobs = (r: RunRecord) =>
    r.jobs
      .filter((j) => j.conclusion === "failure")
      .map((j) => {
        const step = r.steps.find((s) => s.job === j.name && s.outcome === "failure");
        const why = step?.log?.split("\n").find((l) => l.startsWith("::error")) ?? "";
        return `${r.workflow}: job "${j.name}" failed${step ? ` at step "${step.step}"` : ""}${why || j.error ? `: ${why || j.error}` : ""}`;
      });

  const plan = await runner.run(".github/workflows/dkim-rotate.yml", {
    name: "workflow_dispatch",
  });
  problems.push(...failedJobs(plan));
  const pr = world.github.listPulls().find((p) => p.state === "open");
  if (!pr) {
    problems.push(`${plan.workflow}: no rotation PR opened`);
    return { ok: false, problems, runs: runner.runs, ...costs(world, runner.runs.length, 0, c0) };
  }
  const selector = pr.head.split("/").pop()!;
  const path = `dns/${DOMAIN}/${selector}.zone`;
  const record = parseRecordFile(world.github.readFile(path, pr.head)!, path);
  world.github.merge(pr.number);
  world.syncFromMain();
  world.publish(DOMAIN, selector, record.tags.get("p")!);
  const before = world.github.actions.approvalRequests.length;

  const activate = await runner.run(".github/workflows/dkim-activate.yml", {
    name: "push",
    changedPaths: [path],
  });
  problems.push(...failedJobs(activate));
  if (!activate.triggered)
    problems.push(`${activate.workflow}: a push to ${path} did not start it`);
  const gated = activate.jobs.find((j) => j.id === "activate");
  if (!gated) problems.push(`${activate.workflow}: job activate never ran`);
  else if (gated.conclusion === "skipped")
    problems.push(`${activate.workflow}: job "${gated.name}" was skipped`);
  // A second, scheduled run an hour later must not ask the reviewers again.
  const hourly = await runner.run(".github/workflows/dkim-activate.yml", { name: "schedule" });
  problems.push(...failedJobs(hourly));
  const signing = world.emulator.ses.identity(world.region, DOMAIN);
  if (signing?.origin !== "EXTERNAL" || signing.selector !== selector)
    problems.push(
      `SES does not sign ${DOMAIN} with ${selector} (${signing?.origin} ${signing?.selector ?? ""})`,
    );
  const approvalRequests = world.github.actions.approvalRequests.length - before;
  if (approvalRequests !== 1)
    problems.push(`${approvalRequests} approval requests for one activation`);
  // Private keys exist only inside the gated job's process; nothing any step printed holds one.
  for (const r of runner.runs)
    for (const step of r.steps)
      if (/PRIVATE KEY|MII[A-Za-z0-9+/]{60}/.test(step.log ?? ""))
        problems.push(`${r.workflow}: step "${step.step}" of "${step.job}" printed key material`);
  return {
    ok: problems.length === 0,
    problems,
    runs: runner.runs,
    ...costs(world, runner.runs.length, approvalRequests, c0),
  };
}

function sesCalls(world: World): number {
  return world.emulator.callCount({ service: "ses" });
}

function costs(
  world: World,
  workflowRuns: number,
  approvalRequests: number,
  c0: { github: number; ses: number },
) {
  return {
    approvalRequests,
    workflowRuns,
    githubRequests: world.github.requests.length - c0.github,
    sesCalls: sesCalls(world) - c0.ses,
  };
}

describe("the shipped workflows, run as GitHub would (workflow runner)", function () {
  this.timeout(240_000);

  async function inWorld<T>(fn: (world: World) => Promise<T>): Promise<T> {
    const world = await startWorld({ configFile: "Pulumi.prod.yaml" });
    try {
      await world.createEasyDkimIdentity(DOMAIN);
      return await fn(world);
    } finally {
      await world.close();
    }
  }

  it("take a new identity from plan to a gated activation with one approval request", async function () {
    const verdict = await inWorld((world) => rotateOnce(world, ROOT));
    expect(verdict.problems).to.deep.equal([]);
    const [plan, activate, hourly] = verdict.runs;
    // No reports role in this world (vars.AWS_REPORTS_ROLE_ARN unset): the reports job is skipped.
    expect(plan!.jobs.map((j) => [j.name, j.conclusion])).to.deep.equal([
      ["DKIM / Plan rotations and retirements", "success"],
      ["DKIM / Read DMARC aggregate reports", "skipped"],
    ]);
    // The planner role for plan and verify, the activator role only in the gated job.
    const roles = (r: RunRecord) =>
      r.steps
        .filter((s) => s.role)
        .map((s) => [s.job.split(" / ")[1]!.split(" ")[0], s.role!.split("/").pop()]);
    expect(roles(plan!)).to.deep.equal([["Plan", "dkim-planner"]]);
    expect(roles(activate!)).to.deep.equal([
      ["Verify", "dkim-planner"],
      ["Activate", "dkim-activator"],
    ]);
    // A manual publisher: nothing for the publish job (docs/design.md#publishers).
    expect(activate!.jobs.map((j) => [j.id, j.conclusion])).to.deep.equal([
      ["verify", "success"],
      ["publish", "skipped"],
      ["activate", "success"],
      ["retire", "skipped"],
    ]);
    // The next hour: verify finds nothing ready (SES signs with it), so no gated job at all.
    expect(hourly!.jobs.map((j) => [j.id, j.conclusion])).to.deep.equal([
      ["verify", "success"],
      ["publish", "skipped"],
      ["activate", "skipped"],
      ["retire", "skipped"],
    ]);
    // What one rotation costs, through the shipped files.
    expect(verdict.approvalRequests).to.equal(1);
    expect(verdict.workflowRuns).to.equal(3);
    expect(verdict.githubRequests).to.be.within(10, 200);
    expect(verdict.sesCalls).to.be.within(3, 60);
    console.log(
      `      one rotation: ${verdict.workflowRuns} workflow runs, ${verdict.approvalRequests} approval request, ${verdict.githubRequests} GitHub API requests, ${verdict.sesCalls} SES calls`,
    );
  });

  it("stops on a construct it does not run, naming the file", async function () {
    const root = mkdtempSync(join(tmpdir(), "dkim-unsupported-"));
    try {
      mkdirSync(join(root, ".github/workflows"), { recursive: true });
      writeFileSync(
        join(root, ".github/workflows/caller.yml"),
        "on: workflow_dispatch\njobs:\n  a:\n    uses: ./.github/workflows/called.yml\n",
      );
      writeFileSync(
        join(root, ".github/workflows/called.yml"),
        "on: workflow_call\njobs:\n  b:\n    runs-on: ubuntu-latest\n    container: node:24\n    steps:\n      - run: echo hi\n",
      );
      await inWorld(async (world) => {
        const runner = new WorkflowRunner({
          workspace: world.workspace,
          toolDir: ROOT,
          workflowRoot: root,
          github: world.github,
          vars: {},
          aws: { endpoint: world.emulator.url, credentials: EMULATOR_CREDENTIALS },
          approve: () => "approve",
        });
        let err: unknown;
        try {
          await runner.run(".github/workflows/caller.yml", { name: "workflow_dispatch" });
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(UnsupportedWorkflowError);
        expect((err as Error).message).to.equal(
          ".github/workflows/called.yml: container in job b is not supported by the local workflow runner",
        );
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("an environment secret passed by name reaches only the called job that runs in that environment (the gate App's key)", async function () {
    const root = mkdtempSync(join(tmpdir(), "dkim-envsecret-"));
    try {
      mkdirSync(join(root, ".github/workflows"), { recursive: true });
      writeFileSync(
        join(root, ".github/workflows/caller.yml"),
        [
          "on: workflow_dispatch",
          "jobs:",
          "  a:",
          "    uses: ./.github/workflows/called.yml",
          "    secrets:",
          "      key: ${{ secrets.GATE_KEY }}",
          "",
        ].join("\n"),
      );
      const job = (name: string, env: string) =>
        [
          `  ${name}:`,
          "    runs-on: ubuntu-latest",
          ...(env ? [`    environment: ${env}`] : []),
          "    outputs:",
          "      seen: ${{ steps.s.outputs.seen }}",
          "    steps:",
          "      - id: s",
          '        run: echo "seen=${{ secrets.key != \'\' }}" >> "$GITHUB_OUTPUT"',
        ].join("\n");
      writeFileSync(
        join(root, ".github/workflows/called.yml"),
        [
          "on:",
          "  workflow_call:",
          "    secrets:",
          "      key:",
          "        required: false",
          "jobs:",
          job("outside", ""),
          job("gated", "dkim-production"),
          "",
        ].join("\n"),
      );
      await inWorld(async (world) => {
        world.github.actions.setEnvironment("dkim-production", { reviewers: [] });
        const runner = new WorkflowRunner({
          workspace: world.workspace,
          toolDir: ROOT,
          workflowRoot: root,
          github: world.github,
          vars: {},
          environmentSecrets: { "dkim-production": { GATE_KEY: "the-gate-key" } },
          aws: { endpoint: world.emulator.url, credentials: EMULATOR_CREDENTIALS },
          approve: () => "approve",
        });
        const record = await runner.run(".github/workflows/caller.yml", {
          name: "workflow_dispatch",
        });
        const seen = Object.fromEntries(
          record.jobs.map((j) => [j.id, j.outputs.seen ?? `(${j.conclusion})`]),
        );
        expect(seen).to.deep.equal({ outside: "false", gated: "true" });
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  describe("proof that it is the shipped files: one change, another verdict naming the job", function () {
    let dir: string;
    beforeEach(function () {
      dir = copyRepository();
    });
    afterEach(function () {
      rmSync(dir, { recursive: true, force: true });
    });

    const ACTIVATE = ".github/workflows/reusable-activate.yml";
    const mutations: {
      title: string;
      file: string;
      from: string | RegExp;
      to: string;
      /** The action's bundle is rebuilt from the changed sources (the committed dist/ is what runs). */
      rebuild?: boolean;
      /** The first problem the verdict names. */
      problem: RegExp;
    }[] = [
      {
        title: "a renamed job output (verify's ready)",
        file: ACTIVATE,
        from: "      ready: ${{ steps.verify.outputs.ready }}",
        to: "      ready-list: ${{ steps.verify.outputs.ready }}",
        problem: /: job "DKIM \/ Activate {2}for " was skipped$/,
      },
      {
        title: "an inverted if: on the gated job",
        file: ACTIVATE,
        from: "if: needs.verify.outputs.ready != '' && needs.verify.outputs.ready != '[]'",
        to: "if: needs.verify.outputs.ready == '' || needs.verify.outputs.ready == '[]'",
        problem: /: job "DKIM \/ Activate {2}for " was skipped$/,
      },
      {
        title: "a matrix built from the wrong output (retire instead of ready)",
        file: ACTIVATE,
        from: "include: ${{ fromJSON(needs.verify.outputs.ready) }}",
        to: "include: ${{ fromJSON(needs.verify.outputs.retire) }}",
        problem: /: job "DKIM \/ Activate {2}for " failed: .*the matrix is empty$/,
      },
      {
        title: "the action's outputs: verify no longer sets ready",
        file: "actions/dkim-rotation/src/main.ts",
        from: /core\.setOutput\("ready"/g,
        to: 'core.setOutput("ready-ids"',
        rebuild: true,
        problem: /: job "DKIM \/ Activate {2}for " was skipped$/,
      },
    ];
    for (const m of mutations) {
      it(m.title, async function () {
        edit(dir, m.file, m.from, m.to);
        if (m.rebuild)
          execFileSync(process.execPath, ["scripts/build-action.mjs"], {
            cwd: dir,
            stdio: "ignore",
          });
        const verdict = await inWorld((world) => rotateOnce(world, dir));
        expect(verdict.ok).to.equal(false);
        expect(verdict.problems[0], verdict.problems.join("\n")).to.match(m.problem);
        // The rotation did not happen: SES still signs with Easy DKIM.
        expect(verdict.problems.join("\n")).to.match(/SES does not sign mail\.example\.jp with/);
      });
    }

    it("an unknown matrix key for the optional selector input still activates (the planner picks it)", async function () {
      // Not every change breaks a rotation: the selector input is optional for
      // activate (the planner picks it), so an unknown matrix key there still
      // activates. This pins that down, so the runner is known to see the change.
      edit(
        dir,
        ".github/workflows/reusable-activate.yml",
        "          selector: ${{ matrix.selector }}\n",
        "          selector: ${{ matrix.selector-name }}\n",
      );
      const verdict = await inWorld((world) => rotateOnce(world, dir));
      expect(verdict.problems).to.deep.equal([]);
    });
  });
});
