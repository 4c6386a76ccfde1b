/**
 * DNS verification: does every authoritative nameserver serve exactly the
 * DKIM record for the new selector? (docs/design.md#invariant-1-no-swap-without-dns)
 *
 * Each server is asked directly, with its own resolver pointed only at it,
 * never through a caching resolver: asking a recursive resolver about a
 * selector before it is published makes it cache the NXDOMAIN for
 * min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), which would delay the moment we
 * (and anyone behind that resolver) see the record. Every resolver is also
 * created fresh per check, so nothing is answered from c-ares' own cache.
 *
 * DNS-level failures are results, not exceptions: `verify` always resolves
 * with one line per server saying what it served or why it could not answer.
 */
import { promises as dnsPromises } from "node:dns";
import { isIP } from "node:net";
import { checkRecordValue, parseDkimTags } from "../engine/record";
import { systemClock, type Clock } from "../engine/clock";
import { parseNameserver } from "../engine/config";
import type { DnsPort, DnsVerification, NameserverCheck } from "../engine/ports";

/** The part of `dns.promises.Resolver` we use; tests and the sandbox may hand in their own. */
export interface ResolverLike {
  setServers(servers: string[]): void;
  resolveTxt(name: string): Promise<string[][]>;
  /** Only the Easy DKIM check asks for CNAMEs; test fakes may leave it out. */
  resolveCname?(name: string): Promise<string[]>;
  resolveNs(name: string): Promise<string[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  cancel(): void;
}

export interface ResolverSettings {
  /** Per-attempt timeout in milliseconds (c-ares doubles it on each retry). */
  timeout: number;
  tries: number;
}

export type ResolverFactory = (settings: ResolverSettings) => ResolverLike;

export const defaultResolverFactory: ResolverFactory = (settings) =>
  new dnsPromises.Resolver(settings);

export interface DnsVerifierOptions {
  /** Creates one resolver per authoritative server per check. Default: `new dns.promises.Resolver({ timeout, tries })`. */
  createResolver?: ResolverFactory;
  /**
   * The resolver used ONLY to discover NS records and the servers' addresses
   * (never to read the DKIM record). Default: a resolver using the system's
   * configured servers.
   */
  systemResolver?: ResolverLike;
  /** Per-attempt timeout in ms. Default 2000. */
  timeoutMs?: number;
  /** Attempts per query. Default 3. */
  tries?: number;
  clock?: Clock;
  /** Port for discovered nameservers. Default 53 (tests point it at loopback servers). */
  nameserverPort?: number;
  /**
   * Which addresses of a discovered nameserver to query. `fallback` (default):
   * IPv4, and IPv6 only for a server with no IPv4 address, because GitHub-hosted
   * runners have no IPv6 route and every AAAA would otherwise show as unreachable.
   * `both`: every address. `ipv4`: never IPv6.
   */
  ipv6?: "fallback" | "both" | "ipv4";
}

/** One server to ask, and how to name it in reports. */
export interface NameserverTarget {
  /** `ns1.example.jp (192.0.2.1:53)`, or `127.0.0.1:5300` for a configured address. */
  label: string;
  /** The NS host name, or the configured host. */
  host: string;
  /** Address to query; undefined if the host has none (reported as unreachable). */
  address?: string;
  port: number;
  /** Why there is no address, when there is none. */
  problem?: string;
}

/** A one-line error for NS discovery that found nothing to ask. */
export class NameserverDiscoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NameserverDiscoveryError";
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" ? code : err instanceof Error ? err.message : String(err);
}

