/**
 * The CLI's output contract, apart from its commands (README.md, "Operator
 * CLI"): every command returns a `CommandOutcome`; `runCli` prints it as text
 * or, with `--json`, as exactly one JSON document on stdout — results,
 * refusals, usage errors and failures alike — with the exit code inside.
 * A command added with `program.command(...).action(handle(...))` gets the
 * contract without doing anything else.
 */
import { Command, CommanderError } from "commander";
import {
  ExitCode,
  InputError,
  oneLine,
  RefusalError,
} from "../actions/dkim-rotation/src/engine/errors";
import { ActivationFailedError } from "../actions/dkim-rotation/src/engine/swap";
import { LockedError } from "../actions/dkim-rotation/src/engine/engine-context";

/** The `schema` field of every JSON document; bump the version on an incompatible change. */
export const CLI_SCHEMA = "ses-dkim-rotation/cli/v1";

/** Exit code of `status`/`plan --fail-on-alert` when a decision carries an ALERT. */
export const ALERT_EXIT_CODE = 6;

export type ErrorKind =
  "usage" | "input" | "refused" | "rolled-back" | "locked" | "alert" | "failure";

/** The one JSON document `--json` prints. */
export interface CliDocument {
  schema: typeof CLI_SCHEMA;
  /** The subcommand, or null when none was recognised (usage error, --help). */
  command: string | null;
  ok: boolean;
  exitCode: number;
  /** What the command found or did (its shape is per command); null when it did not finish. */
  result: unknown;
  error: {
    kind: ErrorKind;
    /** The same one line the terminal shows on stderr (without `error: `). */
    message: string;
    file?: string;
    identity?: string;
    field?: string;
    hint?: string;
  } | null;
}

/** What a command hands back: the JSON result, the terminal text, and an exit code if not 0. */
export interface CommandOutcome {
  result: unknown;
  text?: string;
  exitCode?: number;
  /**
   * With a non-zero exitCode: why, as the document's error. The terminal text
   * already says it, so it is not printed again.
   */
  error?: { kind: ErrorKind; message: string };
}

interface Run {
  command: string | null;
  outcome?: CommandOutcome;
}

let current: Run | undefined;

/**
 * Wrap a command's handler: `(options, command) => outcome` (positional
 * arguments are in `command.processedArgs`). The outcome is printed by
 * `runCli`, never by the handler.
 */
export function handle<O>(
  fn: (options: O, command: Command) => Promise<CommandOutcome>,
): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    // Commander passes (...positional, options, command).
    const command = args[args.length - 1] as Command;
    const options = args[args.length - 2] as O;
    const run = current!;
    run.command = command.name();
    run.outcome = await fn(options, command);
  };
}

/** The argv before a `--` separator: where global flags are looked for before parsing. */
function flagsOf(argv: string[]): string[] {
  const end = argv.indexOf("--");
  return end < 0 ? argv : argv.slice(0, end);
}

function classify(e: unknown): { kind: ErrorKind; exitCode: number } {
  if (e instanceof InputError) return { kind: "input", exitCode: ExitCode.badInput };
  if (e instanceof RefusalError) return { kind: "refused", exitCode: ExitCode.refused };
  if (e instanceof LockedError) return { kind: "locked", exitCode: ExitCode.locked };
  if (e instanceof ActivationFailedError)
    return e.report.outcome === "rolled-back"
      ? { kind: "rolled-back", exitCode: ExitCode.rolledBack }
      : { kind: "failure", exitCode: ExitCode.failure };
  return { kind: "failure", exitCode: ExitCode.failure };
}

/**
 * Parse argv with `program` and print the outcome. Returns the exit code.
 * `render` turns an error's attached report into text (e.g. a rolled-back
 * swap's timeline) for the terminal.
 */
