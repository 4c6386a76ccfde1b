/**
 * The subset of Mermaid's gantt grammar the action emits, checked line by
 * line (no Mermaid parser is installed). From Mermaid's gantt grammar
 * (gantt.jison) and ganttDb: `title`/`section` text ends at `#`, `:` or `;`
 * (`#` starts a comment, `;` ends a statement); a task is `<name> :<data>`
 * with a name free of `:`, `#` and `;`, and data = tags (active, done, crit,
 * milestone), then id, start and end (a date in dateFormat, or a duration
 * such as `0d`); a name must not start with a keyword, or the line is read as
 * that statement. Returns the problems, one per line ([] when valid).
 */
const KEYWORDS =
  /^(title|section|dateFormat|axisFormat|tickInterval|todayMarker|excludes|includes|inclusiveEndDates|topAxis|weekday|weekend|displayMode|accTitle|accDescr|click)\b/;
const TAGS = new Set(["active", "done", "crit", "milestone"]);
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export interface GanttTask {
  name: string;
  tags: string[];
  id: string;
  start: string;
  end: string;
}

export function parseGantt(block: string): { problems: string[]; tasks: GanttTask[] } {
  const problems: string[] = [];
  const tasks: GanttTask[] = [];
  const lines = block.split("\n");
  if (lines[0] !== "```mermaid") problems.push(`line 1: ${lines[0]} is not \`\`\`mermaid`);
  if (lines[1] !== "gantt") problems.push(`line 2: ${lines[1]} is not gantt`);
  if (lines.at(-1) !== "```") problems.push(`last line: ${lines.at(-1)} is not \`\`\``);
  let dateFormat = false;
  let section = false;
  const ids = new Set<string>();
  const validDate = (d: string) =>
    DATE.test(d) && new Date(`${d}T00:00:00Z`).toISOString().slice(0, 10) === d;
  lines.slice(2, -1).forEach((raw, i) => {
    const n = i + 3;
    const line = raw.trim();
    const text = (what: string, t: string) => {
      if (!t || /[:#;]/.test(t) || t.includes("%%"))
        problems.push(`line ${n}: ${what} "${t}" is empty or holds : # ; or %%`);
    };
    if (!line) return;
    if (line.startsWith("title ")) return text("title", line.slice(6));
    if (line.startsWith("section ")) {
      section = true;
      return text("section", line.slice(8));
    }
    if (line.startsWith("dateFormat ")) {
      if (line !== "dateFormat YYYY-MM-DD") problems.push(`line ${n}: unexpected ${line}`);
      dateFormat = true;
      return;
    }
    if (line.startsWith("axisFormat ")) {
      if (!/^axisFormat [%\w\- ]+$/.test(line)) problems.push(`line ${n}: unexpected ${line}`);
      return;
    }
    const m = /^([^:]*?) :(.*)$/.exec(line);
    if (!m) return problems.push(`line ${n}: "${line}" is no statement of the subset`);
    const [, name, data] = m as unknown as [string, string, string];
    text("task name", name);
    if (KEYWORDS.test(name)) problems.push(`line ${n}: task name "${name}" starts with a keyword`);
    if (!dateFormat) problems.push(`line ${n}: task before dateFormat`);
    if (!section) problems.push(`line ${n}: task outside a section`);
    const parts = data.split(",").map((p) => p.trim());
    const tags: string[] = [];
    while (parts.length && TAGS.has(parts[0]!)) tags.push(parts.shift()!);
    if (parts.length !== 3)
      return problems.push(`line ${n}: task data "${data}" is not [tags,] id, start, end`);
    const [id, start, end] = parts as [string, string, string];
    if (!/^[A-Za-z][\w-]*$/.test(id)) problems.push(`line ${n}: id "${id}" is not a plain word`);
    if (ids.has(id)) problems.push(`line ${n}: id "${id}" used twice`);
    ids.add(id);
    if (!validDate(start)) problems.push(`line ${n}: start "${start}" is not a YYYY-MM-DD date`);
    if (tags.includes("milestone") ? end !== "0d" : !validDate(end) || end < start)
      problems.push(`line ${n}: end "${end}" is not a date from the start (or 0d for a milestone)`);
    if (tags.includes("done") && tags.includes("active"))
      problems.push(`line ${n}: a task is done or active, not both`);
    tasks.push({ name, tags, id, start, end });
  });
  if (!tasks.length) problems.push("no task");
  return { problems, tasks };
}

/** Every ```mermaid block in a Markdown text that is a gantt chart. */
export function ganttBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```mermaid\ngantt\n[\s\S]*?^```$/gm)].map((m) => m[0]);
}
