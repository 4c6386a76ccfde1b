/**
 * The hourly verify reads SES only for identities with a pending key or a
 * deletion due (GitHub issue #11 item 5: SES allows 1 request/s per Region, so
 * a fleet-wide read every hour outgrows the job's timeout).
 */

import { expect } from "chai";
import { HOUR_MS } from "../actions/dkim-rotation/src/engine/clock";
import { verifyNeedsSes } from "../actions/dkim-rotation/src/engine/lifecycle";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { snapshotAll, snapshotForVerify } from "../actions/dkim-rotation/src/engine/snapshot";
import type { RecordOnMain, StoredKey } from "../actions/dkim-rotation/src/engine/ports";
import { REGION_A, REGION_B, startEngineHarness, type EngineHarness } from "./helpers/engine";

const regions = [REGION_A, REGION_B];

describe("hourly verify: SES only where an activation or a deletion may be due", function () {
  let h: EngineHarness;
  const domains = ["quiet.example", "signing.example", "pending.example"];
  before(async function () {
    h = await startEngineHarness({
      identities: domains.map((domain) => ({
        domain,
        selectorPrefix: domain.split(".")[0]!,
        regions,
      })),
    });
    for (const d of domains) await h.createIdentity(d);
    // signing.example: its first key is active, its record on main.
    await runPlan(h.ctx, { apply: true, domains: ["signing.example", "pending.example"] });
    for (const d of ["signing.example", "pending.example"]) {
      const key = (await h.ctx.keys.list(d))[0]!;
      h.publish(d, key.selector, key.publicKey);
    }
    await h.advance(HOUR_MS);
    const signing = (await h.ctx.keys.list("signing.example"))[0]!;
    expect((await runActivate(h.ctx, "signing.example", signing.selector)).outcome).to.equal(
      "activated",
    );
  });
  after(async function () {
    await h?.close();
  });

  it("reads SES for the pending identity alone and decides as the full snapshot would", async function () {
    const reads = () => h.emulator.callCount({ operation: "GetEmailIdentity" });
    const before = reads();
    const { snapshots, skipped } = await snapshotForVerify(h.ctx);
    expect(reads() - before).to.equal(regions.length);
    expect(skipped).to.equal(2);
    expect(snapshots.map((s) => s.identity.domain)).to.deep.equal(["pending.example"]);
    expect(snapshots[0]!.decision.kind).to.equal("activate");
    const full = await snapshotAll(h.ctx);
    expect(full.find((s) => s.identity.domain === "pending.example")!.decision).to.deep.equal(
      snapshots[0]!.decision,
    );
    // What it skipped has nothing for verify to act on.
    for (const s of full.filter((x) => x.identity.domain !== "pending.example"))
      expect(s.decision.kind, s.identity.domain).to.not.be.oneOf(["activate", "retire"]);
  });

  it("a key whose record has left main makes SES worth reading (a deletion is due)", function () {
    const key = (selector: string, state: StoredKey["state"], day: number): StoredKey => ({
      domain: "d.example",
      selector,
      secretName: `dkim/d.example/${selector}`,
      createdAt: new Date(Date.UTC(2027, 0, day)),
      publicKey: "MIIB",
      keyBits: 2048,
      state,
    });
    const record = (selector: string): RecordOnMain => ({
      domain: "d.example",
      selector,
      path: `dns/d.example/${selector}.zone`,
      publicKey: "MIIB",
      keyBits: 2048,
    });
    const old = key("d-20270101", "active", 1);
    const now = key("d-20271201", "active", 300);
    expect(
      verifyNeedsSes([old, now], [record(old.selector), record(now.selector)]).needed,
    ).to.equal(false);
    expect(verifyNeedsSes([old, now], [record(now.selector)])).to.deep.equal({
      needed: true,
      why: "d-20270101's record has left main (deletion due)",
    });
    // Scheduled for deletion already: nothing left for verify.
    expect(
      verifyNeedsSes([{ ...old, deletionDate: new Date() }, now], [record(now.selector)]).needed,
    ).to.equal(false);
    expect(verifyNeedsSes([], []).needed).to.equal(false);
  });
});
