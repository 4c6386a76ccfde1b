/**
 * An EngineContext over real local infrastructure, for integration tests of
 * the engine's commands:
 * - the AWS emulator on loopback, reached through `buildAwsAdapters` (real SDK
 *   v3 clients, the same wiring as the CLI, the action and the sandbox);
 * - two authoritative loopback DNS servers (ns1, ns2) that the engine's
 *   verifier asks, and a third (ns3) that SES's own DNS check can be pointed
 *   at, so "our verifier sees the record but SES does not" can be staged;
 * - RepoRecords + WorkingTreeChanges over a temp checkout, and a FileLock;
 * - a simulated clock whose `sleep` moves time and lets the emulator run the
 *   DNS checks that fell due (as scripts/sandbox/run.ts does).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { provisionCanary } from "../../scripts/sandbox/canary-world";
import { buildAwsAdapters, type AwsAdapters } from "../../actions/dkim-rotation/src/context";
import { DnsVerifier } from "../../actions/dkim-rotation/src/adapters/dns";
import { FileLock, WorkingTreeChanges } from "../../actions/dkim-rotation/src/adapters/local";
import { DAY_MS, MINUTE_MS, SimClock } from "../../actions/dkim-rotation/src/engine/clock";
import {
  parseProjectConfig,
  type IdentityInput,
  type ProjectConfig,
} from "../../actions/dkim-rotation/src/engine/config";
import type { EngineContext, Logger } from "../../actions/dkim-rotation/src/engine/engine-context";
import { dkimRecordValue, recordPath } from "../../actions/dkim-rotation/src/engine/record";
import { easyDkimCnames, withTargets } from "../../actions/dkim-rotation/src/engine/easy-dkim";
import { RepoRecords } from "../../actions/dkim-rotation/src/adapters/repo-records";
import type {
  AwsEmulator,
  AwsEmulatorOptions,
  SecretView,
} from "../../scripts/sandbox/aws-emulator";
import { mailDomainZone, type DnsServer } from "../../scripts/sandbox/dns-server";
import { startLocalWorld } from "../../scripts/local-world";
import { plainChangeText } from "../../actions/dkim-rotation/src/format";

// The SDK warns that Node 20 support ends in 2027; these tests only talk to the emulator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export const REGION_A = "ap-northeast-1";
export const REGION_B = "ap-northeast-3";
export const KMS_KEY_ID = "alias/ses-dkim-rotation";
export const TEST_CREDENTIALS = {
  accessKeyId: "AKIDENGINETEST000000",
  secretAccessKey: "engine-test-secret-not-real",
};

export interface HarnessOptions {
  /**
   * Identities; `nameservers` are filled in with ns1 and ns2. A function is
   * given the emulator first (for IDs it makes, such as a hosted zone's).
   */
  identities: IdentityInput[] | ((emulator: AwsEmulator) => IdentityInput[]);
  start?: Date;
  deletionRecoveryDays?: number;
  /** What SES gives on a switch back to Easy DKIM (the emulator's default: `new-tokens`). */
  easyDkimSwitchBack?: "new-tokens" | "same-tokens";
  /** The config's `notifications` block; the harness makes its SNS topic in the emulator. */
  notifications?: Record<string, unknown>;
  /** Authoritative servers to configure instead of ns1 and ns2 (e.g. a real named). */
  nameservers?: string[];
  /**
   * The config's `canary:` block; the harness provisions what infra/ would
   * (the bucket with its SES-only policy, the active receipt rule set).
   */
  canary?: Record<string, unknown>;
  /** More emulator options (e.g. Route 53's propagation). */
  emulator?: Partial<AwsEmulatorOptions>;
}

