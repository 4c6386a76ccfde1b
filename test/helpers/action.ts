/**
 * Run the action's `execute()` in-process against a test world, with the
 * outputs it writes to GITHUB_OUTPUT parsed and its log captured.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execute, type RunEnvironment } from "../../actions/dkim-rotation/src/main";
import type { ActionInputs } from "../../actions/dkim-rotation/src/inputs";
import type { World } from "./world";

/** Shaped like an installation token; the fake accepts any. */
export const TEST_TOKEN = "ghs_actionHelperTestToken0000000000000000";

/** Run the action in-process; returns its outputs (GITHUB_OUTPUT) and what it printed. */
export async function action(
  world: World,
  inputs: Partial<ActionInputs> & { command: ActionInputs["command"] },
  env: Partial<RunEnvironment>,
): Promise<{ outputs: Record<string, string>; log: string; error?: string }> {
  const dir = mkdtempSync(join(tmpdir(), "dkim-approvals-"));
  const outFile = join(dir, "output");
  writeFileSync(outFile, "");
  const saved = process.env.GITHUB_OUTPUT;
  process.env.GITHUB_OUTPUT = outFile;
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((c: string | Uint8Array) => {
    chunks.push(String(c));
    return true;
  }) as typeof process.stdout.write;
  let error: string | undefined;
  try {
    await execute(
      {
        config: world.configFile,
        dryRun: false,
        githubToken: TEST_TOKEN,
        awsEndpoint: world.emulator.url,
        recordFolder: "dns",
        ...inputs,
      },
      {
        workspace: world.workspace,
        repository: world.repository,
        apiUrl: world.github.url,
        githubPacing: { retryAfterBaseMs: 5, writeIntervalMs: 0 },
        clock: {
          now: () => world.clock.now(),
          sleep: async (ms: number) => {
            world.clock.advance(ms);
            await world.emulator.advance();
          },
        },
        ...env,
      },
    );
  } catch (err) {
    error = (err as Error).message;
  } finally {
    process.stdout.write = write;
    if (saved === undefined) delete process.env.GITHUB_OUTPUT;
    else process.env.GITHUB_OUTPUT = saved;
  }
  const outputs: Record<string, string> = {};
  const re = /^([^\n<]+)<<(ghadelimiter_[0-9a-f-]+)\n([\s\S]*?)\n\2$/gm;
  for (const m of readFileSync(outFile, "utf8").matchAll(re)) outputs[m[1]!] = m[3]!;
  rmSync(dir, { recursive: true, force: true });
  return { outputs, log: chunks.join(""), error };
}
