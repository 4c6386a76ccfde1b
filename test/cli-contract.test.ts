/**
 * The CLI contract scripts rely on (README.md, "Operator CLI"), checked on the
 * installed entry point `bin/dkim.mjs` in a child process of whichever Node
 * runs the suite (`.ci/run` runs it on Node 22 and on Node 24):
 * - with `--json`, every outcome is exactly one JSON document on stdout —
 *   results, refusals, usage and input errors, failures — with the exit code
 *   inside and a stable schema;
 * - `--fail-on-alert` makes `status`/`plan` exit 6 on an ALERT;
 * - no AWS SDK runtime warning in normal output;
 * - `npx ses-dkim-rotation` prints no npm banner;
 * - bash and zsh completion scripts generated from the command definitions.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { ALERT_EXIT_CODE, CLI_SCHEMA, type CliDocument } from "../scripts/cli-contract";
import { startAwsEmulator, type AwsEmulator } from "../scripts/sandbox/aws-emulator";
import { soaFor, startDnsServer, type DnsServer } from "../scripts/sandbox/dns-server";
import { offlineAwsEnv } from "./helpers/offline-env";

// This process's own SDK clients (test setup) need not warn; the children are checked without this.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REGION = "ap-northeast-1";
const DOMAIN = "contract.example";

/** Offline credentials, and the SDK's Node-version warning left ON: the CLI must keep it quiet. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...offlineAwsEnv({ accessKeyId: "AKIDCONTRACT00000000", secretAccessKey: "contract-not-real" }),
    // The child runs on the same Node as the suite (Node 22 or 24 in CI).
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
  };
  delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  return env;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function spawn(file: string, args: string[], cwd = ROOT): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { cwd, env: childEnv(), timeout: 60_000 }, (e, stdout, stderr) =>
      done({ code: e ? (typeof e.code === "number" ? e.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** The installed entry point (package.json "bin"), as `dkim` runs it. */
const dkim = (args: string[]) => spawn(process.execPath, [join(ROOT, "bin/dkim.mjs"), ...args]);

/** Exactly one JSON document on stdout, consistent with the process's exit code. */
function documentOf(run: Run): CliDocument {
  let doc: CliDocument;
  try {
    doc = JSON.parse(run.stdout) as CliDocument;
  } catch {
    throw new Error(`stdout is not one JSON document:\n${run.stdout}\n--- stderr\n${run.stderr}`);
  }
  expect(doc.schema).to.equal(CLI_SCHEMA);
  expect(doc.exitCode, run.stderr).to.equal(run.code);
  expect(doc.ok).to.equal(run.code === 0);
  expect(Object.keys(doc).sort()).to.deep.equal(
    ["command", "error", "exitCode", "ok", "result", "schema"].sort(),
  );
  if (run.code === 0) expect(doc.error).to.equal(null);
  else {
    expect(doc.error, run.stdout).to.be.an("object");
    expect(doc.error!.message).to.be.a("string").and.not.match(/\n/);
  }
  return doc;
}

function noSdkWarning(run: Run) {
  expect(run.stderr).not.to.include("NodeVersionSupportWarning");
  expect(run.stderr).not.to.include("AWS SDK for JavaScript");
  expect(run.stdout).not.to.include("NodeVersionSupportWarning");
}

