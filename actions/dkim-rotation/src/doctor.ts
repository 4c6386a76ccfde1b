/**
 * `doctor`: a read-only check of a whole estate, before go-live and on every
 * scheduled run. One line per check, `ok`, `warn` or `fail`, each failure
 * with its fix; `fail` anywhere makes the command exit non-zero.
 *
 * It reads, and never writes: who the credentials are (STS GetCallerIdentity,
 * which needs no permission), SES identities per Region (GetEmailIdentity),
 * the KMS key (DescribeKey, GetKeyRotationStatus), Secrets Manager (a
 * listing), each domain's authoritative nameservers (an SOA query over UDP
 * and over TCP: SES and many verifiers fall back to TCP for 2048-bit
 * records, RFC 7766), the record files, and on GitHub the OIDC subject
 * template against the trust's form (and github.workflowPin), the
 * environment's protection rules and its deployment branches (exactly the
 * default branch),
 * the repository variables the workflows read, the token's reach, whether
 * the workflows are enabled (GitHub disables schedules after 60 days without
 * activity in a public repository), the rulesets on the record branches and
 * the default branch (repository-rules.ts), and whether the caller workflows
 * pin the reusable workflows by commit SHA.
 */
import { REPORTS_OFF } from "./engine/report-evidence";
import { createSocket } from "node:dgram";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Socket } from "node:net";
import { resolveMx } from "node:dns/promises";
import * as dnsPacket from "dns-packet";
import type { Octokit } from "@octokit/rest";
import {
  gatedEnvironmentOf,
  PINNED_SUBJECT_CLAIM_KEYS,
  publisherEnvironmentOf,
  type ProjectConfig,
} from "./engine/config";
import type { KeyStorePort, SesPort } from "./engine/ports";
import {
  policyAdmitsPut,
  productionProofOff,
  receiptRuleArn,
  recipientMatches,
} from "./engine/canary-config";
import type { NameserverTarget } from "./adapters/dns";
import { checkAllRecords } from "./adapters/repo-records";
import { createOctokit, type GitHubPacing } from "./adapters/github";
import { branchRuleChecks } from "./repository-rules";
import { approvalModeChecks } from "./approval-mode";
import { missingCredentials } from "./adapters/caller";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";
export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** The KMS reads doctor needs (a port: the adapter wraps the SDK client). */
export interface KmsReadPort {
  describeKey(
    keyId: string,
  ): Promise<{ arn: string; enabled: boolean; state: string; usage?: string }>;
  rotationEnabled(keyArn: string): Promise<boolean>;
}

/** Who the AWS credentials belong to (STS GetCallerIdentity). */
export interface CallerPort {
  whoAmI(): Promise<{ arn: string; account: string }>;
}

export interface DoctorPorts {
  config: ProjectConfig;
  caller?: CallerPort;
  /** Checkout whose dns/ holds the record files. */
  repoRoot: string;
  ses: SesPort;
  keys: KeyStorePort;
  kms?: KmsReadPort;
  /** Each domain's authoritative servers with their addresses (DnsVerifier). */
  dns: { targets(domain: string, configured?: string[]): Promise<NameserverTarget[]> };
  github?: { octokit: Octokit; owner: string; repo: string };
  /** Why `github` is absent (doctorGitHubSkip): printed as the GitHub checks' skip line. */
  githubSkip?: string;
  /** DNS query timeout per server and transport. */
  dnsTimeoutMs?: number;
  /** SES receiving and the canary bucket, when the config has `canary:` (docs/design.md#canary). */
  receiving?: ReceivingReadPort;
  /** MX hosts of a domain (default: node:dns). */
  mx?: (domain: string) => Promise<string[]>;
}

/** What doctor reads of the canary's receiving side. */
export interface ReceivingReadPort {
  activeRuleSet(): Promise<
    | {
        name: string;
        rules: {
          name: string;
          enabled: boolean;
          recipients: string[];
          s3: { bucket: string; prefix: string }[];
        }[];
      }
    | undefined
  >;
  /** The bucket policy JSON, or undefined when the bucket has none. */
  bucketPolicy(bucket: string): Promise<string | undefined>;
}

