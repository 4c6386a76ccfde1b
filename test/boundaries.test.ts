/**
 * The layer boundaries in eslint.config.js can fail: each forbidden import is
 * linted as if it stood in the file it must not stand in, with the real
 * config (docs/design.md#boundaries).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { ESLint } from "eslint";

const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const ENGINE = "actions/dkim-rotation/src/engine";

describe("layer boundaries (eslint no-restricted-imports)", function () {
  this.timeout(60_000);
  const eslint = new ESLint({ cwd: ROOT });

  async function restricted(file: string, specifier: string): Promise<boolean> {
    const code = `import * as m from "${specifier}";\nexport const used = m;\n`;
    const [result] = await eslint.lintText(code, { filePath: join(ROOT, file) });
    return result!.messages.some((m) => m.ruleId === "no-restricted-imports");
  }

  const cases: [file: string, specifier: string, forbidden: boolean][] = [
    [`${ENGINE}/planner.ts`, "node:fs", true],
    [`${ENGINE}/planner.ts`, "fs", true],
    [`${ENGINE}/planner.ts`, "node:net", true],
    [`${ENGINE}/planner.ts`, "node:dgram", true],
    [`${ENGINE}/planner.ts`, "node:http", true],
    [`${ENGINE}/planner.ts`, "dns", true],
    [`${ENGINE}/planner.ts`, "../adapters/ses", true],
    [`${ENGINE}/planner.ts`, "../main", true],
    [`${ENGINE}/planner.ts`, "@aws-sdk/client-sesv2", true],
    [`${ENGINE}/planner.ts`, "@octokit/rest", true],
    [`${ENGINE}/planner.ts`, "./clock", false],
    [`${ENGINE}/planner.ts`, "node:crypto", false],
    [`${ENGINE}/planner.ts`, "zod", false],
    // No engine file is excepted: the stack file and the record checkout are read by adapters.
    [`${ENGINE}/config.ts`, "node:fs", true],
    [`${ENGINE}/records.ts`, "node:child_process", true],
    [`${ENGINE}/records.ts`, "../adapters/dns", true],
    [`${ENGINE}/activate.ts`, "../format", true],
    ["infra/estate.ts", "../actions/dkim-rotation/src/engine/config", false],
    ["infra/estate.ts", "../actions/dkim-rotation/src/engine/planner", true],
    ["infra/estate.ts", "../actions/dkim-rotation/src/adapters/ses", true],
    ["infra/estate.ts", "../actions/dkim-rotation/src/engine/metrics", true],
    ["infra/components/monitoring.ts", "../../actions/dkim-rotation/src/engine/metrics", true],
    ["infra/components/monitoring.ts", "../../actions/dkim-rotation/src/engine/config", false],
    [
      "infra/components/policies.ts",
      "../../actions/dkim-rotation/src/engine/key-store-schema",
      true,
    ],
    ["infra/config.ts", "../actions/dkim-rotation/src/engine/errors", true],
    ["scripts/dkim.ts", "node:fs", false],
    ["test/planner.test.ts", "../actions/dkim-rotation/src/adapters/ses", false],
  ];
  for (const [file, specifier, forbidden] of cases) {
    it(`${file}: ${specifier} is ${forbidden ? "refused" : "allowed"}`, async () => {
      expect(await restricted(file, specifier)).to.equal(forbidden);
    });
  }
});
