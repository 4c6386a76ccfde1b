/**
 * The Mermaid gantt charts of the record PR body and the job summary: valid
 * in the grammar subset Mermaid's gantt parser takes (test/helpers/mermaid-gantt.ts),
 * with the dates of lifecycle rotationDates, and the progress of a rotation
 * at the summary's time (docs/design.md#rotation-dates).
 */
import { expect } from "chai";
import type { IdentityConfig } from "../actions/dkim-rotation/src/engine/config";
import { rotationDates } from "../actions/dkim-rotation/src/engine/lifecycle";
import { rotationGantt } from "../actions/dkim-rotation/src/gantt";
import { renderJobSummary } from "../actions/dkim-rotation/src/summary";
import { ganttBlocks, parseGantt } from "./helpers/mermaid-gantt";

const identity = { dnsLeadDays: 14, graceDays: 7 } as IdentityConfig;
const created = { createdAt: new Date("2026-11-22T00:17:00Z") };

function tasksOf(markdown: string) {
  const blocks = ganttBlocks(markdown);
  expect(blocks).to.have.length(1);
  const { problems, tasks } = parseGantt(blocks[0]!);
  expect(problems).to.deep.equal([]);
  return Object.fromEntries(tasks.map((t) => [t.id, t]));
}

describe("Mermaid gantt of a rotation", () => {
  it("plans record PR, publish-by, earliest activation, grace end and retirement from rotationDates", () => {
    const t = tasksOf(
      rotationGantt({
        domain: "mail.example.jp",
        selector: "mail-20261122",
        previousSelector: "mail-20251120",
        dates: rotationDates(identity, created),
      }),
    );
    expect(t.record).to.include({ start: "2026-11-22", end: "2026-12-06" });
    expect(t.publishby).to.include({ start: "2026-12-06", end: "0d" });
    expect(t.activation).to.include({ start: "2026-12-06", end: "0d" });
    expect(t.grace).to.include({ start: "2026-12-06", end: "2026-12-13" });
    expect(t.graceend).to.include({ start: "2026-12-13", end: "0d" });
    expect(t.retirement).to.include({ start: "2026-12-13", end: "2026-12-27" });
    expect(t.retirement!.name).to.include("mail-20251120");
    // A plan alone says nothing of progress.
    for (const task of Object.values(t)) expect(task.tags).to.not.include.members(["done"]);
  });

  it("shows progress in the job summary: done before its time, active at it, grace from the recorded activation", () => {
    const md = renderJobSummary({
      title: "verify",
      identities: [],
      rotations: [
        {
          domain: "mail.example.jp",
          selector: "mail-20261122",
          previousSelector: "mail-20251120",
          dates: rotationDates(identity, created, new Date("2026-12-08T04:56:00Z")),
          now: new Date("2026-12-10T12:00:00Z"),
        },
      ],
    });
    expect(md).to.include("### Rotation: mail.example.jp → mail-20261122");
    const t = tasksOf(md);
    expect(t.record!.tags).to.deep.equal(["done"]);
    expect(t.activation).to.include({ start: "2026-12-08", name: "Activated in SES" });
    expect(t.activation!.tags).to.deep.equal(["milestone", "done"]);
    expect(t.grace).to.include({ start: "2026-12-08", end: "2026-12-15" });
    expect(t.grace!.tags).to.deep.equal(["active"]);
    expect(t.retirement!.tags).to.deep.equal([]);
  });

  it("keeps names plain when a selector or domain holds what Mermaid reads as syntax", () => {
    const t = tasksOf(
      rotationGantt({
        domain: "a;b.example",
        selector: "x",
        previousSelector: "old:one#2 %% c",
        dates: rotationDates(identity, created),
      }),
    );
    expect(t.retirement!.name).to.include("old one 2 % c");
  });

  it("the grammar check refuses what breaks Mermaid's gantt parser", () => {
    const block = (task: string) =>
      ["```mermaid", "gantt", "    dateFormat YYYY-MM-DD", "    section S", task, "```"].join("\n");
    expect(parseGantt(block("    Fine :done, a, 2026-01-01, 2026-01-02")).problems).to.deep.equal(
      [],
    );
    for (const bad of [
      "    Has: colon :a, 2026-01-01, 2026-01-02",
      "    Has # hash :a, 2026-01-01, 2026-01-02",
      "    Has ; semicolon :a, 2026-01-01, 2026-01-02",
      "    section-like :a, 2026-02-30, 2026-03-01",
      "    title of it :a, 2026-01-01, 2026-01-02",
      "    Two ids :a b, 2026-01-01, 2026-01-02",
      "    Backwards :a, 2026-01-02, 2026-01-01",
      "    Milestone with end :milestone, a, 2026-01-01, 2026-01-02",
      "    Both :done, active, a, 2026-01-01, 2026-01-02",
      "    section With: colon\n    Fine :a, 2026-01-01, 2026-01-02",
    ])
      expect(parseGantt(block(bad)).problems, bad).to.not.deep.equal([]);
  });
});
