/**
 * Operator CLI: `npx ses-dkim-rotation <command>` (or `dkim` once installed,
 * `npm run -s dkim -- <command>` in this repository). A thin front end over
 * the same engine the GitHub Action runs. Output and exit codes follow one
 * contract (scripts/cli-contract.ts, documented in README.md).
 */
import { resolve } from "node:path";
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import { systemClock } from "../actions/dkim-rotation/src/engine/clock";
import {
  DEFAULT_CONFIG_FILE,
  identitySchema,
  MAX_RECORDS_PER_PR,
  type ProjectConfig,
} from "../actions/dkim-rotation/src/engine/config";
import { loadConfig } from "../actions/dkim-rotation/src/load-config";
import { ExitCode, InputError } from "../actions/dkim-rotation/src/engine/errors";
import {
  renderPlan,
  renderReports,
  renderRetire,
  renderStatus,
  renderSwap,
  renderVerification,
  statusRows,
  plainChangeText,
} from "../actions/dkim-rotation/src/format";
import { ActivationFailedError } from "../actions/dkim-rotation/src/engine/swap";
import { runActivate, runRollback } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { runRetire } from "../actions/dkim-rotation/src/engine/retire";
import { runReports } from "../actions/dkim-rotation/src/engine/dmarc";
import { runVerify } from "../actions/dkim-rotation/src/engine/verify";
import { snapshotAll } from "../actions/dkim-rotation/src/engine/snapshot";
import type { EngineContext, Logger } from "../actions/dkim-rotation/src/engine/engine-context";
import type { Decision } from "../actions/dkim-rotation/src/engine/planner";
import {
  checkAllRecords,
  checkRecordPrScope,
  checkRecordRepo,
  RepoRecords,
} from "../actions/dkim-rotation/src/adapters/repo-records";
import {
  checkRecordFolder,
  RECORD_DIR,
  recordFolderOf,
} from "../actions/dkim-rotation/src/engine/record";
import { isValidSelector } from "../actions/dkim-rotation/src/engine/selector";
import {
  EMULATOR_MAX_REQUESTS_PER_SECOND,
  MIN_REQUESTS_PER_SECOND,
  quote,
  readEndpoint,
  readNumber,
  type NumberRule,
} from "../actions/dkim-rotation/src/engine/values";
import { DnsVerifier } from "../actions/dkim-rotation/src/adapters/dns";
import { FileLock, WorkingTreeChanges } from "../actions/dkim-rotation/src/adapters/local";
import { buildAwsAdapters } from "../actions/dkim-rotation/src/context";
import { missingCredentials } from "../actions/dkim-rotation/src/adapters/caller";
import {
  doctorGitHub,
  doctorGitHubSkip,
  hasFailure,
  renderDoctor,
  runDoctor,
} from "../actions/dkim-rotation/src/doctor";
import { registerAdopt } from "./dkim-adopt";
import { ALERT_EXIT_CODE, handle, runCli, type CommandOutcome } from "./cli-contract";
import { bashCompletion, zshCompletion } from "./completion";
import { sandboxOutProblem } from "./sandbox/out-dir";
import { renderDmarcFigures } from "./sandbox/dmarc-figures";
import { ProgressLine } from "./progress";
import packageJson from "../package.json" with { type: "json" };

interface GlobalOptions {
  config: string;
  repo: string;
  json: boolean;
  debug: boolean;
  endpoint?: string;
  requestsPerSecond?: number;
  recordFolder: string;
}

const err = (s: string) => process.stderr.write(`${s}\n`);

/** Progress goes to stderr so `--json` stdout stays one document. */
function cliLogger(quiet: boolean): Logger {
  const tty = process.stderr.isTTY;
  let lastProgress = 0;
  return {
    info: (m) => (quiet ? undefined : err(m)),
    warn: (m) => err(`warning: ${m}`),
    progress: (label, done, total) => {
      const now = Date.now();
      if (total < 5 || (done !== total && now - lastProgress < 1000)) return;
      lastProgress = now;
      if (tty) process.stderr.write(`\r${label}: ${done}/${total}${done === total ? "\n" : ""}`);
      else if (done === total || done % Math.ceil(total / 10) === 0)
        err(`${label}: ${done}/${total}`);
    },
  };
}