export interface EngineHarness {
  ctx: EngineContext;
  config: ProjectConfig;
  clock: SimClock;
  emulator: AwsEmulator;
  aws: AwsAdapters;
  /** The two authoritative servers the engine's verifier asks. */
  ns1: DnsServer;
  ns2: DnsServer;
  /** A third server, asked only by SES when `sesDns` points at it. */
  ns3: DnsServer;
  /** The server SES's own DKIM check reads (default ns1, like public DNS after publication). */
  sesDns: DnsServer;
  /** `host:port` SES's check reads instead of `sesDns` (a server outside the harness). */
  sesDnsAddress?: string;
  /** `127.0.0.1:<port>` as the verifier labels a configured server. */
  label(server: DnsServer): string;
  repo: string;
  lockDir: string;
  /** Everything the engine logged, one line each ("info: …", "warn: …"). */
  logs: string[];
  /** Every private key the engine reported through onSecret. */
  secretsSeen: string[];
  sesClient(region: string): SESv2Client;
  /** Create the domain identity (Easy DKIM, as SES does by default) in each of its Regions. */
  createIdentity(domain: string): Promise<void>;
  /** Serve (or with `undefined`, remove) a DKIM TXT value on the given servers. */
  serve(domain: string, selector: string, value: string | undefined, servers?: DnsServer[]): void;
  /** Serve the record for `publicKey` on the given servers (default ns1 and ns2). */
  publish(domain: string, selector: string, publicKey: string, servers?: DnsServer[]): void;
  advance(ms: number): Promise<void>;
  advanceDays(days: number): Promise<void>;
  recordFile(domain: string, selector: string): string;
  secret(domain: string, selector: string): SecretView | undefined;
  /** PutEmailIdentityDkimSigningAttributes calls so far (optionally in one Region). */
  puts(region?: string): number;
  close(): Promise<void>;
}

