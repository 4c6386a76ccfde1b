/**
 * A scratch repository for the required check (`check-records --pr-branch`)
 * as reusable-records.yml runs it: HEAD is the PR's merge commit and HEAD^1
 * the base branch's head (docs/design.md#bot-branches).
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface PrCheckRepo {
  dir: string;
  git(args: string[]): string;
  write(rel: string, text: string): void;
  /** Make HEAD the PR's merge commit: `base` (main's head) plus the given changes. */
  mergeCommit(changes: () => void, base?: string): void;
  /** The CLI's check-records on HEAD for a PR from `branch`: exit code and its `error` lines. */
  check(branch: string): Promise<{ code: number; errors: string[] }>;
  close(): void;
}

/** An empty repository on `main`; the caller writes the stack file and tags `base`. */
export function prCheckRepo(prefix: string): PrCheckRepo {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const git = (args: string[]) =>
    execFileSync("git", args, {
      cwd: dir,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.jp",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.jp",
      },
      stdio: ["ignore", "pipe", "pipe"],
    }).toString();
  const write = (rel: string, text: string) => {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  };
  git(["init", "-q", "-b", "main"]);
  return {
    dir,
    git,
    write,
    mergeCommit(changes, base = "base") {
      git(["checkout", "-q", "--detach", base]);
      git(["reset", "-q", "--hard"]);
      git(["clean", "-qfd"]);
      changes();
      git(["add", "-A"]);
      git(["commit", "-qm", "merge"]);
    },
    check: (branch) =>
      new Promise((done) =>
        execFile(
          process.execPath,
          [
            "--import",
            "tsx",
            join(process.cwd(), "scripts/dkim.ts"),
            "--config",
            join(dir, "Pulumi.cli.yaml"),
            "--repo",
            dir,
            "check-records",
            "--pr-branch",
            branch,
          ],
          { cwd: process.cwd() },
          (err, stdout) =>
            done({
              code: err ? Number(err.code) : 0,
              errors: stdout.split("\n").filter((l) => l.startsWith("error ")),
            }),
        ),
      ),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
