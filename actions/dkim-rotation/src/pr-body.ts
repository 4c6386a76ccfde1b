/**
 * Pull-request bodies for the DNS team (rotation) and for the clean-up of an
 * old selector (retirement).
 *
 * The reader is an on-premises DNS operator who may never open the
 * repository: the body carries the record in BIND syntax, the same value as
 * one joined string (for web consoles that take a single TXT value and split
 * it themselves, RFC 6376 §3.6.2.2), the exact `dig` to run against each
 * authoritative server (not a caching resolver: RFC 2308 negative caching
 * would delay visibility), the deadline, and a checklist.
 *
 * Public keys only. `assertNoPrivateKeyMaterial` runs over every body before
 * it is returned, so a caller that passes the wrong string fails here instead
 * of publishing a private key in a PR (docs/design.md#invariant-4-key-material-stays-secret).
 */
import { createPrivateKey } from "node:crypto";
import type { ChangeText, RotationInfo } from "./engine/engine-context";
import { describeRollback, type RotationDates } from "./engine/lifecycle";
import type { ApprovalFile } from "./engine/approval-files";
import { recordPath } from "./engine/record";
import { rotationGantt } from "./gantt";

/** The rotation's dates (lifecycle rotationDates), shown as a gantt chart. */
export type RotationTimeline = RotationDates;

export interface RotationPrBodyInput {
  domain: string;
  selector: string;
  /** The record file as committed (BIND syntax, split into ≤255-byte strings). */
  recordFileText: string;
  /** The TXT value joined with no separator: `v=DKIM1; k=rsa; p=…`. */
  joinedValue: string;
  /** Authoritative nameservers (host or host:port). */
  nameservers: string[];
  publishBy: Date;
  timeline: RotationTimeline;
  /** The selector SES signs with now, which stays published until retirement. */
  previousSelector?: string;
  /**
   * Where a failed activation goes back to, in plain words (lifecycle
   * describeRollback): approvers must never be surprised that none exists.
   */
  rollback?: string;
  /** Path of the record file in the repository. */
  recordPath?: string;
  keyBits?: number;
  fingerprint?: string;
}

