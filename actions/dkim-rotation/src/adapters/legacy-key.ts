/**
 * Where `adopt` reads a legacy private key from: a file the operator holds, or
 * an SSM Parameter Store SecureString (where the seed documents' production
 * key lives). Read once, with the operator's own credentials; the value goes
 * straight to the engine's `onSecret` and is never logged.
 */
import { readFileSync, statSync } from "node:fs";
import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { InputError } from "../engine/errors";
import type { LegacyKeySource } from "../engine/adopt";

/** A generous bound: a 2048-bit PEM is ~1.7 kB; anything this big is not a key. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export function fileKeySource(path: string, domain: string): LegacyKeySource {
  const label = `key file ${path}`;
  const bad = (problem: string): never => {
    throw new InputError({ file: path, identity: domain, field: "--key-file", problem });
  };
  return {
    label,
    async read() {
      let size: number;
      try {
        size = statSync(path).size;
      } catch (err) {
        return bad(`cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
      if (size > MAX_KEY_FILE_BYTES) bad(`is ${size} bytes; a DKIM private key is a few kB`);
      return readFileSync(path, "utf8");
    },
  };
}

export function ssmKeySource(client: SSMClient, name: string, domain: string): LegacyKeySource {
  const label = `SSM parameter ${name}`;
  const bad = (problem: string, hint?: string): never => {
    throw new InputError({
      file: `ssm:${name}`,
      identity: domain,
      field: "--ssm-parameter",
      problem,
      ...(hint ? { hint } : {}),
    });
  };
  return {
    label,
    async read() {
      let out;
      try {
        out = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      } catch (err) {
        const e = err as Error;
        if (e.name === "ParameterNotFound")
          return bad("does not exist", "check the name and the Region (the stack's home Region)");
        if (e.name === "ParameterVersionNotFound") return bad("has no such version");
        throw err;
      }
      const p = out.Parameter;
      if (!p?.Value) return bad("has no value");
      if (p.Type !== "SecureString")
        bad(
          `is a ${p.Type} parameter, not a SecureString: the key was stored in plaintext`,
          "move it to a SecureString (KMS-encrypted) first",
        );
      return p.Value;
    },
  };
}
