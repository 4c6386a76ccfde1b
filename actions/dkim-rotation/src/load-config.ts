/**
 * Reading the stack file from disk: the one piece of configuration I/O. The
 * engine validates the text (`parseStackFile`, engine/config.ts); this module
 * turns a missing or unreadable file into the same one-line error.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  DEFAULT_CONFIG_FILE,
  parseStackFile,
  projectNameFrom,
  type ProjectConfig,
  type StackFileOptions,
} from "./engine/config";
import { InputError } from "./engine/errors";

/** Load and validate a Pulumi stack file. Throws `InputError` on any problem. */
export function loadConfig(
  file: string = DEFAULT_CONFIG_FILE,
  project?: string,
  opts: StackFileOptions = {},
): ProjectConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError({
      file,
      field: "(file)",
      problem:
        code === "ENOENT"
          ? "does not exist"
          : code === "EISDIR"
            ? "is a directory, not a stack file"
            : `cannot be read (${code ?? "error"})`,
      hint: opts.fileHint ?? "pass --config FILE, or run from the repository root",
    });
  }
  return parseStackFile(text, file, project ?? projectNameFor(file), opts);
}

/** The project name from the `Pulumi.yaml` beside the stack file (none: the default). */
function projectNameFor(file: string): string {
  const pulumiYaml = join(dirname(file), "Pulumi.yaml");
  return projectNameFrom(() => {
    try {
      return readFileSync(pulumiYaml, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }, pulumiYaml);
}
