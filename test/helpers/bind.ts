/**
 * Real DNS software for interop tests: BIND `named` on a loopback port,
 * `named-checkzone` and `dig`. A fake resolver accepts anything; these do not
 * (docs/design.md#txt-string-splitting: test splitting against a real server).
 *
 * Missing binaries: the test is skipped on a developer machine, but fails when
 * `CI` is set, because `.ci/install-dns.sh` installs them there and a missing
 * binary in CI means the interop tests silently stopped running.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promises as dns } from "node:dns";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import dgram from "node:dgram";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Find an executable on PATH or in the sbin directories (named lives in /usr/sbin). */
export function findBinary(name: string): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? "").split(path.delimiter),
    "/usr/sbin",
    "/sbin",
    "/usr/local/sbin",
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The path of `name`, or skip the current suite/test (locally) or fail (CI).
 * Call from a mocha `before` hook or test with its `this`.
 */
export function requireBinary(ctx: Mocha.Context, name: string): string {
  const found = findBinary(name);
  if (found) return found;
  if (process.env.CI) {
    throw new Error(`${name} is not installed but CI is set: .ci/install-dns.sh must install it`);
  }
  ctx.skip();
}

/** A port free on 127.0.0.1 for both UDP and TCP at the moment of the call. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const udp = dgram.createSocket("udp4");
    const udpOk = await new Promise<boolean>((resolve) => {
      udp.once("error", () => resolve(false));
      udp.bind(port, "127.0.0.1", () => resolve(true));
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => {
      try {
        udp.close(() => resolve());
      } catch {
        resolve();
      }
    });
    if (udpOk) return port;
  }
  throw new Error("no free loopback port for UDP and TCP");
}

export interface BindZone {
  origin: string;
  /** Absolute path of the master file (it may `$INCLUDE` absolute paths). */
  file: string;
  /**
   * `update-policy` rules, e.g. `grant k1 subdomain _domainkey.example.jp. TXT`
   * (no trailing `;`). Makes the zone dynamic: named writes `<file>.jnl`
   * next to the file, so its directory must be writable. Absent: no updates.
   */
  updatePolicy?: string[];
  /** `allow-transfer` addresses (AXFR), e.g. `127.0.0.1`; absent: BIND's default. */
  allowTransfer?: string[];
}

/** A TSIG key (RFC 8945) for `named.conf`: `key "<name>" { algorithm …; secret "…"; };`. */
export interface BindTsigKey {
  name: string;
  algorithm: string;
  /** base64, as `tsig-keygen` prints it. */
  secret: string;
}

export interface BindOptions {
  /** TSIG keys named may verify (for `update-policy` grants). */
  keys?: BindTsigKey[];
  /** A port chosen earlier (e.g. written into a config first); default: a free one. */
  port?: number;
}

