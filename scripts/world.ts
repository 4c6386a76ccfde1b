/**
 * `npm run world`: a served local world to try every CLI command against,
 * on the real clock, until Ctrl-C (docs/design.md#served-world). It starts,
 * on loopback, the AWS emulator, two authoritative nameservers and the
 * GitHub fake (scripts/local-world.ts), with one identity, `news.example`,
 * signing with Easy DKIM as a new adopter's would. It writes:
 *
 * - `<dir>/repo/`: the adopting repository (a git checkout) with its stack
 *   file `Pulumi.prod.yaml`, which the CLI takes as it is (SES paced at the
 *   real 1 request/s);
 * - `<dir>/world.env`: `export` lines for the CLI (endpoint, credentials,
 *   stack file, checkout, GitHub token and API) and the nameservers;
 * - `<dir>/world.json`: what `publish` needs (the DNS team's hosted zones).
 *
 * `npm run world -- publish <record file>` is the DNS team's part: it puts
 * a merged record file into the domain's zone through the emulator's
 * Route 53 (the action's `Route53Publisher`), and the world's nameservers
 * serve it once the change is in sync.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { Route53Client } from "@aws-sdk/client-route-53";
import { Command } from "commander";
import { gatedEnvironmentOf } from "../actions/dkim-rotation/src/engine/config";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";
import {
  dkimRecordValue,
  parseRecordFile,
  splitTxt,
} from "../actions/dkim-rotation/src/engine/record";
import { Route53Publisher } from "../actions/dkim-rotation/src/adapters/route53";
import { PIPELINE_WORKFLOWS } from "../actions/dkim-rotation/src/doctor";
import { startLocalWorld, type LocalWorld } from "./local-world";
import { mailDomainZone } from "./sandbox/dns-server";
import { dkimOfRecordSets } from "./sandbox/publishers";
import {
  renderWorldStack,
  SANDBOX_CONFIG_FILE,
  SANDBOX_CREDENTIALS,
  SANDBOX_OWNER,
  SANDBOX_REPO,
  SANDBOX_VARS,
  SandboxRepository,
  WORLD_GITHUB_IDS,
  createEasyDkimIdentity,
  sandboxFiles,
  worldConfig,
} from "./sandbox/world";

export const WORLD_MARKER = ".local-world";
export const WORLD_ENV = "world.env";
const WORLD_STATE = "world.json";
/** The token the world's GitHub fake accepts (any well-formed token; this one says what it is). */
const WORLD_GITHUB_TOKEN = "ghs_localWorldToken0123456789abcdefABCD";
/** Route 53 propagation in the world: seconds, not AWS's "within 60 seconds", so the tour is short. */
const ROUTE53_PROPAGATION_MS = 2_000;
const REVIEWER = "approver";

export interface ServedWorld {
  dir: string;
  repoDir: string;
  stackFile: string;
  envFile: string;
  nameservers: string[];
  emulatorUrl: string;
  githubUrl: string;
  /** The lines that use it: source the environment, then run the CLI. */
  usage: string[];
  close(): Promise<void>;
}

interface WorldState {
  hostedZones: Record<string, string>;
}

/** Why `dir` cannot hold a world, or undefined (new, empty, or an earlier world's). */
export function worldDirProblem(dir: string): string | undefined {
  const path = resolve(dir);
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return undefined;
  if (!stat.isDirectory()) return `${path} is a file, not a folder`;
  if (readdirSync(path).length && !existsSync(join(path, WORLD_MARKER)))
    return `${path} is not empty and holds no earlier world (no ${WORLD_MARKER}); the world empties its folder first`;
  return undefined;
}