/** The workflows the pipeline needs enabled. */
export const PIPELINE_WORKFLOWS = [
  ".github/workflows/dkim-rotate.yml",
  ".github/workflows/dkim-activate.yml",
  ".github/workflows/dkim-rollback.yml",
  ".github/workflows/dkim-records.yml",
];
export const PIPELINE_VARIABLES = ["AWS_PLANNER_ROLE_ARN", "AWS_ACTIVATOR_ROLE_ARN"];

function msg(err: unknown): string {
  const e = err as { name?: string; message?: string; status?: number };
  return `${e.status ?? e.name ?? "Error"}: ${String(e.message ?? err).split("\n")[0]}`;
}

function isForbidden(err: unknown): boolean {
  const s = (err as { status?: number }).status;
  return s === 403 || s === 401;
}

export async function runDoctor(p: DoctorPorts): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const add = (check: string, status: CheckStatus, detail: string, fix?: string) =>
    out.push({ check, status, detail, ...(fix ? { fix } : {}) });
  /** A check that cannot run, and why: said, never silently left out. */
  const skip = (check: string, reason: string) => add(check, "skip", reason);
  const { config } = p;

  // --- Who these credentials are (GetCallerIdentity needs no permission)
  let callerAccount: string | undefined;
  /** Set when there are no credentials: every AWS check is skipped with this reason. */
  let awsSkip: string | undefined;
  if (p.caller) {
    try {
      const me = await p.caller.whoAmI();
      callerAccount = me.account;
      if (/:root$/.test(me.arn))
        add(
          "aws caller",
          "warn",
          `${me.arn}: the account's root user`,
          "run with the planner role (the workflows assume it through OIDC) or an operator role",
        );
      else add("aws caller", "ok", `${me.arn} (account ${me.account})`);
    } catch (err) {
      const none = missingCredentials(err);
      if (none) awsSkip = `${none.problem} (see aws caller)`;
      add(
        "aws caller",
        "fail",
        none?.problem ?? `cannot tell who these credentials are (${msg(err)})`,
        none?.fix ??
          "configure credentials: the OIDC role in the workflow, or AWS_PROFILE / AWS_* for the CLI",
      );
    }
  }

  // --- Production proof from receivers' DMARC reports (docs/design.md#dmarc-aggregate-reports)
  const reports = config.dmarcReports;
  if (reports)
    add(
      "dmarc reports",
      "ok",
      `reports read from s3://${reports.bucket}/${reports.prefix} (${reports.region}); alarm above ${(reports.failureShareAlarm * 100).toFixed(1)}% failures of the newest selector; retirement waits ${reports.quietDays} quiet days`,
    );
  else
    add(
      "dmarc reports",
      "skip",
      REPORTS_OFF,
      "add a dmarcReports block and the rua receipt rule (docs/operations.md#dmarc-aggregate-reports)",
    );

  // --- SES, per identity and Region
  for (const identity of config.identities) {
    for (const region of identity.regions) {
      const check = `ses ${region} ${identity.domain}`;
      if (awsSkip) {
        skip(check, awsSkip);
        continue;
      }
      try {
        const s = await p.ses.getIdentity(region, identity.domain);
        if (!s.exists) {
          add(
            check,
            "fail",
            "no such identity in SES",
            "create it (pulumi up) or fix the Region in the config",
          );
          continue;
        }
        // BYODKIM Tokens may be empty (SES guide's own example): never read "no key" from that.
        const signs =
          s.origin === "EXTERNAL"
            ? `BYODKIM ${s.tokens[0] ?? "(selector not reported)"}`
            : "Easy DKIM";
        if (s.status === "FAILED")
          add(
            check,
            "fail",
            `DKIM FAILED (${signs})`,
            "publish the active selector's record, or roll back",
          );
        else if (s.status === "SUCCESS" && s.signingEnabled) add(check, "ok", `SUCCESS, ${signs}`);
        else
          add(
            check,
            "warn",
            `DKIM ${s.status}${s.signingEnabled ? "" : ", signing disabled"} (${signs})`,
            "wait for SES to verify, or run `status` for the next step",
          );
      } catch (err) {
        add(
          check,
          "fail",
          `cannot read the identity (${msg(err)})`,
          isForbidden(err)
            ? "grant ses:GetEmailIdentity to this role"
            : "create it (pulumi up) or fix the Region in the config",
        );
      }
    }
  }

  // --- KMS key
  if (p.kms && awsSkip) skip("kms key", awsSkip);
  else if (p.kms) {
    try {
      const k = await p.kms.describeKey(config.kmsKeyId);
      if (!k.enabled)
        add(
          "kms key",
          "fail",
          `${config.kmsKeyId} is ${k.state}`,
          "enable the key: no key can be stored or read",
        );
      else add("kms key", "ok", `${config.kmsKeyId} enabled (${k.usage ?? "usage unknown"})`);
      try {
        const on = await p.kms.rotationEnabled(k.arn);
        add(
          "kms rotation",
          on ? "ok" : "warn",
          on ? "automatic key rotation on" : "automatic key rotation off",
          on ? undefined : "turn it on (the estate sets enableKeyRotation: true)",
        );
      } catch (err) {
        add(
          "kms rotation",
          "warn",
          `rotation status unreadable (${msg(err)})`,
          "grant kms:GetKeyRotationStatus to read it",
        );
      }
    } catch (err) {
      add(
        "kms key",
        "fail",
        `cannot describe ${config.kmsKeyId} (${msg(err)})`,
        "check kmsKeyId and grant kms:DescribeKey",
      );
    }
  }

  // --- Secrets Manager reachability
  if (awsSkip) skip("secrets manager", awsSkip);
  else
    try {
      const first = config.identities[0]!.domain;
      const keys = await p.keys.list(first);
      add("secrets manager", "ok", `reachable (${keys.length} stored key(s) for ${first})`);
    } catch (err) {
      add(
        "secrets manager",
        "fail",
        `cannot list secrets (${msg(err)})`,
        "grant secretsmanager:ListSecrets under the secret prefix",
      );
    }

  // --- DNS: every authoritative server over UDP and TCP
  for (const identity of config.identities) {
    let servers: NameserverTarget[];
    try {
      servers = await p.dns.targets(identity.domain, identity.nameservers);
    } catch (err) {
      add(
        `dns ${identity.domain}`,
        "fail",
        `no authoritative nameservers (${msg(err)})`,
        "fix the domain's NS records or set nameservers in the config",
      );
      continue;
    }
    for (const server of servers) {
      for (const transport of ["udp", "tcp"] as const) {
        const check = `dns ${identity.domain} ${server.label} ${transport}`;
        if (!server.address) {
          add(
            check,
            "fail",
            server.problem ?? "has no address",
            "give the nameserver an A/AAAA record",
          );
          continue;
        }
        try {
          const rcode = await soaQuery(
            server.address,
            server.port,
            identity.domain,
            transport,
            p.dnsTimeoutMs ?? 3000,
          );
          if (rcode === "NOERROR") add(check, "ok", "answers SOA");
          else
            add(
              check,
              "fail",
              `answers ${rcode}`,
              "the server must be authoritative for the domain",
            );
        } catch (err) {
          add(
            check,
            "fail",
            `no answer (${(err as Error).message})`,
            transport === "tcp"
              ? "open TCP/53 to this server: 2048-bit records need TCP when UDP answers are truncated"
              : "open UDP/53 to this server",
          );
        }
      }
    }
  }

  await canaryChecks(p, add, callerAccount, awsSkip);

  // --- record files
  try {
    const { records, errors } = checkAllRecords(p.repoRoot, config);
    if (errors.length)
      for (const e of errors) add("records", "fail", e.message, "fix the file (see check-records)");
    else add("records", "ok", `${records.length} record file(s) valid`);
  } catch (err) {
    add("records", "fail", msg(err), "run check-records");
  }

  out.push(...pinnedCallers(p.repoRoot));
  if (p.github) {
    await githubChecks(p, add, callerAccount);
    // Only the App pushes to record branches; approvals do not survive a push (docs/design.md#bot-branches).
    const { octokit, owner, repo } = p.github;
    await branchRuleChecks(
      octokit,
      owner,
      repo,
      config.identities[0]?.domain ?? "example.com",
      add,
      config.github?.approval,
      (config.github?.recordsPerPr ?? 1) > 1,
    );
    // Which approval mode can work here, and pull-request mode's rules (docs/design.md#approval-by-pull-request).
    await approvalModeChecks(octokit, owner, repo, config, add);
  } else skip("github", p.githubSkip ?? "no GitHub access given");
  return out;
}

