/**
 * Crash injection without crash hooks in product code: a loopback HTTP proxy
 * between a child process (the CLI or the action) and the AWS emulator or the
 * GitHub fake. It forwards every request and, at an armed boundary, SIGKILLs
 * the child:
 *
 * - `after-response`: the upstream has carried out the request (the key is
 *   stored, the Region swapped, the PR opened) and the child is killed before
 *   it receives the answer — the worst moment, because the side effect is real
 *   and the process never learns of it;
 * - `before-forward`: the child is killed as it asks for the next side effect,
 *   which therefore never happens (e.g. after SES SUCCESS, before the tag
 *   that records the activation).
 *
 * The proxy also logs every call it saw (service, operation, Region from the
 * SigV4 scope, and for an SES key swap the selector), so a test can count
 * swaps and prove each one was of a published selector.
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { ESM_REQUIRE_BANNER } from "../../scripts/action-bundle.mjs";

export interface ProxiedCall {
  service: "ses" | "secretsmanager" | "kms" | "monitoring" | "http";
  /** `CreateSecret`, `PutEmailIdentityDkimSigningAttributes`, … or `<METHOD> <path>`. */
  operation: string;
  /** From the SigV4 credential scope (empty for non-AWS traffic). */
  region: string;
  method: string;
  path: string;
  /** SES key swaps: the selector the request imports. */
  selector?: string;
  /** Whether the request reached the upstream. */
  forwarded: boolean;
}

export interface KillRule {
  match: (call: ProxiedCall) => boolean;
  /** Fire on the nth matching call (1-based, default 1). */
  nth?: number;
  phase: "after-response" | "before-forward";
}

export interface CrashProxy {
  url: string;
  calls: ProxiedCall[];
  /** Arm one kill; `kill` must not resolve until the child is dead. */
  arm(rule: KillRule, kill: () => Promise<void>): void;
  disarm(): void;
  /** Whether the armed rule fired (a crash point that was never reached is not a crash test). */
  readonly fired: boolean;
  close(): Promise<void>;
}

function classify(req: IncomingMessage, body: Buffer): ProxiedCall {
  const method = req.method ?? "GET";
  const url = new URL(req.url ?? "/", "http://proxy");
  const path = url.pathname;
  const target = req.headers["x-amz-target"];
  const scope = /Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\//.exec(
    String(req.headers.authorization ?? ""),
  );
  const region = scope?.[1] ?? "";
  const base = { region, method, path, forwarded: false };
  if (typeof target === "string" && target.startsWith("secretsmanager."))
    return { ...base, service: "secretsmanager", operation: target.slice(15) };
  if (typeof target === "string" && target.startsWith("TrentService."))
    return { ...base, service: "kms", operation: target.slice("TrentService.".length) };
  if (typeof target === "string" && target.startsWith("GraniteServiceVersion20100801."))
    return { ...base, service: "monitoring", operation: target.split(".")[1] ?? target };
  if (path.startsWith("/v2/email/")) {
    if (method === "PUT" && /\/dkim\/signing$/.test(path)) {
      let selector: string | undefined;
      try {
        const doc = JSON.parse(body.toString("utf8")) as {
          SigningAttributes?: { DomainSigningSelector?: string };
        };
        selector = doc.SigningAttributes?.DomainSigningSelector;
      } catch {
        selector = undefined;
      }
      return {
        ...base,
        service: "ses",
        operation: "PutEmailIdentityDkimSigningAttributes",
        ...(selector ? { selector } : {}),
      };
    }
    if (method === "GET" && /^\/v2\/email\/identities\/[^/]+$/.test(path))
      return { ...base, service: "ses", operation: "GetEmailIdentity" };
    return { ...base, service: "ses", operation: `${method} ${path}` };
  }
  return { ...base, service: "http", operation: `${method} ${path}` };
}

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startCrashProxy(upstream: string): Promise<CrashProxy> {
  const target = new URL(upstream);
  const calls: ProxiedCall[] = [];
  let armed: { rule: KillRule; kill: () => Promise<void>; seen: number } | undefined;
  let fired = false;

  const forward = (req: IncomingMessage, body: Buffer) =>
    new Promise<{ status: number; headers: IncomingMessage["headers"]; body: Buffer }>(
      (resolve, reject) => {
        const out = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: target.host },
          },
          (res) => {
            readAll(res).then(
              (b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }),
              reject,
            );
          },
        );
        out.on("error", reject);
        out.end(body);
      },
    );

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readAll(req);
    const call = classify(req, body);
    calls.push(call);
    let fire = false;
    if (armed && !fired && armed.rule.match(call)) {
      armed.seen++;
      fire = armed.seen === (armed.rule.nth ?? 1);
    }
    if (fire && armed!.rule.phase === "before-forward") {
      fired = true;
      await armed!.kill();
      res.destroy();
      return;
    }
    const answer = await forward(req, body);
    call.forwarded = true;
    if (fire) {
      fired = true;
      await armed!.kill();
      res.destroy();
      return;
    }
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    arm(rule, kill) {
      armed = { rule, kill, seen: 0 };
      fired = false;
    },
    disarm() {
      armed = undefined;
    },
    get fired() {
      return fired;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ChildRun {
  child: ChildProcess;
  /** Resolves when the child has exited, with what it printed. */
  done: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>;
  /** SIGKILL the child and wait until it is gone. */
  kill(): Promise<void>;
}

/** Spawn `node <args>` and collect its output. */
export function spawnNode(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): ChildRun {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return {
    child,
    done,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * Bundle an entry point (scripts/dkim.ts, the action's src/index.ts) from the
 * current sources with esbuild, as the action's dist/ is built, so a child
 * starts in ~0.3 s instead of ~1.3 s under tsx. Returns the bundle's path.
 */
export async function bundleEntry(entry: string, outDir: string): Promise<string> {
  const { build } = await import("esbuild");
  const outfile = `${outDir}/${entry.replace(/[^A-Za-z0-9]+/g, "-")}.mjs`;
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "error",
    // The action bundle's banner: bundled CommonJS dependencies call require() for Node built-ins.
    banner: { js: ESM_REQUIRE_BANNER },
  });
  return outfile;
}
