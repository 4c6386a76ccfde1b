/**
 * Notifications over simulated rotations (docs/design.md#notifications): the
 * engine's commands against the AWS emulator's SNS `Publish` (query protocol,
 * through @aws-sdk/client-sns) and Secrets Manager tags, with crashes
 * injected at every notification boundary. Each event is sent once; the
 * exact messages are compared with test/golden/notifications.txt.
 *
 * A crash is modelled in process: at the armed call the port throws and
 * every later call of the run throws too (the process is gone), then the
 * same command runs again, as the next scheduled run would.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { publicKeyFingerprint } from "../actions/dkim-rotation/src/engine/keys";
import { DAY_MS, HOUR_MS, MINUTE_MS, isoDate } from "../actions/dkim-rotation/src/engine/clock";
import type { EngineContext } from "../actions/dkim-rotation/src/engine/engine-context";
import { followUp } from "../actions/dkim-rotation/src/engine/follow-up";
import { runActivate } from "../actions/dkim-rotation/src/engine/activate";
import { runPlan } from "../actions/dkim-rotation/src/engine/plan";
import { runRetire } from "../actions/dkim-rotation/src/engine/retire";
import { snapshotForVerify } from "../actions/dkim-rotation/src/engine/snapshot";
import { ActivationFailedError } from "../actions/dkim-rotation/src/engine/swap";
import {
  digCommands,
  publicationEventsDue,
  type NoticeFacts,
} from "../actions/dkim-rotation/src/engine/notify";
import type { Candidate } from "../actions/dkim-rotation/src/engine/lifecycle";
import type { KeyStorePort, SesPort, StoredKey } from "../actions/dkim-rotation/src/engine/ports";
import { WorkingTreeChanges } from "../actions/dkim-rotation/src/adapters/local";
import { ReviewedChanges } from "./helpers/reviewed-changes";
import { noticeText, subjectLine } from "../actions/dkim-rotation/src/notice-text";
import type { PublishedMessage } from "../scripts/sandbox/aws-emulator";
import { startEngineHarness, type EngineHarness, REGION_A } from "./helpers/engine";
import { expectNoKeyMaterial } from "./helpers/key-material";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const GOLDEN = join(ROOT, "test/golden/notifications.txt");

class Crash extends Error {
  constructor(where: string) {
    super(`simulated crash: ${where}`);
    this.name = "Crash";
  }
}

interface CrashPoint {
  call: "Publish" | "markNotified";
  /** The nth such call of the whole scenario (1-based). */
  nth: number;
  /** `before`: the call never happens; `after`: it happened and the run died before learning so. */
  phase: "before" | "after";
}

