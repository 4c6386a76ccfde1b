/**
 * `retire`: remove an old selector's record and schedule its key for deletion
 * after the grace period; never the selector SES signs with (invariant 3).
 * With an automatic publisher, this gated job (activator role, approved by a
 * reviewer) is also the one that deletes the record from DNS: no job a
 * schedule runs holds a role that may (docs/design.md#publishers).
 */
import { isoDate } from "./clock";
import { publisherOf } from "./config";
import { RefusalError } from "./errors";
import { checkRetirement } from "./lifecycle";
import { recordFolderOf, recordPath } from "./record";
import { type EngineContext, findIdentity, withLock } from "./engine-context";
import { readLifecycle } from "./snapshot";
import { proposeRemovalFor } from "./plan";
import { sendOnce } from "./notify";

export interface RetireReport {
  domain: string;
  selector: string;
  steps: {
    step: "remove-record" | "remove-dns" | "delete-key";
    acted: boolean;
    detail: string;
  }[];
  message: string;
}

/**
 * `retire`: remove an old selector's record and schedule its key for deletion,
 * once the active key has signed with SES SUCCESS for graceDays. Refuses to
 * touch the selector SES signs with (invariant 3).
 */
export async function runRetire(
  ctx: EngineContext,
  domain: string,
  selector: string,
  opts: { dryRun?: boolean } = {},
): Promise<RetireReport> {
  const identity = findIdentity(ctx.config, domain);
  return withLock(ctx, domain, "retire", async () => {
    const { lc } = await readLifecycle(ctx, identity);
    const check = checkRetirement(lc, selector);
    if (!check.ok) throw new RefusalError(domain, `retire ${selector} refused: ${check.why}`);
    const activeSelector = check.value.activeSelector;
    const entry = lc.history.find((h) => h.selector === selector)!;
    const { key, record } = entry;

    const steps: RetireReport["steps"] = [];
    if (record) {
      if (opts.dryRun)
        steps.push({
          step: "remove-record",
          acted: false,
          detail: `would propose removing ${record.path}`,
        });
      else {
        const pr = await proposeRemovalFor(ctx, domain, selector, activeSelector);
        steps.push({
          step: "remove-record",
          acted: pr.created,
          detail: `${pr.created ? "proposed" : "already proposed"} removing ${record.path}${pr.number ? ` (#${pr.number})` : ""}`,
        });
      }
    } else {
      steps.push({
        step: "remove-record",
        acted: false,
        detail: `${recordPath(domain, selector, recordFolderOf(ctx.config))} is already gone from main`,
      });
    }
    // The record leaves DNS only once its removal is merged on main (the DNS
    // reviewers' approval), and before the key is deleted: a failed removal
    // leaves the key, so the next gated retire job tries again.
    const publisher = publisherOf(identity) === "manual" ? undefined : ctx.publisherFor?.(identity);
    if (publisher) {
      if (record)
        steps.push({
          step: "remove-dns",
          acted: false,
          detail: `${selector} stays in DNS until the removal of ${record.path} is merged`,
        });
      else if (opts.dryRun)
        steps.push({
          step: "remove-dns",
          acted: false,
          detail: `would remove ${selector}._domainkey.${domain} by ${publisher.kind}`,
        });
      else {
        const removed = await publisher.remove({ domain, selector });
        if (removed.acted) ctx.log.info(`${domain}: removed ${selector} by ${publisher.kind}`);
        steps.push({
          step: "remove-dns",
          acted: removed.acted,
          detail: `${removed.acted ? `removed ${selector} by ${publisher.kind}: ` : ""}${removed.detail}`,
        });
      }
    }
    if (!key)
      steps.push({ step: "delete-key", acted: false, detail: `no stored key for ${selector}` });
    else if (publisher && record && !key.deletionDate)
      steps.push({
        step: "delete-key",
        acted: false,
        detail: `waits for the removal of ${record.path} to merge, so the job that deletes the key also removes the record from DNS`,
      });
    else if (key.deletionDate)
      steps.push({
        step: "delete-key",
        acted: false,
        detail: `already scheduled for deletion on ${isoDate(key.deletionDate)}`,
      });
    else if (opts.dryRun)
      steps.push({
        step: "delete-key",
        acted: false,
        detail: `would schedule deletion with a ${ctx.config.deletionRecoveryDays}-day recovery window`,
      });
    else {
      await ctx.keys.markState(domain, selector, "retired", ctx.clock.now());
      // Before the deletion: a secret scheduled for deletion takes no more tags.
      await sendOnce(ctx, key, {
        event: "retired",
        kind: "retired",
        identity,
        selector,
        detail: `record removed from main; key deletion scheduled with a ${ctx.config.deletionRecoveryDays}-day recovery window; ${activeSelector} stays active`,
      });
      const when = await ctx.keys.scheduleDeletion(
        domain,
        selector,
        ctx.config.deletionRecoveryDays,
      );
      steps.push({
        step: "delete-key",
        acted: true,
        detail: `deletion scheduled for ${isoDate(when)} (recoverable until then)`,
      });
    }
    return {
      domain,
      selector,
      steps,
      message: `${domain}: ${steps.map((s) => s.detail).join("; ")}`,
    };
  });
}
