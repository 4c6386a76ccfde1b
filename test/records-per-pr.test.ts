/**
 * records-per-pr (GitHub issue #27 item 2; docs/design.md#bulk-onboarding):
 * `plan --apply` groups new records, up to N to a PR, each from a
 * `dkim-batch/<domain>/<count>-<digest>` branch whose name fixes its files
 * (docs/design.md#bot-branches). Against the GitHub fake through the real
 * adapter, the engine with the AWS emulator, and the required check as
 * reusable-records.yml runs it.
 */
import { expect } from "chai";
import { GitHubFake, startGitHubFake } from "../scripts/github-fake";
import {
  GitHubChangeRequests,
  batchBranch,
  createOctokit,
  gitBlobSha,
} from "../actions/dkim-rotation/src/adapters/github";
import {
  generateDkimKeyPair,
  publicKeyFingerprint,
} from "../actions/dkim-rotation/src/engine/keys";
import { recordPath, renderRecordFile } from "../actions/dkim-rotation/src/engine/record";
import type { RecordChange } from "../actions/dkim-rotation/src/engine/ports";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { githubSchema, parseProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import {
  markdownChangeText,
  renderRotationBatchPrBody,
} from "../actions/dkim-rotation/src/pr-body";
import { branchRuleChecks } from "../actions/dkim-rotation/src/repository-rules";
import { startEngineHarness, type EngineHarness } from "./helpers/engine";
import { prCheckRepo, type PrCheckRepo } from "./helpers/pr-check-repo";

const TEST_PACING = { retryAfterBaseMs: 5, writeIntervalMs: 0, notificationIntervalMs: 0 };

function run(fake: GitHubFake, warnings: string[] = []): GitHubChangeRequests {
  return new GitHubChangeRequests(
    createOctokit({ token: "app-installation-token", baseUrl: fake.url, pacing: TEST_PACING }),
    { owner: fake.owner, repo: fake.repo, onWarning: (m) => warnings.push(m) },
  );
}

const domainOf = (i: number) => `d${String(i).padStart(3, "0")}.example`;
const change = (i: number): RecordChange => ({
  domain: domainOf(i),
  selector: "s1",
  path: recordPath(domainOf(i), "s1"),
  content: `; record of ${domainOf(i)}\n`,
  title: `DKIM rotation: ${domainOf(i)} → s1`,
  body: `one-record body of ${domainOf(i)}\n`,
});
const text = (group: RecordChange[]) => ({
  title: `DKIM rotation: ${group.length} new records`,
  body: group.map((c) => c.path).join("\n"),
});
/** Files each open PR adds, by branch. */
function prFiles(fake: GitHubFake): { branch: string; files: string[] }[] {
  const main = new Set(fake.listFiles("main"));
  return fake
    .listPulls()
    .filter((p) => p.state === "open")
    .map((p) => ({ branch: p.head, files: fake.listFiles(p.head).filter((f) => !main.has(f)) }));
}
const writes = (fake: GitHubFake, from: number) =>
  fake.requests
    .slice(from)
    .filter((r) => r.method !== "GET")
    .map((r) => `${r.method} ${r.path.split("/").slice(4).join("/")}`);

describe("records-per-pr: grouped record PRs through the GitHub adapter", function () {
  this.timeout(60_000);
  let fake: GitHubFake;
  const all = Array.from({ length: 120 }, (_, i) => change(i));
  beforeEach(async () => {
    fake = await startGitHubFake({ files: { "README.md": "# records\n" } });
  });
  afterEach(async () => fake.close());

  it("120 records at 50 a PR: 3 PRs with 50/50/20 files from dkim-batch/ branches; a re-run opens nothing new", async () => {
    const first = await run(fake).proposeRecords(all, 50, text);
    const prs = prFiles(fake);
    expect(prs.map((p) => p.files.length)).to.deep.equal([50, 50, 20]);
    for (const p of prs)
      expect(p.branch).to.match(/^dkim-batch\/d\d{3}\.example\/(50|20)-[0-9a-f]{20}$/);
    expect(prs[0]!.files).to.deep.equal(all.slice(0, 50).map((c) => c.path));
    expect(prs[2]!.files).to.deep.equal(all.slice(100).map((c) => c.path));
    expect(prs[0]!.branch).to.equal(
      batchBranch(all.slice(0, 50).map((c) => ({ path: c.path, blob: gitBlobSha(c.content) }))),
    );
    const numbers = all.map((c) => (first.get(c.domain) as { number: number }).number);
    expect(numbers).to.deep.equal(all.map((_, i) => 1 + Math.floor(i / 50)));
    expect(fake.listPulls()[0]!.body).to.include(all[0]!.path);

    const before = fake.requests.length;
    const again = await run(fake).proposeRecords(all, 50, text);
    expect(writes(fake, before), "no writes on the re-run").to.deep.equal([]);
    expect(fake.listPulls()).to.have.length(3);
    expect(all.map((c) => again.get(c.domain))).to.deep.equal(
      all.map((c, i) => ({
        number: 1 + Math.floor(i / 50),
        url: (first.get(c.domain) as { url: string }).url,
        created: false,
        branch: prs[Math.floor(i / 50)]!.branch,
      })),
    );
    // records-per-pr back to 1: a record in an open batch PR is not proposed again.
    const single = await run(fake).proposeRecord(all[7]!);
    expect(single).to.include({ number: 1, created: false });
    expect(fake.listPulls()).to.have.length(3);
    expect(fake.branches().filter((b) => b.startsWith("dkim/"))).to.deep.equal([]);
  });

  it("the fake refuses a PR body over 65,536 characters, as GitHub does", async () => {
    const res = await run(fake).proposeRecords(all.slice(0, 2), 50, () => ({
      title: "t",
      body: "x".repeat(65_537),
    }));
    expect(String(res.get(all[0]!.domain))).to.include(
      "422 Validation Failed: body is too long (maximum is 65536 characters)",
    );
  });

  it("records-per-pr 1 keeps one dkim/<domain>/<selector> PR per record, as proposeRecord", async () => {
    await run(fake).proposeRecords(all.slice(0, 3), 1, text);
    expect(fake.listPulls().map((p) => `${p.head} ${p.title}`)).to.deep.equal(
      all.slice(0, 3).map((c) => `dkim/${c.domain}/s1 ${c.title}`),
    );
  });

  it("crash-safe: a run that made the branch but not its PR is finished by the next run, without rewriting the branch", async () => {
    fake.failNext({ method: "POST", path: /\/pulls$/, status: 422, message: "Validation Failed" });
    const first = await run(fake).proposeRecords(all, 50, text);
    expect(String(first.get(all[0]!.domain))).to.match(
      /^GitHubApiError: github: creating pull request for 50 records \(dkim-batch\//,
    );
    expect(prFiles(fake).map((p) => p.files.length)).to.deep.equal([50, 20]);
    const before = fake.requests.length;
    const second = await run(fake).proposeRecords(all, 50, text);
    expect(writes(fake, before)).to.deep.equal(["POST pulls", "POST issues/3/labels"]);
    expect(second.get(all[0]!.domain)).to.include({ number: 3, created: true, updated: false });
    expect(
      prFiles(fake)
        .map((p) => p.files.length)
        .sort(),
    ).to.deep.equal([20, 50, 50]);
  });

  it("attack: a writer adds a file to an open batch PR's branch (no ruleset): the next run says so and proposes nothing twice", async () => {
    await run(fake).proposeRecords(all.slice(0, 5), 50, text);
    const branch = fake.listPulls()[0]!.head;
    fake.commitFiles({ "dns/evil.example/x.zone": "; attacker\n" }, "add one", branch);
    const warnings: string[] = [];
    await run(fake, warnings).proposeRecords(all.slice(0, 5), 50, text);
    expect(fake.listPulls()).to.have.length(1);
    expect(warnings).to.deep.equal([
      `github: batch record PR branch ${branch} is not what its name says: it adds 6 record file(s) but its name says 5; its PR cannot pass the record files check (close it; the next plan run proposes its records again) (docs/design.md#bot-branches)`,
    ]);
  });
});

describe("records-per-pr: the required check on a batch record PR", function () {
  this.timeout(60_000);
  let repo: PrCheckRepo;
  const write = (rel: string, t: string) => repo.write(rel, t);
  const check = (branch: string) => repo.check(branch);
  const mergeCommit = (changes: () => void) => repo.mergeCommit(changes);
  const domains = ["a.example", "b.example", "c.example", "d.example"];
  const files = new Map<string, string>();
  const batch = (ds: string[]) =>
    batchBranch(ds.map((d) => ({ path: recordPath(d, "s1"), blob: gitBlobSha(files.get(d)!) })));
  const writeAll = (ds: string[]) => ds.forEach((d) => write(recordPath(d, "s1"), files.get(d)!));

  before(async () => {
    repo = prCheckRepo("dkim-batchcheck-");
    for (const d of domains) {
      const { publicKey } = await generateDkimKeyPair(2048);
      files.set(
        d,
        renderRecordFile({
          domain: d,
          selector: "s1",
          keyBits: 2048,
          fingerprint: publicKeyFingerprint(publicKey),
          createdAt: "2027-01-04T00:00:00.000Z",
          publishBy: "2027-01-18",
          publicKey,
          ttl: 3600,
        }),
      );
    }
    write(
      "Pulumi.cli.yaml",
      `config:\n  aws:region: ap-northeast-1\n  ses-dkim-rotation:identities:\n${domains.map((d) => `    - domain: ${d}\n      selectorPrefix: s\n`).join("")}`,
    );
    write("README.md", "# records\n");
    repo.git(["add", "-A"]);
    repo.git(["commit", "-qm", "main"]);
    repo.git(["tag", "base"]);
  });
  after(() => repo.close());

  it("passes the bot's batch, and refuses an extra file, an extra record or an edited record (a writer's push onto the branch)", async () => {
    const three = domains.slice(0, 3);
    const branch = batch(three);
    mergeCommit(() => writeAll(three));
    expect(await check(branch)).to.deep.equal({ code: 0, errors: [] });

    mergeCommit(() => {
      writeAll(three);
      write(".github/workflows/evil.yml", "on: push\n");
    });
    expect((await check(branch)).errors).to.deep.equal([
      `error .github/workflows/evil.yml:1: field (file): is changed by the batch record PR branch ${branch}, which may only add new dns/<domain>/<selector>.zone files (hint: record branches belong to the DKIM bot; the next plan run rebuilds this one, or move the change to a branch of its own)`,
    ]);

    // Another valid record: the check of each file passes it, the name does not.
    mergeCommit(() => writeAll(domains));
    const extra = await check(branch);
    expect(extra.code).to.equal(2);
    expect(extra.errors).to.deep.equal([
      `error dns/:1: field (files): the batch record PR branch ${branch}: it adds 4 record file(s) but its name says 3; added: ${domains.map((d) => recordPath(d, "s1")).join(", ")} (hint: record branches belong to the DKIM bot; the next plan run rebuilds this one, or move the change to a branch of its own)`,
    ]);

    // One record's key swapped for another valid one: same paths, other content.
    mergeCommit(() => {
      writeAll(three.slice(0, 2));
      write(recordPath(three[2]!, "s1"), files.get("d.example")!.replace(/d\.example/g, three[2]!));
    });
    const edited = await check(branch);
    expect(edited.code).to.equal(2);
    expect(edited.errors).to.have.length(1);
    expect(edited.errors[0]).to.include(
      "the added files or their contents are not the ones its name commits to",
    );
  });
});

describe("records-per-pr: plan --apply over 120 new identities", function () {
  this.timeout(180_000);
  let h: EngineHarness;
  let fake: GitHubFake;
  const domains = Array.from({ length: 120 }, (_, i) => domainOf(i));

  before(async function () {
    h = await startEngineHarness({
      identities: domains.map((domain) => ({ domain, selectorPrefix: "s" })),
      notifications: { dnsTeamEmails: ["dns-team@example.jp"] },
    });
    for (const d of domains) await h.createIdentity(d);
    fake = await startGitHubFake({ files: { "README.md": "# records\n" } });
    h.ctx.changes = run(fake);
    h.ctx.changeText = markdownChangeText;
  });
  after(async () => {
    await h?.close();
    await fake?.close();
  });

  it("github.recordsPerPr 50: 3 PRs with 50/50/20 files, one pr-opened notice per identity; a re-run opens and sends nothing", async () => {
    h.ctx.config = {
      ...h.config,
      github: githubSchema.parse({ owner: fake.owner, repo: fake.repo, recordsPerPr: 50 }),
    };
    const { outcomes } = await runPlan(h.ctx, { apply: true });
    expect(outcomes.filter((o) => o.error)).to.deep.equal([]);
    expect(prFiles(fake).map((p) => p.files.length)).to.deep.equal([50, 50, 20]);
    expect(outcomes[0]!.action).to.match(/^stored key s-\d+; record PR opened \(#1\)$/);
    expect(outcomes[119]!.pullRequest?.number).to.equal(3);
    const opened = () =>
      h.emulator
        .published()
        .filter((m) => m.messageAttributes.event?.StringValue === "pr-opened")
        .map((m) => m.messageAttributes.domain?.StringValue ?? m.subject);
    expect(opened()).to.have.length(120);
    expect(new Set(opened()).size).to.equal(120);
    const body = fake.listPulls()[0]!.body ?? "";
    expect(body).to.include(`dig +short TXT ${outcomes[0]!.selector}._domainkey.${domains[0]}`);
    expect(body.length).to.be.below(65_536);

    const before = fake.requests.length;
    const again = await runPlan(h.ctx, { apply: true });
    expect(writes(fake, before)).to.deep.equal([]);
    expect(again.outcomes[0]!.action).to.match(
      /^record PR for s-\d+ is open; waiting for DNS review$/,
    );
    expect(opened()).to.have.length(120);
  });
});

describe("records-per-pr: the setting", function () {
  it("github.recordsPerPr is a whole number from 1 to 100, refused in one line before any side effect; default 1", () => {
    const parse = (recordsPerPr?: number) =>
      parseProjectConfig(
        {
          identities: [{ domain: "a.example", selectorPrefix: "s" }],
          github: {
            owner: "o",
            repo: "r",
            ...(recordsPerPr === undefined ? {} : { recordsPerPr }),
          },
        },
        { file: "Pulumi.prod.yaml", project: "ses-dkim-rotation", defaultRegion: "ap-northeast-1" },
      );
    expect(parse().github?.recordsPerPr).to.equal(1);
    expect(parse(100).github?.recordsPerPr).to.equal(100);
    expect(() => parse(0)).to.throw(
      "Pulumi.prod.yaml: field ses-dkim-rotation:github.recordsPerPr: 0 is below the allowed range: it must be at least 1 (hint: use a value at least 1)",
    );
    expect(() => parse(101)).to.throw(
      "Pulumi.prod.yaml: field ses-dkim-rotation:github.recordsPerPr: 101 is above the allowed range: it must be at most 100",
    );
  });
});

describe("records-per-pr: the rules GitHub enforces on batch branches", function () {
  this.timeout(30_000);
  it("doctor checks dkim-batch/** when records-per-pr > 1, and the fake refuses a person's push there", async () => {
    const fake = await startGitHubFake({ files: { "README.md": "# records\n" } });
    try {
      const octokit = createOctokit({ token: "t", baseUrl: fake.url, pacing: TEST_PACING });
      const doctor = async (batches: boolean) => {
        const lines: string[] = [];
        await branchRuleChecks(
          octokit,
          fake.owner,
          fake.repo,
          "a.example",
          (check, status, detail) => lines.push(`${status} ${check}: ${detail}`),
          "environment",
          batches,
        );
        return lines.filter((l) => l.includes("dkim-batch"));
      };
      expect(await doctor(false)).to.deep.equal([]);
      expect(await doctor(true)).to.deep.equal([
        "fail github rules dkim-batch/**: no active ruleset applies creation, update, deletion to dkim-batch/a.example/doctor-probe: anyone with push rights can add a commit to a record PR",
      ]);
      fake.protectAsDocumented();
      expect(await doctor(true)).to.deep.equal([
        "ok github rules dkim-batch/**: creation, update, deletion restricted on dkim-batch/a.example/doctor-probe",
      ]);
      await run(fake).proposeRecords([change(1), change(2)], 50, text);
      const branch = fake.listPulls()[0]!.head;
      const person = createOctokit({
        token: fake.personToken("mallory"),
        baseUrl: fake.url,
        pacing: TEST_PACING,
      });
      const refused = await person.rest.repos
        .createOrUpdateFileContents({
          owner: fake.owner,
          repo: fake.repo,
          path: "dns/evil.example/x.zone",
          message: "add",
          content: Buffer.from("evil").toString("base64"),
          branch,
        })
        .then(
          () => "accepted",
          (e: { status?: number; message?: string }) =>
            `${e.status} ${String(e.message).split("\n")[0]}`,
        );
      expect(refused).to.equal("422 Repository rule violations found");
    } finally {
      await fake.close();
    }
  });
});

describe("records-per-pr: the batch PR body", function () {
  it("lists each record with its own dig lines, and stays under GitHub's 65,536 characters at 100 records", () => {
    const input = (i: number) =>
      ({
        domain: domainOf(i),
        selector: "s1",
        recordFileText: "",
        joinedValue: "",
        nameservers: Array.from(
          { length: 8 },
          (_, k) => `ns${k}.a-rather-long-dns-provider.example`,
        ),
        publishBy: new Date("2027-01-18T00:00:00Z"),
        previousSelector: "s0",
      }) as unknown as Parameters<typeof renderRotationBatchPrBody>[0][number];
    const few = renderRotationBatchPrBody([input(0), input(1)]);
    expect(few).to.include(
      "dig +short TXT s1._domainkey.d000.example @ns7.a-rather-long-dns-provider.example",
    );
    expect(few).to.include(
      "dig +short TXT s1._domainkey.d001.example @ns0.a-rather-long-dns-provider.example",
    );
    expect(few).to.not.include("did not fit");
    const many = renderRotationBatchPrBody(Array.from({ length: 100 }, (_, i) => input(i)));
    expect(many.length).to.be.below(65_536);
    expect(many).to.match(/_\d+ more record\(s\) did not fit GitHub's body limit/);
    expect(many).to.include("adds exactly the 100 files");
  });
});
