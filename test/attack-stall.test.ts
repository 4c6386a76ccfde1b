/**
 * Issue #22: a writer who can dispatch workflows must not be able to stall
 * rotations, and adopters must not run code from a movable tag.
 *
 * - A rollback dispatch is checked by an ungated job (planner role, command
 *   `rollback-check`) before its gated job is queued: an unknown domain, a
 *   selector without a stored key, or one whose record is not served fails
 *   there, on one line, and no reviewer is ever asked.
 * - An open rollback holds back only its own domain's activation.
 * - A second rollback dispatch for a domain is refused while one waits, naming
 *   the waiting run; nothing cancels the waiting one (the gated job has no
 *   concurrency group: docs/design.md#github-concurrency).
 * - `doctor` warns about a caller that names our reusable workflows by a tag
 *   or a branch instead of a full commit SHA.
 *
 * The dispatches go through the shipped workflow files (scripts/workflow-runner.ts
 * on the GitHub fake); the state-dependent checks run the action's `execute()`
 * in-process on the world's clock, so a key can be aged by months, and a valid
 * dispatch then runs through the shipped files on that clock (inProcessHost).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { generateKeyPairSync } from "node:crypto";
import {
  parseRecordFile,
  recordPath,
  renderRecordFile,
} from "../actions/dkim-rotation/src/engine/record";
import { publicKeyFingerprint } from "../actions/dkim-rotation/src/engine/keys";
import { ROLLBACK_WORKFLOW } from "../actions/dkim-rotation/src/adapters/github-runs";
import { pinnedCallers } from "../actions/dkim-rotation/src/doctor";
import { WorkflowRunner, type RunRecord } from "../scripts/workflow-runner";
import { inProcessHost } from "../scripts/action-host";
import { fetchIdToken } from "../scripts/github-fake";
import type { FakeJob } from "../scripts/github-fake-actions";
import { EMULATOR_CREDENTIALS, startWorld, type World } from "./helpers/world";
import { action } from "./helpers/action";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const A = "mail.example.jp";
const B = "news.example.jp";
const ENV = "dkim-production";
const DAY = 24 * 60 * 60 * 1000;
const VARS = {
  AWS_PLANNER_ROLE_ARN: "arn:aws:iam::123456789012:role/dkim-planner",
  AWS_ACTIVATOR_ROLE_ARN: "arn:aws:iam::123456789012:role/dkim-activator",
  AWS_REGION: "ap-northeast-1",
};

/** A rollback of `domain` waiting for a reviewer, queued the way reusable-rollback.yml names it. */
function waitingRollback(world: World, domain: string, selector: string): FakeJob {
  const gh = world.github.actions;
  const run = gh.startRun(ROLLBACK_WORKFLOW, {
    event: "workflow_dispatch",
    headSha: "3".repeat(40),
  });
  const job = gh.queueJob(run.id, {
    name: `DKIM / Roll back ${domain} to ${selector}`,
    environment: ENV,
  });
  expect(job.status).to.equal("waiting");
  return job;
}

/** The env a runner gives a step of an ungated job of a new run of `workflow`. */
function ungatedJob(world: World, workflow: string, event = "workflow_dispatch") {
  const gh = world.github.actions;
  const run = gh.startRun(workflow, { event, headSha: "0".repeat(40) });
  const job = gh.queueJob(run.id, { name: "DKIM / ungated" });
  const env = gh.runnerEnv(job.id);
  return {
    job,
    env: {
      runId: env.GITHUB_RUN_ID,
      event,
      idToken: (audience: string) => fetchIdToken(env, audience),
    },
  };
}

/** The shipped workflows on `world`; every reviewer request is recorded in `asked` and answered `answer`. */
function runnerFor(
  world: World,
  asked: string[],
  answer: "wait" | "approve",
  inProcess?: Parameters<typeof inProcessHost>[0],
): WorkflowRunner {
  return new WorkflowRunner({
    workspace: world.workspace,
    toolDir: ROOT,
    workflowRoot: ROOT,
    github: world.github,
    vars: VARS,
    aws: { endpoint: world.emulator.url, credentials: EMULATOR_CREDENTIALS },
    approve: (job) => {
      asked.push(job.name);
      return answer;
    },
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    ...(inProcess ? { host: inProcessHost(inProcess) } : {}),
  });
}