export async function startEngineHarness(options: HarnessOptions): Promise<EngineHarness> {
  // Mutable state the emulator's callbacks read (the clock exists only after the emulator).
  const h: { sesDns?: DnsServer; sesDnsAddress?: string; clock?: SimClock } = {};
  const local = await startLocalWorld({
    nameservers: 3,
    // SES resolves through whatever server the test chose, asked directly.
    sesResolver: () => h.sesDnsAddress ?? label(h.sesDns!),
    emulator: {
      ...options.emulator,
      sesQuirks: {
        ...options.emulator?.sesQuirks,
        ...(options.easyDkimSwitchBack ? { easyDkimSwitchBack: options.easyDkimSwitchBack } : {}),
      },
      clock: { now: () => h.clock!.now() },
      // AWS's 1 request/s would make a poll loop over 72 simulated hours take minutes.
      sesRequestsPerSecond: 1000,
    },
  });
  const [ns1, ns2, ns3] = local.servers as [DnsServer, DnsServer, DnsServer];
  const emulator = local.emulator!;
  const label = (s: DnsServer) => `127.0.0.1:${s.port}`;
  h.sesDns = ns1;
  // A sleep moves time first, then runs what the emulator has due by then.
  const clock: SimClock = new SimClock(
    (options.start ?? new Date("2027-01-04T00:00:00Z")).getTime(),
    async (to) => {
      clock.t = to;
      await emulator.advance();
    },
  );
  h.clock = clock;

  const repo = mkdtempSync(join(tmpdir(), "dkim-engine-"));
  const lockDir = join(repo, ".dkim-locks");
  const config = parseProjectConfig(
    {
      identities: (typeof options.identities === "function"
        ? options.identities(emulator)
        : options.identities
      ).map((i) => ({
        ...i,
        nameservers: options.nameservers ?? [label(ns1), label(ns2)],
      })),
      kmsKeyId: KMS_KEY_ID,
      sesRequestsPerSecond: 1000,
      ...(options.deletionRecoveryDays
        ? { deletionRecoveryDays: options.deletionRecoveryDays }
        : {}),
      ...(options.notifications ? { notifications: options.notifications } : {}),
      ...(options.canary ? { canary: options.canary } : {}),
    },
    { file: join(repo, "Pulumi.test.yaml"), project: "ses-dkim-rotation", defaultRegion: REGION_A },
  );

  const logs: string[] = [];
  const secretsSeen: string[] = [];
  const onSecret = (s: string) => secretsSeen.push(s);
  const log: Logger = {
    info: (m) => logs.push(`info: ${m}`),
    warn: (m) => logs.push(`warn: ${m}`),
    progress: () => {},
  };
  const aws = buildAwsAdapters({
    config,
    endpoint: emulator.url,
    credentials: TEST_CREDENTIALS,
    requestsPerSecond: 1000,
    clock,
    onSecret,
  });
  const ctx: EngineContext = {
    config,
    ses: aws.ses,
    keys: aws.keys,
    dns: new DnsVerifier({ timeoutMs: 500, tries: 2, clock }),
    // No git history in the temp checkout: merge times are unknown, as for a fresh clone.
    records: new RepoRecords(repo, config, async () => undefined),
    changes: new WorkingTreeChanges(repo),
    lock: new FileLock(lockDir),
    clock,
    log,
    onSecret,
    changeText: plainChangeText,
    activation: { pollIntervalMs: MINUTE_MS, timeoutMs: 60 * MINUTE_MS },
    notices: aws.notices,
    publisherFor: aws.publisherFor,
    ...(aws.canary ? { canary: aws.canary } : {}),
  };
  if (config.canary) await provisionCanary(emulator, config.canary, TEST_CREDENTIALS);
  if (config.notifications) emulator.createTopic(config.notifications.topicName, REGION_A);

  const sesClients = new Map<string, SESv2Client>();
  const sesClient = (region: string) => {
    let c = sesClients.get(region);
    if (!c) {
      c = new SESv2Client({ region, endpoint: emulator.url, credentials: TEST_CREDENTIALS });
      sesClients.set(region, c);
    }
    return c;
  };

  // Per server, per domain: selector → TXT value.
  const served = new Map<DnsServer, Map<string, Map<string, string>>>();
  // Per domain: the Easy DKIM CNAME tokens the DNS team published (every server).
  const cnames = new Map<string, { token: string; target: string }[]>();
  let serial = 2027010100;
  const render = (server: DnsServer, domain: string) => {
    const dkim = served.get(server)?.get(domain) ?? new Map<string, string>();
    const model = mailDomainZone(domain, {
      serial: ++serial,
      dkim,
      easyDkimCnames: cnames.get(domain),
      nameserverAddress: "127.0.0.1",
      txtTtl: 300,
    });
    server.setZone(domain, model);
  };
  const serve = (
    domain: string,
    selector: string,
    value: string | undefined,
    servers: DnsServer[] = [ns1, ns2],
  ) => {
    for (const server of servers) {
      const zones = served.get(server) ?? new Map<string, Map<string, string>>();
      served.set(server, zones);
      const dkim = zones.get(domain) ?? new Map<string, string>();
      zones.set(domain, dkim);
      if (value === undefined) dkim.delete(selector);
      else dkim.set(selector, value);
      render(server, domain);
    }
  };

  const harness: EngineHarness = {
    ctx,
    config,
    clock,
    emulator,
    aws,
    ns1,
    ns2,
    ns3,
    get sesDns() {
      return h.sesDns!;
    },
    set sesDns(server: DnsServer) {
      h.sesDns = server;
    },
    get sesDnsAddress() {
      return h.sesDnsAddress;
    },
    set sesDnsAddress(address: string | undefined) {
      h.sesDnsAddress = address;
    },
    label,
    repo,
    lockDir,
    logs,
    secretsSeen,
    sesClient,
    async createIdentity(domain) {
      const identity = config.identities.find((i) => i.domain === domain);
      if (!identity) throw new Error(`test setup: ${domain} is not in the harness config`);
      // The zone exists (empty) on every server, so a missing record is NXDOMAIN, not REFUSED.
      for (const server of [ns1, ns2, ns3]) render(server, domain);
      for (const region of identity.regions)
        await sesClient(region).send(new CreateEmailIdentityCommand({ EmailIdentity: domain }));
      // Easy DKIM, as SES asks: the DNS team publishes its three CNAMEs per
      // Region, to that Region's zone (SigningHostedZone).
      cnames.set(
        domain,
        identity.regions.flatMap((r) => {
          const view = emulator.ses.identity(r, domain);
          return view
            ? (withTargets(easyDkimCnames(domain, r, view.tokens, view.signingHostedZone)) ?? [])
            : [];
        }),
      );
      for (const server of [ns1, ns2, ns3]) render(server, domain);
      // SES finds the CNAMEs at its first check and Easy DKIM signs from then on.
      await clock.sleep(10 * MINUTE_MS);
    },
    serve,
    publish: (domain, selector, publicKey, servers) =>
      serve(domain, selector, dkimRecordValue(publicKey), servers),
    advance: (ms) => clock.sleep(ms),
    advanceDays: (days) => clock.sleep(days * DAY_MS),
    recordFile: (domain, selector) => join(repo, recordPath(domain, selector)),
    secret: (domain, selector) => emulator.secrets.get(REGION_A, `dkim/${domain}/${selector}`),
    puts: (region) =>
      emulator.callCount({
        operation: "PutEmailIdentityDkimSigningAttributes",
        ...(region ? { region } : {}),
      }),
    async close() {
      for (const c of sesClients.values()) c.destroy();
      aws.destroy();
      await local.close();
      rmSync(repo, { recursive: true, force: true });
    },
  };
  return harness;
}
