/**
 * The GitHub fake refuses what GitHub refuses for approval by pull request
 * (docs/design.md#approval-by-pull-request, docs/design.md#codeowners):
 * CODEOWNERS matched as GitHub documents it, reviews and their dismissal on
 * push, and merges blocked until the rules pass.
 */
import { expect } from "chai";
import { createOctokit } from "../actions/dkim-rotation/src/adapters/github";
import { codeownersFor, ownersOf } from "../actions/dkim-rotation/src/engine/codeowners";
import { DEFAULT_BRANCH_PULL_REQUEST } from "../actions/dkim-rotation/src/engine/config";
import { startGitHubFake, type GitHubFake } from "../scripts/github-fake";

describe("CODEOWNERS as GitHub documents it (About code owners)", () => {
  // GitHub's example file, with the lines this project relies on.
  const EXAMPLE = [
    "# This is a comment.",
    "*       @global-owner1 @global-owner2",
    "*.js    @js-owner #This is an inline comment.",
    "*.go docs@example.com",
    "*.txt @octo-org/octocats",
    "/build/logs/ @doctocat",
    "docs/*  docs@example.com",
    "apps/ @octocat",
    "/docs/ @doctocat",
    "/scripts/ @doctocat @octocat",
    "**/logs @octocat",
    "/apps/ @octocat",
    "/apps/github",
    "/approvals/ @alice @bob",
  ].join("\n");

  it("the last matching pattern wins; a line without owners leaves the path unowned", () => {
    expect(ownersOf("README.md", EXAMPLE)).to.deep.equal(["@global-owner1", "@global-owner2"]);
    expect(ownersOf("src/deep/index.js", EXAMPLE)).to.deep.equal(["@js-owner"]);
    expect(ownersOf("apps/web/page.html", EXAMPLE)).to.deep.equal(["@octocat"]);
    expect(ownersOf("apps/github/page.html", EXAMPLE)).to.deep.equal([]);
    expect(codeownersFor("notes.txt", EXAMPLE).orgTeams).to.deep.equal([
      { org: "octo-org", slug: "octocats" },
    ]);
  });

  it("`docs/*` matches a file directly in docs, not one below; `/docs/` everything below", () => {
    const text = "* @all\ndocs/* docs@example.com\n";
    expect(ownersOf("docs/getting-started.md", text)).to.deep.equal(["docs@example.com"]);
    expect(ownersOf("docs/build-app/troubleshooting.md", text)).to.deep.equal(["@all"]);
    expect(ownersOf("docs/build-app/troubleshooting.md", EXAMPLE)).to.deep.equal(["@doctocat"]);
  });

  it("anchors: `/build/logs/` at the root only, `apps/` and `**/logs` at any depth", () => {
    const text = "/build/logs/ @root\n";
    expect(ownersOf("build/logs/a/b.log", text)).to.deep.equal(["@root"]);
    expect(ownersOf("x/build/logs/b.log", text)).to.deep.equal([]);
    expect(ownersOf("deeply/nested/logs/x.log", "**/logs @o\n")).to.deep.equal(["@o"]);
    expect(ownersOf("logs/x.log", "**/logs @o\n")).to.deep.equal(["@o"]);
    expect(ownersOf("a/apps/x", "apps/ @o\n")).to.deep.equal(["@o"]);
    // A directory pattern does not match a file of that name.
    expect(ownersOf("apps", "apps/ @o\n")).to.deep.equal([]);
    expect(ownersOf("a/b/c/d", "a/**/d @o\n")).to.deep.equal(["@o"]);
    expect(ownersOf("a/xd", "a/**/d @o\n")).to.deep.equal([]);
  });

  it("paths are case-sensitive, and the approvals folder belongs to its approvers", () => {
    expect(ownersOf("Approvals/x.yml", "/approvals/ @a\n")).to.deep.equal([]);
    expect(codeownersFor("approvals/mail.example.jp/s.activate.yml", EXAMPLE).users).to.deep.equal([
      "alice",
      "bob",
    ]);
  });

  it("gitignore syntax that does not work in CODEOWNERS is skipped: `!` negation, `[ ]` ranges, a `\\#` escape", () => {
    const text = "* @all\n!approvals/ @negated\napprovals/[ab].yml @range\n\\#file @escaped\n";
    expect(ownersOf("approvals/a.yml", text)).to.deep.equal(["@all"]);
    expect(ownersOf("#file", text)).to.deep.equal(["@all"]);
    // Skipped, not read as a literal name either.
    expect(ownersOf("!approvals/a.yml", text)).to.deep.equal(["@all"]);
    expect(ownersOf("approvals/[ab].yml", text)).to.deep.equal(["@all"]);
  });
});

