/**
 * Approval by reviewed pull request (docs/design.md#approval-by-pull-request):
 * where GitHub's environment reviewers are not available (private and
 * internal repositories without Enterprise), a gated decision is approved by
 * merging a pull request that adds one approvals file. These are the one
 * derivation of that file's path, its bot branch and its contents: the verify
 * job that writes the request and the gate that reads it back both use them.
 */
import * as z from "zod/mini";

/** The decisions a gated job carries out. */
export const APPROVAL_KINDS = ["activate", "retire", "rollback"] as const;
export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

/** The folder whose code owners are the approvers. */
export const APPROVALS_DIR = "approvals";

/**
 * How long a merged approval stays good for a retry: the hourly verify offers
 * an approved decision that is still not carried out, and still ready, again
 * for this many days after its merge; then it has expired and is asked for
 * anew (docs/design.md#approval-request-flow).
 */
export const APPROVAL_VALIDITY_DAYS = 7;

/** Whether an approval merged at `mergedAt` still carries out its decision at `now`. */
export function approvalStillValid(mergedAt: Date, now: Date): boolean {
  return now.getTime() - mergedAt.getTime() <= APPROVAL_VALIDITY_DAYS * 86_400_000;
}

/**
 * `approvals/<domain>/<selector>.<kind>.yml`: one file per decision, so a
 * retirement or rollback of a selector is a decision apart from its activation.
 * For a rollback, `selector` is the target SES is switched back to.
 */
export function approvalFilePath(domain: string, selector: string, kind: ApprovalKind): string {
  return `${APPROVALS_DIR}/${domain}/${selector}.${kind}.yml`;
}

/** The request's bot branch, inside the ruleset's bot-branch patterns (docs/design.md#bot-branches). */
export function approvalBranch(domain: string, selector: string, kind: ApprovalKind): string {
  return `dkim-approval/${domain}/${selector}.${kind}`;
}

const APPROVAL_FILE_PATTERN = /^approvals\/([^/]+)\/([^/]+)\.(activate|retire|rollback)\.yml$/;

/** The decision a path names, or undefined for any other path. */
export function parseApprovalFilePath(
  path: string,
): { domain: string; selector: string; kind: ApprovalKind } | undefined {
  const m = APPROVAL_FILE_PATTERN.exec(path);
  if (!m) return undefined;
  return { domain: m[1]!, selector: m[2]!, kind: m[3] as ApprovalKind };
}

/** Each authoritative nameserver's answer for the selector's record when the request was written. */
const nameserverEvidence = z.strictObject({
  nameserver: z.string().check(z.minLength(1)),
  address: z.optional(z.string().check(z.minLength(1))),
  /** Whether the answer carried exactly the record's public key. */
  serves: z.boolean(),
  detail: z.optional(z.string()),
});

const text = () => z.string().check(z.minLength(1));

/** What the approvals file holds: what is being decided, and the evidence. */
export const approvalFileSchema = z.strictObject({
  version: z.literal(1),
  kind: z.enum(APPROVAL_KINDS),
  domain: text(),
  /** The selector being activated or retired, or the rollback's target. */
  selector: text(),
  /** SHA-256 fingerprint of the selector's public key (the same as the record file's). */
  fingerprint: text(),
  regions: z.array(text()).check(z.minLength(1)),
  /** What SES signs with now, per Region, and the way back. */
  signsNow: text(),
  wayBack: text(),
  /** A rollback's reason, as the requester gave it. */
  reason: z.optional(z.string()),
  evidence: z.strictObject({
    checkedAt: text(),
    nameservers: z.array(nameserverEvidence),
    probe: text(),
  }),
});
export type ApprovalFile = z.output<typeof approvalFileSchema>;
