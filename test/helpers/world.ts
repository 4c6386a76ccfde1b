/**
 * A complete, disposable world for end-to-end tests of the action and the CLI:
 *
 * - the AWS emulator (SES v2, Secrets Manager, CloudWatch) on loopback, on a
 *   clock the test controls;
 * - two authoritative DNS servers on loopback (`ns1`, `ns2`), each serving a
 *   zone per identity, so a record can be published on one server and not yet
 *   on the other, as when the on-premises DNS team rolls a change out;
 * - the GitHub REST fake, whose `main` holds the same stack file and
 *   CODEOWNERS as the checkout;
 * - a temporary checkout (`workspace`) with `Pulumi.e2e.yaml`, `Pulumi.yaml`,
 *   `.github/CODEOWNERS` and `dns/`; each identity's `nameservers` point at
 *   the two loopback servers, so the DNS verifier asks them directly.
 *
 * Nothing here stubs the code under test: the action talks to these servers
 * over real sockets with its real adapters.
 *
 * Usage:
 *   const world = await startWorld();
 *   await world.createEasyDkimIdentity("mail.example.jp");
 *   ... run the action with world.workspace / world.runEnvironment() ...
 *   world.syncFromMain();                       // after world.github.merge(n)
 *   world.publish("mail.example.jp", selector, publicKey);
 *   await world.close();
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { stringify } from "yaml";
import { dkimRecordValue } from "../../actions/dkim-rotation/src/engine/record";
import { easyDkimCnames, withTargets } from "../../actions/dkim-rotation/src/engine/easy-dkim";
import {
  type AwsEmulator,
  type DkimTimings,
  type EmulatorClock,
} from "../../scripts/sandbox/aws-emulator";
import { mailDomainZone, type DnsServer, type ZoneModel } from "../../scripts/sandbox/dns-server";
import { fetchIdToken, type GitHubFake, type GitHubFakeOptions } from "../../scripts/github-fake";
import { startLocalWorld } from "../../scripts/local-world";

/** The stack file the world writes, relative to the workspace (the action's `config` input). */
export const WORLD_CONFIG_FILE = "Pulumi.e2e.yaml";

/** CODEOWNERS of the world's repository: the DNS team owns `dns/` (it is asked to review record PRs). */
export const WORLD_CODEOWNERS = [
  "*       @example-jp/mail-platform",
  "/dns/   @example-jp/dns-team",
  "",
].join("\n");

/** Credentials the emulator accepts (it checks only that requests are SigV4-shaped). */
export const EMULATOR_CREDENTIALS = {
  accessKeyId: "AKIAWORLDEXAMPLE0000",
  secretAccessKey: "world-emulator-secret",
};

export interface WorldIdentity {
  domain: string;
  selectorPrefix: string;
  /** Default: the world's home Region only. */
  regions?: string[];
  keyBits?: 1024 | 2048;
}

export interface WorldOptions {
  /** Default: one identity, `mail.example.jp` with prefix `mail`. */
  identities?: WorldIdentity[];
  /** Home Region (`aws:region`). Default `ap-northeast-1`. */
  region?: string;
  /** `owner/repo` of the GitHub fake. Default `example-jp/dkim-test`. */
  repository?: string;
  /**
   * SES control-plane pacing, written to the stack file and enforced by the
   * emulator. AWS allows 1 request/s and it cannot be raised; tests run
   * faster, with both sides agreeing so no request is throttled. Default 50.
   */
  sesRequestsPerSecond?: number;
  /**
   * The emulator's DKIM check schedule (simulated time). Default: the first
   * check runs at once after a key swap (`firstCheckMinutes: 0`), so an
   * activation's first SES poll already sees the verdict on the record the
   * DNS servers serve; the rest are SES-like defaults.
   */
  dkim?: Partial<DkimTimings>;
  /** The stack file's name in the checkout. Default `Pulumi.e2e.yaml`; the shipped workflows read `Pulumi.prod.yaml`. */
  configFile?: string;
  /** GitHub fake options (e.g. how a waiting job sits in its concurrency group). */
  github?: Pick<GitHubFakeOptions, "waitingHolds" | "immutableSubjects">;
}

/**
 * The emulator's clock: real time plus an offset the test moves, so SES's
 * schedule can jump forward (72 h to FAILED) while the action, which uses the
 * system clock, still sees time pass normally.
 */
export interface WorldClock extends EmulatorClock {
  now(): Date;
  /** Move the emulator's time forward by `ms` (then call `emulator.advance()`). */
  advance(ms: number): void;
}

