/**
 * Which reviews of an approval request PR count (docs/design.md#approval-by-pull-request).
 * Pure, so each reason a review is not counted is tested on its own: GitHub
 * already refuses some of them (an author's self-approval is a 422), and the
 * gate must not rely on that.
 */

export interface ReviewSeen {
  user: string;
  /** GitHub's user `type`: "User", "Bot", "Organization". */
  userType: string;
  state: string;
  commitId: string | null;
}

export interface ApprovalCount {
  /** Logins whose approval counts, in review order. */
  counted: string[];
  /** Why each other reviewer's latest review does not count. */
  notCounted: string[];
}

/**
 * Each reviewer's latest deciding review (a comment or a pending review
 * decides nothing, as on GitHub) counts when it is an approval of `head`, by
 * a person who is neither the PR's author nor a bot, and who owns the
 * approvals file per CODEOWNERS at the base.
 */
export function countApprovals(
  reviews: ReviewSeen[],
  pr: { author: string; head: string },
  isOwner: (login: string) => boolean,
): ApprovalCount {
  const latest = new Map<string, ReviewSeen>();
  for (const r of reviews)
    if (r.state !== "COMMENTED" && r.state !== "PENDING") latest.set(r.user, r);
  const counted: string[] = [];
  const notCounted: string[] = [];
  for (const [user, r] of latest) {
    if (r.state !== "APPROVED") continue;
    if (user === pr.author) notCounted.push(`${user} is its author`);
    else if (r.userType !== "User") notCounted.push(`${user} is a bot`);
    else if (r.commitId !== pr.head)
      notCounted.push(
        `${user} approved ${r.commitId?.slice(0, 7) ?? "no commit"}, not its last commit`,
      );
    else if (!isOwner(user)) notCounted.push(`${user} is not a code owner of the file`);
    else counted.push(user);
  }
  return { counted, notCounted };
}

/**
 * What the default branch's active `pull_request` rules lack for
 * pull-request mode: at least `required` approvals, code-owner review,
 * dismissal of stale approvals on push, approval of the most recent push.
 * Several rulesets may apply; GitHub enforces the strictest of each setting.
 */
export function reviewRuleGaps(
  prRules: Record<string, unknown>[],
  required: number,
): { count: number; missing: string[] } {
  const count = Math.max(0, ...prRules.map((p) => Number(p.required_approving_review_count ?? 0)));
  const missing = [
    ...(count < required ? [`${required} approvals (they require ${count})`] : []),
    ...(
      [
        ["require_code_owner_review", "code-owner review"],
        ["dismiss_stale_reviews_on_push", "dismissal of stale approvals on push"],
        ["require_last_push_approval", "approval of the most recent push"],
      ] as const
    )
      .filter(([key]) => !prRules.some((p) => p[key] === true))
      .map(([, name]) => name),
  ];
  return { count, missing };
}
