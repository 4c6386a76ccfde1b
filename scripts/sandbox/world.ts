/**
 * The sandbox's world: the stack file it runs with, the repository that
 * adopts the tool (a real git checkout whose commits carry simulated times, so
 * record merge times come from `git log` as on a runner with fetch-depth 0),
 * and the GitHub fake that holds the same repository's main.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { stringify } from "yaml";
import {
  parseProjectConfig,
  type ProjectConfig,
} from "../../actions/dkim-rotation/src/engine/config";
import { CreateEmailIdentityCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import { easyDkimCnames, withTargets } from "../../actions/dkim-rotation/src/engine/easy-dkim";
import type { GitHubFake } from "../github-fake";
import type { AwsEmulator } from "./aws-emulator";

/** The shipped callers name this stack file (`config: Pulumi.prod.yaml`); the sandbox's goes there. */
export const SANDBOX_CONFIG_FILE = "Pulumi.prod.yaml";
export const SANDBOX_OWNER = "example-jp";
export const SANDBOX_REPO = "mail-dkim";

/** The repository variables the shipped callers read, as `infra/` sets them from the stack outputs. */
export const SANDBOX_VARS = {
  AWS_PLANNER_ROLE_ARN: "arn:aws:iam::123456789012:role/ses-dkim-rotation-planner",
  AWS_ACTIVATOR_ROLE_ARN: "arn:aws:iam::123456789012:role/ses-dkim-rotation-activator",
  AWS_PUBLISHER_ROLE_ARN: "arn:aws:iam::123456789012:role/ses-dkim-rotation-publisher",
  AWS_REGION: "ap-northeast-1",
};

/**
 * The GitHub Apps the callers pass to the reusable workflows (what
 * docs/adopting.md asks for): the App opens the PRs (a repository secret, no
 * Administration); in pull-request mode the gate's own App mints the gate's
 * token, its key an environment secret of the gated environment, so only a
 * gated job receives it (docs/design.md#gate-token). The fake compares the
 * gate App's key, it verifies no signature.
 */
export const SANDBOX_APP = {
  vars: {
    DKIM_APP_CLIENT_ID: "Iv23liSandboxDkimApp",
    DKIM_GATE_APP_CLIENT_ID: "Iv23liSandboxGateApp",
  },
  secrets: { DKIM_APP_PRIVATE_KEY: "sandbox-app-private-key (not a key: the fake checks none)" },
  /** Environment secrets of the gated environment. */
  gatedEnvironmentSecrets: { DKIM_GATE_APP_PRIVATE_KEY: "sandbox-gate-app-private-key" },
  gateApp: {
    clientId: "Iv23liSandboxGateApp",
    privateKey: "sandbox-gate-app-private-key",
    administration: "write" as const,
    members: "read" as const,
  },
};

/** The served world's repository IDs (the GitHub fake's), named in its stack so OIDC trust uses the ID form. */
export const WORLD_GITHUB_IDS = { ownerId: 4200001, repositoryId: 987654321 };

/** Any SigV4-shaped credentials: the emulator checks only the shape. */
export const SANDBOX_CREDENTIALS = {
  accessKeyId: "AKIASANDBOXEXAMPLE00",
  secretAccessKey: "sandbox-secret-access-key-not-real",
};

/**
 * Per domain, settings added to its identity in the stack file: the
 * publisher (`publisher: rfc2136` with `rfc2136: {...}`, or `route53`);
 * none for `manual`, so the stack file is what it always was.
 */
export type IdentityExtras = Record<string, Record<string, unknown>>;

/** Two domains: one in two Regions, one with a 7-day grace period. */
export function sandboxConfig(
  file: string,
  nameservers: string[],
  extras: IdentityExtras = {},
  approval: SandboxApproval = "environment",
): ProjectConfig {
  return parseStack(file, sandboxStack(nameservers, extras, approval));
}

