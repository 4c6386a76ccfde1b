/**
 * GitHub Actions `${{ }}` expressions, evaluated with GitHub's own evaluator
 * (@actions/expressions), for the tests and tools that run the shipped
 * workflow files' values rather than copies of them.
 */
import { Evaluator, Lexer, Parser, data } from "@actions/expressions";

type Contexts = Record<string, unknown>;

/** A job's status so far, for `success()`, `failure()`, `always()` and `cancelled()`. */
export type JobStatus = "success" | "failure" | "cancelled";

function statusFunctions(status: JobStatus) {
  const fn = (name: string, value: () => boolean) => ({
    name,
    minArgs: 0,
    maxArgs: 0,
    call: () => new data.BooleanData(value()),
  });
  return [
    fn("success", () => status === "success"),
    fn("failure", () => status === "failure"),
    fn("cancelled", () => status === "cancelled"),
    fn("always", () => true),
  ];
}

/** One expression (without `${{ }}`), as GitHub evaluates it. */
export function evaluateExpression(
  expression: string,
  contexts: Contexts,
  status: JobStatus = "success",
): unknown {
  const functions = statusFunctions(status);
  const lexed = new Lexer(expression).lex();
  const parsed = new Parser(lexed.tokens, Object.keys(contexts), functions).parse();
  const values = JSON.parse(JSON.stringify(contexts), data.reviver) as data.Dictionary;
  const byName = new Map(functions.map((f) => [f.name.toLowerCase(), f]));
  const result = new Evaluator(parsed, values, byName).evaluate();
  return JSON.parse(JSON.stringify(result, data.replacer) ?? "null") as unknown;
}

/** Truthiness of an expression's value, as `if:` uses it. */
export function truthy(value: unknown): boolean {
  if (Array.isArray(value) || (value !== null && typeof value === "object")) return true;
  return Boolean(value);
}

const WHOLE = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/;
const EMBEDDED = /\$\{\{([\s\S]*?)\}\}/g;

/** How the runner renders a value inside a string. */
export function coerceString(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * The value a workflow field takes: a field that is one expression keeps the
 * expression's type (a boolean stays a boolean); text with expressions inside
 * becomes a string, as the runner renders it. Unknown context names are
 * errors, as on GitHub.
 */
export function evaluateField(value: unknown, contexts: Contexts): unknown {
  if (typeof value !== "string") return value;
  const whole = WHOLE.exec(value);
  if (whole) return evaluateExpression(whole[1]!, contexts);
  return value.replace(EMBEDDED, (_, expr: string) =>
    coerceString(evaluateExpression(expr, contexts)),
  );
}

/** Every field of a `with:` (or `env:`) map, evaluated. */
export function evaluateMap(
  map: Record<string, unknown> | undefined,
  contexts: Contexts,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(map ?? {}).map(([k, v]) => [k, evaluateField(v, contexts)]),
  );
}
