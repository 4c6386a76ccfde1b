/**
 * Action inputs: validated up front, one-line InputErrors naming `input:<name>`.
 */
import { expect } from "chai";
import { readInputs, type ActionInputs } from "../actions/dkim-rotation/src/inputs";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";

function read(values: Record<string, string>, masked: string[] = []): ActionInputs {
  return readInputs(
    (name) => values[name] ?? "",
    (s) => masked.push(s),
  );
}

function errorOf(values: Record<string, string>): InputError {
  try {
    read(values);
  } catch (err) {
    expect(err).to.be.instanceOf(InputError);
    return err as InputError;
  }
  throw new Error("expected an InputError");
}

describe("action inputs", () => {
  it("reads every input into one typed object, with defaults", () => {
    const masked: string[] = [];
    const inputs = read(
      {
        command: "activate",
        domain: "mail.example.jp",
        selector: "mail-20261122",
        "github-token": "ghs_abc123",
        "dry-run": "true",
        "aws-endpoint": "http://127.0.0.1:4566/",
        "requests-per-second": "0.5",
      },
      masked,
    );
    expect(inputs).to.deep.equal({
      command: "activate",
      config: "Pulumi.prod.yaml",
      domain: "mail.example.jp",
      selector: "mail-20261122",
      githubToken: "ghs_abc123",
      dryRun: true,
      awsEndpoint: "http://127.0.0.1:4566",
      requestsPerSecond: 0.5,
      recordFolder: "dns",
      environment: undefined,
    });
    expect(masked).to.deep.equal(["ghs_abc123"]);
    expect(read({ command: "status" })).to.deep.equal({
      command: "status",
      config: "Pulumi.prod.yaml",
      domain: undefined,
      selector: undefined,
      githubToken: undefined,
      dryRun: false,
      awsEndpoint: undefined,
      requestsPerSecond: undefined,
      recordFolder: "dns",
      environment: undefined,
    });
    // The reusable workflows pass the record folder and the environment.
    expect(
      read({
        command: "activate",
        "record-folder": "dkim/records/",
        environment: "dkim-production",
      }),
    ).to.include({ recordFolder: "dkim/records", environment: "dkim-production" });
  });

  it("reads the real INPUT_* environment variables through @actions/core", () => {
    const saved = { ...process.env };
    try {
      process.env.INPUT_COMMAND = "verify";
      process.env.INPUT_CONFIG = "stacks/Pulumi.staging.yaml";
      process.env["INPUT_DRY-RUN"] = "false";
      process.env.INPUT_DOMAIN = "news.example.jp";
      const inputs = readInputs(undefined, () => {});
      expect(inputs).to.include({
        command: "verify",
        config: "stacks/Pulumi.staging.yaml",
        domain: "news.example.jp",
        dryRun: false,
      });
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it("rejects a missing or unknown command", () => {
    expect(errorOf({}).message).to.equal(
      "input:command: field command: is required (hint: one of plan, verify, publish, activate, rollback, rollback-check, retire, status, doctor, reports)",
    );
    const e = errorOf({ command: "swap" });
    expect(e.parts).to.include({ file: "input:command", field: "command" });
    expect(e.message).to.match(/"swap" is not a command/);
  });

  it("rollback-check needs a domain and the selector to restore, like rollback", () => {
    expect(errorOf({ command: "rollback-check", selector: "mail-1" }).message).to.equal(
      "input:domain: field domain: is required for rollback-check",
    );
    expect(errorOf({ command: "rollback-check", domain: "mail.example.jp" }).message).to.equal(
      "input:selector: field selector: is required for rollback-check (hint: the selector to restore (the previous one, still published))",
    );
  });

  it("validates domain and selector with the engine's patterns", () => {
    expect(errorOf({ command: "verify", domain: "Mail.Example.JP." }).parts.file).to.equal(
      "input:domain",
    );
    expect(errorOf({ command: "verify", domain: "mail.example.jp; rm -rf /" }).message).to.match(
      /is not a domain name/,
    );
    const sel = errorOf({ command: "verify", domain: "mail.example.jp", selector: "mail_2026.11" });
    expect(sel.message).to.equal(
      'input:selector: field selector: "mail_2026.11" is not a valid SES selector (hint: 1–63 letters, digits and inner hyphens; no dots or underscores)',
    );
    expect(
      errorOf({ command: "verify", domain: "mail.example.jp", selector: "a".repeat(64) }).parts
        .field,
    ).to.equal("selector");
  });

  it("knows which commands need a domain and a selector", () => {
    expect(errorOf({ command: "rollback", selector: "mail-20251120" }).message).to.match(
      /^input:domain: field domain: is required for rollback/,
    );
    expect(errorOf({ command: "rollback", domain: "mail.example.jp" }).message).to.match(
      /^input:selector: .*is required for rollback \(hint: the selector to restore/,
    );
    expect(
      errorOf({ command: "retire", domain: "mail.example.jp", "github-token": "t" }).message,
    ).to.match(/is required for retire/);
    expect(
      errorOf({ command: "plan", domain: "mail.example.jp", selector: "x-1", "github-token": "t" })
        .message,
    ).to.match(/plan chooses the next selector itself/);
    expect(errorOf({ command: "activate", selector: "mail-20261122" }).message).to.match(
      /needs a domain/,
    );
    // Optional domain for plan, verify, activate and status.
    for (const command of ["verify", "activate", "status"])
      expect(read({ command }).domain).to.equal(undefined);
    expect(read({ command: "plan", "github-token": "t" }).command).to.equal("plan");
    expect(
      read({
        command: "retire",
        domain: "mail.example.jp",
        selector: "mail-20251120",
        "github-token": "t",
      }).selector,
    ).to.equal("mail-20251120");
  });

  it("needs a token for the commands that open PRs, unless it is a dry run", () => {
    expect(errorOf({ command: "plan" }).message).to.match(
      /^input:github-token: field github-token: is required for plan/,
    );
    expect(read({ command: "plan", "dry-run": "true" }).dryRun).to.equal(true);
    expect(errorOf({ command: "plan", "github-token": "two words" }).message).to.match(
      /whitespace/,
    );
  });

  it("gate-token: masked when read, only for the gated commands, one token alone (docs/design.md#gate-token)", () => {
    const masked: string[] = [];
    const inputs = read(
      {
        command: "activate",
        domain: "mail.example.jp",
        selector: "s1",
        "gate-token": "ghs_gate123",
      },
      masked,
    );
    expect(inputs.gateToken).to.equal("ghs_gate123");
    expect(masked).to.deep.equal(["ghs_gate123"]);
    expect(read({ command: "activate" }).gateToken).to.equal(undefined);
    expect(errorOf({ command: "status", "gate-token": "ghs_gate123" }).message).to.equal(
      "input:gate-token: field gate-token: is not used by status (hint: only the gated jobs' approval gate reads it)",
    );
    expect(errorOf({ command: "activate", "gate-token": "two words" }).message).to.match(
      /^input:gate-token: field gate-token: contains whitespace or control characters/,
    );
  });

  it("parses booleans the way YAML 1.2 core schema spells them", () => {
    expect(read({ command: "status", "dry-run": "TRUE" }).dryRun).to.equal(true);
    expect(read({ command: "status", "dry-run": "False" }).dryRun).to.equal(false);
    expect(errorOf({ command: "status", "dry-run": "yes" }).message).to.equal(
      'input:dry-run: field dry-run: "yes" is not a boolean (hint: true or false)',
    );
  });

  it("keeps the config path inside the repository", () => {
    expect(read({ command: "status", config: "Pulumi.prod.yml" }).config).to.equal(
      "Pulumi.prod.yml",
    );
    for (const config of ["../secrets.yaml", "/etc/passwd.yaml", "Pulumi.prod.json", "a b.yaml"]) {
      expect(errorOf({ command: "status", config }).parts.file).to.equal("input:config");
    }
  });

  it("accepts aws-endpoint only on loopback, and a sane request rate", () => {
    expect(
      read({ command: "status", "aws-endpoint": "http://localhost:9000" }).awsEndpoint,
    ).to.equal("http://localhost:9000");
    expect(read({ command: "status", "aws-endpoint": "http://[::1]:9000" }).awsEndpoint).to.equal(
      "http://[::1]:9000",
    );
    expect(
      errorOf({ command: "status", "aws-endpoint": "https://evil.example.com" }).message,
    ).to.match(/is not loopback/);
    expect(
      errorOf({ command: "status", "aws-endpoint": "http://u:p@127.0.0.1:1" }).message,
    ).to.match(/credentials/);
    expect(errorOf({ command: "status", "aws-endpoint": "not a url" }).message).to.match(
      /is not a URL/,
    );
    expect(errorOf({ command: "status", "aws-endpoint": "ftp://127.0.0.1" }).message).to.match(
      /http or https/,
    );
    for (const rps of ["0", "-1", "1e3", "abc", "1001"]) {
      expect(errorOf({ command: "status", "requests-per-second": rps }).parts.field).to.equal(
        "requests-per-second",
      );
    }
    expect(read({ command: "status", "requests-per-second": "1" }).requestsPerSecond).to.equal(1);
  });
});