/** One of the two loopback authoritative servers. */
export interface WorldNameserver {
  server: DnsServer;
  /** `127.0.0.1:<port>`, as written to the identities' `nameservers`. */
  address: string;
}

export interface World {
  /** The checkout: `GITHUB_WORKSPACE` for the action. */
  readonly workspace: string;
  /** Stack file path relative to `workspace` (the `config` input). */
  readonly configFile: string;
  readonly repository: string;
  readonly region: string;
  readonly identities: Required<WorldIdentity>[];
  readonly emulator: AwsEmulator;
  readonly clock: WorldClock;
  readonly ns1: WorldNameserver;
  readonly ns2: WorldNameserver;
  readonly github: GitHubFake;
  /** An SES client on the emulator, for setting up identities the way an operator would. */
  readonly ses: SESv2Client;
  /**
   * The `env` argument for the action's `run()` / `execute()`: a job the GitHub
   * fake runs in the approved `dkim-production` environment (the approval gate
   * passes), with GitHub's pacing scaled down.
   */
  runEnvironment(command?: "activate" | "rollback" | "retire" | string): {
    workspace: string;
    repository: string;
    apiUrl: string;
    runId: string;
    idToken: (audience: string) => Promise<string>;
    githubPacing: { retryAfterBaseMs: number; writeIntervalMs: number };
  };
  /** Create a domain identity on Easy DKIM (SES's default), as the Pulumi estate does. */
  createEasyDkimIdentity(domain: string, region?: string): Promise<void>;
  /**
   * Serve `v=DKIM1; k=rsa; p=<publicKey>` at `<selector>._domainkey.<domain>`,
   * split into 255-byte strings, on the given servers (default both).
   */
  publish(
    domain: string,
    selector: string,
    publicKey: string,
    on?: readonly WorldNameserver[],
  ): void;
  /** Stop serving the selector's record on the given servers (default both). */
  unpublish(domain: string, selector: string, on?: readonly WorldNameserver[]): void;
  /**
   * Make the checkout's `dns/` equal to `dns/` on the fake's `main` (what a
   * fresh `actions/checkout` of main gives the next workflow run), e.g. after
   * `github.merge(number)`.
   */
  syncFromMain(): void;
  /** Close every server and remove the checkout. Safe to call twice. */
  close(): Promise<void>;
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const region = options.region ?? "ap-northeast-1";
  const repository = options.repository ?? "example-jp/dkim-test";
  const [owner, repo] = repository.split("/") as [string, string];
  const rps = options.sesRequestsPerSecond ?? 50;
  const identities: Required<WorldIdentity>[] = (
    options.identities ?? [{ domain: "mail.example.jp", selectorPrefix: "mail" }]
  ).map((i) => ({
    domain: i.domain,
    selectorPrefix: i.selectorPrefix,
    regions: i.regions ?? [region],
    keyBits: i.keyBits ?? 2048,
  }));