export async function serveWorld(options: { dir: string }): Promise<ServedWorld> {
  const dir = resolve(options.dir);
  const problem = worldDirProblem(dir);
  if (problem)
    throw new InputError({
      file: "argv",
      field: "--dir",
      problem,
      hint: "choose a new or empty folder",
    });
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, WORLD_MARKER), "created by npm run world; safe to delete\n");

  /** Reached by the Route 53 hook once the world is up. */
  const late: { world?: LocalWorld } = {};
  const cnames = new Map<string, { token: string; target: string }[]>();
  const serials = new Map<string, number>();
  /** Serve a domain's zone on every nameserver: its DKIM TXT records and Easy DKIM CNAMEs. */
  const serve = (domain: string, dkim: ReadonlyMap<string, string>) => {
    const serial = (serials.get(domain) ?? 2026010100) + 1;
    serials.set(domain, serial);
    for (const server of late.world!.servers)
      server.setZone(
        domain,
        mailDomainZone(domain, {
          serial,
          dkim,
          easyDkimCnames: cnames.get(domain),
          nameserverAddress: "127.0.0.1",
        }),
      );
  };
  const world = await startLocalWorld({
    emulator: {
      // SES checks DNS 6 s after a swap (AWS: minutes), so `activate` returns within a minute.
      dkim: { firstCheckMinutes: 0.1, recheckMinutes: 0.25 },
      route53: { propagationMs: ROUTE53_PROPAGATION_MS },
      // The DNS team's zones live in Route 53: a change in sync is what ns1 and ns2 serve.
      onRoute53Sync: (zoneName, sets) => {
        const domain = zoneName.replace(/\.$/, "");
        serve(domain, dkimOfRecordSets(domain, sets));
      },
    },
  });
  late.world = world;
  try {
    const emulator = world.emulator!;
    const repoDir = join(dir, "repo");
    const stackFile = join(repoDir, SANDBOX_CONFIG_FILE);
    const config = worldConfig(stackFile, world.addresses);
    const files = {
      ...sandboxFiles(world.addresses),
      [SANDBOX_CONFIG_FILE]: renderWorldStack(world.addresses),
    };
    const repository = new SandboxRepository(repoDir, "dns");
    repository.init(files, Date.now());

    // Each identity as a new adopter's: SES signs with Easy DKIM, its CNAMEs published.
    const state: WorldState = { hostedZones: {} };
    for (const identity of config.identities) {
      const domain = identity.domain;
      const clients: SESv2Client[] = [];
      try {
        const client = (region: string) => {
          const c = new SESv2Client({
            region,
            endpoint: emulator.url,
            credentials: SANDBOX_CREDENTIALS,
          });
          clients.push(c);
          return c;
        };
        cnames.set(domain, await createEasyDkimIdentity(emulator, identity, client));
      } finally {
        for (const c of clients) c.destroy();
      }
      serve(domain, new Map());
      state.hostedZones[domain] = emulator.createHostedZone(domain);
    }
    // Up once SES has verified the CNAMEs: an adopter's identity already signs.
    const deadline = Date.now() + 60_000;
    for (const identity of config.identities)
      for (const region of identity.regions)
        while (emulator.ses.identity(region, identity.domain)?.status !== "SUCCESS") {
          if (Date.now() > deadline)
            throw new Error(
              `${identity.domain}: SES did not verify Easy DKIM in ${region} within 60 s`,
            );
          await new Promise((r) => setTimeout(r, 250));
          await emulator.advance();
        }
    writeFileSync(join(dir, WORLD_STATE), `${JSON.stringify(state, null, 2)}\n`);

    // GitHub as docs/adopting.md leaves it: the gated environment, the
    // variables, the shipped callers on main and the documented rulesets.
    const github = await world.startGitHub({
      owner: SANDBOX_OWNER,
      repo: SANDBOX_REPO,
      files,
      ...WORLD_GITHUB_IDS,
    });
    github.actions.setEnvironment(gatedEnvironmentOf(config), {
      reviewers: [{ type: "User", id: 501, login: REVIEWER }],
      preventSelfReview: true,
      branchPatterns: ["main"],
    });
    for (const [name, value] of Object.entries(SANDBOX_VARS))
      github.actions.variables.set(name, value);
    for (const path of PIPELINE_WORKFLOWS) github.actions.addWorkflow(path, path);
    github.protectAsDocumented();

    const envFile = join(dir, WORLD_ENV);
    writeFileSync(
      envFile,
      [
        "# Written by `npm run world`: the local world's addresses, for the CLI (`source` this file).",
        `export AWS_ENDPOINT_URL=${emulator.url}`,
        `export AWS_ACCESS_KEY_ID=${SANDBOX_CREDENTIALS.accessKeyId}`,
        `export AWS_SECRET_ACCESS_KEY=${SANDBOX_CREDENTIALS.secretAccessKey}`,
        `export DKIM_CONFIG=${stackFile}`,
        `export DKIM_REPO=${repoDir}`,
        `export GITHUB_TOKEN=${WORLD_GITHUB_TOKEN}`,
        `export GITHUB_API_URL=${github.url}`,
        `export DKIM_WORLD=${dir}`,
        `export DKIM_WORLD_NAMESERVERS="${world.addresses.join(" ")}"`,
        "",
      ].join("\n"),
    );
    return {
      dir,
      repoDir,
      stackFile,
      envFile,
      nameservers: world.addresses,
      emulatorUrl: emulator.url,
      githubUrl: github.url,
      usage: [`source ${envFile}`, "npx dkim doctor", "npx dkim status"],
      close: () => world.close(),
    };
  } catch (err) {
    await world.close();
    throw err;
  }
}

