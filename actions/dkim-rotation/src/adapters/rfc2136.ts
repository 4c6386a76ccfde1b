/**
 * Publisher `rfc2136`: puts a selector's TXT record on the zone's primary
 * with one RFC 2136 dynamic update, signed with TSIG (RFC 8945), sent by
 * BIND's `nsupdate` over TCP (`-v`: a 2048-bit record does not fit in 512
 * bytes of UDP).
 *
 * - One update message per call. `publish` deletes the TXT RRset at
 *   `<selector>._domainkey.<domain>` and adds the new record in the same
 *   message; RFC 2136 §3.4/§3.7 make the server apply all of it or none of
 *   it, so resolvers never see the name without a record or with two.
 *   `remove` deletes the RRset under a `yxrrset` prerequisite, so a name that
 *   (meanwhile) holds none is answered NXRRSET and nothing is written.
 * - Nothing outside `<selector>._domainkey.<domain>` (TXT, in the configured
 *   zone) is ever sent: names are checked before `nsupdate` starts, and
 *   strings longer than 255 bytes (RFC 1035 §3.3) are refused there too.
 * - The TSIG secret reaches `nsupdate` only on its stdin (`key` command):
 *   never in argv (visible in `ps`), the environment, or a file. `nsupdate`
 *   echoes a secret it cannot decode ("could not create key from …"), so the
 *   secret is checked to be base64 first and every byte of its output is
 *   redacted before it reaches a message or a progress line.
 * - Afterwards the primary itself is asked (never a caching resolver): the
 *   TXT must be served exactly, and the SOA serial is reported.
 *
 * Failures are one line naming server, zone, record and the DNS/TSIG
 * reason, with what the DNS team must grant (`Rfc2136Error.reason`).
 */
import { spawn } from "node:child_process";
import { promises as dnsPromises } from "node:dns";
import { isIP } from "node:net";
import { parseNameserver, type Rfc2136Config } from "../engine/config";
import { RefusalError } from "../engine/errors";
import type { DnsPublisherPort } from "../engine/ports";

/** Why an update did not happen. */
export type Rfc2136Reason =
  /** TSIG BADKEY: the primary knows no key of that name and algorithm. */
  | "badkey"
  /** TSIG BADSIG (or the reply's signature did not verify): wrong secret. */
  | "badsig"
  /** TSIG BADTIME: runner and primary clocks differ by more than the fudge. */
  | "badtime"
  /** NOTAUTH without a TSIG error: the server is not primary for the zone. */
  | "notauth"
  /** REFUSED: the zone's update-policy does not grant this key this name/type. */
  | "refused"
  /** NOTZONE: the record is not inside the zone named in the update. */
  | "notzone"
  /** SERVFAIL: the primary could not apply the update (journal, frozen zone…). */
  | "servfail"
  /** No reply within the timeout. */
  | "timeout"
  /** No connection (refused, no route, the name does not resolve). */
  | "unreachable"
  /** Refused here before sending: the name is outside `_domainkey` of the zone. */
  | "outside"
  /** Refused here before sending: bad input (string too long, bad TTL, bad secret…). */
  | "invalid"
  /** The primary accepted the update but does not serve the record. */
  | "unconfirmed"
  /** Anything else `nsupdate` reported (its redacted last line is in the message). */
  | "failed";

export class Rfc2136Error extends RefusalError {
  readonly reason: Rfc2136Reason;
  readonly server: string;
  readonly zone: string;
  readonly record: string;
  constructor(
    parts: { domain: string; server: string; zone: string; record: string },
    reason: Rfc2136Reason,
    message: string,
  ) {
    super(parts.domain, message);
    this.name = "Rfc2136Error";
    this.reason = reason;
    this.server = parts.server;
    this.zone = parts.zone;
    this.record = parts.record;
  }
}

