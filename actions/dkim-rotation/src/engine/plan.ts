/**
 * `plan`: the planner role's command. It decides for every identity and, with
 * `apply`, generates and stores a key, proposes its record and proposes the
 * removal of an old one. It never swaps SES keys. Each step acts or says why
 * not, so a re-run after a crash converges
 * (docs/design.md#invariant-5-idempotent-and-crash-safe).
 */
import { isoDate } from "./clock";
import type { IdentityConfig } from "./config";
import { InputError } from "./errors";
import { localKeyWarning, storeNewKey } from "./custody";
import { publicKeyFingerprint } from "./keys";
import {
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_PENDING_PUBLICATION_DAYS,
} from "./metrics";
import { rotationDates, type RollbackTarget } from "./lifecycle";
import { type Decision, rollbackSelector, takenSelectors } from "./planner";
import type { MetricsPort, ProposedChange, RecordChange, StoredKey } from "./ports";
import { dkimRecordValue, recordFolderOf, recordPath, renderRecordFile } from "./record";
import { nextSelector } from "./selector";
import type { EngineContext, RotationInfo } from "./engine-context";
import { type IdentitySnapshot, type SesReads, snapshotForPlan } from "./snapshot";
import { followUp } from "./follow-up";
import { limiter } from "./map-limit";
import { sendOnce } from "./notify";

export interface PlanOutcome {
  domain: string;
  decision: Decision;
  /** What this run did (or would do with --apply), in words. */
  action: string;
  selector?: string;
  pullRequest?: ProposedChange;
  error?: string;
}

/**
 * What the CLI's proposal did, when it wrote a file rather than a PR: the
 * action opens PRs; the CLI only changes its working tree, and nothing is on
 * main until someone commits the change and a PR merges. Undefined for a PR.
 */
function workingTreeText(
  pr: ProposedChange,
  what: "record" | "retirement",
  why?: string,
): string | undefined {
  if (!pr.file) return undefined;
  const done =
    what === "record"
      ? `${pr.created ? "wrote" : "left unchanged"} ${pr.file} in the working tree`
      : `${pr.created ? "removed" : "already removed"} ${pr.file} from the working tree`;
  return `${done}${why ? `; ${why}` : ""} (no PR: commit it and open a PR for DNS review; the GitHub Action opens PRs)`;
}

/**
 * `plan`: decide for every identity and, with `apply`, carry out the steps the
 * planner role may take: generate + store a key, propose its record, propose
 * retirement of an old record. It never swaps SES keys.
 */
export async function runPlan(
  ctx: EngineContext,
  opts: { apply: boolean; domains?: string[]; recordsPerPr?: number },
): Promise<{ snapshots: IdentitySnapshot[]; outcomes: PlanOutcome[]; sesReads: SesReads }> {
  // SES only where a decision needs it, plus the drift sweep's share
  // (docs/design.md#plan-ses-reads); the skipped are never acted on.
  const { snapshots, assumed, reads: sesReads } = await snapshotForPlan(ctx, opts.domains);
  for (const snap of snapshots) {
    const warning = localKeyWarning(snap.identity);
    if (warning) ctx.log.warn(warning);
  }
  const outcomes: PlanOutcome[] = [];
  // Keys KEY_CONCURRENCY at a time, ahead of the record PRs, which go out
  // one by one in the fleet's order, paced for GitHub: KMS works while GitHub
  // paces (docs/design.md#bulk-onboarding).
  const stored = opts.apply
    ? storeDueKeys(ctx, snapshots)
    : new Map<string, Promise<StoreResult>>();
  // records-per-pr > 1: new records wait for one grouped proposal after the
  // loop (docs/design.md#bulk-onboarding); 1 keeps one PR per record.
  const perPr = opts.recordsPerPr ?? ctx.config.github?.recordsPerPr ?? 1;
  const grouped: PendingRecord[] | undefined =
    opts.apply && perPr > 1 && ctx.changes.proposeRecords ? [] : undefined;
  let index = 0;
  for (const snap of snapshots) {
    index++;
    const d = snap.decision;
    try {
      const pending =
        grouped && (d.kind === "rotate" || d.kind === "await-approval")
          ? await pendingRecord(ctx, snap, await stored.get(d.domain))
          : undefined;
      if (pending) grouped!.push(pending);
      outcomes.push(
        pending?.outcome ??
          (await applyDecision(ctx, snap, opts.apply, await stored.get(d.domain))),
      );
    } catch (err) {
      if (err instanceof InputError) throw err;
      outcomes.push({
        domain: d.domain,
        decision: d,
        action: "failed",
        error: (err as Error).message,
      });
      ctx.log.warn(`${d.domain}: ${(err as Error).message}`);
    }
    ctx.log.progress(opts.apply ? "applying plan" : "planning", index, snapshots.length);
  }
  if (grouped?.length) await proposeGrouped(ctx, grouped, perPr);
  // Publish merged records, take out retired ones, send what is due; a
  // failure here fails the job after every identity had its turn.
  const follow = opts.apply ? await followUp(ctx, snapshots) : { snapshots, reports: [] };
  for (const r of follow.reports) {
    const outcome = outcomes.find((o) => o.domain === r.domain);
    if (!outcome) continue;
    if (r.notes.length) outcome.action += `; ${r.notes.join("; ")}`;
    if (r.error) outcome.error = outcome.error ? `${outcome.error}; ${r.error}` : r.error;
  }
  if (ctx.metrics) await publishMetrics(ctx, [...follow.snapshots, ...assumed]);
  return { snapshots: follow.snapshots, outcomes, sesReads };
}

