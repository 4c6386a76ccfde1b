/**
 * The embedded sandbox: the whole rotation lifecycle, locally, on a simulated
 * clock, with no AWS, GitHub or network. Its parts, each a module:
 *
 * - world.ts: the stack file, the adopting repository (a git checkout) and
 *   the GitHub fake that holds its main;
 * - schedule.ts: the shipped workflow files run as GitHub would (crons,
 *   pushes, environments with required reviewers, concurrency), the action's
 *   `run()` in their steps, against the AWS emulator's wire protocols;
 * - dns-team.ts: the DNS team reviews and merges record PRs, and publishes
 *   them on two loopback authoritative servers after its lead time;
 * - mail.ts: a mail stream signed by the emulator, verified with mailauth at
 *   send time against those servers;
 * - ledger.ts: the world's own record of each rotation, key, PR and job;
 * - naive.ts: `--naive`, the seed documents' flow;
 * - verdict.ts and report.ts: the figures, and report.json / report.md.
 * - picture.ts: report.html, the run drawn as swimlanes per domain and Region.
 *
 * This module builds the world (on scripts/local-world.ts), sets up the
 * starting states and runs the simulated years.
 *
 * The design: docs/design.md#sandbox.
 *
 * `--naive` replaces the pipeline with the seed documents' flow (swap SES at
 * once, then ask DNS), to show the damage the hazard does in the same world.
 */
import { cacheMailauthKeyParsing } from "./key-cache";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateEmailIdentityCommand } from "@aws-sdk/client-sesv2";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";
import {
  addDays,
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  isoDate,
  SimClock,
} from "../../actions/dkim-rotation/src/engine/clock";
import {
  publisherEnvironmentOf,
  gatedEnvironmentOf,
} from "../../actions/dkim-rotation/src/engine/config";
import {
  generateDkimKeyPair,
  sesPrivateKeyToPem,
} from "../../actions/dkim-rotation/src/engine/keys";
import { runAdopt } from "../../actions/dkim-rotation/src/engine/adopt";
import { fileKeySource } from "../../actions/dkim-rotation/src/adapters/legacy-key";
import type { EngineContext, Logger } from "../../actions/dkim-rotation/src/engine/engine-context";
import {
  dkimRecordValue,
  recordOwner,
  recordFolderOf,
} from "../../actions/dkim-rotation/src/engine/record";
import { RepoRecords } from "../../actions/dkim-rotation/src/adapters/repo-records";
import { DnsVerifier } from "../../actions/dkim-rotation/src/adapters/dns";
import {
  createOctokit,
  GitHubChangeRequests,
  readCodeowners,
} from "../../actions/dkim-rotation/src/adapters/github";
import { buildAwsAdapters } from "../../actions/dkim-rotation/src/context";
import { provisionCanary } from "./canary-world";
import { outsideStep } from "../action-host";
import { startLocalWorld } from "../local-world";
import type { RunRecord } from "../workflow-runner";
import type { AwsEmulator, EasyDkimKey } from "./aws-emulator";
import { renderZoneFile, type DnsServer } from "./dns-server";
import { DnsTeam } from "./dns-team";
import { AWS_FAULT_KINDS, DNS_FAULT_KINDS, type AwsFaultKind, type DnsFaultKind } from "./faults";
import { DENSE_WINDOW_MS, MailStream } from "./mail";
import { Receivers, sesInboundMailbox } from "./receivers";
import { dmarcFigures, SANDBOX_DMARC_REPORTS } from "./dmarc-figures";
import { runReports, type ReportsRunReport } from "../../actions/dkim-rotation/src/engine/dmarc";
import { SANDBOX_MARKER, sandboxOutProblem } from "./out-dir";
import { renderReportMd, type SandboxReport, type WorkflowFigures } from "./report";
import { renderReportHtml } from "./picture";
import { WorkflowSchedule } from "./schedule";
import { judge, type SwapAudit } from "./verdict";
import { jobSubject, Ledger } from "./ledger";
import { Timeline, type TimelineInput } from "./timeline";
import { simulatedProgress } from "../progress";
import { naiveYears } from "./naive";
import {
  renderSandboxStack,
  SANDBOX_CONFIG_FILE,
  SANDBOX_CANARY,
  SANDBOX_CREDENTIALS,
  SANDBOX_OWNER,
  SANDBOX_REPO,
  SANDBOX_APP,
  SANDBOX_VARS,
  SandboxRepository,
  sandboxConfig,
  sandboxFiles,
  createEasyDkimIdentity,
  type SandboxApproval,
} from "./world";
import { APPROVERS, APPROVERS_TEAM, PullRequestApprovers } from "./approvers";
import { plainChangeText } from "../../actions/dkim-rotation/src/format";
import {
  publisherEmulatorOptions,
  route53Follower,
  startPublisherWorld,
  type PublisherEndState,
  type PublisherWorld,
  type SandboxPublisher,
} from "./publishers";

