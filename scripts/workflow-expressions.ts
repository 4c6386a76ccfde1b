/**
 * GitHub Actions `${{ }}` expressions, evaluated with GitHub's own evaluator
 * (@actions/expressions), for the tests and tools that run the shipped
 * workflow files' values rather than copies of them.
 */
import { Evaluator, Lexer, Parser, data } from "@actions/expressions";

type Contexts = Record<string, unknown>;

function evaluateOne(expression: string, contexts: Contexts): data.ExpressionData {
  const lexed = new Lexer(expression).lex();
  const parsed = new Parser(lexed.tokens, Object.keys(contexts), []).parse();
  const values = JSON.parse(JSON.stringify(contexts), data.reviver) as data.Dictionary;
  return new Evaluator(parsed, values).evaluate();
}

const WHOLE = /^\s*\$\{\{([\s\S]*?)\}\}\s*$/;
const EMBEDDED = /\$\{\{([\s\S]*?)\}\}/g;

/**
 * The value a workflow field takes: a field that is one expression keeps the
 * expression's type (a boolean stays a boolean); text with expressions inside
 * becomes a string, as the runner renders it. Unknown context names are
 * errors, as on GitHub.
 */
export function evaluateField(value: unknown, contexts: Contexts): unknown {
  if (typeof value !== "string") return value;
  const whole = WHOLE.exec(value);
  if (whole) return toPlain(evaluateOne(whole[1]!, contexts));
  return value.replace(EMBEDDED, (_, expr: string) => evaluateOne(expr, contexts).coerceString());
}

function toPlain(d: data.ExpressionData): unknown {
  return JSON.parse(JSON.stringify(d, data.replacer)) as unknown;
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
