/**
 * Issue 22, item 4: the gated jobs run only from `main`, and AWS checks it.
 *
 * The attack: a writer pushes a branch whose copy of reusable-rollback.yml
 * decrypts every key, dispatches it, and the approver sees the usual prompt.
 * The branch's own code never calls the approval gate, so what refuses it is
 * GitHub (the environment's deployment branch policy: the job never starts)
 * and STS (the activator trusts only the pinned reusable workflows' `sub`).
 * The gate's own checks (`ref`, `job_workflow_ref`) guard the tool's code run
 * from elsewhere; doctor fails while the environment admits other branches.
 * docs/design.md#github-approval-gate, docs/design.md#github-oidc-subject.
 */
import { readdirSync, readFileSync } from "node:fs";
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { createOctokit } from "../actions/dkim-rotation/src/adapters/github";
import { confirmApproval, type GateRequest } from "../actions/dkim-rotation/src/gate";
import {
  deploymentBranchCheck,
  renderDoctor,
  subjectTemplateProblem,
} from "../actions/dkim-rotation/src/doctor";
import {
  GATED_WORKFLOW_FILE,
  PINNED_SUBJECT_CLAIM_KEYS,
  ROLE_WORKFLOW_FILES,
  parseProjectConfig,
  type ProjectConfig,
} from "../actions/dkim-rotation/src/engine/config";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";
import { githubTrustPolicy, type PolicyDocument } from "../infra/components/policies";
import { assumeWithWebIdentity } from "./helpers/sts-trust";
import { fetchIdToken, startGitHubFake, type GitHubFake } from "../scripts/github-fake";

const ENV = "dkim-production";
const REVIEWER = { type: "User" as const, id: 501, login: "approver" };
const ACCOUNT = "123456789012";
const PROVIDER = `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`;

function claimsOf(jwt: string): Record<string, string> {
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as Record<
    string,
    string
  >;
}

/** What STS decides for a token with this `sub` against the role's trust (IAM policy simulator). */
function assume(trust: PolicyDocument, role: string, sub: string): Promise<string> {
  return assumeWithWebIdentity(trust, { provider: PROVIDER, role, account: ACCOUNT, sub });
}

