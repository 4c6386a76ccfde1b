/**
 * The embedded sandbox: the whole rotation lifecycle, locally, on a simulated
 * clock, with no AWS, GitHub or network.
 *
 * Real parts wherever one exists locally:
 * - the engine's own commands (plan, activate, retire) with the real SDK
 *   clients, pointed at the AWS emulator (SES v2 REST-JSON, Secrets Manager
 *   JSON 1.1, CloudWatch), which enforces key format, selectors, pacing and
 *   the DKIM status machine;
 * - two authoritative DNS servers on loopback (UDP+TCP), fed by a simulated
 *   DNS team that publishes `dnsLeadDays` after a record PR merges;
 * - a mail stream signed by the emulator and verified with mailauth at send
 *   time against those servers.
 *
 * `--naive` replaces the pipeline with the seed documents' flow (swap SES at
 * once, then ask DNS), to show the damage the hazard does in the same world.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { SANDBOX_MARKER, sandboxOutProblem } from "./out-dir";
import { join, resolve } from "node:path";
import { randomUUID } from "node:crypto";
import { SendEmailCommand, SESv2Client, CreateEmailIdentityCommand } from "@aws-sdk/client-sesv2";
import { Worker } from "node:worker_threads";
import type { VerifyRequest, VerifyResponse } from "./mail-verifier";
import {
  addDays,
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  isoDate,
  type Clock,
} from "../../actions/dkim-rotation/src/engine/clock";
import {
  parseProjectConfig,
  type ProjectConfig,
} from "../../actions/dkim-rotation/src/engine/config";
import {
  generateDkimKeyPair,
  sesPrivateKeyToPem,
} from "../../actions/dkim-rotation/src/engine/keys";
import { runAdopt } from "../../actions/dkim-rotation/src/engine/adopt";
import { fileKeySource } from "../../actions/dkim-rotation/src/adapters/legacy-key";
import {
  ActivationFailedError,
  runActivate,
  runPlan,
  runRetire,
  snapshotAll,
  type EngineContext,
  type Logger,
} from "../../actions/dkim-rotation/src/engine/operations";
import { RefusalError } from "../../actions/dkim-rotation/src/engine/errors";
import { fromSesPrivateKey } from "../../actions/dkim-rotation/src/engine/keys";
import type { KeyStorePort, SesPort } from "../../actions/dkim-rotation/src/engine/ports";
import {
  addCounts,
  AWS_FAULT_KINDS,
  DNS_FAULT_KINDS,
  type AwsFaultKind,
  type DnsFaultKind,
} from "./faults";
import { rotationStart } from "../../actions/dkim-rotation/src/engine/planner";
import type { ChangeRequestPort } from "../../actions/dkim-rotation/src/engine/ports";
import {
  dkimRecordValue,
  recordOwner,
  renderRecordFile,
  splitTxt,
  recordPath,
} from "../../actions/dkim-rotation/src/engine/record";
import { RepoRecords } from "../../actions/dkim-rotation/src/engine/records";
import { DnsVerifier, queryTxt } from "../../actions/dkim-rotation/src/adapters/dns";
import { writeFileAtomic } from "../../actions/dkim-rotation/src/adapters/local";
import {
  startAwsEmulator,
  type AwsEmulator,
  type EasyDkimKey,
  type SentMessage,
} from "./aws-emulator";
import {
  AmazonSesKeyZone,
  startDnsServer,
  renderZoneFile,
  type DnsServer,
  type ZoneModel,
  type ZoneRecord,
} from "./dns-server";
import { buildAwsAdapters, type AwsAdapters } from "../../actions/dkim-rotation/src/context";
import { SesAdapter } from "../../actions/dkim-rotation/src/adapters/ses";
import { RegionPacer } from "../../actions/dkim-rotation/src/adapters/pacer";
import { SecretsKeyStore } from "../../actions/dkim-rotation/src/adapters/secrets";
import { KmsKeyCustody } from "../../actions/dkim-rotation/src/adapters/kms";
import { CloudWatchMetrics } from "../../actions/dkim-rotation/src/adapters/cloudwatch";
import { KMSClient } from "@aws-sdk/client-kms";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { ConfiguredRetryStrategy } from "@smithy/core/retry";

export interface SandboxOptions {
  out: string;
  years: number;
  naive: boolean;
  /** First simulated instant (UTC midnight). */
  start?: Date;
  /** One line per lifecycle event (the timeline). */
  print?: (line: string) => void;
  /** Progress on long work (simulated months). */
  progress?: (line: string) => void;
  /** Sees every private key the run creates or reads (tests scan artifacts for them). */
  onSecret?: (secret: string) => void;
  /** Seeded fault injection from the first simulated day (pipeline mode only). */
  faults?: SandboxFaults;
  /** SES answers empty BYODKIM Tokens and has TEMPORARY_FAILURE spells after SUCCESS. */
  sesQuirks?: boolean;
  /** What a switch back to Easy DKIM gives (default `new-tokens`, the stricter reading). */
  easyDkimSwitchBack?: "new-tokens" | "same-tokens";
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

export interface FaultReport {
  seed: number;
  rate: number;
  /** Injected faults by kind (AWS emulator and both DNS servers). */
  injected: Partial<Record<AwsFaultKind | DnsFaultKind, number>>;
  /** Control-plane calls the emulator answered with an error or not at all (the SDK retried most). */
  failedCalls: number;
  /** Engine runs (plan, verify/activate, retire) that stopped on an error and were retried by the next schedule. */
  errorsSurvived: number;
  errors: { at: string; job: string; message: string }[];
  /** Activations refused by the engine (each names the server and the difference). */
  refusals: { at: string; message: string }[];
  /** Refusals whose message does not name a server and what it served. */
  refusalsWithoutServer: number;
  /** Activations that rolled back (SES did not verify the new key). */
  rollbacks: { at: string; message: string }[];
  /** Longest unsigned window after a DNS-verified swap (minutes). */
  longestVerifiedUnsignedMinutes: number;
}

export interface RotationRecord {
  domain: string;
  from?: string;
  to: string;
  generatedAt?: string;
  mergedAt?: string;
  publishedAt?: string;
  activatedAt?: string;
  retiredAt?: string;
  /** The activation failed and every Region went back to `from`; the candidate was abandoned. */
  rolledBackAt?: string;
  pendingMinutes?: number;
}

export interface SandboxReport {
  mode: "pipeline" | "naive";
  /** The emulated SES's reading of a switch back to Easy DKIM (docs/design.md, ses-easy-dkim-switch-back). */
  easyDkimSwitchBack: "new-tokens" | "same-tokens";
  start: string;
  end: string;
  messages: number;
  verified: number;
  unsigned: number;
  failed: number;
  /** Unsigned messages sent outside a short SES pending check after a verified swap. */
  unsignedOutsidePending: number;
  unsignedMinutes: number;
  rotations: RotationRecord[];
  zonesServed: number;
  sesCalls: number;
  /** SES key swaps (PutEmailIdentityDkimSigningAttributes by the engine), and those made while some authoritative server did not serve the key. */
  swaps: number;
  unverifiedSwaps: number;
  /** More than one stored key awaiting activation for a domain at once (never two keys for one rotation). */
  duplicateKeys: number;
  /** Secrets written more than once (a stored key is immutable). */
  overwrittenSecrets: number;
  /** A second rotation PR opened while one was open for the domain, or two PRs for one selector. */
  duplicatePrs: number;
  /** Domains whose last activation is older than rotationDays at the end: rotation stalled. */
  stalledDomains: string[];
  /**
   * Keys stored during the run, by how they were made (counted at the key
   * store boundary): `kms` by the emulated KMS, `local` on the runner (the
   * 1024-bit exception), `operator` the hand-made keys of the starting world.
   * `local2048` (2048-bit keys made outside KMS) must stay 0.
   */
  custody: { kms: number; local: number; operator: number; local2048: number };
  faults?: FaultReport;
  /** With --ses-quirks: how often SES answered the documented odd ways. */
  sesQuirks?: { temporaryFailureSpells: number; getEmailIdentityCalls: number };
  ok: boolean;
  verdict: string;
}