export interface Rfc2136Options {
  /** The TSIG secret, base64, read (and masked) by the caller; asked once per update. */
  tsigSecret: () => Promise<string>;
  /** Default: `nsupdate` on PATH. */
  nsupdatePath?: string;
  /** Bound on each update (nsupdate `-t`) and on each confirming query round. Default 30. */
  timeoutSeconds?: number;
  onProgress?(line: string): void;
}

export type Rfc2136Settings = Rfc2136Config & { zone: string };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const KEY_NAME =
  /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TXT_STRING_MAX = 255;
const TTL_MAX = 2147483647; // RFC 2181 §8

/** Host-name labels (an identity's domain); zones may also hold `_` labels (a delegated `_domainkey` zone). */
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function dnsName(text: string, label = LABEL): string | undefined {
  const name = String(text).toLowerCase().replace(/\.$/, "");
  if (!name || name.length > 253) return undefined;
  return name.split(".").every((l) => label.test(l)) ? name : undefined;
}

interface Target {
  domain: string;
  record: string;
  zone: string;
}

interface NsupdateResult {
  /** Header status of the reply (`answer`), when there was one. */
  status?: string;
  /** TSIG error the server reported (BADKEY, BADSIG, BADTIME), if any. */
  tsigError?: string;
  /** Transport failure text (`timed out`, `connection refused`…), if any. */
  transport?: string;
  /** Redacted last line of stderr, for unexpected failures. */
  lastLine?: string;
  exitCode: number | null;
  killed: boolean;
}

export class Rfc2136Publisher implements DnsPublisherPort {
  readonly kind = "rfc2136";
  private readonly settings: Rfc2136Settings;
  private readonly opts: Rfc2136Options;
  private readonly host: string;
  private readonly port: number;
  private readonly timeoutSeconds: number;
  /** Every secret handed to nsupdate, so its output can be redacted. */
  private readonly secrets = new Set<string>();

