/**
 * Attack: someone with push rights adds a commit to a bot branch
 * (`dkim/<domain>/<selector>` or `dkim-retire/<domain>/<selector>`), hoping
 * the PR still looks like the bot's one-file change (docs/design.md#bot-branches).
 *
 * End to end against the GitHub fake, through the real GitHubChangeRequests
 * adapter: the next plan run rebuilds the branch and says so; the required
 * check fails a record PR touching another path; doctor fails when the
 * rulesets are missing; the fake refuses a person's push to a protected bot
 * branch.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import type { Octokit } from "@octokit/rest";
import { GitHubFake, startGitHubFake } from "../scripts/github-fake";
import { prCheckRepo, type PrCheckRepo } from "./helpers/pr-check-repo";
import {
  GitHubChangeRequests,
  createOctokit,
  gitBlobSha,
  retirementBranch,
  rotationBranch,
} from "../actions/dkim-rotation/src/adapters/github";
import {
  generateDkimKeyPair,
  publicKeyFingerprint,
} from "../actions/dkim-rotation/src/engine/keys";
import { recordPath, renderRecordFile } from "../actions/dkim-rotation/src/engine/record";
import {
  BOT_BRANCH_PATTERNS,
  branchRuleChecks,
  DEFAULT_BRANCH_PULL_REQUEST,
} from "../actions/dkim-rotation/src/repository-rules";

const DOMAIN = "mail.example.jp";
const ACTIVE = "mail-20261122";
const OLD = "mail-20251120";
const NEW = "mail-20270522";
const path = (selector: string) => `dns/${DOMAIN}/${selector}.zone`;
const TEST_PACING = { retryAfterBaseMs: 5, writeIntervalMs: 0 };

function client(fake: GitHubFake, token = "app-installation-token"): Octokit {
  return createOctokit({ token, baseUrl: fake.url, pacing: TEST_PACING });
}

/** One adapter is one plan run. */
function run(fake: GitHubFake, warnings: string[] = []): GitHubChangeRequests {
  return new GitHubChangeRequests(client(fake), {
    owner: fake.owner,
    repo: fake.repo,
    onWarning: (m) => warnings.push(m),
  });
}

/** Paths a branch changes against main, as GitHub's compare shows them. */
function changed(fake: GitHubFake, branch: string): string[] {
  const main = new Map(fake.listFiles("main").map((p) => [p, fake.readFile(p, "main")]));
  const head = new Map(fake.listFiles(branch).map((p) => [p, fake.readFile(p, branch)]));
  return [...new Set([...main.keys(), ...head.keys()])]
    .filter((p) => main.get(p) !== head.get(p))
    .sort();
}