/** KMS key generations in flight at once during `plan --apply` (KMS's own quotas are far above). */
export const KEY_CONCURRENCY = 8;

/** A key stored ahead of its PR by `storeDueKeys`, or why it could not be. */
type StoreResult = { selector: string } & (
  { key: StoredKey; created: boolean } | { error: unknown }
);

/** The selector a rotation of this snapshot makes: never a name used before. */
function selectorFor(ctx: EngineContext, snap: IdentitySnapshot): string {
  return nextSelector(
    snap.identity.selectorPrefix,
    ctx.clock.now(),
    takenSelectors(snap.records, snap.keys, snap.ses),
  );
}

/**
 * Start generating and storing the key of every identity due a rotation, at
 * most KEY_CONCURRENCY at once, and return each one's promise: the record PRs
 * (paced for GitHub) go out in order while KMS makes the next keys. A failure
 * is kept for that identity's turn, so it is reported (or, for bad input,
 * thrown) exactly where it was before.
 */
function storeDueKeys(
  ctx: EngineContext,
  snapshots: IdentitySnapshot[],
): Map<string, Promise<StoreResult>> {
  const gate = limiter(KEY_CONCURRENCY);
  const out = new Map<string, Promise<StoreResult>>();
  for (const snap of snapshots) {
    if (snap.decision.kind !== "rotate") continue;
    const selector = selectorFor(ctx, snap);
    out.set(
      snap.decision.domain,
      gate(async (): Promise<StoreResult> => {
        try {
          return { selector, ...(await storeNewKey(ctx, snap.identity, selector)) };
        } catch (error) {
          return { selector, error };
        }
      }),
    );
  }
  return out;
}

export async function applyDecision(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  apply: boolean,
  stored?: StoreResult,
): Promise<PlanOutcome> {
  const d = snap.decision;
  const base = { domain: d.domain, decision: d };
  switch (d.kind) {
    case "rotate": {
      const selector = stored?.selector ?? selectorFor(ctx, snap);
      if (!apply)
        return { ...base, selector, action: `would generate ${selector} and open its record PR` };
      if (stored && "error" in stored) throw stored.error;
      const result = await createKeyAndPropose(ctx, snap, selector, d.rollback, stored);
      return { ...base, selector, pullRequest: result.pr, action: result.action };
    }
    case "await-approval": {
      const key = snap.lifecycle.candidate!.key;
      if (!apply)
        return {
          ...base,
          selector: key.selector,
          action: `would make sure the record PR for ${key.selector} is open`,
        };
      const pr = await proposeRecordFor(ctx, snap, key, d.rollback);
      return {
        ...base,
        selector: key.selector,
        pullRequest: pr,
        action: awaitingRecordAction(key.selector, pr),
      };
    }
    case "retire": {
      if (d.retireStep !== "remove-record") {
        return {
          ...base,
          selector: d.selector,
          action: `key ${d.selector} is due for deletion: the gated retire job does that`,
        };
      }
      if (!apply)
        return {
          ...base,
          selector: d.selector,
          action: `would open the retirement PR for ${d.selector}`,
        };
      const pr = await proposeRemovalFor(ctx, snap.identity.domain, d.selector, d.activeSelector);
      return {
        ...base,
        selector: d.selector,
        pullRequest: pr,
        action:
          workingTreeText(pr, "retirement") ??
          `retirement PR for ${d.selector} ${pr.created ? "opened" : "is open"}`,
      };
    }
    case "activate":
      return {
        ...base,
        selector: d.selector,
        action: "ready: the gated activate job swaps SES after approval",
      };
    case "idle":
    case "await-publication":
    case "alert":
      return { ...base, selector: d.selector, action: "nothing" };
  }
}