export type { FaultReport, RotationRecord, SandboxReport } from "./report";
export { renderReportMd, recordOwner };
export { publicationLine } from "./report";

export interface SandboxOptions {
  out: string;
  years: number;
  naive: boolean;
  /** First simulated instant (UTC midnight). */
  start?: Date;
  /** One line per lifecycle event as it happens (the timeline; timeline.txt holds the same lines). */
  print?: (line: string) => void;
  /**
   * Progress on long work, called at every step of the simulated clock with
   * the line to show (built only when called): the caller throttles
   * (scripts/progress.ts).
   */
  progress?: (line: () => string) => void;
  /** Sees every private key the run creates or reads (tests scan artifacts for them). */
  onSecret?: (secret: string) => void;
  /** Seeded fault injection from the first simulated day (pipeline mode only). */
  faults?: SandboxFaults;
  /** SES answers empty BYODKIM Tokens and has TEMPORARY_FAILURE spells after SUCCESS. */
  sesQuirks?: boolean;
  /** What a switch back to Easy DKIM gives (default `new-tokens`, the stricter reading). */
  easyDkimSwitchBack?: "new-tokens" | "same-tokens";
  /**
   * The emulator's `signWithWrongKey` switch for every selector SES had not
   * signed with at the start: each activation's canary must fail and roll
   * back (docs/design.md#canary).
   */
  sesWrongKey?: boolean;
  /**
   * The checkout of the tool whose workflow files and action run (default:
   * this one). Tests pass a changed copy to show that the verdict follows the files.
   */
  toolRoot?: string;
  /**
   * Who puts a merged record into DNS (default `manual`: the DNS team, by
   * hand, after the lead time). `rfc2136`: the action, by nsupdate to a real
   * named primary; `route53`: the action, through the emulator's Route 53.
   */
  publisher?: SandboxPublisher;
  /**
   * Who approves the gated decisions (default `environment`: required
   * reviewers of the gated environment). `pull-request`: the approvers review
   * and merge approval request PRs (docs/design.md#approval-request-flow).
   */
  approval?: SandboxApproval;
}

export interface SandboxFaults {
  /** Probability (0..1) per control-plane call, per PUT (DKIM status), per DNS answer. */
  rate: number;
  seed: number;
  /** Default: every AWS kind. */
  aws?: AwsFaultKind[];
  /** Default: every DNS kind. */
  dns?: DnsFaultKind[];
}

/** The tool's own checkout: its workflow files and action are what the sandbox runs. */
const TOOL_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WORKFLOWS = ".github/workflows";
const ROTATE = `${WORKFLOWS}/dkim-rotate.yml`;
const ACTIVATE = `${WORKFLOWS}/dkim-activate.yml`;
const REVIEW_DAYS = 2;
const APPROVAL_DELAY_MS = 2 * HOUR_MS;
const NS2_LAG_MS = 2 * HOUR_MS;
/** The legacy domain's hand-made selector, named as the seed documents' production key is. */
const LEGACY_SELECTOR = "gooid-21-prod";
const REVIEWER = "approver";

