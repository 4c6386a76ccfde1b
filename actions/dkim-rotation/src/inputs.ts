/**
 * Every action input, read and validated in one place before any side effect
 * (docs/design.md#invariant-6-bad-input-fails-early; the pattern of aws-actions/configure-aws-credentials).
 * A bad input is an `InputError` naming `input:<name>` and the field, with a
 * hint, so it prints as one line and nothing is written.
 */
import { realpathSync } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";
import * as core from "@actions/core";
import { identitySchema, DEFAULT_CONFIG_FILE, GATED_WORKFLOW_FILE } from "./engine/config";
import { InputError } from "./engine/errors";
import { checkRecordFolder, RECORD_DIR } from "./engine/record";
import { isValidSelector } from "./engine/selector";
import {
  EMULATOR_MAX_REQUESTS_PER_SECOND,
  MIN_REQUESTS_PER_SECOND,
  quote,
  readEndpoint,
  readNumber,
} from "./engine/values";

export const COMMANDS = [
  "plan",
  "verify",
  "publish",
  "activate",
  "rollback",
  "rollback-check",
  "retire",
  "status",
  "doctor",
  "reports",
] as const;
export type Command = (typeof COMMANDS)[number];

export interface ActionInputs {
  command: Command;
  /** Path of the Pulumi stack file, relative to the workspace. */
  config: string;
  /** Limit the run to one identity. */
  domain?: string;
  /** The selector to act on (verify/activate/retire) or to restore (rollback). */
  selector?: string;
  /** Token for the GitHub API (PRs). Masked as soon as it is read. */
  githubToken?: string;
  /**
   * Pull-request mode's gate only: a GitHub App token with Administration
   * write, which GitHub lets read the default branch's rulesets' bypass
   * actors (docs/design.md#gate-token). Masked as soon as it is read.
   */
  gateToken?: string;
  /** Decide and report, but write nothing (no key, no PR, no SES call that changes state). */
  dryRun: boolean;
  /** Endpoint override for the AWS clients: loopback only, for the sandbox and tests. */
  awsEndpoint?: string;
  /** SES control-plane pacing; AWS enforces 1 request/s per account and Region. */
  requestsPerSecond?: number;
  /** Folder of the record files, relative to the workspace (`dns` by default). */
  recordFolder: string;
  /**
   * The environment the calling workflow names; when set, it must be the
   * stack file's `github.environment` (the gated one), or for `publish` its
   * `github.publisherEnvironment` (one environment, said in two places).
   */
  environment?: string;
  /** rollback-check under github.approval pull-request: why, for the rollback request. */
  reason?: string;
}

/** Reads one raw input; defaults to `core.getInput` (the `INPUT_<NAME>` variable). */
export type InputReader = (name: string) => string;

/** Which commands need which identifiers. */
const NEEDS: Record<
  Command,
  { domain: "required" | "optional" | "forbidden"; selector: "required" | "optional" | "forbidden" }
> = {
  plan: { domain: "optional", selector: "forbidden" },
  verify: { domain: "optional", selector: "optional" },
  publish: { domain: "optional", selector: "forbidden" },
  activate: { domain: "optional", selector: "optional" },
  status: { domain: "optional", selector: "forbidden" },
  doctor: { domain: "forbidden", selector: "forbidden" },
  reports: { domain: "forbidden", selector: "forbidden" },
  rollback: { domain: "required", selector: "required" },
  "rollback-check": { domain: "required", selector: "required" },
  retire: { domain: "required", selector: "required" },
};

const CONFIG_PATTERN = /^[A-Za-z0-9._/-]+\.ya?ml$/;
const TOKEN_PATTERN = /^[\x21-\x7e]{1,1024}$/;
const BOOLEAN_TRUE = ["true", "True", "TRUE"];
const BOOLEAN_FALSE = ["false", "False", "FALSE"];