  let offset = 0;
  const clock: WorldClock = {
    now: () => new Date(Date.now() + offset),
    advance: (ms) => {
      offset += ms;
    },
  };
  const local = await startLocalWorld({
    emulator: {
      clock,
      sesRequestsPerSecond: rps,
      dkim: { firstCheckMinutes: 0, ...options.dkim },
    },
  });
  const emulator = local.emulator!;
  const close = () => local.close();
  try {
    const servers: WorldNameserver[] = local.servers.map((server, i) => ({
      server,
      address: local.addresses[i]!,
    }));
    const [ns1, ns2] = servers as [WorldNameserver, WorldNameserver];

    // Per server, per domain: selector → joined TXT value.
    const served = new Map<WorldNameserver, Map<string, Map<string, string>>>();
    const serials = new Map<string, number>();
    // Per domain: the Easy DKIM CNAME tokens published (as SES asks, every Region's three).
    const cnames = new Map<string, { token: string; target: string }[]>();
    const render = (domain: string, dkim: Map<string, string>): ZoneModel => {
      const serial = (serials.get(domain) ?? 2026010100) + 1;
      serials.set(domain, serial);
      return mailDomainZone(domain, { serial, dkim, easyDkimCnames: cnames.get(domain) });
    };
    const change = (
      domain: string,
      on: readonly WorldNameserver[],
      edit: (dkim: Map<string, string>) => void,
    ) => {
      if (!identities.some((i) => i.domain === domain))
        throw new Error(`world: ${domain} is not one of the world's identities`);
      for (const ns of on) {
        const zones = served.get(ns)!;
        const dkim = zones.get(domain)!;
        edit(dkim);
        ns.server.setZone(domain, render(domain, dkim));
      }
    };
    for (const ns of servers) {
      const zones = new Map<string, Map<string, string>>();
      served.set(ns, zones);
      for (const { domain } of identities) {
        zones.set(domain, new Map());
        ns.server.setZone(domain, render(domain, new Map()));
      }
    }

    const workspace = mkdtempSync(join(tmpdir(), "dkim-world-"));
    local.onClose(() => rmSync(workspace, { recursive: true, force: true }));
    const stackFile = stringify({
      config: {
        "aws:region": region,
        "ses-dkim-rotation:identities": identities.map((i) => ({
          domain: i.domain,
          selectorPrefix: i.selectorPrefix,
          regions: i.regions,
          keyBits: i.keyBits,
          nameservers: [ns1.address, ns2.address],
        })),
        "ses-dkim-rotation:sesRequestsPerSecond": rps,
        "ses-dkim-rotation:dnsTeam": "@example-jp/dns-team",
        "ses-dkim-rotation:github": { owner, repo },
      },
    });
    const files: Record<string, string> = {
      "Pulumi.yaml": "name: ses-dkim-rotation\nruntime: nodejs\n",
      [options.configFile ?? WORLD_CONFIG_FILE]: stackFile,
      ".github/CODEOWNERS": WORLD_CODEOWNERS,
      "dns/README.md": "DKIM TXT record files, one per selector: dns/<domain>/<selector>.zone\n",
    };
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(workspace, path)), { recursive: true });
      writeFileSync(join(workspace, path), content);
    }

    const github = await local.startGitHub({ owner, repo, files, ...options.github });

    const ses = new SESv2Client({
      endpoint: emulator.url,
      region,
      credentials: EMULATOR_CREDENTIALS,
    });
    local.onClose(() => ses.destroy());

    const both = [ns1, ns2] as const;
    return {
      workspace,
      configFile: options.configFile ?? WORLD_CONFIG_FILE,
      repository,
      region,
      identities,
      emulator,
      clock,
      ns1,
      ns2,
      github,
      ses,
      runEnvironment: (command) => {
        // The gate checks the token's job_workflow_ref: a rollback runs in reusable-rollback.yml.
        const { env } = github.approvedJob(undefined, undefined, {
          workflow: command === "rollback" ? "reusable-rollback.yml" : "reusable-activate.yml",
        });
        return {
          workspace,
          repository,
          apiUrl: github.url,
          runId: env.GITHUB_RUN_ID!,
          idToken: (audience: string) => fetchIdToken(env, audience),
          githubPacing: { retryAfterBaseMs: 5, writeIntervalMs: 0 },
        };
      },
      async createEasyDkimIdentity(domain, inRegion = region) {
        const client =
          inRegion === region
            ? ses
            : new SESv2Client({
                endpoint: emulator.url,
                region: inRegion,
                credentials: EMULATOR_CREDENTIALS,
              });
        try {
          await client.send(new CreateEmailIdentityCommand({ EmailIdentity: domain }));
        } finally {
          if (client !== ses) client.destroy();
        }
        // The DNS team publishes the three Easy DKIM CNAMEs on both servers,
        // to the Region's zone as SES gives it.
        const view = emulator.ses.identity(inRegion, domain);
        const asked = view
          ? withTargets(easyDkimCnames(domain, inRegion, view.tokens, view.signingHostedZone))
          : [];
        cnames.set(domain, [...(cnames.get(domain) ?? []), ...(asked ?? [])]);
        if (identities.some((i) => i.domain === domain)) change(domain, both, () => {});
        // SES finds them at its first check (due at once here): Easy DKIM signs.
        await emulator.advance();
      },
      publish(domain, selector, publicKey, on = both) {
        change(domain, on, (dkim) => dkim.set(selector, dkimRecordValue(publicKey)));
      },
      unpublish(domain, selector, on = both) {
        change(domain, on, (dkim) => dkim.delete(selector));
      },
      syncFromMain() {
        const onMain = github.listFiles().filter((p) => p.startsWith("dns/"));
        const local = join(workspace, "dns");
        const walk = (dir: string, rel: string): string[] =>
          existsSync(dir)
            ? readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
                e.isDirectory()
                  ? walk(join(dir, e.name), `${rel}/${e.name}`)
                  : [`${rel}/${e.name}`],
              )
            : [];
        for (const path of walk(local, "dns"))
          if (!onMain.includes(path)) rmSync(join(workspace, path));
        for (const path of onMain) {
          mkdirSync(dirname(join(workspace, path)), { recursive: true });
          writeFileSync(join(workspace, path), github.readFile(path)!);
        }
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