describe(`CLI contract (bin/dkim.mjs on Node ${process.versions.node})`, function () {
  this.timeout(120_000);
  let emulator: AwsEmulator;
  let ns: DnsServer;
  let dir: string;
  let config: string;

  const stack = (identities: string[]) =>
    [
      "config:",
      `  aws:region: ${REGION}`,
      "  ses-dkim-rotation:identities:",
      ...identities,
      "  ses-dkim-rotation:sesRequestsPerSecond: 100",
      "",
    ].join("\n");
  const identity = (domain: string) => [
    `    - domain: ${domain}`,
    "      selectorPrefix: contract",
    `      nameservers: ['127.0.0.1:${ns.port}']`,
  ];

  before(async function () {
    emulator = await startAwsEmulator({ sesRequestsPerSecond: 1000 });
    const ses = new SESv2Client({
      region: REGION,
      endpoint: emulator.url,
      credentials: { accessKeyId: "AKIDSETUP", secretAccessKey: "setup" },
    });
    await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    ses.destroy();
    ns = await startDnsServer({
      zones: {
        [DOMAIN]: {
          serial: 1,
          ttl: 300,
          soa: soaFor(`${DOMAIN}.`),
          records: [{ name: "@", type: "NS", data: `ns1.${DOMAIN}.` }],
        },
      },
    });
    dir = mkdtempSync(join(tmpdir(), "dkim-contract-"));
    mkdirSync(join(dir, "dns"));
    config = join(dir, "Pulumi.contract.yaml");
    writeFileSync(config, stack(identity(DOMAIN)));
  });
  after(async function () {
    await emulator?.close();
    await ns?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const common = () => ["--config", config, "--repo", dir, "--endpoint", emulator.url];

  it("--json: one document for a result, a refusal, and every kind of error", async function () {
    // plan --apply first, so activate has a stored key whose record DNS does not serve yet.
    const plan = await dkim([...common(), "--json", "plan", "--apply"]);
    const planDoc = documentOf(plan);
    expect(planDoc.command).to.equal("plan");
    const selector = readdirSync(join(dir, "dns", DOMAIN))[0]!.replace(/\.zone$/, "");

    const badConfig = join(dir, "Pulumi.bad.yaml");
    writeFileSync(badConfig, stack([...identity(DOMAIN), "      graceDays: 014"]));
    const cases: {
      name: string;
      args: string[];
      code: number;
      kind: string | null;
      command: string | null;
      field?: string;
    }[] = [
      { name: "status", args: [...common(), "status"], code: 0, kind: null, command: "status" },
      {
        name: "refused activation",
        args: [...common(), "activate", "--domain", DOMAIN, "--selector", selector],
        code: 3,
        kind: "refused",
        command: "activate",
      },
      {
        name: "unknown command",
        args: [...common(), "rotate"],
        code: 2,
        kind: "usage",
        command: null,
      },
      {
        name: "missing option",
        args: [...common(), "verify", "--domain", DOMAIN],
        code: 2,
        kind: "usage",
        command: "verify",
        field: "--selector",
      },
      {
        name: "bad number",
        args: [...common(), "--requests-per-second", "014", "status"],
        code: 2,
        kind: "usage",
        command: "status",
        field: "--requests-per-second",
      },
      {
        name: "bad config",
        args: ["--config", badConfig, "--repo", dir, "--endpoint", emulator.url, "status"],
        code: 2,
        kind: "input",
        command: "status",
        field: "ses-dkim-rotation:identities[0].graceDays",
      },
      {
        name: "--repo typo",
        args: [...common(), "--repo", join(dir, "typo"), "check-records"],
        code: 2,
        kind: "input",
        command: "check-records",
        field: "--repo",
      },
      {
        name: "failure (AWS unreachable)",
        args: ["--config", config, "--repo", dir, "--endpoint", "http://127.0.0.1:9", "status"],
        code: 1,
        kind: "failure",
        command: "status",
      },
      { name: "--help", args: ["--help"], code: 0, kind: null, command: null },
    ];
    const runs = await Promise.all(cases.map((c) => dkim(["--json", ...c.args])));
    runs.forEach((run, i) => {
      const c = cases[i]!;
      expect(run.code, `${c.name}: ${run.stderr}`).to.equal(c.code);
      const doc = documentOf(run);
      expect(doc.command, c.name).to.equal(c.command);
      expect(doc.error?.kind ?? null, c.name).to.equal(c.kind);
      if (c.field) expect(doc.error?.field, c.name).to.equal(c.field);
      if (c.kind === "input") {
        expect(doc.error!.file, c.name).to.be.a("string");
        expect(doc.error!.hint, c.name).to.be.a("string");
      }
      noSdkWarning(run);
    });
    // The same one line on stderr as without --json.
    const refused = runs[1]!;
    expect(refused.stderr.trimEnd().split("\n").pop()).to.equal(
      `error: ${documentOf(refused).error!.message}`,
    );
    expect((documentOf(runs.at(-1)!).result as { help: string }).help).to.include("Usage: dkim");
    // --json after the subcommand is the same flag.
    documentOf(await dkim([...common(), "status", "--json"]));
  });

  it("--fail-on-alert: status and plan exit 6 on an ALERT, 0 without the flag", async function () {
    // An identity SES does not have is an ALERT (identity-missing).
    const alerting = join(dir, "Pulumi.alert.yaml");
    writeFileSync(alerting, stack(identity("missing.example")));
    const args = ["--config", alerting, "--repo", dir, "--endpoint", emulator.url];
    const [plain, status, plan, json] = await Promise.all([
      dkim([...args, "status"]),
      dkim([...args, "status", "--fail-on-alert"]),
      dkim([...args, "plan", "--fail-on-alert"]),
      dkim([...args, "--json", "status", "--fail-on-alert"]),
    ]);
    expect(plain.code, plain.stderr).to.equal(0);
    expect(plain.stdout).to.include("ALERT");
    expect(status.code, status.stderr).to.equal(ALERT_EXIT_CODE);
    expect(plan.code, plan.stderr).to.equal(ALERT_EXIT_CODE);
    const doc = documentOf(json);
    expect(doc.error!.kind).to.equal("alert");
    expect(doc.error!.message).to.include("missing.example");
    expect(doc.result).to.have.property("decisions");
    for (const r of [plain, status, plan, json]) noSdkWarning(r);
  });

  it("npx ses-dkim-rotation prints no npm banner: stdout is the document alone", async function () {
    const run = await spawn("npx", [
      "--no-install",
      "ses-dkim-rotation",
      "--json",
      "--repo",
      join(dir, "typo"),
      "check-records",
    ]);
    expect(run.code, run.stderr).to.equal(2);
    expect(documentOf(run).error!.field).to.equal("--repo");
  });

  it("completion scripts for bash and zsh come from the command definitions", async function () {
    const [bash, zsh] = await Promise.all([
      dkim(["completion", "bash"]),
      dkim(["completion", "zsh"]),
    ]);
    expect(bash.code, bash.stderr).to.equal(0);
    expect(zsh.code, zsh.stderr).to.equal(0);
    const script = join(dir, "dkim.bash");
    writeFileSync(script, bash.stdout);
    // Complete as bash would: the words typed so far, then read COMPREPLY.
    const complete = (words: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _dkim_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
          "_",
          script,
          ...words,
        ],
        { encoding: "utf8" },
      )
        .trim()
        .split("\n");
    expect(complete(["dkim", "ch"])).to.deep.equal(["check-records"]);
    expect(complete(["dkim", "status", "--fail"])).to.deep.equal(["--fail-on-alert"]);
    expect(complete(["dkim", "verify", "--key-source", ""])).to.deep.equal(["stored", "record"]);
    expect(complete(["ses-dkim-rotation", "completion", "z"])).to.deep.equal(["zsh"]);
    expect(bash.stdout).to.match(/complete .* dkim ses-dkim-rotation/);
    // Every command and option of the program appears in both scripts.
    const { buildProgram } = await import("../scripts/dkim");
    const program = buildProgram();
    for (const c of program.commands) {
      expect(bash.stdout).to.include(c.name());
      expect(zsh.stdout).to.include(`'${c.name()}:`);
      for (const o of c.options) {
        expect(bash.stdout).to.include(o.long!);
        expect(zsh.stdout).to.include(o.long!);
      }
    }
    let hasZsh = true;
    try {
      execFileSync("zsh", ["--version"], { stdio: "ignore" });
    } catch {
      hasZsh = false;
    }
    if (!hasZsh) {
      // .ci/run installs zsh; a developer machine may not have it.
      if (process.env.CI === "true")
        throw new Error("zsh is not installed (bash .ci/run installs it)");
      this.skip();
    }
    const file = join(dir, "_dkim");
    writeFileSync(file, zsh.stdout);
    // Parses, and registers itself for both names when sourced after compinit.
    const registered = execFileSync(
      "zsh",
      [
        "-fc",
        `autoload -U compinit; compinit -u -d "$2"; source "$1"; print -r -- "\${_comps[dkim]} \${_comps[ses-dkim-rotation]}"`,
        "_",
        file,
        join(dir, "zcompdump"),
      ],
      { encoding: "utf8" },
    ).trim();
    expect(registered).to.equal("_dkim _dkim");
  });
});
