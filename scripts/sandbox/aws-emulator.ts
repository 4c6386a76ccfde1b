/**
 * A local AWS emulator that the real SDK v3 clients talk to over loopback:
 * SES v2 (REST-JSON), Secrets Manager (JSON 1.1), KMS (JSON 1.1,
 * aws-emulator/kms.ts), CloudWatch PutMetricData (JSON 1.0,
 * query-compatible), SNS Publish (query, aws-emulator/sns.ts), Route 53
 * record changes (REST-XML, aws-emulator/route53.ts), S3 objects (REST-XML,
 * path-style, aws-emulator/s3.ts) and SES v1 receipt rules (query,
 * aws-emulator/ses-receiving.ts) — the wire protocols the
 * installed clients actually send, so a serialization or error-mapping
 * mistake fails here as it would against AWS.
 *
 * It is deliberately strict (a lenient emulator hides the bugs users hit):
 * SES's key and selector validation, the 1 request/s control-plane limit per
 * Region on real wall time, and the DKIM status machine that checks DNS on
 * a simulated clock (PENDING → SUCCESS, or FAILED after 72 h; SUCCESS →
 * TEMPORARY_FAILURE → FAILED when the record disappears).
 *
 * Usage:
 *   const aws = await startAwsEmulator({ clock, lookupTxt });
 *   new SESv2Client({ endpoint: aws.url, region: "ap-northeast-1", credentials: { accessKeyId: "AKID", secretAccessKey: "x" } });
 *   ... move the clock ..., await aws.advance();
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { gunzipSync } from "node:zlib";
import {
  AwsApiError,
  isRecord,
  parseAuthorization,
  resolverLookup,
  TokenBucket,
  type EmulatorClock,
  type LookupTxt,
} from "./aws-emulator/common";
import {
  CloudWatchBackend,
  CloudWatchError,
  type MetricDatapoint,
} from "./aws-emulator/cloudwatch";
import { SecretsBackend, type SecretView } from "./aws-emulator/secrets";
import { SsmBackend } from "./aws-emulator/ssm";
import { SNS_XMLNS, SnsBackend, type PublishedMessage } from "./aws-emulator/sns";
import {
  DEFAULT_ROUTE53_PROPAGATION_MS,
  ROUTE53_XMLNS,
  Route53Backend,
  type Route53ChangeView,
  type Route53RecordSet,
  type Route53SyncHook,
} from "./aws-emulator/route53";
import { KmsBackend, type KmsKeySpec, type KmsKeyView } from "./aws-emulator/kms";
import {
  S3Backend,
  s3ErrorXml,
  type S3BucketSpec,
  type S3ObjectView,
  type S3Writer,
} from "./aws-emulator/s3";
import {
  SES_V1_XMLNS,
  SesReceivingBackend,
  type ReceiptRuleView,
  type ReceivedMessage,
} from "./aws-emulator/ses-receiving";
import {
  AWS_FAULT_KINDS,
  FaultDecider,
  validateFaultPlan,
  type AwsFaultKind,
  type FaultPlan,
} from "./faults";
import {
  DEFAULT_DKIM_TIMINGS,
  SesBackend,
  type DkimStatusFault,
  type DkimTimings,
  type EasyDkimKey,
  type ExternalKeySet,
  type IdentityView,
  type SentMessage,
  type SesQuirks,
  type SesSwitches,
} from "./aws-emulator/ses";

export type { EmulatorClock, LookupTxt, TxtLookupResult } from "./aws-emulator/common";
export type {
  DkimTimings,
  IdentityView,
  SentMessage,
  DkimStatus,
  StatusChange,
  DkimStatusFault,
  EasyDkimKey,
  ExternalKeySet,
  SesQuirks,
  SesSwitches,
} from "./aws-emulator/ses";
export type { S3BucketSpec, S3ObjectView, S3Writer } from "./aws-emulator/s3";
export type { ReceiptRuleView, ReceivedMessage } from "./aws-emulator/ses-receiving";
export { RECEIVING_REGIONS } from "./aws-emulator/ses-receiving";
export type { AwsFaultKind, FaultPlan } from "./faults";
export type { SecretView } from "./aws-emulator/secrets";
export type { KmsKeySpec, KmsKeyView } from "./aws-emulator/kms";
export type { MetricDatapoint } from "./aws-emulator/cloudwatch";
export type { PublishedMessage, SnsMessageAttribute } from "./aws-emulator/sns";
export type { Route53ChangeView, Route53RecordSet, Route53SyncHook } from "./aws-emulator/route53";

/**
 * Seeded fault injection on control-plane calls (every SES operation but
 * SendEmail, every Secrets Manager, KMS, CloudWatch, SSM, SNS and Route 53
 * operation). Each request is faulted with probability `rate`; see
 * ../faults.ts for how decisions stay reproducible. The DKIM status kinds
 * are decided separately, once per EXTERNAL
 * PutEmailIdentityDkimSigningAttributes of a selector the identity never
 * verified, also at `rate`.
 */
export interface AwsEmulatorFaults extends FaultPlan<AwsFaultKind> {
  /**
   * `timeout`: how long the request is held (real ms) before the connection is
   * reset. A client whose requestTimeout is shorter gives up first (a true
   * timeout); otherwise it sees the reset. Default 1000.
   */
  timeoutHoldMs?: number;
  /** `slow`: the added delay in real ms. Default 250. */
  slowMs?: number;
}

/** One injected fault, for the inspection API. */
export interface FaultEvent {
  kind: AwsFaultKind;
  service: EmulatedService;
  operation: string;
  region: string;
  /** What exactly was injected: `503 ServiceUnavailable`, `reset after the work was done`, … */
  detail: string;
  at: Date;
  simulatedAt: Date;
}