describe("attack: a bogus or second rollback dispatch, through the shipped workflow", function () {
  this.timeout(240_000);
  let world: World;
  let runner: WorkflowRunner;
  let asked: string[];

  before(async () => {
    world = await startWorld({
      configFile: "Pulumi.prod.yaml",
      identities: [
        { domain: A, selectorPrefix: "mail" },
        { domain: B, selectorPrefix: "news" },
      ],
    });
    await world.createEasyDkimIdentity(A);
    await world.createEasyDkimIdentity(B);
    world.github.actions.setEnvironment(ENV, {
      reviewers: [{ type: "User", id: 501, login: "approver" }],
      preventSelfReview: true,
      branchPatterns: ["main"],
    });
    asked = [];
    // Any reviewer request is a failure of these tests: record it and leave it waiting.
    runner = runnerFor(world, asked, "wait");
  });
  after(async () => world?.close());

  const dispatch = (domain: string, selector: string) =>
    runner.run(".github/workflows/dkim-rollback.yml", {
      name: "workflow_dispatch",
      inputs: { domain, selector },
    });
  /** The validate job's one-line refusal, as the run shows it. */
  const refusal = (r: RunRecord) =>
    r.steps
      .find((s) => s.step === "Check the dispatch" && s.outcome === "failure")
      ?.log?.split("\n")
      .find((l) => l.startsWith("::error"));

  it("an unknown domain fails in the validate job; no gated job is queued, nobody is asked", async () => {
    const before = world.github.actions.approvalRequests.length;
    const r = await dispatch("unknown.example.jp", "mail-old");
    expect(r.jobs.map((j) => [j.id, j.conclusion])).to.deep.equal([
      ["validate", "failure"],
      ["rollback", "skipped"],
    ]);
    expect(refusal(r)).to.match(/input:domain.*unknown\.example\.jp/);
    // The validate job ran with the planner role; the activator role was never assumed.
    expect(r.steps.filter((s) => s.role).map((s) => s.role!.split("/").pop())).to.deep.equal([
      "dkim-planner",
    ]);
    expect(world.github.actions.jobs.filter((j) => /Roll back unknown/.test(j.name))).to.deep.equal(
      [],
    );
    expect(world.github.actions.approvalRequests.length).to.equal(before);
    expect(asked).to.deep.equal([]);
  });

  it("a selector with no record on main fails in the validate job", async () => {
    const r = await dispatch(A, "mail-bogus");
    expect(r.jobs.map((j) => [j.id, j.conclusion])).to.deep.equal([
      ["validate", "failure"],
      ["rollback", "skipped"],
    ]);
    expect(refusal(r)).to.match(
      /mail\.example\.jp: rollback mail-bogus refused: dns\/mail\.example\.jp\/mail-bogus\.zone is not on main/,
    );
    expect(asked).to.deep.equal([]);
  });

  it("a second dispatch while one waits is refused naming the waiting run; the first is not cancelled", async () => {
    const first = waitingRollback(world, A, "mail-old");
    const firstUrl = `https://github.com/${world.repository}/actions/runs/${first.runId}`;
    const before = world.github.actions.approvalRequests.length;
    const r = await dispatch(A, "mail-other");
    expect(r.jobs.map((j) => [j.id, j.conclusion])).to.deep.equal([
      ["validate", "failure"],
      ["rollback", "skipped"],
    ]);
    expect(refusal(r)).to.include(
      `mail.example.jp: rollback mail-other refused: the rollback job for mail-old waits for approval in run ${first.runId} (${firstUrl}); approve, reject or cancel that run before dispatching another`,
    );
    expect(first.status).to.equal("waiting");
    expect(first.conclusion).to.equal(null);
    expect(world.github.actions.approvalRequests.length).to.equal(before);
    expect(asked).to.deep.equal([]);
    // Another domain is not affected by A's open rollback: its dispatch is judged on its own.
    const other = await dispatch(B, "news-bogus");
    expect(refusal(other)).to.match(
      /news\.example\.jp: rollback news-bogus refused: .*not on main/,
    );
    world.github.actions.review(first.runId, ENV, "rejected", "approver");
  });
});