describe("attack: an extra commit on a bot branch", function () {
  this.timeout(30_000);
  let fake: GitHubFake;
  const record = "; the bot's record for mail-20270522\n";
  const rotation = {
    domain: DOMAIN,
    selector: NEW,
    path: path(NEW),
    content: record,
    title: `DKIM rotation: ${DOMAIN} → ${NEW}`,
    body: "The bot's PR body.\n",
  };
  const retirement = {
    domain: DOMAIN,
    selector: OLD,
    path: path(OLD),
    title: `DKIM retirement: ${DOMAIN} ← ${OLD}`,
    body: "The bot's retirement body.\n",
  };

  beforeEach(async () => {
    fake = await startGitHubFake({
      files: {
        "README.md": "# records\n",
        [path(OLD)]: "; the previous record\n",
        [path(ACTIVE)]: "; the ACTIVE record\n",
      },
    });
  });
  afterEach(async () => fake.close());

  it("dkim/: a second record pushed onto the branch is gone after the next plan run, and the PR says it was rebuilt", async () => {
    const first = await run(fake).proposeRecord(rotation);
    expect(first).to.include({ created: true, number: 1 });
    const branch = rotationBranch(DOMAIN, NEW);
    const evil = fake.commitFiles(
      { [path("attacker")]: '@ IN TXT "v=DKIM1; k=rsa; p=MIIBattacker"\n' },
      "add another selector",
      branch,
    );
    expect(changed(fake, branch)).to.deep.equal([path("attacker"), path(NEW)]);

    const warnings: string[] = [];
    const second = await run(fake, warnings).proposeRecord(rotation);
    expect(second).to.include({ created: false, number: 1, updated: true });
    expect(second.rebuilt?.paths).to.deep.equal([path("attacker")]);
    expect(second.rebuilt?.commits).to.include(evil.slice(0, 7));
    // The PR head holds the record file and nothing else, in one commit on main.
    expect(changed(fake, branch)).to.deep.equal([path(NEW)]);
    expect(fake.readFile(path(NEW), branch)).to.equal(record);
    const [pr] = fake.listPulls();
    expect(pr!.body).to.include("The bot's PR body.");
    expect(pr!.body).to.match(
      /This branch was rebuilt by the DKIM bot.*dns\/mail\.example\.jp\/attacker\.zone/,
    );
    const comments = fake.listComments(1);
    expect(comments).to.have.length(1);
    expect(comments[0]).to.include(path("attacker")).and.include(evil.slice(0, 7));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.equal(
      `github: ${DOMAIN} (${branch}) held more than its one record change; unexpected paths: \`${path("attacker")}\`; commits dropped: ${second.rebuilt!.commits.join(", ")}; rebuilt from main (docs/design.md#bot-branches)`,
    );

    // The next run finds the branch right: no write, no second comment, the note stays.
    const before = fake.requests.length;
    const third = await run(fake).proposeRecord(rotation);
    expect(third).to.include({ updated: false });
    expect(third.rebuilt).to.equal(undefined);
    expect(fake.listComments(1)).to.have.length(1);
    expect(fake.listPulls()[0]!.body).to.equal(pr!.body);
    expect(
      fake.requests.slice(before).map((r) => `${r.method} ${r.path.split("/").slice(4).join("/")}`),
    ).to.deep.equal(["GET pulls", `GET compare/main...${branch}`]);
  });

  it("dkim/: the record itself swapped for the attacker's content in a second commit is rebuilt too", async () => {
    await run(fake).proposeRecord(rotation);
    const branch = rotationBranch(DOMAIN, NEW);
    fake.commitFiles({ [path(NEW)]: "; attacker's key\n" }, "tweak", branch);
    const res = await run(fake).proposeRecord(rotation);
    expect(res.rebuilt?.paths).to.deep.equal([]);
    expect(res.rebuilt?.commits).to.have.length(2);
    expect(fake.readFile(path(NEW), branch)).to.equal(record);
  });

  it("dkim/: a force-push of ONE commit holding the record and another file is rebuilt (the commit count alone would pass it)", async () => {
    await run(fake).proposeRecord(rotation);
    const branch = rotationBranch(DOMAIN, NEW);
    const repo = { owner: fake.owner, repo: fake.repo };
    const main = (await client(fake).rest.git.getRef({ ...repo, ref: "heads/main" })).data.object
      .sha;
    await client(fake).rest.git.updateRef({
      ...repo,
      ref: `heads/${branch}`,
      sha: main,
      force: true,
    });
    fake.commitFiles(
      { [path(NEW)]: record, [path("attacker")]: "; second key\n" },
      "one commit",
      branch,
    );
    const res = await run(fake).proposeRecord(rotation);
    expect(res.rebuilt?.paths).to.deep.equal([path("attacker")]);
    expect(res.rebuilt?.commits).to.have.length(1);
    expect(changed(fake, branch)).to.deep.equal([path(NEW)]);
  });

  it("dkim-retire/: a commit deleting the ACTIVE record is dropped; the branch removes only the retired record", async () => {
    const first = await run(fake).proposeRemoval(retirement);
    expect(first).to.include({ created: true, number: 1 });
    const branch = retirementBranch(DOMAIN, OLD);
    const evil = fake.commitFiles({ [path(ACTIVE)]: null }, "tidy up", branch);
    expect(changed(fake, branch)).to.deep.equal([path(OLD), path(ACTIVE)]);

    const warnings: string[] = [];
    const second = await run(fake, warnings).proposeRemoval(retirement);
    expect(second.rebuilt?.paths).to.deep.equal([path(ACTIVE)]);
    expect(second.rebuilt?.commits).to.include(evil.slice(0, 7));
    expect(changed(fake, branch)).to.deep.equal([path(OLD)]);
    expect(fake.readFile(path(ACTIVE), branch)).to.equal("; the ACTIVE record\n");
    expect(fake.readFile(path(OLD), branch)).to.equal(undefined);
    expect(fake.listPulls()[0]!.body).to.match(/rebuilt by the DKIM bot.*mail-20261122\.zone/);
    expect(fake.listComments(1)[0]).to.include(path(ACTIVE));
    expect(warnings[0]).to.include(`unexpected paths: \`${path(ACTIVE)}\``);
  });

  it("dkim-retire/: a branch that restores the record instead of removing it names the record", async () => {
    await run(fake).proposeRemoval(retirement);
    const branch = retirementBranch(DOMAIN, OLD);
    fake.commitFiles({ [path(OLD)]: "; changed, not removed\n" }, "keep it", branch);
    const res = await run(fake).proposeRemoval(retirement);
    expect(res.rebuilt?.paths).to.deep.equal([path(OLD)]);
    expect(changed(fake, branch)).to.deep.equal([path(OLD)]);
    expect(fake.readFile(path(OLD), branch)).to.equal(undefined);
  });

  it("crash-safe: the run dies after reporting and before the reset; the next run rebuilds without a second comment", async () => {
    await run(fake).proposeRecord(rotation);
    const branch = rotationBranch(DOMAIN, NEW);
    fake.commitFiles({ ".github/workflows/x.yml": "on: push\n" }, "ci", branch);
    fake.failNext({
      method: "PATCH",
      path: /\/git\/refs\/heads\//,
      status: 502,
      message: "Bad Gateway",
      times: 4,
    });
    let err: unknown;
    await run(fake)
      .proposeRecord(rotation)
      .catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/resetting branch to the base .*502/);
    // Said before acted: the comment and the body note are already there.
    expect(fake.listComments(1)).to.have.length(1);
    expect(fake.listPulls()[0]!.body).to.include("rebuilt by the DKIM bot");
    expect(changed(fake, branch)).to.include(".github/workflows/x.yml");
    const res = await run(fake).proposeRecord(rotation);
    expect(res.rebuilt?.paths).to.deep.equal([".github/workflows/x.yml"]);
    expect(changed(fake, branch)).to.deep.equal([path(NEW)]);
    expect(fake.listComments(1)).to.have.length(1);
    expect(fake.listPulls()[0]!.body!.match(/rebuilt by the DKIM bot/g)).to.have.length(1);
  });

  it("a tampered branch with no PR yet (the run died before opening it) opens a clean PR whose body says so", async () => {
    const branch = rotationBranch(DOMAIN, NEW);
    fake.failNext({
      method: "POST",
      path: /\/pulls$/,
      status: 502,
      message: "Bad Gateway",
      times: 4,
    });
    await run(fake)
      .proposeRecord(rotation)
      .catch(() => undefined);
    expect(fake.listPulls()).to.have.length(0);
    fake.commitFiles({ "README.md": "# changed\n" }, "docs", branch);
    const res = await run(fake).proposeRecord(rotation);
    expect(res).to.include({ created: true, number: 1 });
    expect(res.rebuilt?.paths).to.deep.equal(["README.md"]);
    expect(changed(fake, branch)).to.deep.equal([path(NEW)]);
    expect(fake.listPulls()[0]!.body).to.include("rebuilt by the DKIM bot");
    expect(fake.readFile(path(NEW), branch)).to.equal(record);
    expect(gitBlobSha(record)).to.match(/^[0-9a-f]{40}$/);
  });
});

