/**
 * The GitHub fake answers as GitHub documents it: every successful response
 * the product's adapters receive from the fake, on every route they use, is
 * validated against GitHub's published OpenAPI description
 * (@octokit/openapi, api.github.com), with Ajv.
 */
import { createRequire } from "node:module";
import { expect } from "chai";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { createOctokit, GitHubChangeRequests } from "../actions/dkim-rotation/src/adapters/github";
import { GitHubRuns } from "../actions/dkim-rotation/src/adapters/github-runs";
import { confirmApproval } from "../actions/dkim-rotation/src/gate";
import { runDoctor } from "../actions/dkim-rotation/src/doctor";
import {
  approvalBranch,
  approvalFilePath,
} from "../actions/dkim-rotation/src/engine/approval-files";
import { fetchIdToken, startGitHubFake, type GitHubFake } from "../scripts/github-fake";

const require = createRequire(import.meta.url);
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

interface OpenApi {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
  components: Record<string, unknown>;
}

/**
 * Point `#/components/…` refs at the spec registered as `gh`, and give a
 * nullable enum or untyped nullable schema its `null` (OpenAPI 3.0 allows null
 * there; Ajv wants it listed).
 */
function rebase(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rebase);
  if (node && typeof node === "object") {
    const o = node as Record<string, unknown>;
    if (o.nullable === true && Array.isArray(o.enum) && !o.enum.includes(null))
      return rebase({ ...o, enum: [...o.enum, null] });
    // A nullable oneOf/allOf without a type (commit.author): Ajv needs the null spelled out.
    if (o.nullable === true && o.type === undefined) {
      const { nullable: _n, ...rest } = o;
      return { anyOf: [rebase(rest), { type: "null" }] };
    }
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [
        k,
        k === "$ref" && typeof v === "string" && v.startsWith("#/") ? `gh${v}` : rebase(v),
      ]),
    );
  }
  return node;
}