export async function createKeyAndPropose(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  selector: string,
  rollback: RollbackTarget,
  stored?: { key: StoredKey; created: boolean },
): Promise<{ action: string; pr: PlanOutcome["pullRequest"] }> {
  const domain = snap.identity.domain;
  const { key, created } = stored ?? (await storeNewKey(ctx, snap.identity, selector));
  if (!created) {
    // Another run stored this selector first (two plans at once, or a crash
    // and re-run). The stored key wins; ours is discarded, never stored.
    ctx.log.info(`${domain}: ${selector} already stored by another run; using the stored key`);
  }
  const pr = await proposeRecordFor(ctx, snap, key, rollback);
  return { action: newRecordAction(selector, created, pr), pr };
}

function newRecordAction(selector: string, created: boolean, pr: ProposedChange): string {
  return `${created ? "stored key" : "found stored key"} ${selector}; ${workingTreeText(pr, "record") ?? `record PR ${pr.created ? "opened" : "updated"}${pr.number ? ` (#${pr.number})` : ""}`}`;
}

function awaitingRecordAction(selector: string, pr: ProposedChange): string {
  return (
    workingTreeText(pr, "record", "the key was stored by an earlier run") ??
    (pr.created
      ? `re-opened the record PR for ${selector} (the key was stored by an earlier run)`
      : `record PR for ${selector} is open; waiting for DNS review`)
  );
}

/** A new record held back for a grouped PR, with the outcome its proposal fills in. */
interface PendingRecord {
  snap: IdentitySnapshot;
  key: StoredKey;
  /** Set for a key this run stored (rotate); undefined for an earlier run's (await-approval). */
  created?: boolean;
  info: RotationInfo;
  change: RecordChange;
  outcome: PlanOutcome;
}

/** Store (rotate) or take (await-approval) the key and render its record, to propose later. */
async function pendingRecord(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  stored: StoreResult | undefined,
): Promise<PendingRecord> {
  const d = snap.decision;
  let key: StoredKey;
  let created: boolean | undefined;
  if (d.kind === "rotate") {
    const selector = stored?.selector ?? selectorFor(ctx, snap);
    if (stored && "error" in stored) throw stored.error;
    ({ key, created } = stored ?? (await storeNewKey(ctx, snap.identity, selector)));
    if (!created)
      ctx.log.info(`${d.domain}: ${selector} already stored by another run; using the stored key`);
  } else key = snap.lifecycle.candidate!.key;
  const rollback = (d as { rollback: RollbackTarget }).rollback;
  const info = await renderRotation(ctx, snap.identity, key, rollback);
  const text = ctx.changeText.rotation(info);
  return {
    snap,
    key,
    created,
    info,
    change: {
      domain: d.domain,
      selector: key.selector,
      path: info.path,
      content: info.recordFileText,
      ...text,
    },
    outcome: { domain: d.domain, decision: d, selector: key.selector, action: "pending" },
  };
}

/**
 * Propose the held-back records, up to `perPr` a PR, then tell the DNS team
 * once per identity, as one-record PRs do (docs/design.md#bulk-onboarding).
 */
async function proposeGrouped(
  ctx: EngineContext,
  pending: PendingRecord[],
  perPr: number,
): Promise<void> {
  const byDomain = new Map(pending.map((p) => [p.change.domain, p]));
  const results = await ctx.changes.proposeRecords!(
    pending.map((p) => p.change),
    perPr,
    (group) => {
      const infos = group.map((c) => byDomain.get(c.domain)!.info);
      return (
        // Without a batch text, the titles: the records are the PR's files.
        ctx.changeText.rotationBatch?.(infos) ?? {
          title: `DKIM rotation: ${group.length} new records`,
          body: group.map((c) => `- ${c.title}: ${c.path}`).join("\n"),
        }
      );
    },
  );
  for (const p of pending) {
    const { outcome, key, snap } = p;
    try {
      const pr = results.get(outcome.domain);
      if (!pr) throw new Error(`no proposal came back for ${outcome.selector}`);
      if (pr instanceof Error) throw pr;
      outcome.pullRequest = pr;
      outcome.action =
        p.created === undefined
          ? awaitingRecordAction(key.selector, pr)
          : newRecordAction(key.selector, p.created, pr);
      await sendOnce(ctx, key, {
        event: "pr-opened",
        kind: "pr-opened",
        identity: snap.identity,
        selector: key.selector,
        rotation: p.info,
        pullRequest: { number: pr.number, url: pr.url },
      });
    } catch (err) {
      if (err instanceof InputError) throw err;
      outcome.action = "failed";
      outcome.error = (err as Error).message;
      ctx.log.warn(`${outcome.domain}: ${(err as Error).message}`);
    }
  }
}