export interface BindServer {
  address: string;
  port: number;
  /** `127.0.0.1:<port>`, as a configured nameserver entry. */
  server: string;
  dir: string;
  /** Everything named wrote to stderr so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Start `named` in the foreground on 127.0.0.1:<free port> serving `zones`
 * as primary, and wait until it answers SOA for each of them.
 */
export async function startBind(
  namedPath: string,
  zones: BindZone[],
  timeoutMs = 15000,
  options: BindOptions = {},
): Promise<BindServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "dkim-named-"));
  const port = options.port ?? (await freePort());
  const conf = path.join(dir, "named.conf");
  const text = [
    "options {",
    `  directory "${dir}";`,
    `  pid-file "${path.join(dir, "named.pid")}";`,
    `  session-keyfile "${path.join(dir, "session.key")}";`,
    `  managed-keys-directory "${dir}";`,
    `  listen-on port ${port} { 127.0.0.1; };`,
    "  listen-on-v6 { none; };",
    "  recursion no;",
    "  allow-query { any; };",
    "  dnssec-validation no;",
    "  notify no;",
    "};",
    // No rndc control channel: the test stops named with a signal.
    "controls { };",
    ...(options.keys ?? []).map(
      (k) => `key "${k.name}" { algorithm ${k.algorithm}; secret "${k.secret}"; };`,
    ),
    ...zones.map((z) =>
      [
        `zone "${z.origin}" { type primary; file "${z.file}";`,
        ...(z.updatePolicy
          ? [`update-policy { ${z.updatePolicy.map((r) => `${r};`).join(" ")} };`]
          : []),
        ...(z.allowTransfer
          ? [`allow-transfer { ${z.allowTransfer.map((a) => `${a};`).join(" ")} };`]
          : []),
        "};",
      ].join(" "),
    ),
    "",
  ].join("\n");
  // The file holds TSIG secrets: readable by this user only.
  await writeFile(conf, text, { mode: 0o600 });

  // -g: foreground, log to stderr; -4: IPv4 only; -n 1: one worker thread.
  const args = ["-g", "-4", "-n", "1", "-c", conf];
  const child: ChildProcess = spawn(namedPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let exited: string | undefined;
  child.on("exit", (code, signal) => {
    exited = `named exited (${signal ?? code})`;
  });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  const pending = new Set(zones.map((z) => z.origin));
  while (pending.size) {
    const failed = /zone (\S+): not loaded due to errors/.exec(stderr);
    if (failed) {
      await stop();
      throw new Error(`named could not load zone ${failed[1]}: ${lastLines(stderr)}`);
    }
    if (exited) {
      await stop();
      throw new Error(`${exited}: ${lastLines(stderr)}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`named did not answer within ${timeoutMs} ms: ${lastLines(stderr)}`);
    }
    for (const origin of [...pending]) {
      const resolver = new dns.Resolver({ timeout: 200, tries: 1 });
      resolver.setServers([`127.0.0.1:${port}`]);
      try {
        await resolver.resolveSoa(origin);
        pending.delete(origin);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
  return { address: "127.0.0.1", port, server: `127.0.0.1:${port}`, dir, log: () => stderr, stop };
}

function lastLines(text: string, n = 8): string {
  return text.trim().split("\n").slice(-n).join(" | ");
}

/** Run `named-checkzone <origin> <file>`; never throws for a rejected zone. */
export async function checkZone(
  checkzonePath: string,
  origin: string,
  file: string,
): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(checkzonePath, [origin, file]);
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ""}${e.stderr ?? ""}` || e.message };
  }
}

/** `dig +short TXT <name>` against one server; returns each record's character-strings. */
export async function digTxt(digPath: string, port: number, name: string): Promise<string[][]> {
  const { stdout } = await execFileAsync(digPath, [
    "@127.0.0.1",
    "-p",
    String(port),
    "+short",
    "+norecurse",
    "+tries=1",
    "+time=2",
    "TXT",
    name,
  ]);
  return stdout
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => unescapeDig(m[1]!)));
}

/** dig prints `\"`, `\\` and `\DDD` escapes inside its quoted strings. */
function unescapeDig(s: string): string {
  return s.replace(/\\(\d{3}|.)/g, (_, e: string) =>
    /^\d{3}$/.test(e) ? String.fromCharCode(Number(e)) : e,
  );
}

/** A fresh TSIG secret from BIND's `tsig-keygen -a <algorithm> <name>`. */
export async function tsigKeygen(
  keygenPath: string,
  name: string,
  algorithm = "hmac-sha256",
): Promise<BindTsigKey> {
  const { stdout } = await execFileAsync(keygenPath, ["-a", algorithm, name]);
  const secret = /secret\s+"([^"]+)"/.exec(stdout)?.[1];
  if (!secret) throw new Error(`tsig-keygen printed no secret for ${name}`);
  return { name, algorithm, secret };
}

/**
 * `dig +norecurse <type> <name>` against one loopback server: the response
 * code (NOERROR, NXDOMAIN…) and the answer section's RDATA, one per record.
 * NODATA is `status: "NOERROR"` with no answers.
 */
export async function digQuery(
  digPath: string,
  port: number,
  type: string,
  name: string,
): Promise<{ status: string; answers: string[] }> {
  const { stdout } = await execFileAsync(digPath, [
    "@127.0.0.1",
    "-p",
    String(port),
    "+norecurse",
    "+tries=1",
    "+time=2",
    "+noall",
    "+comments",
    "+answer",
    type,
    name,
  ]);
  const status = /status:\s*([A-Z]+)/.exec(stdout)?.[1];
  if (!status) throw new Error(`dig printed no status for ${type} ${name}: ${stdout.trim()}`);
  const answers = stdout
    .split("\n")
    .filter((line) => line.trim() && !line.startsWith(";"))
    .map((line) => line.split(/\s+/).slice(4).join(" "));
  return { status, answers };
}

/** The zone's SOA serial as the loopback server answers it. */
export async function digSoaSerial(digPath: string, port: number, zone: string): Promise<number> {
  const { answers } = await digQuery(digPath, port, "SOA", zone);
  const serial = Number(answers[0]?.split(" ")[2]);
  if (!Number.isInteger(serial)) throw new Error(`no SOA serial for ${zone}`);
  return serial;
}