/** Longest pending window we call "SES's own check" (SES checks within minutes of a swap). */
const MAX_CONFINED_PENDING_MINUTES = 60;
const STEP_MS = 10 * MINUTE_MS;
const DENSE_WINDOW_MS = 3 * DAY_MS;
const REVIEW_DAYS = 2;
const APPROVAL_DELAY_MS = 2 * HOUR_MS;
const NS2_LAG_MS = 2 * HOUR_MS;

/** A simulated clock: `sleep` advances simulated time and runs what falls due meanwhile. */
class SimClock implements Clock {
  constructor(
    public t: number,
    private readonly onAdvance: (to: number) => Promise<void>,
  ) {}
  now(): Date {
    return new Date(this.t);
  }
  async sleep(ms: number): Promise<void> {
    await this.onAdvance(this.t + ms);
  }
}

interface SandboxPr {
  number: number;
  kind: "rotation" | "retirement";
  domain: string;
  selector: string;
  path: string;
  content?: string;
  openedAt: number;
  mergeAt: number;
  mergedAt?: number;
}

interface ZoneState {
  domain: string;
  /** TXT records: selector → value. */
  dkim: Map<string, string>;
  serial: number;
}

export async function runSandbox(options: SandboxOptions): Promise<SandboxReport> {
  // The SDK warns that Node 20 support ends in 2027; the sandbox talks only to
  // its own emulator, so that warning is noise here (the action runs node24).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const print = options.print ?? (() => {});
  const progress = options.progress ?? (() => {});
  if (options.faults && options.naive)
    throw new Error("--faults applies to the pipeline; the naive flow breaks DKIM without help");
  const out = resolve(options.out);
  prepareOut(out);
  const repo = join(out, "repo");
  mkdirSync(join(repo, "dns"), { recursive: true });
  mkdirSync(join(out, "zones"), { recursive: true });
  mkdirSync(join(out, "mail"), { recursive: true });

  const start = options.start ?? new Date("2027-01-04T00:00:00Z");
  const end = addDays(start, Math.round(options.years * 365));
  // The world starts before `start`: legacy keys signing for 200 days, so two
  // years hold two yearly rotations per domain (days ~114 and ~444).
  const legacyActivatedAt = addDays(start, -200);

  // advanceTo is defined below; the clock calls it only once the world is built.
  const clock: SimClock = new SimClock(legacyActivatedAt.getTime(), (to) => advanceTo(to));
  const ns1 = await startDnsServer();
  const ns2 = await startDnsServer();
  const servers: [DnsServer, number][] = [
    [ns1, 0],
    [ns2, NS2_LAG_MS],
  ];
  const ns1Address = `127.0.0.1:${ns1.port}`;
  const ns2Address = `127.0.0.1:${ns2.port}`;

  const sentEvents: SentMessage[] = [];
  /** Owner names of selectors SES has signed mail with: DNS faults spare them (see below). */
  const everSigned = new Set<string>();
  // Easy DKIM's signing keys live at <token>.dkim.amazonses.com, a zone both servers hold here.
  const amazonses = new AmazonSesKeyZone(() => servers.map(([server]) => server));
  const publishEasyDkimKey = (key: EasyDkimKey) => {
    // SES's own key signs mail as soon as the CNAMEs verify: DNS faults spare
    // its names as they spare every selector SES signed with (see below).
    for (const t of key.tokens) everSigned.add(`${t}._domainkey.${key.identity}`);
    amazonses.publish(key.tokens, key.publicKey);
  };
  const emulator: AwsEmulator = await startAwsEmulator({
    onEasyDkimKey: publishEasyDkimKey,
    clock: { now: () => clock.now() },
    // SES resolves through the public DNS; here, straight from ns1.
    lookupTxt: (name) => queryTxt(ns1Address, name, { timeout: 500, tries: 2 }),
    // The real limit is 1 request/s per Region; scaled so two years fit in a minute.
    sesRequestsPerSecond: 1000,
    dkim: { firstCheckMinutes: 15, recheckMinutes: 30 },
    sesQuirks: {
      ...(options.sesQuirks ? { emptyExternalTokens: true, temporaryFailureEvery: 5 } : {}),
      easyDkimSwitchBack: options.easyDkimSwitchBack ?? "new-tokens",
    },
    onMessage: (e) => {
      sentEvents.push(e);
      if (e.domain && e.selector) everSigned.add(`${e.selector}._domainkey.${e.domain}`);
    },
  });

  const configFile = join(out, "Pulumi.sandbox.yaml");
  const config = sandboxConfig(configFile, [ns1Address, ns2Address]);
  writeFileSync(configFile, renderSandboxConfig(config));

  // ---- world state -------------------------------------------------------
  const zones = new Map<string, ZoneState>();
  /** Easy DKIM CNAME tokens the DNS team published for a domain (they stay). */
  const easyCnames = new Map<string, string[]>();
  const zoneArchive = new Set<string>();
  const prs: SandboxPr[] = [];
  const mergeTimes = new Map<string, Date>();
  const dnsQueue: {
    at: number;
    server: DnsServer;
    domain: string;
    selector: string;
    value?: string;
    serial: number;
  }[] = [];
  const rotations: RotationRecord[] = [];
  const expectedSwaps = new Map<string, number[]>();
  let worldVersion = 0;
  let lastQuietVersion = -1;

  const addExpectedSwap = (domain: string, at: number) => {
    const list = expectedSwaps.get(domain) ?? [];
    list.push(at);
    expectedSwaps.set(domain, list);
  };
  const rotationFor = (domain: string, selector: string) =>
    rotations.find((r) => r.domain === domain && r.to === selector);
  // The rotation that replaced `selector` for good (not one that was rolled back).
  const retirementOf = (domain: string, selector: string) =>
    rotations.find((r) => r.domain === domain && r.from === selector && r.activatedAt);

  const zoneModel = (state: ZoneState): ZoneModel => ({
    serial: state.serial,
    ttl: 3600,
    soa: {
      mname: `ns1.${state.domain}`,
      rname: `hostmaster.${state.domain}`,
      refresh: 3600,
      retry: 600,
      expire: 604800,
      minimum: 300,
    },
    records: [
      { name: "@", type: "NS", data: `ns1.${state.domain}.` },
      { name: "@", type: "NS", data: `ns2.${state.domain}.` },
      { name: "ns1", type: "A", data: "127.0.0.1" },
      { name: "ns2", type: "A", data: "127.0.0.1" },
      ...[...state.dkim.entries()].map(([selector, value]): ZoneRecord => ({
        name: `${selector}._domainkey`,
        type: "TXT",
        ttl: 3600,
        data: splitTxt(value),
      })),
      ...(easyCnames.get(state.domain) ?? []).map((token): ZoneRecord => ({
        name: `${token}._domainkey`,
        type: "CNAME",
        data: `${token}.dkim.amazonses.com.`,
      })),
    ],
  });

  /** The DNS team changes the zone: a new serial, served by ns1 now and ns2 a little later. */
  const scheduleZoneChange = (
    domain: string,
    selector: string,
    value: string | undefined,
    at: number,
  ) => {
    const state = zones.get(domain)!;
    // Serial per change; both servers get the same content under the same serial.
    const serial =
      state.serial + dnsQueue.filter((q) => q.domain === domain && q.server === ns1).length + 1;
    for (const [server, lag] of servers)
      dnsQueue.push({ at: at + lag, server, domain, selector, value, serial });
  };
  const served = new Map<string, Map<string, string>>(); // `${port}/${domain}` → dkim map
  const applyZoneChanges = (now: number) => {
    dnsQueue.sort((a, b) => a.at - b.at);
    while (dnsQueue.length && dnsQueue[0]!.at <= now) {
      const change = dnsQueue.shift()!;
      const key = `${change.server.port}/${change.domain}`;
      const dkim = new Map(served.get(key) ?? zones.get(change.domain)!.dkim);
      if (change.value === undefined) dkim.delete(change.selector);
      else dkim.set(change.selector, change.value);
      served.set(key, dkim);
      const state: ZoneState = { domain: change.domain, dkim, serial: change.serial };
      const model = zoneModel(state);
      change.server.setZone(change.domain, model);
      if (change.server === ns1) zones.set(change.domain, state);
      const archive = `${change.domain}.${change.serial}`;
      if (!zoneArchive.has(archive)) {
        zoneArchive.add(archive);
        writeFileSync(
          join(out, "zones", `${archive}.zone`),
          renderZoneFile({ ...model, origin: change.domain }),
        );
      }
      worldVersion++;
      const when = new Date(change.at);
      if (change.server === ns2) {
        // Both servers now serve the change: that is "published".
        if (change.value !== undefined) {
          const r = rotationFor(change.domain, change.selector);
          if (r && !r.publishedAt) r.publishedAt = when.toISOString();
          print(
            `${stamp(when)} ${change.domain}: DNS team published ${change.selector} on ns1 and ns2 (serial ${change.serial})`,
          );
        } else {
          const r = retirementOf(change.domain, change.selector);
          if (r && !r.retiredAt) r.retiredAt = when.toISOString();
          print(
            `${stamp(when)} ${change.domain}: DNS team removed ${change.selector} (serial ${change.serial})`,
          );
        }
      }
    }
  };

  // ---- simulated GitHub: record PRs reviewed by the DNS team ---------------
  /** DNS reviewers approve and merge every sandbox PR REVIEW_DAYS after it opens. */
  let duplicatePrs = 0;
  const openPr = (
    kind: SandboxPr["kind"],
    c: { domain: string; selector: string; path: string; title: string; content?: string },
  ) => {
    const now = clock.t;
    if (
      prs.some(
        (p) =>
          p.domain === c.domain &&
          p.kind === kind &&
          (p.selector === c.selector || (kind === "rotation" && p.mergedAt === undefined)),
      )
    )
      duplicatePrs++;
    const pr: SandboxPr = {
      number: prs.length + 1,
      kind,
      domain: c.domain,
      selector: c.selector,
      path: c.path,
      content: c.content,
      openedAt: now,
      mergeAt: now + REVIEW_DAYS * DAY_MS,
    };
    prs.push(pr);
    print(
      `${stamp(new Date(now))} ${c.domain}: PR #${pr.number} "${c.title}" opened for DNS review`,
    );
    return { number: pr.number, created: true };
  };
  const changes: ChangeRequestPort = {
    async proposeRecord(c) {
      const open = prs.find(
        (p) => p.domain === c.domain && p.mergedAt === undefined && p.kind === "rotation",
      );
      if (open?.selector === c.selector) open.content = c.content;
      return open ? { number: open.number, created: false } : openPr("rotation", c);
    },
    async proposeRemoval(c) {
      const open = prs.find(
        (p) => p.domain === c.domain && p.selector === c.selector && p.kind === "retirement",
      );
      return open ? { number: open.number, created: false } : openPr("retirement", c);
    },
    async findOpen(domain) {
      const open = prs.find((p) => p.domain === domain && p.mergedAt === undefined);
      return open ? { number: open.number, selector: open.selector, kind: open.kind } : undefined;
    },
  };
  const mergeDuePrs = (now: number) => {
    for (const pr of prs) {
      if (pr.mergedAt !== undefined || pr.mergeAt > now) continue;
      pr.mergedAt = pr.mergeAt;
      const when = new Date(pr.mergeAt);
      mergeTimes.set(pr.path, when);
      const identity = config.identities.find((i) => i.domain === pr.domain)!;
      const publishAt = pr.mergeAt + identity.dnsLeadDays * DAY_MS;
      if (pr.kind === "rotation") {
        writeFileAtomic(join(repo, pr.path), pr.content!);
        const r = rotationFor(pr.domain, pr.selector);
        if (r) r.mergedAt = when.toISOString();
        const value = dkimRecordValue(parseP(pr.content!));
        scheduleZoneChange(pr.domain, pr.selector, value, publishAt);
        if (!options.naive) addExpectedSwap(pr.domain, publishAt);
        print(
          `${stamp(when)} ${pr.domain}: DNS reviewers approved and merged PR #${pr.number}; publication planned ${isoDate(new Date(publishAt))}`,
        );
      } else {
        rmSync(join(repo, pr.path), { force: true });
        scheduleZoneChange(pr.domain, pr.selector, undefined, publishAt);
        print(
          `${stamp(when)} ${pr.domain}: retirement PR #${pr.number} merged; removal planned ${isoDate(new Date(publishAt))}`,
        );
      }
      worldVersion++;
    }
  };

  // ---- mail stream --------------------------------------------------------
  const mailStats = { messages: 0, verified: 0, unsigned: 0, failed: 0 };
  const unsignedLog: { domain: string; region: string; at: number }[] = [];
  const failures: string[] = [];
  const nextMailAt = new Map<string, number>();
  const regionTurn = new Map<string, number>();
  const sesClients = new Map<string, SESv2Client>();
  const sesClient = (region: string) => {
    let c = sesClients.get(region);
    if (!c) {
      c = new SESv2Client({
        region,
        endpoint: emulator.url,
        credentials: SANDBOX_CREDENTIALS,
        maxAttempts: 5,
      });
      sesClients.set(region, c);
    }
    return c;
  };
  // A recipient's resolver caches answers for their TTL (3600 s in these zones).
  const txtCache = new Map<
    string,
    { until: number; answer: string[][] | "ENOTFOUND" | "ENODATA" }
  >();
  const resolveAtSend = async (name: string) => {
    const key = name.toLowerCase();
    const hit = txtCache.get(key);
    if (hit && hit.until > clock.t) return hit.answer;
    const got = await queryTxt(ns1Address, name, { timeout: 500, tries: 2 });
    const answer = got === "NXDOMAIN" ? "ENOTFOUND" : got === "NODATA" ? "ENODATA" : got;
    // RFC 2308: negative answers are cached for the SOA minimum (300 s here).
    txtCache.set(key, {
      until: clock.t + (typeof answer === "string" ? 5 * MINUTE_MS : HOUR_MS),
      answer,
    });
    return answer;
  };
  const verifier = new MailVerifierPool();
  const dense = (domain: string, t: number) =>
    (expectedSwaps.get(domain) ?? []).some(
      (s) => t >= s - DENSE_WINDOW_MS && t <= s + DENSE_WINDOW_MS,
    );

  const sendMail = async (domain: string, at: number) => {
    const identity = config.identities.find((i) => i.domain === domain)!;
    const turn = regionTurn.get(domain) ?? 0;
    regionTurn.set(domain, turn + 1);
    const region = identity.regions[turn % identity.regions.length]!;
    const serial = zones.get(domain)!.serial;
    const date = new Date(at);
    const raw = [
      `From: Notifications <notify@${domain}>`,
      `To: customer@inbox.example`,
      `Subject: Your order update ${mailStats.messages + 1}`,
      `Date: ${date.toUTCString()}`,
      `Message-ID: <${randomUUID()}@${domain}>`,
      `MIME-Version: 1.0`,
      `Content-Type: text/plain; charset=utf-8`,
      `X-Sandbox-Zone-Serial: ${serial}`,
      ``,
      `Hello from ${domain} via SES ${region} at ${date.toISOString()}.`,
      ``,
    ].join("\r\n");
    const before = sentEvents.length;
    await sesClient(region).send(
      new SendEmailCommand({
        FromEmailAddress: `notify@${domain}`,
        Destination: { ToAddresses: ["customer@inbox.example"] },
        Content: { Raw: { Data: Buffer.from(raw) } },
      }),
    );
    const sent = sentEvents[before]!;
    mailStats.messages++;
    const seq = mailStats.messages;
    // DNS as the receiver sees it now; the signature check itself runs on the worker.
    const answers: Record<string, string[][] | "ENOTFOUND" | "ENODATA"> = {};
    for (const name of signatureKeyNames(sent.raw)) answers[name] = await resolveAtSend(name);
    pendingVerdicts.push(
      verifier.verify({ raw: sent.raw, domain, answers, curTime: at }).then((res) => {
        if (res.verdict === "pass") mailStats.verified++;
        else if (res.verdict === "unsigned") {
          mailStats.unsigned++;
          unsignedLog.push({ domain, region, at });
        } else {
          mailStats.failed++;
          failures.push(
            `${date.toISOString()} ${domain} ${region} s=${sent.selector}: ${res.detail}`,
          );
        }
        const name = `${String(seq).padStart(6, "0")}-${domain}-${region}-${res.verdict}.eml`;
        writeFileSync(join(out, "mail", name), sent.raw);
      }),
    );
  };
  const pendingVerdicts: Promise<void>[] = [];

  const advanceTo = async (target: number) => {
    for (;;) {
      let nextDomain: string | undefined;
      let nextAt = Infinity;
      for (const [domain, at] of nextMailAt) if (at < nextAt) [nextDomain, nextAt] = [domain, at];
      const nextDns = dnsQueue.length ? Math.min(...dnsQueue.map((q) => q.at)) : Infinity;
      const nextEvent = Math.min(nextAt, nextDns);
      if (nextEvent > target) break;
      clock.t = Math.max(clock.t, nextEvent);
      applyZoneChanges(clock.t);
      await emulator.advance();
      if (nextAt === nextEvent && nextDomain) {
        await sendMail(nextDomain, nextAt);
        nextMailAt.set(
          nextDomain,
          nextAt + (dense(nextDomain, nextAt) ? 10 * MINUTE_MS : 6 * HOUR_MS),
        );
      }
    }
    clock.t = Math.max(clock.t, target);
    applyZoneChanges(clock.t);
    await emulator.advance();
  };

  // ---- engine wiring: the same modules as the CLI and the action -------------
  const secretsSeen = { push: (s: string) => options.onSecret?.(s) };
  const log: Logger = { info: () => {}, warn: () => {}, progress: () => {} };
  const adapters = options.faults
    ? faultTolerantAdapters(config, emulator.url, clock, (s) => secretsSeen.push(s))
    : buildAwsAdapters({
        config,
        endpoint: emulator.url,
        credentials: SANDBOX_CREDENTIALS,
        requestsPerSecond: 1000,
        clock,
        onSecret: (s) => secretsSeen.push(s),
      });
  // Every swap is audited against what both servers really serve (not what a
  // faulted answer said): the independent check that no swap skipped DNS.
  const swapAudit: {
    region: string;
    domain: string;
    selector: string;
    at: number;
    verified: boolean;
  }[] = [];
  const auditedSes: SesPort = {
    getIdentity: (region, domain) => adapters.ses.getIdentity(region, domain),
    useEasyDkim: (region, domain) => adapters.ses.useEasyDkim(region, domain),
    async putExternalKey(region, domain, selector, sesPrivateKey) {
      const value = dkimRecordValue(fromSesPrivateKey(sesPrivateKey).publicKey);
      const verified = servers.every(
        ([server]) => served.get(`${server.port}/${domain}`)?.get(selector) === value,
      );
      swapAudit.push({ region, domain, selector, at: clock.t, verified });
      return adapters.ses.putExternalKey(region, domain, selector, sesPrivateKey);
    },
  };
  // Key custody audit at the key store boundary: how every stored key was made.
  const custody = { kms: 0, local: 0, operator: 0, local2048: 0 };
  const auditedKeys: KeyStorePort = {
    list: (d) => adapters.keys.list(d),
    async generate(d, s, at) {
      const r = await adapters.keys.generate(d, s, at);
      if (r.created) custody.kms++;
      return r;
    },
    async create(d, s, pair, at, origin) {
      const r = await adapters.keys.create(d, s, pair, at, origin);
      if (r.created) {
        custody[origin ?? "local"]++;
        if ((origin ?? "local") === "local" && pair.bits === 2048) custody.local2048++;
      }
      return r;
    },
    readPrivateKey: (d, s) => adapters.keys.readPrivateKey(d, s),
    markState: (d, s, st, at) => adapters.keys.markState(d, s, st, at),
    scheduleDeletion: (d, s, n) => adapters.keys.scheduleDeletion(d, s, n),
  };
  const ctx: EngineContext = {
    config,
    ses: auditedSes,
    keys: auditedKeys,
    metrics: adapters.metrics,
    dns: new DnsVerifier({ timeoutMs: 500, tries: 2, clock }),
    records: new RepoRecords(repo, config, async (path) => mergeTimes.get(path)),
    changes,
    clock,
    log,
    onSecret: (s) => secretsSeen.push(s),
    activation: { pollIntervalMs: 60_000, timeoutMs: 60 * MINUTE_MS },
  };

  // ---- the world before `start`: the real starting states ----------------
  // The first domain signs with a hand-made BYODKIM key this repository did
  // not make (as the seed documents' production domain does), adopted from
  // a key file; the others sign with Easy DKIM and are onboarded from it.
  const [legacyIdentity, ...easyIdentities] = config.identities;
  const legacySelector = LEGACY_SELECTOR;
  const keyDir = mkdtempSync(join(tmpdir(), "sandbox-legacy-key-"));
  const renderZones = (domain: string) => {
    for (const [server] of servers) {
      server.setZone(domain, zoneModel(zones.get(domain)!));
      served.set(`${server.port}/${domain}`, new Map(zones.get(domain)!.dkim));
    }
    writeFileSync(
      join(out, "zones", `${domain}.${zones.get(domain)!.serial}.zone`),
      renderZoneFile({ ...zoneModel(zones.get(domain)!), origin: domain }),
    );
    zoneArchive.add(`${domain}.${zones.get(domain)!.serial}`);
  };
  const legacyPair = await generateDkimKeyPair(legacyIdentity!.keyBits, (s) => secretsSeen.push(s));
  {
    const domain = legacyIdentity!.domain;
    zones.set(domain, { domain, dkim: new Map(), serial: 2026010100 });
    zones.get(domain)!.dkim.set(legacySelector, dkimRecordValue(legacyPair.publicKey));
    renderZones(domain);
    for (const region of legacyIdentity!.regions) {
      await sesClient(region).send(new CreateEmailIdentityCommand({ EmailIdentity: domain }));
      await adapters.ses.putExternalKey(region, domain, legacySelector, legacyPair.sesPrivateKey);
    }
  }
  for (const identity of easyIdentities) {
    const domain = identity.domain;
    zones.set(domain, { domain, dkim: new Map(), serial: 2026010100 });
    const tokens: string[] = [];
    for (const region of identity.regions) {
      await sesClient(region).send(new CreateEmailIdentityCommand({ EmailIdentity: domain }));
      const view = emulator.ses.identity(region, domain)!;
      tokens.push(...view.tokens);
      // Makes SES's key now, so publishEasyDkimKey serves it before SES's first check.
      await emulator.ses.easyDkimPublicKey(region, domain);
    }
    easyCnames.set(domain, tokens);
    renderZones(domain);
  }
  await advanceTo(legacyActivatedAt.getTime() + HOUR_MS);
  // The operator adopts the legacy key once, from the key file (docs/operations.md):
  // its record file goes to main directly, as the adoption commit would.
  {
    const domain = legacyIdentity!.domain;
    const keyFile = join(keyDir, `${legacySelector}.pem`);
    writeFileSync(keyFile, sesPrivateKeyToPem(legacyPair.sesPrivateKey), { mode: 0o600 });
    const adoptCtx: EngineContext = {
      ...ctx,
      changes: {
        ...changes,
        async proposeRecord(c) {
          writeFileAtomic(join(repo, c.path), c.content);
          mergeTimes.set(c.path, clock.now());
          return { created: true };
        },
      },
    };
    try {
      const report = await runAdopt(adoptCtx, {
        domain,
        selector: legacySelector,
        activatedAt: legacyActivatedAt.toISOString(),
        source: fileKeySource(keyFile, domain),
      });
      print(`${stamp(clock.now())} ${report.message}`);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
    everSigned.add(`${legacySelector}._domainkey.${domain}`);
  }
  clock.t = start.getTime();
  await emulator.advance();
  for (const identity of config.identities)
    nextMailAt.set(identity.domain, start.getTime() + 5 * MINUTE_MS);
  swapAudit.length = 0;
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
  print(
    `${stamp(start)} sandbox: ${legacyIdentity!.domain} (${legacyIdentity!.regions.join(", ")}) signs with the adopted legacy key ${legacySelector} (since ${isoDate(legacyActivatedAt)}); ${easyIdentities.map((i) => `${i.domain} (${i.regions.join(", ")})`).join(", ")} on Easy DKIM; mode ${options.naive ? "NAIVE (swap first, DNS later)" : "pipeline (DNS first, gated swap)"}`,
  );

  // ---- the simulated years -------------------------------------------------
  const readyAt = new Map<string, number>();
  const refusals: FaultReport["refusals"] = [];
  const rollbacks: FaultReport["rollbacks"] = [];
  const jobErrors: FaultReport["errors"] = [];
  const jobError = (job: string, err: unknown) => {
    const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    jobErrors.push({ at: clock.now().toISOString(), job, message });
    print(`${stamp(clock.now())} ${job} run failed (retried by the next schedule): ${message}`);
  };
  const duplicateKeySets = new Set<string>();
  /** At most one stored key awaiting activation per domain: never two keys for one rotation. */
  const checkKeys = () => {
    for (const identity of config.identities) {
      const pending = emulator.secrets
        .list()
        .filter(
          (s) =>
            s.tags["dkim:domain"] === identity.domain &&
            s.tags["dkim:state"] === "pending" &&
            !s.deletedAt,
        );
      if (pending.length > 1)
        duplicateKeySets.add(
          pending
            .map((p) => p.name)
            .sort()
            .join(" + "),
        );
    }
  };
  const naiveKeys = new Map<string, { selector: string; secret: string; published?: boolean }>();
  let month = -1;
  for (let t = start.getTime(); t <= end.getTime(); t += STEP_MS) {
    await advanceTo(t);
    mergeDuePrs(clock.t);
    const when = new Date(t);
    if (when.getUTCMonth() !== month) {
      month = when.getUTCMonth();
      progress(
        `sandbox: simulating ${when.toISOString().slice(0, 7)} (${mailStats.messages} messages so far)`,
      );
    }
    const minuteOfDay = when.getUTCHours() * 60 + when.getUTCMinutes();
    if (options.naive) {
      if (minuteOfDay === 0) await naiveDailyRun();
      continue;
    }
    if (minuteOfDay === 0) {
      // dkim-rotate.yml, daily: plan --apply with the planner role. A failed
      // run is retried by tomorrow's schedule, as on GitHub.
      let outcomes: Awaited<ReturnType<typeof runPlan>>["outcomes"] = [];
      try {
        ({ outcomes } = await runPlan(ctx, { apply: true }));
      } catch (err) {
        jobError("plan", err);
      }
      checkKeys();
      for (const o of outcomes) {
        if (o.decision.kind === "rotate" && o.selector) {
          rotations.push({
            domain: o.domain,
            from:
              o.decision.activeSelector ??
              (o.decision.rollback.kind === "easy-dkim" ? "easy-dkim" : undefined),
            to: o.selector,
            generatedAt: clock.now().toISOString(),
          });
          print(`${stamp(clock.now())} ${o.domain}: plan: ${o.decision.reason}`);
          print(`${stamp(clock.now())} ${o.domain}: plan: ${o.action}`);
        } else if (o.decision.kind === "retire" && o.pullRequest?.created) {
          print(`${stamp(clock.now())} ${o.domain}: plan: ${o.action}`);
        } else if (o.error) {
          jobError("plan", new Error(`${o.domain}: ${o.error}`));
          print(`${stamp(clock.now())} ${o.domain}: plan FAILED: ${o.error}`);
        }
        for (const a of o.decision.alerts)
          if (a.kind !== "expiring")
            print(`${stamp(clock.now())} ${o.domain}: ALERT ${a.kind}: ${a.message}`);
      }
      worldVersion++;
    }
    if (when.getUTCMinutes() === 0) await hourlyActivationRun();
  }

  async function hourlyActivationRun() {
    // dkim-activate.yml, hourly (and on push to dns/**). Its answer depends
    // only on the world (records, keys, DNS, SES); skip re-asking an unchanged
    // world that had nothing ready, unless an approval is pending.
    if (worldVersion === lastQuietVersion && readyAt.size === 0) return;
    let snapshots: Awaited<ReturnType<typeof snapshotAll>>;
    try {
      snapshots = await snapshotAll(ctx);
    } catch (err) {
      // The workflow run fails; the next hourly run tries again (as on GitHub).
      jobError("verify", err);
      return;
    }
    let acted = false;
    for (const snap of snapshots) {
      const d = snap.decision;
      if (d.kind === "activate" && d.selector) {
        const key = `${d.domain}/${d.selector}`;
        if (!readyAt.has(key)) {
          readyAt.set(key, clock.t);
          print(
            `${stamp(clock.now())} ${d.domain}: verify: ${d.reason}; waiting for environment approval`,
          );
        }
        if (clock.t - readyAt.get(key)! < APPROVAL_DELAY_MS) {
          acted = true;
          continue;
        }
        readyAt.delete(key);
        print(
          `${stamp(clock.now())} ${d.domain}: approvers approved dkim-production; activate ${d.selector}`,
        );
        try {
          const report = await runActivate(ctx, d.domain, d.selector);
          const r = rotationFor(d.domain, d.selector);
          if (r && report.outcome === "activated") {
            r.activatedAt = clock.now().toISOString();
            r.pendingMinutes = report.pendingMinutes;
          }
          addExpectedSwap(d.domain, clock.t);
          print(`${stamp(clock.now())} ${report.message}`);
        } catch (err) {
          const message = (err as Error).message;
          if (err instanceof RefusalError)
            refusals.push({ at: clock.now().toISOString(), message });
          else if (err instanceof ActivationFailedError) {
            rollbacks.push({ at: clock.now().toISOString(), message });
            const r = rotationFor(d.domain, d.selector);
            if (r) r.rolledBackAt = clock.now().toISOString();
          } else jobError("activate", err);
          print(`${stamp(clock.now())} ${d.domain}: activate ${d.selector} stopped: ${message}`);
        }
        acted = true;
        worldVersion++;
      } else if (d.kind === "retire" && d.selector && d.retireStep === "delete-key") {
        try {
          const report = await runRetire(ctx, d.domain, d.selector);
          const r = retirementOf(d.domain, d.selector);
          if (r && !r.retiredAt) r.retiredAt = clock.now().toISOString();
          print(`${stamp(clock.now())} ${report.message}`);
        } catch (err) {
          jobError("retire", err);
        }
        acted = true;
        worldVersion++;
      }
    }
    // Injected DNS faults make a check's answer depend on more than the world:
    // a record some server served but that did not verify is asked again next hour.
    const flaky =
      options.faults !== undefined &&
      snapshots.some((snap) =>
        Object.values(snap.dns).some(
          (o) => !o.ok && o.verification?.servers.some((sv) => sv.status !== "missing"),
        ),
      );
    if (!acted && !flaky) lastQuietVersion = worldVersion;
  }

  // ---- the seed documents' flow, for comparison ----------------------------
  async function naiveDailyRun() {
    const snapshots = await snapshotAll(ctx);
    for (const snap of snapshots) {
      const d = snap.decision;
      const domain = d.domain;
      const pending = naiveKeys.get(domain);
      if (pending) {
        // The runbook: once DNS is in, re-run the SES update if it FAILED meanwhile.
        const published = rotationFor(domain, pending.selector)?.publishedAt;
        const failed = snap.ses.filter((s) => s.status === "FAILED");
        if (published && failed.length) {
          for (const s of failed)
            await auditedSes.putExternalKey(s.region, domain, pending.selector, pending.secret);
          print(
            `${stamp(clock.now())} ${domain}: naive: operator re-applied ${pending.selector} after SES went FAILED`,
          );
        }
        if (snap.ses.every((s) => s.status === "SUCCESS" && s.tokens[0] === pending.selector)) {
          const r = rotationFor(domain, pending.selector)!;
          r.activatedAt =
            lastSuccess(emulator, snap.identity.regions, domain) ?? clock.now().toISOString();
          r.pendingMinutes = Math.round(
            (Date.parse(r.activatedAt) - Date.parse(r.generatedAt!)) / MINUTE_MS,
          );
          // The seed Lambda records the new key as current in its state table.
          await adapters.keys.markState(
            domain,
            pending.selector,
            "active",
            new Date(r.activatedAt),
          );
          naiveKeys.delete(domain);
        }
        continue;
      }
      // The naive flow never retires, so an old selector's pending retirement
      // must not hide its rotation date: it rotates on the same day we would.
      const activatedAt = d.expiresAt
        ? addDays(d.expiresAt, -snap.identity.rotationDays)
        : undefined;
      const rotateAt = activatedAt ? rotationStart(snap.identity, activatedAt).getTime() : clock.t;
      // Upcoming swap: dense mail from 3 days before it.
      if (
        rotateAt - clock.t <= DENSE_WINDOW_MS &&
        !(expectedSwaps.get(domain) ?? []).includes(rotateAt)
      ) {
        addExpectedSwap(domain, rotateAt);
      }
      const due = d.kind === "rotate" || clock.t >= rotateAt;
      if (!due) continue;
      // 001's "dangerous auto-update flow": generate, store, swap SES, then notify DNS.
      const selector = `${snap.identity.selectorPrefix}-${isoDate(clock.now()).replaceAll("-", "")}`;
      let secret = "";
      const pair = await generateDkimKeyPair(snap.identity.keyBits, (s) => {
        secret = s;
        secretsSeen.push(s);
      });
      await adapters.keys.create(domain, selector, pair, clock.now());
      rotations.push({
        domain,
        from: d.activeSelector,
        to: selector,
        generatedAt: clock.now().toISOString(),
      });
      for (const region of snap.identity.regions)
        await auditedSes.putExternalKey(region, domain, selector, secret);
      addExpectedSwap(domain, clock.t);
      print(
        `${stamp(clock.now())} ${domain}: naive: generated ${selector} and swapped SES at once (DNS not yet asked)`,
      );
      await changes.proposeRecord({
        domain,
        selector,
        path: recordPath(domain, selector),
        content: renderRecordFile({
          domain,
          selector,
          keyBits: pair.bits,
          fingerprint: pair.fingerprint,
          createdAt: clock.now().toISOString(),
          publishBy: isoDate(addDays(clock.now(), snap.identity.dnsLeadDays)),
          publicKey: pair.publicKey,
          ttl: snap.identity.recordTtl,
        }),
        title: `DKIM: ${domain} → ${selector}`,
        body: "",
      });
      naiveKeys.set(domain, { selector, secret });
    }
  }

  // ---- the verdict ---------------------------------------------------------
  await Promise.all(pendingVerdicts);
  await verifier.close();
  const history = (region: string, domain: string) =>
    emulator.ses.identity(region, domain)?.history ?? [];
  // Confinement: an unsigned message is acceptable only inside a window in
  // which SES did not sign (PENDING/FAILED) that (1) was opened by swaps made
  // while BOTH authoritative servers served the key (the swap audit, not the
  // engine's own word), and (2) closed with SUCCESS — within 60 min without
  // faults (SES's first check), with no bound under injected SES status faults
  // (a stuck PENDING lasts until the activation times out and rolls back, or
  // until the next scheduled run does). The longest such window is reported.
  let unsignedOutsidePending = 0;
  let longestVerifiedUnsignedMinutes = 0;
  for (const u of unsignedLog) {
    const h = history(u.region, u.domain);
    let i = h.findLastIndex((c) => c.at.getTime() <= u.at);
    let windowStart: number | undefined;
    const puts: { selector: string; at: number }[] = [];
    while (i >= 0 && h[i]!.status !== "SUCCESS" && h[i]!.status !== "TEMPORARY_FAILURE") {
      const swap = /^signing attributes set: EXTERNAL selector (\S+)/.exec(h[i]!.reason);
      if (swap) puts.push({ selector: swap[1]!, at: h[i]!.at.getTime() });
      windowStart = h[i]!.at.getTime();
      i--;
    }
    const nextSuccess = h.find((c) => c.at.getTime() > u.at && c.status === "SUCCESS");
    const verified =
      puts.length > 0 &&
      puts.every((p) =>
        swapAudit.some(
          (a) =>
            a.region === u.region &&
            a.domain === u.domain &&
            a.selector === p.selector &&
            a.at === p.at &&
            a.verified,
        ),
      );
    const minutes =
      nextSuccess && windowStart !== undefined
        ? (nextSuccess.at.getTime() - windowStart) / MINUTE_MS
        : Infinity;
    const confined =
      verified &&
      nextSuccess !== undefined &&
      (options.faults !== undefined || minutes <= MAX_CONFINED_PENDING_MINUTES);
    if (!confined) unsignedOutsidePending++;
    else longestVerifiedUnsignedMinutes = Math.max(longestVerifiedUnsignedMinutes, minutes);
  }
  const duplicateKeys = duplicateKeySets.size;
  const overwrittenSecrets = emulator.secrets.list().filter((s) => s.overwritten).length;
  const unverifiedSwaps = swapAudit.filter((a) => !a.verified).length;
  // Liveness: safety alone would be met by never rotating at all.
  const stalledDomains = config.identities
    .filter((identity) => {
      const last = Math.max(
        legacyActivatedAt.getTime(),
        ...rotations
          .filter((r) => r.domain === identity.domain && r.activatedAt)
          .map((r) => Date.parse(r.activatedAt!)),
      );
      return end.getTime() - last > identity.rotationDays * DAY_MS;
    })
    .map((identity) => identity.domain);
  const faultCounts = options.faults
    ? addCounts<AwsFaultKind | DnsFaultKind>(
        addCounts<AwsFaultKind | DnsFaultKind>(emulator.faults.counts(), ns1.faultCounts()),
        ns2.faultCounts(),
      )
    : {};
  // A refusal must say which server served what: "<server>: <status> (<detail>)".
  const namesServer = (m: string) =>
    /\d+\.\d+\.\d+\.\d+:\d+\S*: (missing|mismatch|malformed|revoked|unreachable) \(/.test(m);
  const faultReport: FaultReport | undefined = options.faults
    ? {
        seed: options.faults.seed,
        rate: options.faults.rate,
        injected: faultCounts,
        failedCalls: emulator.calls().filter((c) => c.status < 200 || c.status >= 300).length,
        errorsSurvived: jobErrors.length,
        errors: jobErrors,
        refusals,
        refusalsWithoutServer: refusals.filter((r) => !namesServer(r.message)).length,
        rollbacks,
        longestVerifiedUnsignedMinutes: Math.round(longestVerifiedUnsignedMinutes),
      }
    : undefined;
  const unsignedMinutes = pendingMinutesTotal(emulator, config, start);
  const sesQuirks = options.sesQuirks
    ? {
        temporaryFailureSpells: config.identities
          .flatMap((i) => i.regions.flatMap((r) => history(r, i.domain)))
          .filter((c) => c.reason.endsWith("(quirk)")).length,
        // GetEmailIdentity answers; every BYODKIM one carried "Tokens": [].
        getEmailIdentityCalls: emulator.callCount({
          service: "ses",
          operation: "GetEmailIdentity",
        }),
      }
    : undefined;
  const ok =
    mailStats.failed === 0 &&
    unsignedOutsidePending === 0 &&
    (options.naive ||
      (unverifiedSwaps === 0 &&
        stalledDomains.length === 0 &&
        duplicateKeys === 0 &&
        duplicatePrs === 0 &&
        overwrittenSecrets === 0 &&
        custody.local2048 === 0 &&
        (faultReport?.refusalsWithoutServer ?? 0) === 0));
  const report: SandboxReport = {
    mode: options.naive ? "naive" : "pipeline",
    easyDkimSwitchBack: options.easyDkimSwitchBack ?? "new-tokens",
    start: start.toISOString(),
    end: end.toISOString(),
    ...mailStats,
    unsignedOutsidePending,
    unsignedMinutes,
    rotations,
    zonesServed: zoneArchive.size,
    sesCalls: emulator.callCount({ service: "ses" }),
    swaps: swapAudit.length,
    unverifiedSwaps,
    duplicateKeys,
    overwrittenSecrets,
    duplicatePrs,
    stalledDomains,
    custody,
    ...(faultReport ? { faults: faultReport } : {}),
    ...(sesQuirks ? { sesQuirks } : {}),
    ok,
    verdict: ok
      ? `0 failed signatures; ${mailStats.unsigned} unsigned message(s), all inside SES's pending checks right after a verified swap (${unsignedMinutes} pending minutes in all)${options.naive ? "" : `; every new 2048-bit key made by KMS (${custody.kms} KMS, ${custody.local} local 1024-bit, ${custody.operator} operator)`}${faultReport ? `; under ${faultReport.rate * 100}% faults (seed ${faultReport.seed}): ${Object.values(faultReport.injected).reduce((a, b) => a + (b ?? 0), 0)} injected, ${faultReport.errorsSurvived} failed run(s) retried, ${refusals.length} refusal(s), ${rollbacks.length} rollback(s), no duplicate key or PR` : ""}`
      : `${mailStats.failed} failed signature(s), ${unsignedOutsidePending} unsigned message(s) outside SES's pending checks (${unsignedMinutes} minutes of unsigned mail)${options.naive ? "" : `; ${unverifiedSwaps} swap(s) without DNS, ${stalledDomains.length ? `rotation stalled for ${stalledDomains.join(", ")} (active key older than rotationDays), ` : ""}${duplicateKeys} duplicate key(s), ${duplicatePrs} duplicate PR(s), ${overwrittenSecrets} overwritten secret(s), ${custody.local2048} 2048-bit key(s) made outside KMS, ${faultReport?.refusalsWithoutServer ?? 0} refusal(s) not naming the server`}`,
  };
  writeFileSync(join(out, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, "report.md"), renderReportMd(report, failures));

  await emulator.close();
  await ns1.close();
  await ns2.close();
  for (const c of sesClients.values()) c.destroy();
  adapters.destroy();
  return report;
}

/**
 * The same adapter classes as `buildAwsAdapters`, over clients configured
 * for injected faults:
 * - the standard retry strategy (5 attempts, the SDK's own classification of
 *   throttling and transient errors, its retry quota) with backoff scaled
 *   down like the SES pacing (1000×): the "adaptive" mode's limiter and the
 *   default backoff (100/500 ms × 2^n) work in real seconds, while the
 *   sandbox compresses two years into minutes;
 * - a request timeout that throws (this SDK only logs a warning unless
 *   `throwOnRequestTimeout` is set), so a held connection is retried rather
 *   than hanging a job. The emulator resets held connections after 40 ms.
 */
function faultTolerantAdapters(
  config: ProjectConfig,
  endpoint: string,
  clock: Clock,
  onSecret: (s: string) => void,
): AwsAdapters {
  const common = () => ({
    endpoint,
    credentials: SANDBOX_CREDENTIALS,
    retryStrategy: new ConfiguredRetryStrategy(5, (attempt: number) => 2 ** attempt),
    requestHandler: { requestTimeout: 2000, throwOnRequestTimeout: true },
  });
  const regions = [...new Set(config.identities.flatMap((i) => i.regions))];
  const ses = new Map(regions.map((region) => [region, new SESv2Client({ ...common(), region })]));
  const secrets = new SecretsManagerClient({ ...common(), region: config.defaultRegion });
  const kms = new KMSClient({ ...common(), region: config.defaultRegion });
  const cloudwatch = new CloudWatchClient({ ...common(), region: config.defaultRegion });
  return {
    ses: new SesAdapter({ clients: ses, pacer: new RegionPacer({ requestsPerSecond: 1000 }) }),
    keys: new SecretsKeyStore({
      client: secrets,
      kmsKeyId: config.kmsKeyId,
      prefix: config.secretPrefix,
      onSecret,
      custody: new KmsKeyCustody({ client: kms, keyId: config.kmsKeyId }),
    }),
    metrics: new CloudWatchMetrics({
      client: cloudwatch,
      namespace: config.metricsNamespace,
      clock,
    }),
    destroy: () => {
      for (const c of ses.values()) c.destroy();
      secrets.destroy();
      kms.destroy();
      cloudwatch.destroy();
    },
  };
}

/** The legacy domain's hand-made selector, named as the seed documents' production key is. */
const LEGACY_SELECTOR = "gooid-21-prod";

const SANDBOX_CREDENTIALS = {
  accessKeyId: "AKIASANDBOXEXAMPLE00",
  secretAccessKey: "sandbox-secret-access-key-not-real",
};

function sandboxConfig(file: string, nameservers: string[]): ProjectConfig {
  return parseProjectConfig(
    {
      identities: [
        {
          domain: "shop.example",
          selectorPrefix: "shop",
          regions: ["ap-northeast-1", "ap-northeast-3"],
          nameservers,
        },
        {
          domain: "news.example",
          selectorPrefix: "news",
          regions: ["ap-northeast-1"],
          nameservers,
          graceDays: 7,
        },
      ],
      kmsKeyId: "alias/ses-dkim-rotation",
      sesRequestsPerSecond: 1000,
    },
    { file, project: "ses-dkim-rotation", defaultRegion: "ap-northeast-1" },
  );
}

function renderSandboxConfig(config: ProjectConfig): string {
  const lines = [
    "# Written by the sandbox: the config its run used.",
    "config:",
    `  aws:region: ${config.defaultRegion}`,
    "  ses-dkim-rotation:identities:",
  ];
  for (const i of config.identities) {
    lines.push(
      `    - domain: ${i.domain}`,
      `      selectorPrefix: ${i.selectorPrefix}`,
      `      regions: [${i.regions.join(", ")}]`,
      `      dnsLeadDays: ${i.dnsLeadDays}`,
      `      graceDays: ${i.graceDays}`,
      `      nameservers: [${(i.nameservers ?? []).join(", ")}]`,
    );
  }
  lines.push(`  ses-dkim-rotation:sesRequestsPerSecond: ${config.sesRequestsPerSecond}`);
  return `${lines.join("\n")}\n`;
}

function prepareOut(out: string): void {
  const problem = sandboxOutProblem(out);
  if (problem) throw new Error(`${problem}; refusing to delete it (choose another --out)`);
  if (existsSync(out)) rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, SANDBOX_MARKER), "created by npm run sandbox; safe to delete\n");
}

