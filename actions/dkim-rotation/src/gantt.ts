/**
 * A rotation's plan and progress as a Mermaid gantt chart, which GitHub
 * renders in Markdown: the record PR, the publish-by date, the earliest
 * activation, the grace period and the retirement. The dates are lifecycle
 * `rotationDates` (docs/design.md#rotation-dates), the ones the engine acts on.
 *
 * Mermaid's gantt grammar reads `:` as the start of a task's data and `#`
 * and `;` as a comment and a statement end, so names carry none of them
 * (`ganttText`); ids are plain words; dates are `YYYY-MM-DD`.
 */
import type { RotationDates } from "./engine/lifecycle";

export interface RotationGanttInput {
  domain: string;
  selector: string;
  /** The selector SES signs with until the activation; kept for the grace period. */
  previousSelector?: string;
  dates: RotationDates;
  /** With a time, tasks before it are `done` and the one it falls in `active` (progress). */
  now?: Date;
}

/** Words Mermaid takes as plain text in a title, section or task name. */
export function ganttText(s: string): string {
  return s.replace(/[:;#]/g, " ").replace(/%%/g, "% ").replace(/\s+/g, " ").trim();
}

const day = (d: Date) => d.toISOString().slice(0, 10);

interface Task {
  name: string;
  id: string;
  start: Date;
  /** Absent: a milestone. */
  end?: Date;
}

function taskLine(t: Task, now?: Date): string {
  const end = t.end ?? t.start;
  const tags = [
    ...(t.end ? [] : ["milestone"]),
    ...(now && end.getTime() <= now.getTime()
      ? ["done"]
      : now && t.start.getTime() <= now.getTime()
        ? ["active"]
        : []),
  ];
  const span = t.end ? day(t.end) : "0d";
  return `    ${ganttText(t.name)} :${[...tags, t.id, day(t.start), span].join(", ")}`;
}

/** The ```mermaid fenced gantt block for one rotation. */
export function rotationGantt(input: RotationGanttInput): string {
  const d = input.dates;
  const old = input.previousSelector ? `old selector ${input.previousSelector}` : "the old key";
  const activation = d.activatedAt ?? d.earliestActivation;
  const sections: [string, Task[]][] = [
    [
      "DNS team",
      [
        {
          name: `Record PR for ${input.selector}, review and publication`,
          id: "record",
          start: d.generatedAt,
          end: d.publishBy,
        },
        { name: "Publish-by date", id: "publishby", start: d.publishBy },
      ],
    ],
    [
      "Approvers",
      [
        d.activatedAt
          ? { name: `Activated in SES`, id: "activation", start: d.activatedAt }
          : {
              name: "Earliest activation, once DNS is verified",
              id: "activation",
              start: d.earliestActivation,
            },
      ],
    ],
    [
      "Grace and retirement",
      [
        {
          name: `Grace, ${old} kept for rollback`,
          id: "grace",
          start: activation,
          end: d.retireOldAfter,
        },
        { name: "Grace end", id: "graceend", start: d.retireOldAfter },
        {
          name: `Retirement, removal PR and DNS removal of ${old}`,
          id: "retirement",
          start: d.retireOldAfter,
          end: d.retiredBy,
        },
      ],
    ],
  ];
  return [
    "```mermaid",
    "gantt",
    `    title ${ganttText(`DKIM rotation of ${input.domain} to ${input.selector}`)}`,
    "    dateFormat YYYY-MM-DD",
    "    axisFormat %Y-%m-%d",
    ...sections.flatMap(([name, tasks]) => [
      `    section ${ganttText(name)}`,
      ...tasks.map((t) => taskLine(t, input.now)),
    ]),
    "```",
  ].join("\n");
}