const REQUEST_FAULTS: readonly AwsFaultKind[] = ["throttle", "server-error", "timeout", "slow"];
const STATUS_FAULTS: readonly AwsFaultKind[] = ["dkim-stuck-pending", "dkim-failed"];

export interface AwsEmulatorOptions {
  /** Loopback by default; never bind wider without a reason. */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** All SES/Secrets timestamps and the DKIM status machine read this clock. */
  clock?: EmulatorClock;
  /** How SES looks up `<selector>._domainkey.<domain>` TXT. Default: node:dns against `dnsServers`. */
  lookupTxt?: LookupTxt;
  /** Servers for the default lookup (`127.0.0.1:5300`). */
  dnsServers?: string[];
  /** SES control-plane requests per second per Region (AWS: 1, cannot be raised). */
  sesRequestsPerSecond?: number;
  /** Bucket size; defaults to one second's worth (1 at the AWS default). */
  sesBurst?: number;
  /** DKIM check schedule in simulated time. */
  dkim?: Partial<DkimTimings>;
  /** Documented SES answers to switch on (empty BYODKIM Tokens, TEMPORARY_FAILURE spells). */
  sesQuirks?: SesQuirks;
  accountId?: string;
  /**
   * What STS GetCallerIdentity answers (default: an assumed planner role in
   * `accountId`), so `doctor` can be shown a caller from another account.
   */
  caller?: { arn: string; account: string };
  /** Allow Secrets Manager `ForceDeleteWithoutRecovery`. Default false: refused with InvalidParameterException. */
  allowForceDelete?: boolean;
  /** Every message SES accepts, as it leaves SES (signed when DKIM is SUCCESS/TEMPORARY_FAILURE). */
  onMessage?: (event: SentMessage) => void | Promise<void>;
  /**
   * Keep every sent message for `ses.sent()` (default true, for tests). A
   * long run that reads them through `onMessage` turns this off: two
   * simulated years send ~10,000 messages, each held with its bytes.
   */
  retainSentMessages?: boolean;
  /** Every Easy DKIM key SES makes, to be served at `<token>.<zone>` (the Region's SigningHostedZone). */
  onEasyDkimKey?: (key: EasyDkimKey) => void | Promise<void>;
  /** Every BYODKIM key set, as SES takes it (the sandbox audits each swap against DNS). */
  onExternalKey?: (key: ExternalKeySet) => void;
  faults?: AwsEmulatorFaults;
  /**
   * KMS keys every Region has (made on first use there), as the stack's
   * Pulumi program would have provisioned them. Default: one symmetric key,
   * `alias/ses-dkim-rotation`. Any other key: `kms.createKey`.
   */
  kmsKeys?: KmsKeySpec[];
  route53?: {
    /**
     * Submission to INSYNC on the emulator clock. Default 60 000 ("changes
     * generally propagate to all Route 53 name servers within 60 seconds").
     */
    propagationMs?: number;
    /**
     * Report INSYNC this long before the zone is served (the sync hooks run).
     * Default 0: the docs say INSYNC means every Route 53 server has it.
     */
    insyncLeadMs?: number;
    /**
     * Route 53 API requests per second per account, also the burst. Default
     * 5: the former quota, stricter than today's (a bucket of 50 refilled
     * at 10/s, throttling-api-requests).
     */
    requestsPerSecond?: number;
  };
  /**
   * Called when a Route 53 change reaches every authoritative server, with
   * the zone as that change left it, so a world can serve it over DNS.
   */
  onRoute53Sync?: Route53SyncHook;
  /** SES sending faults (wrong signing key, inbound mail lost); also settable with `ses.setSwitches`. */
  sesSwitches?: SesSwitches;
  /** Buckets the stack's Pulumi program would have made. More: `s3.createBucket`. */
  s3Buckets?: S3BucketSpec[];
}

export type EmulatedService =
  "ses" | "secretsmanager" | "kms" | "monitoring" | "ssm" | "sts" | "sns" | "route53" | "s3";

/** SES v2 SendEmail's request, raw content only (what the sandbox's senders send). */
export interface SendEmailInput {
  FromEmailAddress: string;
  Destination: { ToAddresses: string[] };
  Content: { Raw: { Data: Uint8Array } };
}

/** One request the emulator received, whatever its outcome. */
export interface CallRecord {
  service: EmulatedService;
  operation: string;
  /** From the SigV4 credential scope; empty when the request had none. */
  region: string;
  /** Real wall time (rate limiting is about real pacing). */
  at: Date;
  /** The emulator clock when it was handled. */
  simulatedAt: Date;
  /** 0 when no response was sent (an injected timeout). */
  status: number;
  errorCode?: string;
  /** The request-level fault injected into this call, if any. */
  fault?: AwsFaultKind;
}

export interface CallFilter {
  service?: EmulatedService;
  operation?: string;
  region?: string;
  /** `ok` = 2xx, `error` = anything else. */
  outcome?: "ok" | "error";
  errorCode?: string;
}