function parseP(recordFile: string): string {
  const joined = [...recordFile.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join("");
  return /p=([A-Za-z0-9+/=]+)/.exec(joined)![1]!;
}

/** The key records a verifier will look up: `<s>._domainkey.<d>` for each DKIM-Signature. */
function signatureKeyNames(raw: Buffer): string[] {
  const head = raw
    .subarray(0, Math.max(0, raw.indexOf("\r\n\r\n")))
    .toString("latin1")
    .replace(/\r\n[ \t]+/g, " ");
  const names: string[] = [];
  for (const line of head.split("\r\n")) {
    if (!/^dkim-signature:/i.test(line)) continue;
    const d = /[;\s:]d=([^;\s]+)/i.exec(line)?.[1];
    const sel = /[;\s:]s=([^;\s]+)/i.exec(line)?.[1];
    if (d && sel) names.push(`${sel}._domainkey.${d}`.toLowerCase());
  }
  return names;
}

/** One worker thread running mailauth, so verification uses the second core. */
class MailVerifierPool {
  private readonly worker: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (r: VerifyResponse) => void; reject: (e: Error) => void }
  >();
  private next = 0;
  private broken?: Error;
  constructor() {
    // Workers do not inherit tsx's loader hooks on Node 20: register them first.
    const entry = new URL("./mail-verifier.ts", import.meta.url).href;
    this.worker = new Worker(
      `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`,
      { eval: true },
    );
    this.worker.on("message", (r: VerifyResponse) => {
      this.waiting.get(r.id)?.resolve(r);
      this.waiting.delete(r.id);
    });
    const fail = (err: Error) => {
      this.broken = new Error(`mail verifier worker stopped: ${err.message}`);
      for (const w of this.waiting.values()) w.reject(this.broken);
      this.waiting.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => {
      if (code !== 0 || this.waiting.size) fail(new Error(`exit code ${code}`));
    });
  }
  verify(req: Omit<VerifyRequest, "id">): Promise<VerifyResponse> {
    if (this.broken) return Promise.reject(this.broken);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id });
    });
  }
  async close(): Promise<void> {
    this.broken = new Error("mail verifier closed");
    await this.worker.terminate();
  }
}