/**
 * The DNS team's part: put the record file's TXT record into its domain's
 * zone (the world's Route 53, through the action's `Route53Publisher`, one
 * CREATE, then INSYNC), from which ns1 and ns2 serve it.
 */
export async function publishRecordFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const path = resolve(file);
  const argv = (problem: string, hint: string) =>
    new InputError({ file: path, field: "record file", problem, hint });
  const worldDir = env.DKIM_WORLD;
  const endpoint = env.AWS_ENDPOINT_URL;
  if (!worldDir || !endpoint || !existsSync(join(worldDir, WORLD_STATE)))
    throw new InputError({
      file: "environment",
      field: "DKIM_WORLD",
      problem: "no served world in this shell",
      hint: "start `npm run world`, then `source` the world.env it names",
    });
  if (!existsSync(path)) throw argv("does not exist", "name a record file under $DKIM_REPO/dns/");
  const selector = basename(path, ".zone");
  const domain = basename(dirname(path));
  const record = parseRecordFile(readFileSync(path, "utf8"), path);
  const state = JSON.parse(readFileSync(join(worldDir, WORLD_STATE), "utf8")) as WorldState;
  const zoneId = state.hostedZones[domain];
  if (!zoneId)
    throw new InputError({
      file: path,
      identity: domain,
      field: "domain (the record file's folder)",
      problem: "is not a domain the world serves",
      hint: `the world serves ${Object.keys(state.hostedZones).join(", ")}`,
    });
  const client = new Route53Client({ region: "us-east-1", endpoint });
  try {
    const publisher = new Route53Publisher(client, zoneId, {
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      pollMs: 500,
    });
    const { detail } = await publisher.publish({
      domain,
      selector,
      strings: splitTxt(dkimRecordValue(record.tags.get("p")!)),
      ttl: 3600,
    });
    return `${domain}: the DNS team published ${selector}._domainkey.${domain} (${detail}); ns1 and ns2 serve it`;
  } finally {
    client.destroy();
  }
}

function program(): Command {
  const p = new Command()
    .name("npm run world --")
    .description(
      "a local world to try the CLI against: AWS emulator, two nameservers, GitHub fake, up until Ctrl-C",
    );
  p.command("serve", { isDefault: true })
    .description("start the world, write its stack file and world.env, and stay up until Ctrl-C")
    .option(
      "--dir <dir>",
      "where the repository, stack file and world.env go (emptied first)",
      "local-world",
    )
    .action(async (o: { dir: string }) => {
      const world = await serveWorld({ dir: o.dir });
      const stop = async (signal: string) => {
        process.stderr.write(`\n${signal}: stopping the local world\n`);
        await world.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop("SIGINT"));
      process.once("SIGTERM", () => void stop("SIGTERM"));
      process.stdout.write(
        [
          `Local world up (Ctrl-C stops it): AWS emulator ${world.emulatorUrl}, nameservers ${world.nameservers.join(" ")}, GitHub fake ${world.githubUrl}`,
          `Stack file ${world.stackFile}; in another terminal, in this checkout:`,
          ...world.usage.map((l) => `  ${l}`),
          "",
        ].join("\n"),
      );
    });
  p.command("publish")
    .description(
      "the DNS team's part: serve a merged record file on the world's nameservers (through its Route 53)",
    )
    .argument("<record-file>", "e.g. $DKIM_REPO/dns/news.example/news-20270104.zone")
    .action(async (file: string) => {
      process.stdout.write(`${await publishRecordFile(file)}\n`);
    });
  return p;
}

const invokedDirectly =
  process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  program()
    .parseAsync(process.argv)
    .catch((err: Error) => {
      process.stderr.write(`${err instanceof InputError ? err.message : err.stack}\n`);
      process.exitCode = err instanceof InputError ? 2 : 1;
    });
}
