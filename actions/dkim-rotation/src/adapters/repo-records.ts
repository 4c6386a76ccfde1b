/**
 * Record files as they are on the main branch (the checkout), and the checks
 * the DNS-review workflow runs on them without any AWS access: the record
 * source adapter over a git checkout.
 */
import { execFile } from "node:child_process";
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  statSync,
  type Dirent,
  type Stats,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ProjectConfig } from "../engine/config";
import { InputError } from "../engine/errors";
import type { RecordOnMain } from "../engine/ports";
import { recordFolderOf, RECORD_DIR } from "../engine/record";
import { quote } from "../engine/values";
import {
  type BatchEntry,
  batchBranchProblem,
  botBranchChange,
  isBatchBranch,
  recordOfPath,
} from "./branches";
import {
  duplicateKeyError,
  parseFor,
  validateRecordFile,
  type RecordSource,
} from "../engine/records";

const execFileAsync = promisify(execFile);

/**
 * The record folder of a checkout, or undefined when it does not exist yet.
 * The folder and every folder above it must be real directories: a link
 * could lead out of the repository, to files reviewers never saw in a PR.
 * Throws InputError naming the offending path.
 */
export function recordFolderStat(repoDir: string, folder: string): Stats | undefined {
  const segments = folder.split("/");
  let stat: Stats | undefined;
  for (let i = 1; i <= segments.length; i++) {
    const rel = segments.slice(0, i).join("/");
    stat = lstatSync(join(repoDir, rel), { throwIfNoEntry: false });
    if (!stat) return undefined;
    if (stat.isDirectory()) continue;
    throw new InputError({
      file: rel,
      field: "(file)",
      problem: stat.isSymbolicLink()
        ? "is a symbolic link; the record folder must be part of the repository"
        : i === segments.length
          ? "is a file, not the record folder"
          : "is a file, not a folder",
      hint: `record files live in ${folder}/<domain>/<selector>.zone`,
    });
  }
  return stat;
}

/**
 * A checkout the engine may read records from and write them into: an
 * existing directory that is a work tree (`.git`) or already holds the record
 * folder (`dns/` by default), with the folder and each folder above it (when
 * present) a real directory, never a link out of the repository. `source`
 * names the flag or input that gave the path. Throws InputError; touches nothing.
 */
