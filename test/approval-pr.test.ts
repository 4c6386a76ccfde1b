/**
 * github.approval: pull-request, the requesting side
 * (docs/design.md#approval-request-flow): the verify job opens one approval
 * request PR per decision, updates it in place when its evidence goes stale,
 * and on the merge's push names the decision from the pushed commit. Against
 * the GitHub fake, over HTTP, with a real Octokit.
 */
import { expect } from "chai";
import { parse } from "yaml";
import { GitHubFake, startGitHubFake } from "../scripts/github-fake";
import { createOctokit } from "../actions/dkim-rotation/src/adapters/github";
import { GitHubApprovalRequests } from "../actions/dkim-rotation/src/adapters/github-approvals";
import {
  approvedRetries,
  requestApprovals,
  targetsOf,
} from "../actions/dkim-rotation/src/approval-flow";
import {
  approvalBranch,
  approvalFilePath,
  approvalFileSchema,
  type ApprovalFile,
} from "../actions/dkim-rotation/src/engine/approval-files";
import {
  approvalTitle,
  renderApprovalFile,
  rollbackRequest,
} from "../actions/dkim-rotation/src/engine/approval-request";
import type { IdentitySnapshot } from "../actions/dkim-rotation/src/engine/snapshot";
import type { Lifecycle } from "../actions/dkim-rotation/src/engine/lifecycle";
import type { DnsVerification } from "../actions/dkim-rotation/src/engine/ports";
import { readInputs } from "../actions/dkim-rotation/src/inputs";

const DOMAIN = "mail.example.jp";
const NEW = "mail-20270420";
const OLD = "mail-20260420";
const CODEOWNERS = [
  "*                    @example-jp/mail-platform",
  "/approvals/          @example-jp/dkim-approvers",
  "/.github/CODEOWNERS  @example-jp/dkim-approvers",
  "",
].join("\n");
const PUBLIC_KEY = Buffer.from("an SPKI public key stands here").toString("base64");
const OLD_KEY = Buffer.from("the old SPKI public key").toString("base64");
const AT = new Date("2027-04-25T10:41:00Z");

function verification(serving: boolean[], at = AT): DnsVerification {
  return {
    domain: DOMAIN,
    selector: NEW,
    ok: serving.every(Boolean),
    checkedAt: at,
    servers: serving.map((ok, i) => ({
      server: `ns${i + 1}.example.jp (192.0.2.${i + 1}:53)`,
      status: ok ? "ok" : "missing",
      detail: ok ? "serves the key" : "NXDOMAIN",
    })),
  } as DnsVerification;
}

function lifecycle(): Lifecycle {
  return {
    identity: { domain: DOMAIN, regions: ["ap-northeast-1", "us-east-1"] },
    regions: ["ap-northeast-1", "us-east-1"].map((region) => ({
      region,
      signing: { kind: "byodkim", selector: OLD, source: "tokens" },
    })),
    candidate: { key: { selector: NEW, publicKey: PUBLIC_KEY }, phase: "ready" },
    rollback: { kind: "byodkim", selector: OLD },
    history: [{ selector: OLD, key: { selector: OLD, publicKey: OLD_KEY } }],
  } as unknown as Lifecycle;
}

/** What verify reads: the candidate and each nameserver's answer, and the planner's decision. */
function snapshot(
  serving: boolean[],
  decision: "activate" | "await-publication" | "retire" = "activate",
  at = AT,
): IdentitySnapshot {
  const v = verification(serving, at);
  return {
    lifecycle: lifecycle(),
    dns: { [NEW]: { ok: v.ok, summary: "", verification: v } },
    decision:
      decision === "retire"
        ? { kind: "retire", domain: DOMAIN, selector: OLD, retireStep: "delete-key" }
        : { kind: decision, domain: DOMAIN, selector: NEW },
  } as unknown as IdentitySnapshot;
}

/** One adapter is one run (it lists the open requests once). */
function requests(fake: GitHubFake): GitHubApprovalRequests {
  return new GitHubApprovalRequests(
    createOctokit({
      token: "test-token",
      baseUrl: fake.url,
      pacing: { retryAfterBaseMs: 5, writeIntervalMs: 0 },
    }),
    { owner: fake.owner, repo: fake.repo, codeowners: CODEOWNERS, requiredApprovals: 2 },
  );
}

const OPTS = { event: "schedule", now: AT, recoveryDays: 7 };
const ACTIVATE_PATH = approvalFilePath(DOMAIN, NEW, "activate");

