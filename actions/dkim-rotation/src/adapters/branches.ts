/**
 * Bot branch names and the one change each may hold (docs/design.md#bot-branches).
 * Kept apart from the GitHub adapter so that what every command loads does
 * not load Octokit (docs/design.md#action-bundle).
 */
import { createHash } from "node:crypto";
import { RECORD_DIR, recordPath } from "../engine/record";

export const ROTATION_BRANCH_PREFIX = "dkim";
export const RETIREMENT_BRANCH_PREFIX = "dkim-retire";
export const DEFAULT_LABELS = ["dkim", "dns-change"];

export function rotationBranch(domain: string, selector: string): string {
  return `${ROTATION_BRANCH_PREFIX}/${domain}/${selector}`;
}

export function retirementBranch(domain: string, selector: string): string {
  return `${RETIREMENT_BRANCH_PREFIX}/${domain}/${selector}`;
}

export function rotationTitle(domain: string, selector: string): string {
  return `DKIM rotation: ${domain} → ${selector}`;
}

/**
 * The one change a bot branch may hold, from its name alone: `dkim/<domain>/<selector>`
 * adds `<folder>/<domain>/<selector>.zone`, `dkim-retire/<domain>/<selector>` removes
 * it (docs/design.md#bot-branches). Undefined for any other branch.
 */
export function botBranchChange(
  branch: string,
  folder: string = RECORD_DIR,
): { kind: "rotation" | "retirement"; domain: string; selector: string; path: string } | undefined {
  for (const [kind, prefix] of [
    ["rotation", ROTATION_BRANCH_PREFIX],
    ["retirement", RETIREMENT_BRANCH_PREFIX],
  ] as const) {
    const m = new RegExp(`^${prefix}/([^/]+)/([^/]+)$`).exec(branch);
    if (m) return { kind, domain: m[1]!, selector: m[2]!, path: recordPath(m[1]!, m[2]!, folder) };
  }
  return undefined;
}

export const BATCH_BRANCH_PREFIX = "dkim-batch";

/** One record of a batch: its path and the git blob id of its exact content. */
export interface BatchEntry {
  path: string;
  blob: string;
}

/** A record path `<folder>/<domain>/<selector>.zone`, split; undefined for anything else. */
export function recordOfPath(
  path: string,
  folder: string = RECORD_DIR,
): { domain: string; selector: string } | undefined {
  const m = /^([^/]+)\/([^/]+)\.zone$/.exec(
    path.startsWith(`${folder}/`) ? path.slice(folder.length + 1) : "",
  );
  return m ? { domain: m[1]!, selector: m[2]! } : undefined;
}

/**
 * The digest a batch branch's name commits to: SHA-256 over the sorted
 * `<path> <blob>` lines, so the name fixes every added file and its exact
 * content (docs/design.md#bot-branches).
 */
function batchDigest(entries: BatchEntry[]): string {
  const lines = entries.map((e) => `${e.path} ${e.blob}\n`).sort();
  return createHash("sha256").update(lines.join("")).digest("hex").slice(0, 20);
}

/**
 * `dkim-batch/<first domain>/<count>-<digest>`: a record PR carrying several
 * records (github.recordsPerPr). The first domain (in sorted path order) and
 * the count keep the name readable; the digest makes it hold exactly these
 * files with exactly this content (docs/design.md#bot-branches).
 */
export function batchBranch(entries: BatchEntry[]): string {
  const first = [...entries].sort((a, b) => (a.path < b.path ? -1 : 1))[0]!;
  const domain = first.path.split("/").at(-2)!;
  return `${BATCH_BRANCH_PREFIX}/${domain}/${entries.length}-${batchDigest(entries)}`;
}

/**
 * Whether `entries` (the files a batch branch adds, blobs as git computed
 * them) are exactly what its name commits to: undefined when they are, else
 * why not.
 */
export function batchBranchProblem(branch: string, entries: BatchEntry[]): string | undefined {
  const m = new RegExp(`^${BATCH_BRANCH_PREFIX}/([^/]+)/(\\d+)-([0-9a-f]{20})$`).exec(branch);
  if (!m)
    return `${branch} is not a batch branch name (${BATCH_BRANCH_PREFIX}/<domain>/<count>-<digest>)`;
  if (entries.length !== Number(m[2]))
    return `it adds ${entries.length} record file(s) but its name says ${m[2]}`;
  if (!entries.length || batchBranch(entries) !== branch)
    return `the added files or their contents are not the ones its name commits to (a file was added, removed or edited after the DKIM bot wrote the branch)`;
  return undefined;
}

export function isBatchBranch(branch: string): boolean {
  return branch.startsWith(`${BATCH_BRANCH_PREFIX}/`);
}
