/**
 * The action's one entry point. Inputs are read and validated into one typed
 * object before any side effect; everything else is the same engine the CLI
 * and the sandbox run. `run()` catches once and reports with core.setFailed.
 */
import * as core from "@actions/core";
import { systemClock, type Clock } from "./engine/clock";
import {
  GATED_WORKFLOW_FILE,
  gatedEnvironmentOf,
  publisherEnvironmentOf,
  type ProjectConfig,
} from "./engine/config";
import { loadConfig } from "./load-config";
import { InputError, RefusalError, oneLine } from "./engine/errors";
import { renderReports, statusRows } from "./format";
import { rotationInFlight } from "./engine/lifecycle";
import type { SwapReport } from "./engine/swap";
import { findIdentity, type EngineContext, type Logger } from "./engine/engine-context";
import {
  describeSesReads,
  snapshotAll,
  snapshotForVerify,
  type IdentitySnapshot,
} from "./engine/snapshot";
import type { ChangeRequestPort } from "./engine/ports";
import { RepoRecords, recordFolderStat } from "./adapters/repo-records";
import { quote } from "./engine/values";
import { publicKeyFingerprint } from "./engine/keys";
import { annotateError } from "./annotations";
import { buildAwsAdapters, type AwsAdapterOptions } from "./context";
import { DnsVerifier } from "./adapters/dns";
import type { GitHubClient, GitHubPacing } from "./adapters/github";
import type { GitHubApprovalRequests } from "./adapters/github-approvals";
import { readInputs, resolveConfigPath, type ActionInputs } from "./inputs";
import { markdownChangeText } from "./pr-body";
import { proofLine, writeJobSummary, type JobSummary } from "./summary";

// Each command's own code (mailauth for activation's probe, Octokit, the
// planner's key generation, doctor) is loaded by import() only when that
// command runs: the bundle is split into chunks, and `status` loads none of
// them (docs/design.md#action-bundle).

/** With dry-run (or no token) nothing is proposed; the run says what it would do. */
const noChanges: ChangeRequestPort = {
  proposeRecord: async () => ({ created: false }),
  proposeRemoval: async () => ({ created: false }),
  findOpen: async () => undefined,
};

const actionLogger: Logger = {
  info: (m) => core.info(m),
  warn: (m) => core.warning(m),
  progress: (label, done, total) => {
    if (done === total || done % Math.max(1, Math.ceil(total / 10)) === 0)
      core.info(`${label}: ${done}/${total}`);
  },
};

export interface RunEnvironment {
  workspace: string;
  repository?: string;
  apiUrl?: string;
  /** Time source; the system clock on a runner, a controlled one in tests. */
  clock?: Clock;
  /** GITHUB_RUN_ID: the run whose approval the gate checks. */
  runId?: string;
  /** GITHUB_EVENT_NAME: schedule, push, workflow_dispatch. */
  event?: string;
  /** GITHUB_SHA: on a push, the pushed commit (the merge of an approval request). */
  sha?: string;
  /** The job's OIDC token for an audience (core.getIDToken on a runner). */
  idToken?: (audience: string) => Promise<string>;
  /** Rate-limit pacing of the GitHub client; GitHub's own on a runner. */
  githubPacing?: GitHubPacing;
  /**
   * The AWS SDK's retry strategy and per-attempt timeout; the SDK's adaptive
   * mode and 30 s on a runner. The sandbox scales them down with its clock.
   */
  aws?: Pick<AwsAdapterOptions, "retryStrategy" | "requestTimeoutMs">;
  /** DNS check timeouts; 2 s × 3 tries on a runner. */
  dns?: { timeoutMs: number; tries: number };
}

/** The commands that read a private key: they run only past the approval gate. */
const GATED = new Set(Object.keys(GATED_WORKFLOW_FILE) as (keyof typeof GATED_WORKFLOW_FILE)[]);