/** The served world's stack (`npm run world`, docs/design.md#served-world). */
export function worldConfig(file: string, nameservers: string[]): ProjectConfig {
  return parseStack(file, worldStack(nameservers));
}

function parseStack(file: string, stack: Record<string, unknown>): ProjectConfig {
  return parseProjectConfig(stack, {
    file,
    project: "ses-dkim-rotation",
    defaultRegion: "ap-northeast-1",
  });
}

/** The sandbox stack's `canary:` block; run.ts provisions its bucket and rule set. */
export const SANDBOX_CANARY = {
  region: "us-east-1",
  bucket: "sandbox-dkim-proof",
  prefix: "canary/",
  address: "canary@proof.example.net",
  windowMinutes: 10,
};

/** Who approves a gated decision: environment reviewers, or reviewed pull requests (`--approval`). */
export type SandboxApproval = "environment" | "pull-request";

function sandboxStack(nameservers: string[], extras: IdentityExtras, approval: SandboxApproval) {
  const identities = [
    {
      domain: "shop.example",
      selectorPrefix: "shop",
      regions: ["ap-northeast-1", "ap-northeast-3"],
      nameservers,
    },
    {
      domain: "news.example",
      selectorPrefix: "news",
      regions: ["ap-northeast-1"],
      nameservers,
      graceDays: 7,
    },
  ].map((i) => ({ ...i, ...extras[i.domain] }));
  return {
    identities,
    kmsKeyId: "alias/ses-dkim-rotation",
    // AWS allows 1 request/s; the emulator is told the same scaled rate, so two years fit in a minute.
    sesRequestsPerSecond: 1000,
    dnsTeam: "@example-jp/dns-team",
    github: {
      owner: SANDBOX_OWNER,
      repo: SANDBOX_REPO,
      ...(approval === "pull-request" ? { approval } : {}),
    },
    // Proof in production (docs/design.md#canary): every swap is proven by a
    // message SES signed, received in us-east-1 and read from S3.
    canary: SANDBOX_CANARY,
  };
}

/**
 * The served world's: the sandbox's news.example alone, on the real clock,
 * paced at SES's real 1 request/s, so the CLI takes the file as it is
 * whether or not it is pointed at the emulator.
 */
function worldStack(nameservers: string[]) {
  // No canary: the world provisions no receiving bucket, and its tour shows activation as a new adopter's stack has it.
  const { canary: _noCanary, ...stack } = sandboxStack(nameservers, {}, "environment");
  return {
    ...stack,
    identities: stack.identities.filter((i) => i.domain === "news.example"),
    sesRequestsPerSecond: 1,
    githubOwnerId: WORLD_GITHUB_IDS.ownerId,
    githubRepositoryId: WORLD_GITHUB_IDS.repositoryId,
  };
}

/** The stack file as Pulumi keeps it (`config:` with project-namespaced keys). */
export function renderSandboxStack(
  nameservers: string[],
  extras: IdentityExtras = {},
  approval: SandboxApproval = "environment",
): string {
  return renderStack(
    "# Written by the sandbox: the stack file its run used.\n",
    sandboxStack(nameservers, extras, approval),
  );
}
/** The served world's stack file. */
export function renderWorldStack(nameservers: string[]): string {
  return renderStack(
    "# Written by `npm run world`: the local world's stack file (news.example, its nameservers on loopback).\n",
    worldStack(nameservers),
  );
}

function renderStack(header: string, stack: Record<string, unknown>): string {
  return (
    header +
    stringify({
      config: {
        "aws:region": "ap-northeast-1",
        ...Object.fromEntries(
          Object.entries(stack).map(([k, v]) => [`ses-dkim-rotation:${k}`, v] as const),
        ),
      },
    })
  );
}

/**
 * An identity as SES leaves it on Easy DKIM: created through the SDK in each
 * of its Regions, SES's key made at once (so the world serves it before SES's
 * first check). Returns the CNAMEs SES asks for, each token to its Region's
 * SigningHostedZone (docs/design.md#ses-signing-hosted-zone), to publish.
 */