export async function runCli(
  program: Command,
  argv: string[],
  opts: {
    renderErrorReport?: (e: unknown) => string | undefined;
    /** The one line for an error whose own message names no fix (e.g. missing credentials). */
    describeError?: (e: unknown) => string | undefined;
  } = {},
): Promise<number> {
  const flags = flagsOf(argv);
  const json = flags.includes("--json");
  const debug = flags.includes("--debug");
  const stdoutWrite = process.stdout.write.bind(process.stdout);
  const stderrWrite = process.stderr.write.bind(process.stderr);
  const run: Run = { command: null };
  current = run;
  let usage = "";
  let help = "";
  const configure = (cmd: Command) => {
    cmd.configureOutput({
      // Invariant 6: a usage error is ONE line; the hint rides on it.
      outputError: (message, write) => {
        usage = oneLine(message.trimEnd()).replace(/^error: /, "");
        write(`error: ${usage} (run with --help for usage)\n`);
      },
      writeOut: (s) => (json ? (help += s) : stdoutWrite(s)),
      writeErr: (s) => stderrWrite(s),
    });
    cmd.exitOverride();
    cmd.commands.forEach(configure);
  };
  configure(program);

  // With --json, stdout carries the one document only: anything else a
  // command prints goes to stderr.
  if (json)
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
      process.stderr.write(chunk, ...rest)) as typeof process.stdout.write;

  const doc = (d: Omit<CliDocument, "schema" | "command">): CliDocument => ({
    schema: CLI_SCHEMA,
    command: run.command,
    ...d,
  });
  let document: CliDocument;
  let text: string | undefined;
  try {
    await program.parseAsync(argv, { from: "user" });
    const o = run.outcome ?? { result: null };
    const exitCode = o.exitCode ?? 0;
    text = o.text;
    document = doc({
      ok: exitCode === 0,
      exitCode,
      result: o.result,
      error: exitCode === 0 ? null : (o.error ?? { kind: "failure", message: "failed" }),
    });
  } catch (e) {
    if (e instanceof CommanderError) {
      const exitCode = e.exitCode === 0 ? 0 : ExitCode.badInput;
      run.command ??= commandNameIn(program, flags);
      document = doc({
        ok: exitCode === 0,
        exitCode,
        result:
          exitCode !== 0
            ? null
            : e.code === "commander.version"
              ? { version: help.trim() }
              : { help },
        error:
          exitCode === 0
            ? null
            : {
                kind: "usage",
                message: usage || oneLine(e.message),
                file: "argv",
                field: /option '(-[\w-]+)|argument '(\w+)'|command '([^']*)'/
                  .exec(usage)
                  ?.slice(1)
                  .find(Boolean)
                  ?.slice(0, 60),
              },
      });
    } else {
      const { kind, exitCode } = classify(e);
      const message = opts.describeError?.(e) ?? oneLine(e);
      if (debug && e instanceof Error) stderrWrite(`${e.stack ?? e.message}\n`);
      else stderrWrite(`error: ${message}\n`);
      const report = e instanceof ActivationFailedError ? e.report : null;
      if (!json && report) {
        const rendered = opts.renderErrorReport?.(e);
        if (rendered) stderrWrite(`${rendered}\n`);
      }
      document = doc({
        ok: false,
        exitCode,
        result: report,
        error: {
          kind,
          message,
          ...(e instanceof InputError
            ? {
                file: e.parts.file,
                identity: e.parts.identity,
                field: e.parts.field,
                hint: e.parts.hint,
              }
            : {}),
        },
      });
    }
  } finally {
    process.stdout.write = stdoutWrite as typeof process.stdout.write;
    current = undefined;
  }
  if (json) stdoutWrite(`${JSON.stringify(document, null, 2)}\n`);
  else if (text !== undefined) stdoutWrite(`${text}\n`);
  return document.exitCode;
}

/** The subcommand named in argv, if any (for a usage error's document). */
function commandNameIn(program: Command, flags: string[]): string | null {
  const names = new Set(program.commands.map((c) => c.name()));
  return flags.find((a) => names.has(a)) ?? null;
}
