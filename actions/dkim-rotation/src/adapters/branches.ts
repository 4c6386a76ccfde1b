/**
 * Bot branch names and the one change each may hold (docs/design.md#bot-branches).
 * Kept apart from the GitHub adapter so that what every command loads does
 * not load Octokit (docs/design.md#action-bundle).
 */
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
