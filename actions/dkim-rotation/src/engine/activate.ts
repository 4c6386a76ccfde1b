/**
 * `activate` and `rollback --to`: the activator role's guarded swap
 * (docs/design.md#invariant-1-no-swap-without-dns). It refuses unless the record is on
 * main, the key is stored, every authoritative nameserver serves it and a real
 * signature verifies against each server's answer; on failure it goes back to
 * the lifecycle's rollback target (rollback.ts).
 */
import { MINUTE_MS } from "./clock";
import { RefusalError } from "./errors";
import { fromSesPrivateKey } from "./keys";
import { probeSignature } from "./probe";
import { checkSwap, describeRollback, type Lifecycle } from "./lifecycle";
import { unjudgedWhy, withTargets } from "./easy-dkim";
import { rollbackSelector } from "./planner";
import { recordFolderOf, recordPath } from "./record";
import type { IdentityConfig } from "./config";
import { type EngineContext, findIdentity, readKey, withLock } from "./engine-context";
import { readLifecycle, summarizeDns } from "./snapshot";
import {
  ActivationFailedError,
  type SwapReport,
  type TimelineEvent,
  pollUntilSettled,
  putKey,
} from "./swap";
import { rollBack } from "./rollback";
import type { DnsVerification } from "./ports";
import { sendOnce } from "./notify";
import { type CanaryVerdict, canaryRegions, proofOf, runCanaries } from "./canary";

/**
 * What must hold before a swap to `selector`, read without any private key:
 * its record is on main, its key is stored and not scheduled for deletion,
 * and the lifecycle allows the swap. `refuse` throws.
 */
async function swapPreconditions(
  ctx: EngineContext,
  identity: IdentityConfig,
  selector: string,
  mode: "activate" | "rollback",
  refuse: (why: string) => never,
) {
  const domain = identity.domain;
  const { records, keys, lc } = await readLifecycle(ctx, identity);
  const record = records.find((r) => r.selector === selector);
  if (!record)
    return refuse(
      `${recordPath(domain, selector, recordFolderOf(ctx.config))} is not on main (the DNS team has not approved it)`,
    );
  const key = keys.find((k) => k.selector === selector);
  if (!key) return refuse(`no stored key for ${selector}`);
  if (key.deletionDate)
    refuse(`key ${selector} is scheduled for deletion on ${key.deletionDate.toISOString()}`);
  // docs/design.md#key-origins: a planted or moved key is never handed to SES.
  if (key.refused) refuse(`${key.secretName} failed the custody check: ${key.refused}`);
  const check = checkSwap(lc, selector, mode);
  if (!check.ok) return refuse(check.why);
  return { record, key, keys, lc, check: check.value };
}

/**
 * `rollback-check`: whether a rollback to `selector` could run, decided
 * before its gated job is queued (docs/design.md#github-rollback-validation).
 * The same preconditions as the swap, then the record on main checked on
 * every authoritative nameserver; no private key is read, so the planner role
 * can run it. Throws a RefusalError (one line) when the rollback cannot run.
 */
export async function checkRollback(
  ctx: EngineContext,
  domain: string,
  selector: string,
): Promise<string> {
  return (await rollbackReadiness(ctx, domain, selector)).message;
}

/**
 * checkRollback's findings: what a rollback request
 * (docs/design.md#approval-request-flow) shows its approvers.
 */
export async function rollbackReadiness(
  ctx: EngineContext,
  domain: string,
  selector: string,
): Promise<{ message: string; lc: Lifecycle; dns: DnsVerification; publicKey: string }> {
  const identity = findIdentity(ctx.config, domain);
  const refuse = (why: string): never => {
    throw new RefusalError(domain, `rollback ${selector} refused: ${why}`);
  };
  const { record, lc, check } = await swapPreconditions(
    ctx,
    identity,
    selector,
    "rollback",
    refuse,
  );
  if (!check.pendingRegions.length && lc.allSuccess)
    refuse(`SES already signs with ${selector} in every Region; nothing to roll back`);
  const dns = await ctx.dns.verify(domain, selector, record.publicKey, identity.nameservers);
  if (!dns.ok) refuse(`${record.path} is not served: ${summarizeDns(dns)}`);
  return {
    message: `${domain}: a rollback to ${selector} can run: record on main and served (${summarizeDns(dns)}), key stored; ${describeRollback(check.rollback)}`,
    lc,
    dns,
    publicKey: record.publicKey,
  };
}