describe("attack: a gated job from another branch or another workflow file (issue 22 item 4)", function () {
  this.timeout(60_000);
  let fake: GitHubFake;
  let octokit: ReturnType<typeof createOctokit>;
  const TOOL = "example-jp/ses-dkim-rotation";

  before(async () => {
    fake = await startGitHubFake();
    octokit = createOctokit({
      token: "t",
      baseUrl: fake.url,
      pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
    });
  });
  after(async () => fake?.close());

  /** The gate inside `job`, for `command`. */
  async function gate(
    job: { id: number; runId: number },
    command: GateRequest["command"] = "activate",
    extra: Partial<GateRequest> = {},
  ): Promise<string> {
    try {
      return await confirmApproval({
        command,
        domain: "mail.example.jp",
        environment: ENV,
        owner: fake.owner,
        repo: fake.repo,
        runId: String(job.runId),
        octokit,
        idToken: (aud) => fetchIdToken(fake.actions.runnerEnv(job.id), aud),
        ...extra,
      });
    } catch (err) {
      return (err as Error).message;
    }
  }

  describe("GitHub refuses first: the environment's branch policy", () => {
    it("a job from refs/heads/evil in an environment limited to main never starts, so it holds no token", async () => {
      fake.actions.setEnvironment(ENV, {
        reviewers: [REVIEWER],
        preventSelfReview: true,
        branchPatterns: ["main"],
      });
      const run = fake.actions.startRun(".github/workflows/dkim-rollback.yml", {
        event: "workflow_dispatch",
        headSha: "e".repeat(40),
        headBranch: "evil",
      });
      const job = fake.actions.queueJob(run.id, {
        name: "Roll back",
        environment: ENV,
        workflowRef: `${fake.owner}/${fake.repo}/.github/workflows/reusable-rollback.yml@refs/heads/evil`,
      });
      expect(job.status).to.equal("completed");
      expect(job.conclusion).to.equal("failure");
      // Nobody was asked to approve it.
      expect(fake.actions.approvalRequests.filter((r) => r.jobId === job.id)).to.deep.equal([]);
      let err: Error | undefined;
      await fetchIdToken(fake.actions.runnerEnv(job.id), "sts.amazonaws.com").catch(
        (e: Error) => (err = e),
      );
      expect(err?.message).to.match(/403/);
    });
  });

  describe("the gate refuses the tool's code run from elsewhere", () => {
    beforeEach(() =>
      // The situation of the report: an environment that admits every branch.
      fake.actions.setEnvironment(ENV, { reviewers: [REVIEWER], preventSelfReview: true }),
    );

    it("an approved gated job from refs/heads/evil", async () => {
      const { job } = fake.approvedJob(ENV, "Roll back", {
        workflow: "reusable-rollback.yml",
        branch: "evil",
      });
      expect(await gate(job, "rollback")).to.equal(
        "mail.example.jp: rollback refused by the approval gate: this job runs from refs/heads/evil, not the default branch refs/heads/main; run the workflow from main, and limit environment dkim-production's deployment branches to main (doctor checks it)",
      );
    });

    it("a job defined by another workflow file on main (the attacker's copy)", async () => {
      const { job } = fake.approvedJob(ENV, "Roll back", { workflow: "my-rollback.yml" });
      expect(await gate(job, "rollback")).to.equal(
        "mail.example.jp: rollback refused by the approval gate: this job is defined by example-jp/ses-dkim-rotation/.github/workflows/my-rollback.yml@refs/heads/main, not reusable-rollback.yml of the tool at refs/heads/main; run rollback only through the tool's reusable-rollback.yml called from main",
      );
    });

    it("a rollback run by the activation workflow's job (one file per command)", async () => {
      const { job } = fake.approvedJob(ENV, "Activate", { workflow: "reusable-activate.yml" });
      expect(await gate(job, "rollback")).to.match(
        /rollback refused by the approval gate: this job is defined by .*reusable-activate\.yml@refs\/heads\/main, not reusable-rollback\.yml/,
      );
      // The same job passes for the commands that file defines.
      expect(await gate(job, "retire")).to.match(/^approval gate: job in dkim-production/);
    });

    it("pinned: this repository's copy of the workflow is not the tool's pinned one", async () => {
      const pin = { repository: TOOL.replace("example-jp", "tool-owner"), ref: "refs/tags/v1" };
      const { job } = fake.approvedJob(ENV, "Activate");
      expect(await gate(job, "activate", { workflowPin: pin })).to.equal(
        "mail.example.jp: activate refused by the approval gate: this job is defined by example-jp/ses-dkim-rotation/.github/workflows/reusable-activate.yml@refs/heads/main, not tool-owner/ses-dkim-rotation/.github/workflows/reusable-activate.yml@refs/tags/v1; run activate only through tool-owner/ses-dkim-rotation/.github/workflows/reusable-activate.yml@refs/tags/v1 (github.workflowPin in the stack file)",
      );
    });

    it("passes the tool's workflow on main, and says when a foreign tool repository is not pinned", async () => {
      const { job } = fake.approvedJob(ENV, "Roll back", { workflow: "reusable-rollback.yml" });
      expect(await gate(job, "rollback")).to.match(
        /; from example-jp\/ses-dkim-rotation\/\.github\/workflows\/reusable-rollback\.yml@refs\/heads\/main$/,
      );
      const run = fake.actions.startRun(".github/workflows/dkim-activate.yml", {
        event: "schedule",
        headSha: "0".repeat(40),
      });
      const adopter = fake.actions.queueJob(run.id, {
        name: "Activate",
        environment: ENV,
        workflowRef:
          "tool-owner/ses-dkim-rotation/.github/workflows/reusable-activate.yml@refs/tags/v1",
      });
      fake.actions.review(run.id, ENV, "approved", "approver");
      expect(await gate(adopter)).to.match(
        /@refs\/tags\/v1 \(not pinned: set github\.workflowPin\)$/,
      );
      expect(
        await gate(adopter, "activate", {
          workflowPin: { repository: "tool-owner/ses-dkim-rotation", ref: "refs/tags/v1" },
        }),
      ).to.match(/@refs\/tags\/v1 \(pinned\)$/);
    });
  });

  describe("doctor fails unless the environment admits exactly the default branch", () => {
    async function branches(patterns: string[] | null): Promise<string> {
      fake.actions.setEnvironment(ENV, { reviewers: [REVIEWER], branchPatterns: patterns });
      const env = (
        await octokit.rest.repos.getEnvironment({
          owner: fake.owner,
          repo: fake.repo,
          environment_name: ENV,
        })
      ).data;
      const [check, status, detail, fix] = await deploymentBranchCheck(
        octokit,
        fake.owner,
        fake.repo,
        ENV,
        env.deployment_branch_policy,
      );
      return renderDoctor([{ check, status, detail, ...(fix ? { fix } : {}) }]);
    }
    const FIX = `— fix: in Settings → Environments → dkim-production → Deployment branches and tags choose "Selected branches and tags" with the one branch rule "main" (or github.manageRepository: true)`;

    it("no deployment branch policy", async () => {
      expect(await branches(null)).to.equal(
        `fail github environment dkim-production branches: any branch may deploy (no deployment branch policy) ${FIX}`,
      );
    });

    it("a policy that admits every branch, or main and more", async () => {
      expect(await branches(["*"])).to.equal(
        `fail github environment dkim-production branches: admits branch *, not exactly branch main ${FIX}`,
      );
      expect(await branches(["main", "release/*"])).to.match(
        /^fail .*admits branch main, branch release\/\*, not exactly branch main/,
      );
    });

    it("protected branches only (every protected branch may deploy; every branch when none is protected)", async () => {
      const [, status, detail] = await deploymentBranchCheck(octokit, fake.owner, fake.repo, ENV, {
        protected_branches: true,
        custom_branch_policies: false,
      });
      expect([status, detail]).to.deep.equal([
        "fail",
        '"protected branches only" admits every protected branch, not only main',
      ]);
    });

    it("main only passes", async () => {
      expect(await branches(["main"])).to.equal(
        "ok   github environment dkim-production branches: only main may deploy",
      );
    });

    it("the subject template must be what the stack file expects", () => {
      const pinned = {
        github: { workflowPin: { repository: TOOL, ref: "refs/heads/main" } },
      } as unknown as ProjectConfig;
      const unpinned = {} as ProjectConfig;
      const custom = { use_default: false, include_claim_keys: [...PINNED_SUBJECT_CLAIM_KEYS] };
      expect(subjectTemplateProblem(pinned, "o", "r", { use_default: true })?.[0]).to.equal(
        "default subject template; the activator trusts the custom template (repo, context, job_workflow_ref)",
      );
      expect(subjectTemplateProblem(pinned, "o", "r", custom)).to.equal(undefined);
      expect(subjectTemplateProblem(unpinned, "o", "r", custom)?.[0]).to.equal(
        "custom subject template (repo, context, job_workflow_ref); the activator trusts the default template",
      );
      expect(subjectTemplateProblem(unpinned, "o", "r", { use_default: true })).to.equal(undefined);
    });
  });

  it("the pinned files are the reusable workflows that assume each role and run each gated command", () => {
    const dir = ".github/workflows";
    const files = readdirSync(dir).filter((f) => /^reusable-.*\.yml$/.test(f));
    const text = (f: string) => readFileSync(`${dir}/${f}`, "utf8");
    for (const role of ["planner", "activator"] as const)
      expect(
        files.filter((f) => text(f).includes(`role-to-assume: \${{ inputs.${role}-role-arn }}`)),
        role,
      ).to.have.members([...ROLE_WORKFLOW_FILES[role]]);
    for (const [command, file] of Object.entries(GATED_WORKFLOW_FILE))
      expect(
        files.filter((f) => new RegExp(`command: ${command}\\b`).test(text(f))),
        command,
      ).to.deep.equal([file]);
  });

  it("a workflowPin whose ref is not a full ref or a commit is refused in one line", () => {
    const parse = (ref: string) =>
      parseProjectConfig(
        {
          identities: [{ domain: "mail.example.jp", selectorPrefix: "mail" }],
          github: { owner: "o", repo: "r", workflowPin: { repository: "o/tool", ref } },
        },
        { file: "Pulumi.dev.yaml", project: "ses-dkim-rotation", defaultRegion: "ap-northeast-1" },
      );
    expect(() => parse("main")).to.throw(
      InputError,
      /^Pulumi\.dev\.yaml: field ses-dkim-rotation:github\.workflowPin\.ref: must be refs\/heads\/<branch>, refs\/tags\/<tag> or a 40-hex commit/,
    );
    expect(parse("refs/tags/v1").github?.workflowPin).to.deep.equal({
      repository: "o/tool",
      ref: "refs/tags/v1",
    });
  });

  describe("AWS refuses: the activator's trust pins job_workflow_ref (Pulumi mocks, IAM simulator)", function () {
    const created: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
    let pinnedTrust: PolicyDocument;
    let unpinnedTrust: PolicyDocument;
    let pinnedSubs: string[];
    let plannerSubs: string[];
    const ROLE = `arn:aws:iam::${ACCOUNT}:role/dkim-activator`;
    const PIN = { repository: "example-jp/ses-dkim-rotation", ref: "refs/heads/main" };

    before(async () => {
      // setMocks first: the components must never see a real engine.
      await pulumi.runtime.setMocks(
        {
          newResource(args) {
            created.push({ type: args.type, name: args.name, inputs: args.inputs });
            return { id: `${args.name}_id`, state: { ...args.inputs, arn: `arn:${args.name}` } };
          },
          call: (args) => args.inputs,
        },
        "ses-dkim-rotation",
        "mainpin",
        false,
      );
      const aws = await import("@pulumi/aws");
      const { GithubOidc } = await import("../infra/components/github-oidc");
      const { GithubRepository } = await import("../infra/components/github-repository");
      const provider = new aws.Provider("home", { region: "ap-northeast-1" });
      const common = {
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        environment: ENV,
        publisherEnvironment: "dkim-dns",
        existingProviderArn: PROVIDER,
        provider,
      };
      const pinned = new GithubOidc("pinned", { ...common, namePrefix: "p", workflowPin: PIN });
      const unpinned = new GithubOidc("unpinned", { ...common, namePrefix: "u" });
      new GithubRepository("repo", {
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        environment: ENV,
        reviewers: { users: [1], teams: [] },
        appId: 12345,
        publisherEnvironment: "dkim-dns",
        plannerRoleArn: "arn:planner",
        activatorRoleArn: "arn:activator",
        publisherRoleArn: "arn:publisher",
        region: "ap-northeast-1",
        pinWorkflows: true,
      });
      const valueOf = <T>(o: pulumi.Output<T>) =>
        new Promise<T>((resolve) => o.apply((v) => resolve(v)));
      pinnedTrust = JSON.parse(
        await valueOf(pinned.activatorRole.assumeRolePolicy),
      ) as PolicyDocument;
      unpinnedTrust = JSON.parse(
        await valueOf(unpinned.activatorRole.assumeRolePolicy),
      ) as PolicyDocument;
      pinnedSubs = await valueOf(pinned.subjects.activator);
      plannerSubs = await valueOf(pinned.subjects.planner);
    });

    it("the activator trusts exactly the two reusable workflows at the pinned ref, in GitHub's documented form", () => {
      const base = "repo:example-jp/ses-dkim-rotation:environment:dkim-production";
      const want = [
        `${base}:job_workflow_ref:example-jp/ses-dkim-rotation/.github/workflows/reusable-activate.yml@refs/heads/main`,
        `${base}:job_workflow_ref:example-jp/ses-dkim-rotation/.github/workflows/reusable-rollback.yml@refs/heads/main`,
      ];
      expect(pinnedSubs).to.deep.equal(want);
      // The template changes every job's sub: the planner trusts its workflows' jobs on main
      // (the plan, the hourly verify and the rollback's ungated validate job).
      expect(plannerSubs).to.deep.equal(
        ["reusable-plan.yml", "reusable-activate.yml", "reusable-rollback.yml"].map(
          (f) =>
            `repo:example-jp/ses-dkim-rotation:ref:refs/heads/main:job_workflow_ref:example-jp/ses-dkim-rotation/.github/workflows/${f}@refs/heads/main`,
        ),
      );
      expect(pinnedTrust).to.deep.equal(githubTrustPolicy(PROVIDER, want));
      // Unpinned, the one environment subject stays a plain string.
      expect(unpinnedTrust.Statement[0]!.Condition!.StringEquals).to.deep.include({
        "token.actions.githubusercontent.com:sub": base,
      });
      // Managed, the repository's template puts job_workflow_ref into every sub.
      const template = created.filter(
        (r) =>
          r.type ===
          "github:index/actionsRepositoryOidcSubjectClaimCustomizationTemplate:ActionsRepositoryOidcSubjectClaimCustomizationTemplate",
      );
      expect(template.map((t) => t.inputs)).to.deep.equal([
        {
          repository: "ses-dkim-rotation",
          useDefault: false,
          includeClaimKeys: ["repo", "context", "job_workflow_ref"],
        },
      ]);
    });

    it("STS refuses the token of another branch's copy of reusable-rollback.yml, as GitHub's fake mints it", async () => {
      fake.actions.setEnvironment(ENV, { reviewers: [REVIEWER] });
      fake.actions.subjectTemplate = {
        use_default: false,
        include_claim_keys: [...PINNED_SUBJECT_CLAIM_KEYS],
      };
      try {
        const main = fake.approvedJob(ENV, "Roll back", { workflow: "reusable-rollback.yml" });
        const evil = fake.approvedJob(ENV, "Roll back", {
          workflow: "reusable-rollback.yml",
          branch: "evil",
        });
        const subOf = async (job: { id: number }) =>
          claimsOf(await fetchIdToken(fake.actions.runnerEnv(job.id), "sts.amazonaws.com")).sub!;
        const mainSub = await subOf(main.job);
        const evilSub = await subOf(evil.job);
        expect(evilSub).to.equal(
          "repo:example-jp/ses-dkim-rotation:environment:dkim-production:job_workflow_ref:example-jp/ses-dkim-rotation/.github/workflows/reusable-rollback.yml@refs/heads/evil",
        );
        expect(await assume(pinnedTrust, ROLE, mainSub)).to.equal("Allowed");
        expect(await assume(pinnedTrust, ROLE, evilSub)).to.equal("ImplicitlyDenied");
        // A repository still on the default template: its tokens match no pinned sub.
        expect(
          await assume(
            pinnedTrust,
            ROLE,
            "repo:example-jp/ses-dkim-rotation:environment:dkim-production",
          ),
        ).to.equal("ImplicitlyDenied");
      } finally {
        fake.actions.subjectTemplate = { use_default: true };
      }
      // Unpinned, STS cannot tell the branch: only GitHub's branch policy refuses it.
      expect(
        await assume(
          unpinnedTrust,
          ROLE,
          "repo:example-jp/ses-dkim-rotation:environment:dkim-production",
        ),
      ).to.equal("Allowed");
    });
  });
});