/** `ip:port` as `setServers` wants it (IPv6 in brackets). */
function serverSpec(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Split `host`, `host:port` or `[v6]:port` (the config's one reading, `parseNameserver`). */
export function parseServer(entry: string, defaultPort = 53): { host: string; port: number } {
  const parsed = parseNameserver(entry, defaultPort);
  if ("problem" in parsed) throw new NameserverDiscoveryError(`nameserver ${parsed.problem}`);
  return parsed;
}

/** How a person would ask the same server with dig: `ns1.example.jp`, or `127.0.0.1 -p 5300`. */
function digTarget(host: string, port: number): string {
  return port === 53 ? host : `${host} -p ${port}`;
}

/** What a DKIM key record looks like among other TXT records at the same name. */
function looksLikeDkim(value: string): boolean {
  if (/^\s*v\s*=\s*DKIM1\s*(;|$)/.test(value)) return true;
  // RFC 6376 §3.6.1: v= is RECOMMENDED, not required; a tag-list with p= is a key record too.
  try {
    parseDkimTags(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * The answers Node (c-ares) reports as errors although the server DID answer:
 * named by their RCODE (RFC 1035 §4.1.1), as `dig` shows them, with what each
 * usually means. A server that answers REFUSED is reachable; calling it
 * unreachable sends the DNS team to the firewall instead of the zone.
 */
const RCODE_ERRORS: Record<string, { rcode: string; meaning: string }> = {
  EREFUSED: {
    rcode: "REFUSED",
    meaning: "the server will not answer for this name (not authoritative for the zone, or an ACL)",
  },
  ESERVFAIL: {
    rcode: "SERVFAIL",
    meaning: "the server failed to answer (zone not loaded, expired, or a broken upstream)",
  },
  ENOTIMP: { rcode: "NOTIMP", meaning: "the server does not implement this query" },
  EFORMERR: { rcode: "FORMERR", meaning: "the server could not parse the query" },
};

/** Node's other DNS error codes (no answer at all), in words a DNS team recognises. */
const UNREACHABLE_WORDS: Record<string, string> = {
  ETIMEOUT: "timed out",
  ECONNREFUSED: "connection refused",
  ECANCELLED: "query cancelled",
  EDESTRUCTION: "resolver shut down",
  ECONNRESET: "connection reset",
};

/** A DNS error code in words: `REFUSED (EREFUSED)` for an answer, `timed out (ETIMEOUT)` for none. */
export function dnsErrorWords(code: string): string {
  return `${RCODE_ERRORS[code]?.rcode ?? UNREACHABLE_WORDS[code] ?? "failed"} (${code})`;
}

export class DnsVerifier implements DnsPort {
  private readonly createResolver: ResolverFactory;
  private readonly systemResolver: ResolverLike;
  private readonly settings: ResolverSettings;
  private readonly clock: Clock;
  private readonly nameserverPort: number;
  private readonly ipv6: "fallback" | "both" | "ipv4";

  constructor(options: DnsVerifierOptions = {}) {
    this.settings = { timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 3 };
    this.createResolver = options.createResolver ?? defaultResolverFactory;
    this.systemResolver = options.systemResolver ?? this.createResolver(this.settings);
    this.clock = options.clock ?? systemClock;
    this.nameserverPort = options.nameserverPort ?? 53;
    this.ipv6 = options.ipv6 ?? "fallback";
  }

  /**
   * The servers to name in a record file's `dig` lines and a PR body:
   * NS host names (discovered) or the configured entries, in a form that
   * pastes after `dig … @`. Throws `NameserverDiscoveryError` (one line) when
   * discovery finds nothing.
   */
  async nameservers(domain: string, configured?: string[]): Promise<string[]> {
    const targets = await this.targets(domain, configured);
    return [...new Set(targets.map((t) => digTarget(t.host, t.port)))];
  }

  /**
   * Every server to ask, with address and a label for reports. A configured
   * host name is resolved to its addresses; discovered NS hosts likewise.
   */
  async targets(domain: string, configured?: string[]): Promise<NameserverTarget[]> {
    if (configured?.length) {
      const out: NameserverTarget[] = [];
      for (const entry of configured) {
        const { host, port } = parseServer(entry);
        if (isIP(host)) out.push({ label: serverSpec(host, port), host, address: host, port });
        else out.push(...(await this.addressTargets(host, port)));
      }
      return out;
    }
    const hosts = await this.discoverNs(domain);
    const perHost = await Promise.all(
      hosts.map((h) => this.addressTargets(h, this.nameserverPort)),
    );
    return perHost.flat();
  }

  /**
   * NS records for the domain, walking up one label at a time when the name
   * has none (a sub-domain served inside its parent's zone answers NODATA or,
   * if nothing else lives there, NXDOMAIN). Stops before the top-level
   * domain: a TLD's servers never hold our record.
   */
  private async discoverNs(domain: string): Promise<string[]> {
    const labels = domain.replace(/\.$/, "").split(".");
    let last = "";
    for (let i = 0; i < labels.length - 1; i++) {
      const name = labels.slice(i).join(".");
      try {
        const ns = await this.systemResolver.resolveNs(name);
        if (ns.length)
          return [...new Set(ns.map((n) => n.replace(/\.$/, "").toLowerCase()))].sort();
      } catch (err) {
        const code = errorCode(err);
        last = `${name}: ${code}`;
        // Only "no such name / no NS here" means "look at the parent".
        if (code !== "ENODATA" && code !== "ENOTFOUND") {
          throw new NameserverDiscoveryError(
            `NS lookup for ${name} failed: ${dnsErrorWords(code)}`,
          );
        }
      }
    }
    throw new NameserverDiscoveryError(
      `no NS records for ${domain} or its parent domains (${last || "no lookup made"}); configure nameservers for the identity`,
    );
  }

  private async addressTargets(host: string, port: number): Promise<NameserverTarget[]> {
    const lookup = async (family: 4 | 6): Promise<{ addresses: string[]; error?: string }> => {
      try {
        const addresses =
          family === 4
            ? await this.systemResolver.resolve4(host)
            : await this.systemResolver.resolve6(host);
        return { addresses };
      } catch (err) {
        return { addresses: [], error: errorCode(err) };
      }
    };
    const v4 = await lookup(4);
    let addresses = v4.addresses;
    let v6error: string | undefined;
    if (this.ipv6 === "both" || (this.ipv6 === "fallback" && !addresses.length)) {
      const v6 = await lookup(6);
      addresses = [...addresses, ...v6.addresses];
      v6error = v6.error;
    }
    if (!addresses.length) {
      const why = [v4.error && `A: ${v4.error}`, v6error && `AAAA: ${v6error}`]
        .filter(Boolean)
        .join(", ");
      return [{ label: host, host, port, problem: `has no address${why ? ` (${why})` : ""}` }];
    }
    return addresses.map((address) => ({
      label: `${host} (${serverSpec(address, port)})`,
      host,
      address,
      port,
    }));
  }

  async verify(
    domain: string,
    selector: string,
    expectedPublicKey: string,
    configured?: string[],
  ): Promise<DnsVerification> {
    const name = `${selector}._domainkey.${domain.replace(/\.$/, "")}`;
    return this.onEachServer(domain, selector, configured, (t) =>
      this.checkOne(t, name, expectedPublicKey),
    );
  }

  /** Ask every authoritative server, concurrently: a slow server must not make the others' answers stale. */
  private async onEachServer(
    domain: string,
    selector: string,
    configured: string[] | undefined,
    check: (target: NameserverTarget) => Promise<NameserverCheck>,
  ): Promise<DnsVerification> {
    let targets: NameserverTarget[];
    try {
      targets = await this.targets(domain, configured);
    } catch (err) {
      // No servers to ask is a failed verification, reported, not thrown.
      const detail = err instanceof Error ? err.message : String(err);
      return {
        domain,
        selector,
        ok: false,
        servers: [{ server: "(nameserver discovery)", status: "unreachable", detail }],
        checkedAt: this.clock.now(),
      };
    }
    const servers = await Promise.all(targets.map(check));
    return {
      domain,
      selector,
      ok: servers.length > 0 && servers.every((s) => s.status === "ok"),
      servers,
      checkedAt: this.clock.now(),
    };
  }

  async verifyEasyDkim(
    domain: string,
    cnames: readonly { token: string; name: string; target: string }[],
    configured?: string[],
  ): Promise<DnsVerification> {
    const canonical = (n: string) => n.replace(/\.$/, "").toLowerCase();
    return this.onEachServer(
      domain,
      cnames[0]?.token ?? "",
      configured,
      async (t): Promise<NameserverCheck> => {
        if (!t.address)
          return { server: t.label, status: "unreachable", detail: `${t.host} has no address` };
        const bad: string[] = [];
        for (const { name, target } of cnames) {
          // The target as SES gave it (SigningHostedZone), never an assumed zone.
          const want = canonical(target);
          const resolver = this.createResolver(this.settings);
          resolver.setServers([serverSpec(t.address, t.port)]);
          try {
            if (!resolver.resolveCname)
              throw Object.assign(new Error("no CNAME"), { code: "ENOTIMP" });
            const got = (await resolver.resolveCname(name)).map(canonical);
            if (!got.includes(want))
              bad.push(`${name} → ${got.join(", ") || "nothing"} (SES asks for ${want})`);
          } catch (err) {
            bad.push(`${name}: ${errorCode(err)}`);
          } finally {
            resolver.cancel();
          }
        }
        return bad.length
          ? { server: t.label, status: "missing", detail: `Easy DKIM CNAME ${bad.join("; ")}` }
          : { server: t.label, status: "ok", detail: "serves the Easy DKIM CNAMEs" };
      },
    );
  }

  private async checkOne(
    target: NameserverTarget,
    name: string,
    expected: string,
  ): Promise<NameserverCheck> {
    const server = target.label;
    if (!target.address) {
      return {
        server,
        status: "unreachable",
        detail: `${target.host} ${target.problem ?? "has no address"}`,
      };
    }
    let result: string[][] | "NXDOMAIN" | "NODATA";
    try {
      result = await queryTxt(serverSpec(target.address, target.port), name, {
        createResolver: this.createResolver,
        ...this.settings,
      });
    } catch (err) {
      const code = errorCode(err);
      const answered = RCODE_ERRORS[code];
      if (answered)
        return {
          server,
          status: "error",
          detail: `answered ${answered.rcode} for ${name}: ${answered.meaning} (${code})`,
        };
      if (code === "EBADRESP" || code === "EBADNAME") {
        return { server, status: "malformed", detail: `unparseable response (${code})` };
      }
      return { server, status: "unreachable", detail: dnsErrorWords(code) };
    }
    if (result === "NXDOMAIN") {
      return {
        server,
        status: "missing",
        detail: `NXDOMAIN: ${name} does not exist on this server`,
      };
    }
    if (result === "NODATA") {
      return { server, status: "missing", detail: `NODATA: ${name} exists but has no TXT record` };
    }
    // RFC 6376 §3.6.2.2: the strings of one TXT record are joined with no separator.
    const values = result.map((strings) => strings.join(""));
    const dkim = values.length === 1 ? values : values.filter(looksLikeDkim);
    if (dkim.length === 0) {
      return {
        server,
        status: "malformed",
        detail: `${values.length} TXT records at ${name}, none of them a DKIM key record`,
      };
    }
    if (dkim.length > 1) {
      // RFC 6376 §3.6.2.2: more than one key record is an error for a verifier.
      return {
        server,
        status: "malformed",
        detail: `${dkim.length} DKIM key records at ${name}; there must be exactly one`,
      };
    }
    const value = dkim[0]!;
    const check = checkRecordValue(value, expected);
    switch (check.status) {
      case "ok":
        return { server, status: "ok", detail: "serves the expected key", value };
      case "revoked":
        return { server, status: "revoked", detail: check.detail, value };
      case "mismatch":
        return { server, status: "mismatch", detail: `tag ${check.tag}: ${check.detail}`, value };
      case "malformed":
        return { server, status: "malformed", detail: check.detail, value };
    }
  }
}

export interface QueryTxtOptions {
  createResolver?: ResolverFactory;
  /** Per-attempt timeout in ms. Default 2000. */
  timeout?: number;
  tries?: number;
}

/**
 * Ask ONE server (`ip:port`, `[v6]:port` or a bare IP) for the TXT records at
 * `name`. Returns each record's character-strings (not joined), or
 * `"NXDOMAIN"` / `"NODATA"`. Throws (with Node's `code`, e.g. ETIMEOUT,
 * ECONNREFUSED, ESERVFAIL, EREFUSED, EBADRESP) when the server did not give an
 * answer. A fresh resolver per call: nothing comes from a cache.
 */
export async function queryTxt(
  server: string,
  name: string,
  options: QueryTxtOptions = {},
): Promise<string[][] | "NXDOMAIN" | "NODATA"> {
  const resolver = (options.createResolver ?? defaultResolverFactory)({
    timeout: options.timeout ?? 2000,
    tries: options.tries ?? 3,
  });
  resolver.setServers([server]);
  try {
    return await resolver.resolveTxt(name);
  } catch (err) {
    const code = errorCode(err);
    // c-ares maps rcode 3 to ENOTFOUND and an empty NOERROR answer to ENODATA.
    if (code === "ENOTFOUND") return "NXDOMAIN";
    if (code === "ENODATA") return "NODATA";
    throw err;
  } finally {
    resolver.cancel();
  }
}