export function checkRecordRepo(
  repoDir: string,
  source: { file: string; field: string },
  folder: string = RECORD_DIR,
): void {
  const bad = (problem: string, hint: string) => {
    throw new InputError({ ...source, problem, hint });
  };
  let stat;
  try {
    stat = statSync(repoDir, { throwIfNoEntry: false });
  } catch (err) {
    bad(
      `${quote(repoDir)} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      `pass the repository checkout that holds ${folder}/`,
    );
  }
  if (!stat)
    bad(`${quote(repoDir)} does not exist`, `pass the repository checkout that holds ${folder}/`);
  if (!stat!.isDirectory())
    bad(
      `${quote(repoDir)} is not a directory`,
      `pass the repository checkout that holds ${folder}/`,
    );
  const dns = recordFolderStat(repoDir, folder);
  if (!dns && !existsSync(join(repoDir, ".git")))
    bad(
      `${quote(repoDir)} is not a work tree with ${folder}/ (neither ${folder}/ nor .git is there)`,
      `pass the repository root; a new repository needs git init (or an empty ${folder}/ folder)`,
    );
}

/** Editor swap/backup files and merge leftovers (vim, emacs, git mergetool, patch, our own temp files). */
const LEFTOVER =
  /(^\.?#|~$|\.(swp|swo|swx|orig|rej|bak|tmp|old)$|_(BASE|LOCAL|REMOTE|BACKUP)_\d+|\.tmp-\d+$|\.merge_file_)/;

/** Top-level files of the record folder that are documentation, not records. */
const RECORD_DIR_DOCS = new Set(["README.md", "README", ".gitkeep", "CODEOWNERS"]);

function notRecord(rel: string, problem: string, hint: string, identity?: string): InputError {
  return new InputError({ file: rel, identity, field: "(file)", problem, hint });
}

/**
 * The record files of one domain directory, in name order, refusing anything
 * else that sits there: a symbolic link (it could point outside the
 * repository, and reviewers would approve a file they cannot see in the PR),
 * a directory, an editor or merge leftover, a file that is not `.zone`, an
 * empty file. Returns relative paths; throws the first problem.
 */
function recordFilesOf(repoDir: string, folder: string, domain: string): string[] {
  const dirRel = `${folder}/${domain}`;
  const stat = lstatSync(join(repoDir, dirRel), { throwIfNoEntry: false });
  if (!stat) return [];
  if (!stat.isDirectory())
    throw notRecord(
      dirRel,
      stat.isSymbolicLink() ? "is a symbolic link" : "is a file, not a domain folder",
      `record files live in ${folder}/<domain>/<selector>.zone`,
      domain,
    );
  const out: string[] = [];
  const entries: Dirent[] = readdirSync(join(repoDir, dirRel), { withFileTypes: true });
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = `${dirRel}/${entry.name}`;
    const only = "only <selector>.zone record files belong here";
    if (entry.isSymbolicLink())
      throw notRecord(
        rel,
        "is a symbolic link; record files must be regular files in the repository",
        "replace the link with the file itself",
        domain,
      );
    if (LEFTOVER.test(entry.name))
      throw notRecord(rel, "looks like an editor or merge leftover", `remove it; ${only}`, domain);
    if (entry.isDirectory())
      throw notRecord(
        rel,
        entry.name.endsWith(".zone") ? "is a directory named like a record file" : "is a directory",
        only,
        domain,
      );
    if (!entry.isFile()) throw notRecord(rel, "is not a regular file", only, domain);
    if (!entry.name.endsWith(".zone"))
      throw notRecord(rel, "is not a record file (.zone)", `move or remove it; ${only}`, domain);
    out.push(rel);
  }
  return out;
}

function readRecordText(repoDir: string, rel: string, domain: string): string {
  const text = readFileSync(join(repoDir, rel), "utf8");
  if (!text.trim())
    throw notRecord(
      rel,
      "is empty",
      "a record file holds one TXT record; remove it and let the next plan run write a new one",
      domain,
    );
  return text;
}

/**
 * Reads `<record folder>/<domain>/*.zone` from a checkout; commit times from git when
 * available. Git history is read once per instance (one run of the CLI or the
 * action): create a new instance after the checkout moves.
 */
export class RepoRecords implements RecordSource {
  private committed: Promise<CommittedRecords> | undefined;
  private readonly warned = new Set<string>();

  /**
   * `committedOnly` (the CLI): count a file as on main only when it is
   * committed at HEAD and unchanged in the working tree, warning about every
   * other one. The action needs no filter: its checkout is main, untouched.
   */
  constructor(
    private readonly repoDir: string,
    private readonly config: ProjectConfig,
    private readonly mergedAt: (path: string) => Promise<Date | undefined> = gitMergeTimes(
      repoDir,
      recordFolderOf(config),
    ),
    private readonly committedOnly?: { warn(message: string): void },
  ) {}

  /** The files of `rel` that count as on main, warning (once each) about the rest. */
  private async onMain(files: string[]): Promise<string[]> {
    if (!this.committedOnly) return files;
    const state = await (this.committed ??= committedRecords(
      this.repoDir,
      recordFolderOf(this.config),
    ));
    const warn = (key: string, message: string) => {
      if (this.warned.has(key)) return;
      this.warned.add(key);
      this.committedOnly!.warn(message);
    };
    // Not a git checkout (a copy, the sandbox's folders): there is no HEAD to
    // compare with, so the folder is read as it is (README, "Operator CLI").
    if (state.kind === "no-git") return files;
    if (state.offDefault) warn("branch", state.offDefault);
    return files.filter((rel) => {
      if (state.paths.has(rel)) return true;
      warn(
        rel,
        `${rel} is ${state.tracked.has(rel) ? "changed since HEAD" : "not committed"}: not on main, so not counted (commit it and merge its PR; the CLI takes HEAD of --repo as main)`,
      );
      return false;
    });
  }

  async read(
    domain: string,
    options: { mergeTimesFor?: ReadonlySet<string> } = {},
  ): Promise<RecordOnMain[]> {
    const identity = this.config.identities.find((i) => i.domain === domain);
    if (!identity) return [];
    const folder = recordFolderOf(this.config);
    if (!recordFolderStat(this.repoDir, folder)) return [];
    const out: RecordOnMain[] = [];
    const byKey = new Map<string, RecordOnMain>();
    for (const rel of await this.onMain(recordFilesOf(this.repoDir, folder, domain))) {
      const parsed = parseFor(readRecordText(this.repoDir, rel, domain), rel, domain);
      const record = validateRecordFile(parsed, identity);
      const first = byKey.get(record.publicKey);
      if (first) throw duplicateKeyError(record, first);
      byKey.set(record.publicKey, record);
      // Git history (one `git log` per instance) only when a merge time is wanted.
      if (!options.mergeTimesFor || options.mergeTimesFor.has(record.selector))
        record.mergedAt = await this.mergedAt(rel);
      out.push(record);
    }
    return out;
  }
}

/** Every record file in the checkout, validated; used by `check-records`. */
export function checkAllRecords(
  repoDir: string,
  config: ProjectConfig,
): { records: RecordOnMain[]; errors: InputError[] } {
  const records: RecordOnMain[] = [];
  const errors: InputError[] = [];
  const folder = recordFolderOf(config);
  const root = join(repoDir, folder);
  try {
    if (!recordFolderStat(repoDir, folder)) return { records, errors };
  } catch (err) {
    return { records, errors: [err as InputError] };
  }
  const byKey = new Map<string, RecordOnMain>();
  const collect = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof InputError) errors.push(err);
      else throw err;
    }
  };
  const entries = readdirSync(root, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  );
  for (const entry of entries) {
    const domain = entry.name;
    if (!entry.isDirectory()) {
      if (entry.isFile() && RECORD_DIR_DOCS.has(domain)) continue;
      collect(() => {
        throw notRecord(
          `${folder}/${domain}`,
          entry.isSymbolicLink() ? "is a symbolic link" : "is not a domain folder",
          `record files live in ${folder}/<domain>/<selector>.zone; only ${[...RECORD_DIR_DOCS].join(", ")} may sit beside the folders`,
        );
      });
      continue;
    }
    const identity = config.identities.find((i) => i.domain === domain);
    let files: string[] = [];
    collect(() => (files = recordFilesOf(repoDir, folder, domain)));
    for (const rel of files) {
      collect(() => {
        if (!identity) {
          throw new InputError({
            file: `${rel}:1`,
            identity: domain,
            field: "domain",
            problem: `is not an identity in ${config.file}`,
            hint: "add the identity to the stack file first, or move the file",
          });
        }
        const record = validateRecordFile(
          parseFor(readRecordText(repoDir, rel, domain), rel, domain),
          identity,
        );
        const first = byKey.get(record.publicKey);
        if (first) throw duplicateKeyError(record, first);
        byKey.set(record.publicKey, record);
        records.push(record);
      });
    }
  }
  return { records, errors };
}