describe("attack: the required check (check-records) on a record PR touching another path", function () {
  this.timeout(60_000);
  let repo: PrCheckRepo;
  const write = (rel: string, text: string) => repo.write(rel, text);
  const check = (branch: string) => repo.check(branch);
  let old: string;
  let fresh: string;
  let freshText: string;

  before(async () => {
    repo = prCheckRepo("dkim-botbranch-");
    const [a, b] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
    const record = (selector: string, publicKey: string) =>
      renderRecordFile({
        domain: "cli.example",
        selector,
        keyBits: 2048,
        fingerprint: publicKeyFingerprint(publicKey),
        createdAt: "2027-01-04T00:00:00.000Z",
        publishBy: "2027-01-18",
        publicKey,
        ttl: 3600,
      });
    old = recordPath("cli.example", "cli-20270104");
    fresh = recordPath("cli.example", "cli-20270704");
    write(
      "Pulumi.cli.yaml",
      "config:\n  aws:region: ap-northeast-1\n  ses-dkim-rotation:identities:\n    - domain: cli.example\n      selectorPrefix: cli\n",
    );
    write(old, record("cli-20270104", a.publicKey));
    write("README.md", "# records\n");
    repo.git(["add", "-A"]);
    repo.git(["commit", "-qm", "main"]);
    repo.git(["tag", "base"]);
    freshText = record("cli-20270704", b.publicKey);
  });
  after(() => repo.close());
  const mergeCommit = (changes: () => void, base?: string) => repo.mergeCommit(changes, base);

  it("fails a dkim/ PR that also adds a workflow, one annotation line naming the extra path", async () => {
    const text = freshText;
    mergeCommit(() => {
      write(fresh, text);
      write(".github/workflows/evil.yml", "on: push\n");
    });
    const run = await check("dkim/cli.example/cli-20270704");
    expect(run.code).to.equal(2);
    expect(run.errors).to.deep.equal([
      `error .github/workflows/evil.yml:1: identity cli.example: field (file): is changed by the record PR branch dkim/cli.example/cli-20270704, which may change only ${fresh} (hint: record branches belong to the DKIM bot; the next plan run rebuilds this one, or move the change to a branch of its own)`,
    ]);
    // The same PR without the extra file passes: the check can tell them apart.
    mergeCommit(() => write(fresh, text));
    expect(await check("dkim/cli.example/cli-20270704")).to.deep.equal({ code: 0, errors: [] });
    // Any other branch may touch what it likes (review decides).
    mergeCommit(() => write(".github/workflows/evil.yml", "on: push\n"));
    expect((await check("feature/ci")).code).to.equal(0);
  });

  it("fails a dkim-retire/ PR that deletes the ACTIVE record besides its own, naming it", async () => {
    const text = freshText;
    // main holds both records, cli-20270704 the ACTIVE one; the PR retires cli-20270104.
    mergeCommit(() => write(fresh, text));
    repo.git(["tag", "-f", "base2"]);
    mergeCommit(() => {
      rmSync(join(repo.dir, old));
      rmSync(join(repo.dir, fresh));
    }, "base2");
    const run = await check("dkim-retire/cli.example/cli-20270104");
    expect(run.code).to.equal(2);
    expect(run.errors).to.have.length(1);
    expect(run.errors[0]).to.match(
      new RegExp(
        `^error ${fresh.replace(/\./g, "\\.")}:1: identity cli\\.example: field \\(file\\): is changed by the record PR branch dkim-retire/cli\\.example/cli-20270104, which may change only ${old.replace(/\./g, "\\.")} `,
      ),
    );
    mergeCommit(() => rmSync(join(repo.dir, old)), "base2");
    expect((await check("dkim-retire/cli.example/cli-20270104")).code).to.equal(0);
  });
});