export async function createEasyDkimIdentity(
  emulator: AwsEmulator,
  identity: { domain: string; regions: readonly string[] },
  client: (region: string) => SESv2Client,
): Promise<{ token: string; target: string }[]> {
  const { domain } = identity;
  const cnames: { token: string; target: string }[] = [];
  for (const region of identity.regions) {
    await client(region).send(new CreateEmailIdentityCommand({ EmailIdentity: domain }));
    const view = emulator.ses.identity(region, domain)!;
    cnames.push(
      ...(withTargets(easyDkimCnames(domain, region, view.tokens, view.signingHostedZone)) ?? []),
    );
    await emulator.ses.easyDkimPublicKey(region, domain);
  }
  return cnames;
}

/** The adopting repository's files on main at the start. */
export function sandboxFiles(
  nameservers: string[],
  extras: IdentityExtras = {},
  approval: SandboxApproval = "environment",
): Record<string, string> {
  return {
    "Pulumi.yaml": "name: ses-dkim-rotation\nruntime: nodejs\n",
    [SANDBOX_CONFIG_FILE]: renderSandboxStack(nameservers, extras, approval),
    ".github/CODEOWNERS":
      "*       @example-jp/mail-platform\n/dns/   @example-jp/dns-team\n" +
      // The approvers own the approvals and who approves (docs/operations.md).
      (approval === "pull-request"
        ? "/approvals/          @example-jp/dkim-approvers\n/.github/CODEOWNERS  @example-jp/dkim-approvers\n"
        : ""),
    "dns/README.md": "DKIM TXT record files, one per selector: dns/<domain>/<selector>.zone\n",
  };
}

/** The checkout every workflow job starts from: main, with its full history. */
export class SandboxRepository {
  constructor(
    readonly dir: string,
    private readonly recordFolder: string,
  ) {}

  /** `git init` with the starting files, committed at `at`. */
  init(files: Record<string, string>, at: number): void {
    mkdirSync(this.dir, { recursive: true });
    this.git(["init", "-q", "-b", "main"], at);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      writeFileSync(join(this.dir, path), content);
    }
    this.commit("Initial commit", at);
  }

  /** Make the record folder equal to main's on the fake, and commit it at `at` (the merge). */
  pullMain(github: GitHubFake, message: string, at: number): string[] {
    const folder = this.recordFolder;
    const onMain = github.listFiles().filter((p) => p.startsWith(`${folder}/`));
    const local = walk(join(this.dir, folder), folder);
    const changed: string[] = [];
    for (const path of local)
      if (!onMain.includes(path)) {
        rmSync(join(this.dir, path));
        changed.push(path);
      }
    for (const path of onMain) {
      const content = github.readFile(path)!;
      const file = join(this.dir, path);
      if (local.includes(path) && readFileSync(file, "utf8") === content) continue;
      mkdirSync(dirname(join(this.dir, path)), { recursive: true });
      writeFileSync(file, content);
      changed.push(path);
    }
    if (changed.length) this.commit(message, at);
    return changed;
  }

  commit(message: string, at: number): void {
    this.git(["add", "-A"], at);
    this.git(["commit", "-q", "--allow-empty", "-m", message], at);
  }

  private git(args: string[], at: number): void {
    const date = new Date(at).toISOString();
    execFileSync("git", args, {
      cwd: this.dir,
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "sandbox",
        GIT_AUTHOR_EMAIL: "sandbox@example.jp",
        GIT_COMMITTER_NAME: "sandbox",
        GIT_COMMITTER_EMAIL: "sandbox@example.jp",
        GIT_AUTHOR_DATE: date,
        GIT_COMMITTER_DATE: date,
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_CONFIG_NOSYSTEM: "1",
      },
    });
  }
}

function walk(dir: string, rel: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(dir, e.name), `${rel}/${e.name}`) : [`${rel}/${e.name}`],
      )
    : [];
}