/**
 * The canary's receiving side (docs/design.md#canary): the rule set is
 * active with the rule, the receiving domain's MX is SES's inbound endpoint,
 * and the bucket policy lets SES write for this account and rule. Without
 * `canary:`, one line says production proof is off.
 */
async function canaryChecks(
  p: DoctorPorts,
  add: (check: string, status: CheckStatus, detail: string, fix?: string) => void,
  account: string | undefined,
  awsSkip: string | undefined,
): Promise<void> {
  const c = p.config.canary;
  if (!c) {
    add(
      "production proof",
      "warn",
      productionProofOff(p.config),
      "add a canary: block (docs/operations.md, proof in production)",
    );
    return;
  }
  const inbound = `inbound-smtp.${c.region}.amazonaws.com`;
  const domain = c.address.slice(c.address.lastIndexOf("@") + 1);
  try {
    const hosts = (await (p.mx ?? defaultMx)(domain)).map((h) =>
      h.toLowerCase().replace(/\.$/, ""),
    );
    if (hosts.includes(inbound)) add("canary mx", "ok", `${domain} MX ${inbound}`);
    else
      add(
        "canary mx",
        "fail",
        `${domain} MX is ${hosts.join(", ") || "absent"}, not ${inbound}: canaries would not reach SES receiving`,
        `publish "${domain}. MX 10 ${inbound}."`,
      );
  } catch (err) {
    add(
      "canary mx",
      "fail",
      `cannot resolve MX of ${domain} (${msg(err)})`,
      `publish "${domain}. MX 10 ${inbound}."`,
    );
  }
  if (awsSkip || !p.receiving) {
    add("canary rule set", "skip", awsSkip ?? "no SES receiving client");
    add("canary bucket", "skip", awsSkip ?? "no S3 client");
    return;
  }
  try {
    const set = await p.receiving.activeRuleSet();
    const rule = set?.rules.find((r) => r.name === c.rule);
    const problem = !set
      ? `no receipt rule set is active in ${c.region}`
      : set.name !== c.ruleSet
        ? `the active rule set in ${c.region} is ${set.name}, not ${c.ruleSet}`
        : !rule
          ? `rule ${c.rule} is not in ${c.ruleSet}`
          : !rule.enabled
            ? `rule ${c.rule} is disabled`
            : !rule.recipients.some((r) => recipientMatches(r, c.address))
              ? `rule ${c.rule} does not receive ${c.address}`
              : !rule.s3.some((a) => a.bucket === c.bucket && a.prefix === c.prefix)
                ? `rule ${c.rule} does not store to s3://${c.bucket}/${c.prefix}`
                : undefined;
    if (problem)
      add(
        "canary rule set",
        "fail",
        problem,
        "pulumi up (infra/ makes and activates the rule set)",
      );
    else
      add(
        "canary rule set",
        "ok",
        `${c.ruleSet} active in ${c.region}; ${c.rule} stores ${c.address} to s3://${c.bucket}/${c.prefix}`,
      );
  } catch (err) {
    add("canary rule set", "fail", `cannot read the active rule set in ${c.region} (${msg(err)})`);
  }
  try {
    const policy = await p.receiving.bucketPolicy(c.bucket);
    const writer = account
      ? {
          service: "ses.amazonaws.com",
          sourceAccount: account,
          sourceArn: receiptRuleArn({
            region: c.region,
            account,
            ruleSet: c.ruleSet,
            rule: c.rule,
          }),
        }
      : undefined;
    if (!writer) add("canary bucket", "skip", "the caller's account is unknown (see aws caller)");
    else if (policyAdmitsPut(policy, c.bucket, `${c.prefix}canary-check`, writer))
      add(
        "canary bucket",
        "ok",
        `s3://${c.bucket}/${c.prefix}: the bucket policy lets SES write for this account and rule`,
      );
    else
      add(
        "canary bucket",
        "fail",
        `s3://${c.bucket}: the bucket policy does not let ses.amazonaws.com put under ${c.prefix} for account ${account} and rule ${c.rule}`,
        "pulumi up (infra/ writes the policy)",
      );
  } catch (err) {
    add("canary bucket", "fail", `cannot read the policy of s3://${c.bucket} (${msg(err)})`);
  }
}

