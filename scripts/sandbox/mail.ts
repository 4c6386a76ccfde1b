/**
 * The mail stream: each domain sends through SES (the emulator signs with the
 * key it holds), and each message is verified at send time against the DNS
 * a receiver sees then (its resolver caching answers for their TTL), with
 * mailauth on a worker thread.
 *
 * Messages go out every 6 hours per domain, every 10 minutes within 3 days of
 * an expected swap (`dense`), so a break in signing shows in the figures.
 */
import { randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import {
  DAY_MS,
  HOUR_MS,
  MINUTE_MS,
  type SimClock,
} from "../../actions/dkim-rotation/src/engine/clock";
import type { ProjectConfig } from "../../actions/dkim-rotation/src/engine/config";
import { queryTxt } from "../../actions/dkim-rotation/src/adapters/dns";
import { pooledResolverFactory } from "../dns-channels";
import type { AwsEmulator, SentMessage } from "./aws-emulator";
import type { VerifyRequest, VerifyResponse } from "./mail-verifier";
import type { ReceiverVerify, Receivers } from "./receivers";

/** Mail is sent densely (every 10 min) within this much of an expected swap. */
export const DENSE_WINDOW_MS = 3 * DAY_MS;

export type TxtAnswer = string[][] | "ENOTFOUND" | "ENODATA";

export interface MailStreamOptions {
  config: ProjectConfig;
  emulator: () => AwsEmulator;
  credentials: { accessKeyId: string; secretAccessKey: string };
  clock: SimClock;
  /** The receiver's resolver asks this server. */
  resolverAddress: string;
  /** Where each message goes, named by sequence, domain, Region and verdict. */
  mailDir: string;
  /** The zone serial a message records in a header (what DNS said when it left). */
  zoneSerial: (domain: string) => number;
  /** Inside the dense window around an expected swap. */
  dense: (domain: string, at: number) => boolean;
  /** Receiver populations (receivers.ts): each message reaches them too. */
  receivers?: Receivers;
}

export class MailStream {
  readonly stats = { messages: 0, verified: 0, unsigned: 0, failed: 0 };
  readonly unsignedLog: { domain: string; region: string; at: number }[] = [];
  readonly failures: string[] = [];
  /**
   * Messages SES handed to onMessage that `send` has not yet picked up: only
   * the newest are kept (a two-year run sends ~10,000; each held its bytes
   * to the end). `sentBefore` counts those already dropped.
   */
  private sent: SentMessage[] = [];
  private sentBefore = 0;
  private sending = 0;
  private readonly nextAt = new Map<string, number>();
  private readonly regionTurn = new Map<string, number>();
  private readonly clients = new Map<string, SESv2Client>();
  private readonly txtCache = new Map<string, { until: number; answer: TxtAnswer }>();
  /** Verdicts not yet settled; each leaves the set when it settles, so settle() waits only for these. */
  private readonly verdicts = new Set<Promise<void>>();
  private readonly verifier = new MailVerifierPool();
  private closed = false;

  constructor(private readonly opts: MailStreamOptions) {}

  /** The emulator's onMessage hook: every message as it leaves SES. */
  readonly onMessage = (e: SentMessage) => {
    this.sent.push(e);
  };

  /** First message of each domain at `at`. */
  start(at: number): void {
    for (const identity of this.opts.config.identities) this.nextAt.set(identity.domain, at);
  }

  /** The next message due: its domain and time. */
  next(): { domain: string; at: number } | undefined {
    let best: { domain: string; at: number } | undefined;
    for (const [domain, at] of this.nextAt) if (!best || at < best.at) best = { domain, at };
    return best;
  }

  client(region: string): SESv2Client {
    let c = this.clients.get(region);
    if (!c) {
      c = new SESv2Client({
        region,
        endpoint: this.opts.emulator().url,
        credentials: this.opts.credentials,
        maxAttempts: 5,
      });
      this.clients.set(region, c);
    }
    return c;
  }

  /** Send the due message of `domain` and schedule its next one. */
  async send(domain: string, at: number): Promise<void> {
    const { stats } = this;
    const identity = this.opts.config.identities.find((i) => i.domain === domain)!;
    const turn = this.regionTurn.get(domain) ?? 0;
    this.regionTurn.set(domain, turn + 1);
    const region = identity.regions[turn % identity.regions.length]!;
    const date = new Date(at);
    const raw = [
      `From: Notifications <notify@${domain}>`,
      `To: customer@inbox.example`,
      `Subject: Your order update ${stats.messages + 1}`,
      `Date: ${date.toUTCString()}`,
      `Message-ID: <${randomUUID()}@${domain}>`,
      `MIME-Version: 1.0`,
      `Content-Type: text/plain; charset=utf-8`,
      `X-Sandbox-Zone-Serial: ${this.opts.zoneSerial(domain)}`,
      ``,
      `Hello from ${domain} via SES ${region} at ${date.toISOString()}.`,
      ``,
    ].join("\r\n");
    const before = this.sentBefore + this.sent.length;
    this.sending++;
    try {
      // In process (docs/design.md#sandbox-mail-in-process): the product's own SES calls keep the SDK and the wire.
      await this.opts.emulator().ses.sendEmail(region, {
        FromEmailAddress: `notify@${domain}`,
        Destination: { ToAddresses: ["customer@inbox.example"] },
        Content: { Raw: { Data: Buffer.from(raw) } },
      });
    } finally {
      this.sending--;
    }
    const sent = this.sent[before - this.sentBefore]!;
    // A later send reads only what arrives after it starts: with none in flight, drop all.
    if (!this.sending) {
      this.sentBefore += this.sent.length;
      this.sent = [];
    }
    stats.messages++;
    const seq = stats.messages;
    // DNS as the receiver sees it now; the signature check itself runs on the worker.
    const answers: Record<string, TxtAnswer> = {};
    // Only the domain's own keys: SES's amazonses.com signature is not ours to judge.
    const names = signatureKeyNames(sent.raw).filter((n) => n.endsWith(`._domainkey.${domain}`));
    for (const name of names) answers[name] = await this.resolve(name);
    const verdict = this.verifier.verify({ raw: sent.raw, domain, answers, curTime: at });
    if (this.opts.receivers)
      this.track(this.opts.receivers.receive(sent.raw, domain, names, at, { answers, verdict }));
    this.track(
      verdict.then(async (res) => {
        if (res.verdict === "pass") stats.verified++;
        else if (res.verdict === "unsigned") {
          stats.unsigned++;
          this.unsignedLog.push({ domain, region, at });
        } else {
          stats.failed++;
          this.failures.push(
            `${date.toISOString()} ${domain} ${region} s=${sent.selector}: ${res.detail}`,
          );
        }
        const name = `${String(seq).padStart(6, "0")}-${domain}-${region}-${res.verdict}.eml`;
        // Written off the event loop (libuv's pool); close() waits for every write.
        await writeFile(join(this.opts.mailDir, name), sent.raw);
      }),
    );
    this.nextAt.set(domain, at + (this.opts.dense(domain, at) ? 10 * MINUTE_MS : 6 * HOUR_MS));
  }

  /**
   * Keep `p` until it settles. The tracked copy still rejects unhandled, as
   * each verdict did when the stream kept them all to the end.
   */
  private track(p: Promise<void>): void {
    const tracked = p.finally(() => this.verdicts.delete(tracked));
    this.verdicts.add(tracked);
  }

  private resolve(name: string): Promise<TxtAnswer> {
    return resolveCached(this.txtCache, this.opts.resolverAddress, name, this.opts.clock.t);
  }

  /** A receiver population's own check of a message against the DNS it saw. */
  readonly verifyFor: ReceiverVerify = (raw, domain, answers, at) =>
    this.verifier.verify({ raw, domain, answers, curTime: at });

  /**
   * Hand the messages waiting for verification to the worker now: it then
   * verifies them while this thread runs a workflow, instead of while the
   * next `settle` waits for it.
   */
  handOff(): void {
    this.verifier.flush();
  }

  /** Every verdict so far (the receivers' daily reports count them). */
  async settle(): Promise<void> {
    // Verdicts wait in the worker's batch until it fills; waiting for them needs the batch sent.
    this.verifier.flush();
    await Promise.all([...this.verdicts]);
  }

  /** Wait for every verdict, then stop the worker and the clients. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.verifier.flush();
    await Promise.all([...this.verdicts]);
    await this.verifier.close();
    for (const c of this.clients.values()) c.destroy();
  }
}

export type TxtCache = Map<string, { until: number; answer: TxtAnswer }>;

/** The mail stream's and the receivers' lookups share a channel per server. */
const receiverResolvers = pooledResolverFactory();

/** A recipient's resolver caches answers for their TTL (3600 s in these zones). */
export async function resolveCached(
  cache: TxtCache,
  resolverAddress: string,
  name: string,
  now: number,
): Promise<TxtAnswer> {
  const key = name.toLowerCase();
  const hit = cache.get(key);
  if (hit && hit.until > now) return hit.answer;
  const got = await queryTxt(resolverAddress, name, {
    timeout: 500,
    tries: 2,
    createResolver: receiverResolvers,
  });
  const answer: TxtAnswer = got === "NXDOMAIN" ? "ENOTFOUND" : got === "NODATA" ? "ENODATA" : got;
  // RFC 2308: negative answers are cached for the SOA minimum (300 s here).
  cache.set(key, { until: now + (typeof answer === "string" ? 5 * MINUTE_MS : HOUR_MS), answer });
  return answer;
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

/** Messages per postMessage to the verifier (the DNS answers travel with each). */
const VERIFY_BATCH = 64;

/** One worker thread running mailauth, so verification uses the second core. */
class MailVerifierPool {
  private readonly worker: Worker;
  private readonly waiting = new Map<
    number,
    { resolve: (r: VerifyResponse) => void; reject: (e: Error) => void }
  >();
  private next = 0;
  private queue: VerifyRequest[] = [];
  private broken?: Error;
  constructor() {
    // Workers do not inherit tsx's loader hooks on Node 20: register them first.
    // A 16 MB young generation: the worker's heap stays ~38 MB instead of
    // V8's default ~54 MB, for ~20 % more of its own GC time, off the main
    // thread (docs/benchmarks.md, "Peak memory").
    const entry = new URL("./mail-verifier.ts", import.meta.url).href;
    this.worker = new Worker(
      `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`,
      { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 16 } },
    );
    this.worker.on("message", (batch: VerifyResponse[]) => {
      for (const r of batch) {
        this.waiting.get(r.id)?.resolve(r);
        this.waiting.delete(r.id);
      }
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
    // The message's own bytes, moved to the worker: a Buffer is often a view of
    // a larger pooled ArrayBuffer, which postMessage would otherwise copy whole.
    const raw = new Uint8Array(req.raw);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.queue.push({ ...req, raw, id });
      if (this.queue.length >= VERIFY_BATCH) this.flush();
    });
  }
  /**
   * Hand the queued messages to the worker in one postMessage: each post was
   * a measurable cost on the main thread.
   */
  flush(): void {
    if (!this.queue.length) return;
    const batch = this.queue;
    this.queue = [];
    this.worker.postMessage(
      batch,
      batch.map((r) => r.raw.buffer as ArrayBuffer),
    );
  }
  async close(): Promise<void> {
    this.broken = new Error("mail verifier closed");
    await this.worker.terminate();
  }
}