describe("the fake's reviews, dismissal on push and merge rules", function () {
  this.timeout(60_000);
  let fake: GitHubFake;
  const client = (token: string) =>
    createOctokit({
      token,
      baseUrl: fake.url,
      pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
    });
  const as = (login: string) => client(fake.personToken(login));
  const repo = () => ({ owner: fake.owner, repo: fake.repo });
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (e: { status: number; message: string }) => `${e.status} ${e.message}`,
    );

  /** A ruleset on main with this pull_request rule, and bob's PR from `feature`. */
  async function setup(rule: Record<string, unknown>) {
    fake = await startGitHubFake({
      files: { ".github/CODEOWNERS": "/src/ @carol @org-approver\n", "src/a.txt": "a\n" },
    });
    fake.addRuleset({
      name: "main",
      enforcement: "active",
      include: ["~DEFAULT_BRANCH"],
      rules: [{ type: "pull_request", parameters: { ...DEFAULT_BRANCH_PULL_REQUEST, ...rule } }],
      bypassActors: [],
    });
    const main = (await client("t").rest.git.getRef({ ...repo(), ref: "heads/main" })).data.object
      .sha;
    await as("bob").rest.git.createRef({ ...repo(), ref: "refs/heads/feature", sha: main });
    fake.commitFiles({ "src/a.txt": "b\n" }, "change", "feature", "bob");
    return (
      await as("bob").rest.pulls.create({ ...repo(), head: "feature", base: "main", title: "t" })
    ).data.number;
  }
  afterEach(async () => fake?.close());

  const review = (pr: number, login: string, event: "APPROVE" | "REQUEST_CHANGES" | "COMMENT") =>
    as(login).rest.pulls.createReview({ ...repo(), pull_number: pr, event, body: "r" });
  const merge = (pr: number, login: string) =>
    refusal(as(login).rest.pulls.merge({ ...repo(), pull_number: pr }));

  it("records APPROVED, CHANGES_REQUESTED and COMMENTED with the head commit; the author cannot approve (422)", async () => {
    const pr = await setup({});
    await review(pr, "carol", "APPROVE");
    await review(pr, "dave", "REQUEST_CHANGES");
    await review(pr, "erin", "COMMENT");
    expect(await refusal(review(pr, "bob", "APPROVE"))).to.match(
      /^422 .*Can not approve your own pull request/,
    );
    const listed = (await as("x").rest.pulls.listReviews({ ...repo(), pull_number: pr })).data;
    const head = fake.listPulls()[0]!.head;
    const sha = (await client("t").rest.git.getRef({ ...repo(), ref: `heads/${head}` })).data.object
      .sha;
    expect(listed.map((r) => [r.user?.login, r.state, r.commit_id])).to.deep.equal([
      ["carol", "APPROVED", sha],
      ["dave", "CHANGES_REQUESTED", sha],
      ["erin", "COMMENTED", sha],
    ]);
  });

  it("a push dismisses approvals when the rule says dismiss_stale_reviews_on_push, and only then", async () => {
    let pr = await setup({});
    await review(pr, "carol", "APPROVE");
    await review(pr, "dave", "REQUEST_CHANGES");
    fake.commitFiles({ "src/a.txt": "c\n" }, "more", "feature", "bob");
    expect(fake.listReviews(pr).map((r) => r.state)).to.deep.equal([
      "DISMISSED",
      "CHANGES_REQUESTED",
    ]);
    await fake.close();
    pr = await setup({ dismiss_stale_reviews_on_push: false });
    await review(pr, "carol", "APPROVE");
    fake.commitFiles({ "src/a.txt": "c\n" }, "more", "feature", "bob");
    expect(fake.listReviews(pr).map((r) => r.state)).to.deep.equal(["APPROVED"]);
  });

  it("a merge is refused (405) until the approvals count, a code owner approved, and the last push is approved by another", async () => {
    const pr = await setup({ required_approving_review_count: 2 });
    expect(await merge(pr, "bob")).to.equal(
      "405 Repository rule violations found\n\nAt least 2 approving reviews are required by reviewers with write access.\nWaiting on code owner review for src/a.txt.\nThe most recent push must be approved by someone other than the last pusher.\n\n - https://docs.github.com/rest",
    );
    await review(pr, "dave", "APPROVE");
    await review(pr, "erin", "APPROVE");
    expect(await merge(pr, "bob")).to.match(
      /^405 .*\n\nWaiting on code owner review for src\/a\.txt\.\n\n/,
    );
    // A code owner through a team of the owner organisation.
    fake.setTeam("approvers", ["frank"]);
    fake.commitFiles(
      { ".github/CODEOWNERS": "/src/ @carol @example-jp/approvers\n" },
      "owners",
      "main",
    );
    // carol pushes to bob's branch: the approvals go, and hers cannot approve her own push.
    fake.commitFiles({ "src/a.txt": "d\n" }, "carol's push", "feature", "carol");
    await review(pr, "carol", "APPROVE");
    expect(await merge(pr, "bob")).to.match(
      /^405 .*The most recent push must be approved by someone other than the last pusher/s,
    );
    await review(pr, "frank", "APPROVE");
    expect(await merge(pr, "bob")).to.equal("ok");
    expect(fake.listPulls()[0]).to.include({ merged: true, mergedBy: "bob" });
  });

  it("changes requested block a merge until that reviewer approves", async () => {
    const pr = await setup({ require_last_push_approval: false });
    await review(pr, "carol", "APPROVE");
    await review(pr, "dave", "REQUEST_CHANGES");
    expect(await merge(pr, "bob")).to.match(/Changes must be addressed before merging/);
    await review(pr, "dave", "APPROVE");
    expect(await merge(pr, "bob")).to.equal("ok");
  });
});