// ---- argument parsers: each refuses with a reason commander prints as one line ----

function selectorArg(value: string): string {
  if (!isValidSelector(value))
    throw new InvalidArgumentError(
      `${quote(value)} is not a valid SES selector (1–63 letters, digits, inner hyphens)`,
    );
  return value;
}

function domainArg(value: string, previous?: string[]): string[] {
  if (!identitySchema.shape.domain.safeParse(value).success)
    throw new InvalidArgumentError(
      `${quote(value)} is not a domain name (lower case, no trailing dot, e.g. mail.example.jp)`,
    );
  return [...(previous ?? []), value];
}

const oneDomainArg = (value: string) => domainArg(value)[0]!;

/** A number flag read by the one number reader (engine/values.ts). */
function numberArg(rule: NumberRule): (value: string) => number {
  return (value) => {
    const n = readNumber(value, rule);
    if ("problem" in n) throw new InvalidArgumentError(n.problem);
    return n.value;
  };
}

const rateArg = numberArg({
  min: MIN_REQUESTS_PER_SECOND,
  max: EMULATOR_MAX_REQUESTS_PER_SECOND,
  what: "requests per second (AWS allows 1)",
});
const yearsArg = numberArg({ min: 0, minExclusive: true, max: 20, what: "a number of years" });
const faultRateArg = numberArg({ min: 0, max: 1, what: "a fault rate (0.2 = 20%)" });
const seedArg = numberArg({ integer: true, min: 0, max: 0xffffffff, what: "an integer seed" });
const recordsPerPrArg = numberArg({
  integer: true,
  min: 1,
  max: MAX_RECORDS_PER_PR,
  what: "a number of records per PR",
});

function endpointArg(value: string): string {
  const e = readEndpoint(value);
  // An InputError, not commander's InvalidArgumentError: commander would echo
  // the raw value, password included; readEndpoint's problem shows it redacted.
  if ("problem" in e)
    throw new InputError({
      // The value may come from the environment (world.env): say so.
      ...(value === process.env.AWS_ENDPOINT_URL
        ? { file: "environment", field: "AWS_ENDPOINT_URL (--endpoint)" }
        : { file: "argv", field: "--endpoint" }),
      problem: e.problem,
      hint: "e.g. http://127.0.0.1:4566",
    });
  return e.text;
}

const ARGV = (field: string) => ({ file: "argv", field });

function recordFolderArg(value: string): string {
  try {
    return checkRecordFolder(value, ARGV("--record-folder"));
  } catch (err) {
    if (err instanceof InputError)
      throw new InvalidArgumentError(`${err.parts.problem} (hint: ${err.parts.hint})`);
    throw err;
  }
}

/** The stack file with the record folder the flags give. */
const projectConfig = (g: GlobalOptions) =>
  loadConfig(g.config, undefined, { recordFolder: g.recordFolder });

function engine(g: GlobalOptions): {
  ctx: EngineContext;
  config: ProjectConfig;
  aws: ReturnType<typeof buildAwsAdapters>;
  close(): void;
} {
  const config = projectConfig(g);
  const repo = resolve(g.repo);
  checkRecordRepo(repo, ARGV("--repo"), g.recordFolder);
  const onSecret = () => {
    // Nothing to mask on a terminal; the value is never printed. The action masks with core.setSecret.
  };
  const aws = buildAwsAdapters({
    config,
    endpoint: g.endpoint,
    requestsPerSecond: g.requestsPerSecond,
    requestsPerSecondSource: ARGV("--requests-per-second"),
    onSecret,
  });
  const ctx: EngineContext = {
    config,
    ses: aws.ses,
    keys: aws.keys,
    ...(aws.canary ? { canary: aws.canary } : {}),
    metrics: undefined,
    dns: new DnsVerifier({}),
    // "On main" from the terminal: committed at HEAD, unchanged (RepoRecords).
    records: new RepoRecords(repo, config, undefined, { warn: (m) => err(`warning: ${m}`) }),
    changes: new WorkingTreeChanges(repo),
    lock: new FileLock(resolve(repo, ".dkim-locks")),
    clock: systemClock,
    log: cliLogger(g.json),
    onSecret,
    changeText: plainChangeText,
    // `retire` takes a retired record out through the identity's publisher
    // (the pipeline's publish job adds merged ones: docs/design.md#publishers);
    // an operator's terminal sends no notifications (the pipeline's jobs do).
    publisherFor: aws.publisherFor,
  };
  return { ctx, config, aws, close: () => aws.destroy() };
}