const defaultMx = async (domain: string) => (await resolveMx(domain)).map((m) => m.exchange);

/** `uses: <owner>/<repo>/.github/workflows/reusable-<name>.yml@<ref>` in a caller. */
const REUSABLE_CALL =
  /^\s*(?:-\s*)?uses:\s*["']?([\w.-]+\/[\w.-]+\/\.github\/workflows\/reusable-[\w-]+\.ya?ml)@([^\s"'#]+)/;
const FULL_SHA = /^[0-9a-f]{40}$/;

/**
 * Callers in the checkout that name our reusable workflows by a tag or a
 * branch: whoever can move that ref runs code with this repository's planner
 * role, activator role and App key. GitHub fixes a call's code only when the
 * ref is a full commit SHA (docs/design.md#pinning-reusable-workflows). One
 * warning per call, naming the file and line; ok when there is none.
 */
export function pinnedCallers(repoRoot: string): CheckResult[] {
  const dir = join(repoRoot, ".github", "workflows");
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort();
  } catch {
    return [
      { check: "workflow pins", status: "ok", detail: "no .github/workflows in the checkout" },
    ];
  }
  const out: CheckResult[] = [];
  let pinned = 0;
  for (const file of files) {
    const lines = readFileSync(join(dir, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      const m = REUSABLE_CALL.exec(line);
      if (!m) return;
      if (FULL_SHA.test(m[2]!)) return void pinned++;
      out.push({
        check: "workflow pins",
        status: "warn",
        detail: `.github/workflows/${file}:${i + 1} calls ${m[1]}@${m[2]}, a movable tag or branch`,
        fix: `pin the full 40-hex commit SHA of that release with the tag as a comment (uses: ${m[1]}@<sha> # ${m[2]}); see docs/adopting.md`,
      });
    });
  }
  if (!out.length)
    out.push({
      check: "workflow pins",
      status: "ok",
      detail: pinned
        ? `${pinned} call(s) of the reusable workflows pinned by commit SHA`
        : "no call of the reusable workflows from another repository",
    });
  return out;
}