/** What HEAD of a checkout holds under the record folder (committedRecords). */
type CommittedRecords =
  | { kind: "no-git" }
  | {
      kind: "git";
      /** Committed at HEAD and unchanged in the working tree (staged or not): on main. */
      paths: Set<string>;
      /** At HEAD, whatever the working tree did to them. */
      tracked: Set<string>;
      /** Why HEAD may not be main: on another branch than origin's default. */
      offDefault?: string;
    };

/**
 * Which record files the CLI may call "on main": those committed at HEAD
 * (`git ls-tree HEAD`) and not changed since (`git diff HEAD`). A repository
 * without commits has none; a folder that is not a git checkout cannot tell.
 */
async function committedRecords(repoDir: string, folder: string): Promise<CommittedRecords> {
  const git = async (...args: string[]) =>
    (await execFileAsync("git", args, { cwd: repoDir, maxBuffer: 64 * 1024 * 1024 })).stdout;
  try {
    await git("rev-parse", "--is-inside-work-tree");
  } catch {
    return { kind: "no-git" };
  }
  const lines = (text: string) => new Set(text.split("\n").filter(Boolean));
  let tracked = new Set<string>();
  let changed = new Set<string>();
  try {
    tracked = lines(await git("ls-tree", "-r", "--name-only", "HEAD", "--", `${folder}/`));
    changed = lines(await git("diff", "--name-only", "--relative", "HEAD", "--", `${folder}/`));
  } catch {
    // No commit yet: nothing is on main.
  }
  let offDefault: string | undefined;
  try {
    const branch = (await git("symbolic-ref", "--short", "HEAD")).trim();
    const main = (await git("symbolic-ref", "--short", "refs/remotes/origin/HEAD"))
      .trim()
      .replace(/^origin\//, "");
    if (branch !== main)
      offDefault = `HEAD of ${repoDir} is branch ${branch}, not ${main} (origin's default): its records are taken as on main`;
  } catch {
    // Detached HEAD or no origin: HEAD is taken as main, as documented.
  }
  return {
    kind: "git",
    paths: new Set([...tracked].filter((p) => !changed.has(p))),
    tracked,
    ...(offDefault ? { offDefault } : {}),
  };
}

/**
 * A record PR (head branch `dkim/<domain>/<selector>` or
 * `dkim-retire/<domain>/<selector>`) may change exactly one path: its own
 * record, added or removed as the branch name says. A batch record PR
 * (`dkim-batch/<domain>/<count>-<digest>`) may only add record files, and
 * exactly the ones, with exactly the content, its name's digest commits to.
 * Reads the PR's change as `git diff --raw <diffBase> HEAD` in the checkout
 * (on a pull_request run, HEAD is the merge commit and HEAD^1 the base
 * branch's head) and returns one error per path it must not touch, or per
 * batch that is not what its name says (docs/design.md#bot-branches). Any
 * other branch: no errors.
 */
export async function checkRecordPrScope(
  repoDir: string,
  branch: string,
  folder: string = RECORD_DIR,
  diffBase = "HEAD^1",
): Promise<InputError[]> {
  if (isBatchBranch(branch)) return checkBatchScope(repoDir, branch, folder, diffBase);
  const own = botBranchChange(branch, folder);
  if (!own) return [];
  const errors: InputError[] = [];
  for (const { status, file } of await prDiff(repoDir, diffBase)) {
    const removed = status.startsWith("D");
    if (file === own.path && removed === (own.kind === "retirement")) continue;
    errors.push(
      new InputError({
        file: `${file}:1`,
        identity: own.domain,
        field: "(file)",
        problem:
          file === own.path
            ? `is ${removed ? "removed" : "changed"} by the record PR branch ${branch}, which may only ${own.kind === "retirement" ? "remove" : "add"} it`
            : `is changed by the record PR branch ${branch}, which may change only ${own.path}`,
        hint: BOT_BRANCH_HINT,
      }),
    );
  }
  return errors;
}

const BOT_BRANCH_HINT =
  "record branches belong to the DKIM bot; the next plan run rebuilds this one, or move the change to a branch of its own";

/** A batch branch: only added record files, and exactly the set its name commits to. */
async function checkBatchScope(
  repoDir: string,
  branch: string,
  folder: string,
  diffBase: string,
): Promise<InputError[]> {
  const diff = await prDiff(repoDir, diffBase);
  const errors: InputError[] = [];
  const added: BatchEntry[] = [];
  for (const { status, file, blob } of diff) {
    const record = recordOfPath(file, folder);
    if (status.startsWith("A") && record) {
      added.push({ path: file, blob });
      continue;
    }
    errors.push(
      new InputError({
        file: `${file}:1`,
        ...(record ? { identity: record.domain } : {}),
        field: "(file)",
        problem: `is ${status.startsWith("D") ? "removed" : "changed"} by the batch record PR branch ${branch}, which may only add new ${folder}/<domain>/<selector>.zone files`,
        hint: BOT_BRANCH_HINT,
      }),
    );
  }
  const problem = batchBranchProblem(branch, added);
  if (problem)
    errors.push(
      new InputError({
        file: `${folder}/:1`,
        field: "(files)",
        problem: `the batch record PR branch ${branch}: ${problem}; added: ${added.map((a) => a.path).join(", ") || "none"}`,
        hint: BOT_BRANCH_HINT,
      }),
    );
  return errors;
}

/** The PR's change, `git diff --raw <diffBase> HEAD`: status, path and new blob per file. */
async function prDiff(
  repoDir: string,
  diffBase: string,
): Promise<{ status: string; file: string; blob: string }[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      "git",
      ["diff", "--raw", "--no-abbrev", "--no-renames", "-z", diffBase, "HEAD"],
      { cwd: repoDir, maxBuffer: 64 * 1024 * 1024 },
    ));
  } catch (err) {
    throw new InputError({
      file: "argv",
      field: "--diff-base",
      problem: `git diff ${diffBase} HEAD failed in ${quote(repoDir)}: ${firstLineOf(err)}`,
      hint: "check out the PR's merge commit with its first parent (actions/checkout fetch-depth: 2)",
    });
  }
  // -z --raw: ":<mode> <mode> <old> <new> <status>\0<path>\0" per file.
  const parts = stdout.split("\0").filter(Boolean);
  const out: { status: string; file: string; blob: string }[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const meta = parts[i]!.split(" ");
    out.push({ status: meta[4]!, file: parts[i + 1]!, blob: meta[3]! });
  }
  return out;
}

