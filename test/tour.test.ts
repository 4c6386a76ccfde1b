/**
 * The README's guided tour, run as written against a served world started
 * here (`scripts/world.ts`, docs/design.md#served-world): every command of
 * the tour block in one bash session, each one's output compared with the
 * `# ` lines the README shows under it (ports, dates, selectors and IDs
 * masked), and the key active in SES at the end. The one substitution: the
 * world's folder is a temporary one, not `local-world/`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { expect } from "chai";
import { requestsPerSecondProblem } from "../actions/dkim-rotation/src/engine/values";
import { loadConfig } from "../actions/dkim-rotation/src/load-config";
import { publishRecordFile, worldDirProblem, WORLD_ENV } from "../scripts/world";

// The SDK warns that Node 20 support ends; this test only talks to the emulator.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const ROOT = join(import.meta.dirname, "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
/** The tour's first line: the environment file of the world `npm run world` serves. */
const SOURCE_LINE = `source local-world/${WORLD_ENV}`;

interface Step {
  command: string;
  expected: string[];
}

/** The ```sh block that starts with SOURCE_LINE: each command with the `# ` lines after it. */
export function tourSteps(readme: string): Step[] {
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.startsWith(`${SOURCE_LINE}\n`));
  if (!block) return [];
  const steps: Step[] = [];
  for (const line of block.trimEnd().split("\n")) {
    if (line.startsWith("# ")) steps.at(-1)?.expected.push(line.slice(2));
    else steps.push({ command: line, expected: [] });
  }
  return steps;
}

/** What differs from run to run: ports, dates and times, selectors, Route 53 IDs, ages, folders. */
export function mask(line: string, worldDir: string): string {
  return line
    .replaceAll(worldDir, "<world>")
    .replace(/[^\s:]*\/local-world/g, "<world>")
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g, "<time>")
    .replace(/\d{4}-\d{2}-\d{2}/g, "<date>")
    .replace(/news-\d{8}/g, "news-<date>")
    .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>")
    .replace(/\/change\/C[A-Z0-9]+/g, "/change/<id>")
    .replace(/\bZ[A-Z0-9]{10,}/g, "<zone>")
    .replace(/\b\d+d\b/g, "<n>d")
    .replace(/pending \d+ min/g, "pending <n> min");
}

/** Resolves when something listens on `port` (true) or refuses (false). */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      done(true);
    });
    s.on("error", () => done(false));
  });
}

function startWorld(dir: string): Promise<{ child: ChildProcess; stdout: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/world.ts", "--dir", dir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (out.includes(`source ${join(dir, WORLD_ENV)}`)) {
        clearInterval(timer);
        resolve({ child, stdout: () => out });
      }
    }, 100);
    child.on("exit", (code) => {
      clearInterval(timer);
      reject(new Error(`the world exited (${code}) before it was up: ${err}`));
    });
  });
}