async function githubChecks(
  p: DoctorPorts,
  add: (check: string, status: CheckStatus, detail: string, fix?: string) => void,
  callerAccount: string | undefined,
): Promise<void> {
  const { octokit, owner, repo } = p.github!;
  const { config } = p;
  const tokenFix = (perm: string) => `give the token ${perm}`;

  // OIDC subject: the repository's template and ID form against the trust's form.
  try {
    const [tpl, r] = await Promise.all([
      octokit.rest.actions.getCustomOidcSubClaimForRepo({ owner, repo }),
      octokit.rest.repos.get({ owner, repo }),
    ]);
    const ids = { owner: r.data.owner.id, repo: r.data.id };
    const template = subjectTemplateProblem(config, owner, repo, tpl.data);
    if (template) add("github oidc subject", "fail", ...template);
    else if (config.githubOwnerId !== undefined || config.githubRepositoryId !== undefined) {
      if (config.githubOwnerId === ids.owner && config.githubRepositoryId === ids.repo)
        add(
          "github oidc subject",
          "ok",
          `${templateName(config)}; trust uses the immutable form repo:${owner}@${ids.owner}/${repo}@${ids.repo}`,
        );
      else
        add(
          "github oidc subject",
          "fail",
          `trust names owner ${config.githubOwnerId}/repository ${config.githubRepositoryId}, GitHub has ${ids.owner}/${ids.repo}`,
          `set githubOwnerId: ${ids.owner} and githubRepositoryId: ${ids.repo}, then pulumi up`,
        );
    } else
      add(
        "github oidc subject",
        "warn",
        `${templateName(config)}; trust uses the name form repo:${owner}/${repo}`,
        `if this repository was created, renamed or transferred after 2026-07-15 its tokens carry IDs: set githubOwnerId: ${ids.owner} and githubRepositoryId: ${ids.repo}, then pulumi up`,
      );
    const perms = (r.data as { permissions?: { push?: boolean } }).permissions;
    if (perms && perms.push === false)
      add(
        "github token",
        "warn",
        "cannot push to the repository",
        "plan needs contents: write and pull-requests: write (or a GitHub App token)",
      );
    else add("github token", "ok", "reads the repository");
  } catch (err) {
    add(
      "github oidc subject",
      "fail",
      `cannot read the subject template (${msg(err)})`,
      tokenFix("actions: read (and metadata: read)"),
    );
  }

  // The gate's environment.
  const envName = gatedEnvironmentOf(config);
  try {
    const env = (
      await octokit.rest.repos.getEnvironment({ owner, repo, environment_name: envName })
    ).data;
    const rules = (env.protection_rules ?? []) as {
      type?: string;
      prevent_self_review?: boolean;
      reviewers?: unknown[];
    }[];
    const reviewers = rules.find((r) => r.type === "required_reviewers");
    if (config.github?.approval === "pull-request")
      // The merged request PR is the approval; the environment keeps the activator to the default branch.
      add(
        `github environment ${envName}`,
        "ok",
        `pull-request mode: ${reviewers?.reviewers?.length ? `${reviewers.reviewers.length} required reviewer(s) as well` : "no reviewers needed"}`,
      );
    else if (!reviewers?.reviewers?.length)
      add(
        `github environment ${envName}`,
        "fail",
        "no required reviewers: activate, rollback and retire will refuse",
        "add required reviewers (Settings → Environments; private repositories need GitHub Enterprise) or set github.manageRepository: true",
      );
    else if (!reviewers.prevent_self_review)
      add(
        `github environment ${envName}`,
        "warn",
        `${reviewers.reviewers.length} required reviewer(s), self-review allowed`,
        "turn on 'Prevent self-review'",
      );
    else
      add(
        `github environment ${envName}`,
        "ok",
        `${reviewers.reviewers.length} required reviewer(s), no self-review`,
      );
    add(
      ...(await deploymentBranchCheck(octokit, owner, repo, envName, env.deployment_branch_policy)),
    );
  } catch (err) {
    if ((err as { status?: number }).status === 404)
      add(
        `github environment ${envName}`,
        "fail",
        "does not exist",
        "create it with required reviewers (or github.manageRepository: true)",
      );
    else
      add(
        `github environment ${envName}`,
        "fail",
        `cannot read it (${msg(err)})`,
        tokenFix("actions: read"),
      );
  }

  // The publisher's environment: the publisher role trusts only jobs in it,
  // so only the default branch may enter it (docs/design.md#publishers).
  if (config.identities.some((i) => i.publisher !== "manual")) {
    const publisherEnv = publisherEnvironmentOf(config);
    try {
      const env = (
        await octokit.rest.repos.getEnvironment({ owner, repo, environment_name: publisherEnv })
      ).data;
      add(
        ...(await deploymentBranchCheck(
          octokit,
          owner,
          repo,
          publisherEnv,
          env.deployment_branch_policy,
        )),
      );
    } catch (err) {
      add(
        `github environment ${publisherEnv}`,
        "fail",
        (err as { status?: number }).status === 404
          ? "does not exist, so the publish job cannot assume the publisher role"
          : `cannot read it (${msg(err)})`,
        (err as { status?: number }).status === 404
          ? "create it with the deployment branch rule of the default branch only (or github.manageRepository: true)"
          : tokenFix("actions: read"),
      );
    }
  }

  // Repository variables the workflows read.
  try {
    const vars = await octokit.paginate(octokit.rest.actions.listRepoVariables, {
      owner,
      repo,
      per_page: 30,
    });
    const names = new Set(vars.map((v) => v.name));
    const missing = PIPELINE_VARIABLES.filter((v) => !names.has(v));
    if (missing.length)
      add(
        "github variables",
        "fail",
        `missing ${missing.join(", ")}`,
        "set them from the stack outputs (or github.manageRepository: true)",
      );
    else if (!names.has("AWS_REGION"))
      add(
        "github variables",
        "warn",
        "AWS_REGION unset: the workflows use ap-northeast-1",
        "set AWS_REGION to the stack's home Region",
      );
    else add("github variables", "ok", [...PIPELINE_VARIABLES, "AWS_REGION"].join(", "));
    // The roles the workflows assume must live in the account these credentials reach.
    if (callerAccount)
      for (const name of PIPELINE_VARIABLES) {
        const value = vars.find((v) => v.name === name)?.value;
        const account = value ? /^arn:aws[\w-]*:iam::(\d{12}):role\//.exec(value)?.[1] : undefined;
        if (!value) continue;
        if (!account)
          add(
            `github ${name}`,
            "fail",
            `${value} is not an IAM role ARN`,
            "set it to the stack output (arn:aws:iam::<account>:role/<name>)",
          );
        else if (account !== callerAccount)
          add(
            `github ${name}`,
            "fail",
            `the role is in account ${account}, these credentials are in ${callerAccount}`,
            "point the variable at this stack's role, or run doctor against the right account",
          );
        else add(`github ${name}`, "ok", `${value} (this account)`);
      }
  } catch (err) {
    add(
      "github variables",
      "fail",
      `cannot list them (${msg(err)})`,
      tokenFix("actions: read (variables: read for an App)"),
    );
  }

  // Workflows enabled (GitHub disables schedules after 60 days without activity).
  try {
    const wfs = await octokit.paginate(octokit.rest.actions.listRepoWorkflows, {
      owner,
      repo,
      per_page: 100,
    });
    for (const path of PIPELINE_WORKFLOWS) {
      const wf = wfs.find((w) => w.path === path);
      const name = path.split("/").pop()!;
      if (!wf)
        add(
          `github workflow ${name}`,
          "fail",
          "not found on the default branch",
          "commit it from this repository",
        );
      else if (wf.state !== "active")
        add(
          `github workflow ${name}`,
          "fail",
          `is ${wf.state}`,
          `enable it: gh workflow enable ${name}`,
        );
      else add(`github workflow ${name}`, "ok", "active");
    }
  } catch (err) {
    add("github workflows", "fail", `cannot list them (${msg(err)})`, tokenFix("actions: read"));
  }
}