function bad(name: string, problem: string, hint?: string): never {
  throw new InputError({ file: `input:${name}`, field: name, problem, hint });
}

/**
 * Read and validate all inputs. Masks the token with `core.setSecret` the
 * moment it is read (pass `mask` to observe that in tests).
 */
export function readInputs(
  read: InputReader = (name) => core.getInput(name),
  mask: (secret: string) => void = core.setSecret,
  /** GITHUB_EVENT_NAME: on a push, rollback-check reads its decision from the pushed commit. */
  event?: string,
): ActionInputs {
  const raw = (name: string) => read(name).trim();

  const token = read("github-token");
  if (token) mask(token);
  const gateToken = read("gate-token");
  if (gateToken) mask(gateToken);

  const commandIn = raw("command");
  if (!commandIn) bad("command", "is required", `one of ${COMMANDS.join(", ")}`);
  if (!(COMMANDS as readonly string[]).includes(commandIn)) {
    bad("command", `${quote(commandIn)} is not a command`, `one of ${COMMANDS.join(", ")}`);
  }
  const command = commandIn as Command;

  const config = raw("config") || DEFAULT_CONFIG_FILE;
  if (!CONFIG_PATTERN.test(config) || config.split("/").includes("..") || config.startsWith("/")) {
    bad(
      "config",
      `${quote(config)} is not a stack file path inside the repository`,
      `e.g. ${DEFAULT_CONFIG_FILE}`,
    );
  }

  const domainIn = raw("domain");
  let domain: string | undefined;
  if (domainIn) {
    if (!identitySchema.shape.domain.safeParse(domainIn).success) {
      bad(
        "domain",
        `${quote(domainIn)} is not a domain name`,
        "lower case, no trailing dot, e.g. mail.example.jp",
      );
    }
    domain = domainIn;
  }

  const selectorIn = raw("selector");
  let selector: string | undefined;
  if (selectorIn) {
    if (!isValidSelector(selectorIn)) {
      bad(
        "selector",
        `${quote(selectorIn)} is not a valid SES selector`,
        "1–63 letters, digits and inner hyphens; no dots or underscores",
      );
    }
    selector = selectorIn;
  }

  // github.approval pull-request: the merge's push names the approved rollback
  // (docs/design.md#approval-request-flow), so no input may name another.
  const needs =
    command === "rollback-check" && event === "push"
      ? ({ domain: "forbidden", selector: "forbidden" } as const)
      : NEEDS[command];
  if (command === "rollback-check" && event === "push" && domain)
    bad("domain", `is not used by ${command} on a push`, "the pushed commit names the decision");
  if (needs.domain === "required" && !domain) bad("domain", `is required for ${command}`);
  if (needs.selector === "required" && !selector) {
    bad(
      "selector",
      `is required for ${command}`,
      command === "rollback" || command === "rollback-check"
        ? "the selector to restore (the previous one, still published)"
        : "the old selector whose record is removed",
    );
  }
  if (needs.selector === "forbidden" && selector) {
    bad(
      "selector",
      `is not used by ${command}`,
      command === "plan"
        ? "plan chooses the next selector itself"
        : command === "rollback-check"
          ? "the pushed commit names the decision"
          : "leave it empty",
    );
  }
  if (selector && !domain) bad("selector", "needs a domain", "set the domain input too");

  // A rollback request's reason goes into a PR body and an approvals file: one plain line.
  const reason = raw("reason") || undefined;
  if (reason !== undefined) {
    if (command !== "rollback-check")
      bad("reason", `is not used by ${command}`, "only a rollback dispatch gives a reason");
    if (reason.length > 500 || !/^[^\p{Cc}]*$/u.test(reason))
      bad(
        "reason",
        `is ${reason.length > 500 ? `${reason.length} characters` : "not one plain line"}`,
        "one line of at most 500 characters, e.g. bounces at example.net since the swap",
      );
  }

  const dryIn = raw("dry-run");
  let dryRun = false;
  if (dryIn) {
    if (BOOLEAN_TRUE.includes(dryIn)) dryRun = true;
    else if (!BOOLEAN_FALSE.includes(dryIn))
      bad("dry-run", `${quote(dryIn)} is not a boolean`, "true or false");
  }

  let githubToken: string | undefined;
  if (token) {
    if (!TOKEN_PATTERN.test(token))
      bad(
        "github-token",
        "contains whitespace or control characters",
        "pass the token alone, e.g. ${{ github.token }}",
      );
    githubToken = token;
  }
  if (gateToken && !TOKEN_PATTERN.test(gateToken))
    bad(
      "gate-token",
      "contains whitespace or control characters",
      "pass the token alone, e.g. ${{ steps.gate-token.outputs.token }}",
    );
  if (gateToken && !(command in GATED_WORKFLOW_FILE))
    bad("gate-token", `is not used by ${command}`, "only the gated jobs' approval gate reads it");
  if (!githubToken && !dryRun && (command === "plan" || command === "retire")) {
    bad(
      "github-token",
      `is required for ${command} (it opens pull requests)`,
      "pass a GitHub App token, or ${{ github.token }}, or set dry-run",
    );
  }

  const endpointIn = raw("aws-endpoint");
  let awsEndpoint: string | undefined;
  if (endpointIn) {
    const endpoint = readEndpoint(endpointIn);
    if ("problem" in endpoint) bad("aws-endpoint", endpoint.problem, "e.g. http://127.0.0.1:4566");
    // The override exists for the sandbox; pointing production credentials at a
    // remote endpoint would hand it signed requests and, on activation, keys.
    const host = endpoint.url.hostname;
    if (!/^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(host)) {
      bad(
        "aws-endpoint",
        `host ${quote(host)} is not loopback`,
        "only the local sandbox emulator may replace AWS",
      );
    }
    awsEndpoint = endpoint.text;
  }

  const rpsIn = raw("requests-per-second");
  let requestsPerSecond: number | undefined;
  if (rpsIn) {
    const n = readNumber(rpsIn, {
      min: MIN_REQUESTS_PER_SECOND,
      max: EMULATOR_MAX_REQUESTS_PER_SECOND,
      what: "requests per second",
    });
    if ("problem" in n)
      bad(
        "requests-per-second",
        n.problem,
        "SES allows 1 request/s per account and Region; e.g. 1",
      );
    requestsPerSecond = n.value;
  }

  const folderIn = raw("record-folder");
  const recordFolder = folderIn
    ? checkRecordFolder(folderIn, { file: "input:record-folder", field: "record-folder" })
    : RECORD_DIR;

  const environmentIn = raw("environment");
  // GitHub: environment names are at most 255 characters (docs/design.md#reusable-workflows).
  if (environmentIn && !/^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$/.test(environmentIn))
    bad(
      "environment",
      "is not an environment name",
      "the environment that gates activation, e.g. dkim-production",
    );

  return {
    command,
    config,
    domain,
    selector,
    githubToken,
    ...(gateToken ? { gateToken } : {}),
    dryRun,
    awsEndpoint,
    requestsPerSecond,
    recordFolder,
    environment: environmentIn || undefined,
    ...(reason === undefined ? {} : { reason }),
  };
}

/**
 * The stack file's real path, which must stay inside the workspace: the
 * `config` input is checked as text by `readInputs`, but a symbolic link in
 * the checkout could still lead out of it (to a runner file, another
 * checkout). A missing file is left to `loadConfig`, which says so.
 */
export function resolveConfigPath(workspace: string, config: string): string {
  const path = resolve(workspace, config);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return path;
  }
  const inside = relative(realpathSync(workspace), real);
  if (inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside))
    bad(
      "config",
      `${quote(config)} leads outside the workspace through a symbolic link`,
      "point the config input at the stack file itself, inside the repository",
    );
  return real;
}