describe("attack: rollback-check on the engine's own preconditions, and the stall stays in its domain", function () {
  this.timeout(240_000);
  let world: World;
  let first: string;
  let second: string;

  async function gatedActivate(domain: string, selector: string) {
    const out = await action(
      world,
      { command: "activate", domain, selector },
      { ...world.runEnvironment() },
    );
    expect(out.error, out.log).to.equal(undefined);
  }

  /** plan → merge → publish, for `domain`; returns the new selector (its record served). */
  async function ready(domain: string): Promise<string> {
    const plan = await action(world, { command: "plan", domain }, {});
    expect(plan.error, plan.log).to.equal(undefined);
    const pr = world.github
      .listPulls()
      .find((p) => p.state === "open" && p.head.includes(`/${domain}/`))!;
    const selector = pr.head.split("/").pop()!;
    const path = recordPath(domain, selector);
    const p = parseRecordFile(world.github.readFile(path, pr.head)!, path).tags.get("p")!;
    world.github.merge(pr.number);
    world.syncFromMain();
    world.publish(domain, selector, p);
    return selector;
  }

  const check = (domain: string, selector: string) =>
    action(
      world,
      { command: "rollback-check", domain, selector },
      ungatedJob(world, ROLLBACK_WORKFLOW).env,
    );

  before(async () => {
    world = await startWorld({
      // The stack file the shipped callers name, for the dispatch at the end.
      configFile: "Pulumi.prod.yaml",
      identities: [
        { domain: A, selectorPrefix: "mail" },
        { domain: B, selectorPrefix: "news" },
      ],
    });
    world.github.actions.setEnvironment(ENV, {
      reviewers: [{ type: "User", id: 501, login: "approver" }],
      preventSelfReview: true,
    });
    await world.createEasyDkimIdentity(A);
    await world.createEasyDkimIdentity(B);
    first = await ready(A);
    await gatedActivate(A, first);
    world.clock.advance(320 * DAY);
    await world.emulator.advance();
    second = await ready(A);
    await gatedActivate(A, second);
  });
  after(async () => world?.close());

  it("passes a rollback that could run: the previous selector, stored and served", async () => {
    const out = await check(A, first);
    expect(out.error, out.log).to.equal(undefined);
    expect(out.log).to.include(`${A}: a rollback to ${first} can run: record on main and served`);
  });

  it("an unknown domain is refused before anything is read", async () => {
    const out = await check("unknown.example.jp", first);
    expect(out.error).to.match(/^input:domain: identity unknown\.example\.jp: field domain: /);
  });

  it("a selector whose record is on main but has no stored key is refused", async () => {
    // A record file for a selector no key was made for (a writer could merge one with the DNS team's approval).
    const publicKey = generateKeyPairSync("rsa", { modulusLength: 2048 })
      .publicKey.export({ type: "spki", format: "der" })
      .toString("base64");
    const bogus = recordPath(A, "mail-nokey");
    const now = world.clock.now().toISOString();
    writeFileSync(
      join(world.workspace, bogus),
      renderRecordFile({
        domain: A,
        selector: "mail-nokey",
        keyBits: 2048,
        fingerprint: publicKeyFingerprint(publicKey),
        createdAt: now,
        publishBy: now,
        publicKey,
        ttl: 3600,
      }),
    );
    try {
      const out = await check(A, "mail-nokey");
      expect(out.error).to.equal(`${A}: rollback mail-nokey refused: no stored key for mail-nokey`);
    } finally {
      rmSync(join(world.workspace, bogus));
    }
  });

  it("a selector whose record is not served by every nameserver is refused", async () => {
    const p = parseRecordFile(
      readFileSync(join(world.workspace, recordPath(A, first)), "utf8"),
      recordPath(A, first),
    ).tags.get("p")!;
    world.unpublish(A, first, [world.ns2]);
    try {
      const out = await check(A, first);
      expect(out.error).to.match(
        new RegExp(
          `^${A.replace(/\./g, "\\.")}: rollback ${first} refused: dns/${A.replace(/\./g, "\\.")}/${first}\\.zone is not served: ${world.ns2.address}: missing`,
        ),
      );
    } finally {
      world.publish(A, first, p, [world.ns2]);
    }
  });

  it("the selector SES already signs with is refused: nothing to roll back", async () => {
    const out = await check(A, second);
    expect(out.error).to.equal(
      `${A}: rollback ${second} refused: SES already signs with ${second} in every Region; nothing to roll back`,
    );
  });

  it("a waiting rollback of domain A does not hold back an activation of domain B", async () => {
    const waiting = waitingRollback(world, A, first);
    const b = await ready(B);
    const { env } = ungatedJob(world, ".github/workflows/dkim-activate.yml", "schedule");
    const out = await action(world, { command: "verify" }, env);
    expect(out.error, out.log).to.equal(undefined);
    expect(JSON.parse(out.outputs.ready!)).to.deep.equal([{ domain: B, selector: b }]);
    expect(out.log).to.not.match(/news\.example\.jp: .*not asking again/);
    // A second rollback of A is refused while the first waits.
    const again = await check(A, first);
    expect(again.error).to.match(
      new RegExp(`the rollback job for ${first} waits for approval in run ${waiting.runId} `),
    );
    expect(waiting.status).to.equal("waiting");
    world.github.actions.review(waiting.runId, ENV, "rejected", "approver");
  });

  it("a valid dispatch passes validate, asks the reviewers once, and rolls back through the shipped workflow", async () => {
    const asked: string[] = [];
    // In this process on the world's clock: the keys were aged by months.
    const runner = runnerFor(world, asked, "approve", {
      clock: {
        now: () => world.clock.now(),
        sleep: async (ms: number) => {
          world.clock.advance(ms);
          await world.emulator.advance();
        },
      },
      githubPacing: { retryAfterBaseMs: 5, writeIntervalMs: 0 },
    });
    const r = await runner.run(".github/workflows/dkim-rollback.yml", {
      name: "workflow_dispatch",
      inputs: { domain: A, selector: first },
    });
    expect(r.jobs.map((j) => [j.id, j.conclusion])).to.deep.equal([
      ["validate", "success"],
      ["rollback", "success"],
    ]);
    expect(asked).to.deep.equal([`DKIM / Roll back ${A} to ${first}`]);
    expect(r.steps.filter((s) => s.role).map((s) => s.role!.split("/").pop())).to.deep.equal([
      "dkim-planner",
      "dkim-activator",
    ]);
    expect(world.emulator.ses.identity(world.region, A)?.tokens).to.deep.equal([first]);
  });
});