export async function runSandbox(options: SandboxOptions): Promise<SandboxReport> {
  // The SDK warns that Node 20 support ends in 2027; the sandbox talks only to
  // its own emulator, so that warning is noise here (the action runs node24).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  // The action's steps run in this process with stdout captured; the timeline still goes out.
  const timeline = new Timeline((line) => outsideStep(() => options.print?.(line)));
  const event = (e: TimelineInput) => timeline.add(e);
  const progress = options.progress ?? (() => {});
  if (options.faults && options.naive)
    throw new Error("--faults applies to the pipeline; the naive flow breaks DKIM without help");
  const publisherKind = options.publisher ?? "manual";
  const approval = options.approval ?? "environment";
  if (approval !== "environment" && options.naive)
    throw new Error("--approval applies to the pipeline; the naive flow asks nobody");
  if (publisherKind !== "manual" && options.naive)
    throw new Error("--publisher applies to the pipeline; the naive flow publishes by hand");
  const out = resolve(options.out);
  prepareOut(out);
  const repoDir = join(out, "repo");
  for (const dir of ["zones", "mail"]) mkdirSync(join(out, dir), { recursive: true });

  const wall0 = performance.now();
  // The emulated SES signs every message with mailauth, which parses the key each time.
  cacheMailauthKeyParsing();
  const toolRoot = resolve(options.toolRoot ?? TOOL_ROOT);
  const start = options.start ?? new Date("2027-01-04T00:00:00Z");
  const end = addDays(start, Math.round(options.years * 365));
  // The world starts before `start`: legacy keys signing for 200 days, so two
  // years hold two yearly rotations per domain (days ~114 and ~444).
  const legacyActivatedAt = addDays(start, -200);

  // The world's advance is set below; the clock calls it only once the world is built.
  let advanceWorld: (to: number) => Promise<void> = async () => {};
  const clock = new SimClock(legacyActivatedAt.getTime(), (to) => advanceWorld(to));
  // The world's servers first (the stack file names their addresses), then its emulator.
  const local = await startLocalWorld({ emulator: false });
  const closers: (() => Promise<void> | void)[] = [() => local.close()];
  try {
    const [ns1, ns2] = local.servers as [DnsServer, DnsServer];
    const servers: [DnsServer, number][] = [
      [ns1, 0],
      [ns2, NS2_LAG_MS],
    ];
    const nameservers = local.addresses;
    const secretsSeen = (s: string) => options.onSecret?.(s);

    /** Owner names of selectors SES has signed mail with: DNS faults spare them (see below). */
    const everSigned = new Set<string>();
    // Every version of SES's key zones (where Easy DKIM's CNAMEs lead) is
    // snapshotted beside the mail domains' zones, so a verifier reading only
    // zones/ and mail/ can follow each CNAME to its key.
    local.amazonses.onChange = (origin, model) =>
      writeFileSync(
        join(out, "zones", `${origin}.${model.serial}.zone`),
        renderZoneFile({ ...model, origin }, { servedFrom: clock.now() }),
      );
    // Easy DKIM's signing keys are served at <token>.<SigningHostedZone> by the
    // world; SES's own key signs mail as soon as the CNAMEs verify, so DNS
    // faults spare its names as they spare every selector SES signed with (see below).
    const noteEasyDkimKey = (key: EasyDkimKey) => {
      for (const t of key.tokens) everSigned.add(`${t}._domainkey.${key.identity}`);
    };
    // Every swap is audited against what both servers really serve (not what a
    // faulted answer said): the independent check that no swap skipped DNS.
    const swapAudit: SwapAudit[] = [];
    // Built once the emulator is up; its hooks reach them through here.
    const late: { team?: DnsTeam; mail?: MailStream; ledger?: Ledger } = {};
    const emulator: AwsEmulator = await local.startEmulator({
      onEasyDkimKey: noteEasyDkimKey,
      clock: { now: () => clock.now() },
      // The real limit is 1 request/s per Region; scaled so two years fit in a minute.
      sesRequestsPerSecond: 1000,
      dkim: { firstCheckMinutes: 15, recheckMinutes: 30 },
      sesQuirks: {
        ...(options.sesQuirks ? { emptyExternalTokens: true, temporaryFailureEvery: 5 } : {}),
        easyDkimSwitchBack: options.easyDkimSwitchBack ?? "new-tokens",
      },
      // The mail stream takes each message from onMessage; nothing reads ses.sent().
      retainSentMessages: false,
      onMessage: (e) => {
        // Canaries are the pipeline's own proof, counted per swap, not customer mail.
        if (e.to.includes(SANDBOX_CANARY.address)) return;
        late.mail?.onMessage(e);
        if (e.domain && e.selector) everSigned.add(`${e.selector}._domainkey.${e.domain}`);
      },
      onExternalKey: (k) =>
        swapAudit.push({
          region: k.region,
          domain: k.identity,
          selector: k.selector,
          at: k.at.getTime(),
          verified: late.team!.servesEverywhere(k.identity, k.selector, k.publicKey),
        }),
      ...publisherEmulatorOptions(
        publisherKind,
        route53Follower({
          team: () => late.team,
          onDnsEvents: (events) => late.ledger?.onDnsEvents(events),
          now: () => clock.t,
        }),
      ),
    });

    // ---- the stack file (with the publisher's settings) -----------------------
    const publishing: PublisherWorld | undefined = await startPublisherWorld(publisherKind, {
      emulator,
      credentials: SANDBOX_CREDENTIALS,
      team: () => late.team,
      now: () => clock.t,
      servers: [ns1, ns2],
      onSecret: secretsSeen,
      event,
    });
    if (publishing) closers.push(() => publishing.close());
    const domains = sandboxConfig(
      join(repoDir, SANDBOX_CONFIG_FILE),
      nameservers,
      {},
      approval,
    ).identities.map((i) => i.domain);
    const extras = publishing?.extras(domains) ?? {};
    const config = sandboxConfig(join(repoDir, SANDBOX_CONFIG_FILE), nameservers, extras, approval);
    const environment = gatedEnvironmentOf(config);
    writeFileSync(
      join(out, "Pulumi.sandbox.yaml"),
      renderSandboxStack(nameservers, extras, approval),
    );
    await provisionCanary(
      emulator,
      config.canary!,
      SANDBOX_CREDENTIALS,
      undefined,
      SANDBOX_DMARC_REPORTS,
    );

    // ---- GitHub and the adopting repository ----------------------------------
    const files = sandboxFiles(nameservers, extras, approval);
    const github = await local.startGitHub({
      owner: SANDBOX_OWNER,
      repo: SANDBOX_REPO,
      files,
      clock,
      // The PR-opening App holds no Administration; the gate's own App does.
      appAdministration: "none",
      gateApp: SANDBOX_APP.gateApp,
    });
    // Pull-request mode, as infra/ sets it up with github.manageRepository
    // (docs/design.md#approval-by-pull-request): the bot-branch ruleset with
    // dkim-approval/**, the default branch's ruleset (2 code-owner approvals of
    // the last push, stale ones dismissed, no bypass actor), the approvers'
    // team that CODEOWNERS names; the plan offers no reviewers: the merged PR is the gate.
    if (approval === "pull-request") {
      github.protectAsDocumented({ approval, requiredApprovals: 2 });
      github.setTeam(APPROVERS_TEAM.split("/")[1]!, APPROVERS);
    }
    github.actions.setEnvironment(environment, {
      ...(approval === "environment"
        ? {
            reviewers: [{ type: "User" as const, id: 501, login: REVIEWER }],
            preventSelfReview: true,
          }
        : {}),
      branchPatterns: ["main"],
    });
    // The publish job's environment, as infra/ creates it: no reviewers, main only.
    github.actions.setEnvironment(publisherEnvironmentOf(config), { branchPatterns: ["main"] });
    const repository = new SandboxRepository(repoDir, recordFolderOf(config));
    repository.init(files, clock.t);
    const team = new DnsTeam({
      servers,
      config,
      github,
      repository,
      clock,
      zonesDir: join(out, "zones"),
      reviewDays: REVIEW_DAYS,
      event,
      publisher: publisherKind,
    });
    late.team = team;

    // ---- mail ------------------------------------------------------------------
    const expectedSwaps = new Map<string, number[]>();
    const addExpectedSwap = (domain: string, at: number) =>
      expectedSwaps.set(domain, [...(expectedSwaps.get(domain) ?? []), at]);
    // Receivers' DMARC aggregate reports (receivers.ts), mailed to the rua
    // address, stored in S3 by SES receiving, read by the engine's `reports`
    // command with its own S3 adapter.
    const receivers = new Receivers({
      resolverAddress: nameservers[0]!,
      verify: (...a) => late.mail!.verifyFor(...a),
      faults: !!options.faults,
      mailbox: sesInboundMailbox(
        (raw, to, at) => emulator.ses.receive(raw, to, at),
        SANDBOX_DMARC_REPORTS.ruaAddress!,
      ),
    });
    const stream = new MailStream({
      receivers,
      config,
      emulator: () => emulator,
      credentials: SANDBOX_CREDENTIALS,
      clock,
      resolverAddress: nameservers[0]!,
      mailDir: join(out, "mail"),
      zoneSerial: (domain) => team.zoneSerial(domain),
      dense: (domain, t) =>
        (expectedSwaps.get(domain) ?? []).some(
          (s) => t >= s - DENSE_WINDOW_MS && t <= s + DENSE_WINDOW_MS,
        ),
    });
    late.mail = stream;
    closers.push(() => stream.close());

    // ---- the world's own record of each rotation --------------------------------
    const ledger = new Ledger({
      config,
      emulator,
      github,
      clock,
      environment,
      naive: options.naive ?? false,
      event,
      onSecret: (secret) => {
        secretsSeen(secret);
        publishing?.noteMasked(secret);
      },
      expectSwap: addExpectedSwap,
      ...(publishing ? { swapAfterOpenMs: REVIEW_DAYS * DAY_MS } : {}),
    });
    late.ledger = ledger;

    const advanceTo = async (target: number) => {
      for (;;) {
        const nextMail = stream.next();
        const nextEvent = Math.min(nextMail?.at ?? Infinity, team.nextChangeAt());
        if (nextEvent > target) break;
        clock.t = Math.max(clock.t, nextEvent);
        ledger.onDnsEvents(team.applyDue(clock.t));
        await emulator.advance();
        if (nextMail && nextMail.at === nextEvent) await stream.send(nextMail.domain, nextMail.at);
      }
      clock.t = Math.max(clock.t, target);
      ledger.onDnsEvents(team.applyDue(clock.t));
      await emulator.advance();
    };
    advanceWorld = advanceTo;

    // ---- the operator's engine (adoption, and the naive flow) -------------------
    const log: Logger = { info: () => {}, warn: () => {}, progress: () => {} };
    const scaledAws = options.faults
      ? {
          // The standard strategy (5 attempts, the SDK's classification of
          // throttling and transient errors, its retry quota) with backoff
          // scaled down like SES's pacing (1000×): the adaptive mode's limiter
          // and default backoff work in real seconds. A held connection is
          // dropped after 2 s and retried (the emulator resets it after 40 ms).
          retryStrategy: new ConfiguredRetryStrategy(5, (attempt: number) => 2 ** attempt),
          requestTimeoutMs: 2000,
        }
      : {};
    const adapters = buildAwsAdapters({
      config,
      endpoint: emulator.url,
      credentials: SANDBOX_CREDENTIALS,
      requestsPerSecond: 1000,
      clock,
      onSecret: secretsSeen,
      ...scaledAws,
    });
    closers.push(() => adapters.destroy());
    // The reports job's S3 reader, as the action builds it for a stack with `dmarcReports`.
    const reportsAdapters = buildAwsAdapters({
      config: { ...config, dmarcReports: SANDBOX_DMARC_REPORTS },
      endpoint: emulator.url,
      credentials: SANDBOX_CREDENTIALS,
      requestsPerSecond: 1000,
      clock,
      onSecret: secretsSeen,
      ...scaledAws,
    });
    closers.push(() => reportsAdapters.destroy());
    const githubPacing = { retryAfterBaseMs: 5, writeIntervalMs: 0 };
    const octokit = createOctokit({
      token: "ghs_sandboxOperatorToken0123456789abcdef",
      baseUrl: github.url,
      pacing: githubPacing,
    });
    // One adapter per run, as each workflow run (and each Lambda invocation) has:
    // it lists the open PRs once and keeps that list for the run.
    const newChanges = () =>
      new GitHubChangeRequests(octokit, {
        owner: SANDBOX_OWNER,
        repo: SANDBOX_REPO,
        codeowners: readCodeowners(repoDir),
      });
    const ctx: EngineContext = {
      config,
      changeText: plainChangeText,
      ses: adapters.ses,
      keys: adapters.keys,
      ...(adapters.canary ? { canary: adapters.canary } : {}),
      metrics: adapters.metrics,
      dns: new DnsVerifier({ timeoutMs: 500, tries: 2, clock }),
      records: new RepoRecords(repoDir, config),
      changes: newChanges(),
      clock,
      log,
      onSecret: secretsSeen,
      activation: { pollIntervalMs: 60_000, timeoutMs: 60 * MINUTE_MS },
    };

    // Once a sim day: the receivers mail yesterday's reports, then `reports` runs.
    const dmarcRuns: ReportsRunReport[] = [];
    const reportsCtx: EngineContext = {
      ...ctx,
      config: { ...config, dmarcReports: SANDBOX_DMARC_REPORTS },
    };
    let lastReportDay = "";
    const dailyReports = async () => {
      const day = isoDate(clock.now());
      if (day === lastReportDay) return;
      lastReportDay = day;
      await stream.settle();
      if (!receivers.sendReports(clock.t)) return;
      let r: ReportsRunReport;
      try {
        r = await runReports(reportsCtx, reportsAdapters.dmarcReports!);
      } catch (err) {
        // A failed reports run (an injected AWS fault under --faults) is a failed
        // daily job: the next day's run reads what is still unread.
        event({
          at: clock.now(),
          kind: "dmarc-skipped",
          detail: `reports: the run failed (${(err as Error).message}); the next day's run reads the reports again`,
        });
        return;
      }
      dmarcRuns.push(r);
      for (const x of r.skipped)
        event({
          at: clock.now(),
          kind: "dmarc-skipped",
          detail: `reports: skipped ${x.key}: ${x.why}`,
        });
      for (const a of r.alarms)
        event({ at: clock.now(), kind: "dmarc-alarm", detail: `reports: ${a}` });
    };

    // ---- the world before `start`: the real starting states -------------------
    // The first domain signs with a hand-made BYODKIM key this repository did
    // not make (as the seed documents' production domain does), adopted from
    // a key file; the others sign with Easy DKIM and are onboarded from it.
    const [legacyIdentity, ...easyIdentities] = config.identities;
    const legacyPair = await generateDkimKeyPair(legacyIdentity!.keyBits, secretsSeen);
    {
      const domain = legacyIdentity!.domain;
      team.setUp(domain, new Map([[LEGACY_SELECTOR, dkimRecordValue(legacyPair.publicKey)]]));
      for (const region of legacyIdentity!.regions) {
        await stream.client(region).send(new CreateEmailIdentityCommand({ EmailIdentity: domain }));
        await adapters.ses.putExternalKey(
          region,
          domain,
          LEGACY_SELECTOR,
          legacyPair.sesPrivateKey,
        );
      }
      ledger.active.set(domain, LEGACY_SELECTOR);
    }
    for (const identity of easyIdentities) {
      const domain = identity.domain;
      const cnames = await createEasyDkimIdentity(emulator, identity, (r) => stream.client(r));
      team.setUp(domain, new Map(), cnames);
      ledger.active.set(domain, "easy-dkim");
    }
    // The primary starts with the zones the servers serve; Route 53's zones too.
    await publishing?.setUp(config);
    await advanceTo(legacyActivatedAt.getTime() + HOUR_MS);
    // The operator adopts the legacy key once, from the key file (docs/operations.md):
    // its record file goes to main directly, as the adoption commit would.
    {
      const domain = legacyIdentity!.domain;
      const keyDir = mkdtempSync(join(tmpdir(), "sandbox-legacy-key-"));
      const keyFile = join(keyDir, `${LEGACY_SELECTOR}.pem`);
      writeFileSync(keyFile, sesPrivateKeyToPem(legacyPair.sesPrivateKey), { mode: 0o600 });
      try {
        const report = await runAdopt(
          {
            ...ctx,
            changes: {
              ...ctx.changes,
              async proposeRecord(c) {
                github.commitFiles({ [c.path]: c.content }, c.title);
                repository.pullMain(github, c.title, clock.t);
                return { created: true };
              },
            },
          },
          {
            domain,
            selector: LEGACY_SELECTOR,
            activatedAt: legacyActivatedAt.toISOString(),
            source: fileKeySource(keyFile, domain),
          },
        );
        event({
          at: clock.now(),
          kind: "adopted",
          domain,
          selector: LEGACY_SELECTOR,
          regions: legacyIdentity!.regions,
          detail: report.message,
        });
      } finally {
        rmSync(keyDir, { recursive: true, force: true });
      }
      everSigned.add(`${LEGACY_SELECTOR}._domainkey.${domain}`);
    }
    clock.t = start.getTime();
    await emulator.advance();
    stream.start(start.getTime() + 5 * MINUTE_MS);
    swapAudit.length = 0;
    if (options.sesWrongKey) {
      // SES signs every key it is given from now on with another one: the
      // canary of each activation must catch it and roll back.
      const atStart = new Set(everSigned);
      emulator.ses.setSwitches({
        signWithWrongKey: (_region, domain, selector) =>
          !atStart.has(`${selector}._domainkey.${domain}`),
      });
    }
    if (options.faults) {
      const f = options.faults;
      emulator.faults.set({
        seed: f.seed,
        rate: f.rate,
        kinds: f.aws ?? [...AWS_FAULT_KINDS],
        // Scaled like the pacing: real waits short enough for two years in minutes.
        timeoutHoldMs: 40,
        slowMs: 25,
      });
      // DNS faults hit only selectors SES never signed with: candidates on
      // their way to activation (and SES's own checks of them). A wrong or
      // broken answer for a key that signs mail would fail signatures at every
      // receiver whatever the rotation engine does; here the question is
      // whether the engine swaps on a bad answer.
      const applies = (name: string) => name.includes("._domainkey.") && !everSigned.has(name);
      for (const [server, label] of [
        [ns1, "ns1"],
        [ns2, "ns2"],
      ] as const)
        server.setFaults({
          seed: f.seed,
          rate: f.rate,
          kinds: f.dns ?? [...DNS_FAULT_KINDS],
          label,
          applies,
        });
    }
    event({
      at: start,
      kind: "start",
      detail: `sandbox: ${legacyIdentity!.domain} (${legacyIdentity!.regions.join(", ")}) signs with the adopted legacy key ${LEGACY_SELECTOR} (since ${isoDate(legacyActivatedAt)}); ${easyIdentities.map((i) => `${i.domain} (${i.regions.join(", ")})`).join(", ")} on Easy DKIM; mode ${options.naive ? "NAIVE (swap first, DNS later)" : "pipeline (the shipped workflows: DNS first, gated swap)"}`,
    });

    // ---- the simulated years ---------------------------------------------------
    ledger.noteKeys(); // the operator's adopted key
    const reportProgress = () =>
      progress(
        () =>
          `sandbox: ${simulatedProgress(clock.now(), start, end, options.years)}, ${stream.stats.messages} messages`,
      );

    /** Every dkim-activate.yml run, when it started: what the verdict quotes when a rotation is stuck. */
    const activateRuns: { at: number; run: RunRecord }[] = [];
    let schedule: WorkflowSchedule | undefined;
    let quietHoursSkipped = 0;
    /** Approvals given in the gated environment (report.html's marks). */
    const approvals: { at: number; job: string }[] = [];
    const wallSetUp = performance.now();
    const approvers =
      approval === "pull-request"
        ? new PullRequestApprovers({
            github,
            delayMs: APPROVAL_DELAY_MS,
            note: (e) => {
              if (e.kind === "approved") approvals.push({ at: e.at, job: e.detail });
              event(e);
            },
          })
        : undefined;

    if (options.naive) {
      await naiveYears({
        config,
        ctx,
        adapters,
        emulator,
        team,
        ledger,
        clock,
        start,
        end,
        advanceTo,
        reportProgress,
        event,
        swapExpected: (domain, at) => (expectedSwaps.get(domain) ?? []).includes(at),
        expectSwap: addExpectedSwap,
        onSecret: secretsSeen,
        newChanges,
      });
    } else {
      schedule = new WorkflowSchedule({
        root: toolRoot,
        workspace: repoDir,
        github,
        emulator,
        credentials: SANDBOX_CREDENTIALS,
        clock,
        vars: { ...SANDBOX_VARS, ...SANDBOX_APP.vars },
        secrets: SANDBOX_APP.secrets,
        environmentSecrets: { [environment]: SANDBOX_APP.gatedEnvironmentSecrets },
        actionEnvironment: {
          clock,
          githubPacing,
          aws: scaledAws,
          dns: { timeoutMs: 500, tries: 2 },
        },
        approvalDelayMs: APPROVAL_DELAY_MS,
        reviewer: REVIEWER,
      });
      await pipelineYears(schedule);
    }

    /** The shipped workflows, on their own triggers, for the simulated years. */
    async function pipelineYears(schedule: WorkflowSchedule) {
      const callers = readdirSync(join(toolRoot, WORKFLOWS))
        .filter((f) => /^dkim-.*\.ya?ml$/.test(f))
        .map((f) => `${WORKFLOWS}/${f}`);
      let nextPlan = await schedule.nextFire(ROTATE, start.getTime() - 1);
      let nextHourly = await schedule.nextFire(ACTIVATE, start.getTime() - 1);
      let lastQuietVersion = -1;
      /** Under DNS faults an answer depends on more than the world: a served candidate is asked every hour. */
      const candidateServed = () =>
        ledger.rotations.some(
          (r) =>
            !r.activatedAt &&
            !r.rolledBackAt &&
            r.publishedAt &&
            team.servedAnywhere(r.domain, r.to),
        );
      for (;;) {
        const next = Math.min(
          nextPlan,
          nextHourly,
          team.nextReviewAt(),
          schedule.nextApprovalAt(),
          approvers?.nextAt() ?? Infinity,
        );
        if (next > end.getTime()) break;
        await advanceTo(next);
        reportProgress();
        await dailyReports();
        // What a run does next (a workflow) overlaps the worker's verifying of the hour's mail.
        stream.handOff();
        const merged = team.reviewDue(clock.t);
        if (merged.length) {
          ledger.onMerged(merged);
          // The merge is a push to main that changes the record folder.
          const changedPaths = merged.map((m) => m.path);
          for (const file of callers) {
            const run = await schedule.run(file, { name: "push", branch: "main", changedPaths });
            if (run.triggered) ledger.onRun(run);
            if (run.triggered && file === ACTIVATE) activateRuns.push({ at: clock.t, run });
            await publishing?.afterRun();
          }
          approvers?.poll(clock.t);
        }
        // Pull-request mode: reviewed and merged requests are pushes to main under approvals/.
        for (const merged of (await approvers?.reviewDue(clock.t)) ?? []) {
          ledger.version++;
          for (const file of callers) {
            const run = await schedule.run(file, {
              name: "push",
              branch: "main",
              changedPaths: [merged.path],
            });
            if (run.triggered) ledger.onRun(run);
            if (run.triggered && file === ACTIVATE) activateRuns.push({ at: clock.t, run });
            await publishing?.afterRun();
          }
          approvers!.poll(clock.t);
        }
        if (schedule.nextApprovalAt() <= clock.t) {
          const approved = (job: { name: string }) => {
            approvals.push({ at: clock.t, job: job.name });
            event({
              at: clock.now(),
              kind: "approved",
              ...jobSubject(job.name),
              detail: `approvers approved ${environment} for "${job.name}"`,
            });
          };
          for (const run of await schedule.approveDue(clock.t, approved)) ledger.onRun(run);
          ledger.version++;
          await publishing?.afterRun();
        }
        if (clock.t >= nextPlan) {
          const keysBefore = ledger.keyStoreState();
          const prsBefore = ledger.pullsSeen;
          ledger.onRun(await schedule.run(ROTATE, { name: "schedule" }));
          await publishing?.afterRun();
          ledger.checkKeys();
          // A plan that stored a key, changed one's state or opened a PR changed the world.
          if (ledger.keyStoreState() !== keysBefore || ledger.pullsSeen !== prsBefore)
            ledger.version++;
          nextPlan = await schedule.nextFire(ROTATE, clock.t);
        }
        if (clock.t >= nextHourly) {
          // The hourly check's answer depends only on the world (records, keys,
          // DNS, SES) and the day: an hour in which none of that changed since
          // a run that found nothing to do would find nothing again, so it is
          // not delivered (counted in the report), unless a job waits for a reviewer.
          const quiet =
            ledger.version === lastQuietVersion &&
            schedule.waitingJobs === 0 &&
            !(options.faults && candidateServed());
          if (quiet) quietHoursSkipped++;
          else {
            const version = ledger.version;
            const run = await schedule.run(ACTIVATE, { name: "schedule" });
            activateRuns.push({ at: clock.t, run });
            const acted = ledger.onRun(run);
            approvers?.poll(clock.t);
            await publishing?.afterRun();
            if (!acted && version === ledger.version) lastQuietVersion = ledger.version;
          }
          nextHourly = await schedule.nextFire(ACTIVATE, clock.t);
        }
      }
    }

    // ---- what DNS holds at the end (automatic publishers) ------------------------
    let publisherEnd: Record<string, PublisherEndState> | undefined;
    if (publishing) {
      publisherEnd = {};
      for (const identity of config.identities) {
        const d = identity.domain;
        const folder = `${recordFolderOf(config)}/${d}/`;
        const main = github
          .listFiles()
          .filter((p) => p.startsWith(folder) && p.endsWith(".zone"))
          .map((p) => p.slice(folder.length, -".zone".length))
          .sort();
        const seen = new Set<string>([...main, ...team.servedSelectors(ns1, d)]);
        if (d === legacyIdentity!.domain) seen.add(LEGACY_SELECTOR);
        for (const r of ledger.rotations.filter((x) => x.domain === d)) {
          seen.add(r.to);
          if (r.from && r.from !== "easy-dkim") seen.add(r.from);
        }
        publisherEnd[d] = await publishing.endState(d, [...seen].sort(), main);
      }
    }

    // ---- the verdict -----------------------------------------------------------
    const wallSimulated = performance.now();
    await stream.close();
    const wallVerified = performance.now();
    const report = judge({
      naive: options.naive,
      easyDkimSwitchBack: options.easyDkimSwitchBack ?? "new-tokens",
      faults: options.faults,
      config,
      emulator,
      mail: stream,
      start,
      end,
      legacyActivatedAt,
      rotations: schedule
        ? ledger
            .withCosts(schedule.costs)
            .map((r) =>
              approvers && r.costs
                ? { ...r, costs: { ...r.costs, ...approvers.figuresFor(r.domain, r.to, r.from) } }
                : r,
            )
        : ledger.rotations,
      swapAudit,
      duplicateKeys: ledger.duplicateKeySets.size,
      duplicatePrs: ledger.duplicatePrs,
      custody: ledger.custody(),
      zonesServed: team.zonesServed,
      dnsFaultCounts: [ns1.faultCounts(), ns2.faultCounts()],
      jobErrors: ledger.jobErrors,
      refusals: ledger.refusals,
      rollbacks: ledger.rollbacks,
      canaryVerdicts: ledger.canaryVerdicts,
      activateRuns,
      workflows: schedule ? workflowFigures(schedule, github, quietHoursSkipped) : undefined,
      sesQuirks: options.sesQuirks ?? false,
      publisher: publisherKind,
      publisherEnd,
      wall: {
        setUpSeconds: seconds(wallSetUp - wall0),
        simulationSeconds: seconds(wallSimulated - wallSetUp),
        workflowSeconds: seconds(schedule?.costs.reduce((n, c) => n + c.wallMs, 0) ?? 0),
        lastVerdictsSeconds: seconds(wallVerified - wallSimulated),
      },
    });
    report.dmarc = dmarcFigures(dmarcRuns, ledger.rotations);
    if (approvers) report.approvals = approvers.totals();
    writeFileSync(join(out, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(out, "report.md"), renderReportMd(report, stream.failures));
    writeFileSync(
      join(out, "report.html"),
      renderReportHtml({
        mode: report.mode,
        ok: report.ok,
        verdict: report.verdict,
        start,
        end,
        identities: config.identities,
        rotations: report.rotations,
        sesHistory: (region, domain) => emulator.ses.identity(region, domain)?.history ?? [],
        pulls: github.listPulls(),
        approvals,
        unsigned: stream.unsignedLog,
      }),
    );
    return report;
  } finally {
    // Kept whatever the outcome, printed or not (--json): docs/design.md#sandbox-artifacts.
    timeline.write(out);
    for (const close of closers.reverse()) await close();
  }
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

function workflowFigures(
  schedule: WorkflowSchedule,
  github: { actions: { approvalRequests: unknown[] } },
  quietHoursSkipped: number,
): WorkflowFigures {
  const runs: Record<string, number> = {};
  const jobs = { success: 0, failure: 0, skipped: 0 };
  for (const run of schedule.runner.runs) {
    if (!run.triggered) continue;
    const key = `${run.workflow.split("/").pop()} (${run.event})`;
    runs[key] = (runs[key] ?? 0) + 1;
    for (const j of run.jobs)
      if (j.conclusion === "success" || j.conclusion === "failure" || j.conclusion === "skipped")
        jobs[j.conclusion]++;
  }
  return {
    runs,
    quietHoursSkipped,
    jobs,
    approvalRequests: github.actions.approvalRequests.length,
    githubRequests: schedule.costs.reduce((n, c) => n + c.githubRequests, 0),
    sesCalls: schedule.costs.reduce((n, c) => n + c.sesCalls, 0),
  };
}

function prepareOut(out: string): void {
  const problem = sandboxOutProblem(out);
  if (problem) throw new Error(`${problem}; refusing to delete it (choose another --out)`);
  if (existsSync(out)) rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, SANDBOX_MARKER), "created by npm run sandbox; safe to delete\n");
}
