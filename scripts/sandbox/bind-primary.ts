/**
 * `--publisher rfc2136`: a real BIND `named` on loopback is the hidden
 * primary of every sandbox domain. Each zone is dynamic for one TSIG key,
 * granted only TXT below `_domainkey` (`update-policy { grant <key>
 * subdomain _domainkey.<zone>. TXT; }`), and transfers to 127.0.0.1 only.
 * The action's real `Rfc2136Publisher` (nsupdate over TCP, TSIG) updates it;
 * the sandbox's two authoritative servers follow it as secondaries do after
 * a NOTIFY: `poll()` compares the SOA serial and, when it rose, transfers the
 * zone (`dig AXFR`) and hands over its `_domainkey` TXT records.
 *
 * named's directory (its named.conf holds the TSIG secret) is a temporary
 * directory outside the sandbox's output, removed when named stops.
 */
import { execFile } from "node:child_process";
import { promises as dns } from "node:dns";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  findBinary,
  freePort,
  startBind,
  tsigKeygen,
  type BindServer,
  type BindZone,
} from "../../test/helpers/bind";

const execFileAsync = promisify(execFile);

export interface BindPrimaryZone {
  origin: string;
  /** The master file's text (the same zone the sandbox's servers start with). */
  text: string;
}

export interface BindPrimary {
  readonly port: number;
  /** `127.0.0.1:<port>`: the identities' `rfc2136.server`. */
  readonly server: string;
  readonly keyName: string;
  readonly algorithm: "hmac-sha256";
  /** The TSIG secret (base64), for the emulator's Secrets Manager. */
  readonly secret: string;
  /** Start named with these zones (the port and key are fixed before, for the stack file). */
  start(zones: BindPrimaryZone[]): Promise<void>;
  /** The zone's SOA serial as named answers it. */
  serial(origin: string): Promise<number>;
  /** The zone by AXFR: selector → joined TXT value, for every `<selector>._domainkey` TXT. */
  transferDkim(origin: string): Promise<Map<string, string>>;
  /** `dig TXT <selector>._domainkey.<origin>` on the primary itself: the joined value(s). */
  digTxt(origin: string, selector: string): Promise<string[]>;
  stop(): Promise<void>;
}

/** Every binary the rfc2136 sandbox needs, or a message naming the missing ones. */
export function bindBinaries(): { named: string; dig: string; keygen: string } | string {
  const named = findBinary("named");
  const dig = findBinary("dig");
  const keygen = findBinary("tsig-keygen");
  const nsupdate = findBinary("nsupdate");
  const missing = [
    ["named", named],
    ["dig", dig],
    ["tsig-keygen", keygen],
    ["nsupdate", nsupdate],
  ]
    .filter(([, p]) => !p)
    .map(([n]) => n);
  if (missing.length)
    return `--publisher rfc2136 runs BIND: ${missing.join(", ")} not found (Debian/Ubuntu: apt-get install bind9 bind9-utils bind9-dnsutils)`;
  return { named: named!, dig: dig!, keygen: keygen! };
}

export async function prepareBindPrimary(keyName = "sandbox-dkim-rotation."): Promise<BindPrimary> {
  const bins = bindBinaries();
  if (typeof bins === "string") throw new Error(bins);
  const key = await tsigKeygen(bins.keygen, keyName, "hmac-sha256");
  const port = await freePort();
  let bind: BindServer | undefined;
  let zonesDir: string | undefined;

  const dig = async (args: string[]) =>
    (
      await execFileAsync(
        bins.dig,
        ["@127.0.0.1", "-p", String(port), "+norecurse", "+tries=1", "+time=2", ...args],
        { maxBuffer: 16 * 1024 * 1024 },
      )
    ).stdout;

  const stop = async () => {
    await bind?.stop();
    bind = undefined;
    if (zonesDir) await rm(zonesDir, { recursive: true, force: true });
    zonesDir = undefined;
  };

  return {
    port,
    server: `127.0.0.1:${port}`,
    keyName: key.name,
    algorithm: "hmac-sha256",
    secret: key.secret,
    async start(zones) {
      // named writes each zone's journal (<file>.jnl) beside it: a directory of our own.
      const dir = (zonesDir = await mkdtemp(path.join(os.tmpdir(), "sandbox-named-zones-")));
      const bindZones: BindZone[] = [];
      for (const z of zones) {
        const file = path.join(dir, `${z.origin}.zone`);
        await writeFile(file, z.text);
        bindZones.push({
          origin: z.origin,
          file,
          updatePolicy: [`grant ${key.name} subdomain _domainkey.${z.origin}. TXT`],
          // The sandbox's servers transfer from it (they do not take NOTIFY).
          allowTransfer: ["127.0.0.1"],
        });
      }
      try {
        bind = await startBind(bins.named, bindZones, 15_000, { keys: [key], port });
      } catch (err) {
        await stop();
        throw new Error(`sandbox primary: ${(err as Error).message}`);
      }
    },
    async serial(origin) {
      const resolver = new dns.Resolver({ timeout: 1000, tries: 3 });
      resolver.setServers([`127.0.0.1:${port}`]);
      return (await resolver.resolveSoa(origin)).serial;
    },
    async transferDkim(origin) {
      const out = await dig(["+tcp", "+nocmd", "+nostats", "+nocomments", "AXFR", origin]);
      if (/Transfer failed/i.test(out))
        throw new Error(`sandbox primary: AXFR of ${origin} failed: ${out.trim()}`);
      const suffix = `._domainkey.${origin}.`;
      const dkim = new Map<string, string>();
      for (const line of out.split("\n")) {
        const m = /^(\S+)\s+\d+\s+IN\s+TXT\s+(.*)$/.exec(line);
        if (!m) continue;
        const name = m[1]!.toLowerCase();
        if (!name.endsWith(suffix)) continue;
        const selector = name.slice(0, -suffix.length);
        if (selector.includes(".")) continue;
        dkim.set(selector, quotedStrings(m[2]!).join(""));
      }
      return dkim;
    },
    async digTxt(origin, selector) {
      const out = await dig(["+short", "TXT", `${selector}._domainkey.${origin}`]);
      return out
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => quotedStrings(l).join(""));
    },
    stop,
  };
}

/** The character-strings of dig's presentation format (`\"`, `\\`, `\DDD` unescaped). */
export function quotedStrings(rdata: string): string[] {
  return [...rdata.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) =>
    m[1]!.replace(/\\(\d{3}|.)/g, (_, e: string) =>
      /^\d{3}$/.test(e) ? String.fromCharCode(Number(e)) : e,
    ),
  );
}