function firstLineOf(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim().split("\n")[0]!;
}

/**
 * The time each file under the record folder last changed on the checked-out branch,
 * from ONE `git log` (newest first, so a file's first appearance is its last
 * change). One git process per record file cost ~2,000 processes per run at
 * 1,000 identities, each walking history (docs/benchmarks.md).
 *
 * A shallow clone (actions/checkout's default `fetch-depth: 1`) shows every
 * file as added by the boundary commit, which would make every record look
 * freshly merged and hide an overdue publication. Files first seen in a
 * boundary commit therefore get no time (the planner then counts from the
 * key's creation, which is earlier: the overdue alert fires sooner, never later).
 */
export function gitMergeTimes(
  repoDir: string,
  folder: string = RECORD_DIR,
): (path: string) => Promise<Date | undefined> {
  let times: Promise<Map<string, Date>> | undefined;
  const load = async (): Promise<Map<string, Date>> => {
    const map = new Map<string, Date>();
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync(
        "git",
        ["log", "--format=%x01%H %cI", "--name-only", "--no-renames", "--", folder],
        { cwd: repoDir, maxBuffer: 256 * 1024 * 1024 },
      ));
    } catch {
      return map; // not a git checkout, or no commits yet: merge times unknown
    }
    const shallowFile = join(repoDir, ".git", "shallow");
    const boundary = new Set(
      existsSync(shallowFile) ? readFileSync(shallowFile, "utf8").split("\n").filter(Boolean) : [],
    );
    let current: Date | undefined;
    const seen = new Set<string>();
    for (const line of stdout.split("\n")) {
      if (line.startsWith("\x01")) {
        const [hash, time] = line.slice(1).split(" ");
        current = boundary.has(hash!) ? undefined : new Date(time!);
      } else if (line && !seen.has(line)) {
        seen.add(line);
        if (current) map.set(line, current);
      }
    }
    return map;
  };
  return async (path) => (await (times ??= load())).get(path);
}
