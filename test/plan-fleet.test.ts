/**
 * The daily plan reads SES only where a decision needs it, plus a drift sweep
 * that reads every identity once in 7 days; the fleet-wide commands list the
 * key store once per run (GitHub issue #27 item 1; docs/design.md#plan-ses-reads,
 * docs/design.md#key-store-listing).
 */

import { expect } from "chai";
import { DAY_MS, HOUR_MS, addDays } from "../actions/dkim-rotation/src/engine/clock";
import { parseProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import { generateDkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import {
  METRIC_DAYS_UNTIL_EXPIRY,
  METRIC_DKIM_STATUS_NOT_SUCCESS,
  METRIC_PENDING_PUBLICATION_DAYS,
} from "../actions/dkim-rotation/src/engine/metrics";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { KEY_CONCURRENCY, runPlan } from "../actions/dkim-rotation/src/engine/plan";
import {
  SWEEP_DAYS,
  planNeedsSes,
  sweepSlot,
  sweepSlotOf,
} from "../actions/dkim-rotation/src/engine/planner";
import {
  describeSesReads,
  snapshotAll,
  snapshotForVerify,
} from "../actions/dkim-rotation/src/engine/snapshot";
import type { RecordOnMain, StoredKey } from "../actions/dkim-rotation/src/engine/ports";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  REGION_A,
  TEST_CREDENTIALS,
  startEngineHarness,
  type EngineHarness,
} from "./helpers/engine";

const STEADY = Array.from({ length: 8 }, (_, i) => `steady${i}.example`);
const NEW = "new.example";

describe("daily plan: SES reads proportional to what is due", function () {
  let h: EngineHarness;
  const sesReads = () => h.emulator.callCount({ operation: "GetEmailIdentity" });
  const listings = () => h.emulator.callCount({ operation: "ListSecrets" });
  /** The domains today's sweep share holds. */
  const sweptToday = () => STEADY.filter((d) => sweepSlot(d) === sweepSlotOf(h.clock.now()));

  before(async function () {
    h = await startEngineHarness({
      identities: [...STEADY, NEW].map((domain) => ({
        domain,
        selectorPrefix: domain.split(".")[0]!,
        regions: [REGION_A],
      })),
    });
    for (const d of [...STEADY, NEW]) await h.createIdentity(d);
    // The steady identities: first key active, its record on main.
    await runPlan(h.ctx, { apply: true, domains: STEADY });
    for (const d of STEADY) {
      const key = (await h.ctx.keys.list(d))[0]!;
      h.publish(d, key.selector, key.publicKey);
    }
    await h.advance(HOUR_MS);
    for (const d of STEADY) {
      const key = (await h.ctx.keys.list(d))[0]!;
      expect((await runActivate(h.ctx, d, key.selector)).outcome, d).to.equal("activated");
    }
    await h.advanceDays(1);
  });
  after(async function () {
    await h?.close();
  });

  it("reads SES for the due identity and today's sweep share alone, and says so", async function () {
    const before = sesReads();
    const listed = listings();
    const { outcomes, sesReads: reads } = await runPlan(h.ctx, { apply: false });
    const expected = [NEW, ...sweptToday()].sort();
    expect(outcomes.map((o) => o.domain).sort()).to.deep.equal(expected);
    expect(sesReads() - before).to.equal(expected.length);
    expect(listings() - listed, "one ListSecrets for the fleet").to.equal(1);
    expect(reads).to.deep.equal({
      due: 1,
      sweep: sweptToday().length,
      named: 0,
      skipped: STEADY.length - sweptToday().length,
      total: STEADY.length + 1,
    });
    expect(describeSesReads(reads)).to.equal(
      `SES reads: 1 due, ${sweptToday().length} drift sweep (1/7 of 9), ${STEADY.length - sweptToday().length} skipped`,
    );
    expect(outcomes.find((o) => o.domain === NEW)!.decision.kind).to.equal("rotate");
    // Before: one GetEmailIdentity per identity and Region, one listing per identity.
    const full = sesReads();
    await snapshotAll(h.ctx);
    expect(sesReads() - full).to.equal(STEADY.length + 1);
  });

  it("decides for a read identity as the full snapshot does (the skipped ones are quiet)", async function () {
    const { snapshots } = await runPlan(h.ctx, { apply: false });
    const full = await snapshotAll(h.ctx);
    for (const s of snapshots)
      expect(full.find((f) => f.identity.domain === s.identity.domain)!.decision).to.deep.equal(
        s.decision,
      );
    for (const f of full.filter((x) => STEADY.includes(x.identity.domain)))
      expect(f.decision.kind, f.identity.domain).to.equal("idle");
  });

  it("publishes the expiry figure for every identity, the SES status only for those read", async function () {
    const published: { name: string; domain: string; value: number }[] = [];
    const ctx = {
      ...h.ctx,
      metrics: { publish: async (m: typeof published) => void published.push(...m) },
    };
    const { outcomes } = await runPlan(ctx, { apply: false });
    const read = outcomes.map((o) => o.domain).sort();
    const of = (name: string) =>
      published
        .filter((m) => m.name === name)
        .map((m) => m.domain)
        .sort();
    // The expiry alarm treats missing data as breaching (the dead-man's switch).
    expect(of(METRIC_DAYS_UNTIL_EXPIRY)).to.deep.equal([...STEADY].sort());
    expect(of(METRIC_PENDING_PUBLICATION_DAYS)).to.deep.equal([...STEADY, NEW].sort());
    expect(of(METRIC_DKIM_STATUS_NOT_SUCCESS)).to.deep.equal(read);
  });

  it("named domains are all read", async function () {
    const before = sesReads();
    const { sesReads: reads } = await runPlan(h.ctx, { apply: false, domains: STEADY });
    expect(sesReads() - before).to.equal(STEADY.length);
    expect(reads.named).to.equal(STEADY.length);
  });

  it("the drift sweep reads every identity within 7 consecutive days, each once", async function () {
    const seen = new Map<string, number>();
    for (let day = 0; day < SWEEP_DAYS; day++) {
      await h.advanceDays(1);
      const { outcomes } = await runPlan(h.ctx, { apply: false });
      for (const o of outcomes) seen.set(o.domain, (seen.get(o.domain) ?? 0) + 1);
    }
    for (const d of STEADY) expect(seen.get(d), d).to.equal(1);
    expect(seen.get(NEW)).to.equal(SWEEP_DAYS);
  });

  it("the verify job lists the key store once per run, not once per identity", async function () {
    const before = listings();
    await snapshotForVerify(h.ctx);
    expect(listings() - before).to.equal(1);
    // One domain named: only its own prefix.
    const one = listings();
    await snapshotForVerify(h.ctx, [STEADY[0]!]);
    expect(listings() - one).to.equal(1);
  });

  it("drift found by the sweep raises the same alert as a full read", async function () {
    const d = STEADY[0]!;
    const other = await generateDkimKeyPair(2048);
    // Someone imports a key by hand, behind the repository's back.
    await h.ctx.ses.putExternalKey(REGION_A, d, "handmade1", other.sesPrivateKey);
    let found;
    for (let day = 0; day < SWEEP_DAYS && !found; day++) {
      await h.advanceDays(1);
      const { outcomes } = await runPlan(h.ctx, { apply: false });
      const o = outcomes.find((x) => x.domain === d);
      if (sweepSlot(d) !== sweepSlotOf(h.clock.now())) {
        expect(o, `day ${day}: not today's share`).to.equal(undefined);
        continue;
      }
      found = o;
    }
    expect(found, "read within 7 days").to.not.equal(undefined);
    const [fullRead] = await snapshotAll(h.ctx, [d]);
    expect(found!.decision.kind).to.equal("alert");
    expect(found!.decision.alerts.map((a) => a.kind)).to.include("drift");
    expect(found!.decision).to.deep.equal(fullRead!.decision);
  });
});

describe("planNeedsSes: what the plan decides without SES", function () {
  const config = parseProjectConfig(
    {
      identities: [{ domain: "d.example", selectorPrefix: "d", regions: ["ap-northeast-1"] }],
      kmsKeyId: "alias/k",
    },
    { file: "Pulumi.test.yaml", project: "ses-dkim-rotation", defaultRegion: "ap-northeast-1" },
  );
  const identity = config.identities[0]!;
  const t0 = new Date("2027-01-01T00:00:00Z");
  const key = (selector: string, extra: Partial<StoredKey> = {}): StoredKey => ({
    domain: "d.example",
    selector,
    secretName: `dkim/d.example/${selector}`,
    createdAt: t0,
    publicKey: `MIIB${selector}`,
    keyBits: 2048,
    state: "active",
    activatedAt: t0,
    ...extra,
  });
  const record = (k: StoredKey): RecordOnMain => ({
    domain: "d.example",
    selector: k.selector,
    path: `dns/d.example/${k.selector}.zone`,
    publicKey: k.publicKey,
    keyBits: 2048,
  });
  const active = key("d-20270101");
  // rotationDays 365, alertDays 30, dnsLeadDays 14, buffer: rotation starts near day 314.
  const at = (days: number) => addDays(t0, days);
  const need = (keys: StoredKey[], records: RecordOnMain[], days: number) =>
    planNeedsSes({ identity, keys, records, now: at(days) });

  it("a steady identity far from its next step needs no SES read", function () {
    const r = need([active], [record(active)], 100);
    expect(r.needed).to.equal(false);
    expect(r.expected!.decision.kind).to.equal("idle");
  });

  it("a rotation due or near, a pending key, a retirement due, an alert or no active key need SES", function () {
    expect(need([active], [record(active)], 330).why).to.equal("rotation due");
    const near = need([active], [record(active)], 100).expected!.decision;
    const nearDay = Math.ceil(
      ((near.kind === "idle" ? near.notBefore : t0).getTime() - t0.getTime()) / DAY_MS,
    );
    expect(need([active], [record(active)], nearDay - 1).why).to.match(/^next step near/);
    expect(need([active], [record(active)], nearDay - 2).needed).to.equal(false);
    const pending = key("d-20270601", {
      state: "pending",
      createdAt: at(150),
      activatedAt: undefined,
    });
    expect(need([active, pending], [record(active)], 151).why).to.equal("pending key");
    const older = key("d-20260101", { createdAt: at(-365), activatedAt: at(-365) });
    expect(need([older, active], [record(older), record(active)], 100).why).to.equal(
      "retirement due",
    );
    expect(need([], [], 100).why).to.match(/^no active key recorded/);
    expect(
      need([{ ...active, tampering: ["tag x contradicts"] }], [record(active)], 100).why,
    ).to.match(/^alert to confirm \(key-store-tampered\)/);
    expect(
      need([{ ...active, activatedAt: undefined }], [record(active)], 100).needed,
      "no recorded activation: its age is unknown",
    ).to.equal(true);
  });

  it("sweep slots: the same every run, every slot of the cycle used, about 1/7 of a fleet a day", function () {
    const fleet = Array.from({ length: 1000 }, (_, i) => `id${i}.example.jp`);
    const counts = new Array(SWEEP_DAYS).fill(0) as number[];
    for (const d of fleet) counts[sweepSlot(d)]!++;
    expect(
      counts.every((c) => c > 100 && c < 190),
      counts.join(","),
    ).to.equal(true);
    expect(fleet.map(sweepSlot)).to.deep.equal(fleet.map(sweepSlot));
    const days = Array.from({ length: SWEEP_DAYS }, (_, i) =>
      sweepSlotOf(new Date(Date.UTC(2027, 2, 1 + i, 0, 30))),
    );
    expect(new Set(days).size).to.equal(SWEEP_DAYS);
    // A re-run later the same UTC day reads the same share.
    expect(sweepSlotOf(new Date(Date.UTC(2027, 2, 1, 23, 59)))).to.equal(days[0]);
  });
});

describe("plan --apply over many due identities: keys in parallel, PRs in order", function () {
  const domains = Array.from({ length: 12 }, (_, i) => `bulk${String(i).padStart(2, "0")}.example`);
  let h: EngineHarness;
  before(async function () {
    h = await startEngineHarness({
      identities: domains.map((domain) => ({
        domain,
        selectorPrefix: "bulk",
        regions: [REGION_A],
      })),
    });
    for (const d of domains) await h.createIdentity(d);
  });
  after(async function () {
    await h?.close();
  });

  it(`has KMS make up to KEY_CONCURRENCY (${KEY_CONCURRENCY}) keys at once, then proposes each record in the fleet's order`, async function () {
    let inFlight = 0;
    let most = 0;
    const proposed: string[] = [];
    const ctx = {
      ...h.ctx,
      keys: {
        ...h.ctx.keys,
        list: (d: string) => h.ctx.keys.list(d),
        listAll: () => h.ctx.keys.listAll(),
        generate: async (d: string, s: string, at: Date) => {
          most = Math.max(most, ++inFlight);
          try {
            return await h.ctx.keys.generate(d, s, at);
          } finally {
            inFlight--;
          }
        },
      },
      changes: {
        ...h.ctx.changes,
        proposeRecord: (c: Parameters<typeof h.ctx.changes.proposeRecord>[0]) => {
          proposed.push(c.domain);
          return h.ctx.changes.proposeRecord(c);
        },
        proposeRemoval: (c: Parameters<typeof h.ctx.changes.proposeRemoval>[0]) =>
          h.ctx.changes.proposeRemoval(c),
        findOpen: (...a: Parameters<typeof h.ctx.changes.findOpen>) => h.ctx.changes.findOpen(...a),
      },
    };
    const { outcomes } = await runPlan(ctx, { apply: true });
    expect(outcomes.map((o) => o.error ?? "ok")).to.deep.equal(domains.map(() => "ok"));
    expect(most, "keys made in parallel").to.be.greaterThan(1);
    expect(most).to.be.at.most(KEY_CONCURRENCY);
    expect(proposed).to.deep.equal(domains);
    for (const d of domains) expect((await h.ctx.keys.list(d)).length, d).to.equal(1);
  });

  it("a secret under the prefix that cannot be read stops only its own domain", async function () {
    const client = new SecretsManagerClient({
      region: REGION_A,
      endpoint: h.emulator.url,
      credentials: TEST_CREDENTIALS,
    });
    const plant = (name: string) =>
      client.send(
        new CreateSecretCommand({ Name: name, SecretString: "x", Description: "made by hand" }),
      );
    try {
      // A domain no longer in the stack file: the fleet's one listing sees it, the plan does not care.
      await plant("dkim/stray.example/old1");
      const { outcomes } = await runPlan(h.ctx, { apply: false });
      expect(outcomes.filter((o) => o.error)).to.deep.equal([]);
      // One of ours: refused, naming the secret, as a per-domain listing did.
      await plant(`dkim/${domains[0]}/hand1`);
      let failure: Error | undefined;
      await runPlan(h.ctx, { apply: false }).catch((e: Error) => (failure = e));
      expect(failure?.message).to.match(
        /secret dkim\/bulk00\.example\/hand1: its description has no p=/,
      );
    } finally {
      client.destroy();
    }
  });
});