function repositoryOf(config: ProjectConfig, env: RunEnvironment): { owner: string; repo: string } {
  const [owner, repo] = (env.repository ?? `${config.github?.owner}/${config.github?.repo}`).split(
    "/",
  );
  return { owner: owner!, repo: repo! };
}

/** The approval request PRs of this repository (github.approval: pull-request). */
async function approvalRequestsOf(
  octokit: GitHubClient,
  config: ProjectConfig,
  env: RunEnvironment,
): Promise<GitHubApprovalRequests> {
  const [{ GitHubApprovalRequests }, { readCodeowners }] = await Promise.all([
    import("./adapters/github-approvals"),
    import("./adapters/github"),
  ]);
  return new GitHubApprovalRequests(octokit, {
    ...repositoryOf(config, env),
    codeowners: readCodeowners(env.workspace),
    requiredApprovals: config.github?.requiredApprovals ?? 2,
  });
}

async function buildContext(
  inputs: ActionInputs,
  config: ProjectConfig,
  env: RunEnvironment,
): Promise<{
  ctx: EngineContext;
  octokit?: GitHubClient;
  /** The gate-token's client: only the pull-request gate reads with it (docs/design.md#gate-token). */
  gateOctokit?: GitHubClient;
  kmsRead?: ReturnType<typeof buildAwsAdapters>["kmsRead"];
  caller?: ReturnType<typeof buildAwsAdapters>["caller"];
  dmarcReports?: ReturnType<typeof buildAwsAdapters>["dmarcReports"];
  receiving?: ReturnType<typeof buildAwsAdapters>["receiving"];
  close(): void;
}> {
  const aws = buildAwsAdapters({
    config,
    endpoint: inputs.awsEndpoint,
    requestsPerSecond: inputs.requestsPerSecond,
    requestsPerSecondSource: { file: "input:requests-per-second", field: "requests-per-second" },
    onSecret: (s) => core.setSecret(s),
    clock: env.clock,
    ...env.aws,
    // The emulator accepts any SigV4-shaped credentials; real runs use the OIDC role from the environment.
    credentials: inputs.awsEndpoint
      ? { accessKeyId: "AKIASANDBOXEXAMPLE00", secretAccessKey: "sandbox" }
      : undefined,
  });
  let changes: ChangeRequestPort = noChanges;
  const github =
    inputs.githubToken || inputs.gateToken ? await import("./adapters/github") : undefined;
  const clientOf = (token: string | undefined) =>
    github && token
      ? github.createOctokit({
          token,
          baseUrl: env.apiUrl,
          pacing: env.githubPacing,
          onWait: (m) => core.info(m),
        })
      : undefined;
  const octokit = clientOf(inputs.githubToken);
  if (!inputs.dryRun && github && octokit) {
    changes = new github.GitHubChangeRequests(octokit, {
      ...repositoryOf(config, env),
      codeowners: github.readCodeowners(env.workspace),
      onWarning: (m) => core.warning(m),
    });
  }
  const ctx: EngineContext = {
    config,
    ses: aws.ses,
    keys: aws.keys,
    ...(aws.canary ? { canary: aws.canary } : {}),
    metrics: inputs.dryRun ? undefined : aws.metrics,
    dns: new DnsVerifier({ ...env.dns, clock: env.clock }),
    records: new RepoRecords(env.workspace, config),
    changes,
    clock: env.clock ?? systemClock,
    log: actionLogger,
    onSecret: (s) => core.setSecret(s),
    changeText: markdownChangeText,
    notices: inputs.dryRun ? undefined : aws.notices,
    publisherFor: aws.publisherFor,
  };
  return {
    ctx,
    octokit,
    gateOctokit: clientOf(inputs.gateToken),
    kmsRead: aws.kmsRead,
    caller: aws.caller,
    dmarcReports: aws.dmarcReports,
    ...(aws.receiving ? { receiving: aws.receiving } : {}),
    close: () => aws.destroy(),
  };
}

