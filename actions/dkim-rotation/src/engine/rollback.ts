/**
 * The way back after a failed activation (invariant 2): to the previous
 * BYODKIM key, or to Easy DKIM while its CNAMEs are served, with one second
 * try of the candidate when Easy DKIM turns out to be no way back.
 */
import { MINUTE_MS } from "./clock";
import type { IdentityConfig } from "./config";
import { type RollbackTarget, regionSigning } from "./lifecycle";
import { rollbackSelector } from "./planner";
import type { StoredKey } from "./ports";
import { type EngineContext, readKey } from "./engine-context";
import { RefusalError } from "./errors";
import { readSes } from "./snapshot";
import {
  type EasyDkimCname,
  easyDkimCnames,
  renderEasyDkimCnames,
  unjudgedWhy,
  withTargets,
} from "./easy-dkim";
import { EASY_DKIM, type SwapReport, type TimelineEvent, pollUntilSettled, putKey } from "./swap";

/** Invariant 2: take every Region back to the rollback target after a failed activation. */
export async function rollBack(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  secret: string,
  rollback: RollbackTarget,
  why: string,
  timeline: TimelineEvent[],
  event: (step: TimelineEvent["step"], detail: string, ok?: boolean) => void,
  keys: StoredKey[],
): Promise<SwapReport> {
  const domain = identity.domain;
  const report = (
    r: Pick<SwapReport, "outcome" | "message"> & Partial<SwapReport>,
  ): SwapReport => ({
    domain,
    selector,
    rollback,
    timeline,
    ...r,
  });
  if (rollback.kind === "none")
    return report({
      outcome: "failed",
      message: `${domain}: ${selector} did not verify (${why}) and there is no way back: ${rollback.why}`,
    });
  let back: { ok: boolean; why?: string };
  let to: string;
  if (rollback.kind === "byodkim") {
    to = rollback.selector;
    event("rollback", `${why}; rolling back to ${to}`, false);
    const prevKey = keys.find((k) => k.selector === to);
    if (!prevKey) throw new RefusalError(domain, `no stored key for ${to}; cannot roll back`);
    const prevSecret = await readKey(ctx, identity, prevKey);
    const away = (await readSes(ctx, identity))
      .filter((s) => regionSigning(s, keys).kind !== "byodkim" || s.tokens[0] !== to)
      .map((s) => s.region);
    const put = await putKey(ctx, domain, away, to, prevSecret, (region) =>
      event("rollback", `${region}: back on ${to}`),
    );
    back = await pollUntilSettled(ctx, identity, to, event, keys, put);
  } else {
    to = "Easy DKIM";
    event("rollback", `${why}; returning to Easy DKIM (AWS_SES) in every Region`, false);
    const answered = new Map<string, string[]>();
    for (const region of identity.regions) {
      answered.set(region, (await ctx.ses.useEasyDkim(region, domain)).tokens);
      event("rollback", `${region}: back on Easy DKIM`);
    }
    // The API reference does not say whether a switch back to AWS_SES keeps
    // the identity's tokens (docs/design.md, "ses-easy-dkim-switch-back"):
    // the PUT answers with them (DkimTokens). Tokens whose CNAMEs no server
    // serves mean Easy DKIM cannot sign.
    const given = [...answered.values()].flat();
    const served = new Set((rollback.cnames ?? []).map((c) => c.token));
    let noWayBack: string | undefined;
    let cnames: EasyDkimCname[] = [];
    if (!given.length || given.some((t) => !served.has(t))) {
      // New tokens (or an answer without them): SES's own view gives each
      // Region's tokens and SigningHostedZone, the CNAME target
      // (docs/design.md#ses-signing-hosted-zone).
      cnames = (await readSes(ctx, identity)).flatMap((s) =>
        easyDkimCnames(
          domain,
          s.region,
          answered.get(s.region)?.length ? answered.get(s.region)! : s.tokens,
          s.signingHostedZone,
        ),
      );
      const known = withTargets(cnames);
      if (!cnames.length) noWayBack = "SES gave it no tokens";
      else if (!known)
        noWayBack = `SES gave it new tokens whose CNAMEs cannot be checked (${unjudgedWhy(cnames)})`;
      else if (!(await ctx.dns.verifyEasyDkim(domain, known, identity.nameservers)).ok)
        noWayBack = "SES gave it new tokens whose CNAMEs are not published";
    }
    if (noWayBack) {
      const tokens = cnames.map((c) => c.token);
      const retry = await retryCandidate(ctx, identity, selector, secret, tokens, event, keys);
      if (retry.ok) {
        return report({
          outcome: "activated",
          pendingMinutes: retry.pendingMinutes,
          message: `${domain}: SES signs with ${selector} in ${identity.regions.join(", ")} on a second try (the first did not verify: ${why}; Easy DKIM was no way back: ${noWayBack})`,
        });
      }
      return report({
        outcome: "failed",
        message: `${domain}: ${selector} did not verify twice (${why}; then ${retry.why}) and Easy DKIM is no way back: ${noWayBack} (${renderEasyDkimCnames(cnames)}); publish those CNAMEs or find why SES does not verify ${selector}`,
      });
    }
    back = await pollUntilSettled(ctx, identity, EASY_DKIM, event, keys, new Map());
  }
  // The failed key is not offered again (it would fail again until someone
  // fixes what SES saw); the planner rotates to a fresh key instead.
  await ctx.keys.markState(domain, selector, "retired", ctx.clock.now());
  event("record", `${selector} marked retired after the failed activation`, false);
  return report({
    previousSelector: rollbackSelector(rollback),
    outcome: "rolled-back",
    message: `${domain}: activation of ${selector} failed (${why}); rolled back to ${to}${back.ok ? " (SES SUCCESS)" : ` but SES has not confirmed it yet (${back.why})`}`,
  });
}