describe("the fake's ruleset bypass actors: shown only to a token that may edit the ruleset (docs/design.md#gate-token)", function () {
  this.timeout(30_000);
  let fake: GitHubFake | undefined;
  afterEach(async () => fake?.close());

  /** What GET rulesets/2 (the default branch's) shows `token`: its bypass actors, or "hidden". */
  async function bypassSeenBy(f: GitHubFake, token: string): Promise<string> {
    const octokit = createOctokit({
      token,
      baseUrl: f.url,
      pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
    });
    const set = (
      await octokit.rest.repos.getRepoRuleset({ owner: f.owner, repo: f.repo, ruleset_id: 2 })
    ).data;
    return set.bypass_actors ? JSON.stringify(set.bypass_actors) : "hidden";
  }

  it("hidden from the workflow's GITHUB_TOKEN, a person and an App token with Administration read; shown to one with Administration write", async () => {
    fake = await startGitHubFake();
    fake.protectAsDocumented({ approval: "pull-request" });
    expect(await bypassSeenBy(fake, fake.workflowToken())).to.equal("hidden");
    expect(await bypassSeenBy(fake, fake.personToken("mallory"))).to.equal("hidden");
    expect(await bypassSeenBy(fake, fake.installationToken("read"))).to.equal("hidden");
    expect(await bypassSeenBy(fake, fake.installationToken("write"))).to.equal("[]");
    expect(await bypassSeenBy(fake, fake.installationToken())).to.equal("[]");
  });

  it("the lenient reading (rulesetReaders: administration-read) shows them to Administration read too, never to GITHUB_TOKEN; an installation without Administration mints no such token", async () => {
    fake = await startGitHubFake({ rulesetReaders: "administration-read" });
    fake.protectAsDocumented({ approval: "pull-request" });
    expect(await bypassSeenBy(fake, fake.installationToken("read"))).to.equal("[]");
    expect(await bypassSeenBy(fake, fake.workflowToken())).to.equal("hidden");
    await fake.close();
    fake = await startGitHubFake({ appAdministration: "none" });
    fake.protectAsDocumented({ approval: "pull-request" });
    expect(() => fake!.installationToken("read")).to.throw(
      /The permissions requested are not granted to this installation/,
    );
    expect(await bypassSeenBy(fake, fake.installationToken())).to.equal("hidden");
  });

  it("GITHUB_TOKEN is not the App: no bypass of the bot-branch ruleset", async () => {
    fake = await startGitHubFake();
    fake.protectAsDocumented();
    const as = (token: string) =>
      createOctokit({
        token,
        baseUrl: fake!.url,
        pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
      });
    const main = fake.headOf("main")!;
    const create = (token: string, ref: string) =>
      as(token)
        .rest.git.createRef({ owner: fake!.owner, repo: fake!.repo, ref, sha: main })
        .then(
          () => "ok",
          (e: { status: number }) => String(e.status),
        );
    expect(await create(fake.workflowToken(), "refs/heads/dkim/mail.example.jp/s1")).to.equal(
      "422",
    );
    expect(await create(fake.installationToken(), "refs/heads/dkim/mail.example.jp/s1")).to.equal(
      "ok",
    );
  });
});
