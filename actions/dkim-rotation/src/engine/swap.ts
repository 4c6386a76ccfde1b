/**
 * The two moves of every swap, shared by activation and rollback: import a
 * key in some Regions, then poll SES until each has settled on it. The
 * reports they build up are here too.
 */
import type { CanaryVerdict } from "./canary";
import { MINUTE_MS } from "./clock";
import type { IdentityConfig } from "./config";
import { type RollbackTarget, regionSigning } from "./lifecycle";
import type { SesDkimStatus, StoredKey } from "./ports";
import type { EngineContext } from "./engine-context";
import { readSes } from "./snapshot";

export interface TimelineEvent {
  at: Date;
  step:
    | "lock"
    | "precondition"
    | "dns"
    | "probe"
    | "swap"
    | "poll"
    | "canary"
    | "rollback"
    | "record"
    | "retire";
  detail: string;
  ok: boolean;
}

export interface SwapReport {
  domain: string;
  selector: string;
  /** The BYODKIM selector a failure goes (or went) back to, when that is the way back. */
  previousSelector?: string;
  /** Where a failure goes (or went) back to: said plainly in every summary (invariant 2). */
  rollback: RollbackTarget;
  outcome: "activated" | "already-active" | "rolled-back" | "failed" | "dry-run";
  timeline: TimelineEvent[];
  /** Each Region's canary verdict (docs/design.md#canary); absent when production proof is off. */
  canary?: CanaryVerdict[];
  /** Minutes from the first swap until SES reported SUCCESS everywhere. */
  pendingMinutes?: number;
  message: string;
}

export class ActivationFailedError extends Error {
  constructor(readonly report: SwapReport) {
    super(report.message);
    this.name = "ActivationFailedError";
  }
}

/** Import `selector`'s key in each of `regions`; the map says what this run put where. */
export async function putKey(
  ctx: EngineContext,
  domain: string,
  regions: readonly string[],
  selector: string,
  secret: string,
  done: (region: string, status: SesDkimStatus | undefined) => void,
): Promise<Map<string, string>> {
  const put = new Map<string, string>();
  for (const region of regions) {
    const r = await ctx.ses.putExternalKey(region, domain, selector, secret);
    put.set(region, selector);
    done(region, r.status);
  }
  return put;
}

/** The poll target meaning "Easy DKIM in every Region". */
export const EASY_DKIM = "\0easy-dkim";

/**
 * Poll SES until every Region has reached SUCCESS on `selector` since the
 * swap. A Region that reached SUCCESS and then shows TEMPORARY_FAILURE (SES
 * re-checks, and such spells are documented) has verified the key: that is
 * not a reason to roll back. Empty `Tokens` right after our own PUT mean the
 * selector we put (the developer guide's BYODKIM example shows `"Tokens": []`).
 */
export async function pollUntilSettled(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  event: (step: TimelineEvent["step"], detail: string, ok?: boolean) => void,
  keys: StoredKey[],
  put: ReadonlyMap<string, string>,
): Promise<{ ok: boolean; why?: string; successAt?: Date }> {
  const { pollIntervalMs, timeoutMs } = ctx.activation ?? {
    pollIntervalMs: 30_000,
    timeoutMs: 30 * MINUTE_MS,
  };
  const deadline = ctx.clock.now().getTime() + timeoutMs;
  const verified = new Set<string>();
  let polls = 0;
  for (;;) {
    const states = await readSes(ctx, identity);
    polls++;
    const summary = states.map((s) => `${s.region}: ${s.status}`).join(", ");
    for (const s of states) {
      const on = regionSigning(s, keys, put.get(s.region));
      const label =
        on.kind === "byodkim" ? on.selector : on.kind === "easy-dkim" ? EASY_DKIM : undefined;
      if (label !== selector)
        return {
          ok: false,
          why: `${s.region} now signs with ${on.kind === "byodkim" ? on.selector : on.kind === "easy-dkim" ? "Easy DKIM" : "no known BYODKIM key"}`,
        };
      if (s.status === "SUCCESS") verified.add(s.region);
    }
    if (states.every((s) => verified.has(s.region))) {
      event("poll", `poll ${polls}: ${summary}`);
      return { ok: true, successAt: ctx.clock.now() };
    }
    const failed = states.find((s) => s.status === "FAILED");
    if (failed) {
      event("poll", `poll ${polls}: ${summary}`, false);
      return {
        ok: false,
        why: `SES FAILED in ${failed.region} (${failed.errorType ?? "no error type"})`,
      };
    }
    if (ctx.clock.now().getTime() >= deadline) {
      event("poll", `poll ${polls}: ${summary}`, false);
      return {
        ok: false,
        why: `SES not SUCCESS after ${Math.round(timeoutMs / MINUTE_MS)} min (${summary})`,
      };
    }
    if (polls === 1 || polls % 10 === 0) event("poll", `poll ${polls}: ${summary}`);
    await ctx.clock.sleep(pollIntervalMs);
  }
}
