/**
 * Issue 24: the approval gate in pull-request mode, attacked by a repository
 * writer (docs/design.md#approval-by-pull-request).
 *
 * The human decision is a merged PR that adds the decision's approvals file
 * from the bot's branch. GitHub refuses first (the fake plays it: a
 * self-approval is a 422, a merge without the rules' approvals a 405, a
 * direct push to the default branch a 422, a push dismisses approvals); the
 * gate then reads back, before any key, that the rules held for this merge.
 * Each test ends on the exact refusal line the product prints.
 */
import { expect } from "chai";
import { createOctokit } from "../actions/dkim-rotation/src/adapters/github";
import { confirmApproval } from "../actions/dkim-rotation/src/gate";
import { renderApprovalFile } from "../actions/dkim-rotation/src/engine/approval-request";
import { countApprovals } from "../actions/dkim-rotation/src/engine/approval-count";
import {
  approvalBranch,
  approvalFilePath,
} from "../actions/dkim-rotation/src/engine/approval-files";
import { approvalModeChecks } from "../actions/dkim-rotation/src/approval-mode";
import type { ProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import { branchRuleChecks } from "../actions/dkim-rotation/src/repository-rules";
import { fetchIdToken, startGitHubFake, type GitHubFake } from "../scripts/github-fake";

const ENV = "dkim-production";
const DOMAIN = "mail.example.jp";
const SELECTOR = "mail-20270101";
const FILE = approvalFilePath(DOMAIN, SELECTOR, "activate");
const BRANCH = approvalBranch(DOMAIN, SELECTOR, "activate");
const CODEOWNERS = [
  "*                    @example-jp/mail-platform",
  "/approvals/          @alice @bob @carol",
  "/.github/CODEOWNERS  @alice @bob",
  "",
].join("\n");
const PREFIX = `${DOMAIN}: activate refused by the approval gate: `;

describe("attack: the pull-request approval gate (issue 24)", function () {
  this.timeout(60_000);
  let fake: GitHubFake;
  let app: ReturnType<typeof createOctokit>;

  const client = (token: string) =>
    createOctokit({
      token,
      baseUrl: fake.url,
      pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
    });
  const as = (login: string) => client(fake.personToken(login));

  beforeEach(async () => {
    fake = await startGitHubFake({
      files: { ".github/CODEOWNERS": CODEOWNERS, "README.md": "hello\n" },
    });
    app = client("t");
    fake.protectAsDocumented({ approval: "pull-request", requiredApprovals: 2 });
    fake.actions.setEnvironment(ENV, { branchPatterns: ["main"] });
  });
  afterEach(async () => fake?.close());

  const repo = () => ({ owner: fake.owner, repo: fake.repo });

  /** What the verify job does: the bot's branch with one file, and a PR from it. */
  async function openRequest(by = app, text = "version: 1\nkind: activate\n"): Promise<number> {
    const main = (await app.rest.git.getRef({ ...repo(), ref: "heads/main" })).data.object.sha;
    await app.rest.git.createRef({ ...repo(), ref: `refs/heads/${BRANCH}`, sha: main });
    await app.rest.repos.createOrUpdateFileContents({
      ...repo(),
      path: FILE,
      branch: BRANCH,
      message: `Approve activation of ${SELECTOR}`,
      content: Buffer.from(text).toString("base64"),
    });
    return (
      await by.rest.pulls.create({
        ...repo(),
        head: BRANCH,
        base: "main",
        title: `Activate ${SELECTOR} for ${DOMAIN}`,
      })
    ).data.number;
  }

  const approve = (pr: number, login: string) =>
    as(login).rest.pulls.createReview({ ...repo(), pull_number: pr, event: "APPROVE" });

  const mergeAs = async (pr: number, who: ReturnType<typeof createOctokit>) =>
    (await who.rest.pulls.merge({ ...repo(), pull_number: pr, merge_method: "squash" })).data.sha;

  /** Why GitHub refused a call (status and message), or "ok". */
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (e: { status: number; message: string }) => `${e.status} ${e.message}`,
    );

  /** The gated job the merge's push starts, and the gate inside it. */
  async function gate(
    sha: string,
    branch = "main",
    selector: string | null = SELECTOR,
    fingerprint?: string,
    /** The gate-token's client; null: none given. */
    gateOctokit: ReturnType<typeof createOctokit> | null = app,
  ) {
    const run = fake.actions.startRun(".github/workflows/dkim-activate.yml", {
      event: "push",
      headSha: sha,
      headBranch: branch,
    });
    const job = fake.actions.queueJob(run.id, {
      name: "Activate",
      environment: ENV,
      workflowRef: `${fake.owner}/${fake.repo}/.github/workflows/reusable-activate.yml@refs/heads/${branch}`,
    });
    try {
      return await confirmApproval({
        command: "activate",
        domain: DOMAIN,
        environment: ENV,
        ...repo(),
        runId: String(run.id),
        octokit: app,
        idToken: (aud) => fetchIdToken(fake.actions.runnerEnv(job.id), aud),
        pullRequest: {
          requiredApprovals: 2,
          octokit: gateOctokit ?? undefined,
          selector: selector ?? undefined,
          fingerprint,
        },
      });
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** A valid approvals file for SELECTOR naming the key `fingerprint`. */
  const approvalsFile = (fingerprint: string) =>
    renderApprovalFile({
      version: 1,
      kind: "activate",
      domain: DOMAIN,
      selector: SELECTOR,
      fingerprint,
      regions: ["ap-northeast-1"],
      signsNow: "ap-northeast-1: old-1",
      wayBack: "old-1",
      evidence: { checkedAt: "2027-01-01T00:00:00Z", nameservers: [], probe: "in the gated job" },
    });

  it("refuses: the merged approvals file names another key than the stored one the job activates", async () => {
    const approvedKey = `sha256:${"a".repeat(64)}`;
    const storedKey = `sha256:${"b".repeat(64)}`;
    const pr = await openRequest(app, approvalsFile(approvedKey));
    await approve(pr, "alice");
    await approve(pr, "bob");
    const merged = await mergeAs(pr, as("carol"));
    expect(await gate(merged, "main", SELECTOR, storedKey)).to.equal(
      `${PREFIX}${FILE} approves key sha256:aaaaaaaaaaaa…, not the stored key of ${SELECTOR} (sha256:bbbbbbbbbbbb…); revert ${merged.slice(0, 7)}; the verify job then asks again for the stored key`,
    );
    expect(await gate(merged, "main", SELECTOR, approvedKey)).to.match(/^approval gate: job in /);
  });

  it("passes: a request PR from the bot's branch approved by two code owners on its last commit", async () => {
    const pr = await openRequest();
    await approve(pr, "alice");
    await approve(pr, "bob");
    const merged = await mergeAs(pr, as("carol"));
    expect(await gate(merged)).to.match(
      new RegExp(
        `^approval gate: job in dkim-production; PR #${pr} from dkim-approval/mail\\.example\\.jp/mail-20270101\\.activate, merged as ${merged.slice(0, 7)}, approved on [0-9a-f]{7} by alice, bob; main requires 2 code-owner approvals of the last push, dismisses stale ones, and has no bypass actor; from example-jp/ses-dkim-rotation/\\.github/workflows/reusable-activate\\.yml@refs/heads/main$`,
      ),
    );
  });

  it("a PR approved only by its author: GitHub refuses the self-approval (422) and the merge (405); forced through, the gate counts no approval", async () => {
    const mallory = as("mallory");
    const pr = await openRequest(mallory);
    expect(await refusal(approve(pr, "mallory"))).to.match(
      /^422 Unprocessable Entity: "Can not approve your own pull request"/,
    );
    expect(await refusal(mergeAs(pr, mallory))).to.match(
      /^405 Repository rule violations found\s+At least 2 approving reviews are required/,
    );
    const merged = fake.merge(pr, "mallory"); // an admin's bypass
    expect(await gate(merged)).to.equal(
      `${PREFIX}PR #${pr} has 0 of 2 required approvals of its last commit ${fake.listPulls()[0]!.headSha!.slice(0, 7)} by code owners of ${FILE}; have 2 code owners of ${FILE} (@alice, @bob, @carol) approve a new request PR`,
    );
  });

  it("the author's or a bot's approval is never counted, even where GitHub would record it", () => {
    const head = "a".repeat(40);
    const tally = countApprovals(
      [
        { user: "mallory", userType: "User", state: "APPROVED", commitId: head },
        { user: "github-actions[bot]", userType: "Bot", state: "APPROVED", commitId: head },
        { user: "alice", userType: "User", state: "APPROVED", commitId: head },
      ],
      { author: "mallory", head },
      () => true,
    );
    expect(tally).to.deep.equal({
      counted: ["alice"],
      notCounted: ["mallory is its author", "github-actions[bot] is a bot"],
    });
  });

  it("approved before a later push: the rule dismisses the approvals; merged while the ruleset was off, the gate refuses the stale approvals", async () => {
    const pr = await openRequest();
    await approve(pr, "alice");
    await approve(pr, "bob");
    await app.rest.repos.createOrUpdateFileContents({
      ...repo(),
      path: FILE,
      branch: BRANCH,
      sha: (
        (await app.rest.repos.getContent({ ...repo(), path: FILE, ref: BRANCH })).data as {
          sha: string;
        }
      ).sha,
      message: "Refresh the evidence",
      content: Buffer.from("version: 1\nkind: activate\nnew: evidence\n").toString("base64"),
    });
    expect(fake.listReviews(pr).map((r) => r.state)).to.deep.equal(["DISMISSED", "DISMISSED"]);
    expect(await refusal(mergeAs(pr, as("carol")))).to.match(/^405 .*At least 2 approving/s);

    // A second PR: approvals, then a push while an admin has the ruleset disabled, then the merge.
    fake.closePull(pr);
    const pr2 = (
      await app.rest.pulls.create({ ...repo(), head: BRANCH, base: "main", title: "again" })
    ).data.number;
    await approve(pr2, "alice");
    await approve(pr2, "bob");
    const stale = fake.listReviews(pr2)[0]!.commitId;
    const ruleset = fake.setRulesetEnforcement(2, "disabled");
    fake.commitFiles({ [FILE]: "version: 1\nkind: activate\nswapped: true\n" }, "push", BRANCH);
    const merged = await mergeAs(pr2, as("carol"));
    fake.setRulesetEnforcement(ruleset, "active");
    const head = fake.listPulls()[1]!.headSha!;
    expect(await gate(merged)).to.equal(
      `${PREFIX}PR #${pr2} has 0 of 2 required approvals of its last commit ${head.slice(0, 7)} by code owners of ${FILE} (not counted: alice approved ${stale.slice(0, 7)}, not its last commit; bob approved ${stale.slice(0, 7)}, not its last commit); have 2 code owners of ${FILE} (@alice, @bob, @carol) approve a new request PR`,
    );
  });

  it("approved by someone who is not a code owner: GitHub merges (one code owner suffices there), the gate refuses", async () => {
    const pr = await openRequest();
    await approve(pr, "alice");
    await approve(pr, "dave");
    const merged = await mergeAs(pr, as("dave"));
    expect(await gate(merged)).to.equal(
      `${PREFIX}PR #${pr} has 1 of 2 required approvals of its last commit ${fake.listPulls()[0]!.headSha!.slice(0, 7)} by code owners of ${FILE} (not counted: dave is not a code owner of the file); have 2 code owners of ${FILE} (@alice, @bob, @carol) approve a new request PR`,
    );
  });

  it("merged while the ruleset has a bypass actor: the App merges unreviewed, the gate refuses", async () => {
    fake.setBypassActors(2, [
      { actorId: fake.appId, actorType: "Integration", bypassMode: "always" },
    ]);
    const pr = await openRequest();
    const merged = await mergeAs(pr, app);
    expect(await gate(merged)).to.equal(
      `${PREFIX}ruleset "Default branch: reviewed pull requests" (2) on main names bypass actors (Integration 1001), who can merge without the approvals; remove every bypass actor from it (Settings → Rules), then re-open the request`,
    );
  });

  it("the gated job reads the rules with GITHUB_TOKEN: GitHub hides the bypass actors from it, the gate refuses; the App's token with Administration write passes", async () => {
    const pr = await openRequest();
    await approve(pr, "alice");
    await approve(pr, "bob");
    const merged = await mergeAs(pr, as("carol"));
    const rulesetFix =
      "read it with a GitHub App token with Administration: write (GitHub shows bypass actors only to a token that may edit the ruleset; the gated job's gate-token)";
    // What the runner hands a job as github.token: github-actions[bot], never the App.
    expect(await gate(merged, "main", SELECTOR, undefined, client(fake.workflowToken()))).to.equal(
      `${PREFIX}cannot read the bypass actors of ruleset "Default branch: reviewed pull requests" (2) on main; ${rulesetFix}`,
    );
    // An App token narrowed to Administration read (the strict reading of GitHub's docs).
    expect(
      await gate(merged, "main", SELECTOR, undefined, client(fake.installationToken("read"))),
    ).to.equal(
      `${PREFIX}cannot read the bypass actors of ruleset "Default branch: reviewed pull requests" (2) on main; ${rulesetFix}`,
    );
    // No gate-token at all (the reusable workflow got no app-client-id).
    expect(await gate(merged, "main", SELECTOR, undefined, null)).to.equal(
      `${PREFIX}no gate-token to read the bypass actors of the default branch's rulesets (GitHub shows them only to a token that may edit the ruleset, never to GITHUB_TOKEN); set the reusable workflow's gate-app-client-id input and gate-app-private-key secret (an environment secret of the gated environment): its gated job then mints the gate App's token with Administration: write`,
    );
    // What the workflow mints for the gate: permission-administration: write.
    expect(
      await gate(merged, "main", SELECTOR, undefined, client(fake.installationToken("write"))),
    ).to.match(/^approval gate: job in dkim-production; PR #\d+ .* and has no bypass actor; from /);
  });

  describe("code owners named as a team: the gate reads memberships with the gate App's Members: read", function () {
    const GATE_APP = { clientId: "Iv23liGate", privateKey: "gate-key" };
    const TEAM_CODEOWNERS = [
      "/approvals/          @example-jp/dkim-approvers",
      "/.github/CODEOWNERS  @example-jp/dkim-approvers",
      "",
    ].join("\n");

    async function teamApprovedMerge(
      reading: "owner-scoped-only" | "kept",
      members: "read" | "none",
    ): Promise<string> {
      await fake.close();
      fake = await startGitHubFake({
        files: { ".github/CODEOWNERS": TEAM_CODEOWNERS, "README.md": "hello\n" },
        gateApp: { ...GATE_APP, administration: "write", members },
        orgPermissionsInRepositoryTokens: reading,
      });
      app = client("t");
      fake.protectAsDocumented({ approval: "pull-request", requiredApprovals: 2 });
      fake.actions.setEnvironment(ENV, { branchPatterns: ["main"] });
      fake.setTeam("dkim-approvers", ["alice", "bob"]);
      const pr = await openRequest();
      await approve(pr, "alice");
      await approve(pr, "bob");
      return mergeAs(pr, as("carol"));
    }
    /** What actions/create-github-app-token hands the gated job. */
    const gateToken = (members: "read" | undefined, scope: "repository" | "owner") =>
      client(fake.mintAppToken(GATE_APP.clientId, GATE_APP.privateKey, "write", members, scope));
    const passes =
      /^approval gate: job in dkim-production; PR #\d+ .* approved on [0-9a-f]{7} by alice, bob; /;
    const membersRefusal = (login: string) =>
      `${PREFIX}cannot read whether ${login} is a member of @example-jp/dkim-approvers, a code owner of ${FILE} (403); give the gate App the Members: read organization permission; the gated job mints its token with permission-members: read (docs/design.md#gate-token)`;

    it("passes with the token the gated jobs mint (owner-scoped, permission-members: read), under both readings of a repository-limited token", async () => {
      for (const reading of ["owner-scoped-only", "kept"] as const) {
        const merged = await teamApprovedMerge(reading, "read");
        expect(
          await gate(merged, "main", SELECTOR, undefined, gateToken("read", "owner")),
        ).to.match(passes);
      }
    });

    it("refuses, never guessing 'not a member', when the token cannot read memberships", async () => {
      // The token asks only for Administration (as before this fix): no Members.
      let merged = await teamApprovedMerge("kept", "read");
      expect(
        await gate(merged, "main", SELECTOR, undefined, gateToken(undefined, "owner")),
      ).to.equal(membersRefusal("alice"));
      // Limited to the repository, under the stricter reading: Members dropped.
      merged = await teamApprovedMerge("owner-scoped-only", "read");
      expect(
        await gate(merged, "main", SELECTOR, undefined, gateToken("read", "repository")),
      ).to.equal(membersRefusal("alice"));
      // The gate App installed without Members: GitHub refuses to mint the token.
      await teamApprovedMerge("kept", "none");
      expect(() => gateToken("read", "owner")).to.throw(/permissions requested are not granted/);
    });

    it("a reviewer outside the team is not counted (404 is 'no membership')", async () => {
      const merged = await teamApprovedMerge("kept", "read");
      fake.setTeam("dkim-approvers", ["alice"]);
      expect(await gate(merged, "main", SELECTOR, undefined, gateToken("read", "owner"))).to.match(
        /has 1 of 2 required approvals .* \(not counted: bob/,
      );
    });
  });

  it("an approvals file pushed straight to the default branch: GitHub refuses the push (422); pushed by an admin, the gate refuses", async () => {
    expect(
      await refusal(
        as("mallory").rest.repos.createOrUpdateFileContents({
          ...repo(),
          path: FILE,
          message: "approve",
          content: Buffer.from("version: 1\n").toString("base64"),
        }),
      ),
    ).to.match(
      /^422 Repository rule violations found\s+Changes must be made through a pull request/,
    );
    const sha = fake.commitFiles({ [FILE]: "version: 1\n" }, "approve", "main", "mallory");
    expect(await gate(sha)).to.equal(
      `${PREFIX}${FILE} was added by commit ${sha.slice(0, 7)}, which is not the merge of a pull request; revert ${sha.slice(0, 7)} and approve through the bot's request PR from ${BRANCH}`,
    );
  });

  it("the request PR's own commit pushed to the default branch, the PR left open: GitHub refuses the push (422); pushed by an admin, the gate refuses", async () => {
    const pr = await openRequest();
    const head = (await app.rest.pulls.get({ ...repo(), pull_number: pr })).data.head.sha;
    expect(
      await refusal(app.rest.git.updateRef({ ...repo(), ref: "heads/main", sha: head })),
    ).to.match(
      /^422 Repository rule violations found\s+Changes must be made through a pull request/,
    );
    fake.pushRef("main", head, "mallory");
    expect(await gate(head)).to.equal(
      `${PREFIX}${FILE} was added by commit ${head.slice(0, 7)}, which is not the merge of a pull request; revert ${head.slice(0, 7)} and approve through the bot's request PR from ${BRANCH}`,
    );
  });

  it("an approvals file added together with another file (an admin's push)", async () => {
    const sha = fake.commitFiles(
      { [FILE]: "version: 1\n", ".github/workflows/x.yml": "on: push\n" },
      "approve",
      "main",
      "mallory",
    );
    expect(await gate(sha)).to.equal(
      `${PREFIX}commit ${sha.slice(0, 7)}, the last to touch ${FILE}, also changes .github/workflows/x.yml; revert that commit; an approvals file is added only by merging the bot's request PR from ${BRANCH}`,
    );
  });

  it("an approvals file merged from the writer's own branch, not the bot's", async () => {
    const main = (await app.rest.git.getRef({ ...repo(), ref: "heads/main" })).data.object.sha;
    const mallory = as("mallory");
    await mallory.rest.git.createRef({ ...repo(), ref: "refs/heads/mallory/approve", sha: main });
    fake.commitFiles({ [FILE]: "version: 1\n" }, "approve", "mallory/approve", "mallory");
    const pr = (
      await mallory.rest.pulls.create({
        ...repo(),
        head: "mallory/approve",
        base: "main",
        title: "x",
      })
    ).data.number;
    await approve(pr, "alice");
    await approve(pr, "bob");
    const merged = await mergeAs(pr, mallory);
    expect(await gate(merged)).to.equal(
      `${PREFIX}PR #${pr} merged ${FILE} from example-jp/ses-dkim-rotation:mallory/approve, not from the bot's branch ${BRANCH}; revert it and approve through the bot's request PR from ${BRANCH}`,
    );
  });

  it("a gated job from another branch", async () => {
    fake.actions.setEnvironment(ENV, {}); // an environment admitting every branch
    const pr = await openRequest();
    await approve(pr, "alice");
    await approve(pr, "bob");
    const merged = await mergeAs(pr, as("carol"));
    expect(await gate(merged, "evil")).to.equal(
      `${PREFIX}this job runs from refs/heads/evil, not the default branch refs/heads/main; run the workflow from main, and limit environment dkim-production's deployment branches to main (doctor checks it)`,
    );
  });

  it("fewer approvals than required: GitHub refuses the merge (405); the rule lowered to one, the gate refuses the rule", async () => {
    const pr = await openRequest();
    await approve(pr, "alice");
    expect(await refusal(mergeAs(pr, as("carol")))).to.match(
      /^405 Repository rule violations found\s+At least 2 approving reviews are required/,
    );
    fake.setPullRequestRule(2, { required_approving_review_count: 1 });
    const merged = await mergeAs(pr, as("carol"));
    expect(await gate(merged)).to.equal(
      `${PREFIX}main's active rules do not require 2 approvals (they require 1); set them on main's ruleset (github.manageRepository: true does it; doctor checks it)`,
    );
    // The rule restored after the merge: the PR itself is counted short.
    fake.setPullRequestRule(2, { required_approving_review_count: 2 });
    expect(await gate(merged)).to.equal(
      `${PREFIX}PR #${pr} has 1 of 2 required approvals of its last commit ${fake.listPulls()[0]!.headSha!.slice(0, 7)} by code owners of ${FILE}; have 2 code owners of ${FILE} (@alice, @bob, @carol) approve a new request PR`,
    );
  });

  it("rules that let an approval survive a push, or skip code owners", async () => {
    const pr = await openRequest();
    await approve(pr, "alice");
    await approve(pr, "bob");
    const merged = await mergeAs(pr, as("carol"));
    fake.setPullRequestRule(2, {
      dismiss_stale_reviews_on_push: false,
      require_last_push_approval: false,
      require_code_owner_review: false,
    });
    expect(await gate(merged)).to.equal(
      `${PREFIX}main's active rules do not require code-owner review, dismissal of stale approvals on push, approval of the most recent push; set them on main's ruleset (github.manageRepository: true does it; doctor checks it)`,
    );
  });

  it("no selector, or no approvals file for it on the default branch", async () => {
    const main = (await app.rest.git.getRef({ ...repo(), ref: "heads/main" })).data.object.sha;
    expect(await gate(main, "main", null)).to.equal(
      `${PREFIX}pull-request mode needs the selector whose approvals file was merged; pass the selector input (the request's workflow passes it from the merged file)`,
    );
    expect(await gate(main)).to.equal(
      `${PREFIX}${FILE} is not on main; merge the approval request PR from ${BRANCH} (the verify job opens it)`,
    );
  });
});

describe("doctor: which approval mode can work, and pull-request mode's rules (issue 24)", function () {
  this.timeout(60_000);
  let fake: GitHubFake;
  afterEach(async () => fake?.close());

  async function doctor(
    opts: Parameters<typeof startGitHubFake>[0],
    approval: "environment" | "pull-request",
    setup: (f: GitHubFake) => void = () => undefined,
  ): Promise<string[]> {
    fake = await startGitHubFake(opts);
    setup(fake);
    const octokit = createOctokit({
      token: "t",
      baseUrl: fake.url,
      pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
    });
    const config = {
      github: { approval, requiredApprovals: 2 },
      identities: [{ domain: DOMAIN }],
    } as unknown as ProjectConfig;
    const lines: string[] = [];
    const add = (check: string, status: string, detail: string, fix?: string) =>
      lines.push(`${status} ${check}: ${detail}${fix ? ` (fix: ${fix})` : ""}`);
    await branchRuleChecks(octokit, fake.owner, fake.repo, DOMAIN, add, approval);
    await approvalModeChecks(octokit, fake.owner, fake.repo, config, add);
    return lines;
  }
  const files = { ".github/CODEOWNERS": CODEOWNERS };

  it("environment mode in a private repository on Team fails with the hint to use pull-request mode", async () => {
    const lines = await doctor({ plan: "team", files }, "environment", (f) =>
      f.protectAsDocumented(),
    );
    expect(lines.filter((l) => l.includes("approval mode"))).to.deep.equal([
      "fail github approval mode: private repository on the team plan: environment reviewers need GitHub Enterprise here, so nobody can approve a gated job (fix: set github.approval: pull-request in the stack file (a merged, reviewed request PR is the approval; docs/operations.md))",
    ]);
  });

  it("environment mode: ok in a public repository, a warning where the plan is not readable", async () => {
    expect(
      (await doctor({ visibility: "public", files }, "environment")).filter((l) =>
        l.includes("approval mode"),
      ),
    ).to.deep.equal([
      "ok github approval mode: environment (public repository (plan not readable); works here: environment, pull-request)",
    ]);
    await fake.close();
    expect(
      (await doctor({ files }, "environment")).filter((l) => l.includes("approval mode")),
    ).to.deep.equal([
      "warn github approval mode: private repository (plan not readable): environment reviewers work in a private or internal repository only on GitHub Enterprise (fix: without Enterprise, set github.approval: pull-request in the stack file)",
    ]);
  });

  it("pull-request mode in a private repository on Free fails: rulesets are not enforced there", async () => {
    const lines = await doctor({ plan: "free", files }, "pull-request");
    expect(lines.filter((l) => l.includes("approval mode"))).to.deep.equal([
      "fail github approval mode: private repository on the free plan: rulesets are not enforced in private repositories on Free, so a request PR's approvals bind nobody (fix: move to Pro or Team, or make the repository public)",
    ]);
  });

  it("pull-request mode on Team passes with the documented rules and CODEOWNERS", async () => {
    const lines = await doctor({ plan: "team", files }, "pull-request", (f) =>
      f.protectAsDocumented({ approval: "pull-request", requiredApprovals: 2 }),
    );
    expect(lines).to.deep.equal([
      `ok github rules dkim/**: creation, update, deletion restricted on dkim/${DOMAIN}/doctor-probe`,
      `ok github rules dkim-retire/**: creation, update, deletion restricted on dkim-retire/${DOMAIN}/doctor-probe`,
      `ok github rules dkim-approval/**: creation, update, deletion restricted on dkim-approval/${DOMAIN}/doctor-probe.activate`,
      "ok github rules default branch: main: approvals dismissed on push, last push approved, code owners review",
      "ok github approval mode: pull-request (private repository on the team plan; works here: pull-request)",
      "ok github rules approvals: main: 2 code-owner approvals of the last push, stale ones dismissed, no bypass actor",
      "ok github codeowners: approvals/ owned by @alice @bob @carol; .github/CODEOWNERS owned",
    ]);
  });

  it("pull-request mode fails on environment-mode rules, a bypass actor, and a CODEOWNERS that owns neither approvals/ nor itself", async () => {
    let lines = await doctor({ plan: "team", files }, "pull-request", (f) =>
      f.protectAsDocumented(),
    );
    expect(lines.filter((l) => l.startsWith("fail"))).to.deep.equal([
      `fail github rules dkim-approval/**: no active ruleset applies creation, update, deletion to dkim-approval/${DOMAIN}/doctor-probe.activate: anyone with push rights can add a commit to a record PR (fix: add a branch ruleset on refs/heads/dkim/**/* and refs/heads/dkim-retire/**/* and refs/heads/dkim-batch/**/* and refs/heads/dkim-approval/**/* with Restrict creations, Restrict updates and Restrict deletions, the DKIM GitHub App as the only bypass actor (docs/operations.md, One-time setup), or set github.manageRepository: true)`,
      "fail github rules approvals: main's active rules do not require 2 approvals (they require 1) (fix: set them on main's ruleset (github.manageRepository: true does it; doctor checks it))",
    ]);
    await fake.close();
    lines = await doctor(
      {
        plan: "team",
        files: {
          ".github/CODEOWNERS":
            "* @example-jp/mail-platform\n/approvals/ @alice @bob @carol\n/.github/CODEOWNERS\n",
        },
      },
      "pull-request",
      (f) => {
        f.protectAsDocumented({ approval: "pull-request" });
        f.setBypassActors(2, [{ actorId: 5, actorType: "RepositoryRole", bypassMode: "always" }]);
      },
    );
    expect(lines.filter((l) => l.startsWith("fail"))).to.deep.equal([
      'fail github rules approvals: ruleset "Default branch: reviewed pull requests" (2) on main names bypass actors (RepositoryRole 5), who can merge without the approvals (fix: remove every bypass actor from it (Settings → Rules), then re-open the request)',
      "fail github codeowners: .github/CODEOWNERS names no owner of itself: a writer's PR could make themselves approvers with nobody's review (fix: add /approvals/ <approvers> and /.github/CODEOWNERS <approvers or admins> (docs/infrastructure.md shows the lines))",
    ]);
    await fake.close();
    lines = await doctor({ plan: "team", files: { "README.md": "x\n" } }, "pull-request", (f) =>
      f.protectAsDocumented({ approval: "pull-request" }),
    );
    expect(lines.filter((l) => l.startsWith("fail"))).to.deep.equal([
      "fail github codeowners: no CODEOWNERS on main: nobody approves approvals/ (fix: add /approvals/ <approvers> and /.github/CODEOWNERS <approvers or admins> (docs/infrastructure.md shows the lines))",
    ]);
  });
});