/** How the stack expects GitHub to build the `sub` (docs/design.md#github-oidc-subject). */
function templateName(config: ProjectConfig): string {
  const pin = config.github?.workflowPin;
  return pin
    ? `custom template (${PINNED_SUBJECT_CLAIM_KEYS.join(", ")}), gated jobs pinned to ${pin.repository}@${pin.ref}`
    : "default template";
}

/**
 * The repository's subject template against the stack file: the default one
 * unless github.workflowPin asks for `repo, context, job_workflow_ref`, in that
 * order (the order GitHub joins them in). [detail, fix] when they differ.
 */
export function subjectTemplateProblem(
  config: ProjectConfig,
  owner: string,
  repo: string,
  tpl: { use_default: boolean; include_claim_keys?: string[] },
): [string, string] | undefined {
  const want = config.github?.workflowPin ? [...PINNED_SUBJECT_CLAIM_KEYS] : undefined;
  const have = tpl.use_default ? undefined : (tpl.include_claim_keys ?? []);
  if (JSON.stringify(want) === JSON.stringify(have)) return undefined;
  const api = `gh api -X PUT repos/${owner}/${repo}/actions/oidc/customization/sub`;
  return [
    `${have ? `custom subject template (${have.join(", ")})` : "default subject template"}; the activator trusts the ${want ? `custom template (${want.join(", ")})` : "default template"}`,
    want
      ? `set it: ${api} -F use_default=false ${want.map((k) => `-f 'include_claim_keys[]=${k}'`).join(" ")} (github.manageRepository: true does it)`
      : `reset it: ${api} -F use_default=true${JSON.stringify(have) === JSON.stringify(PINNED_SUBJECT_CLAIM_KEYS) ? ", or set github.workflowPin in the stack file" : ""}`,
  ];
}