describe("README tour: a served local world, every step as written", function () {
  this.timeout(10 * 60_000);
  const steps = tourSteps(README);
  let tmp: string;
  let worldDir: string;
  let world: { child: ChildProcess; stdout: () => string } | undefined;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "dkim-tour-"));
    worldDir = join(tmp, "local-world");
    world = await startWorld(worldDir);
  });
  after(() => {
    if (world?.child.exitCode === null) world.child.kill("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  });

  it("the README's tour walks doctor, plan --apply, the record's merge, the DNS team's publication, verify, activate and status", () => {
    const commands = steps.map((s) => s.command);
    expect(commands[0]).to.equal(SOURCE_LINE);
    for (const pattern of [
      /^npx dkim doctor$/,
      /^npx dkim plan --apply$/,
      /^git -C "\$DKIM_REPO" .*commit/,
      /^npm run -s world -- publish /,
      /^npx dkim verify /,
      /^npx dkim activate /,
      /^npx dkim status$/,
    ])
      expect(
        commands.some((c) => pattern.test(c)),
        String(pattern),
      ).to.equal(true);
  });

  it("npm run world prints what the README shows: the addresses and the lines that use them", () => {
    const block = [...README.matchAll(/```sh\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .find((b) => b.startsWith("npm run world "))!;
    const expected = block
      .split("\n")
      .filter((l) => l.startsWith("# "))
      .map((l) => mask(l.slice(2), worldDir));
    const printed = world!
      .stdout()
      .split("\n")
      .filter(Boolean)
      .map((l) => mask(l, worldDir));
    expect(printed).to.deep.equal(expected);
  });

  it("the world's stack file is one the CLI takes as it is, even without an endpoint (SES's 1 request/s)", () => {
    const config = loadConfig(join(worldDir, "repo", "Pulumi.prod.yaml"));
    expect(requestsPerSecondProblem(config.sesRequestsPerSecond, {})).to.equal(undefined);
  });

  it("every step prints what the README shows, and the key ends active in SES", async () => {
    // One bash session, so a step's variables reach the next; a marker before each step.
    const script = [
      "exec 2>&1",
      ...steps.map((s, i) => {
        const command = i === 0 ? s.command.replace("local-world/", `${worldDir}/`) : s.command;
        return `echo "@@step ${i}"\n${command}\necho "@@rc $?"`;
      }),
      'echo "@@selector $SELECTOR"',
    ].join("\n");
    const run = spawnSync("bash", ["-c", script], {
      cwd: ROOT,
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, NO_COLOR: "1" },
    });
    const out = run.stdout;
    steps.forEach((step, i) => {
      const section = out.split(`@@step ${i}\n`)[1]!.split(/@@rc (\d+)\n/);
      const printed = section[0]!
        .split("\n")
        .filter((l) => l && !l.startsWith("npm warn"))
        .map((l) => mask(l, worldDir));
      expect(section[1], `${step.command} exit code; printed:\n${printed.join("\n")}`).to.equal(
        "0",
      );
      expect(printed, step.command).to.deep.equal(step.expected.map((l) => mask(l, worldDir)));
    });
    const selector = /@@selector (\S+)/.exec(out)![1]!;
    const env = readFileSync(join(worldDir, WORLD_ENV), "utf8");
    const endpoint = /AWS_ENDPOINT_URL=(\S+)/.exec(env)![1]!;
    const ses = new SESv2Client({
      region: "ap-northeast-1",
      endpoint,
      credentials: { accessKeyId: "AKIASANDBOXEXAMPLE00", secretAccessKey: "x" },
      // The served emulator throttles SES control-plane calls at AWS's 1 request/s
      // (docs/design.md#ses-throttling), and the world's own jobs share that quota:
      // retry a TooManyRequestsException as the product's clients do.
      maxAttempts: 10,
    });
    try {
      const got = await ses.send(new GetEmailIdentityCommand({ EmailIdentity: "news.example" }));
      expect(got.DkimAttributes?.SigningAttributesOrigin).to.equal("EXTERNAL");
      expect(got.DkimAttributes?.Status).to.equal("SUCCESS");
      expect(got.DkimAttributes?.Tokens).to.deep.equal([selector]);
    } finally {
      ses.destroy();
    }
  });

  it("SIGTERM stops everything the world started: the process exits 0 and no port answers", async () => {
    const env = readFileSync(join(worldDir, WORLD_ENV), "utf8");
    const ports = [...env.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
    expect(ports).to.have.length(4); // the emulator, GitHub, ns1, ns2
    for (const port of ports) expect(await listening(port), `port ${port} before`).to.equal(true);
    const exited = new Promise<number | null>((r) => world!.child.on("exit", (code) => r(code)));
    world!.child.kill("SIGTERM");
    expect(await exited).to.equal(0);
    for (const port of ports) expect(await listening(port), `port ${port} after`).to.equal(false);
  });

  it("refuses a folder that holds something else, and a record file outside the world, in one line", async () => {
    const other = join(tmp, "other");
    mkdirSync(other);
    writeFileSync(join(other, "notes.txt"), "mine\n");
    expect(worldDirProblem(other)).to.equal(
      `${other} is not empty and holds no earlier world (no .local-world); the world empties its folder first`,
    );
    expect(worldDirProblem(worldDir)).to.equal(undefined);
    let message = "";
    await publishRecordFile(join(other, "notes.txt"), {}).catch(
      (e: Error) => (message = e.message),
    );
    expect(message).to.equal(
      "environment: field DKIM_WORLD: no served world in this shell (hint: start `npm run world`, then `source` the world.env it names)",
    );
  });
});

describe("the CLI reads the world's environment", () => {
  it("an AWS_ENDPOINT_URL that is no http(s) URL is refused in one line naming the environment", function () {
    this.timeout(120_000);
    const run = spawnSync(process.execPath, ["--import", "tsx", "scripts/dkim.ts", "status"], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, AWS_ENDPOINT_URL: "ftp://127.0.0.1:4566" },
    });
    expect(run.status).to.equal(2);
    expect(run.stderr.trim().split("\n")).to.deep.equal([
      'error: environment: field AWS_ENDPOINT_URL (--endpoint): "ftp://127.0.0.1:4566" is not an http or https URL (hint: e.g. http://127.0.0.1:4566)',
    ]);
  });
});