export interface RetirementPrBodyInput {
  domain: string;
  /** The selector whose record is removed. */
  selector: string;
  /** The selector SES signs with now (must stay published). */
  activeSelector: string;
  recordPath?: string;
  /** When the active selector reached SES SUCCESS. */
  activatedAt?: Date;
  graceDays?: number;
  /** When the old key's secret will be deleted (after its recovery window). */
  secretDeletionDate?: Date;
  nameservers?: string[];
}

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function minute(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** `dig` needs `-p` for a non-standard port; `@host:port` is not dig syntax. */
export function digCommand(owner: string, nameserver: string): string {
  const v6 = /^\[([0-9a-fA-F:]+)\](?::(\d+))?$/.exec(nameserver);
  const v4 = /^([^:[\]]+):(\d+)$/.exec(nameserver);
  const [host, port] = v6 ? [v6[1]!, v6[2]] : v4 ? [v4[1]!, v4[2]] : [nameserver, undefined];
  return `dig +short TXT ${owner} @${host}${port && port !== "53" ? ` -p ${port}` : ""}`;
}

/**
 * Throw if `text` holds anything that looks like private key material: a PEM
 * private-key header, or a base64 run that decodes to a parseable private key
 * (PKCS#1 or PKCS#8 DER). Public keys (SPKI) pass.
 */
export function assertNoPrivateKeyMaterial(text: string, where = "pull request body"): void {
  if (/PRIVATE KEY/.test(text))
    throw new Error(`${where} contains a PEM private key header; refusing to publish it`);
  // Also scan with quotes and whitespace removed: a key split into TXT strings must not slip through.
  const runs = [text, text.replace(/["\s()]/g, "")].flatMap(
    (t) => t.match(/[A-Za-z0-9+/]{200,}={0,2}/g) ?? [],
  );
  for (const run of runs) {
    const der = Buffer.from(run, "base64");
    for (const type of ["pkcs1", "pkcs8"] as const) {
      try {
        createPrivateKey({ key: der, format: "der", type });
      } catch {
        continue;
      }
      throw new Error(
        `${where} contains private key material (${type} DER); refusing to publish it`,
      );
    }
  }
}

export function renderRotationPrBody(input: RotationPrBodyInput): string {
  const { domain, selector, timeline } = input;
  const owner = `${selector}._domainkey.${domain}`;
  const ns = input.nameservers.length ? input.nameservers : ["<authoritative-ns>"];
  const path = input.recordPath ?? recordPath(domain, selector);
  const keyLine = [
    input.keyBits ? `RSA-${input.keyBits}` : undefined,
    input.fingerprint ? `fingerprint \`${input.fingerprint}\`` : undefined,
  ]
    .filter(Boolean)
    .join(", ");
  const lines = [
    `## DKIM rotation for \`${domain}\`: publish selector \`${selector}\``,
    "",
    `**Please publish this TXT record by ${day(input.publishBy)}.** Amazon SES keeps signing with ` +
      (input.previousSelector
        ? `the current selector \`${input.previousSelector}\``
        : "its current key") +
      " until every authoritative nameserver serves this record and an approver runs the activation.",
    "Nothing changes for outgoing mail when this PR is merged.",
    "",
    ...(input.rollback ? [`**Rollback:** ${input.rollback}.`, ""] : []),
    "Do **not** remove or change any other `_domainkey` record" +
      (input.previousSelector
        ? ` (in particular \`${input.previousSelector}._domainkey.${domain}\`, which SES signs with today)`
        : "") +
      ".",
    "",
    "### Record (BIND master-file syntax)",
    "",
    `File: \`${path}\`${keyLine ? ` (${keyLine})` : ""}. The value is split into strings of at most 255 bytes, as one TXT string cannot hold more (RFC 1035 §3.3.14).`,
    "",
    "```dns",
    input.recordFileText.trimEnd(),
    "```",
    "",
    "### The same value as one string",
    "",
    "For consoles that take the whole value and split it themselves. Resolvers join the strings with no separator (RFC 6376 §3.6.2.2), so both forms publish the same record.",
    "",
    "```text",
    input.joinedValue,
    "```",
    "",
    "### Check it on every authoritative nameserver",
    "",
    "Ask the authoritative servers directly, not a caching resolver: a cached NXDOMAIN (RFC 2308) would hide the new record for up to the zone's negative TTL.",
    "",
    "```sh",
    ...ns.map((n) => digCommand(owner, n)),
    "```",
    "",
    "Each must print the strings above (joined, they must equal the single value exactly).",
    "",
    "### Timeline",
    "",
    rotationGantt({
      domain,
      selector,
      ...(input.previousSelector ? { previousSelector: input.previousSelector } : {}),
      dates: timeline,
    }),
    "",
    "| step | when | who |",
    "| --- | --- | --- |",
    `| generate key, open this PR | ${minute(timeline.generatedAt)} | scheduled workflow |`,
    `| publish the record | by ${day(timeline.publishBy)} | DNS team |`,
    `| activate in SES | from ${day(timeline.earliestActivation)}, only once DNS is verified | environment approvers |`,
    `| retire the old record | from ${day(timeline.retireOldAfter)}, removed by ${day(timeline.retiredBy)} | scheduled workflow opens a PR, DNS team removes it |`,
    "",
    "### Checklist for reviewers",
    "",
    `- [ ] The PR changes exactly one file, \`${path}\`, and nothing else.`,
    `- [ ] The owner name is \`${owner}.\` and the type is TXT.`,
    "- [ ] The value starts `v=DKIM1; k=rsa; p=MIIB` and has no `t=y` (testing mode).",
    "- [ ] The `record files` check on this PR is green (syntax, string splitting, selector, key size, fingerprint).",
    `- [ ] A DNS change request is filed to publish the record by ${day(input.publishBy)}.`,
    `- [ ] After publication, \`dig\` on every nameserver above prints the value.`,
    "",
    "<sub>Opened by ses-dkim-rotation. This PR contains the public key only; the private key never leaves AWS Secrets Manager.</sub>",
    "",
  ];
  const body = lines.join("\n");
  assertNoPrivateKeyMaterial(body);
  return body;
}

/** GitHub refuses a PR body over 65,536 characters; a batch stays under it. */
const MAX_BODY_CHARS = 60_000;

/**
 * The body of a batch record PR (records-per-pr > 1, docs/design.md#bulk-onboarding):
 * one section per record with its file, publish-by date, previous selector and
 * its own `dig` lines for every authoritative nameserver; the record text
 * itself is each file in the PR's diff (one-record bodies would pass GitHub's
 * 65,536-character limit at about 15 records).
 */
export function renderRotationBatchPrBody(inputs: RotationPrBodyInput[]): string {
  const sections = inputs.map((input) => {
    const { domain, selector } = input;
    const owner = `${selector}._domainkey.${domain}`;
    const ns = input.nameservers.length ? input.nameservers : ["<authoritative-ns>"];
    const path = input.recordPath ?? recordPath(domain, selector);
    return [
      `### \`${domain}\`: publish selector \`${selector}\` by ${day(input.publishBy)}`,
      "",
      `File: \`${path}\`. SES keeps signing with ${input.previousSelector ? `\`${input.previousSelector}\` (do **not** remove it)` : "its current key"} until DNS serves this record and an approver activates it.${input.rollback ? ` Rollback: ${input.rollback}.` : ""}`,
      "",
      "```sh",
      ...ns.map((n) => digCommand(owner, n)),
      "```",
      "",
    ].join("\n");
  });
  const head = [
    `## DKIM rotation: ${inputs.length} new records`,
    "",
    `**Please publish each TXT record below by its date.** Each file in this PR is one record in BIND master-file syntax, its value split into strings of at most 255 bytes (RFC 1035 §3.3.14). Nothing changes for outgoing mail when this PR is merged; each identity is activated on its own, only once every authoritative nameserver serves its record.`,
    "",
    "Ask the authoritative servers directly, not a caching resolver (RFC 2308 negative caching). Each `dig` must print the strings of that record's file.",
    "",
  ].join("\n");
  const tail = [
    "### Checklist for reviewers",
    "",
    `- [ ] The PR adds exactly the ${inputs.length} files listed here and changes nothing else.`,
    "- [ ] Each owner name is `<selector>._domainkey.<domain>.`, the type TXT, the value starts `v=DKIM1; k=rsa; p=MIIB` with no `t=y`.",
    "- [ ] The `record files` check on this PR is green (each file's syntax, string splitting, selector, key size, fingerprint; and the branch name's digest of exactly these files).",
    "- [ ] DNS change requests are filed to publish each record by its date.",
    "",
    "<sub>Opened by ses-dkim-rotation. This PR contains public keys only; the private keys never leave AWS.</sub>",
    "",
  ].join("\n");
  let listed = sections;
  let size = head.length + tail.length + sections.join("\n").length;
  while (size > MAX_BODY_CHARS && listed.length > 1) {
    size -= listed.at(-1)!.length + 1;
    listed = listed.slice(0, -1);
  }
  const cut = inputs.length - listed.length;
  const body = [
    head,
    ...listed,
    ...(cut
      ? [
          `_${cut} more record(s) did not fit GitHub's body limit: their files are in this PR, and each identity's notice carries its own check lines._`,
          "",
        ]
      : []),
    tail,
  ].join("\n");
  assertNoPrivateKeyMaterial(body);
  return body;
}

export function renderRetirementPrBody(input: RetirementPrBodyInput): string {
  const { domain, selector, activeSelector } = input;
  const owner = `${selector}._domainkey.${domain}`;
  const path = input.recordPath ?? recordPath(domain, selector);
  const ns = input.nameservers ?? [];
  const lines = [
    `## DKIM retirement for \`${domain}\`: remove selector \`${selector}\``,
    "",
    `SES signs with \`${activeSelector}\`` +
      (input.activatedAt ? ` since ${minute(input.activatedAt)}` : "") +
      (input.graceDays
        ? `, and the ${input.graceDays}-day grace period for mail in flight has passed`
        : "") +
      `. The old selector \`${selector}\` is no longer used, so its record can be removed.`,
    "",
    `**Remove only \`${owner}\`.** Do **not** remove \`${activeSelector}._domainkey.${domain}\`: SES keeps re-checking the active record and disables signing if it disappears.`,
    "",
    "### Record to remove",
    "",
    "```dns",
    `; delete this TXT record (file ${path} is removed by this PR)`,
    `${owner}. IN TXT`,
    "```",
    "",
    ...(ns.length
      ? [
          "After removal, each authoritative server should answer with no record:",
          "",
          "```sh",
          ...ns.map((n) => digCommand(owner, n)),
          "```",
          "",
        ]
      : []),
    "### Checklist for reviewers",
    "",
    `- [ ] The PR deletes exactly one file, \`${path}\`.`,
    `- [ ] \`${activeSelector}\` is the selector SES signs with (see the status job summary).`,
    `- [ ] A DNS change request is filed to remove \`${owner}\` only.`,
    ...(input.secretDeletionDate
      ? [
          `- [ ] Noted: the old private key is scheduled for deletion on ${day(input.secretDeletionDate)} (recoverable until then).`,
        ]
      : []),
    "",
    "<sub>Opened by ses-dkim-rotation.</sub>",
    "",
  ];
  const body = lines.join("\n");
  assertNoPrivateKeyMaterial(body);
  return body;
}

export interface ApprovalPrBodyInput {
  /** The approvals file the PR adds (engine/approval-request.ts). */
  file: ApprovalFile;
  /** Its path in the repository. */
  path: string;
  /** Who can approve: the file's code owners (`@org/team`, `@user`), or empty when none is set. */
  approvers: string[];
  /** Approvals the gate requires (github.requiredApprovals). */
  requiredApprovals: number;
}

/**
 * The body of an approval request (docs/design.md#approval-request-flow): the
 * decision, the evidence, who can approve, and what merging does. It says the
 * same as the file, for people; the gate reads only the file and GitHub's
 * reviews.
 */
export function renderApprovalPrBody(input: ApprovalPrBodyInput): string {
  const { file, path } = input;
  const owner = `${file.selector}._domainkey.${file.domain}`;
  const who = input.approvers.length
    ? input.approvers.join(", ")
    : "**nobody: no CODEOWNERS line covers this file** (add `/approvals/ @org/dkim-approvers` to .github/CODEOWNERS)";
  const what =
    file.kind === "activate"
      ? `Amazon SES starts signing \`${file.domain}\` with selector \`${file.selector}\` in ${file.regions.join(", ")}.`
      : file.kind === "retire"
        ? `The old selector \`${file.selector}\` of \`${file.domain}\` is retired: its record leaves DNS (automatic publishers) and its private key is scheduled for deletion.`
        : `Amazon SES goes back to signing \`${file.domain}\` with selector \`${file.selector}\` in ${file.regions.join(", ")}.`;
  const lines = [
    file.kind === "rollback"
      ? `## URGENT: roll back DKIM of \`${file.domain}\` to \`${file.selector}\``
      : `## DKIM ${file.kind === "activate" ? "activation" : "retirement"} of \`${file.domain}\`: \`${file.selector}\``,
    "",
    ...(file.kind === "rollback"
      ? [
          `**This is an emergency rollback. Please review it now.** Reason given: ${file.reason ?? "(none)"}`,
          "",
        ]
      : []),
    `**Merging this pull request approves the decision:** ${what} The merge's push to the default branch starts the gated job, which checks this PR's reviews through GitHub's API before it reads any key, then re-checks DNS itself.`,
    "",
    `**Who can approve:** ${who}. ${input.requiredApprovals} approvals from them are required, on the last commit of this PR, and neither the PR's author nor the bot counts. A new commit (the evidence changed) dismisses earlier approvals.`,
    "",
    "| | |",
    "| --- | --- |",
    `| domain | \`${file.domain}\` |`,
    `| selector | \`${file.selector}\` (\`${owner}\`) |`,
    `| key fingerprint | \`${file.fingerprint}\` |`,
    `| Regions | ${file.regions.join(", ")} |`,
    `| SES signs now with | ${file.signsNow} |`,
    `| way back | ${file.wayBack} |`,
    "",
    `### Evidence (checked ${minute(new Date(file.evidence.checkedAt))})`,
    "",
    ...(file.evidence.nameservers.length
      ? [
          "| authoritative nameserver | serves the record |",
          "| --- | --- |",
          ...file.evidence.nameservers.map(
            (n) => `| ${n.nameserver} | ${n.serves ? "yes" : `**no**: ${n.detail ?? ""}`} |`,
          ),
          "",
        ]
      : []),
    `Probe signature: ${file.evidence.probe}.`,
    "",
    "### Checklist for approvers",
    "",
    `- [ ] The PR adds exactly one file, \`${path}\`, and nothing else.`,
    ...(file.evidence.nameservers.length
      ? ["- [ ] Every nameserver above serves the record (a **no** means: do not approve yet)."]
      : []),
    "- [ ] The way back above is acceptable.",
    "",
    "<sub>Opened by ses-dkim-rotation. Public facts only; the private key never leaves AWS Secrets Manager.</sub>",
    "",
  ];
  const body = lines.join("\n");
  assertNoPrivateKeyMaterial(body);
  return body;
}

/** Markdown PR bodies for the DNS team (the CLI uses plain text). */
function rotationBodyInput(i: RotationInfo): RotationPrBodyInput {
  return {
    domain: i.identity.domain,
    selector: i.selector,
    recordFileText: i.recordFileText,
    joinedValue: i.joinedValue,
    nameservers: i.nameservers,
    publishBy: i.publishBy,
    previousSelector: i.previousSelector,
    rollback: describeRollback(i.rollback),
    recordPath: i.path,
    // RotationInfo carries the rotation's dates (lifecycle rotationDates).
    timeline: i,
  };
}

export const markdownChangeText: ChangeText = {
  rotation: (i) => ({
    title: `DKIM rotation: ${i.identity.domain} → ${i.selector}`,
    body: renderRotationPrBody(rotationBodyInput(i)),
  }),
  rotationBatch: (infos) => ({
    title: `DKIM rotation: ${infos.length} new records (${infos[0]!.identity.domain} …)`,
    body: renderRotationBatchPrBody(infos.map(rotationBodyInput)),
  }),
  retirement: (i) => ({
    title: `DKIM retirement: ${i.domain} ← ${i.selector}`,
    body: renderRetirementPrBody({
      domain: i.domain,
      selector: i.selector,
      activeSelector: i.activeSelector ?? "(unknown)",
      recordPath: i.path,
    }),
  }),
};