export async function renderRotation(
  ctx: EngineContext,
  identity: IdentityConfig,
  key: StoredKey,
  rollback: RollbackTarget,
): Promise<RotationInfo> {
  const nameservers = await ctx.dns
    .nameservers(identity.domain, identity.nameservers)
    .catch(() => []);
  const dates = rotationDates(identity, key);
  const { publishBy } = dates;
  const fingerprint = publicKeyFingerprint(key.publicKey);
  const recordFileText = renderRecordFile({
    domain: identity.domain,
    selector: key.selector,
    keyBits: key.keyBits,
    fingerprint,
    createdAt: key.createdAt.toISOString(),
    publishBy: isoDate(publishBy),
    publicKey: key.publicKey,
    ttl: identity.recordTtl,
    nameservers,
  });
  return {
    identity,
    selector: key.selector,
    previousSelector: rollbackSelector(rollback),
    rollback,
    path: recordPath(identity.domain, key.selector, recordFolderOf(ctx.config)),
    recordFileText,
    joinedValue: dkimRecordValue(key.publicKey),
    fingerprint,
    nameservers,
    ...dates,
  };
}

/** Open (or find) the record PR, then tell the DNS team once: the record, publish-by, dig, the link. */
export async function proposeRecordFor(
  ctx: EngineContext,
  snap: IdentitySnapshot,
  key: StoredKey,
  rollback: RollbackTarget,
) {
  const info = await renderRotation(ctx, snap.identity, key, rollback);
  const text = ctx.changeText.rotation(info);
  const pr = await ctx.changes.proposeRecord({
    domain: snap.identity.domain,
    selector: key.selector,
    path: info.path,
    content: info.recordFileText,
    title: text.title,
    body: text.body,
  });
  await sendOnce(ctx, key, {
    event: "pr-opened",
    kind: "pr-opened",
    identity: snap.identity,
    selector: key.selector,
    rotation: info,
    pullRequest: { number: pr.number, url: pr.url },
  });
  return pr;
}

export async function proposeRemovalFor(
  ctx: EngineContext,
  domain: string,
  selector: string,
  activeSelector?: string,
) {
  const path = recordPath(domain, selector, recordFolderOf(ctx.config));
  const text = ctx.changeText.retirement({
    domain,
    selector,
    activeSelector,
    path,
  });
  return ctx.changes.proposeRemoval({ domain, selector, path, title: text.title, body: text.body });
}

/** Publish the figures the alarms watch. Missing data is itself an alarm (dead-man's switch). */
export async function publishMetrics(
  ctx: EngineContext,
  snapshots: IdentitySnapshot[],
): Promise<void> {
  const data: Parameters<MetricsPort["publish"]>[0] = [];
  for (const s of snapshots) {
    const d = s.decision;
    if (d.daysToExpiry !== undefined)
      data.push({ name: METRIC_DAYS_UNTIL_EXPIRY, domain: d.domain, value: d.daysToExpiry });
    // Not read today, not published: the alarm reads missing data as not
    // breaching, and the sweep reads it within a week (docs/design.md#plan-ses-reads).
    if (!s.sesAssumed)
      data.push({
        name: METRIC_DKIM_STATUS_NOT_SUCCESS,
        domain: d.domain,
        value: s.ses.every((r) => r.status === "SUCCESS") ? 0 : 1,
        unit: "Count",
      });
    data.push({
      name: METRIC_PENDING_PUBLICATION_DAYS,
      domain: d.domain,
      value:
        d.kind === "await-publication" || d.kind === "activate"
          ? (d.pendingPublicationDays ?? 0)
          : 0,
    });
  }
  await ctx.metrics!.publish(data);
}
