/**
 * Proof in production (docs/design.md#canary): after SES reports SUCCESS in
 * a Region, send a message through the identity there, fetch the raw copy
 * SES receiving stored in S3, and verify the signature whose d= is the
 * identity and s= the new selector against each authoritative nameserver's
 * answer. SES's receipt `dkimVerdict` is not used: SES also signs as
 * amazonses.com, so it can pass without our signature.
 *
 * The canary carries a random token, never key material; its S3 object is
 * deleted once read, and the bucket's lifecycle expires anything left.
 */
import { randomUUID } from "node:crypto";
import { MINUTE_MS } from "./clock";
import { CANARY_HEADER, type CanaryConfig } from "./canary-config";
import type { IdentityConfig } from "./config";
import type { EngineContext } from "./engine-context";
import type { KeyProof } from "./key-store-schema";
import type { CanaryPort } from "./ports";
import { verifyAgainstServers } from "./probe";
import { summarizeDns } from "./snapshot";

/** `ses`: not run at all, because SES did not reach SUCCESS with the key (a verdict that proves nothing). */
export type CanaryCheck =
  "send" | "arrival" | "dns" | "signature-missing" | "selector" | "signature" | "ses";

export interface CanaryVerdict {
  region: string;
  ok: boolean;
  /** The check that failed (undefined when ok). */
  check?: CanaryCheck;
  /** One line: what was proven, or which check failed. */
  line: string;
}

/**
 * What proves an activation of this stack: the canary where a `canary` block
 * is configured, else SES's own SUCCESS (docs/design.md#unproven-activation).
 */
export function proofOf(ctx: Pick<EngineContext, "config">): Exclude<KeyProof, "unverified"> {
  return ctx.config.canary ? "canary" : "ses";
}

/** Sending Regions of `identity` the canary proves (among `swapped`). */
export function canaryRegions(canary: CanaryConfig, swapped: readonly string[]): string[] {
  return swapped.filter((r) => !canary.regions || canary.regions.includes(r));
}

const POLL_MS = 15_000;

/**
 * Prove `selector` in each of `regions` with one canary each; any failure
 * fails the whole activation (the caller rolls every Region back). Never
 * throws for a failed check; an adapter error that is not about the canary
 * propagates.
 */
export async function runCanaries(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  publicKey: string,
  regions: readonly string[],
  note: (v: CanaryVerdict) => void,
): Promise<{ ok: boolean; verdicts: CanaryVerdict[] }> {
  const canary = ctx.config.canary;
  const port = ctx.canary;
  if (!canary || !port) return { ok: true, verdicts: [] };
  const verdicts: CanaryVerdict[] = [];
  for (const region of regions) {
    const v = await oneCanary(ctx, canary, identity, selector, publicKey, region);
    verdicts.push(v);
    note(v);
  }
  // Every Region gets its verdict (the report names each); one failure fails the activation.
  return { ok: verdicts.every((v) => v.ok), verdicts };
}

