/**
 * Adapters for an operator's checkout: record changes go into the working
 * tree (the operator commits them and opens the PR), and a per-domain lock
 * file stops two activations of one domain from interleaving.
 */
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { LockedError, type LockPort } from "../engine/engine-context";
import type { ChangeRequestPort } from "../engine/ports";

/** Write `content` to `path` atomically: a crash leaves the old file or the new one, never half. */
export function writeFileAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

export class WorkingTreeChanges implements ChangeRequestPort {
  constructor(private readonly repoDir: string) {}

  async proposeRecord(change: { domain: string; selector: string; path: string; content: string }) {
    const full = join(this.repoDir, change.path);
    const same = existsSync(full) && readFileSync(full, "utf8") === change.content;
    if (!same) writeFileAtomic(full, change.content);
    // A file in the working tree, not a PR (engine/ports.ts ProposedChange).
    return { created: !same, url: full, file: change.path };
  }

  async proposeRemoval(change: { path: string }) {
    const full = join(this.repoDir, change.path);
    const present = existsSync(full);
    if (present) rmSync(full);
    return { created: present, url: full, file: change.path };
  }

  async findOpen() {
    return undefined;
  }
}

/**
 * A lock file per domain, created with O_EXCL so only one process wins. A lock
 * left by a process that no longer runs (crash, SIGKILL) is taken over, so a
 * crash never blocks the next run.
 */
export class FileLock implements LockPort {
  constructor(private readonly dir: string) {}

  async acquire(domain: string, purpose: string): Promise<() => Promise<void>> {
    mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, `${domain}.lock`);
    for (let attempt = 0; attempt < 2; attempt++) {
      // Write the holder to a private file, then link it into place: link(2)
      // fails if the lock exists, and a lock never exists without its content
      // (an empty one would look stale to a competitor).
      const tmp = `${path}.${process.pid}.${Date.now()}`;
      writeFileSync(
        tmp,
        JSON.stringify({ pid: process.pid, purpose, at: new Date().toISOString() }),
      );
      try {
        linkSync(tmp, path);
        return async () => {
          rmSync(path, { force: true });
          // The folder exists only for locks: a run that is over leaves no trace.
          removeIfEmpty(this.dir);
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const holder = readHolder(path);
        if (holder && isAlive(holder.pid)) {
          throw new LockedError(domain, `pid ${holder.pid}, ${holder.purpose} since ${holder.at}`);
        }
        rmSync(path, { force: true }); // stale: its process is gone
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    throw new LockedError(domain, "lock file keeps reappearing");
  }
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") throw err;
  }
}

function readHolder(path: string): { pid: number; purpose: string; at: string } | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