/**
 * `activate`: swap SES to `selector` in every Region, only if at this moment
 * every authoritative nameserver serves the key derived from the *stored*
 * private key (invariant 1); poll until SUCCESS; roll back on failure to the
 * lifecycle's rollback target: the previous BYODKIM key, or Easy DKIM.
 */
export async function runActivate(
  ctx: EngineContext,
  domain: string,
  selector: string,
  opts: { dryRun?: boolean; mode?: "activate" | "rollback" } = {},
): Promise<SwapReport> {
  const identity = findIdentity(ctx.config, domain);
  const mode = opts.mode ?? "activate";
  return withLock(ctx, domain, mode, async () => {
    const timeline: TimelineEvent[] = [];
    const event = (step: TimelineEvent["step"], detail: string, ok = true) => {
      timeline.push({ at: ctx.clock.now(), step, detail, ok });
      (ok ? ctx.log.info : ctx.log.warn)(`${domain}: ${step}: ${detail}`);
    };
    const refuse = (why: string): never => {
      event("precondition", why, false);
      throw new RefusalError(domain, `${mode} ${selector} refused: ${why}`);
    };

    const { record, key, keys, lc, check } = await swapPreconditions(
      ctx,
      identity,
      selector,
      mode,
      refuse,
    );
    const { pendingRegions, rollback, from, leaving } = check;
    const previousSelector = rollbackSelector(rollback);
    event(
      "precondition",
      `record on main, key stored, SES on ${from}; ${describeRollback(rollback)}`,
    );

    if (pendingRegions.length === 0 && lc.allSuccess) {
      // Recorded active before SES verified it (a second try with no way
      // back): SES has verified it since, so prove it now
      // (docs/design.md#unproven-activation).
      const unproven = mode === "activate" && key.state === "active" && key.proof === "unverified";
      let canary: CanaryVerdict[] | undefined;
      if ((key.state !== "active" || unproven) && mode === "activate" && ctx.config.canary) {
        // A run swapped every Region and died before the canary proved it:
        // "activated" is recorded only after a canary, so prove it now.
        const secret = await readKey(ctx, identity, key);
        const proof = await prove(secret, identity.regions);
        if (!proof.ok) return failed(secret, proof);
        canary = proof.verdicts;
      }
      const proven = proofOf(ctx);
      if (key.state !== "active") {
        // A run swapped every Region and died before recording it. SES's
        // LastSuccessTimestamp moves on every re-check, so it cannot date the
        // activation: the time we first see it settled is the honest bound.
        await ctx.keys.markState(domain, selector, "active", ctx.clock.now());
        event("record", `recorded activation of ${selector}`);
      } else if (unproven) {
        await ctx.keys.markProof(domain, selector, proven);
        event(
          "record",
          `${selector}, recorded active before SES verified it, is now proven (${proven === "canary" ? "SES SUCCESS and the canary" : "SES SUCCESS; no canary configured"})`,
        );
      }
      // A run that recorded the activation and died before its message sends it now.
      if (mode === "activate")
        await sendOnce(ctx, key, {
          event: "activated",
          kind: "activated",
          identity,
          selector,
          detail: `SES signs with ${selector} in ${identity.regions.join(", ")}`,
        });
      return {
        domain,
        selector,
        previousSelector,
        rollback,
        outcome: "already-active",
        timeline,
        ...(canary ? { canary } : {}),
        message: unproven
          ? `${domain}: SES signs with ${selector} in every Region, verified after its activation was recorded; proven now (${proven})`
          : `${domain}: SES already signs with ${selector} in every Region; nothing to do`,
      };
    }

    const secret = await readKey(ctx, identity, key);
    const derived = fromSesPrivateKey(secret);
    if (derived.publicKey !== record.publicKey) {
      refuse(
        `${record.path} does not carry the public key of the stored private key (stored ${derived.fingerprint.slice(0, 19)}…)`,
      );
    }
    if (pendingRegions.length) {
      // Invariant 1: checked now, against the key derived from the stored private key.
      const dns = await ctx.dns.verify(domain, selector, derived.publicKey, identity.nameservers);
      for (const s of dns.servers)
        event(
          "dns",
          `${s.server}: ${s.status}${s.status === "ok" ? "" : ` (${s.detail})`}`,
          s.status === "ok",
        );
      if (!dns.ok) refuse(`DNS not verified: ${summarizeDns(dns)}`);
      // Invariant 1: a real signature, verified against each server's own answer.
      const probe = await probeSignature(domain, selector, secret, dns.servers, ctx.clock.now());
      for (const p of probe.results)
        event(
          "probe",
          `${p.server}: ${p.result}${p.detail ? ` (${p.detail})` : ""}`,
          p.result === "pass",
        );
      if (!probe.ok)
        refuse(
          `probe signature does not verify: ${probe.results
            .filter((p) => p.result !== "pass")
            .map((p) => `${p.server}: DKIM ${p.result}${p.detail ? ` (${p.detail})` : ""}`)
            .join("; ")}`,
        );
      if (rollback.kind === "easy-dkim" && rollback.cnames?.length) {
        // Invariant 2: the way back to Easy DKIM exists only while its CNAMEs
        // resolve on every authoritative server, to the target SES gave
        // (docs/design.md#ses-signing-hosted-zone).
        const known = withTargets(rollback.cnames);
        if (!known) {
          // No zone assumed: SES's own Easy DKIM SUCCESS (which made this the
          // way back) is then the only evidence, and the timeline says so.
          event(
            "dns",
            `the Easy DKIM CNAMEs (the way back) were not checked: ${unjudgedWhy(rollback.cnames)}; SES's own Easy DKIM status is the only evidence they are served`,
            false,
          );
        } else {
          const cn = await ctx.dns.verifyEasyDkim(domain, known, identity.nameservers);
          if (!cn.ok)
            refuse(
              `the Easy DKIM CNAMEs (the way back) are not served everywhere: ${summarizeDns(cn)}`,
            );
          event("dns", `Easy DKIM CNAMEs served everywhere (the way back)`);
        }
      }
    } else {
      event("dns", "every Region already carries the key; polling only");
    }
    if (opts.dryRun) {
      return {
        domain,
        selector,
        previousSelector,
        rollback,
        outcome: "dry-run",
        timeline,
        message: `${domain}: would swap ${pendingRegions.join(", ")} to ${selector}; ${describeRollback(rollback)}`,
      };
    }

    const swapStart = ctx.clock.now();
    let canary: CanaryVerdict[] | undefined;
    const put = await putKey(ctx, domain, pendingRegions, selector, secret, (region, status) =>
      event("swap", `${region}: now ${selector} (SES ${status ?? "?"})`),
    );
    let polled = await pollUntilSettled(ctx, identity, selector, event, keys, put);
    if (polled.ok && mode === "activate" && ctx.config.canary) {
      // docs/design.md#canary: SES SUCCESS is upstream of the mail; a signed
      // message received is the proof, and failing it is a failed activation.
      const proof = await prove(secret, [...put.keys()]);
      canary = proof.verdicts;
      if (!proof.ok) polled = { ok: false, why: proof.why };
    }
    if (polled.ok) {
      // A rollback restores an older key: keep its first activation time, so
      // its age (and the next rotation date) stays true.
      const at = mode === "rollback" && key.activatedAt ? key.activatedAt : ctx.clock.now();
      // An `unverified` key proven by this activation says so; a rollback
      // proves nothing (no canary), so its tag stays.
      const proof = mode === "activate" && key.proof === "unverified" ? proofOf(ctx) : undefined;
      await ctx.keys.markState(domain, selector, "active", at, proof);
      event("record", `activation of ${selector} recorded`);
      if (mode === "rollback" && leaving && keys.some((k) => k.selector === leaving)) {
        // The key we left is abandoned: never offered for activation again,
        // retired after the grace period like any old selector.
        await ctx.keys.markState(domain, leaving, "retired", ctx.clock.now());
        event("record", `${leaving} marked retired (rolled back from)`);
      }
      const pendingMinutes = Math.round(
        (polled.successAt!.getTime() - swapStart.getTime()) / MINUTE_MS,
      );
      const message = `${domain}: SES signs with ${selector} in ${identity.regions.join(", ")} (pending ${pendingMinutes} min)`;
      const left = mode === "rollback" ? keys.find((k) => k.selector === leaving) : undefined;
      if (mode === "activate" || left)
        await sendOnce(ctx, left ?? key, {
          event: mode === "activate" ? "activated" : "rolled-back",
          kind: mode === "activate" ? "activated" : "rolled-back",
          identity,
          selector: left?.selector ?? selector,
          detail:
            mode === "activate"
              ? message.slice(domain.length + 2)
              : `an operator rolled back to ${selector}: ${message.slice(domain.length + 2)}`,
        });
      return {
        domain,
        selector,
        previousSelector,
        rollback,
        outcome: "activated",
        timeline,
        ...(canary ? { canary } : {}),
        pendingMinutes,
        message,
      };
    }
    return failed(secret, { why: polled.why!, ...(canary ? { verdicts: canary } : {}) });

    /** Canaries in `regions` (those the stack file names); a failure says which check. */
    async function prove(secret: string, regions: readonly string[]) {
      const { ok, verdicts } = await runCanaries(
        ctx,
        identity,
        selector,
        fromSesPrivateKey(secret).publicKey,
        canaryRegions(ctx.config.canary!, regions),
        (v) => event("canary", v.line, v.ok),
      );
      return { ok, verdicts, why: verdicts.find((v) => !v.ok)?.line ?? "" };
    }

    /** The verdict of a canary not sent because SES did not reach SUCCESS. */
    function notRun(region: string, why: string): CanaryVerdict {
      const v: CanaryVerdict = {
        region,
        ok: false,
        check: "ses",
        line: `canary ${region} not run (ses): SES did not reach SUCCESS with ${selector}, so no message could prove it (${why})`,
      };
      event("canary", v.line, false);
      return v;
    }

    /** Invariant 2 after SES FAILED, a timeout or a failed canary: roll back, alert, throw. */
    async function failed(
      secret: string,
      f: { why: string; verdicts?: CanaryVerdict[] },
    ): Promise<SwapReport> {
      const after = await rollBack(
        ctx,
        identity,
        selector,
        secret,
        rollback,
        f.why,
        timeline,
        event,
        keys,
      );
      const proving = mode === "activate" && !!ctx.config.canary;
      // SES never reached SUCCESS: no canary could prove anything; each Region
      // swapped still gets its verdict line, saying why none was sent.
      const verdicts =
        f.verdicts ??
        (proving
          ? canaryRegions(ctx.config.canary!, [...put.keys()]).map((region) =>
              notRun(region, f.why),
            )
          : []);
      if (verdicts.length) after.canary = verdicts;
      if (after.outcome === "activated" && proving) {
        // Easy DKIM gave no way back and SES verified the candidate on a
        // second try: it is "activated" only if its canary passes now.
        const again = await prove(secret, identity.regions);
        after.canary = [...verdicts, ...again.verdicts];
        if (!again.ok) {
          after.outcome = "failed";
          after.message = `${domain}: ${selector} failed its canary after SES's second try (${f.why}; then ${again.why}) and Easy DKIM is no way back; SES stays set to ${selector}: find why SES does not sign with the published key`;
        }
      }
      // Easy DKIM gave no way back and the second try verified: activated after all.
      if (after.outcome === "activated") return after;
      const kind = after.outcome === "rolled-back" ? "rolled-back" : "activation-failed";
      await sendOnce(ctx, key, {
        event: kind,
        kind,
        identity,
        selector,
        detail: after.message,
      }).catch((err: Error) =>
        ctx.log.warn(`${domain}: rolled-back message not sent: ${err.message}`),
      );
      throw new ActivationFailedError(after);
    }
  });
}

/** `rollback --to`: the same guarded swap, to an older selector that is still published. */
export function runRollback(
  ctx: EngineContext,
  domain: string,
  to: string,
  opts: { dryRun?: boolean } = {},
) {
  return runActivate(ctx, domain, to, { ...opts, mode: "rollback" });
}