async function oneCanary(
  ctx: EngineContext,
  canary: CanaryConfig,
  identity: IdentityConfig,
  selector: string,
  publicKey: string,
  region: string,
): Promise<CanaryVerdict> {
  const port = ctx.canary!;
  const domain = identity.domain;
  const fail = (check: CanaryCheck, why: string): CanaryVerdict => ({
    region,
    ok: false,
    check,
    line: `canary ${region} failed (${check}): ${why}`,
  });
  const token = randomUUID();
  const started = ctx.clock.now();
  try {
    await port.send(region, {
      from: `${canary.localPart}@${domain}`,
      to: canary.address,
      subject: `DKIM canary ${domain} s=${selector} ${region} ${token}`,
      headers: { [CANARY_HEADER]: token },
      text: `This message proves that SES in ${region} signs mail from ${domain} with selector ${selector}. It carries a random token and no key material.`,
    });
  } catch (err) {
    return fail(
      "send",
      `SES SendEmail from ${canary.localPart}@${domain} was refused: ${(err as Error).message}`,
    );
  }
  // Poll on the engine's clock (simulated in the sandbox and tests) until the
  // window ends: a transient S3 error or a nameserver's momentary wrong answer
  // is another try, not a verdict; the last failure is the verdict at the end.
  // A signature that fails while every server serves the key is final at once.
  const deadline = started.getTime() + canary.windowMinutes * MINUTE_MS;
  const seen = new Set<string>();
  const marker = `${CANARY_HEADER}: ${token}`;
  let found: { key: string; raw: Buffer } | undefined;
  let last: CanaryVerdict = fail(
    "arrival",
    `no message with ${CANARY_HEADER} ${token.slice(0, 8)}… reached s3://${canary.bucket}/${canary.prefix} within ${canary.windowMinutes} min of sending to ${canary.address}`,
  );
  const arrivalMiss = last;
  try {
    for (;;) {
      try {
        if (!found) found = await lookFor(port, canary, seen, marker);
        if (found) {
          last = await check(found.raw);
          // The message's own signature does not change: only a DNS answer is worth another try.
          if (!last.ok && last.check !== "dns") return last;
          if (last.ok) {
            const waited = Math.round((ctx.clock.now().getTime() - started.getTime()) / 1000);
            return {
              ...last,
              line: `${last.line}; received after ${waited} s, s3://${canary.bucket}/${found.key} deleted`,
            };
          }
        }
      } catch (err) {
        // An S3 or DNS error is retried while the window lasts; named if it is the last word.
        last = found
          ? fail("dns", `the check of the received message failed: ${(err as Error).message}`)
          : {
              ...arrivalMiss,
              line: `${arrivalMiss.line} (last S3 error: ${(err as Error).message})`,
            };
      }
      const left = deadline - ctx.clock.now().getTime();
      if (left <= 0) return last;
      await ctx.clock.sleep(Math.min(POLL_MS, left));
    }
  } finally {
    if (found) await port.remove(canary.bucket, found.key);
  }

  /** The received message checked against every authoritative nameserver's answer now. */
  async function check(raw: Buffer): Promise<CanaryVerdict> {
    // Verified against each authoritative server's answer, as the probe is (one derivation).
    const dns = await ctx.dns.verify(domain, selector, publicKey, identity.nameservers);
    if (!dns.ok) return fail("dns", `the record is not served everywhere: ${summarizeDns(dns)}`);
    const results = await verifyAgainstServers(raw, domain, selector, dns.servers, ctx.clock.now());
    const others = [...new Set(results.flatMap((r) => r.domainSelectors))];
    if (!others.length)
      return fail(
        "signature-missing",
        `the message SES sent carries no DKIM-Signature with d=${domain}`,
      );
    if (!others.includes(selector))
      return fail(
        "selector",
        `the message SES sent is signed d=${domain} with s=${others.join(", s=")}, not s=${selector}`,
      );
    const bad = results.filter((r) => r.result !== "pass");
    if (bad.length)
      return fail(
        "signature",
        `d=${domain} s=${selector} does not verify: ${bad.map((r) => `${r.server}: ${r.result}${r.detail ? ` (${r.detail})` : ""}`).join("; ")}`,
      );
    return {
      region,
      ok: true,
      line: `canary ${region}: pass: SES signed d=${domain} s=${selector}; verified against ${results.map((r) => `${r.server} (${r.result})`).join(", ")}`,
    };
  }
}

/** The canary with `marker` among the keys not seen yet, if it has arrived. */
async function lookFor(
  port: CanaryPort,
  canary: CanaryConfig,
  seen: Set<string>,
  marker: string,
): Promise<{ key: string; raw: Buffer } | undefined> {
  for (const key of await port.list(canary.bucket, canary.prefix)) {
    if (seen.has(key)) continue;
    const raw = await port.get(canary.bucket, key);
    // Marked seen only once read: a failed read is tried again on the next poll.
    seen.add(key);
    if (raw && headerBlock(raw).includes(marker)) return { key, raw };
  }
  return undefined;
}

/** The header block of a raw message (up to the first empty line), unfolded enough to find one header. */
function headerBlock(raw: Buffer): string {
  const text = raw.subarray(0, 64 * 1024).toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}