/**
 * The gated environment admits the default branch only: no policy lets any
 * branch in, "protected branches" lets in every branch with a protection rule
 * (and every branch when the repository has none), so only custom policies
 * listing exactly the default branch pass (docs/design.md#github-approval-gate).
 */
export async function deploymentBranchCheck(
  octokit: Octokit,
  owner: string,
  repo: string,
  envName: string,
  policy: { protected_branches?: boolean; custom_branch_policies?: boolean } | null | undefined,
): Promise<[string, CheckStatus, string, string?]> {
  const check = `github environment ${envName} branches`;
  let main: string;
  try {
    main = (await octokit.rest.repos.get({ owner, repo })).data.default_branch;
  } catch (err) {
    return [
      check,
      "fail",
      `cannot read the default branch (${msg(err)})`,
      "give the token metadata: read",
    ];
  }
  const fix = `in Settings → Environments → ${envName} → Deployment branches and tags choose "Selected branches and tags" with the one branch rule "${main}" (or github.manageRepository: true)`;
  if (!policy) return [check, "fail", "any branch may deploy (no deployment branch policy)", fix];
  if (policy.protected_branches || !policy.custom_branch_policies)
    return [
      check,
      "fail",
      `"protected branches only" admits every protected branch, not only ${main}`,
      fix,
    ];
  let rules: { name?: string; type?: string }[];
  try {
    rules = await octokit.paginate(octokit.rest.repos.listDeploymentBranchPolicies, {
      owner,
      repo,
      environment_name: envName,
      per_page: 100,
    });
  } catch (err) {
    return [
      check,
      "fail",
      `cannot list its branch policies (${msg(err)})`,
      "give the token actions: read",
    ];
  }
  const names = rules.map((r) => `${r.type ?? "branch"} ${r.name ?? "?"}`);
  if (names.length !== 1 || names[0] !== `branch ${main}`)
    return [
      check,
      "fail",
      `admits ${names.length ? names.join(", ") : "no branch"}, not exactly branch ${main}`,
      fix,
    ];
  return [check, "ok", `only ${main} may deploy`];
}