/** Run `fn` with the engine, always closing its clients. */
async function withEngine(
  g: GlobalOptions,
  fn: (e: ReturnType<typeof engine>) => Promise<CommandOutcome>,
): Promise<CommandOutcome> {
  const e = engine(g);
  try {
    return await fn(e);
  } finally {
    e.close();
  }
}

/** `--fail-on-alert`: exit 6 when any decision carries an ALERT. */
function alertOutcome(
  outcome: CommandOutcome,
  decisions: Decision[],
  failOnAlert: boolean,
): CommandOutcome {
  const alerted = decisions.filter((d) => d.alerts.length || d.kind === "alert");
  if (!failOnAlert || !alerted.length || outcome.exitCode) return outcome;
  return {
    ...outcome,
    exitCode: ALERT_EXIT_CODE,
    error: {
      kind: "alert",
      message: `ALERT on ${alerted.length} identit${alerted.length === 1 ? "y" : "ies"}: ${alerted
        .map((d) => `${d.domain} (${d.alerts.map((a) => a.kind).join(", ") || d.reason})`)
        .join("; ")}`,
    },
  };
}

const failOnAlertOption = () =>
  new Option(
    "--fail-on-alert",
    `exit ${ALERT_EXIT_CODE} when any identity has an ALERT (for scripts and cron)`,
  ).default(false);

