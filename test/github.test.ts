/**
 * The GitHub change-request adapter against the local GitHub fake, over real
 * HTTP with a real Octokit (baseUrl pointed at the fake).
 */
import { expect } from "chai";
import type { Octokit } from "@octokit/rest";
import { GitHubFake, startGitHubFake } from "../scripts/github-fake";
import {
  GitHubChangeRequests,
  codeownersFor,
  createOctokit,
  retirementBranch,
  retirementTitle,
  rotationBranch,
  rotationTitle,
} from "../actions/dkim-rotation/src/adapters/github";
import {
  renderRotationPrBody,
  renderRetirementPrBody,
  assertNoPrivateKeyMaterial,
} from "../actions/dkim-rotation/src/pr-body";
import { generateDkimKeyPair, type DkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import { RefusalError } from "../actions/dkim-rotation/src/engine/errors";
import {
  dkimRecordValue,
  recordPath,
  renderRecordFile,
} from "../actions/dkim-rotation/src/engine/record";

const CODEOWNERS = [
  "# Owners of the DKIM records and of the pipeline",
  "*                 @example-jp/mail-platform",
  "/dns/             @example-jp/dns-team @dns-lead",
  "/.github/         @example-jp/mail-platform",
  "",
].join("\n");

const DOMAIN = "mail.example.jp";

/** GitHub's pacing, scaled: 1 s of `retry-after` is 5 ms here; writes are not spaced. */
const TEST_PACING = { retryAfterBaseMs: 5, writeIntervalMs: 0 };

function client(fake: GitHubFake, onWait?: (m: string) => void): Octokit {
  return createOctokit({ token: "test-token", baseUrl: fake.url, pacing: TEST_PACING, onWait });
}

/** One adapter is one run: it lists the open PRs once. */
function adapter(
  fake: GitHubFake,
  warnings: string[] = [],
  extra: { reviewers?: string[]; teamReviewers?: string[] } = {},
): GitHubChangeRequests {
  return new GitHubChangeRequests(client(fake), {
    owner: fake.owner,
    repo: fake.repo,
    base: "main",
    codeowners: CODEOWNERS,
    onWarning: (m) => warnings.push(m),
    ...extra,
  });
}

function recordFor(pair: DkimKeyPair, selector: string, domain = DOMAIN) {
  const content = renderRecordFile({
    domain,
    selector,
    keyBits: pair.bits,
    fingerprint: pair.fingerprint,
    createdAt: "2026-11-22T00:00:00Z",
    publishBy: "2026-12-06",
    publicKey: pair.publicKey,
    ttl: 3600,
    nameservers: ["ns1.example.jp", "ns2.example.jp"],
  });
  return { path: recordPath(domain, selector), content };
}

function bodyFor(pair: DkimKeyPair, selector: string, content: string, domain = DOMAIN): string {
  return renderRotationPrBody({
    domain,
    selector,
    recordFileText: content,
    joinedValue: dkimRecordValue(pair.publicKey),
    nameservers: ["ns1.example.jp", "127.0.0.1:5300"],
    publishBy: new Date("2026-12-06T00:00:00Z"),
    timeline: {
      generatedAt: new Date("2026-11-22T00:00:00Z"),
      publishBy: new Date("2026-12-06T00:00:00Z"),
      earliestActivation: new Date("2026-12-06T00:00:00Z"),
      retireOldAfter: new Date("2026-12-13T00:00:00Z"),
      retiredBy: new Date("2026-12-27T00:00:00Z"),
    },
    previousSelector: "mail-20251120",
    keyBits: pair.bits,
    fingerprint: pair.fingerprint,
  });
}

describe("codeownersFor", () => {
  it("takes the last matching line and splits users from teams", () => {
    expect(codeownersFor("dns/mail.example.jp/mail-20261122.zone", CODEOWNERS)).to.deep.equal({
      users: ["dns-lead"],
      teams: ["dns-team"],
      orgTeams: [{ org: "example-jp", slug: "dns-team" }],
      other: [],
    });
    expect(codeownersFor(".github/workflows/ci.yml", CODEOWNERS).teams).to.deep.equal([
      "mail-platform",
    ]);
    expect(codeownersFor("README.md", CODEOWNERS).teams).to.deep.equal(["mail-platform"]);
  });

  it("anchors leading slashes and matches unanchored names at any depth", () => {
    const text =
      "/dns/ @o/root\nzone-owners/ @o/any\n*.zone @o/zones\ndocs/**/ops.md ops@example.jp\n";
    expect(codeownersFor("sub/dns/x.zone", "/dns/ @o/root").teams).to.deep.equal([]);
    expect(codeownersFor("a/b/zone-owners/f", text).teams).to.deep.equal(["any"]);
    expect(codeownersFor("dns/a/b.zone", text).teams).to.deep.equal(["zones"]);
    expect(codeownersFor("docs/x/y/ops.md", text).other).to.deep.equal(["ops@example.jp"]);
    expect(codeownersFor("nothing", "")).to.deep.equal({
      users: [],
      teams: [],
      orgTeams: [],
      other: [],
    });
  });

  it("reads the repository's own CODEOWNERS: /dns/ belongs to the DNS team named in Pulumi.prod.yaml", async () => {
    const { readFileSync } = await import("node:fs");
    const { loadConfig } = await import("../actions/dkim-rotation/src/load-config");
    const text = readFileSync(".github/CODEOWNERS", "utf8");
    const dnsTeam = loadConfig("Pulumi.prod.yaml").dnsTeam!;
    expect(dnsTeam).to.match(/^@[^/]+\/.+$/);
    const owners = codeownersFor("dns/mail.example.jp/mail-20261122.zone", text);
    expect(owners.teams).to.deep.equal([dnsTeam.split("/")[1]]);
    expect(codeownersFor(".github/workflows/dkim-activate.yml", text).teams).to.include(
      "mail-platform",
    );
  });
});

describe("GitHubChangeRequests against the GitHub fake", function () {
  this.timeout(20000);
  let fake: GitHubFake;
  let pairA: DkimKeyPair;
  let pairB: DkimKeyPair;

  before(async () => {
    // Keys are generated once: RSA-2048 generation is the slow part.
    [pairA, pairB] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
  });

  beforeEach(async () => {
    fake = await startGitHubFake({
      files: {
        "README.md": "# records\n",
        ".github/CODEOWNERS": CODEOWNERS,
        "dns/mail.example.jp/mail-20251120.zone": "; old record\n",
      },
    });
  });

  afterEach(async () => {
    await fake.close();
  });

  it("opens one PR in 6 requests whose branch holds only the record file, with title, labels and CODEOWNERS reviewers (requested by GitHub)", async () => {
    const selector = "mail-20261122";
    const rec = recordFor(pairA, selector);
    const body = bodyFor(pairA, selector, rec.content);
    const before = fake.requests.length;
    const res = await adapter(fake).proposeRecord({
      domain: DOMAIN,
      selector,
      path: rec.path,
      content: rec.content,
      title: rotationTitle(DOMAIN, selector),
      body,
    });
    expect(res.created).to.equal(true);
    expect(res.number).to.equal(1);
    expect(res.url).to.equal(`https://github.com/${fake.owner}/${fake.repo}/pull/1`);
    // Was 11 (7 content-creating): list, ref, base, commit, blob, tree, commit, ref, PR, labels, reviewers.
    const used = fake.requests
      .slice(before)
      .map((r) => `${r.method} ${r.path.replace(/^\/repos\/[^/]+\/[^/]+/, "")}`);
    expect(used).to.deep.equal([
      "GET /pulls",
      "GET /git/ref/heads/main",
      "POST /git/refs",
      `PUT /contents/${rec.path}`,
      "POST /pulls",
      "POST /issues/1/labels",
    ]);

    const [pr] = fake.listPulls();
    expect(pr!.head).to.equal(`dkim/${DOMAIN}/${selector}`);
    expect(pr!.head).to.equal(rotationBranch(DOMAIN, selector));
    expect(pr!.base).to.equal("main");
    expect(pr!.title).to.equal("DKIM rotation: mail.example.jp → mail-20261122");
    expect(pr!.body).to.equal(body);
    expect(pr!.labels).to.deep.equal(["dkim", "dns-change"]);
    expect(pr!.teamReviewers).to.deep.equal(["dns-team"]);
    expect(pr!.reviewers).to.deep.equal(["dns-lead"]);

    // The branch differs from main by exactly the record file.
    const main = fake.listFiles("main");
    const branch = fake.listFiles(pr!.head);
    expect(branch.filter((f) => !main.includes(f))).to.deep.equal([rec.path]);
    expect(main.filter((f) => !branch.includes(f))).to.deep.equal([]);
    for (const f of main) expect(fake.readFile(f, pr!.head)).to.equal(fake.readFile(f, "main"));
    expect(fake.readFile(rec.path, pr!.head)).to.equal(rec.content);
    expect(fake.readFile(rec.path, "main")).to.equal(undefined);

    // Merging applies only that file to main.
    fake.merge(1);
    expect(fake.readFile(rec.path, "main")).to.equal(rec.content);
    expect(fake.listFiles("main")).to.have.length(main.length + 1);
  });

  it("a re-run updates the open PR and never opens a second one", async () => {
    const selector = "mail-20261122";
    const rec = recordFor(pairA, selector);
    const gh = adapter(fake);
    const change = {
      domain: DOMAIN,
      selector,
      path: rec.path,
      content: rec.content,
      title: rotationTitle(DOMAIN, selector),
      body: bodyFor(pairA, selector, rec.content),
    };
    const first = await gh.proposeRecord(change);
    const writesAfterFirst = fake.requests.filter((r) => r.method !== "GET").length;

    // Same content: nothing on the branch is rewritten, no PR is created.
    const second = await gh.proposeRecord(change);
    expect(second).to.include({ number: first.number, created: false, updated: false });
    const writes = fake.requests.slice(0).filter((r) => r.method !== "GET");
    expect(writes.filter((r) => r.path.endsWith("/pulls") && r.method === "POST")).to.have.length(
      1,
    );
    expect(writes.filter((r) => r.path.includes("/git/refs"))).to.have.length(1);
    // Nothing is written again: labels are present, GitHub requested the owners once.
    expect(writes.slice(writesAfterFirst)).to.deep.equal([]);
    // A new run (a new adapter) of the daily plan costs two reads and no write.
    const beforeDaily = fake.requests.length;
    await adapter(fake).proposeRecord(change);
    expect(fake.requests.slice(beforeDaily).map((r) => r.method)).to.deep.equal(["GET", "GET"]);

    // main moved on; body and content changed: the same PR is updated, the branch is rebuilt on main.
    fake.commitFiles({ "README.md": "# records (v2)\n" });
    const changed = {
      ...change,
      content: rec.content.replace("3600 IN TXT", "1800 IN TXT"),
      body: change.body + "\nupdated\n",
    };
    const third = await gh.proposeRecord(changed);
    expect(third).to.include({ number: first.number, created: false, updated: true });
    const pulls = fake.listPulls();
    expect(pulls).to.have.length(1);
    expect(pulls[0]!.body).to.equal(changed.body);
    const head = pulls[0]!.head;
    expect(fake.readFile(rec.path, head)).to.equal(changed.content);
    expect(fake.readFile("README.md", head)).to.equal("# records (v2)\n");
    const onlyOnBranch = fake
      .listFiles(head)
      .filter((f) => fake.readFile(f, head) !== fake.readFile(f, "main"));
    expect(onlyOnBranch).to.deep.equal([rec.path]);

    expect(await gh.findOpen(DOMAIN)).to.deep.equal({
      number: first.number,
      selector,
      kind: "rotation",
    });
    expect(await gh.findOpen("news.example.jp")).to.equal(undefined);
  });

  it("refuses a second rotation PR for the same domain while one for another selector is open", async () => {
    const gh = adapter(fake);
    const a = recordFor(pairA, "mail-20261122");
    await gh.proposeRecord({
      domain: DOMAIN,
      selector: "mail-20261122",
      path: a.path,
      content: a.content,
      title: "t",
      body: "b",
    });
    const b = recordFor(pairB, "mail-20261123");
    let err: unknown;
    try {
      await gh.proposeRecord({
        domain: DOMAIN,
        selector: "mail-20261123",
        path: b.path,
        content: b.content,
        title: "t",
        body: "b",
      });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RefusalError);
    expect((err as Error).message).to.equal(
      "mail.example.jp: rotation PR #1 (dkim/mail.example.jp/mail-20261122) is still open; not opening one for mail-20261123 (merge or close #1 first)",
    );
    expect(fake.listPulls()).to.have.length(1);
    expect(fake.branches()).to.not.include(rotationBranch(DOMAIN, "mail-20261123"));

    // Another domain is independent; a domain whose name extends this one is not confused with it.
    const c = recordFor(pairB, "mail-20261122", "mail.example.jp.evil.test");
    const other = await gh.proposeRecord({
      domain: "mail.example.jp.evil.test",
      selector: "mail-20261122",
      path: c.path,
      content: c.content,
      title: "t",
      body: "b",
    });
    expect(other).to.include({ created: true, number: 2 });

    // Once #1 is merged, the next run's rotation may open.
    fake.merge(1);
    const next = await adapter(fake).proposeRecord({
      domain: DOMAIN,
      selector: "mail-20261123",
      path: b.path,
      content: b.content,
      title: "t",
      body: "b",
    });
    expect(next).to.include({ created: true, number: 3 });
  });

  it("retirement: a branch deleting the record, one PR per selector, idempotent", async () => {
    const gh = adapter(fake);
    const path = "dns/mail.example.jp/mail-20251120.zone";
    const change = {
      domain: DOMAIN,
      selector: "mail-20251120",
      path,
      title: retirementTitle(DOMAIN, "mail-20251120"),
      body: renderRetirementPrBody({
        domain: DOMAIN,
        selector: "mail-20251120",
        activeSelector: "mail-20261122",
        activatedAt: new Date("2026-12-07T03:00:00Z"),
        graceDays: 7,
        nameservers: ["ns1.example.jp"],
      }),
    };
    const first = await gh.proposeRemoval(change);
    expect(first).to.include({ created: true, number: 1 });
    const [pr] = fake.listPulls();
    expect(pr!.head).to.equal(retirementBranch(DOMAIN, "mail-20251120"));
    expect(pr!.title).to.equal("DKIM retirement: mail.example.jp ← mail-20251120");
    expect(fake.readFile(path, pr!.head)).to.equal(undefined);
    const main = fake.listFiles("main");
    expect(main.filter((f) => !fake.listFiles(pr!.head).includes(f))).to.deep.equal([path]);
    expect(fake.listFiles(pr!.head).filter((f) => !main.includes(f))).to.deep.equal([]);

    const again = await gh.proposeRemoval(change);
    expect(again).to.include({ created: false, number: 1, updated: false });
    expect(fake.listPulls()).to.have.length(1);
    expect(await gh.findOpen(DOMAIN)).to.deep.equal({
      number: 1,
      selector: "mail-20251120",
      kind: "retirement",
    });

    fake.merge(1);
    expect(fake.readFile(path)).to.equal(undefined);
    // The file is gone from main: the next run has nothing to propose any more.
    const after = await adapter(fake).proposeRemoval(change);
    expect(after.created).to.equal(false);
    expect(after.number).to.equal(undefined);
    expect(fake.listPulls()).to.have.length(1);
  });

  it("reports an API error in one line naming the operation and the input", async () => {
    fake.failNext({
      method: "POST",
      path: `/repos/${fake.owner}/${fake.repo}/pulls`,
      status: 422,
      message: "Validation Failed",
      errors: [
        {
          resource: "PullRequest",
          code: "custom",
          message:
            "A pull request already exists for example-jp:dkim/mail.example.jp/mail-20261122.",
        },
      ],
    });
    const rec = recordFor(pairA, "mail-20261122");
    let err: Error | undefined;
    try {
      await adapter(fake).proposeRecord({
        domain: DOMAIN,
        selector: "mail-20261122",
        path: rec.path,
        content: rec.content,
        title: "t",
        body: "b",
      });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.equal(
      "github: creating pull request for mail.example.jp (dkim/mail.example.jp/mail-20261122): 422 Validation Failed: A pull request already exists for example-jp:dkim/mail.example.jp/mail-20261122.",
    );
    expect(err?.message).to.not.include("\n");
    expect(err?.message).to.not.include("headers");

    // plugin-retry tries a 5xx three more times; the fourth failure is reported.
    fake.failNext({
      method: "GET",
      path: /\/pulls$/,
      status: 500,
      message: "Server Error",
      times: 4,
    });
    try {
      await adapter(fake).findOpen(DOMAIN);
      expect.fail("should throw");
    } catch (e) {
      expect((e as Error).message).to.equal(
        "github: listing open pull requests for mail.example.jp: 500 Server Error",
      );
    }

    // The branch survived the failed PR creation: a re-run converges to one PR.
    const res = await adapter(fake).proposeRecord({
      domain: DOMAIN,
      selector: "mail-20261122",
      path: rec.path,
      content: rec.content,
      title: "t",
      body: "b",
    });
    expect(res).to.include({ created: true, number: 1, updated: false });
  });

  it("a failed reviewer request is a warning, not a failure", async () => {
    fake.failNext({
      method: "POST",
      path: /requested_reviewers$/,
      status: 422,
      message: "Reviews may only be requested from collaborators.",
    });
    const warnings: string[] = [];
    const rec = recordFor(pairA, "mail-20261122");
    const res = await adapter(fake, warnings, {
      reviewers: ["mail-lead"],
      teamReviewers: ["mail-platform"],
    }).proposeRecord({
      domain: DOMAIN,
      selector: "mail-20261122",
      path: rec.path,
      content: rec.content,
      title: "t",
      body: "b",
    });
    expect(res.created).to.equal(true);
    expect(warnings).to.deep.equal([
      "github: requesting reviewers mail-lead, example-jp/mail-platform on #1 for mail.example.jp (dkim/mail.example.jp/mail-20261122): 422 Reviews may only be requested from collaborators.",
    ]);
  });

  it("labels are best effort: a transient 422 on labelling is a warning and the next run adds them", async () => {
    fake.failNext({ method: "POST", path: /\/labels$/, status: 422, message: "Validation Failed" });
    const warnings: string[] = [];
    const rec = recordFor(pairA, "mail-20261122");
    const change = {
      domain: DOMAIN,
      selector: "mail-20261122",
      path: rec.path,
      content: rec.content,
      title: "t",
      body: "b",
    };
    expect((await adapter(fake, warnings).proposeRecord(change)).created).to.equal(true);
    expect(warnings).to.deep.equal([
      "github: labelling pull request #1 (dkim, dns-change) for mail.example.jp (dkim/mail.example.jp/mail-20261122): 422 Validation Failed",
    ]);
    expect(fake.listPulls()[0]!.labels).to.deep.equal([]);
    await adapter(fake).proposeRecord(change);
    expect(fake.listPulls()[0]!.labels).to.deep.equal(["dkim", "dns-change"]);
  });

  it("a crash after the branch was created: 422 Reference already exists is the idempotent case", async () => {
    const rec = recordFor(pairA, "mail-20261122");
    const change = {
      domain: DOMAIN,
      selector: "mail-20261122",
      path: rec.path,
      content: rec.content,
      title: "t",
      body: "b",
    };
    // The first run dies after creating the branch and writing the file (no PR yet).
    fake.failNext({
      method: "POST",
      path: /\/pulls$/,
      status: 502,
      message: "Bad Gateway",
      times: 4,
    });
    let err: unknown;
    await adapter(fake)
      .proposeRecord(change)
      .catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/creating pull request .*502/);
    const res = await adapter(fake).proposeRecord(change);
    expect(res).to.include({ created: true, number: 1, updated: false });
    const refs = fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/git/refs"));
    expect(refs.map((r) => r.status)).to.deep.equal([201, 422]);
    expect(fake.readFile(rec.path, rotationBranch(DOMAIN, "mail-20261122"))).to.equal(rec.content);
  });

  for (const status of [403, 429] as const) {
    it(`recovers from a ${status} secondary rate limit, waiting retry-after`, async () => {
      const waits: string[] = [];
      const gh = new GitHubChangeRequests(
        client(fake, (m) => waits.push(m)),
        {
          owner: fake.owner,
          repo: fake.repo,
        },
      );
      fake.secondaryRateLimit("POST", /\/pulls$/, { status, retryAfter: 20 });
      const rec = recordFor(pairA, "mail-20261122");
      const res = await gh.proposeRecord({
        domain: DOMAIN,
        selector: "mail-20261122",
        path: rec.path,
        content: rec.content,
        title: "t",
        body: "b",
      });
      expect(res.created).to.equal(true);
      const posts = fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/pulls"));
      expect(posts.map((r) => r.status)).to.deep.equal([status, 201]);
      // retry-after 20 s at 5 ms per second: the retry came at least 100 ms later.
      expect(posts[1]!.at - posts[0]!.at).to.be.at.least(100);
      expect(waits).to.have.length(1);
      expect(waits[0]).to.match(/secondary rate limit .*retrying in 20 s/);
    });
  }

  it("lists open PRs across pages", async () => {
    const gh = adapter(fake);
    for (let i = 0; i < 3; i++) {
      const d = `d${i}.example.jp`;
      const rec = recordFor(pairA, "sel-20261122", d);
      await gh.proposeRecord({
        domain: d,
        selector: "sel-20261122",
        path: rec.path,
        content: rec.content,
        title: "t",
        body: "b",
      });
    }
    const paged = new GitHubChangeRequests(client(fake), { owner: fake.owner, repo: fake.repo });
    // per_page is 100 in the adapter; the fake's Link header is exercised with a direct paginate at 1 per page.
    const octokit = client(fake);
    const all = await octokit.paginate(octokit.rest.pulls.list, {
      owner: fake.owner,
      repo: fake.repo,
      per_page: 1,
    });
    expect(all.map((p) => p.number).sort()).to.deep.equal([1, 2, 3]);
    expect(await paged.findOpen("d0.example.jp")).to.deep.include({ number: 1, kind: "rotation" });
  });

  it("the PR body holds the public key and never the private key", async () => {
    const rec = recordFor(pairA, "mail-20261122");
    const body = bodyFor(pairA, "mail-20261122", rec.content);
    expect(body).to.include(pairA.publicKey);
    expect(body).to.not.include(pairA.sesPrivateKey);
    expect(body).to.not.include(pairA.sesPrivateKey.slice(0, 64));
    expect(body).to.not.include("PRIVATE KEY");
    await adapter(fake).proposeRecord({
      domain: DOMAIN,
      selector: "mail-20261122",
      path: rec.path,
      content: rec.content,
      title: "t",
      body,
    });
    const sent = JSON.stringify(fake.requests.map((r) => r.body));
    expect(sent).to.not.include(pairA.sesPrivateKey.slice(0, 64));
    expect(sent).to.not.include("PRIVATE KEY");

    // The guard itself: a body that carried the private key would be refused.
    expect(() => assertNoPrivateKeyMaterial(`x ${pairA.sesPrivateKey} y`)).to.throw(
      /private key material/,
    );
    const split = pairA.sesPrivateKey
      .match(/.{1,255}/g)!
      .map((s) => `"${s}"`)
      .join("\n    ");
    expect(() => assertNoPrivateKeyMaterial(`p=( ${split} )`)).to.throw(/private key material/);
    expect(() => assertNoPrivateKeyMaterial("-----BEGIN RSA PRIVATE KEY-----")).to.throw(/PEM/);
    expect(() => assertNoPrivateKeyMaterial(rec.content)).to.not.throw();
  });
});