/**
 * Put the candidate back in every Region when going back to Easy DKIM turned
 * out to be no way back: its record is on every server (checked before the
 * first swap, with a real signature), so a second SES check is the best
 * chance of signed mail.
 */
export async function retryCandidate(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  secret: string,
  tokens: string[],
  event: (step: TimelineEvent["step"], detail: string, ok?: boolean) => void,
  keys: StoredKey[],
): Promise<{ ok: boolean; why?: string; pendingMinutes?: number }> {
  const domain = identity.domain;
  event(
    "rollback",
    `Easy DKIM is no way back: SES gave tokens (${tokens.join(", ") || "none"}) whose CNAMEs are not known to be served; trying ${selector} once more`,
    false,
  );
  const start = ctx.clock.now();
  const put = await putKey(ctx, domain, identity.regions, selector, secret, (region, status) =>
    event("swap", `${region}: ${selector} again (SES ${status ?? "?"})`),
  );
  const again = await pollUntilSettled(ctx, identity, selector, event, keys, put);
  // Recorded active either way. If SES did not verify it, nothing better
  // exists: SES stays set to the candidate, whose record every server serves;
  // as the active key it is not offered for activation again (each offer would
  // cycle Easy DKIM's tokens and ask the approvers anew), and every plan
  // raises ses-failed until SES verifies it. Tagged `unverified`, so the
  // first activate after SES SUCCESS proves it (docs/design.md#unproven-activation).
  await ctx.keys.markState(
    domain,
    selector,
    "active",
    ctx.clock.now(),
    again.ok ? undefined : "unverified",
  );
  if (!again.ok) {
    event(
      "record",
      `${selector} recorded as what SES is set to (not verified by SES; the first activate after SES SUCCESS proves it)`,
      false,
    );
    return { ok: false, why: again.why! };
  }
  event("record", `activation of ${selector} recorded (second try)`);
  return {
    ok: true,
    pendingMinutes: Math.round((again.successAt!.getTime() - start.getTime()) / MINUTE_MS),
  };
}
