/**
 * `doctor` against a good and a broken estate: the AWS emulator (SES, KMS,
 * Secrets Manager), two loopback authoritative servers, the record files,
 * and the GitHub fake (subject template, environment, variables, workflows).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { parse, stringify } from "yaml";
import type { CheckResult } from "../actions/dkim-rotation/src/doctor";
import {
  doctorGitHubSkip,
  PIPELINE_WORKFLOWS,
  renderDoctor,
  runDoctor,
} from "../actions/dkim-rotation/src/doctor";
import { loadConfig } from "../actions/dkim-rotation/src/load-config";
import { startWorld, type World } from "./helpers/world";
import { action } from "./helpers/action";

// The SDK warns that Node 20 support ends; these tests only talk to the emulator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const DOMAIN = "mail.example.jp";

function byStatus(checks: CheckResult[], status: CheckResult["status"]): string[] {
  return checks.filter((c) => c.status === status).map((c) => c.check);
}

describe("doctor", function () {
  this.timeout(120_000);
  let world: World;

  before(async () => {
    world = await startWorld();
    await world.createEasyDkimIdentity(DOMAIN);
    const gh = world.github.actions;
    gh.setEnvironment("dkim-production", {
      reviewers: [{ type: "Team", id: 4242, login: "dns-team" }],
      preventSelfReview: true,
      branchPatterns: ["main"],
    });
    // The emulator's account (its GetCallerIdentity answers 123456789012).
    gh.variables.set("AWS_PLANNER_ROLE_ARN", "arn:aws:iam::123456789012:role/dkim-planner");
    gh.variables.set("AWS_ACTIVATOR_ROLE_ARN", "arn:aws:iam::123456789012:role/dkim-activator");
    gh.variables.set("AWS_REGION", "ap-northeast-1");
    for (const path of PIPELINE_WORKFLOWS) gh.addWorkflow(path, path);
    world.github.protectAsDocumented();
  });
  after(async () => world?.close());

  it("a good estate: no fail, exit 0, one line per check", async () => {
    await world.emulator.advance();
    const r = await action(world, { command: "doctor" }, {});
    const checks = JSON.parse(r.outputs.checks!) as CheckResult[];
    console.log(
      checks.map((c) => `      ${c.status.padEnd(4)} ${c.check}: ${c.detail}`).join("\n"),
    );
    expect(r.error, r.log).to.equal(undefined);
    expect(byStatus(checks, "fail")).to.deep.equal([]);
    const names = checks.map((c) => c.check);
    expect(names).to.include.members([
      "aws caller",
      "github AWS_PLANNER_ROLE_ARN",
      "github AWS_ACTIVATOR_ROLE_ARN",
      `ses ap-northeast-1 ${DOMAIN}`,
      "kms key",
      "secrets manager",
      `dns ${DOMAIN} ${world.ns1.address} udp`,
      `dns ${DOMAIN} ${world.ns1.address} tcp`,
      `dns ${DOMAIN} ${world.ns2.address} tcp`,
      "records",
      "github oidc subject",
      "github environment dkim-production",
      "github variables",
      "github workflow dkim-activate.yml",
    ]);
    // The name-form trust on a repository whose IDs are known is a warning with the IDs to set.
    const oidc = checks.find((c) => c.check === "github oidc subject")!;
    expect(oidc.status).to.equal("warn");
    expect(oidc.fix).to.include(`githubRepositoryId: ${world.github.repositoryId}`);
    expect(checks.find((c) => c.check === "kms rotation")).to.deep.include({
      status: "ok",
      detail: "automatic key rotation on",
    });
    const caller = checks.find((c) => c.check === "aws caller")!;
    expect(caller.status).to.equal("ok");
    expect(caller.detail).to.match(
      /^arn:aws:sts::123456789012:assumed-role\/.+ \(account 123456789012\)$/,
    );
  });

  it("without AWS credentials or a GitHub token: one fail with the fix, a skip line with its reason for each check that cannot run", async () => {
    const config = loadConfig(join(world.workspace, world.configFile));
    // What the SDK's default chain throws when it finds nothing.
    const noCredentials = async (): Promise<never> => {
      throw Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
      });
    };
    const checks = await runDoctor({
      config,
      repoRoot: world.workspace,
      caller: { whoAmI: noCredentials },
      ses: { getIdentity: noCredentials } as never,
      keys: { list: noCredentials } as never,
      kms: { describeKey: noCredentials, rotationEnabled: noCredentials },
      dns: { targets: async () => [] },
      githubSkip: doctorGitHubSkip(config, undefined),
    });
    const text = renderDoctor(checks).split("\n");
    expect(text).to.include(
      "fail aws caller: no AWS credentials found — fix: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --endpoint for the local emulator; in a workflow, the OIDC role",
    );
    for (const check of [`ses ap-northeast-1 ${DOMAIN}`, "kms key", "secrets manager"])
      expect(text).to.include(`skip ${check}: no AWS credentials found (see aws caller)`);
    expect(text.filter((l) => l.startsWith("skip github: "))).to.have.length(1);
    expect(text.join("\n")).to.match(/^skip github: no GitHub token \(GITHUB_TOKEN/m);
    // Only the caller fails: nothing is blamed on the identity, the key or the Region.
    expect(byStatus(checks, "fail")).to.deep.equal(["aws caller"]);
  });

  it("an automatic publisher: its environment must exist and admit only the default branch", async () => {
    const file = join(world.workspace, world.configFile);
    const original = readFileSync(file, "utf8");
    const stack = parse(original) as { config: Record<string, Record<string, unknown>[]> };
    Object.assign(stack.config["ses-dkim-rotation:identities"]![0]!, {
      publisher: "route53",
      route53: { hostedZoneId: "Z0123456789ABCDEFGHIJ" },
    });
    writeFileSync(file, stringify(stack));
    const gh = world.github.actions;
    const line = async () => {
      const r = await action(world, { command: "doctor" }, {});
      const checks = JSON.parse(r.outputs.checks!) as CheckResult[];
      return renderDoctor(checks.filter((c) => c.check.startsWith("github environment dkim-dns")));
    };
    try {
      expect(await line()).to.match(
        /^fail github environment dkim-dns: does not exist, so the publish job cannot assume the publisher role/,
      );
      gh.setEnvironment("dkim-dns", { reviewers: [] });
      expect(await line()).to.match(
        /^fail github environment dkim-dns branches: any branch may deploy \(no deployment branch policy\)/,
      );
      gh.setEnvironment("dkim-dns", { reviewers: [], branchPatterns: ["main"] });
      expect(await line()).to.equal(
        "ok   github environment dkim-dns branches: only main may deploy",
      );
    } finally {
      writeFileSync(file, original);
      gh.environments.delete("dkim-dns");
    }
  });

  it("a broken estate: each fault is a fail line with its fix, and the run fails", async () => {
    const gh = world.github.actions;
    gh.environments.delete("dkim-production");
    gh.variables.delete("AWS_ACTIVATOR_ROLE_ARN");
    // A role from another account: these credentials could never assume it.
    gh.variables.set("AWS_PLANNER_ROLE_ARN", "arn:aws:iam::999999999999:role/dkim-planner");
    gh.addWorkflow(".github/workflows/dkim-rotate.yml", "plan", "disabled_inactivity");
    gh.subjectTemplate = { use_default: false, include_claim_keys: ["repo", "context"] };
    // A third nameserver that answers nothing (nothing listens on port 9).
    const file = join(world.workspace, world.configFile);
    const stack = parse(readFileSync(file, "utf8")) as {
      config: Record<string, { nameservers: string[] }[]>;
    };
    stack.config["ses-dkim-rotation:identities"]![0]!.nameservers.push("127.0.0.1:9");
    writeFileSync(file, stringify(stack));
    const r = await action(world, { command: "doctor" }, {});
    const checks = JSON.parse(r.outputs.checks!) as CheckResult[];
    console.log(
      checks
        .filter((c) => c.status !== "ok")
        .map((c) => `      ${c.status.padEnd(4)} ${c.check}: ${c.detail} — fix: ${c.fix}`)
        .join("\n"),
    );
    expect(byStatus(checks, "fail")).to.include.members([
      `dns ${DOMAIN} 127.0.0.1:9 udp`,
      `dns ${DOMAIN} 127.0.0.1:9 tcp`,
      "github oidc subject",
      "github environment dkim-production",
      "github variables",
      "github AWS_PLANNER_ROLE_ARN",
      "github workflow dkim-rotate.yml",
    ]);
    expect(checks.find((c) => c.check === "github AWS_PLANNER_ROLE_ARN")!.detail).to.equal(
      "the role is in account 999999999999, these credentials are in 123456789012",
    );
    for (const c of checks.filter((x) => x.status === "fail"))
      expect(c.fix, c.check).to.be.a("string");
    expect(r.error).to.match(/^doctor: .*github environment dkim-production.* failed$/);
  });
});