/** The context's ports, wrapped so an armed call kills the run. */
function crashable(base: EngineContext, points: CrashPoint[]) {
  const state = { dead: false, fired: [] as string[], calls: { Publish: 0, markNotified: 0 } };
  const guard = () => {
    if (state.dead) throw new Crash("the process is gone");
  };
  async function boundary<T>(call: CrashPoint["call"], fn: () => Promise<T>): Promise<T> {
    guard();
    const nth = ++state.calls[call];
    const point = points.find((p) => p.call === call && p.nth === nth);
    if (point?.phase === "before") {
      state.dead = true;
      state.fired.push(`${call} #${nth} before`);
      throw new Crash(`${call} #${nth} before`);
    }
    const result = await fn();
    if (point?.phase === "after") {
      state.dead = true;
      state.fired.push(`${call} #${nth} after`);
      throw new Crash(`${call} #${nth} after`);
    }
    return result;
  }
  const wrapAll = <T extends object>(inner: T, special: Partial<Record<keyof T, string>> = {}): T =>
    new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        const call = special[prop as keyof T] as CrashPoint["call"] | undefined;
        return (...args: unknown[]) =>
          call
            ? boundary(call, () =>
                (value as (...a: unknown[]) => Promise<unknown>).apply(target, args),
              )
            : (guard(), (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
  const notices = base.notices!;
  const ctx: EngineContext = {
    ...base,
    keys: wrapAll<KeyStorePort>(base.keys, { markNotified: "markNotified" }),
    ses: wrapAll<SesPort>(base.ses),
    notices: {
      ...notices,
      notifier: { send: (n) => boundary("Publish", () => notices.notifier.send(n)) },
    },
  };
  /** Run a command; after a crash, run it again (the next scheduled run), until one completes. */
  async function run<T>(command: (ctx: EngineContext) => Promise<T>): Promise<T> {
    for (;;) {
      let result: T | undefined;
      let error: unknown;
      try {
        result = await command(ctx);
      } catch (err) {
        error = err;
      }
      if (!state.dead) {
        if (error) throw error;
        return result as T;
      }
      state.dead = false;
    }
  }
  return { ctx, run, state };
}

const verifyJob = async (ctx: EngineContext) =>
  followUp(ctx, (await snapshotForVerify(ctx)).snapshots);

function eventOf(m: PublishedMessage): string {
  return m.messageAttributes.event?.StringValue ?? "?";
}

/** The golden form: public keys and one-off values replaced by names. */
function goldenText(messages: PublishedMessage[], keys: StoredKey[], h: EngineHarness): string {
  let text = messages
    .map(
      (m) =>
        `=== ${eventOf(m)} -> ${m.messageAttributes.audience?.StringValue}\nSubject: ${m.subject}\n\n${m.message}\n`,
    )
    .join("\n");
  for (const k of keys) {
    const value = `"v=DKIM1; k=rsa; p=${k.publicKey}"`;
    // The record value as the message splits it (strings of at most 255).
    const split = value
      .slice(1, -1)
      .match(/.{1,255}/g)!
      .map((s) => `"${s}"`)
      .join(" ");
    text = text.split(split).join(`"<v=DKIM1 record of ${k.selector}>"`);
    text = text.split(publicKeyFingerprint(k.publicKey)).join(`<fingerprint of ${k.selector}>`);
  }
  for (const ns of [h.ns1, h.ns2, h.ns3]) text = text.split(String(ns.port)).join("<port>");
  return text;
}

describe("notifications (SNS through the AWS emulator, ledger in the key's tags)", function () {
  this.timeout(180_000);
  const domain = "notify.example";

  describe("a manual rotation, then a second one and a retirement, with crashes at every boundary", function () {
    let h: EngineHarness;
    let messages: PublishedMessage[];
    let keys: StoredKey[];
    let fired: string[];
    // Publish and markNotified calls 1..14 (14 events) cycle through the three crash kinds.
    const points: CrashPoint[] = [];
    for (let n = 1; n <= 14; n++) {
      if (n % 3 === 1) points.push({ call: "Publish", nth: n, phase: "before" });
      if (n % 3 === 2) points.push({ call: "Publish", nth: n, phase: "after" });
      if (n % 3 === 0) points.push({ call: "markNotified", nth: n, phase: "after" });
    }

    before(async function () {
      h = await startEngineHarness({
        identities: [{ domain, selectorPrefix: "note", dnsLeadDays: 14, graceDays: 7 }],
        notifications: {
          dnsTeamEmails: ["dns-team@example.jp"],
          escalationEmails: ["lead@example.jp"],
          approverEmails: ["mail-platform@example.jp"],
          reminderDays: [7, 2],
        },
      });
      await h.createIdentity(domain);
      const prs = new ReviewedChanges(new WorkingTreeChanges(h.repo));
      h.ctx.changes = prs;
      const c = crashable(h.ctx, points);
      const plan = () => c.run((ctx) => runPlan(ctx, { apply: true }));

      // Day 0: the key and its record PR; the reviewers merge it the next day.
      await plan();
      const first = (await h.ctx.keys.list(domain))[0]!;
      await h.advanceDays(1);
      await plan();
      await prs.merge(domain);
      // The DNS team is slow: daily plans and hourly verifies for 15 days.
      for (let day = 2; day <= 15; day++) {
        await h.advanceDays(1);
        await plan();
        await h.advance(HOUR_MS);
        await c.run(verifyJob);
      }
      h.publish(domain, first.selector, first.publicKey);
      await h.advance(HOUR_MS);
      await c.run(verifyJob);
      await c.run((ctx) => runActivate(ctx, domain, first.selector));

      // A year on: the second rotation, published at once, then the retirement.
      await h.advanceDays(320);
      await plan();
      const second = (await h.ctx.keys.list(domain)).find((k) => k.selector !== first.selector)!;
      await prs.merge(domain);
      await c.run(verifyJob); // the merge's push: merged, awaiting publication
      h.publish(domain, second.selector, second.publicKey);
      await c.run(verifyJob);
      await c.run((ctx) => runActivate(ctx, domain, second.selector));
      await h.advanceDays(8);
      await plan(); // opens the retirement PR
      await prs.merge(domain);
      await c.run((ctx) => runRetire(ctx, domain, first.selector));
      h.serve(domain, first.selector, undefined);

      messages = h.emulator.published();
      keys = await h.ctx.keys.list(domain);
      fired = c.state.fired;
    });
    after(async function () {
      await h?.close();
    });

    it("fires every armed crash point (a point never reached is not a crash test)", function () {
      expect(fired, fired.join("; ")).to.have.length(points.length);
    });

    it("sends each event exactly once, except the one repeat the response-lost crash can cause", function () {
      const events = messages.map(
        (m) => `${m.messageAttributes.selector?.StringValue}/${eventOf(m)}`,
      );
      const [first, second] = [...new Set(keys.map((k) => k.selector))].sort();
      const expected = [
        `${first}/pr-opened`,
        `${first}/merged`,
        `${first}/reminder-7`,
        `${first}/reminder-2`,
        `${first}/overdue`,
        `${first}/published`,
        `${first}/awaiting-approval`,
        `${first}/activated`,
        `${second}/pr-opened`,
        `${second}/merged`,
        `${second}/published`,
        `${second}/awaiting-approval`,
        `${second}/activated`,
        `${first}/retired`,
      ];
      // The distinct events, in order.
      expect([...new Set(events)]).to.deep.equal(expected);
      // Repeats: only where SNS accepted a message and the run died before its
      // tag was written (Publish "after"), and then exactly one each.
      const counts = new Map<string, number>();
      for (const e of events) counts.set(e, (counts.get(e) ?? 0) + 1);
      const repeated = [...counts].filter(([, n]) => n > 1);
      const responseLost = fired.filter((f) => f.startsWith("Publish") && f.endsWith("after"));
      expect(
        repeated.every(([, n]) => n === 2),
        JSON.stringify(repeated),
      ).to.equal(true);
      expect(repeated.length).to.equal(responseLost.length);
      // The repeat is the same message (same Event line), so a receiver can drop it.
      for (const [event] of repeated) {
        const copies = messages.filter(
          (m) => `${m.messageAttributes.selector?.StringValue}/${eventOf(m)}` === event,
        );
        expect(copies[0]!.message).to.equal(copies[1]!.message);
      }
    });

    it("records every event in the key's dkim:notified tag", function () {
      const [first, second] = [...keys].sort((a, b) => a.selector.localeCompare(b.selector));
      // The retired key is scheduled for deletion: its tags are as the retire run left them.
      expect(first!.notified).to.deep.equal([
        "pr-opened",
        "merged",
        "reminder-7",
        "reminder-2",
        "overdue",
        "published",
        "awaiting-approval",
        "activated",
        "retired",
      ]);
      expect(second!.notified).to.deep.equal([
        "pr-opened",
        "merged",
        "published",
        "awaiting-approval",
        "activated",
      ]);
    });

    it("addresses each event to its audience (the SNS filter policies' attribute)", function () {
      const audience = new Map(
        messages.map((m) => [eventOf(m), m.messageAttributes.audience?.StringValue]),
      );
      expect(audience.get("pr-opened")).to.equal('["dns-team"]');
      expect(audience.get("reminder-7")).to.equal('["dns-team"]');
      expect(audience.get("overdue")).to.equal('["dns-team","escalation"]');
      expect(audience.get("awaiting-approval")).to.equal('["approvers"]');
      expect(audience.get("activated")).to.equal('["approvers","dns-team"]');
      for (const m of messages)
        expect(m.topicArn).to.match(
          /^arn:aws:sns:ap-northeast-1:\d{12}:ses-dkim-rotation-notifications$/,
        );
    });

    it("sends reminders on their days and the escalation once publish-by has passed", function () {
      const first = [...keys].sort((a, b) => a.selector.localeCompare(b.selector))[0]!;
      const publishBy = first.createdAt.getTime() + 14 * DAY_MS;
      const at = (e: string) => messages.find((m) => eventOf(m) === e)!.at.getTime();
      expect(publishBy - at("reminder-7")).to.be.within(6 * DAY_MS, 7 * DAY_MS);
      expect(publishBy - at("reminder-2")).to.be.within(1 * DAY_MS, 2 * DAY_MS);
      expect(at("overdue") - publishBy).to.be.within(0, DAY_MS);
    });

    it("carries public keys only: the secret scan finds nothing", function () {
      expect(h.secretsSeen.length).to.be.greaterThan(0);
      const texts = messages.flatMap((m) => [m.subject ?? "", m.message]);
      for (const secret of h.secretsSeen) expectNoKeyMaterial(texts, secret, "notifications");
    });

    it("sends exactly the messages in test/golden/notifications.txt", function () {
      const once = messages.filter(
        (m, i) => messages.findIndex((o) => o.message === m.message) === i,
      );
      const text = goldenText(once, keys, h);
      if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, text);
      expect(text).to.equal(readFileSync(GOLDEN, "utf8"));
    });
  });

  describe("a failed activation", function () {
    let h: EngineHarness;
    after(async function () {
      await h?.close();
    });

    it("tells the approvers, the DNS team and the escalation list that it failed with no way back, once", async function () {
      h = await startEngineHarness({
        identities: [{ domain: "fail.example", selectorPrefix: "fail" }],
        notifications: { dnsTeamEmails: ["dns-team@example.jp"] },
      });
      await h.createIdentity("fail.example");
      await runPlan(h.ctx, { apply: true });
      const key = (await h.ctx.keys.list("fail.example"))[0]!;
      // Served where the engine looks, not where SES looks: SES never verifies.
      h.publish("fail.example", key.selector, key.publicKey);
      h.sesDns = h.ns3;
      h.ctx.activation = { pollIntervalMs: 10 * MINUTE_MS, timeoutMs: 30 * MINUTE_MS };
      let failed: unknown;
      await runActivate(h.ctx, "fail.example", key.selector).catch((e) => (failed = e));
      expect(failed).to.be.instanceOf(ActivationFailedError);
      // Easy DKIM is no way back here (SES gives new tokens nobody published).
      expect(h.emulator.published().filter((m) => eventOf(m) === "rolled-back")).to.have.length(0);
      const rolled = h.emulator.published().filter((m) => eventOf(m) === "activation-failed");
      expect(rolled).to.have.length(1);
      expect(rolled[0]!.subject).to.equal(
        `[DKIM] ACTIVATION FAILED: fail.example ${key.selector}, no way back verified`,
      );
      expect(rolled[0]!.messageAttributes.audience?.StringValue).to.equal(
        '["approvers","dns-team","escalation"]',
      );
      expect(rolled[0]!.message).to.include("going back did not verify either");
      expect(rolled[0]!.message).to.include(
        `Event: fail.example/${key.selector}/activation-failed`,
      );
    });
  });

  describe("an activation rolled back to the previous key", function () {
    let h: EngineHarness;
    after(async function () {
      await h?.close();
    });

    it("says so once, to the approvers, the DNS team and the escalation list", async function () {
      const d = "back.example";
      h = await startEngineHarness({
        identities: [{ domain: d, selectorPrefix: "back" }],
        notifications: { dnsTeamEmails: ["dns-team@example.jp"] },
      });
      await h.createIdentity(d);
      await runPlan(h.ctx, { apply: true });
      const previous = (await h.ctx.keys.list(d))[0]!;
      h.publish(d, previous.selector, previous.publicKey, [h.ns1, h.ns2, h.ns3]);
      expect((await runActivate(h.ctx, d, previous.selector)).outcome).to.equal("activated");
      await h.advanceDays(330);
      await runPlan(h.ctx, { apply: true });
      const candidate = (await h.ctx.keys.list(d)).find((k) => k.selector !== previous.selector)!;
      // Served where the engine looks, not where SES looks.
      h.publish(d, candidate.selector, candidate.publicKey, [h.ns1, h.ns2]);
      h.sesDns = h.ns3;
      h.ctx.activation = { pollIntervalMs: 10 * MINUTE_MS, timeoutMs: 30 * MINUTE_MS };
      let failed: unknown;
      await runActivate(h.ctx, d, candidate.selector).catch((e) => (failed = e));
      expect(failed).to.be.instanceOf(ActivationFailedError);
      const rolled = h.emulator.published().filter((m) => eventOf(m) === "rolled-back");
      expect(rolled).to.have.length(1);
      expect(rolled[0]!.subject).to.equal(`[DKIM] ROLLED BACK: ${d} ${candidate.selector}`);
      expect(rolled[0]!.messageAttributes.audience?.StringValue).to.equal(
        '["approvers","dns-team","escalation"]',
      );
      expect(rolled[0]!.message).to.include(`rolled back to ${previous.selector}`);
      expect(rolled[0]!.message).to.include("Mail keeps signing with the key it went back to.");
      // A re-run of the same activation is refused (the key is abandoned) and sends nothing more.
      await runActivate(h.ctx, d, candidate.selector).catch(() => undefined);
      expect(h.emulator.published().filter((m) => eventOf(m) === "rolled-back")).to.have.length(1);
    });
  });

  describe("what is due, and the words", function () {
    const candidate = (notified: string[]): Candidate =>
      ({ key: { notified } as unknown as StoredKey, phase: "awaiting-publication" }) as Candidate;
    const publishBy = new Date("2027-02-01T00:00:00Z");
    const at = (days: number) => new Date(publishBy.getTime() - days * DAY_MS);

    it("merged first, then only the nearest reminder, overtaken ones recorded without a message", function () {
      // A PR merged before its own message went out: `merged` carries everything.
      expect(publicationEventsDue(candidate([]), publishBy, [7, 2], at(10))).to.deep.equal([
        { event: "merged", kind: "merged", skip: ["pr-opened"] },
      ]);
      expect(
        publicationEventsDue(candidate(["pr-opened"]), publishBy, [7, 2], at(10)),
      ).to.deep.equal([{ event: "merged", kind: "merged" }]);
      expect(publicationEventsDue(candidate(["merged"]), publishBy, [7, 2], at(6.5))).to.deep.equal(
        [{ event: "reminder-7", kind: "reminder", days: 7, skip: [] }],
      );
      // No run between day 7 and day 2: reminder-2 goes out, reminder-7 is recorded as passed.
      expect(publicationEventsDue(candidate(["merged"]), publishBy, [7, 2], at(1))).to.deep.equal([
        { event: "reminder-2", kind: "reminder", days: 2, skip: ["reminder-7"] },
      ]);
      expect(
        publicationEventsDue(
          candidate(["merged", "reminder-7", "reminder-2"]),
          publishBy,
          [7, 2],
          at(1),
        ),
      ).to.deep.equal([]);
      expect(
        publicationEventsDue(candidate(["merged"]), publishBy, [7, 2], at(-3.2)),
      ).to.deep.equal([{ event: "overdue", kind: "overdue", days: 3 }]);
      expect(
        publicationEventsDue(candidate(["merged", "overdue"]), publishBy, [7, 2], at(-9)),
      ).to.deep.equal([]);
    });

    it("writes one dig per server, with -p only off port 53", function () {
      expect(
        digCommands("s._domainkey.example.jp", [
          "ns1.example.jp",
          "127.0.0.1:5300",
          "[2001:db8::53]:53",
        ]),
      ).to.deep.equal([
        "dig +short TXT s._domainkey.example.jp @ns1.example.jp",
        "dig +short TXT s._domainkey.example.jp @127.0.0.1 -p 5300",
        "dig +short TXT s._domainkey.example.jp @2001:db8::53",
      ]);
    });

    it("keeps SNS subjects ASCII and under 100 characters, even for a 253-character domain", function () {
      const long = `${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.jp`;
      const facts = {
        event: "overdue",
        kind: "overdue",
        audience: ["dns-team", "escalation"],
        identity: { domain: long, regions: [REGION_A], recordTtl: 3600, graceDays: 7 },
        selector: "mail-20270101",
        recordName: `mail-20270101._domainkey.${long}`,
        publisher: "manual",
        now: new Date(),
        environment: "dkim-production",
      } as unknown as NoticeFacts;
      const { subject } = noticeText(facts);
      expect(subject.length).to.be.at.most(99);
      expect(subject).to.match(/^\[DKIM\] OVERDUE: mail-20270101 for a+.*\.\.\.$/);
      expect(subjectLine("日本 mail")).to.equal("?? mail");
    });

    it("links the pull request in the PR-opened message", function () {
      const { message } = noticeText({
        event: "pr-opened",
        kind: "pr-opened",
        audience: ["dns-team"],
        identity: { domain: "example.jp", regions: [REGION_A], recordTtl: 3600 },
        selector: "mail-20270101",
        recordName: "mail-20270101._domainkey.example.jp",
        publisher: "manual",
        now: new Date(),
        environment: "dkim-production",
        pullRequest: { number: 12, url: "https://github.com/example-jp/dkim/pull/12" },
        rotation: {
          joinedValue: "v=DKIM1; k=rsa; p=MIIB",
          publishBy: new Date("2027-01-15T00:00:00Z"),
          nameservers: ["ns1.example.jp"],
        },
      } as unknown as NoticeFacts);
      expect(message).to.include("Pull request: https://github.com/example-jp/dkim/pull/12");
      expect(message).to.include(`Publish by:  ${isoDate(new Date("2027-01-15T00:00:00Z"))}`);
      expect(message).to.include(
        "dig +short TXT mail-20270101._domainkey.example.jp @ns1.example.jp",
      );
    });
  });
});