/** The package's version, from the package.json beside scripts/ (the one npm installed). */
/** Imported, not read from disk: a bundled CLI (the crash tests bundle it) has no package.json beside it. */
function packageVersion(): string {
  return packageJson.version;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("dkim")
    .version(packageVersion(), "-V, --version", "print the version (package.json) and exit")
    .description(
      "Rotate Amazon SES BYODKIM keys safely: DNS first, a human gate, zero downtime.\n" +
        `Exit codes: 0 ok, 1 failure, 2 bad input (nothing written), 3 refused (precondition not met; safe to re-run), 4 activation rolled back, 5 another run holds the domain's lock, ${ALERT_EXIT_CODE} an ALERT with --fail-on-alert.\n` +
        "With --json, stdout is exactly one JSON document (schema ses-dkim-rotation/cli/v1) for every outcome, errors included.",
    )
    // The environment's values (a served world's world.env sets them) come after the flags.
    .addOption(
      new Option("-c, --config <file>", "Pulumi stack file holding <project>:identities")
        .env("DKIM_CONFIG")
        .default(DEFAULT_CONFIG_FILE),
    )
    .addOption(
      new Option("--repo <dir>", "checkout whose record folder holds the record files on main")
        .env("DKIM_REPO")
        .default("."),
    )
    .option(
      "--record-folder <dir>",
      "folder of the record files, relative to --repo",
      recordFolderArg,
      RECORD_DIR,
    )
    .option("--json", "print one JSON document on stdout, whatever the outcome", false)
    .option("--debug", "show stack traces and the AWS SDK's runtime warnings", false)
    .addOption(
      new Option(
        "--endpoint <url>",
        "AWS endpoint override (the emulator of `npm run world` or the sandbox); real AWS when absent",
      )
        .env("AWS_ENDPOINT_URL")
        .argParser(endpointArg),
    )
    .addOption(
      new Option(
        "--requests-per-second <n>",
        "SES pacing per Region (AWS allows 1; more only with --endpoint)",
      ).argParser(rateArg),
    );

  const g = () => program.opts<GlobalOptions>();

  program
    .command("status")
    .description(
      "show every identity: active selector, SES status per Region, key age, days to expiry, next step",
    )
    .addOption(failOnAlertOption())
    .action(
      handle(async (o: { failOnAlert: boolean }) =>
        withEngine(g(), async (e) => {
          const snaps = await snapshotAll(e.ctx);
          const decisions = snaps.map((s) => s.decision);
          return alertOutcome(
            {
              result: { identities: statusRows(snaps), decisions },
              text: renderStatus(snaps),
            },
            decisions,
            o.failOnAlert,
          );
        }),
      ),
    );

  program
    .command("plan")
    .description(
      "decide the next step per identity; with --apply generate keys and write record files / open PRs (never swaps SES)",
    )
    .option("--apply", "carry out rotate and retire steps", false)
    .option("--domain <domain...>", "limit to these identities", domainArg)
    .option(
      "--records-per-pr <n>",
      `new records one record PR carries, 1-${MAX_RECORDS_PER_PR} (overrides github.recordsPerPr; PRs are opened by the GitHub Action, this CLI writes each record file, so it writes the same files whatever n is)`,
      recordsPerPrArg,
    )
    .addOption(failOnAlertOption())
    .action(
      handle(
        async (o: {
          apply: boolean;
          domain?: string[];
          recordsPerPr?: number;
          failOnAlert: boolean;
        }) =>
          withEngine(g(), async (e) => {
            const { outcomes, sesReads } = await runPlan(e.ctx, {
              apply: o.apply,
              domains: o.domain,
              ...(o.recordsPerPr ? { recordsPerPr: o.recordsPerPr } : {}),
            });
            const failed = outcomes.filter((x) => x.error);
            const outcome: CommandOutcome = {
              result: { outcomes, sesReads },
              text: renderPlan(outcomes, sesReads),
            };
            if (failed.length) {
              outcome.exitCode = ExitCode.failure;
              outcome.error = {
                kind: "failure",
                message: failed.map((x) => `${x.domain}: ${x.error}`).join("; "),
              };
            }
            return alertOutcome(
              outcome,
              outcomes.map((x) => x.decision),
              o.failOnAlert,
            );
          }),
      ),
    );

  program
    .command("verify")
    .description("query every authoritative nameserver directly for <selector>._domainkey.<domain>")
    .requiredOption("--domain <domain>", "identity", oneDomainArg)
    .requiredOption("--selector <selector>", "selector to check", selectorArg)
    .addOption(
      new Option(
        "--key-source <source>",
        "compare p= with the stored private key (needs the activator role) or the record file on main",
      )
        .choices(["stored", "record"])
        .default("stored"),
    )
    .action(
      handle(async (o: { domain: string; selector: string; keySource: "stored" | "record" }) =>
        withEngine(g(), async (e) => {
          const v = await runVerify(e.ctx, o.domain, o.selector, o.keySource);
          return {
            result: v,
            text: renderVerification(v),
            ...(v.ok
              ? {}
              : {
                  exitCode: ExitCode.refused,
                  error: {
                    kind: "refused" as const,
                    message: `${o.selector}._domainkey.${o.domain} is not verified on every authoritative nameserver`,
                  },
                }),
          };
        }),
      ),
    );

  const swapCommand = (name: "activate" | "rollback") =>
    program
      .command(name)
      .description(
        name === "activate"
          ? "swap SES to the selector in every Region, only if DNS serves the stored key on every authoritative nameserver; roll back on failure"
          : "swap SES back to an older selector that is still published (same DNS check)",
      )
      .requiredOption("--domain <domain>", "identity", oneDomainArg)
      .requiredOption(
        name === "activate" ? "--selector <selector>" : "--to <selector>",
        "target selector",
        selectorArg,
      )
      .option("--dry-run", "check every precondition, change nothing", false)
      .action(
        handle(async (o: { domain: string; selector?: string; to?: string; dryRun: boolean }) =>
          withEngine(g(), async (e) => {
            const target = (o.selector ?? o.to)!;
            const report =
              name === "activate"
                ? await runActivate(e.ctx, o.domain, target, { dryRun: o.dryRun })
                : await runRollback(e.ctx, o.domain, target, { dryRun: o.dryRun });
            return { result: report, text: renderSwap(report) };
          }),
        ),
      );
  swapCommand("activate");
  swapCommand("rollback");

  program
    .command("retire")
    .description(
      "after graceDays of SES SUCCESS on the new key: remove the old record file and schedule its key for deletion",
    )
    .requiredOption("--domain <domain>", "identity", oneDomainArg)
    .requiredOption("--selector <selector>", "old selector", selectorArg)
    .option("--dry-run", "say what would happen", false)
    .action(
      handle(async (o: { domain: string; selector: string; dryRun: boolean }) =>
        withEngine(g(), async (e) => {
          const report = await runRetire(e.ctx, o.domain, o.selector, { dryRun: o.dryRun });
          return { result: report, text: renderRetire(report) };
        }),
      ),
    );

  program
    .command("reports")
    .description(
      "read new DMARC aggregate reports from dmarcReports.bucket/prefix: count per domain, selector and result, publish per-selector metrics, record when each selector was last seen, alarm on the newest selector's failures, mark reports processed",
    )
    .option("--dry-run", "read and count, write nothing (no metric, tag, notice or mark)", false)
    .addOption(failOnAlertOption())
    .action(
      handle(async (o: { dryRun: boolean; failOnAlert: boolean }) =>
        withEngine(g(), async (e) => {
          // The terminal publishes these metrics (the alarms need them), unlike status and plan.
          const report = await runReports(
            { ...e.ctx, metrics: e.aws.metrics },
            e.aws.dmarcReports,
            { dryRun: o.dryRun },
          );
          return {
            result: report,
            text: renderReports(report),
            ...(o.failOnAlert && report.alarms.length
              ? {
                  exitCode: ALERT_EXIT_CODE,
                  error: { kind: "alert" as const, message: report.alarms.join("; ") },
                }
              : {}),
          };
        }),
      ),
    );

  registerAdopt(program, () => ({ ...engine(g()), endpoint: g().endpoint, json: g().json }));

  program
    .command("doctor")
    .description(
      "read-only check of the estate: the AWS caller, SES per Region, KMS, Secrets Manager, nameservers over UDP and TCP, record files, and GitHub (with GITHUB_TOKEN); exit 1 on any fail",
    )
    .action(
      handle(() =>
        withEngine(g(), async (e) => {
          const checks = await runDoctor({
            ...e.ctx,
            repoRoot: resolve(g().repo),
            kms: e.aws.kmsRead,
            caller: e.aws.caller,
            ...(e.aws.receiving ? { receiving: e.aws.receiving } : {}),
            dns: new DnsVerifier({}),
            github: doctorGitHub(e.config, process.env.GITHUB_TOKEN, {
              apiUrl: process.env.GITHUB_API_URL,
            }),
            githubSkip: doctorGitHubSkip(e.config, process.env.GITHUB_TOKEN),
          });
          const failed = checks.filter((c) => c.status === "fail");
          return {
            result: { checks },
            text: renderDoctor(checks),
            ...(hasFailure(checks)
              ? {
                  exitCode: ExitCode.failure,
                  error: {
                    kind: "failure" as const,
                    message: `doctor: ${failed.length} check(s) failed; first: ${failed[0]!.check}: ${failed[0]!.detail}`,
                  },
                }
              : {}),
          };
        }),
      ),
    );

  program
    .command("check-records")
    .description(
      "validate every <record folder>/<domain>/<selector>.zone offline: syntax, 255-byte strings, selector, key size, fingerprint, stray files",
    )
    .option(
      "--pr-branch <branch>",
      "the pull request's head branch (github.head_ref); a dkim/ or dkim-retire/ branch may change only its own record file (empty: not a PR)",
      "",
    )
    .option(
      "--diff-base <rev>",
      "with --pr-branch: the PR's change is git diff <rev> HEAD (on a pull_request merge commit, HEAD^1 is the base branch)",
      "HEAD^1",
    )
    .action(
      handle(async (opts: { prBranch: string; diffBase: string }) => {
        const config = projectConfig(g());
        const repo = resolve(g().repo);
        checkRecordRepo(repo, ARGV("--repo"), g().recordFolder);
        const checked = checkAllRecords(repo, config);
        const { records } = checked;
        // A record PR touching anything besides its own file (docs/design.md#bot-branches).
        const errors = [
          ...(await checkRecordPrScope(repo, opts.prBranch, recordFolderOf(config), opts.diffBase)),
          ...checked.errors,
        ];
        const text = [
          ...records.map((r) => `ok    ${r.path} (RSA-${r.keyBits})`),
          ...errors.map((x) => `error ${x.message}`),
          // Say what was checked even when it is nothing: silence reads as "not run".
          `${records.length} record file${records.length === 1 ? "" : "s"} checked in ${g().recordFolder}/${errors.length ? `, ${errors.length} problem(s)` : ""}`,
        ].join("\n");
        return {
          result: { records: records.map((r) => r.path), errors: errors.map((x) => x.message) },
          text,
          ...(errors.length
            ? {
                exitCode: ExitCode.badInput,
                error: {
                  kind: "input" as const,
                  message: `${errors.length} record file problem(s); first: ${errors[0]!.message}`,
                },
              }
            : {}),
        };
      }),
    );

  program
    .command("sandbox")
    .description(
      "run the whole lifecycle locally on a simulated clock (no AWS, GitHub or network) and prove no mail lost its DKIM signature",
    )
    .option(
      "--out <dir>",
      "artifacts: zones/, mail/, report.json, report.md, report.html (emptied first: new, empty or an earlier sandbox output only)",
      "sandbox-out",
    )
    .option("--years <n>", "simulated years", yearsArg, 2)
    .addOption(
      new Option(
        "--naive",
        "run the seed documents' swap-before-DNS flow instead, for comparison",
      ).default(false),
    )
    .addOption(
      new Option(
        "--faults <rate>",
        "inject seeded faults (AWS throttling, 5xx, timeouts, slow answers, SES status; DNS stale, wrong key, malformed, truncated) at this rate",
      )
        .argParser(faultRateArg)
        // The naive flow breaks DKIM on its own; faults measure the pipeline.
        .conflicts("naive"),
    )
    .option("--seed <n>", "seed for --faults (same seed, same faults)", seedArg, 1)
    .option(
      "--ses-quirks",
      "SES answers as its docs also allow: empty BYODKIM Tokens, TEMPORARY_FAILURE spells after SUCCESS",
      false,
    )
    .addOption(
      new Option(
        "--easy-dkim-switch-back <reading>",
        "what SES gives when an identity goes back to Easy DKIM (AWS does not say): new-tokens (unpublished CNAMEs) or same-tokens",
      )
        .choices(["new-tokens", "same-tokens"])
        .default("new-tokens"),
    )
    .option(
      "--ses-wrong-key",
      "SES signs every new key with another one (emulator switch): each activation's canary must fail and roll back",
      false,
    )
    .addOption(
      new Option(
        "--publisher <kind>",
        "who puts a merged record into DNS: manual (the DNS team by hand, dnsLeadDays after the merge), rfc2136 (the action's nsupdate with TSIG to a real BIND named primary that ns1/ns2 follow by zone transfer; needs named, nsupdate, dig, tsig-keygen) or route53 (the action's UPSERT to the emulator's Route 53, served by ns1/ns2 once INSYNC)",
      )
        .choices(["manual", "rfc2136", "route53"])
        .default("manual")
        .conflicts("naive"),
    )
    .addOption(
      new Option(
        "--approval <mode>",
        "who approves the gated decisions: environment (required reviewers of the gated environment) or pull-request (two code owners review and merge each approval request PR; docs/design.md#approval-request-flow)",
      )
        .choices(["environment", "pull-request"])
        .default("environment")
        .conflicts("naive"),
    )
    .action(
      handle(
        async (
          o: {
            out: string;
            years: number;
            naive: boolean;
            approval: "environment" | "pull-request";
            faults?: number;
            seed: number;
            sesQuirks: boolean;
            sesWrongKey: boolean;
            easyDkimSwitchBack: "new-tokens" | "same-tokens";
            publisher: "manual" | "rfc2136" | "route53";
          },
          command,
        ) => {
          if (command.getOptionValueSource("seed") === "cli" && o.faults === undefined)
            throw new InputError({
              ...ARGV("--seed"),
              problem: "is used only with --faults",
              hint: "add --faults RATE, or drop --seed",
            });
          const problem = sandboxOutProblem(o.out);
          if (problem)
            throw new InputError({
              ...ARGV("--out"),
              problem,
              hint: "choose a new or empty folder, e.g. --out sandbox-out",
            });
          const quiet = g().json;
          const lines: string[] = [];
          const progress = new ProgressLine(process.stderr, { json: quiet });
          // Loaded on demand: the sandbox pulls in the emulator and mailauth, which
          // every other command would otherwise pay for at start-up.
          const { runSandbox, publicationLine } = await import("./sandbox/run");
          const report = await runSandbox({
            out: o.out,
            years: o.years,
            naive: o.naive,
            sesQuirks: o.sesQuirks,
            sesWrongKey: o.sesWrongKey,
            easyDkimSwitchBack: o.easyDkimSwitchBack,
            publisher: o.publisher,
            approval: o.approval,
            ...(o.faults !== undefined ? { faults: { rate: o.faults, seed: o.seed } } : {}),
            print: quiet
              ? undefined
              : (line) => {
                  // A timeline line replaces the progress line, which the next update redraws.
                  progress.clear();
                  process.stdout.write(`${line}\n`);
                },
            progress: (line) => progress.update(line),
          }).finally(() => progress.clear());
          if (report.dmarc) lines.push("", ...renderDmarcFigures(report.dmarc).split("\n"));
          lines.push(
            "",
            `messages ${report.messages}  verified ${report.verified}  unsigned ${report.unsigned}  failed ${report.failed}`,
          );
          if (o.publisher !== "manual") lines.push(publicationLine(report.publication));
          if (report.approvals)
            lines.push(
              `approval PRs ${report.approvals.prs} for ${report.approvals.decisions} decisions; ${report.approvals.merged} reviewed and merged`,
            );
          if (report.mode === "pipeline")
            lines.push(
              `canary verdicts: ${report.canary.passed} passed, ${report.canary.failed} failed, ${report.canary.notRun} not run (SES failed first); Region swaps without one: ${report.canary.swapsWithoutCanary}`,
            );
          if (report.faults) {
            const f = report.faults;
            lines.push(
              `faults injected ${Object.entries(f.injected)
                .map(([k, v]) => `${k} ${v}`)
                .join(
                  ", ",
                )}; failed calls ${f.failedCalls}; failed runs retried ${f.errorsSurvived}; refusals ${f.refusals.length}; rollbacks ${f.rollbacks.length}`,
            );
          }
          if (report.sesQuirks)
            lines.push(
              `SES quirks: ${report.sesQuirks.temporaryFailureSpells} TEMPORARY_FAILURE spell(s) after SUCCESS; Tokens [] for every BYODKIM identity (${report.sesQuirks.getEmailIdentityCalls} GetEmailIdentity calls)`,
            );
          lines.push(
            `${report.ok ? "PASS" : "FAIL"}: ${report.verdict}`,
            `artifacts: ${resolve(o.out)}/{report.json,report.md,report.html,timeline.txt,timeline.json,zones/,mail/}`,
          );
          return {
            result: report,
            text: lines.join("\n"),
            ...(report.ok
              ? {}
              : {
                  exitCode: ExitCode.failure,
                  error: { kind: "failure" as const, message: report.verdict },
                }),
          };
        },
      ),
    );

  program
    .command("completion")
    .description("print a bash or zsh completion script for dkim and ses-dkim-rotation")
    .addArgument(new Argument("<shell>", "bash or zsh").choices(["bash", "zsh"]))
    .action(
      handle(async (_o, command) => {
        const shell = command.processedArgs[0] as "bash" | "zsh";
        const script = shell === "bash" ? bashCompletion(program) : zshCompletion(program);
        return { result: { shell, script }, text: script.trimEnd() };
      }),
    );

  return program;
}

export async function main(argv: string[]): Promise<number> {
  // The AWS SDK warns on stderr that its 2027 releases need Node 22; the
  // supported Node versions and why are in README.md. --debug shows it.
  if (!argv.includes("--debug"))
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  return runCli(buildProgram(), argv, {
    renderErrorReport: (e) =>
      e instanceof ActivationFailedError ? renderSwap(e.report) : undefined,
    describeError: (e) => {
      const none = missingCredentials(e);
      return none && `${none.problem} (${none.fix})`;
    },
  });
}

const invokedDirectly =
  process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
