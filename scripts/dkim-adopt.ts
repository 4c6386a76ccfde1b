/**
 * `dkim adopt`: onboard a legacy BYODKIM key this repository did not make
 * (docs/operations.md, "Onboarding"). Its own module so the CLI's command
 * table stays one line per command.
 */
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Command } from "commander";
import type { ProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import { runAdopt } from "../actions/dkim-rotation/src/engine/adopt";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";
import type { EngineContext } from "../actions/dkim-rotation/src/engine/engine-context";
import { fileKeySource, ssmKeySource } from "../actions/dkim-rotation/src/adapters/legacy-key";

export interface AdoptEngine {
  ctx: EngineContext;
  config: ProjectConfig;
  close(): void;
  endpoint?: string;
  json: boolean;
}

export function registerAdopt(program: Command, engine: () => AdoptEngine): void {
  program
    .command("adopt")
    .description(
      "onboard a BYODKIM key SES already signs with (made outside this repository): checks every authoritative nameserver and every Region, stores it as the active key with the date you give, writes its record file",
    )
    .requiredOption("--domain <domain>", "identity")
    .requiredOption("--selector <selector>", "the selector SES signs with today")
    .requiredOption(
      "--activated-at <date>",
      "when the key started signing (YYYY-MM-DD); its age is counted from here",
    )
    .option("--key-file <path>", "the private key: PEM or base64, PKCS#1 or PKCS#8")
    .option("--ssm-parameter <name>", "an SSM Parameter Store SecureString holding the private key")
    .option("--dry-run", "check everything, write nothing", false)
    .action(
      async (o: {
        domain: string;
        selector: string;
        activatedAt: string;
        keyFile?: string;
        ssmParameter?: string;
        dryRun: boolean;
      }) => {
        if (!o.keyFile === !o.ssmParameter)
          throw new InputError({
            file: "argv",
            identity: o.domain,
            field: "--key-file / --ssm-parameter",
            problem: "give exactly one key source",
            hint: "--key-file legacy.pem, or --ssm-parameter /mail/dkim/private-key",
          });
        const e = engine();
        const ssm = o.ssmParameter
          ? new SSMClient({
              region: e.config.defaultRegion,
              ...(e.endpoint ? { endpoint: e.endpoint } : {}),
            })
          : undefined;
        try {
          const source = ssm
            ? ssmKeySource(ssm, o.ssmParameter!, o.domain)
            : fileKeySource(o.keyFile!, o.domain);
          const report = await runAdopt(e.ctx, {
            domain: o.domain,
            selector: o.selector,
            activatedAt: o.activatedAt,
            source,
            dryRun: o.dryRun,
          });
          process.stdout.write(
            `${e.json ? JSON.stringify(report, null, 2) : [report.message, ...report.steps.map((s) => `  ${s.acted ? "done" : "ok  "} ${s.step}: ${s.detail}`)].join("\n")}\n`,
          );
        } finally {
          ssm?.destroy();
          e.close();
        }
      },
    );
}
