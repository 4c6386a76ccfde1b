/**
 * Operator CLI: `npm run dkim -- <command>`. A thin front end over the same
 * engine the GitHub Action runs. Exit codes are documented in README.md.
 */
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { systemClock } from "../actions/dkim-rotation/src/engine/clock";
import {
  DEFAULT_CONFIG_FILE,
  loadConfig,
  type ProjectConfig,
} from "../actions/dkim-rotation/src/engine/config";
import {
  ExitCode,
  InputError,
  oneLine,
  RefusalError,
} from "../actions/dkim-rotation/src/engine/errors";
import {
  renderPlan,
  renderRetire,
  renderStatus,
  renderSwap,
  renderVerification,
  statusRows,
} from "../actions/dkim-rotation/src/engine/format";
import {
  ActivationFailedError,
  LockedError,
  runActivate,
  runPlan,
  runRetire,
  runRollback,
  runVerify,
  snapshotAll,
  type EngineContext,
  type Logger,
} from "../actions/dkim-rotation/src/engine/operations";
import { checkAllRecords, RepoRecords } from "../actions/dkim-rotation/src/engine/records";
import { isValidSelector } from "../actions/dkim-rotation/src/engine/selector";
import { DnsVerifier } from "../actions/dkim-rotation/src/adapters/dns";
import { FileLock, WorkingTreeChanges } from "../actions/dkim-rotation/src/adapters/local";
import { buildAwsAdapters } from "../actions/dkim-rotation/src/context";
import { registerAdopt } from "./dkim-adopt";

interface GlobalOptions {
  config: string;
  repo: string;
  json: boolean;
  debug: boolean;
  endpoint?: string;
  requestsPerSecond?: number;
}

const out = (s: string) => process.stdout.write(`${s}\n`);
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

function selectorArg(value: string): string {
  if (!isValidSelector(value)) {
    throw new InvalidArgumentError(
      `"${value}" is not a valid SES selector (1–63 letters, digits, inner hyphens)`,
    );
  }
  return value;
}

function rateArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1000)
    throw new InvalidArgumentError("must be a number in (0, 1000]");
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 20)
    throw new InvalidArgumentError("must be a number of years in (0, 20]");
  return n;
}

function faultRate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError("must be a fault rate between 0 and 1 (0.2 = 20%)");
  return n;
}

function seed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new InvalidArgumentError("must be an integer seed 0–4294967295");
  return n;
}

