/**
 * `--naive`: the seed documents' flow in the same world, for comparison. Each
 * day the operator's Lambda generates a key when one is due, swaps SES at
 * once and only then asks the DNS team for the record; once DNS is in, the
 * runbook re-applies the key where SES went FAILED. It is not a shipped
 * workflow, so it calls the engine's snapshot directly.
 */
import type { AwsAdapters } from "../../actions/dkim-rotation/src/context";
import {
  addDays,
  DAY_MS,
  isoDate,
  MINUTE_MS,
  type SimClock,
} from "../../actions/dkim-rotation/src/engine/clock";
import type { ProjectConfig } from "../../actions/dkim-rotation/src/engine/config";
import type { EngineContext } from "../../actions/dkim-rotation/src/engine/engine-context";
import { generateDkimKeyPair } from "../../actions/dkim-rotation/src/engine/keys";
import { rotationStart } from "../../actions/dkim-rotation/src/engine/planner";
import {
  recordFolderOf,
  recordPath,
  renderRecordFile,
} from "../../actions/dkim-rotation/src/engine/record";
import { snapshotAll } from "../../actions/dkim-rotation/src/engine/snapshot";
import type { AwsEmulator } from "./aws-emulator";
import type { DnsTeam } from "./dns-team";
import type { Ledger } from "./ledger";
import { DENSE_WINDOW_MS } from "./mail";
import type { TimelineInput } from "./timeline";

export interface NaiveWorld {
  config: ProjectConfig;
  ctx: EngineContext;
  adapters: AwsAdapters;
  emulator: AwsEmulator;
  team: DnsTeam;
  ledger: Ledger;
  clock: SimClock;
  start: Date;
  end: Date;
  advanceTo: (t: number) => Promise<void>;
  reportProgress: () => void;
  /** One timeline event (printed and kept, timeline.ts). */
  event: (e: TimelineInput) => void;
  swapExpected: (domain: string, at: number) => boolean;
  expectSwap: (domain: string, at: number) => void;
  onSecret: (secret: string) => void;
  /**
   * A fresh change-request adapter: each daily invocation is a new process
   * that lists the open PRs anew (the adapter keeps its list for one run).
   */
  newChanges: () => EngineContext["changes"];
}

export async function naiveYears(w: NaiveWorld): Promise<void> {
  const { team, ledger, clock, start, end } = w;
  const naiveKeys = new Map<string, { selector: string; secret: string }>();
  for (let t = start.getTime(); t <= end.getTime(); t += DAY_MS) {
    for (;;) {
      const review = team.nextReviewAt();
      if (review > t) break;
      await w.advanceTo(review);
      ledger.onMerged(team.reviewDue(clock.t));
    }
    await w.advanceTo(t);
    w.reportProgress();
    await naiveDailyRun(w, naiveKeys);
    ledger.onNewPulls();
    ledger.noteKeys();
  }
}
async function naiveDailyRun(
  w: NaiveWorld,
  naiveKeys: Map<string, { selector: string; secret: string }>,
): Promise<void> {
  const { config, adapters, emulator, ledger, clock, event } = w;
  const ctx: EngineContext = { ...w.ctx, changes: w.newChanges() };
  const snapshots = await snapshotAll(ctx);
  for (const snap of snapshots) {
    const d = snap.decision;
    const domain = d.domain;
    const pending = naiveKeys.get(domain);
    if (pending) {
      // The runbook: once DNS is in, re-run the SES update if it FAILED meanwhile.
      const published = ledger.rotationFor(domain, pending.selector)?.publishedAt;
      const failed = snap.ses.filter((s) => s.status === "FAILED");
      if (published && failed.length) {
        for (const s of failed)
          await adapters.ses.putExternalKey(s.region, domain, pending.selector, pending.secret);
        event({
          at: clock.now(),
          kind: "naive-reapplied",
          domain,
          selector: pending.selector,
          regions: failed.map((s) => s.region),
          detail: `${domain}: naive: operator re-applied ${pending.selector} after SES went FAILED`,
        });
      }
      if (snap.ses.every((s) => s.status === "SUCCESS" && s.tokens[0] === pending.selector)) {
        const r = ledger.rotationFor(domain, pending.selector)!;
        r.activatedAt =
          lastSuccess(emulator, snap.identity.regions, domain) ?? clock.now().toISOString();
        r.pendingMinutes = Math.round(
          (Date.parse(r.activatedAt) - Date.parse(r.generatedAt!)) / MINUTE_MS,
        );
        // The seed Lambda records the new key as current in its state table.
        await adapters.keys.markState(domain, pending.selector, "active", new Date(r.activatedAt));
        naiveKeys.delete(domain);
      }
      continue;
    }
    // The naive flow never retires, so an old selector's pending retirement
    // must not hide its rotation date: it rotates on the same day we would.
    const activatedAt = d.expiresAt ? addDays(d.expiresAt, -snap.identity.rotationDays) : undefined;
    const rotateAt = activatedAt ? rotationStart(snap.identity, activatedAt).getTime() : clock.t;
    // Upcoming swap: dense mail from 3 days before it.
    if (rotateAt - clock.t <= DENSE_WINDOW_MS && !w.swapExpected(domain, rotateAt)) {
      w.expectSwap(domain, rotateAt);
    }
    const due = d.kind === "rotate" || clock.t >= rotateAt;
    if (!due) continue;
    // 001's "dangerous auto-update flow": generate, store, swap SES, then notify DNS.
    const selector = `${snap.identity.selectorPrefix}-${isoDate(clock.now()).replaceAll("-", "")}`;
    let secret = "";
    const pair = await generateDkimKeyPair(snap.identity.keyBits, (s) => {
      secret = s;
      w.onSecret(s);
    });
    await adapters.keys.create(domain, selector, pair, clock.now());
    ledger.rotations.push({
      domain,
      from: d.activeSelector,
      to: selector,
      generatedAt: clock.now().toISOString(),
    });
    for (const region of snap.identity.regions)
      await adapters.ses.putExternalKey(region, domain, selector, secret);
    w.expectSwap(domain, clock.t);
    event({
      at: clock.now(),
      kind: "naive-swap",
      domain,
      selector,
      regions: snap.identity.regions,
      detail: `${domain}: naive: generated ${selector} and swapped SES at once (DNS not yet asked)`,
    });
    const path = recordPath(domain, selector, recordFolderOf(config));
    await ctx.changes.proposeRecord({
      domain,
      selector,
      path,
      content: renderRecordFile({
        domain,
        selector,
        keyBits: pair.bits,
        fingerprint: pair.fingerprint,
        createdAt: clock.now().toISOString(),
        publishBy: isoDate(addDays(clock.now(), snap.identity.dnsLeadDays)),
        publicKey: pair.publicKey,
        ttl: snap.identity.recordTtl,
      }),
      title: `DKIM: ${domain} → ${selector}`,
      body: "",
    });
    naiveKeys.set(domain, { selector, secret });
  }
}

function lastSuccess(emulator: AwsEmulator, regions: string[], domain: string): string | undefined {
  const times = regions.map((r) => emulator.ses.identity(r, domain)?.lastSuccessAt?.getTime() ?? 0);
  return times.every(Boolean) ? new Date(Math.max(...times)).toISOString() : undefined;
}