function stamp(d: Date): string {
  return d.toISOString().slice(0, 16).replace("T", " ");
}

function lastSuccess(emulator: AwsEmulator, regions: string[], domain: string): string | undefined {
  const times = regions.map((r) => emulator.ses.identity(r, domain)?.lastSuccessAt?.getTime() ?? 0);
  return times.every(Boolean) ? new Date(Math.max(...times)).toISOString() : undefined;
}

/** Minutes each identity spent not signing with its domain key after a swap (PENDING/FAILED). */
function pendingMinutesTotal(emulator: AwsEmulator, config: ProjectConfig, since: Date): number {
  let total = 0;
  for (const identity of config.identities) {
    for (const region of identity.regions) {
      const h = emulator.ses.identity(region, identity.domain)?.history ?? [];
      for (let i = 0; i < h.length; i++) {
        const c = h[i]!;
        if ((c.status !== "PENDING" && c.status !== "FAILED") || c.at < since) continue;
        const next = h
          .slice(i + 1)
          .find((n) => n.status === "SUCCESS" || n.status === "TEMPORARY_FAILURE");
        if (next) total += (next.at.getTime() - c.at.getTime()) / MINUTE_MS;
        if (next) i = h.indexOf(next);
      }
    }
  }
  return Math.round(total);
}