function summaryRows(snapshots: IdentitySnapshot[]): JobSummary["identities"] {
  return statusRows(snapshots).map(({ reason: _reason, alerts: _alerts, ...row }) => row);
}

/** Each identity's rotation in flight, with its progress at the snapshot's time (the summary's gantt charts). */
function rotationsOf(snapshots: IdentitySnapshot[]): JobSummary["rotations"] {
  return snapshots.flatMap((s) => {
    const r = rotationInFlight(s.lifecycle);
    return r ? [{ domain: s.identity.domain, ...r, now: s.lifecycle.now }] : [];
  });
}

function timelineOf(r: SwapReport) {
  return {
    domain: r.domain,
    selector: r.selector,
    events: r.timeline.map((e) => ({ at: e.at, step: e.step, detail: e.detail, ok: e.ok })),
  };
}

/** Run one command; returns the summary to write. Throws on failure. */
export async function execute(inputs: ActionInputs, env: RunEnvironment): Promise<JobSummary> {
  const config = loadConfig(resolveConfigPath(env.workspace, inputs.config), undefined, {
    fileHint: "set the action's config input to the stack file's path in the repository",
    recordFolder: inputs.recordFolder,
  });
  const publishing = inputs.command === "publish";
  const environment = publishing ? publisherEnvironmentOf(config) : gatedEnvironmentOf(config);
  const setting = publishing ? "github.publisherEnvironment" : "github.environment";
  if (inputs.environment && inputs.environment !== environment)
    throw new InputError({
      file: "input:environment",
      field: "environment",
      problem: `${quote(inputs.environment)} is not the environment ${config.file} names in ${setting} (${quote(environment)})`,
      hint: `the workflow's environment input and ${setting} in the stack file must name the same environment`,
    });
  // No role a scheduled job holds may change DNS (docs/design.md#publishers):
  // the publish job runs on the merge's push or by hand, never on a schedule.
  if (publishing && env.event === "schedule")
    throw new InputError({
      file: "input:command",
      field: "command",
      problem: "publish refuses to run on a schedule",
      hint: "publish runs on the merge's push to main, or by hand (workflow_dispatch) from main",
    });
  // A record folder reached through a link would show reviewers one file and the engine another.
  recordFolderStat(env.workspace, inputs.recordFolder);
  if (inputs.domain) findIdentity(config, inputs.domain, "input:domain");
  const { ctx, octokit, gateOctokit, kmsRead, caller, dmarcReports, receiving, close } =
    await buildContext(inputs, config, env);
  const domains = inputs.domain ? [inputs.domain] : undefined;
  const title = `DKIM ${inputs.command}${inputs.dryRun ? " (dry run)" : ""}`;
  try {
    if (GATED.has(inputs.command as "activate")) {
      const { confirmApproval } = await import("./gate");
      core.info(
        await confirmApproval({
          command: inputs.command as "activate",
          domain: inputs.domain ?? "(all identities)",
          environment,
          ...repositoryOf(config, env),
          runId: env.runId,
          octokit,
          idToken: env.idToken ?? ((audience) => core.getIDToken(audience)),
          workflowPin: config.github?.workflowPin,
          pullRequest:
            config.github?.approval === "pull-request"
              ? {
                  requiredApprovals: config.github.requiredApprovals,
                  octokit: gateOctokit,
                  selector: inputs.selector,
                  fingerprint: await storedFingerprint(ctx, inputs.domain, inputs.selector),
                }
              : undefined,
        }),
      );
    }
    switch (inputs.command) {
      case "status": {
        const snaps = await snapshotAll(ctx, domains);
        core.setOutput("decisions", JSON.stringify(snaps.map((s) => s.decision)));
        core.setOutput("ready", JSON.stringify(readyOf(snaps)));
        return {
          title,
          identities: summaryRows(snaps),
          rotations: rotationsOf(snaps),
          notes: notesOf(snaps),
        };
      }
      case "plan": {
        const { runPlan } = await import("./engine/plan");
        const { snapshots, outcomes, sesReads } = await runPlan(ctx, {
          apply: !inputs.dryRun,
          domains,
        });
        const readsNote = sesReads.named ? [] : [describeSesReads(sesReads)];
        for (const note of readsNote) core.info(note);
        core.setOutput(
          "decisions",
          JSON.stringify(
            outcomes.map((o) => ({
              ...o.decision,
              action: o.action,
              error: o.error,
              pullRequest: o.pullRequest?.number,
            })),
          ),
        );
        const pr = outcomes.find((o) => o.pullRequest?.number !== undefined)?.pullRequest?.number;
        core.setOutput("pull-request-number", pr === undefined ? "" : String(pr));
        core.setOutput("ready", JSON.stringify(readyOf(snapshots)));
        const summary: JobSummary = {
          title,
          identities: summaryRows(snapshots),
          rotations: rotationsOf(snapshots),
          notes: [
            ...readsNote,
            ...outcomes.map(
              (o) =>
                `${o.domain}: ${o.action}${o.error ? `: ${o.error}` : ""}${o.pullRequest?.url ? ` (${o.pullRequest.url})` : ""}`,
            ),
          ],
        };
        const failed = outcomes.filter((o) => o.error);
        if (failed.length) {
          // The other identities' keys and PRs are real; the summary must still say so.
          await writeJobSummary(summary);
          throw new Error(failed.map((o) => `${o.domain}: ${o.error}`).join("; "));
        }
        return summary;
      }
      case "verify": {
        const { runVerify } = await import("./engine/verify");
        const { approvalModeOf, approvedRetries, requestApprovals, targetsOf } =
          await import("./approval-flow");
        const { awaitingAutomaticPublication, followUp } = await import("./engine/follow-up");
        if (inputs.domain && inputs.selector) {
          // DNS only, against the record on main: this job holds no key-reading role.
          const v = await runVerify(ctx, inputs.domain, inputs.selector, "record");
          core.setOutput(
            "ready",
            JSON.stringify(v.ok ? [{ domain: v.domain, selector: v.selector }] : []),
          );
          const notes = v.servers.map(
            (s) => `${s.server}: ${s.status}${s.status === "ok" ? "" : ` (${s.detail})`}`,
          );
          if (!v.ok)
            core.warning(
              `${v.selector}._domainkey.${v.domain} is not served everywhere yet: ${notes.join("; ")}`,
            );
          return { title, identities: [], notes };
        }
        // SES only where an activation or a deletion may be due (the daily plan reads the fleet).
        const read = await snapshotForVerify(ctx, domains);
        const skipped = read.skipped;
        // Send the messages now due; then offer what is ready. DNS changes are
        // not this job's (the planner role may make none): the publish job
        // adds merged records, the gated retire job removes retired ones.
        const follow = inputs.dryRun
          ? { snapshots: read.snapshots, reports: [] }
          : await followUp(ctx, read.snapshots);
        const snaps = follow.snapshots;
        const followNotes = follow.reports.map(
          (r) =>
            `${r.domain}: ${[...r.notes, ...(r.error ? [`failed: ${r.error}`] : [])].join("; ")}`,
        );
        for (const note of followNotes) core.info(note);
        // A refused update or an SNS error is shown on the run but does not
        // fail it: other identities may be ready, and the next hour retries.
        for (const r of follow.reports) if (r.error) core.error(`${r.domain}: ${r.error}`);
        const skippedNote = skipped
          ? [
              `${skipped} identities with no pending key and no deletion due: SES not read (the daily plan reads what is due and a weekly drift sweep)`,
            ]
          : [];
        for (const note of skippedNote) core.info(note);
        let ready = readyOf(snaps);
        // Old keys whose record has left main: the gated retire job deletes them
        // (only the activator role may, and only with a recovery window).
        let retire = retirableKeys(snaps);
        const held: string[] = [];
        if (approvalModeOf(config) === "pull-request") {
          // The human gate is a reviewed PR (docs/design.md#approval-request-flow):
          // ask by PR, and offer the gated jobs only what the pushed commit approved.
          if (!octokit || inputs.dryRun) {
            held.push(
              `pull-request approval: ${inputs.dryRun ? "dry run" : "no github-token"}: no approval request opened or updated`,
            );
          } else {
            const requests = await approvalRequestsOf(octokit, config, env);
            held.push(
              ...(await requestApprovals(requests, snaps, {
                event: env.event ?? "",
                now: ctx.clock.now(),
                recoveryDays: config.deletionRecoveryDays,
              })),
            );
            // A push carries out what its commit added; an hourly run, what was
            // approved lately and is still ready but not carried out (a failed job).
            const approved =
              env.event === "push" && env.sha
                ? targetsOf(await requests.addedBy(env.sha))
                : env.event === "schedule"
                  ? await approvedRetries(requests, { ready, retire }, ctx.clock.now())
                  : targetsOf([]);
            if ("notes" in approved) held.push(...approved.notes);
            // Rollbacks run in dkim-rollback.yml, on the same push (its validate job).
            ({ ready, retire } = approved);
          }
          for (const h of held) core.info(h);
        } else if (octokit && env.runId && (ready.length || retire.length)) {
          // One approval request per decision: never queue a second one (approval-requests.ts).
          const { GitHubRuns } = await import("./adapters/github-runs");
          const { holdBack } = await import("./approval-requests");
          const runs = new GitHubRuns(octokit, repositoryOf(config, env), Number(env.runId));
          const open = await runs.openGatedJobs();
          const failures = env.event === "schedule" ? await runs.recentFailures() : [];
          const a = holdBack("activate", ready, open, failures, env.event ?? "");
          const r = holdBack("retire", retire, open, failures, env.event ?? "");
          ready = a.offer;
          retire = r.offer;
          for (const h of [...a.held, ...r.held]) {
            held.push(`${h.domain}: ${h.selector}: ${h.reason}`);
            core.info(`${h.domain}: ${h.selector}: ${h.reason}`);
          }
        }
        const publish = awaitingAutomaticPublication(snaps);
        const publishNotes = publish.map(
          (p) =>
            `${p.domain}: ${p.selector} is merged and awaits its automatic publisher: the publish job adds it on the merge's push${env.event === "schedule" ? "; a scheduled run never publishes, so if that run failed, run this workflow by hand from main" : ""}`,
        );
        for (const note of publishNotes) core.info(note);
        core.setOutput("ready", JSON.stringify(ready));
        core.setOutput("retire", JSON.stringify(retire));
        core.setOutput("publish", JSON.stringify(publish));
        core.setOutput("decisions", JSON.stringify(snaps.map((s) => s.decision)));
        return {
          title,
          identities: summaryRows(snaps),
          rotations: rotationsOf(snaps),
          notes: [
            ...notesOf(snaps),
            ...nameserverNotes(snaps),
            ...followNotes,
            ...publishNotes,
            ...held,
            ...skippedNote,
          ],
        };
      }
      case "publish": {
        // Add-only: Route 53 refuses a CREATE over an existing record, so the
        // active record cannot be overwritten (docs/design.md#publishers).
        const { awaitingAutomaticPublication, publishMerged } = await import("./engine/follow-up");
        const read = await snapshotForVerify(ctx, domains);
        const result = inputs.dryRun
          ? { snapshots: read.snapshots, reports: [] }
          : await publishMerged(ctx, read.snapshots);
        const todo = awaitingAutomaticPublication(read.snapshots);
        const notes = [
          ...(inputs.dryRun
            ? todo.map((t) => `${t.domain}: would publish ${t.selector}`)
            : result.reports.map(
                (r) =>
                  `${r.domain}: ${[...r.notes, ...(r.error ? [`failed: ${r.error}`] : [])].join("; ")}`,
              )),
          ...(todo.length ? [] : ["no merged record awaits an automatic publisher"]),
        ];
        for (const note of notes) core.info(note);
        const summary: JobSummary = {
          title,
          identities: summaryRows(result.snapshots),
          rotations: rotationsOf(result.snapshots),
          notes,
        };
        const failed = result.reports.filter((r) => r.error);
        if (failed.length) {
          // The others are published; the summary says so before the job fails.
          await writeJobSummary(summary);
          throw new Error(failed.map((r) => `${r.domain}: ${r.error}`).join("; "));
        }
        return summary;
      }
      case "activate": {
        const { runActivate } = await import("./engine/activate");
        const { ActivationFailedError } = await import("./engine/swap");
        const targets =
          inputs.domain && inputs.selector
            ? [{ domain: inputs.domain, selector: inputs.selector }]
            : readyOf(await snapshotAll(ctx, domains));
        const timelines = [];
        const notes: string[] = [];
        for (const t of targets) {
          try {
            const report = await runActivate(ctx, t.domain, t.selector, { dryRun: inputs.dryRun });
            timelines.push(timelineOf(report));
            notes.push(report.message);
            // The outcome in the job's log too, not only in its summary.
            core.info(report.message);
          } catch (err) {
            // A refusal, a rollback or an AWS error: the summary still shows what
            // happened, including swaps of earlier targets in this run.
            if (err instanceof ActivationFailedError) timelines.push(timelineOf(err.report));
            await writeJobSummary({
              title,
              proof: proofLine(config),
              identities: [],
              timelines,
              notes: [...notes, oneLine(err)],
            });
            throw err;
          }
        }
        if (!targets.length) notes.push("nothing is ready to activate");
        const snaps = await snapshotAll(ctx, domains);
        return {
          title,
          proof: proofLine(config),
          identities: summaryRows(snaps),
          rotations: rotationsOf(snaps),
          timelines,
          notes,
        };
      }
      case "doctor": {
        const { doctorGitHub, doctorGitHubSkip, hasFailure, renderDoctor, runDoctor } =
          await import("./doctor");
        const checks = await runDoctor({
          ...ctx,
          repoRoot: env.workspace,
          kms: kmsRead,
          caller,
          ...(receiving ? { receiving } : {}),
          dns: new DnsVerifier({}),
          github: doctorGitHub(config, inputs.githubToken, {
            apiUrl: env.apiUrl,
            repository: env.repository,
            pacing: env.githubPacing,
          }),
          githubSkip: doctorGitHubSkip(config, inputs.githubToken, {
            repository: env.repository,
          }),
        });
        core.setOutput("checks", JSON.stringify(checks));
        for (const line of renderDoctor(checks).split("\n")) core.info(line);
        const summary: JobSummary = {
          title,
          identities: [],
          notes: checks.map(
            (c) =>
              `${c.status}: ${c.check}: ${c.detail}${c.fix && c.status !== "ok" ? ` (fix: ${c.fix})` : ""}`,
          ),
        };
        if (hasFailure(checks)) {
          await writeJobSummary(summary);
          throw new Error(
            `doctor: ${checks
              .filter((c) => c.status === "fail")
              .map((c) => c.check)
              .join("; ")} failed`,
          );
        }
        return summary;
      }
      case "reports": {
        const { runReports } = await import("./engine/dmarc");
        // The scheduled report job (docs/design.md#dmarc-aggregate-reports):
        // its role reads the report prefix; the planner's reads nothing there.
        const report = await runReports(ctx, dmarcReports, { dryRun: inputs.dryRun });
        core.setOutput("alarms", JSON.stringify(report.alarms));
        for (const line of renderReports(report).split("\n")) core.info(line);
        for (const s of report.skipped) core.warning(`skipped ${s.key}: ${s.why}`);
        for (const a of report.alarms) core.error(a);
        return {
          title,
          identities: [],
          notes: [
            ...(report.on
              ? [`${report.read} report(s) read, ${report.skipped.length} skipped`]
              : []),
            ...report.notes,
            ...report.alarms,
          ],
          selectorReports: report.tallies,
        };
      }
      case "rollback-check": {
        const { approvalModeOf, targetsOf } = await import("./approval-flow");
        const { rollbackRequest } = await import("./engine/approval-request");
        // Before the gated rollback job is queued (docs/design.md#github-rollback-validation):
        // a second rollback of the domain would cancel or stack on the open one.
        const pullRequestMode = approvalModeOf(config) === "pull-request";
        if (env.event === "push") {
          // The merge of a rollback request (docs/design.md#approval-request-flow).
          if (!pullRequestMode || !octokit || !env.sha)
            throw new RefusalError(
              "(the pushed commit)",
              !pullRequestMode
                ? "rollback-check refused: on a push it reads an approved rollback request, which exists only under github.approval: pull-request; dispatch the rollback workflow with a domain and a selector"
                : "rollback-check refused: it needs github-token and GITHUB_SHA to read which rollback the pushed commit approved; run it from the rollback workflow",
            );
          const { rollback } = targetsOf(
            await (await approvalRequestsOf(octokit, config, env)).addedBy(env.sha),
          );
          core.setOutput("rollback", JSON.stringify(rollback));
          const notes = rollback.length
            ? rollback.map(
                (r) => `${r.domain}: the pushed commit approves the rollback to ${r.selector}`,
              )
            : ["the pushed commit approves no rollback"];
          for (const n of notes) core.info(n);
          return { title, identities: [], notes };
        }
        const domain = inputs.domain!;
        const selector = inputs.selector!;
        if (pullRequestMode && !inputs.reason)
          throw new InputError({
            file: "input:reason",
            field: "reason",
            problem: "is required for a rollback request under github.approval: pull-request",
            hint: "say in one line why, e.g. bounces at example.net since the swap; the approvers read it",
          });
        if (!octokit || !env.runId)
          throw new RefusalError(
            domain,
            "rollback-check refused: it needs github-token and GITHUB_RUN_ID to look for a rollback of the domain that is already open; run it from the rollback workflow with `permissions: actions: read`",
          );
        const { GitHubRuns } = await import("./adapters/github-runs");
        const { openRollbackOf } = await import("./approval-requests");
        const { rollbackReadiness } = await import("./engine/activate");
        const open = await new GitHubRuns(
          octokit,
          repositoryOf(config, env),
          Number(env.runId),
        ).openGatedJobs();
        const other = openRollbackOf(open, domain);
        if (other) throw new RefusalError(domain, `rollback ${selector} refused: ${other}`);
        const found = await rollbackReadiness(ctx, domain, selector);
        core.info(found.message);
        if (!pullRequestMode) {
          core.setOutput("rollback", JSON.stringify([{ domain, selector }]));
          return { title, identities: [], notes: [found.message] };
        }
        // Pull-request mode: the approvers' merge is the gate; ask them now.
        core.setOutput("rollback", "[]");
        if (inputs.dryRun)
          return {
            title,
            identities: [],
            notes: [found.message, "dry run: no rollback request opened"],
          };
        const asked = await (
          await approvalRequestsOf(octokit, config, env)
        ).request(
          rollbackRequest(found.lc, selector, found.dns, found.publicKey, inputs.reason!),
          env.event ?? "",
        );
        if (asked.action === "held")
          throw new RefusalError(domain, `rollback ${selector} refused: ${asked.reason}`);
        const note = `${domain}: URGENT rollback request #${asked.number} ${asked.action} (${asked.url}): merging it after review rolls back to ${selector}`;
        core.info(note);
        return { title, identities: [], notes: [found.message, note] };
      }
      case "rollback": {
        const { runRollback } = await import("./engine/activate");
        const report = await runRollback(ctx, inputs.domain!, inputs.selector!, {
          dryRun: inputs.dryRun,
        });
        return { title, identities: [], timelines: [timelineOf(report)], notes: [report.message] };
      }
      case "retire": {
        const { runRetire } = await import("./engine/retire");
        const report = await runRetire(ctx, inputs.domain!, inputs.selector!, {
          dryRun: inputs.dryRun,
        });
        const pr = report.steps
          .find((s) => s.step === "remove-record")
          ?.detail.match(/#(\d+)/)?.[1];
        core.setOutput("pull-request-number", pr ?? "");
        return { title, identities: [], notes: report.steps.map((s) => `${s.step}: ${s.detail}`) };
      }
    }
  } finally {
    close();
  }
}

/** Each pending selector's answer from every authoritative server (docs/operations.md). */
function nameserverNotes(snaps: IdentitySnapshot[]): string[] {
  return snaps.flatMap((s) =>
    Object.values(s.dns).flatMap((d) =>
      (d.verification?.servers ?? []).map(
        (ns) =>
          `${d.verification!.selector}._domainkey.${d.verification!.domain} @ ${ns.server}: ${ns.status}${ns.status === "ok" ? "" : ` (${ns.detail})`}`,
      ),
    ),
  );
}

function readyOf(snaps: IdentitySnapshot[]): { domain: string; selector: string }[] {
  return snaps.flatMap(({ decision: d }) =>
    d.kind === "activate" ? [{ domain: d.domain, selector: d.selector }] : [],
  );
}

function retirableKeys(snaps: IdentitySnapshot[]): { domain: string; selector: string }[] {
  return snaps.flatMap(({ decision: d }) =>
    d.kind === "retire" && d.retireStep === "delete-key"
      ? [{ domain: d.domain, selector: d.selector }]
      : [],
  );
}

function notesOf(snaps: IdentitySnapshot[]): string[] {
  return snaps.flatMap((s) => [
    `${s.decision.domain}: ${s.decision.reason}`,
    ...s.decision.alerts.map((a) => `${s.decision.domain}: ALERT ${a.kind}: ${a.message}`),
  ]);
}

/** What a runner says about the job, from its environment (GitHub Docs, "Default environment variables"). */
export function runnerEnvironment(): RunEnvironment {
  return {
    workspace: process.env.GITHUB_WORKSPACE ?? process.cwd(),
    repository: process.env.GITHUB_REPOSITORY,
    apiUrl: process.env.GITHUB_API_URL,
    runId: process.env.GITHUB_RUN_ID,
    event: process.env.GITHUB_EVENT_NAME,
    sha: process.env.GITHUB_SHA,
  };
}

export async function run(env: RunEnvironment = runnerEnvironment()): Promise<void> {
  try {
    const inputs = readInputs(undefined, undefined, env.event);
    const summary = await execute(inputs, env);
    await writeJobSummary(summary);
  } catch (err) {
    annotateError(err);
    core.setFailed(oneLine(err));
  }
}

/**
 * The fingerprint of the stored key a gated job would act on, from the key
 * store's metadata (its public half; no private key is read): the
 * pull-request gate refuses an approvals file that names another key
 * (docs/design.md#approval-by-pull-request). None without a stored key: the
 * command itself then refuses.
 */
async function storedFingerprint(
  ctx: Pick<EngineContext, "keys">,
  domain: string | undefined,
  selector: string | undefined,
): Promise<string | undefined> {
  if (!domain || !selector) return undefined;
  const key = (await ctx.keys.list(domain)).find((k) => k.selector === selector);
  return key && publicKeyFingerprint(key.publicKey);
}