export interface AwsEmulator {
  /** `http://127.0.0.1:<port>`: hand it to the SDK clients as `endpoint`. */
  url: string;
  close(): Promise<void>;
  /** Run every DNS check and secret purge due at `clock.now()`. Call after moving the clock. */
  advance(): Promise<void>;
  /** Alias of `advance`. */
  tick(): Promise<void>;
  setSesRateLimit(requestsPerSecond: number, burst?: number): void;
  calls(filter?: CallFilter): CallRecord[];
  callCount(filter?: CallFilter): number;
  /** SES control-plane requests so far: every SES request but SendEmail (whose quota is separate). */
  sesControlPlaneCalls(): number;
  ses: {
    /**
     * SES v2 SendEmail without the wire, for the sandbox's simulated senders
     * (docs/design.md#sandbox-mail-in-process): the same checks, signing,
     * call log entry and clock as a SendEmail request; only the HTTP, the
     * SigV4 signature and the JSON are skipped. Rejects as the API would
     * (AwsApiError with its code).
     */
    sendEmail(region: string, input: SendEmailInput): Promise<{ MessageId: string }>;
    identities(region?: string): IdentityView[];
    identity(region: string, name: string): IdentityView | undefined;
    sent(): SentMessage[];
    /** Public key SES signs with for an Easy DKIM identity, so a test resolver can serve it. */
    easyDkimPublicKey(region: string, name: string): Promise<string>;
    /** Replace the sending fault switches (docs/design.md#emulated-ses-receiving). */
    setSwitches(switches: SesSwitches): void;
    /** The active receipt rule set of a receiving Region. */
    activeRuleSet(region: string): { name: string; rules: ReceiptRuleView[] } | undefined;
    /** Every message SES receiving stored in S3. */
    received(): ReceivedMessage[];
    /**
     * Mail from outside AWS reaching SES's inbound endpoint (the MX of the
     * receiving domain points there): stored by the active rule set's S3
     * actions like any received message. Returns what was stored.
     */
    receive(raw: Buffer, recipients: readonly string[], at: Date): ReceivedMessage[];
    /** The receipt rule's ARN (the aws:SourceArn SES writes to S3 with). */
    ruleArn(region: string, ruleSet: string, rule: string): string;
  };
  /** In-process S3 (docs/design.md#emulated-s3); the wire API is served at `url` (path-style). */
  s3: {
    createBucket(spec: S3BucketSpec): void;
    setPolicy(bucket: string, policy: string | undefined): void;
    /** Store an object; with `writer` (a service principal) the bucket policy must admit it. */
    putObject(
      bucket: string,
      key: string,
      body: Buffer | string,
      opts?: { writer?: S3Writer; contentType?: string; by?: string },
    ): S3ObjectView;
    getObject(bucket: string, key: string): S3ObjectView | undefined;
    deleteObject(bucket: string, key: string): boolean;
    objects(bucket: string, prefix?: string): S3ObjectView[];
  };
  secrets: {
    list(region?: string): SecretView[];
    get(region: string, name: string): SecretView | undefined;
  };
  kms: {
    keys(region?: string): KmsKeyView[];
    createKey(region: string, spec?: KmsKeySpec): KmsKeyView;
    /** DisableKey / EnableKey. */
    setEnabled(region: string, keyIdOrAlias: string, enabled: boolean): void;
  };
  metrics: {
    datapoints(filter?: {
      namespace?: string;
      metricName?: string;
      region?: string;
    }): MetricDatapoint[];
  };
  /** Make an SNS topic (standard, not FIFO); returns `arn:aws:sns:<region>:<account>:<name>`. */
  createTopic(name: string, region?: string): string;
  /** Every message SNS Publish accepted, in order. */
  published(): PublishedMessage[];
  /** Make a public hosted zone with its apex NS and SOA; returns its ID (`Z…`, no `/hostedzone/`). */
  createHostedZone(name: string): string;
  /** The zone's record sets as the API has them (PENDING changes included), in list order. */
  route53Records(zoneId: string): Route53RecordSet[];
  /** Every change batch accepted, with its current status. */
  route53Changes(): Route53ChangeView[];
  /** Also call `hook` when a change is served (see `onRoute53Sync`); returns an unsubscribe. */
  onRoute53Sync(hook: Route53SyncHook): () => void;
  faults: {
    /** Replace the fault plan (undefined: no faults). Counts restart with the new plan. */
    set(plan: AwsEmulatorFaults | undefined): void;
    /** Injected faults by kind since the plan was set. */
    counts(): Partial<Record<AwsFaultKind, number>>;
    log(): FaultEvent[];
  };
}

const MAX_BODY = 40 * 1024 * 1024;

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY)
      throw new AwsApiError("RequestEntityTooLargeException", "Request body too large", 413);
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  // PutMetricData carries the requestCompression trait: the SDK gzips bodies of 10 KiB or more.
  const encoding = req.headers["content-encoding"];
  if (encoding === "gzip") {
    try {
      return gunzipSync(body, { maxOutputLength: MAX_BODY });
    } catch {
      throw new AwsApiError("SerializationException", "Request body is not valid gzip", 400);
    }
  }
  if (encoding && encoding !== "identity") {
    throw new AwsApiError(
      "SerializationException",
      `Unsupported Content-Encoding ${encoding}`,
      400,
    );
  }
  return body;
}

async function readRawBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY)
      throw new AwsApiError(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
      );
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer, errorCode: string): Record<string, unknown> {
  if (body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new AwsApiError(errorCode, "Request body is not valid JSON", 400);
  }
  if (!isRecord(parsed))
    throw new AwsApiError(errorCode, "Request body must be a JSON object", 400);
  return parsed;
}

type SesRoute = { operation: string; identity?: string };

type Route53Route = { operation: string; id: string };

/** Route 53 routes, as in the `http` traits of @aws-sdk/client-route-53's schema. */
function route53Route(method: string, path: string): Route53Route | undefined {
  const m = /^\/2013-04-01\/(hostedzone|change)\/([^/]+)(\/rrset\/?)?$/.exec(path);
  if (!m) return undefined;
  const id = decodeURIComponent(m[2] as string);
  if (m[1] === "change")
    return method === "GET" && !m[3] ? { operation: "GetChange", id } : undefined;
  if (method === "GET" && !m[3]) return { operation: "GetHostedZone", id };
  if (method === "GET") return { operation: "ListResourceRecordSets", id };
  if (method === "POST" && m[3]) return { operation: "ChangeResourceRecordSets", id };
  return undefined;
}