export function renderReportMd(report: SandboxReport, failures: string[]): string {
  const lines = [
    `# Sandbox report (${report.mode})`,
    "",
    `Simulated ${report.start.slice(0, 10)} → ${report.end.slice(0, 10)}; a switch back to Easy DKIM gives ${report.easyDkimSwitchBack === "new-tokens" ? "new tokens" : "the same tokens"}.`,
    "",
    `| messages | verified | unsigned | failed | unsigned outside SES pending checks | pending minutes |`,
    `|---:|---:|---:|---:|---:|---:|`,
    `| ${report.messages} | ${report.verified} | ${report.unsigned} | ${report.failed} | ${report.unsignedOutsidePending} | ${report.unsignedMinutes} |`,
    "",
    `**Verdict:** ${report.ok ? "PASS" : "FAIL"} — ${report.verdict}`,
    "",
    "## Rotations",
    "",
    "| domain | from | to | generated | merged | published | activated | retired | pending min |",
    "|---|---|---|---|---|---|---|---|---:|",
    ...report.rotations.map(
      (r) =>
        `| ${r.domain} | ${r.from ?? "-"} | ${r.to} | ${d(r.generatedAt)} | ${d(r.mergedAt)} | ${d(r.publishedAt)} | ${r.activatedAt ? d(r.activatedAt) : r.rolledBackAt ? `rolled back ${d(r.rolledBackAt)}` : "-"} | ${d(r.retiredAt)} | ${r.pendingMinutes ?? "-"} |`,
    ),
    "",
  ];
  lines.push(
    "## Safety checks",
    "",
    "| swaps | swaps without DNS on every server | duplicate keys | duplicate PRs | overwritten secrets | rotation stalled | keys by KMS / local / operator | 2048-bit keys outside KMS |",
    "|---:|---:|---:|---:|---:|---|---|---:|",
    `| ${report.swaps} | ${report.unverifiedSwaps} | ${report.duplicateKeys} | ${report.duplicatePrs} | ${report.overwrittenSecrets} | ${report.stalledDomains.join(", ") || "none"} | ${report.custody.kms} / ${report.custody.local} / ${report.custody.operator} | ${report.custody.local2048} |`,
    "",
  );
  const f = report.faults;
  if (f) {
    lines.push(
      `## Faults (rate ${f.rate}, seed ${f.seed})`,
      "",
      "| kind | injected |",
      "|---|---:|",
      ...Object.entries(f.injected).map(([k, v]) => `| ${k} | ${v} |`),
      "",
      `Control-plane calls answered with an error or not at all: ${f.failedCalls} (the SDK retried them; ${f.errorsSurvived} run(s) still failed and were retried by the next schedule).`,
      "",
      "Unsigned mail is confined when every SES swap that opened its window was made while both authoritative servers served the key (audited against the zones, not the engine's word) and SES reached SUCCESS again. Injected SES status faults (a key stuck in PENDING or FAILED) lengthen such windows until the activation rolls back; " +
        `the longest was ${f.longestVerifiedUnsignedMinutes} min.`,
      "",
      `### Refusals (${f.refusals.length}; ${f.refusalsWithoutServer} without the server named)`,
      "",
      ...f.refusals.slice(0, 50).map((r) => `- ${d(r.at)} ${r.message}`),
      "",
      `### Rollbacks (${f.rollbacks.length})`,
      "",
      ...f.rollbacks.map((r) => `- ${d(r.at)} ${r.message}`),
      "",
      `### Failed runs retried by the next schedule (${f.errorsSurvived})`,
      "",
      ...groupErrors(f.errors)
        .slice(0, 50)
        .map(
          (g) =>
            `- ${g.count}× ${g.job}: ${g.message} (${d(g.first)}${g.count > 1 ? ` … ${d(g.last)}` : ""})`,
        ),
      "",
    );
  }
  if (failures.length)
    lines.push("## Failed signatures", "", ...failures.slice(0, 50).map((f) => `- ${f}`), "");
  return lines.join("\n");
}

/** Identical failures (the same run failing every hour) as one line with a count. */
function groupErrors(errors: FaultReport["errors"]) {
  const groups = new Map<
    string,
    { job: string; message: string; count: number; first: string; last: string }
  >();
  for (const e of errors) {
    const key = `${e.job}\n${e.message}`;
    const g = groups.get(key);
    if (g) {
      g.count++;
      g.last = e.at;
    } else groups.set(key, { job: e.job, message: e.message, count: 1, first: e.at, last: e.at });
  }
  return [...groups.values()];
}

function d(iso?: string): string {
  return iso ? iso.slice(0, 16).replace("T", " ") : "-";
}

export { recordOwner };