function engine(g: GlobalOptions): { ctx: EngineContext; config: ProjectConfig; close(): void } {
  const config = loadConfig(g.config);
  const repo = resolve(g.repo);
  const onSecret = () => {
    // Nothing to mask on a terminal; the value is never printed. The action masks with core.setSecret.
  };
  const aws = buildAwsAdapters({
    config,
    endpoint: g.endpoint,
    requestsPerSecond: g.requestsPerSecond,
    onSecret,
  });
  const ctx: EngineContext = {
    config,
    ses: aws.ses,
    keys: aws.keys,
    metrics: undefined,
    dns: new DnsVerifier({}),
    records: new RepoRecords(repo, config),
    changes: new WorkingTreeChanges(repo),
    lock: new FileLock(resolve(repo, ".dkim-locks")),
    clock: systemClock,
    log: cliLogger(g.json),
    onSecret,
  };
  return { ctx, config, close: () => aws.destroy() };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("dkim")
    .description(
      "Rotate Amazon SES BYODKIM keys safely: DNS first, a human gate, zero downtime.\n" +
        "Exit codes: 0 ok, 1 failure, 2 bad input (nothing written), 3 refused (precondition not met; safe to re-run), 4 activation rolled back, 5 another run holds the domain's lock.",
    )
    .option(
      "-c, --config <file>",
      "Pulumi stack file holding <project>:identities",
      DEFAULT_CONFIG_FILE,
    )
    .option("--repo <dir>", "checkout whose dns/ holds the record files on main", ".")
    .option("--json", "print one JSON document on stdout", false)
    .option("--debug", "show stack traces", false)
    .option(
      "--endpoint <url>",
      "AWS endpoint override (the sandbox emulator); real AWS when absent",
    )
    .addOption(
      new Option("--requests-per-second <n>", "SES pacing per Region (AWS allows 1)").argParser(
        rateArg,
      ),
    )
    // Invariant 6: a usage error is ONE line. showHelpAfterError would print its
    // hint as a second line, so the hint rides on the error line instead.
    // Subcommands inherit this output configuration.
    .configureOutput({
      outputError: (message, write) =>
        write(`${oneLine(message.trimEnd())} (run with --help for usage)\n`),
    })
    .exitOverride();

  const g = () => program.opts<GlobalOptions>();

  program
    .command("status")
    .description(
      "show every identity: active selector, SES status per Region, key age, days to expiry, next step",
    )
    .action(async () => {
      const e = engine(g());
      try {
        const snaps = await snapshotAll(e.ctx);
        out(
          g().json
            ? JSON.stringify(
                { identities: statusRows(snaps), decisions: snaps.map((s) => s.decision) },
                null,
                2,
              )
            : renderStatus(snaps),
        );
      } finally {
        e.close();
      }
    });

  program
    .command("plan")
    .description(
      "decide the next step per identity; with --apply generate keys and write record files / open PRs (never swaps SES)",
    )
    .option("--apply", "carry out rotate and retire steps", false)
    .option("--domain <domain...>", "limit to these identities")
    .action(async (o: { apply: boolean; domain?: string[] }) => {
      const e = engine(g());
      try {
        const { outcomes } = await runPlan(e.ctx, { apply: o.apply, domains: o.domain });
        out(g().json ? JSON.stringify({ outcomes }, null, 2) : renderPlan(outcomes));
        if (outcomes.some((x) => x.error)) process.exitCode = ExitCode.failure;
      } finally {
        e.close();
      }
    });

  program
    .command("verify")
    .description("query every authoritative nameserver directly for <selector>._domainkey.<domain>")
    .requiredOption("--domain <domain>", "identity")
    .requiredOption("--selector <selector>", "selector to check", selectorArg)
    .addOption(
      new Option(
        "--key-source <source>",
        "compare p= with the stored private key (needs the activator role) or the record file on main",
      )
        .choices(["stored", "record"])
        .default("stored"),
    )
    .action(async (o: { domain: string; selector: string; keySource: "stored" | "record" }) => {
      const e = engine(g());
      try {
        const v = await runVerify(e.ctx, o.domain, o.selector, o.keySource);
        out(g().json ? JSON.stringify(v, null, 2) : renderVerification(v));
        if (!v.ok) process.exitCode = ExitCode.refused;
      } finally {
        e.close();
      }
    });

  const swapCommand = (name: "activate" | "rollback") =>
    program
      .command(name)
      .description(
        name === "activate"
          ? "swap SES to the selector in every Region, only if DNS serves the stored key on every authoritative nameserver; roll back on failure"
          : "swap SES back to an older selector that is still published (same DNS check)",
      )
      .requiredOption("--domain <domain>", "identity")
      .requiredOption(
        name === "activate" ? "--selector <selector>" : "--to <selector>",
        "target selector",
        selectorArg,
      )
      .option("--dry-run", "check every precondition, change nothing", false)
      .action(async (o: { domain: string; selector?: string; to?: string; dryRun: boolean }) => {
        const e = engine(g());
        try {
          const target = (o.selector ?? o.to)!;
          const report =
            name === "activate"
              ? await runActivate(e.ctx, o.domain, target, { dryRun: o.dryRun })
              : await runRollback(e.ctx, o.domain, target, { dryRun: o.dryRun });
          out(g().json ? JSON.stringify(report, null, 2) : renderSwap(report));
        } finally {
          e.close();
        }
      });
  swapCommand("activate");
  swapCommand("rollback");

  program
    .command("retire")
    .description(
      "after graceDays of SES SUCCESS on the new key: remove the old record file and schedule its key for deletion",
    )
    .requiredOption("--domain <domain>", "identity")
    .requiredOption("--selector <selector>", "old selector", selectorArg)
    .option("--dry-run", "say what would happen", false)
    .action(async (o: { domain: string; selector: string; dryRun: boolean }) => {
      const e = engine(g());
      try {
        const report = await runRetire(e.ctx, o.domain, o.selector, { dryRun: o.dryRun });
        out(g().json ? JSON.stringify(report, null, 2) : renderRetire(report));
      } finally {
        e.close();
      }
    });

  registerAdopt(program, () => ({ ...engine(g()), endpoint: g().endpoint, json: g().json }));

  program
    .command("check-records")
    .description(
      "validate every dns/<domain>/<selector>.zone offline: syntax, 255-byte strings, selector, key size, fingerprint",
    )
    .action(async () => {
      const config = loadConfig(g().config);
      const { records, errors } = checkAllRecords(resolve(g().repo), config);
      if (g().json)
        out(
          JSON.stringify(
            { records: records.map((r) => r.path), errors: errors.map((x) => x.message) },
            null,
            2,
          ),
        );
      else {
        for (const r of records) out(`ok    ${r.path} (RSA-${r.keyBits})`);
        for (const x of errors) out(`error ${x.message}`);
      }
      if (errors.length) process.exitCode = ExitCode.badInput;
    });

  program
    .command("sandbox")
    .description(
      "run the whole lifecycle locally on a simulated clock (no AWS, GitHub or network) and prove no mail lost its DKIM signature",
    )
    .option("--out <dir>", "artifacts: zones/, mail/, report.json, report.md", "sandbox-out")
    .option("--years <n>", "simulated years", positiveNumber, 2)
    .option(
      "--naive",
      "run the seed documents' swap-before-DNS flow instead, for comparison",
      false,
    )
    .option(
      "--faults <rate>",
      "inject seeded faults (AWS throttling, 5xx, timeouts, slow answers, SES status; DNS stale, wrong key, malformed, truncated) at this rate",
      faultRate,
    )
    .option("--seed <n>", "seed for --faults (same seed, same faults)", seed, 1)
    .option(
      "--ses-quirks",
      "SES answers as its docs also allow: empty BYODKIM Tokens, TEMPORARY_FAILURE spells after SUCCESS",
      false,
    )
    .action(
      async (o: {
        out: string;
        years: number;
        naive: boolean;
        faults?: number;
        seed: number;
        sesQuirks: boolean;
      }) => {
        const quiet = g().json;
        // Loaded on demand: the sandbox pulls in the emulator and mailauth, which
        // every other command would otherwise pay for at start-up.
        const { runSandbox } = await import("./sandbox/run");
        const report = await runSandbox({
          out: o.out,
          years: o.years,
          naive: o.naive,
          sesQuirks: o.sesQuirks,
          ...(o.faults !== undefined ? { faults: { rate: o.faults, seed: o.seed } } : {}),
          print: quiet ? undefined : out,
          progress: (line) =>
            process.stderr.isTTY ? process.stderr.write(`\r${line}   `) : undefined,
        });
        if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
        if (quiet) out(JSON.stringify(report, null, 2));
        else {
          out("");
          out(
            `messages ${report.messages}  verified ${report.verified}  unsigned ${report.unsigned}  failed ${report.failed}`,
          );
          if (report.faults) {
            const f = report.faults;
            out(
              `faults injected ${Object.entries(f.injected)
                .map(([k, v]) => `${k} ${v}`)
                .join(
                  ", ",
                )}; failed calls ${f.failedCalls}; failed runs retried ${f.errorsSurvived}; refusals ${f.refusals.length}; rollbacks ${f.rollbacks.length}`,
            );
          }
          if (report.sesQuirks)
            out(
              `SES quirks: ${report.sesQuirks.temporaryFailureSpells} TEMPORARY_FAILURE spell(s) after SUCCESS; Tokens [] for every BYODKIM identity (${report.sesQuirks.getEmailIdentityCalls} GetEmailIdentity calls)`,
            );
          out(`${report.ok ? "PASS" : "FAIL"}: ${report.verdict}`);
          out(`artifacts: ${resolve(o.out)}/{report.json,report.md,zones/,mail/}`);
        }
        if (!report.ok) process.exitCode = ExitCode.failure;
      },
    );

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const debug = argv.includes("--debug");
  try {
    await program.parseAsync(argv, { from: "user" });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander already printed its one-line message (or help/version).
      return e.exitCode === 0 ? 0 : ExitCode.badInput;
    }
    if (debug && e instanceof Error) err(e.stack ?? e.message);
    else err(`error: ${oneLine(e)}`);
    if (e instanceof InputError) return ExitCode.badInput;
    if (e instanceof RefusalError) return ExitCode.refused;
    if (e instanceof ActivationFailedError) {
      if (!program.opts<GlobalOptions>().json) err(renderSwap(e.report));
      return e.report.outcome === "rolled-back" ? ExitCode.rolledBack : ExitCode.failure;
    }
    if (e instanceof LockedError) return ExitCode.locked;
    return ExitCode.failure;
  }
}

const invokedDirectly =
  process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