describe("attack: adopters pinned to a movable tag (doctor)", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "dkim-pins-"));
    mkdirSync(join(dir, ".github/workflows"), { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const caller = (ref: string) =>
    [
      "name: DKIM rollback",
      "on: workflow_dispatch",
      "jobs:",
      "  rollback:",
      `    uses: example-jp/ses-dkim-rotation/.github/workflows/reusable-rollback.yml@${ref}`,
      "",
    ].join("\n");

  it("warns on a caller that names the reusable workflow by @v1, one line with file, line and fix", () => {
    writeFileSync(join(dir, ".github/workflows/dkim-rollback.yml"), caller("v1"));
    const [check] = pinnedCallers(dir);
    expect(check!.status).to.equal("warn");
    expect(check!.detail).to.equal(
      ".github/workflows/dkim-rollback.yml:5 calls example-jp/ses-dkim-rotation/.github/workflows/reusable-rollback.yml@v1, a movable tag or branch",
    );
    expect(check!.fix).to.match(/full 40-hex commit SHA/);
    expect(check!.detail).to.not.include("\n");
  });

  it("warns on a branch and on a short SHA too", () => {
    for (const ref of ["main", "0123abc"]) {
      writeFileSync(join(dir, ".github/workflows/dkim-rollback.yml"), caller(ref));
      expect(pinnedCallers(dir)[0]!.status, ref).to.equal("warn");
    }
  });

  it("is quiet on a caller pinned by a full commit SHA, and on local callers", () => {
    writeFileSync(
      join(dir, ".github/workflows/dkim-rollback.yml"),
      caller(`${"a1b2c3d4e5".repeat(4)} # v1.2.3`),
    );
    writeFileSync(
      join(dir, ".github/workflows/dkim-activate.yml"),
      caller("x").replace(/uses: .*/, "uses: ./.github/workflows/reusable-activate.yml"),
    );
    expect(pinnedCallers(dir).map((c) => c.status)).to.deep.equal(["ok"]);
  });
});
