/**
 * Client-side pacing for SES control-plane calls.
 *
 * SES limits every control-plane action to 1 request per second per account
 * per Region, and the limit cannot be raised (SES v2 quotas). A fleet of
 * identities must therefore queue its calls rather than lean on retries:
 * throttled calls still count, so retry storms make everyone slower. The SDK's
 * `retryMode: "adaptive"` (see `awsClientConfig`) stays as the safety net for
 * throttles we could not foresee (another job using the same account).
 *
 * Each key is paced independently; callers reserve start slots in arrival
 * order, so concurrent callers are served first come, first served.
 *
 * Where the slot is taken matters: pacing when a call *starts* is not enough,
 * because the first call of a process spends a variable time resolving
 * credentials (an STS round trip under OIDC) while later ones do not, and the
 * requests then reach AWS bunched together. The SES adapter therefore takes
 * the slot inside the SDK's middleware stack, right before each attempt is
 * signed and sent (`installPacer` in ses.ts); retries are paced too, since
 * AWS counts throttled attempts against the same limit.
 */
import { requestsPerSecondProblem, SES_REQUESTS_PER_SECOND } from "../engine/values";

export interface RegionPacerOptions {
  /** Requests per second per key (AWS: 1 for SES, not raisable). */
  requestsPerSecond?: number;
  /**
   * Extra spacing on top of `1000 / requestsPerSecond`, so network jitter
   * never lands two of our requests inside one second at AWS. Default: 5% of
   * the interval.
   */
  marginMs?: number;
  /** Milliseconds on a monotonic clock. Tests inject a fake. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** The pacing key: SES's limit is per account and Region. */
export function pacerKey(region: string, account = "default"): string {
  return `${account}/${region}`;
}

export class RegionPacer {
  readonly intervalMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Earliest start time of the next call, per key. */
  private readonly nextSlot = new Map<string, number>();

  constructor(options: RegionPacerOptions = {}) {
    const rate = options.requestsPerSecond ?? SES_REQUESTS_PER_SECOND;
    // The range check without the endpoint rule (adapters do not know the endpoint);
    // front ends report the full rule as bad input before building adapters.
    const problem = requestsPerSecondProblem(rate, { endpoint: "(any)" });
    if (problem) throw new RangeError(`requestsPerSecond ${problem}`);
    const base = 1000 / rate;
    this.intervalMs = base + (options.marginMs ?? base * 0.05);
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Wait for this key's next slot: no sooner than one interval after the
   * previous slot. The slot is reserved synchronously, before any await,
   * which is what makes the queue fair.
   */
  async acquire(key: string): Promise<void> {
    const now = this.now();
    const slot = Math.max(now, this.nextSlot.get(key) ?? now);
    this.nextSlot.set(key, slot + this.intervalMs);
    const wait = slot - now;
    if (wait > 0) await this.sleep(wait);
  }

  /** Run `call` in this key's next slot. */
  async run<T>(key: string, call: () => Promise<T>): Promise<T> {
    await this.acquire(key);
    return call();
  }
}

/** Run one call through a pacer (convenience for adapters holding an optional pacer). */
export function paced<T>(
  pacer: RegionPacer | undefined,
  key: string,
  call: () => Promise<T>,
): Promise<T> {
  return pacer ? pacer.run(key, call) : call();
}