describe("the GitHub fake against GitHub's OpenAPI description", function () {
  this.timeout(120_000);
  let spec: OpenApi;
  let ajv: Ajv;
  let fake: GitHubFake;
  const templates: { method: string; path: string; re: RegExp }[] = [];

  before(async () => {
    spec = require("@octokit/openapi/generated/api.github.com.json") as OpenApi;
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(ajv);
    ajv.addSchema({ $id: "gh", components: rebase(spec.components) });
    for (const [path, ops] of Object.entries(spec.paths))
      for (const method of Object.keys(ops))
        templates.push({
          method: method.toUpperCase(),
          path,
          // `{path}`, `{ref}`, `{basehead}` and `{branch}` span segments (the fake
          // records decoded paths, and branch names hold slashes); others are one segment.
          re: new RegExp(
            `^${path.replace(/\{(?:path|ref|basehead|branch)\}/g, ".+").replace(/\{[^}]+\}/g, "[^/]+")}$`,
          ),
        });
    fake = await startGitHubFake({
      files: {
        ".github/CODEOWNERS": "/dns/ @example-jp/dns-team\n",
        "dns/a.example.jp/old-1.zone": "x\n",
      },
      gateApp: {
        clientId: "Iv23liGate",
        privateKey: "gate-key",
        administration: "write",
        members: "read",
      },
    });
  });
  after(async () => fake?.close());

  it("every response the adapters read validates against its documented schema", async () => {
    const octokit = createOctokit({
      token: "t",
      baseUrl: fake.url,
      pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
    });
    const repo = { owner: fake.owner, repo: fake.repo };
    // Pull requests: open, re-run, retire.
    const prs = new GitHubChangeRequests(octokit, { ...repo, reviewers: ["lead"] });
    const change = {
      domain: "a.example.jp",
      selector: "new-1",
      path: "dns/a.example.jp/new-1.zone",
      content: "record\n",
      title: "t",
      body: "b",
    };
    await prs.proposeRecord(change);
    await new GitHubChangeRequests(octokit, repo).proposeRecord({
      ...change,
      content: "record 2\n",
    });
    await new GitHubChangeRequests(octokit, repo).proposeRemoval({
      domain: "a.example.jp",
      selector: "old-1",
      path: "dns/a.example.jp/old-1.zone",
      title: "t",
      body: "b",
    });
    // A commit someone added to the bot's branch: compare, comment, body note, rebuild.
    fake.commitFiles({ "README.md": "changed\n" }, "extra", "dkim/a.example.jp/new-1");
    await new GitHubChangeRequests(octokit, repo).proposeRecord(change);
    // Rulesets: what doctor reads (rules/branches) and what a person's push meets.
    fake.protectAsDocumented();
    // Actions: a gated run, its approval, the gate and the hold-back reads, doctor.
    const { job } = fake.approvedJob("dkim-production");
    const run = fake.actions.startRun(".github/workflows/dkim-activate.yml", {
      event: "schedule",
      headSha: "0".repeat(40),
    });
    fake.actions.queueJob(run.id, {
      name: "Activate new-1 for a.example.jp",
      environment: "dkim-production",
      group: "g",
    });
    fake.actions.variables.set("AWS_PLANNER_ROLE_ARN", "arn");
    const runs = new GitHubRuns(octokit, repo);
    await runs.openGatedJobs();
    fake.actions.review(run.id, "dkim-production", "rejected", "approver");
    await runs.recentFailures();
    await octokit.rest.actions.getPendingDeploymentsForRun({ ...repo, run_id: run.id });
    await confirmApproval({
      command: "activate",
      domain: "a.example.jp",
      environment: "dkim-production",
      ...repo,
      runId: String(job.runId),
      octokit,
      idToken: (aud) => fetchIdToken(fake.actions.runnerEnv(job.id), aud),
    });
    await runDoctor({
      config: {
        file: "x",
        project: "p",
        defaultRegion: "ap-northeast-1",
        identities: [{ domain: "a.example.jp", regions: [] }] as never,
        kmsKeyId: "alias/x",
        secretPrefix: "dkim",
        deletionRecoveryDays: 30,
        metricsNamespace: "n",
        sesRequestsPerSecond: 1,
        alertEmails: [],
      },
      repoRoot: "/nonexistent",
      ses: { getIdentity: () => Promise.reject(new Error("unused")) } as never,
      keys: { list: () => Promise.resolve([]) } as never,
      dns: { targets: () => Promise.resolve([]) },
      github: { octokit, ...repo },
    }).catch(() => undefined);
    await octokit.rest.actions.getWorkflowRun({ ...repo, run_id: run.id });

    // Pull-request mode (issue 24): a request PR reviewed by code owners (one
    // through a team), merged, and the gate reading it all back.
    const person = (login: string) =>
      createOctokit({
        token: fake.personToken(login),
        baseUrl: fake.url,
        pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
      });
    fake.setTeam("approvers", ["frank"]);
    fake.commitFiles(
      {
        ".github/CODEOWNERS":
          "/dns/ @example-jp/dns-team\n/approvals/ @alice @example-jp/approvers\n",
      },
      "owners",
    );
    const file = approvalFilePath("a.example.jp", "new-1", "activate");
    const branch = approvalBranch("a.example.jp", "new-1", "activate");
    const tip = (await octokit.rest.git.getRef({ ...repo, ref: "heads/main" })).data.object.sha;
    await octokit.rest.git.createRef({ ...repo, ref: `refs/heads/${branch}`, sha: tip });
    await octokit.rest.repos.createOrUpdateFileContents({
      ...repo,
      path: file,
      branch,
      message: "request",
      content: Buffer.from("version: 1\n").toString("base64"),
    });
    const request = (
      await octokit.rest.pulls.create({ ...repo, head: branch, base: "main", title: "request" })
    ).data.number;
    for (const who of ["alice", "frank"])
      await person(who).rest.pulls.createReview({
        ...repo,
        pull_number: request,
        event: "APPROVE",
      });
    const merged = (await person("alice").rest.pulls.merge({ ...repo, pull_number: request })).data
      .sha;
    fake.actions.setEnvironment("dkim-pr", { branchPatterns: ["main"] });
    const prRun = fake.actions.startRun(".github/workflows/dkim-activate.yml", {
      event: "push",
      headSha: merged,
    });
    const prJob = fake.actions.queueJob(prRun.id, {
      name: "Activate",
      environment: "dkim-pr",
      workflowRef: `${fake.owner}/${fake.repo}/.github/workflows/reusable-activate.yml@refs/heads/main`,
    });
    expect(
      await confirmApproval({
        command: "activate",
        domain: "a.example.jp",
        environment: "dkim-pr",
        ...repo,
        runId: String(prRun.id),
        octokit,
        idToken: (aud) => fetchIdToken(fake.actions.runnerEnv(prJob.id), aud),
        pullRequest: {
          requiredApprovals: 1,
          // The gate App's token as the gated jobs mint it (docs/design.md#gate-token).
          octokit: createOctokit({
            token: fake.mintAppToken("Iv23liGate", "gate-key", "write", "read", "owner"),
            baseUrl: fake.url,
            pacing: { retryAfterBaseMs: 1, writeIntervalMs: 0 },
          }),
          selector: "new-1",
        },
      }),
    ).to.match(/approved on [0-9a-f]{7} by alice, frank/);

    const checked = new Map<string, number>();
    const failures: string[] = [];
    for (const r of fake.requests) {
      if (r.status >= 300 || r.path.startsWith("/_runner/")) continue;
      const t = templates.find((x) => x.method === r.method && x.re.test(r.path));
      expect(t, `${r.method} ${r.path} is not a documented route`).to.not.equal(undefined);
      const response = spec.paths[t!.path]![t!.method.toLowerCase()]!.responses[String(r.status)];
      expect(response, `${r.method} ${t!.path} documents no ${r.status}`).to.not.equal(undefined);
      const schema = response!.content?.["application/json"]?.schema;
      if (!schema) continue;
      const key = `${t!.method} ${t!.path} ${r.status}`;
      const validate = ajv.compile(rebase(schema) as object);
      if (!validate(r.response))
        failures.push(
          `${key}: ${(validate.errors ?? [])
            .slice(0, 5)
            .map((e) => `${e.instancePath} ${e.message}`)
            .join("; ")}`,
        );
      checked.set(key, (checked.get(key) ?? 0) + 1);
    }
    console.log(
      `      validated ${[...checked.values()].reduce((a, b) => a + b, 0)} responses on ${checked.size} routes`,
    );
    expect(failures).to.deep.equal([]);
    expect(checked.size).to.be.at.least(15);
    // The bot-branch routes (docs/design.md#bot-branches) are among them.
    expect([...checked.keys()]).to.include.members([
      "GET /repos/{owner}/{repo}/compare/{basehead} 200",
      "GET /repos/{owner}/{repo}/rules/branches/{branch} 200",
      "GET /repos/{owner}/{repo}/issues/{issue_number}/comments 200",
      "POST /repos/{owner}/{repo}/issues/{issue_number}/comments 201",
      // Pull-request mode (docs/design.md#approval-by-pull-request).
      "POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews 200",
      "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews 200",
      "PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge 200",
      "GET /repos/{owner}/{repo}/commits 200",
      "GET /repos/{owner}/{repo}/commits/{ref} 200",
      "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls 200",
      "GET /repos/{owner}/{repo}/rulesets/{ruleset_id} 200",
      "GET /orgs/{org}/teams/{team_slug}/memberships/{username} 200",
    ]);
  });
});