describe("approval request PRs (github.approval: pull-request)", () => {
  let fake: GitHubFake;
  beforeEach(async () => {
    fake = await startGitHubFake({ files: { ".github/CODEOWNERS": CODEOWNERS, "README.md": "x" } });
  });
  afterEach(async () => fake.close());

  const open = () => fake.listPulls().filter((p) => p.state === "open");

  it("opens one activation request when a selector is ready: one file on the bot branch that validates, a body naming the approvers", async () => {
    const notes = await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    expect(notes).to.have.length(1);
    expect(notes[0]).to.match(
      /^mail\.example\.jp: activate mail-20270420: approval request #1 opened/,
    );
    const [pr] = open();
    expect(pr!.head).to.equal(approvalBranch(DOMAIN, NEW, "activate"));
    expect(pr!.title).to.equal(approvalTitle("activate", DOMAIN, NEW));
    // Exactly one file differs from main: the approvals file.
    const diff = fake
      .listFiles(pr!.head)
      .filter((p) => fake.readFile(p, pr!.head) !== fake.readFile(p));
    expect(diff).to.deep.equal([ACTIVATE_PATH]);
    const file = approvalFileSchema.parse(parse(fake.readFile(ACTIVATE_PATH, pr!.head)!));
    expect(file).to.include({ kind: "activate", domain: DOMAIN, selector: NEW });
    expect(file.fingerprint).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(file.regions).to.deep.equal(["ap-northeast-1", "us-east-1"]);
    expect(file.signsNow).to.equal(`ap-northeast-1: BYODKIM ${OLD}; us-east-1: BYODKIM ${OLD}`);
    expect(file.wayBack).to.contain(`rolls back to ${OLD}`);
    expect(file.evidence.nameservers.map((n) => n.serves)).to.deep.equal([true, true]);
    expect(pr!.body).to.contain("**Who can approve:** @example-jp/dkim-approvers. 2 approvals");
    expect(pr!.body).to.contain("| ns2.example.jp (192.0.2.2:53) | yes |");
    // GitHub asks the code owners itself when the PR opens.
    expect(pr!.teamReviewers).to.deep.equal(["dkim-approvers"]);
  });

  it("a selector not served everywhere opens no request", async () => {
    const notes = await requestApprovals(
      requests(fake),
      [snapshot([true, false], "await-publication")],
      OPTS,
    );
    expect(notes).to.deep.equal([]);
    expect(fake.listPulls()).to.deep.equal([]);
  });

  it("asks once: later runs with the same answers push nothing and open no second PR", async () => {
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    const head = fake.headOf(approvalBranch(DOMAIN, NEW, "activate"));
    const later = new Date(AT.getTime() + 3_600_000);
    for (const event of ["schedule", "push", "workflow_dispatch"]) {
      const notes = await requestApprovals(
        requests(fake),
        [snapshot([true, true], "activate", later)],
        { ...OPTS, event },
      );
      expect(notes[0]).to.match(/approval request #1 unchanged/);
    }
    expect(fake.listPulls()).to.have.length(1);
    expect(fake.headOf(approvalBranch(DOMAIN, NEW, "activate"))).to.equal(head);
  });

  it("updates the open request in place when its evidence goes stale (a new commit, the same PR)", async () => {
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    const branch = approvalBranch(DOMAIN, NEW, "activate");
    const head = fake.headOf(branch);
    const notes = await requestApprovals(
      requests(fake),
      [snapshot([true, false], "await-publication", new Date(AT.getTime() + 3_600_000))],
      OPTS,
    );
    expect(notes[0]).to.match(/approval request #1 updated/);
    expect(fake.listPulls()).to.have.length(1);
    expect(fake.headOf(branch)).to.not.equal(head);
    const file = approvalFileSchema.parse(parse(fake.readFile(ACTIVATE_PATH, branch)!));
    expect(file.evidence.nameservers.map((n) => n.serves)).to.deep.equal([true, false]);
    expect(open()[0]!.body).to.contain(
      "| ns2.example.jp (192.0.2.2:53) | **no**: missing: NXDOMAIN |",
    );
    // Served again: one more commit, which again needs fresh approvals.
    const stale = fake.headOf(branch);
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    expect(fake.headOf(branch)).to.not.equal(stale);
    expect(fake.listPulls()).to.have.length(1);
  });

  it("holds back another decision of the domain while a request is open, but never a rollback", async () => {
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    const notes = await requestApprovals(requests(fake), [snapshot([true, true], "retire")], OPTS);
    expect(notes.find((n) => n.includes("retire"))).to.equal(
      `${DOMAIN}: retire ${OLD}: request #1 (activate ${NEW}) is still open; not asking about retire ${OLD} until it is merged or closed`,
    );
    const rollback = rollbackRequest(
      lifecycle(),
      OLD,
      { ...verification([true, true]), selector: OLD },
      OLD_KEY,
      "bounces at example.net since the swap",
    );
    const r = await requests(fake).request(rollback, "workflow_dispatch");
    expect(r.action).to.equal("opened");
    const pr = open().find((p) => p.head === approvalBranch(DOMAIN, OLD, "rollback"))!;
    expect(pr.title).to.equal(`URGENT DKIM approval: roll ${DOMAIN} back to ${OLD}`);
    expect(pr.body).to.contain(
      "**This is an emergency rollback. Please review it now.** Reason given: bounces at example.net since the swap",
    );
    expect(pr.body).to.contain("@example-jp/dkim-approvers");
    // A second rollback of the domain waits for the first.
    const again = await requests(fake).request(
      { ...rollback, selector: "mail-x" },
      "workflow_dispatch",
    );
    expect(again).to.deep.include({ action: "held" });
  });

  it("opens a retirement request for an old key whose record has left main", async () => {
    const notes = await requestApprovals(requests(fake), [snapshot([false], "retire")], OPTS);
    expect(notes).to.have.length(1);
    expect(notes[0]).to.match(
      /^mail\.example\.jp: retire mail-20260420: approval request #1 opened/,
    );
    expect(open()[0]!.title).to.equal(`DKIM approval: retire ${OLD} of ${DOMAIN}`);
    const file = approvalFileSchema.parse(
      parse(
        fake.readFile(
          approvalFilePath(DOMAIN, OLD, "retire"),
          approvalBranch(DOMAIN, OLD, "retire"),
        )!,
      ),
    );
    expect(file.wayBack).to.contain("7-day recovery window");
  });

  it("a request closed without merging is not asked again by a schedule; a push or a manual run asks again", async () => {
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    fake.closePull(1);
    const scheduled = await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    expect(scheduled[0]).to.equal(
      `${DOMAIN}: activate ${NEW}: request #1 was closed without merging; asked again after a new merge, a new key, or a manual run of the workflow`,
    );
    expect(open()).to.have.length(0);
    const manual = await requestApprovals(requests(fake), [snapshot([true, true])], {
      ...OPTS,
      event: "workflow_dispatch",
    });
    expect(manual[0]).to.match(/approval request #2 opened/);
    // The reopened request's branch holds only its file again.
    const head = open()[0]!.head;
    expect(
      fake.listFiles(head).filter((p) => fake.readFile(p, head) !== fake.readFile(p)),
    ).to.deep.equal([ACTIVATE_PATH]);
  });

  it("the merge's push names the approved decision; a decision already on main is not asked again", async () => {
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    const sha = fake.merge(1);
    const added = await requests(fake).addedBy(sha);
    expect(added.map((f) => [f.kind, f.domain, f.selector])).to.deep.equal([
      ["activate", DOMAIN, NEW],
    ]);
    expect(targetsOf(added)).to.deep.equal({
      ready: [{ domain: DOMAIN, selector: NEW }],
      retire: [],
      rollback: [],
    });
    const notes = await requestApprovals(requests(fake), [snapshot([true, true])], {
      ...OPTS,
      event: "push",
    });
    expect(notes[0]).to.match(
      /approvals\/mail\.example\.jp\/mail-20270420\.activate\.yml is already on main: approved/,
    );
    expect(fake.listPulls()).to.have.length(1);
    // A later commit that changes the file approves nothing: only an added file is a decision.
    const edit = fake.commitFiles({ [ACTIVATE_PATH]: `${fake.readFile(ACTIVATE_PATH)}# edited\n` });
    expect(await requests(fake).addedBy(edit)).to.deep.equal([]);
  });

  it("a scheduled run offers again an approved decision still ready within 7 days of its merge (its push run's job failed); after that the approval has expired", async () => {
    const due = { ready: [{ domain: DOMAIN, selector: NEW }], retire: [] };
    // Not approved yet: nothing is offered, nothing is said.
    expect(await approvedRetries(requests(fake), due, new Date())).to.deep.equal({
      ready: [],
      retire: [],
      notes: [],
    });
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    fake.merge(1);
    const mergedAt = new Date();
    const soon = await approvedRetries(
      requests(fake),
      due,
      new Date(mergedAt.getTime() + 3_600_000),
    );
    expect(soon.ready).to.deep.equal([{ domain: DOMAIN, selector: NEW }]);
    expect(soon.notes[0]).to.match(
      /^mail\.example\.jp: activate mail-20270420: approved \(approvals\/mail\.example\.jp\/mail-20270420\.activate\.yml merged .*\) and not carried out yet: offered to the gated job again$/,
    );
    const late = await approvedRetries(
      requests(fake),
      due,
      new Date(mergedAt.getTime() + 8 * 86_400_000),
    );
    expect(late.ready).to.deep.equal([]);
    expect(late.notes[0]).to.match(
      /^mail\.example\.jp: activate mail-20270420: the approval merged .* expired after 7 days; to ask again, remove approvals\/mail\.example\.jp\/mail-20270420\.activate\.yml from the default branch by a reviewed PR, and the next verify opens a new request$/,
    );
    // Only what the planner calls ready now is offered: an activated key is not.
    expect(
      (await approvedRetries(requests(fake), { ready: [], retire: [] }, mergedAt)).ready,
    ).to.deep.equal([]);
  });

  it("an added approvals file that does not say what its path says is refused, not carried out", async () => {
    const file = approvalFileSchema.parse(
      parse(
        renderApprovalFile(
          rollbackRequest(
            lifecycle(),
            OLD,
            { ...verification([true]), selector: OLD },
            OLD_KEY,
            "r",
          ),
        ),
      ),
    ) as ApprovalFile;
    const sha = fake.commitFiles({
      [approvalFilePath(DOMAIN, "mail-other", "rollback")]: renderApprovalFile(file),
    });
    let error: Error | undefined;
    await requests(fake)
      .addedBy(sha)
      .catch((e: Error) => (error = e));
    expect(error?.message).to.match(
      /^github: reading the approvals file for approvals\/mail\.example\.jp\/mail-other\.rollback\.yml at commit [0-9a-f]{12}: 422 .* does not validate as an approvals file for rollback mail-other of mail\.example\.jp$/,
    );
  });
});

describe("the GitHub fake's pull request reviews (minimal: submit, list)", () => {
  let fake: GitHubFake;
  beforeEach(async () => {
    fake = await startGitHubFake({ files: { ".github/CODEOWNERS": CODEOWNERS } });
  });
  afterEach(async () => fake.close());

  const review = (token: string, n: number, body: Record<string, unknown>) =>
    fetch(`${fake.url}/repos/${fake.owner}/${fake.repo}/pulls/${n}/reviews`, {
      method: body.event ? "POST" : "GET",
      headers: { authorization: `token ${token}`, "content-type": "application/json" },
      ...(body.event ? { body: JSON.stringify(body) } : {}),
    });

  it("records each approval with the head commit it was given on, and refuses the author's own", async () => {
    await requestApprovals(requests(fake), [snapshot([true, true])], OPTS);
    const head = fake.headOf(approvalBranch(DOMAIN, NEW, "activate"))!;
    const own = await review("test-token", 1, { event: "APPROVE" });
    expect(own.status).to.equal(422);
    expect(JSON.stringify(await own.json())).to.contain("Can not approve your own pull request");
    const ok = await review(fake.personToken("approver-a"), 1, { event: "APPROVE" });
    expect(ok.status).to.equal(200);
    const listed = (await (await review("test-token", 1, {})).json()) as {
      user: { login: string };
      state: string;
      commit_id: string;
    }[];
    expect(listed.map((r) => [r.user.login, r.state, r.commit_id])).to.deep.equal([
      ["approver-a", "APPROVED", head],
    ]);
  });
});

describe("rollback-check inputs under github.approval: pull-request", () => {
  const inputs = (values: Record<string, string>, event?: string) =>
    readInputs(
      (name) => values[name] ?? "",
      () => {},
      event,
    );
  const errorOf = (values: Record<string, string>, event?: string) => {
    try {
      inputs(values, event);
    } catch (err) {
      return (err as Error).message;
    }
    return "";
  };

  it("on a push the pushed commit names the rollback: no domain or selector input may", () => {
    expect(inputs({ command: "rollback-check" }, "push")).to.include({ command: "rollback-check" });
    expect(errorOf({ command: "rollback-check", domain: DOMAIN }, "push")).to.equal(
      "input:domain: field domain: is not used by rollback-check on a push (hint: the pushed commit names the decision)",
    );
    // A dispatch still needs both, as in environment mode.
    expect(errorOf({ command: "rollback-check" }, "workflow_dispatch")).to.equal(
      "input:domain: field domain: is required for rollback-check",
    );
  });

  it("a reason is one plain line of at most 500 characters, for rollback-check only", () => {
    const base = { command: "rollback-check", domain: DOMAIN, selector: OLD };
    expect(inputs({ ...base, reason: "bounces since the swap" }).reason).to.equal(
      "bounces since the swap",
    );
    expect(errorOf({ ...base, reason: "two\u0007lines" })).to.equal(
      "input:reason: field reason: is not one plain line (hint: one line of at most 500 characters, e.g. bounces at example.net since the swap)",
    );
    expect(errorOf({ ...base, reason: "x".repeat(501) })).to.match(/is 501 characters/);
    expect(errorOf({ command: "activate", reason: "why" })).to.equal(
      "input:reason: field reason: is not used by activate (hint: only a rollback dispatch gives a reason)",
    );
  });
});