/** One SOA query to `host`:`port` over UDP or TCP; resolves with the rcode. */
export function soaQuery(
  host: string,
  port: number,
  domain: string,
  transport: "udp" | "tcp",
  timeoutMs: number,
): Promise<string> {
  const id = Math.floor(Math.random() * 65535);
  const query: dnsPacket.Packet = {
    type: "query",
    id,
    flags: 0,
    questions: [{ type: "SOA", name: domain, class: "IN" }],
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    let done = () => clearTimeout(timer);
    const answer = (packet: dnsPacket.Packet) => {
      done();
      resolve((packet as { rcode?: string }).rcode ?? "NOERROR");
    };
    if (transport === "udp") {
      const sock = createSocket(host.includes(":") ? "udp6" : "udp4");
      done = () => {
        clearTimeout(timer);
        sock.close();
      };
      sock.on("error", (e) => {
        done();
        reject(e);
      });
      sock.on("message", (m) => {
        const p = dnsPacket.decode(m);
        if (p.id === id) answer(p);
      });
      sock.send(dnsPacket.encode(query), port, host);
    } else {
      const sock = new Socket();
      let buf = Buffer.alloc(0);
      done = () => {
        clearTimeout(timer);
        sock.destroy();
      };
      sock.on("error", (e) => {
        done();
        reject(e);
      });
      sock.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0))
          answer(dnsPacket.streamDecode(buf));
      });
      sock.connect(port, host, () => sock.write(dnsPacket.streamEncode(query)));
    }
  });
}

/** `ok   check: detail` / `fail check: detail — fix: …`, one line each. */
export function renderDoctor(results: CheckResult[]): string {
  return results
    .map(
      (r) =>
        `${r.status.padEnd(4)} ${r.check}: ${r.detail}${r.fix && r.status !== "ok" ? ` — fix: ${r.fix}` : ""}`,
    )
    .join("\n");
}

/** GitHub for doctor from a token and the config's repository (the CLI reads GITHUB_TOKEN). */
export function doctorGitHub(
  config: ProjectConfig,
  token: string | undefined,
  opts: { apiUrl?: string; repository?: string; pacing?: GitHubPacing } = {},
): DoctorPorts["github"] {
  const [owner, repo] = (opts.repository ?? `${config.github?.owner}/${config.github?.repo}`).split(
    "/",
  );
  if (doctorGitHubSkip(config, token, opts) !== undefined || !token || !owner || !repo)
    return undefined;
  return {
    octokit: createOctokit({ token, baseUrl: opts.apiUrl, pacing: opts.pacing }),
    owner,
    repo,
  };
}

/** Why doctor cannot check GitHub with this token and config, or undefined when it can. */
export function doctorGitHubSkip(
  config: ProjectConfig,
  token: string | undefined,
  opts: { repository?: string } = {},
): string | undefined {
  if (!opts.repository && !(config.github?.owner && config.github?.repo))
    return `the stack file names no github.owner and github.repo (set them to check the repository)`;
  if (!token)
    return "no GitHub token (GITHUB_TOKEN for the CLI, the github-token input for the action) that reads the repository's Actions settings, environments and variables";
  return undefined;
}

export const hasFailure = (results: CheckResult[]) => results.some((r) => r.status === "fail");