describe("attack: the rules GitHub enforces on record branches", function () {
  this.timeout(30_000);
  let fake: GitHubFake;
  beforeEach(async () => {
    fake = await startGitHubFake({ files: { [path(ACTIVE)]: "; the ACTIVE record\n" } });
  });
  afterEach(async () => fake.close());

  const doctor = async () => {
    const lines: string[] = [];
    await branchRuleChecks(client(fake), fake.owner, fake.repo, DOMAIN, (check, status, detail) =>
      lines.push(`${status} ${check}: ${detail}`),
    );
    return lines;
  };

  it("doctor fails naming each missing rule, and passes once the documented rulesets are set", async () => {
    expect(await doctor()).to.deep.equal([
      `fail github rules dkim/**: no active ruleset applies creation, update, deletion to dkim/${DOMAIN}/doctor-probe: anyone with push rights can add a commit to a record PR`,
      `fail github rules dkim-retire/**: no active ruleset applies creation, update, deletion to dkim-retire/${DOMAIN}/doctor-probe: anyone with push rights can add a commit to a record PR`,
      "fail github rules default branch: main: the pull_request rule lacks pull_request: an approval would survive a commit pushed after it",
    ]);
    // A ruleset only in "evaluate" mode enforces nothing, and a pull_request rule
    // without last-push approval lets a late commit ride on an earlier approval.
    fake.addRuleset({
      name: "trial",
      enforcement: "evaluate",
      include: BOT_BRANCH_PATTERNS,
      rules: [{ type: "creation" }, { type: "update" }, { type: "deletion" }],
      bypassActors: [],
    });
    fake.addRuleset({
      name: "main",
      enforcement: "active",
      include: ["~DEFAULT_BRANCH"],
      rules: [
        {
          type: "pull_request",
          parameters: { ...DEFAULT_BRANCH_PULL_REQUEST, require_last_push_approval: false },
        },
      ],
      bypassActors: [],
    });
    const partial = await doctor();
    expect(partial[0]).to.match(
      /^fail github rules dkim\/\*\*: no active ruleset applies creation, update, deletion/,
    );
    expect(partial[2]).to.equal(
      "fail github rules default branch: main: the pull_request rule lacks require_last_push_approval: an approval would survive a commit pushed after it",
    );
    fake.protectAsDocumented();
    expect((await doctor()).every((l) => l.startsWith("ok "))).to.equal(true);
  });

  it("the fake refuses a person's push to a protected record branch and lets the App through", async () => {
    fake.protectAsDocumented();
    // The App opens the rotation PR as usual (it is the ruleset's bypass actor).
    const res = await run(fake).proposeRecord({
      domain: DOMAIN,
      selector: NEW,
      path: path(NEW),
      content: "; record\n",
      title: "t",
      body: "b",
    });
    expect(res.created).to.equal(true);
    const branch = rotationBranch(DOMAIN, NEW);
    const head = fake.branches().includes(branch) ? fake.listFiles(branch) : [];
    const person = client(fake, fake.personToken("mallory"));
    const repo = { owner: fake.owner, repo: fake.repo };
    const refused: string[] = [];
    const attempt = (p: Promise<unknown>) =>
      p.then(
        () => refused.push("accepted"),
        (e: { status?: number; message?: string }) =>
          refused.push(`${e.status} ${String(e.message).split("\n")[0]}`),
      );
    await attempt(
      person.rest.repos.createOrUpdateFileContents({
        ...repo,
        path: path("attacker"),
        message: "add",
        content: Buffer.from("evil").toString("base64"),
        branch,
      }),
    );
    const main = (await person.rest.git.getRef({ ...repo, ref: "heads/main" })).data.object.sha;
    await attempt(
      person.rest.git.updateRef({ ...repo, ref: `heads/${branch}`, sha: main, force: true }),
    );
    await attempt(person.rest.git.deleteRef({ ...repo, ref: `heads/${branch}` }));
    await attempt(
      person.rest.git.createRef({
        ...repo,
        ref: `refs/heads/dkim-retire/${DOMAIN}/${ACTIVE}`,
        sha: main,
      }),
    );
    expect(refused).to.deep.equal([
      "422 Repository rule violations found",
      "422 Repository rule violations found",
      "422 Repository rule violations found",
      "422 Repository rule violations found",
    ]);
    expect(fake.listFiles(branch)).to.deep.equal(head);
    // Other branches stay open to people with push rights.
    await attempt(person.rest.git.createRef({ ...repo, ref: "refs/heads/feature/x", sha: main }));
    expect(refused.at(-1)).to.equal("accepted");
  });
});
