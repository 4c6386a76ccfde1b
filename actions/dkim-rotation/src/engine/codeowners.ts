/**
 * CODEOWNERS as GitHub reads it (docs/design.md#codeowners): one derivation
 * for the change-request adapter (who is asked to review), the GitHub fake
 * (who must approve before a merge) and the approval gate (whose approvals
 * count). The `ignore` package does not fit: gitignore lets `docs/*` match
 * the directory `docs/build-app` and so everything below it, where GitHub
 * documents that it does not.
 */

/** Where GitHub looks for the file, in order; the first one present is used. */
export const CODEOWNERS_PATHS = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"] as const;

export interface CodeOwners {
  /** `@user` owners, without the `@`. */
  users: string[];
  /** `@org/team` owners: the team slug only (what `team_reviewers` takes). */
  teams: string[];
  /** `@org/team` owners as org and slug (a team's membership is read per org). */
  orgTeams: { org: string; slug: string }[];
  /** Owners GitHub cannot be asked to review by API (e-mail addresses). */
  other: string[];
}

/**
 * A CODEOWNERS pattern as a regular expression over repository paths, or
 * undefined for a line GitHub skips: `!` negation, `[ ]` ranges and a `\#`
 * escape do not work in CODEOWNERS (GitHub Docs, "About code owners"), and a
 * line with invalid syntax is skipped.
 */
export function codeownersPattern(pattern: string): RegExp | undefined {
  if (pattern.startsWith("!") || /[[\]]/.test(pattern) || pattern.includes("\\")) return undefined;
  const dirOnly = pattern.endsWith("/");
  let p = pattern.replace(/\/+$/, "");
  // As in gitignore: a slash at the start or in the middle anchors at the root.
  const anchored = p.startsWith("/") || p.includes("/");
  p = p.replace(/^\/+/, "");
  if (!p) return undefined;
  const segments = p.split("/");
  const last = segments[segments.length - 1]!;
  // `docs/*` matches docs/a.md but not docs/b/c.md; `apps/`, `/build/logs/`,
  // `**/logs` and a plain name match everything below (GitHub's examples).
  const descends = dirOnly || last === "**" || !/[*?]/.test(last);
  let re = "";
  segments.forEach((seg, i) => {
    const end = i === segments.length - 1;
    if (seg === "**") {
      re += end ? (i === 0 ? ".*" : "/.*") : i === 0 ? "(?:.*/)?" : "(?:/.*)?/";
      return;
    }
    if (i > 0 && segments[i - 1] !== "**") re += "/";
    for (const c of seg)
      re += c === "*" ? "[^/]*" : c === "?" ? "[^/]" : c.replace(/[.+^${}()|\\]/g, "\\$&");
  });
  const head = anchored ? "^" : "^(?:.*/)?";
  const tail = dirOnly ? "/.*$" : descends ? "(?:/.*)?$" : "$";
  return new RegExp(head + re + tail);
}

/** The raw owners (`@user`, `@org/team`, e-mail) of `path`: the last matching line wins. */
export function ownersOf(path: string, codeownersText: string): string[] {
  const file = path.replace(/^\/+/, "");
  let owners: string[] = [];
  for (const raw of codeownersText.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (!line) continue;
    const [pattern, ...rest] = line.split(/\s+/);
    if (pattern && codeownersPattern(pattern)?.test(file)) owners = rest;
  }
  return owners;
}

/**
 * The owners of `path` per a CODEOWNERS text, split into users, teams and
 * others. A matching line with no owners leaves the path unowned.
 */
export function codeownersFor(path: string, codeownersText: string): CodeOwners {
  const out: CodeOwners = { users: [], teams: [], orgTeams: [], other: [] };
  for (const o of ownersOf(path, codeownersText)) {
    const team = /^@([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(o);
    const user = /^@([A-Za-z0-9-]+(?:\[bot\])?)$/.exec(o);
    if (team) {
      out.teams.push(team[2]!);
      out.orgTeams.push({ org: team[1]!, slug: team[2]! });
    } else if (user) out.users.push(user[1]!);
    else out.other.push(o);
  }
  return out;
}