/** The service in the SigV4 credential scope, before the full parse checks it. */
function scopeService(header: string | undefined): string | undefined {
  return /Credential=[^/\s,]+\/\d{8}\/[a-z0-9-]+\/([a-z0-9-]+)\/aws4_request/.exec(
    header ?? "",
  )?.[1];
}

/** SES v2 routes, as in the `http` traits of @aws-sdk/client-sesv2's schema. */
function sesRoute(method: string, path: string): SesRoute | undefined {
  if (method === "POST" && path === "/v2/email/identities")
    return { operation: "CreateEmailIdentity" };
  if (method === "POST" && path === "/v2/email/outbound-emails") return { operation: "SendEmail" };
  const m = /^\/v2\/email\/identities\/([^/]+)(\/dkim(\/signing)?)?$/.exec(path);
  if (!m) return undefined;
  const identity = decodeURIComponent(m[1] as string);
  if (method === "GET" && !m[2]) return { operation: "GetEmailIdentity", identity };
  if (method === "PUT" && m[3])
    return { operation: "PutEmailIdentityDkimSigningAttributes", identity };
  if (method === "PUT" && m[2]) return { operation: "PutEmailIdentityDkimAttributes", identity };
  return undefined;
}

export async function startAwsEmulator(options: AwsEmulatorOptions = {}): Promise<AwsEmulator> {
  const clock = options.clock ?? { now: () => new Date() };
  const s3 = new S3Backend(options.accountId ?? "123456789012");
  for (const b of options.s3Buckets ?? []) s3.createBucket(b);
  const receiving = new SesReceivingBackend(s3, options.accountId ?? "123456789012");
  const switches: SesSwitches = { ...options.sesSwitches };
  const ses = new SesBackend({
    switches,
    timings: { ...DEFAULT_DKIM_TIMINGS, ...options.dkim },
    ...(options.sesQuirks ? { quirks: options.sesQuirks } : {}),
    lookupTxt: options.lookupTxt ?? resolverLookup(options.dnsServers),
    retainSent: options.retainSentMessages ?? true,
    onMessage: async (event) => {
      // SES receiving stores what reaches a recipient its active rule set names.
      const drop = switches.dropInbound;
      const delivered = event.to.filter(
        (a) => !(typeof drop === "function" ? drop(a.toLowerCase()) : drop === true),
      );
      if (delivered.length) receiving.deliver(event.raw, delivered, event.sentAt);
      await options.onMessage?.(event);
    },
    ...(options.onEasyDkimKey ? { onEasyDkimKey: options.onEasyDkimKey } : {}),
    ...(options.onExternalKey ? { onExternalKey: options.onExternalKey } : {}),
  });
  const secrets = new SecretsBackend({
    accountId: options.accountId ?? "123456789012",
    allowForceDelete: options.allowForceDelete ?? false,
  });
  const cloudwatch = new CloudWatchBackend();
  const ssm = new SsmBackend();
  const kms = new KmsBackend({
    accountId: options.accountId ?? "123456789012",
    keys: options.kmsKeys ?? [{ alias: "alias/ses-dkim-rotation" }],
  });
  const accountId = options.accountId ?? "123456789012";
  const sns = new SnsBackend(accountId);
  const route53Hooks: Route53SyncHook[] = options.onRoute53Sync ? [options.onRoute53Sync] : [];
  const route53 = new Route53Backend({
    propagationMs: options.route53?.propagationMs ?? DEFAULT_ROUTE53_PROPAGATION_MS,
    insyncLeadMs: options.route53?.insyncLeadMs ?? 0,
    onSync: route53Hooks,
  });
  const route53Bucket = new TokenBucket(
    options.route53?.requestsPerSecond ?? 5,
    Math.max(1, Math.ceil(options.route53?.requestsPerSecond ?? 5)),
  );
  const callLog: CallRecord[] = [];
  /** SES requests other than SendEmail, counted as they arrive (the sandbox asks after every run). */
  let sesControlPlane = 0;
  /** Log a request as it arrives, over the wire or in process; its outcome is filled in later. */
  const logCall = (service: EmulatedService, operation: string, region: string): CallRecord => {
    const record: CallRecord = {
      service,
      operation,
      region,
      at: new Date(),
      simulatedAt: clock.now(),
      status: 200,
    };
    callLog.push(record);
    if (service === "ses" && operation !== "SendEmail") sesControlPlane++;
    return record;
  };
  // The call log lasts the whole run: a Region parsed from the Authorization
  // header is a slice that holds the whole header, so keep one copy per name.
  const regionNames = new Map<string, string>();
  const regionName = (region: string): string => {
    const known = regionNames.get(region);
    if (known !== undefined) return known;
    regionNames.set(region, region);
    return region;
  };
  let faultPlan: AwsEmulatorFaults | undefined;
  let decider: FaultDecider<AwsFaultKind> | undefined;
  let faultLog: FaultEvent[] = [];
  const setFaults = (plan: AwsEmulatorFaults | undefined) => {
    faultPlan = plan
      ? { ...validateFaultPlan(plan, AWS_FAULT_KINDS), kinds: [...plan.kinds] }
      : undefined;
    decider = faultPlan ? new FaultDecider(faultPlan) : undefined;
    faultLog = [];
  };
  setFaults(options.faults);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  let sesRate = options.sesRequestsPerSecond ?? 1;
  let sesBurst = options.sesBurst ?? Math.max(1, Math.ceil(sesRate));
  let buckets = new Map<string, TokenBucket>();
  const takeSesToken = (region: string): boolean => {
    let bucket = buckets.get(region);
    if (!bucket) {
      bucket = new TokenBucket(sesRate, sesBurst);
      buckets.set(region, bucket);
    }
    return bucket.tryTake();
  };

  // DNS checks await lookups; run one advance at a time so an identity is never checked twice concurrently.
  let chain: Promise<void> = Promise.resolve();
  const advance = (): Promise<void> => {
    const run = chain.then(async () => {
      const now = clock.now();
      await ses.processDue(now);
      secrets.processDue(now);
      s3.processDue(now);
      await route53.processDue(now);
    });
    chain = run.catch(() => {});
    return run;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const url = new URL(req.url ?? "/", "http://localhost");
    const target = req.headers["x-amz-target"];
    const method = req.method ?? "GET";
    let service: EmulatedService;
    let operation: string;
    let route: SesRoute | undefined;
    let r53Route: Route53Route | undefined;
    const signedFor = scopeService(req.headers.authorization);
    if (target === undefined && signedFor === "route53") {
      service = "route53";
      r53Route = route53Route(method, url.pathname);
      operation = r53Route?.operation ?? `${method} ${url.pathname}`;
    } else if (target === undefined && signedFor === "sns") {
      // SNS speaks the query protocol: the operation is the form's Action.
      service = "sns";
      operation = "(query)";
    } else if (typeof target === "string" && target.startsWith("secretsmanager.")) {
      service = "secretsmanager";
      operation = target.slice("secretsmanager.".length);
    } else if (typeof target === "string" && target.startsWith("AmazonSSM.")) {
      service = "ssm";
      operation = target.slice("AmazonSSM.".length);
    } else if (typeof target === "string" && target.startsWith("TrentService.")) {
      service = "kms";
      operation = target.slice("TrentService.".length);
    } else if (typeof target === "string" && target.startsWith("GraniteServiceVersion20100801.")) {
      service = "monitoring";
      operation = target.slice("GraniteServiceVersion20100801.".length);
    } else if (target === undefined && signedFor === "s3") {
      service = "s3";
      operation = `${method} (s3)`;
    } else if (
      target === undefined &&
      signedFor === "ses" &&
      method === "POST" &&
      url.pathname === "/" &&
      (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")
    ) {
      // SES v1 (receipt rules) speaks the query protocol; v2 is REST-JSON.
      service = "ses";
      operation = "(query)";
    } else if (
      target === undefined &&
      method === "POST" &&
      url.pathname === "/" &&
      (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")
    ) {
      // STS speaks the query protocol: the operation is the form's Action.
      service = "sts";
      operation = "(query)";
    } else {
      service = "ses";
      route = sesRoute(method, url.pathname);
      operation = route?.operation ?? `${method} ${url.pathname}`;
    }
    // The Region is read from the Authorization header below.
    const record = logCall(service, operation, "");

    /** An injected timeout after the work was done: the answer is lost, the connection reset. */
    let dropResponse = false;
    const resetConnection = () => {
      record.status = 0;
      record.errorCode = "(no response)";
      setTimeout(() => req.socket.destroy(), faultPlan?.timeoutHoldMs ?? 1000).unref();
    };
    const send = (
      status: number,
      payload: Record<string, unknown>,
      headers: Record<string, string> = {},
    ) => {
      if (dropResponse) return resetConnection();
      record.status = status;
      const contentType =
        service === "ses"
          ? "application/json"
          : service === "secretsmanager" || service === "kms" || service === "ssm"
            ? "application/x-amz-json-1.1"
            : "application/x-amz-json-1.0";
      res.writeHead(status, {
        "content-type": contentType,
        "x-amzn-requestid": requestId,
        ...headers,
      });
      res.end(JSON.stringify(payload));
    };
    const sendXml = (status: number, xml: string) => {
      if (dropResponse) return resetConnection();
      record.status = status;
      res.writeHead(status, { "content-type": "text/xml", "x-amzn-requestid": requestId });
      res.end(xml);
    };
    const sendError = (err: AwsApiError) => {
      record.errorCode = err.code;
      if (service === "s3") {
        // REST-XML without a wrapper: S3's <Error> document (no body for HEAD).
        if (dropResponse) return resetConnection();
        record.status = err.status;
        res.writeHead(err.status, {
          "content-type": "application/xml",
          "x-amz-request-id": requestId,
        });
        res.end(method === "HEAD" ? undefined : s3ErrorXml(err, requestId));
      } else if (operation === "(query)" && service === "ses") {
        sendXml(
          err.status,
          `<ErrorResponse xmlns="${SES_V1_XMLNS}"><Error><Type>${err.status >= 500 ? "Receiver" : "Sender"}</Type><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        );
      } else if (service === "sns" || service === "route53") {
        // awsQuery and REST-XML errors: an ErrorResponse; the SDK reads Error/Code.
        sendXml(
          err.status,
          `<?xml version="1.0"?>\n<ErrorResponse xmlns="${service === "sns" ? SNS_XMLNS : ROUTE53_XMLNS}"><Error><Type>${err.status >= 500 ? "Receiver" : "Sender"}</Type><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        );
      } else if (service === "sts") {
        // awsQuery errors: an XML ErrorResponse; the SDK reads Error/Code.
        sendXml(
          err.status,
          `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${err.status >= 500 ? "Receiver" : "Sender"}</Type><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
        );
      } else if (service === "ses") {
        // REST-JSON: the SDK reads the code from x-amzn-errortype.
        send(err.status, { message: err.message }, { "x-amzn-errortype": err.code });
      } else if (service === "secretsmanager" || service === "kms" || service === "ssm") {
        send(err.status, { __type: err.code, message: err.message });
      } else {
        const queryCode = err instanceof CloudWatchError ? err.queryCode : err.code;
        send(
          err.status,
          { __type: `com.amazonaws.cloudwatch#${err.code}`, message: err.message },
          { "x-amzn-query-error": `${queryCode};${err.status >= 500 ? "Receiver" : "Sender"}` },
        );
      }
    };

    try {
      // S3 bodies are opaque bytes (aws-chunked is S3's to decode), never gunzipped here.
      const body = service === "s3" ? await readRawBody(req) : await readBody(req);
      const scope = parseAuthorization(req.headers.authorization, service);
      record.region = regionName(scope.region);
      const region = scope.region;
      await advance();
      const now = clock.now();
      record.simulatedAt = now;

      const isControlPlane =
        service === "s3"
          ? false
          : service !== "ses" ||
            operation === "(query)" ||
            (route !== undefined && route.operation !== "SendEmail");
      if (decider && isControlPlane) {
        // The key names the request, not its arrival order (reproducible under concurrency).
        const key = `${service}/${operation}/${region}/${requestTarget(service, route, r53Route, body)}/${now.getTime()}`;
        const kind = decider.decide(key, REQUEST_FAULTS);
        if (kind) {
          record.fault = kind;
          const note = (detail: string) =>
            faultLog.push({
              kind,
              service,
              operation,
              region,
              detail,
              at: new Date(),
              simulatedAt: now,
            });
          if (kind === "throttle") {
            note("throttled");
            throw throttlingError(service);
          }
          if (kind === "server-error") {
            const err =
              decider.pick(key, [500, 503] as const) === 500
                ? internalError(service)
                : new AwsApiError(
                    "ServiceUnavailable",
                    "Service is unavailable; try again later",
                    503,
                  );
            note(`${err.status} ${err.code}`);
            throw err;
          }
          if (kind === "slow") {
            note(`answered after ${faultPlan?.slowMs ?? 250} ms`);
            await sleep(faultPlan?.slowMs ?? 250);
          }
          if (kind === "timeout") {
            if (decider.pick(key, ["before", "after"] as const) === "before") {
              note("connection held, then reset; the request was not processed");
              return resetConnection();
            }
            note("connection held, then reset after the work was done (response lost)");
            dropResponse = true;
          }
        }
      }

      if (service === "s3") {
        const headers: Record<string, string | string[] | undefined> = req.headers;
        const out = s3.handle({
          method,
          path: url.pathname,
          query: url.searchParams,
          headers,
          body,
          now,
          region,
        });
        record.operation = out.operation;
        if (dropResponse) return resetConnection();
        record.status = out.status;
        res.writeHead(out.status, { ...out.headers, "x-amz-request-id": requestId });
        res.end(out.body);
        return;
      }

      if (service === "ses" && operation === "(query)") {
        const form = new URLSearchParams(body.toString("utf8"));
        record.operation = form.get("Action") ?? "(none)";
        // SES v1 receipt-rule calls share the Region's control-plane limit (once per second).
        if (!takeSesToken(region))
          throw new AwsApiError("Throttling", "Maximum sending rate exceeded.", 400);
        return sendXml(200, receiving.handle(region, now, form, requestId));
      }

      if (service === "ses") {
        if (!route)
          throw new AwsApiError(
            "UnknownOperationException",
            `No SES v2 route for ${method} ${url.pathname}`,
            404,
          );
        // SES control-plane limit: 1 request/s per account per Region (SendEmail has its own sending quota).
        if (route.operation !== "SendEmail" && !takeSesToken(region)) {
          throw new AwsApiError("TooManyRequestsException", "Too Many Requests", 429);
        }
        const input = parseJson(body, "BadRequestException");
        const id = route.identity ?? "";
        switch (route.operation) {
          case "CreateEmailIdentity":
            return send(200, ses.createEmailIdentity(region, now, input));
          case "GetEmailIdentity":
            return send(200, ses.getEmailIdentity(region, id));
          case "PutEmailIdentityDkimSigningAttributes":
            return send(
              200,
              ses.putDkimSigningAttributes(region, id, now, input, (selector) => {
                const kind = decider?.decide(
                  `ses-status/${region}/${id}/${selector}/${now.getTime()}`,
                  STATUS_FAULTS,
                );
                if (!kind) return undefined;
                faultLog.push({
                  kind,
                  service,
                  operation,
                  region,
                  detail: `${id} ${selector}: ${kind === "dkim-failed" ? "FAILED at the first check" : "never verifies (PENDING, FAILED after 72 h)"}`,
                  at: new Date(),
                  simulatedAt: now,
                });
                return kind as DkimStatusFault;
              }),
            );
          case "PutEmailIdentityDkimAttributes":
            return send(200, ses.putDkimAttributes(region, id, now, input));
          case "SendEmail":
            return send(200, await ses.sendEmail(region, now, input));
        }
        throw new AwsApiError(
          "UnknownOperationException",
          `Operation ${route.operation} is not emulated`,
          404,
        );
      }

      if (service === "sns") {
        if (method !== "POST" || url.pathname !== "/")
          throw new AwsApiError("InvalidAction", "SNS query requests are POST /", 400);
        const form = new URLSearchParams(body.toString("utf8"));
        record.operation = form.get("Action") ?? "(none)";
        if (form.get("Action") !== "Publish" || form.get("Version") !== "2010-03-31")
          throw new AwsApiError(
            "InvalidAction",
            `Could not find operation ${form.get("Action")} for version ${form.get("Version")}`,
            400,
          );
        const messageId = sns.publish(region, now, form);
        return sendXml(
          200,
          `<PublishResponse xmlns="${SNS_XMLNS}"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`,
        );
      }

      if (service === "route53") {
        // Global service: the SDK signs every Route 53 call for us-east-1.
        if (region !== "us-east-1")
          throw new AwsApiError(
            "SignatureDoesNotMatch",
            `Credential should be scoped to a valid region, not '${region}'.`,
            403,
          );
        if (!r53Route)
          throw new AwsApiError(
            "InvalidInput",
            `No Route 53 operation is emulated for ${method} ${url.pathname}`,
            400,
          );
        // Route 53 API quota per account; throttled requests get 400 Throttling "Rate exceeded".
        if (!route53Bucket.tryTake()) throw new AwsApiError("Throttling", "Rate exceeded", 400);
        switch (r53Route.operation) {
          case "ChangeResourceRecordSets":
            return sendXml(
              200,
              route53.changeResourceRecordSets(r53Route.id, now, body.toString("utf8")),
            );
          case "GetChange":
            return sendXml(200, route53.getChange(r53Route.id));
          case "GetHostedZone":
            return sendXml(200, route53.getHostedZone(r53Route.id));
          case "ListResourceRecordSets":
            return sendXml(200, route53.listResourceRecordSets(r53Route.id, url.searchParams));
        }
        throw new AwsApiError("InvalidInput", `Operation ${operation} is not emulated`, 400);
      }

      if (service === "sts") {
        const form = new URLSearchParams(body.toString("utf8"));
        record.operation = form.get("Action") ?? "(none)";
        if (form.get("Action") !== "GetCallerIdentity" || form.get("Version") !== "2011-06-15")
          throw new AwsApiError(
            "InvalidAction",
            `Could not find operation ${form.get("Action")} for version ${form.get("Version")}`,
            400,
          );
        const me = options.caller ?? {
          arn: `arn:aws:sts::${options.accountId ?? "123456789012"}:assumed-role/ses-dkim-rotation-planner/emulator`,
          account: options.accountId ?? "123456789012",
        };
        return sendXml(
          200,
          `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${xmlEscape(me.arn)}</Arn><UserId>AROAEMULATOR0000000:emulator</UserId><Account>${me.account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
        );
      }
      if (method !== "POST" || url.pathname !== "/") {
        throw new AwsApiError("UnknownOperationException", "JSON RPC requests are POST /", 404);
      }
      if (service === "secretsmanager") {
        const input = parseJson(body, "SerializationException");
        const ops: Record<
          string,
          (r: string, n: Date, b: Record<string, unknown>) => Record<string, unknown>
        > = {
          CreateSecret: (r, n, b) => secrets.createSecret(r, n, b),
          DescribeSecret: (r, n, b) => secrets.describeSecret(r, n, b),
          ListSecrets: (r, n, b) => secrets.listSecrets(r, n, b),
          GetSecretValue: (r, n, b) => secrets.getSecretValue(r, n, b),
          PutSecretValue: (r, n, b) => secrets.putSecretValue(r, n, b),
          UpdateSecret: (r, n, b) => secrets.updateSecret(r, n, b),
          TagResource: (r, n, b) => secrets.tagResource(r, n, b),
          UntagResource: (r, n, b) => secrets.untagResource(r, n, b),
          DeleteSecret: (r, n, b) => secrets.deleteSecret(r, n, b),
          RestoreSecret: (r, n, b) => secrets.restoreSecret(r, n, b),
        };
        const op = ops[operation];
        if (!op)
          throw new AwsApiError(
            "UnknownOperationException",
            `Operation ${operation} is not emulated`,
            400,
          );
        return send(200, op(region, now, input));
      }
      if (service === "ssm") {
        const input = parseJson(body, "SerializationException");
        if (operation === "GetParameter") return send(200, ssm.getParameter(region, input));
        if (operation === "PutParameter") return send(200, ssm.putParameter(region, now, input));
        throw new AwsApiError(
          "UnknownOperationException",
          `Operation ${operation} is not emulated`,
          400,
        );
      }
      if (service === "kms") {
        const input = parseJson(body, "SerializationException");
        switch (operation) {
          case "GenerateDataKeyPairWithoutPlaintext":
            return send(200, await kms.generateDataKeyPairWithoutPlaintext(region, now, input));
          case "Decrypt":
            return send(200, kms.decrypt(region, now, input));
          case "DescribeKey":
            return send(200, kms.describeKey(region, now, input));
          case "GetKeyRotationStatus":
            return send(200, kms.getKeyRotationStatus(region, input));
        }
        throw new AwsApiError(
          "UnknownOperationException",
          `Operation ${operation} is not emulated`,
          400,
        );
      }
      const input = parseJson(body, "SerializationException");
      if (operation !== "PutMetricData") {
        throw new AwsApiError(
          "UnknownOperationException",
          `Operation ${operation} is not emulated`,
          400,
        );
      }
      return send(200, cloudwatch.putMetricData(region, now, input));
    } catch (err) {
      if (err instanceof AwsApiError) return sendError(err);
      const message = err instanceof Error ? err.message : String(err);
      sendError(
        new AwsApiError(
          service === "ses" ? "InternalFailure" : "InternalServiceError",
          message,
          500,
        ),
      );
    }
  }

  /** The name a request acts on: SES identity, secret, topic, hosted zone or change, or nothing (CloudWatch). */
  function requestTarget(
    service: EmulatedService,
    route: SesRoute | undefined,
    r53Route: Route53Route | undefined,
    body: Buffer,
  ): string {
    if (route) return route.identity ?? "";
    if (service === "route53") return r53Route?.id ?? "";
    if (service === "sns") return new URLSearchParams(body.toString("utf8")).get("TopicArn") ?? "";
    try {
      const parsed: unknown = JSON.parse(body.toString("utf8"));
      if (isRecord(parsed)) {
        const name = parsed.SecretId ?? parsed.Name ?? parsed.KeyId;
        if (typeof name === "string") return name;
      }
    } catch {
      // Not JSON: the handler reports that; the fault key just has no target.
    }
    return "";
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;

  const matches = (c: CallRecord, f: CallFilter = {}) =>
    (!f.service || c.service === f.service) &&
    (!f.operation || c.operation === f.operation) &&
    (!f.region || c.region === f.region) &&
    (!f.errorCode || c.errorCode === f.errorCode) &&
    (!f.outcome || (f.outcome === "ok") === (c.status >= 200 && c.status < 300));

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    // Once: a world closes what its owner may already have closed.
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      })),
    advance,
    tick: advance,
    setSesRateLimit(requestsPerSecond, burst) {
      sesRate = requestsPerSecond;
      sesBurst = burst ?? Math.max(1, Math.ceil(requestsPerSecond));
      buckets = new Map();
    },
    calls: (filter) => callLog.filter((c) => matches(c, filter)).map((c) => ({ ...c })),
    callCount: (filter) => callLog.filter((c) => matches(c, filter)).length,
    sesControlPlaneCalls: () => sesControlPlane,
    ses: {
      sendEmail: async (region, input) => {
        const record = logCall("ses", "SendEmail", regionName(region));
        try {
          await advance();
          const now = clock.now();
          record.simulatedAt = now;
          // The request as the SDK serializes it: the raw message base64 in JSON.
          const body = {
            ...input,
            Content: { Raw: { Data: Buffer.from(input.Content.Raw.Data).toString("base64") } },
          };
          return (await ses.sendEmail(region, now, body)) as { MessageId: string };
        } catch (err) {
          if (err instanceof AwsApiError) {
            record.status = err.status;
            record.errorCode = err.code;
          }
          throw err;
        }
      },
      identities: (region) => ses.views(region),
      identity: (region, name) => ses.view(region, name),
      sent: () => {
        if (options.retainSentMessages === false)
          throw new Error(
            "ses.sent(): this emulator does not keep sent messages (retainSentMessages: false)",
          );
        return [...ses.sent];
      },
      easyDkimPublicKey: (region, name) => ses.easyDkimPublicKey(region, name),
      setSwitches: (next) => {
        for (const k of Object.keys(switches) as (keyof SesSwitches)[]) delete switches[k];
        Object.assign(switches, next);
      },
      activeRuleSet: (region) => receiving.activeRuleSet(region),
      received: () => receiving.received.map((r) => ({ ...r })),
      receive: (raw, recipients, at) => receiving.deliver(raw, recipients, at),
      ruleArn: (region, set, rule) => receiving.ruleArn(region, set, rule),
    },
    s3: {
      createBucket: (spec) => s3.createBucket(spec),
      setPolicy: (bucket, policy) => s3.setPolicy(bucket, policy),
      putObject: (bucket, key, body, opts = {}) =>
        s3.putObject(bucket, key, body, { ...opts, now: clock.now() }),
      getObject: (bucket, key) => s3.getObject(bucket, key),
      deleteObject: (bucket, key) => s3.deleteObject(bucket, key),
      objects: (bucket, prefix) => s3.objects(bucket, prefix),
    },
    secrets: {
      list: (region) => secrets.views(region),
      get: (region, name) => secrets.view(region, name),
    },
    kms: {
      keys: (region) => kms.views(region),
      createKey: (region, spec) => kms.createKey(region, spec, clock.now()),
      setEnabled: (region, id, enabled) => kms.setEnabled(region, id, enabled),
    },
    createTopic: (name, region = "us-east-1") => sns.createTopic(name, region),
    published: () =>
      sns.published.map((m) => ({ ...m, messageAttributes: { ...m.messageAttributes } })),
    createHostedZone: (name) => route53.createHostedZone(name, clock.now()),
    route53Records: (zoneId) => route53.records(zoneId.replace(/^\/hostedzone\//, "")),
    route53Changes: () => route53.changeViews(),
    onRoute53Sync(hook) {
      route53Hooks.push(hook);
      return () => {
        const at = route53Hooks.indexOf(hook);
        if (at >= 0) route53Hooks.splice(at, 1);
      };
    },
    faults: {
      set: setFaults,
      counts: () => decider?.counts() ?? {},
      log: () => faultLog.map((f) => ({ ...f })),
    },
    metrics: {
      datapoints: (f = {}) =>
        cloudwatch.datapoints.filter(
          (d) =>
            (!f.namespace || d.namespace === f.namespace) &&
            (!f.metricName || d.metricName === f.metricName) &&
            (!f.region || d.region === f.region),
        ),
    },
  };
}

/**
 * What each service answers when it throttles: SES v2 models
 * TooManyRequestsException (429); Secrets Manager and CloudWatch answer the
 * generic ThrottlingException / Throttling (400). All are in the SDK's
 * throttling list, so they are retried with the throttling backoff.
 */
function throttlingError(service: EmulatedService): AwsApiError {
  if (service === "ses")
    return new AwsApiError("TooManyRequestsException", "Too Many Requests", 429);
  if (service === "sns") return new AwsApiError("Throttled", "Rate exceeded", 429);
  if (service === "secretsmanager" || service === "kms")
    return new AwsApiError("ThrottlingException", "Rate exceeded", 400);
  return new AwsApiError("Throttling", "Rate exceeded", 400);
}

function internalError(service: EmulatedService): AwsApiError {
  if (service === "kms")
    return new AwsApiError("KMSInternalException", "An internal error occurred.", 500);
  if (service === "sns") return new AwsApiError("InternalError", "Internal Error", 500);
  if (service === "route53")
    return new AwsApiError("InternalFailure", "An internal error occurred.", 500);
  return service === "ses"
    ? new AwsApiError(
        "InternalFailure",
        "The request processing has failed because of an unknown error.",
        500,
      )
    : new AwsApiError("InternalServiceError", "An error occurred on the server side.", 500);
}