  constructor(settings: Rfc2136Settings, opts: Rfc2136Options) {
    const parsed = parseNameserver(settings.server);
    if ("problem" in parsed) throw new Error(`rfc2136.server: ${parsed.problem}`);
    if (!dnsName(settings.zone))
      throw new Error(`rfc2136.zone: ${JSON.stringify(settings.zone)} is not a DNS name`);
    if (!KEY_NAME.test(settings.keyName))
      throw new Error(
        `rfc2136.keyName: ${JSON.stringify(settings.keyName)} is not a TSIG key name`,
      );
    if (!/^hmac-sha(1|224|256|384|512)$/.test(settings.algorithm))
      throw new Error(`rfc2136.algorithm: ${JSON.stringify(settings.algorithm)} is not supported`);
    const timeout = opts.timeoutSeconds ?? 30;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600)
      throw new Error("rfc2136 timeoutSeconds must be a whole number of seconds, 1–600");
    this.settings = settings;
    this.opts = opts;
    this.host = parsed.host;
    this.port = parsed.port;
    this.timeoutSeconds = timeout;
  }

  /** `host:port` as configured, for messages. */
  private get server(): string {
    return this.settings.server;
  }

  async publish(req: {
    domain: string;
    selector: string;
    strings: string[];
    ttl: number;
  }): Promise<{ detail: string }> {
    const target = this.target(req.domain, req.selector, "publish");
    const refuse = (reason: Rfc2136Reason, why: string) =>
      this.error(target, "publish", reason, why);
    if (!Array.isArray(req.strings) || req.strings.length === 0)
      throw refuse("invalid", "no character-strings to publish");
    req.strings.forEach((s, i) => {
      if (!/^[\x20-\x7e]*$/.test(s))
        throw refuse("invalid", `string ${i + 1} holds a character outside printable ASCII`);
      const bytes = Buffer.byteLength(s, "utf8");
      if (bytes > TXT_STRING_MAX)
        throw refuse(
          "invalid",
          `string ${i + 1} is ${bytes} bytes; a TXT character-string holds at most ${TXT_STRING_MAX} (RFC 1035 §3.3): split it`,
        );
    });
    if (!Number.isInteger(req.ttl) || req.ttl < 0 || req.ttl > TTL_MAX)
      throw refuse("invalid", `TTL ${req.ttl} is not a whole number of seconds 0–${TTL_MAX}`);

    const address = await this.address(target, "publish");
    const before = await this.soaSerial(address, target.zone);
    const bytes = req.strings.reduce((n, s) => n + s.length, 0);
    const rdata = req.strings.map((s) => `"${s.replace(/[\\"]/g, "\\$&")}"`).join(" ");
    this.progress(
      `rfc2136: one update to ${this.server} zone ${target.zone}.: replace TXT at ${target.record}. with ${req.strings.length} string(s), ${bytes} bytes, TTL ${req.ttl}`,
    );
    const started = Date.now();
    const result = await this.send(address, target, [
      `update delete ${target.record}. TXT`,
      `update add ${target.record}. ${req.ttl} TXT ${rdata}`,
    ]);
    if (result.status !== "NOERROR") throw this.failure(target, "publish", result);

    const served = await this.awaitServed(address, target.record, req.strings);
    if (!served.ok)
      throw refuse(
        "unconfirmed",
        `the primary answered NOERROR but serves ${served.what} (hint: is ${this.server} really the primary of ${target.zone}, or does a view hide the change?)`,
      );
    const after = await this.soaSerial(address, target.zone);
    const serial =
      before !== undefined && after !== undefined
        ? after !== before
          ? `SOA serial ${before} → ${after}`
          : `SOA serial ${after} unchanged (the record already held this value)`
        : `SOA serial ${after ?? "unknown"}`;
    const detail = `rfc2136: ${target.record} TXT published at ${this.server} (zone ${target.zone}) in one atomic update (${Date.now() - started} ms); the primary serves exactly the ${req.strings.length} string(s); ${serial}`;
    this.progress(detail);
    return { detail };
  }

  async remove(req: {
    domain: string;
    selector: string;
  }): Promise<{ acted: boolean; detail: string }> {
    const target = this.target(req.domain, req.selector, "remove");
    const address = await this.address(target, "remove");
    const present = await this.txt(address, target.record);
    if (present.kind === "none") {
      const detail = `rfc2136: ${target.record} holds no TXT at ${this.server} (${present.why}); nothing sent`;
      this.progress(detail);
      return { acted: false, detail };
    }
    this.progress(
      `rfc2136: one update to ${this.server} zone ${target.zone}.: delete the TXT RRset at ${target.record}.`,
    );
    const before = await this.soaSerial(address, target.zone);
    const result = await this.send(address, target, [
      `prereq yxrrset ${target.record}. TXT`,
      `update delete ${target.record}. TXT`,
    ]);
    if (result.status === "NXRRSET") {
      const detail = `rfc2136: ${target.record} held no TXT when the update arrived at ${this.server}; nothing written`;
      this.progress(detail);
      return { acted: false, detail };
    }
    if (result.status !== "NOERROR") throw this.failure(target, "remove", result);
    const gone = await this.awaitGone(address, target.record);
    if (!gone.ok)
      throw this.error(
        target,
        "remove",
        "unconfirmed",
        `the primary answered NOERROR but still serves ${gone.what}`,
      );
    const after = await this.soaSerial(address, target.zone);
    const detail = `rfc2136: TXT at ${target.record} deleted at ${this.server} (zone ${target.zone}); the primary answers ${gone.what}; SOA serial ${before ?? "unknown"} → ${after ?? "unknown"}`;
    this.progress(detail);
    return { acted: true, detail };
  }

  /**
   * The record name, refused unless it is `<selector>._domainkey.<domain>`
   * strictly inside the configured zone: nothing else is ever sent.
   */
  private target(domainIn: string, selectorIn: string, op: string): Target {
    const zone = dnsName(this.settings.zone)!;
    const domain = dnsName(domainIn, HOST_LABEL);
    const selector = String(selectorIn).toLowerCase();
    const shown: Target = {
      domain: domain ?? String(domainIn),
      record: `${String(selectorIn)}._domainkey.${String(domainIn)}`.slice(0, 300),
      zone,
    };
    if (!domain)
      throw this.error(shown, op, "outside", `${JSON.stringify(domainIn)} is not a DNS name`);
    if (!SELECTOR.test(selector))
      throw this.error(
        shown,
        op,
        "outside",
        `selector ${JSON.stringify(selectorIn)} is not one DNS label (letters, digits, inner hyphens)`,
      );
    const record = `${selector}._domainkey.${domain}`;
    if (!record.endsWith(`.${zone}`))
      throw this.error(
        { domain, record, zone },
        op,
        "outside",
        `${record} is outside zone ${zone}; this publisher only writes TXT at <selector>._domainkey.<domain> inside its zone (hint: set rfc2136.zone to the zone that holds _domainkey.${domain})`,
      );
    return { domain, record, zone };
  }

  private error(target: Target, op: string, reason: Rfc2136Reason, why: string): Rfc2136Error {
    const how =
      reason === "invalid" || reason === "outside"
        ? `refused before sending to ${this.server}`
        : reason === "timeout" || reason === "unreachable" || reason === "failed"
          ? `failed at ${this.server}`
          : `refused by ${this.server}`;
    return new Rfc2136Error(
      { domain: target.domain, server: this.server, zone: target.zone, record: target.record },
      reason,
      this.redact(`rfc2136 ${op} of ${target.record} TXT ${how} (zone ${target.zone}): ${why}`),
    );
  }

  private failure(target: Target, op: string, r: NsupdateResult): Rfc2136Error {
    const key = `${this.settings.algorithm}:${this.settings.keyName}`;
    const tsig = r.tsigError ? `NOTAUTH(${r.tsigError})` : r.status;
    const shown = (reason: Rfc2136Reason, text: string) => this.error(target, op, reason, text);
    const policyName = `_domainkey.${target.domain}.`;
    if (r.killed || /timed out/i.test(r.transport ?? ""))
      return shown(
        "timeout",
        `no reply within ${this.timeoutSeconds} s over TCP (hint: the DNS team must let the runner reach ${this.host} on TCP port ${this.port}, and this must be the zone's primary)`,
      );
    if (r.transport)
      return shown(
        "unreachable",
        `could not talk to the server over TCP: ${r.transport}${/operation canceled/i.test(r.transport) ? " (nsupdate's words for connection refused or no route)" : ""} (hint: check rfc2136.server; the DNS team must let the runner reach ${this.host} on TCP port ${this.port})`,
      );
    if (r.tsigError === "BADKEY")
      return shown(
        "badkey",
        `${tsig}: TSIG (RFC 8945) BADKEY, the server knows no key ${key} (hint: the DNS team must define key "${this.settings.keyName}" with algorithm ${this.settings.algorithm} on the primary, or rfc2136.keyName/algorithm must match theirs)`,
      );
    if (r.tsigError === "BADSIG" || /tsig verify failure/i.test(r.lastLine ?? ""))
      return shown(
        "badsig",
        `${tsig ?? "NOTAUTH"}: TSIG (RFC 8945) BADSIG, the secret in ${this.settings.secretName} does not match key ${key} on the primary (hint: the DNS team must hand over the key's current secret; store it in ${this.settings.secretName})`,
      );
    if (r.tsigError === "BADTIME")
      return shown(
        "badtime",
        `${tsig}: TSIG (RFC 8945) BADTIME, runner and primary clocks differ by more than the allowed fudge (hint: the primary's clock must be synchronised with NTP)`,
      );
    if (r.status === "NOTAUTH")
      return shown(
        "notauth",
        `NOTAUTH: the server is not authoritative for zone ${target.zone} (hint: rfc2136.server must be the zone's primary, the SOA MNAME, and rfc2136.zone the zone it serves)`,
      );
    if (r.status === "REFUSED")
      return shown(
        "refused",
        `REFUSED: the update-policy of zone ${target.zone} does not grant key ${this.settings.keyName} TXT at ${target.record} (hint: the DNS team must add "grant ${this.settings.keyName} subdomain ${policyName} TXT;" to the zone's update-policy)`,
      );
    if (r.status === "NOTZONE")
      return shown(
        "notzone",
        `NOTZONE: ${target.record} is not inside zone ${target.zone} on the server (hint: set rfc2136.zone to the zone that holds ${policyName})`,
      );
    if (r.status === "SERVFAIL")
      return shown(
        "servfail",
        `SERVFAIL: the primary could not apply the update (hint: the DNS team must check named's log: journal not writable, zone not loaded, or frozen with rndc freeze)`,
      );
    return shown(
      "failed",
      `${r.status ?? `nsupdate exited ${r.exitCode}`}${r.lastLine ? `: ${r.lastLine}` : ""}`,
    );
  }

  /** An IP address for the server (nsupdate and the confirming queries ask the same one). */
  private async address(target: Target, op: string): Promise<string> {
    if (isIP(this.host)) return this.host;
    try {
      const found = await dnsPromises.lookup(this.host);
      return found.address;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "lookup failed";
      throw this.error(
        target,
        op,
        "unreachable",
        `the server name ${this.host} does not resolve (${code}) (hint: check rfc2136.server)`,
      );
    }
  }

  private async send(address: string, target: Target, lines: string[]): Promise<NsupdateResult> {
    const raw = (await this.opts.tsigSecret()).trim();
    if (!raw || !BASE64.test(raw))
      throw this.error(
        target,
        "update",
        "invalid",
        `the TSIG secret in ${this.settings.secretName} is not base64 (its value is not shown) (hint: store the key's secret exactly as tsig-keygen prints it)`,
      );
    const secret = raw;
    this.secrets.add(secret);
    const script = [
      `server ${address} ${this.port}`,
      `zone ${target.zone}.`,
      `key ${this.settings.algorithm}:${this.settings.keyName} ${secret}`,
      ...lines,
      "send",
      "answer",
      "quit",
      "",
    ].join("\n");
    const child = spawn(
      this.opts.nsupdatePath ?? "nsupdate",
      ["-v", "-t", String(this.timeoutSeconds)],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let killed = false;
    const watchdog = setTimeout(
      () => {
        killed = true;
        child.kill("SIGKILL");
      },
      (this.timeoutSeconds + 5) * 1000,
    );
    const done = new Promise<{ code: number | null; spawnError?: NodeJS.ErrnoException }>(
      (resolve) => {
        child.once("error", (e: NodeJS.ErrnoException) => resolve({ code: null, spawnError: e }));
        child.once("close", (code) => resolve({ code }));
      },
    );
    child.stdin.on("error", () => {}); // EPIPE if nsupdate died first; the exit tells why
    child.stdin.end(script);
    const { code, spawnError } = await done.finally(() => clearTimeout(watchdog));
    if (spawnError)
      throw this.error(
        target,
        "update",
        "failed",
        `cannot run ${this.opts.nsupdatePath ?? "nsupdate"} (${spawnError.code ?? spawnError.message}) (hint: install BIND's nsupdate: apt-get install bind9-dnsutils)`,
      );
    const out = this.redact(stdout);
    const err = this.redact(stderr);
    const status = /->>HEADER<<-\s+opcode:\s*UPDATE,\s*status:\s*([A-Z]+)/.exec(out)?.[1];
    const failed = /update failed:\s*([A-Z]+)(?:\(([A-Z]+)\))?/.exec(err);
    const tsigFromAnswer = /\sTSIG\s+\S+\s+\d+\s+\d+\s+\d+\s+(?:\S+\s+)?\d+\s+(BAD[A-Z]+)\b/.exec(
      out,
    )?.[1];
    const transport =
      /Communication with \S+ failed:\s*([^\n]+)/.exec(err)?.[1]?.trim() ??
      /couldn't get address for '[^']*':\s*([^\n]+)/.exec(err)?.[1]?.trim();
    const lastLine = err.trim().split("\n").filter(Boolean).at(-1);
    const result: NsupdateResult = {
      status: status ?? failed?.[1] ?? (code === 0 ? "NOERROR" : undefined),
      tsigError: failed?.[2] ?? tsigFromAnswer,
      transport,
      lastLine,
      exitCode: code,
      killed,
    };
    if (code === 0 && result.status === undefined) result.status = "NOERROR";
    if (code !== 0 && result.status === "NOERROR" && !failed) result.status = undefined;
    this.progress(
      `rfc2136: ${this.server} answered ${result.tsigError ? `${result.status}(${result.tsigError})` : (result.status ?? result.transport ?? `nsupdate exit ${code}`)}`,
    );
    return result;
  }

  /** Never let a TSIG secret out: not in errors, not in progress lines. */
  private redact(text: string): string {
    let out = text;
    for (const s of this.secrets) {
      for (const form of new Set([s, s.replace(/=+$/, "")])) {
        if (form.length >= 4) out = out.split(form).join("[tsig secret]");
      }
    }
    return out;
  }

  private progress(line: string): void {
    this.opts.onProgress?.(this.redact(line));
  }

  private resolver(address: string): dnsPromises.Resolver {
    const resolver = new dnsPromises.Resolver({
      timeout: Math.min(2000, this.timeoutSeconds * 500),
      tries: 2,
    });
    resolver.setServers([
      isIP(address) === 6 ? `[${address}]:${this.port}` : `${address}:${this.port}`,
    ]);
    return resolver;
  }

  private async soaSerial(address: string, zone: string): Promise<number | undefined> {
    try {
      return (await this.resolver(address).resolveSoa(zone)).serial;
    } catch {
      return undefined;
    }
  }

  private async txt(
    address: string,
    name: string,
  ): Promise<
    | { kind: "none"; why: string }
    | { kind: "some"; records: string[][] }
    | { kind: "error"; why: string }
  > {
    try {
      const records = await this.resolver(address).resolveTxt(name);
      return records.length ? { kind: "some", records } : { kind: "none", why: "NODATA" };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ENOTFOUND") return { kind: "none", why: "NXDOMAIN" };
      if (code === "ENODATA") return { kind: "none", why: "NODATA" };
      return { kind: "error", why: code ?? String(err) };
    }
  }

  /** Ask the primary until it serves exactly `strings` (a short poll: BIND answers after applying). */
  private async awaitServed(
    address: string,
    name: string,
    strings: string[],
  ): Promise<{ ok: boolean; what: string }> {
    const deadline = Date.now() + Math.min(this.timeoutSeconds, 10) * 1000;
    let what = "nothing";
    for (;;) {
      const r = await this.txt(address, name);
      if (r.kind === "some") {
        const exact = r.records.length === 1 && sameStrings(r.records[0]!, strings);
        if (exact) return { ok: true, what: "the record" };
        what = `${r.records.length} TXT record(s), not exactly the published strings`;
      } else {
        what = r.kind === "none" ? `no TXT (${r.why})` : `no answer (${r.why})`;
      }
      if (Date.now() > deadline) return { ok: false, what };
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private async awaitGone(address: string, name: string): Promise<{ ok: boolean; what: string }> {
    const deadline = Date.now() + Math.min(this.timeoutSeconds, 10) * 1000;
    for (;;) {
      const r = await this.txt(address, name);
      if (r.kind === "none") return { ok: true, what: r.why };
      const what = r.kind === "some" ? `${r.records.length} TXT record(s)` : `no answer (${r.why})`;
      if (Date.now() > deadline) return { ok: false, what };
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function sameStrings(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}
