/**
 * A small authoritative DNS server on loopback, for the sandbox and the tests.
 *
 * It behaves like the on-premises servers the verifier will meet, because the
 * verifier's job is to tell those behaviours apart:
 * - answers carry the AA bit (RFC 1035 §4.1.1);
 * - a name that does not exist is NXDOMAIN, and a name that exists without the
 *   asked type is NODATA; both carry the zone's SOA in the authority section so
 *   resolvers can cache the negative answer (RFC 2308 §2.1, §2.2, §3);
 * - names outside every served zone are REFUSED (what BIND says with
 *   `recursion no`);
 * - a UDP answer larger than 512 bytes (RFC 1035 §4.2.1), or than the size the
 *   client advertised with EDNS (RFC 6891 §6.2.5), is truncated with TC set,
 *   so the client retries over TCP (RFC 7766), which is served too, with the
 *   2-byte length prefix (RFC 1035 §4.2.2).
 *
 * Zones are plain data (`ZoneModel`) that the sandbox replaces atomically with
 * `setZone`. Answering is a pure function (`answer`) from zones and query to a
 * response packet; encoding and sending are separate steps, so a fault hook
 * (a >255-byte string, a truncated record) can later be slotted in between.
 */
import dgram from "node:dgram";
import net from "node:net";
import { generateKeyPairSync } from "node:crypto";
import dnsPacket from "dns-packet";
import type { Answer, DecodedPacket, Packet, Question, SoaAnswer } from "dns-packet";
import {
  DNS_FAULT_KINDS,
  FaultDecider,
  validateFaultPlan,
  type DnsFaultKind,
  type FaultPlan,
} from "./faults";
import { dkimRecordValue, splitTxt } from "../../actions/dkim-rotation/src/engine/record";

/** One character-string holds at most 255 bytes (RFC 1035 §3.3, §3.3.14). */
const TXT_STRING_MAX = 255;
/** Classic UDP payload limit without EDNS (RFC 1035 §4.2.1). */
const UDP_CLASSIC_MAX = 512;
/** What we advertise and the most we send over UDP with EDNS (DNS Flag Day 2020 value). */
const UDP_EDNS_MAX = 1232;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export type ZoneRecordType = "TXT" | "NS" | "A" | "AAAA" | "SOA" | "CNAME";

export interface ZoneRecord {
  /**
   * Owner name. Absolute if it ends with a dot; `@` or `""` is the origin;
   * a name equal to or under the origin (without the dot) is taken as absolute;
   * anything else is relative to the origin.
   */
  name: string;
  type: ZoneRecordType;
  /** Defaults to the zone's `ttl`. */
  ttl?: number;
  /**
   * TXT: the character-strings, each at most 255 bytes.
   * NS: a host name. A / AAAA: an address.
   * SOA is not allowed here: the apex SOA comes from `ZoneModel.soa` and `serial`.
   */
  data: (string | Buffer)[] | string;
}

export interface SoaFields {
  mname: string;
  rname: string;
  refresh: number;
  retry: number;
  expire: number;
  /** Negative-caching TTL bound (RFC 2308 §4). */
  minimum: number;
}

export interface ZoneModel {
  serial: number;
  soa: SoaFields;
  /** Default TTL, also the SOA record's TTL. */
  ttl: number;
  records: ZoneRecord[];
}

/** A zone as served: origin attached, names absolute and lower-case, apex NS present. */
export interface ServedZone extends ZoneModel {
  origin: string;
}

interface Rr {
  name: string;
  type: Exclude<ZoneRecordType, "SOA">;
  ttl: number;
  data: Buffer[] | string;
}

interface CompiledZone {
  origin: string;
  model: ServedZone;
  soa: SoaAnswer;
  /** Owner name → records. */
  nodes: Map<string, Rr[]>;
}

export interface QueryLogEntry {
  name: string;
  type: string;
  transport: "udp" | "tcp";
  rcode: number;
}

/**
 * Seeded faults in TXT answers (see ./faults.ts). A query is faulted with
 * probability `rate`, with one of the enabled kinds that can apply to it:
 * `stale` needs an earlier version of the zone, the others a TXT answer.
 */
export interface DnsServerFaults extends FaultPlan<DnsFaultKind> {
  /** Names this server in fault keys and logs (`ns2`); default `address:port`. */
  label?: string;
  /** Only names for which this returns true are faulted (default: every TXT query). */
  applies?: (name: string) => boolean;
}

export interface DnsFaultEvent {
  kind: DnsFaultKind;
  name: string;
  transport: "udp" | "tcp";
  detail: string;
}

export interface DnsServerOptions {
  /** Default 127.0.0.1. */
  address?: string;
  /** Default 0 (an ephemeral port; read `port` from the result). UDP and TCP share it. */
  port?: number;
  zones?: Record<string, ZoneModel>;
  faults?: DnsServerFaults;
}

export interface DnsServer {
  port: number;
  address: string;
  /** Replace (or add) a zone atomically: a query sees either the old or the new version. */
  setZone(origin: string, zone: ZoneModel): ServedZone;
  removeZone(origin: string): void;
  /** The zone as served now, if any. */
  getZone(origin: string): ServedZone | undefined;
  /** Queries per name (lower-case, no trailing dot), over UDP and TCP. */
  queries: Map<string, number>;
  /** Every query in order, for tests that need the type or the transport. */
  queryLog: QueryLogEntry[];
  /** Replace the fault plan (undefined: none); counts restart. */
  setFaults(faults: DnsServerFaults | undefined): void;
  /** Injected faults by kind since the plan was set. */
  faultCounts(): Partial<Record<DnsFaultKind, number>>;
  faultLog(): DnsFaultEvent[];
  close(): Promise<void>;
}

/** Lower-case, no trailing dot; the root is "". */
export function canonicalName(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}

function absoluteName(name: string, origin: string): string {
  if (name === "@" || name === "") return origin;
  if (name.endsWith(".")) return canonicalName(name);
  const lower = name.toLowerCase();
  if (lower === origin || lower.endsWith(`.${origin}`)) return lower;
  return `${lower}.${origin}`;
}

function isAtOrBelow(name: string, origin: string): boolean {
  return origin === "" || name === origin || name.endsWith(`.${origin}`);
}

/**
 * Validate and index a zone. Throws on data a real server would refuse to
 * load (strings over 255 bytes, records outside the zone, a SOA in `records`),
 * because dns-packet would otherwise encode some of them into a corrupt packet.
 */
export function compileZone(originInput: string, zone: ZoneModel): CompiledZone {
  const origin = canonicalName(originInput);
  if (!origin) throw new Error("zone origin must not be the root");
  const where = (r: ZoneRecord) => `zone ${origin}: ${r.type} record ${r.name}`;
  const nodes = new Map<string, Rr[]>();
  const add = (rr: Rr) => {
    const list = nodes.get(rr.name) ?? [];
    list.push(rr);
    nodes.set(rr.name, list);
  };
  for (const r of zone.records) {
    const name = absoluteName(r.name, origin);
    if (!isAtOrBelow(name, origin)) throw new Error(`${where(r)} is outside the zone`);
    const ttl = r.ttl ?? zone.ttl;
    if (r.type === "SOA") {
      throw new Error(`${where(r)}: set the SOA through the zone's soa and serial, not records`);
    }
    if (r.type === "TXT") {
      const strings = (Array.isArray(r.data) ? r.data : [r.data]).map((s) =>
        Buffer.isBuffer(s) ? s : Buffer.from(s, "utf8"),
      );
      if (!strings.length) throw new Error(`${where(r)} has no character-string`);
      strings.forEach((s, i) => {
        if (s.length > TXT_STRING_MAX) {
          throw new Error(
            `${where(r)}: string ${i + 1} is ${s.length} bytes; a character-string holds at most ${TXT_STRING_MAX}`,
          );
        }
      });
      add({ name, type: "TXT", ttl, data: strings });
    } else {
      if (typeof r.data !== "string") throw new Error(`${where(r)}: data must be a string`);
      if (r.type === "A" && net.isIPv4(r.data) === false)
        throw new Error(`${where(r)}: not an IPv4 address`);
      if (r.type === "AAAA" && net.isIPv6(r.data) === false)
        throw new Error(`${where(r)}: not an IPv6 address`);
      add({
        name,
        type: r.type,
        ttl,
        data: r.type === "NS" || r.type === "CNAME" ? canonicalName(r.data) : r.data,
      });
    }
  }
  // Every zone needs NS records at its apex (RFC 1035 §5.2; BIND will not
  // load one without). Default to the SOA MNAME, with a loopback address if
  // that host is inside the zone and has none.
  if (!(nodes.get(origin) ?? []).some((rr) => rr.type === "NS")) {
    const mname = canonicalName(zone.soa.mname);
    add({ name: origin, type: "NS", ttl: zone.ttl, data: mname });
    if (
      isAtOrBelow(mname, origin) &&
      !(nodes.get(mname) ?? []).some((rr) => rr.type === "A" || rr.type === "AAAA")
    ) {
      add({ name: mname, type: "A", ttl: zone.ttl, data: "127.0.0.1" });
    }
  }
  const soa: SoaAnswer = {
    name: origin,
    type: "SOA",
    ttl: zone.ttl,
    class: "IN",
    data: {
      ...zone.soa,
      mname: canonicalName(zone.soa.mname),
      rname: canonicalName(zone.soa.rname),
      serial: zone.serial,
    },
  };
  const records: ZoneRecord[] = [];
  for (const list of nodes.values()) {
    for (const rr of list) {
      records.push({ name: `${rr.name}.`, type: rr.type, ttl: rr.ttl, data: rr.data });
    }
  }
  const model: ServedZone = {
    origin,
    serial: zone.serial,
    soa: { ...zone.soa },
    ttl: zone.ttl,
    records,
  };
  return { origin, model, soa, nodes };
}

function toAnswer(rr: Rr): Answer {
  if (rr.type === "TXT")
    return { name: rr.name, type: "TXT", ttl: rr.ttl, class: "IN", data: rr.data as Buffer[] };
  return { name: rr.name, type: rr.type, ttl: rr.ttl, class: "IN", data: rr.data as string };
}

/** The SOA for a negative answer: TTL is min(SOA TTL, MINIMUM) (RFC 2308 §3). */
function negativeSoa(zone: CompiledZone): SoaAnswer {
  return { ...zone.soa, ttl: Math.min(zone.soa.ttl ?? 0, zone.soa.data.minimum ?? 0) };
}

function findZone(zones: Map<string, CompiledZone>, name: string): CompiledZone | undefined {
  let best: CompiledZone | undefined;
  for (const zone of zones.values()) {
    if (isAtOrBelow(name, zone.origin) && (!best || zone.origin.length > best.origin.length))
      best = zone;
  }
  return best;
}

/** Glue: addresses of in-zone name server hosts, for the additional section. */
function glueFor(zone: CompiledZone, nsRecords: Rr[]): Answer[] {
  const out: Answer[] = [];
  for (const ns of nsRecords) {
    const host = ns.data as string;
    for (const rr of zone.nodes.get(host) ?? []) {
      if (rr.type === "A" || rr.type === "AAAA") out.push(toAnswer(rr));
    }
  }
  return out;
}

export interface Answered {
  /** The response without the question id/flags the caller copies in. */
  packet: Packet;
  rcode: number;
}

/**
 * Answer one question from the zones (pure; no I/O). Handles referrals below
 * zone cuts, empty non-terminals (NODATA, not NXDOMAIN: RFC 8020 §2) and ANY.
 */
export function answer(zones: Map<string, CompiledZone>, question: Question, depth = 0): Answered {
  const name = canonicalName(question.name);
  // dns-packet decodes type 255 as "ANY", which its RecordType union lacks.
  const qtype: string = question.type;
  const zone = findZone(zones, name);
  const base = (rcode: number, aa: boolean, sections: Partial<Packet> = {}): Answered => ({
    rcode,
    packet: {
      type: "response",
      flags: (aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | rcode,
      questions: [question],
      answers: [],
      authorities: [],
      additionals: [],
      ...sections,
    },
  });
  if (!zone || (question.class && question.class !== "IN" && question.class !== "ANY")) {
    return base(RCODE.REFUSED, false);
  }
  if (qtype === "AXFR" || qtype === "IXFR") return base(RCODE.NOTIMP, false);

  // A zone cut between the apex and the name: refer (not authoritative).
  const labels = name.split(".");
  const originDepth = zone.origin.split(".").length;
  for (let i = labels.length - originDepth - 1; i >= 0; i--) {
    const cut = labels.slice(i).join(".");
    if (cut === zone.origin) continue;
    const ns = (zone.nodes.get(cut) ?? []).filter((rr) => rr.type === "NS");
    if (ns.length) {
      return base(RCODE.NOERROR, false, {
        authorities: ns.map(toAnswer),
        additionals: glueFor(zone, ns),
      });
    }
  }

  const atApex = name === zone.origin;
  const here = zone.nodes.get(name) ?? [];
  const exists =
    atApex || here.length > 0 || [...zone.nodes.keys()].some((owner) => owner.endsWith(`.${name}`));
  if (!exists) return base(RCODE.NXDOMAIN, true, { authorities: [negativeSoa(zone)] });

  const alias = here.find((rr) => rr.type === "CNAME");
  const answers: Answer[] = [];
  if (alias && qtype !== "CNAME" && qtype !== "ANY") {
    // A CNAME owner has no other data: any other type is answered with the
    // CNAME (RFC 1034 §3.6.2), followed into zones this server holds (§4.3.2
    // step 3a, as BIND does); a target elsewhere is left to the resolver.
    answers.push(toAnswer(alias));
    const target = alias.data as string;
    if (depth < 8 && findZone(zones, target)) {
      const chased = answer(zones, { ...question, name: target }, depth + 1);
      answers.push(...(chased.packet.answers ?? []));
    }
    return base(RCODE.NOERROR, true, { answers });
  }
  if (atApex && (qtype === "SOA" || qtype === "ANY")) answers.push(zone.soa);
  const matching = here.filter((rr) => qtype === "ANY" || rr.type === qtype);
  answers.push(...matching.map(toAnswer));
  if (!answers.length) return base(RCODE.NOERROR, true, { authorities: [negativeSoa(zone)] });
  const additionals = glueFor(
    zone,
    matching.filter((rr) => rr.type === "NS"),
  );
  return base(RCODE.NOERROR, true, { answers, additionals });
}

interface Incoming {
  query: DecodedPacket | undefined;
  id: number;
}

function decodeQuery(buf: Buffer): Incoming {
  const id = buf.length >= 2 ? buf.readUInt16BE(0) : 0;
  try {
    return { query: dnsPacket.decode(buf), id };
  } catch {
    return { query: undefined, id };
  }
}

/** Opcode lives in bits 11–14 of the flags word (RFC 1035 §4.1.1). */
function opcodeOf(query: DecodedPacket): number {
  return ((query.flags ?? 0) >> 11) & 0xf;
}

export async function startDnsServer(opts: DnsServerOptions = {}, attempt = 0): Promise<DnsServer> {
  const address = opts.address ?? "127.0.0.1";
  let zones = new Map<string, CompiledZone>();
  /** Each zone's version before its last update: what a stale server still serves. */
  let previous = new Map<string, CompiledZone>();
  const queries = new Map<string, number>();
  const queryLog: QueryLogEntry[] = [];
  let faults: DnsServerFaults | undefined;
  let decider: FaultDecider<DnsFaultKind> | undefined;
  let faultEvents: DnsFaultEvent[] = [];
  const setFaults = (f: DnsServerFaults | undefined) => {
    faults = f ? { ...validateFaultPlan(f, DNS_FAULT_KINDS, "dns faults") } : undefined;
    decider = faults ? new FaultDecider(faults) : undefined;
    faultEvents = [];
  };
  setFaults(opts.faults);

  const setZone = (origin: string, zone: ZoneModel): ServedZone => {
    const compiled = compileZone(origin, zone);
    // Copy-on-write: a query in flight keeps the map it started with.
    const next = new Map(zones);
    const old = zones.get(compiled.origin);
    if (old) {
      const prev = new Map(previous);
      prev.set(compiled.origin, old);
      previous = prev;
    }
    next.set(compiled.origin, compiled);
    zones = next;
    return compiled.model;
  };
  const removeZone = (origin: string) => {
    const next = new Map(zones);
    next.delete(canonicalName(origin));
    zones = next;
  };
  for (const [origin, zone] of Object.entries(opts.zones ?? {})) setZone(origin, zone);

  /**
   * Apply an injected fault to a TXT answer. Returns the answer to send
   * instead, or raw bytes when the fault is a packet dns-packet cannot encode.
   */
  const injectFault = (
    question: Question,
    result: Answered,
    transport: "udp" | "tcp",
  ): { result: Answered; raw?: (packet: Packet) => Buffer } => {
    if (!decider || !faults || question.type !== "TXT") return { result };
    const name = canonicalName(question.name);
    if (faults.applies && !faults.applies(name)) return { result };
    const zone = findZone(zones, name);
    const txt = result.packet.answers?.filter((a) => a.type === "TXT") ?? [];
    const applicable = DNS_FAULT_KINDS.filter((k) =>
      k === "stale" ? zone !== undefined && previous.has(zone.origin) : txt.length === 1,
    );
    const label = faults.label ?? `${address}:${port}`;
    const kind = decider.decide(`${label}/${name}`, applicable);
    if (!kind) return { result };
    const note = (detail: string) => faultEvents.push({ kind, name, transport, detail });
    if (kind === "stale") {
      const stale = new Map(zones);
      stale.set(zone!.origin, previous.get(zone!.origin)!);
      const old = previous.get(zone!.origin)!;
      note(`answered from serial ${old.model.serial} instead of ${zone!.model.serial}`);
      return { result: answer(stale, question) };
    }
    const rr = txt[0]!;
    const strings = (rr.data as Buffer[]).map((b) => Buffer.from(b));
    const value = Buffer.concat(strings).toString("latin1");
    const withAnswer = (data: Buffer[]): Answered => ({
      ...result,
      packet: { ...result.packet, answers: [{ ...rr, data }] },
    });
    if (kind === "wrong-key") {
      note("p= replaced by another public key");
      return { result: withAnswer(splitStrings(value.replace(/p=[^;]*/, `p=${otherKey()}`))) };
    }
    if (kind === "truncated") {
      // What a web form that keeps only the first string does; a single string loses its second half.
      const kept =
        strings.length > 1 ? [strings[0]!] : [strings[0]!.subarray(0, strings[0]!.length >> 1)];
      note(`record cut to ${kept[0]!.length} of ${value.length} bytes`);
      return { result: withAnswer(kept) };
    }
    // oversized-string: the whole value written as ONE character-string. Its
    // length byte cannot say more than 255 (RFC 1035 §3.3), so it saturates,
    // and the RR ends before the bytes it claims: a malformed packet that
    // dns-packet refuses to build, so it is written by hand.
    note(`${value.length}-byte value sent as one string whose length byte claims 255`);
    const body = Buffer.from(value, "latin1").subarray(0, Math.min(value.length, 254));
    const rdata = Buffer.concat([Buffer.from([0xff]), body]);
    return {
      result,
      raw: (packet) => {
        const head = dnsPacket.encode({ ...packet, answers: [], authorities: [], additionals: [] });
        head.writeUInt16BE(1, 6); // ANCOUNT
        const fixed = Buffer.alloc(12);
        fixed.writeUInt16BE(0xc00c, 0); // owner: pointer to the question name (RFC 1035 §4.1.4)
        fixed.writeUInt16BE(16, 2); // TYPE TXT
        fixed.writeUInt16BE(1, 4); // CLASS IN
        fixed.writeUInt32BE(rr.ttl ?? 0, 6);
        fixed.writeUInt16BE(rdata.length, 10);
        return Buffer.concat([head, fixed, rdata]);
      },
    };
  };
  let wrongKey: string | undefined;
  /** Another valid SPKI key for `wrong-key` (1024 bits: cheap, and still a valid p=). */
  const otherKey = () =>
    (wrongKey ??= generateKeyPairSync("rsa", { modulusLength: 1024 })
      .publicKey.export({ type: "spki", format: "der" })
      .toString("base64"));

  /** Build the full response for a raw query, before any size limit. */
  const respond = (
    buf: Buffer,
    transport: "udp" | "tcp",
  ): { packet: Packet; udpLimit: number; raw?: Buffer } | undefined => {
    const { query, id } = decodeQuery(buf);
    if (!query) {
      // Too broken to answer sensibly unless there is at least a header.
      if (buf.length < 12) return undefined;
      return { packet: { id, type: "response", flags: RCODE.FORMERR }, udpLimit: UDP_CLASSIC_MAX };
    }
    if (query.type === "response") return undefined;
    const opt = (query.additionals ?? []).find((a) => a.type === "OPT");
    const edns = opt && opt.type === "OPT" ? opt : undefined;
    const udpLimit = edns
      ? Math.min(Math.max(edns.udpPayloadSize, UDP_CLASSIC_MAX), UDP_EDNS_MAX)
      : UDP_CLASSIC_MAX;
    const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    let result: Answered;
    let raw: ((packet: Packet) => Buffer) | undefined;
    const question = query.questions?.[0];
    if (opcodeOf(query) !== 0) {
      result = {
        rcode: RCODE.NOTIMP,
        packet: { type: "response", flags: RCODE.NOTIMP, questions: query.questions },
      };
    } else if (!question || (query.questions?.length ?? 0) !== 1) {
      result = {
        rcode: RCODE.FORMERR,
        packet: { type: "response", flags: RCODE.FORMERR, questions: query.questions },
      };
    } else {
      ({ result, raw } = injectFault(question, answer(zones, question), transport));
      const qname = canonicalName(question.name);
      queries.set(qname, (queries.get(qname) ?? 0) + 1);
      queryLog.push({ name: qname, type: question.type, transport, rcode: result.rcode });
    }
    const packet: Packet = { ...result.packet, id, flags: (result.packet.flags ?? 0) | rd };
    if (edns) {
      // Answer EDNS with EDNS (RFC 6891 §7), advertising our own UDP size.
      packet.additionals = [
        ...(packet.additionals ?? []),
        {
          name: ".",
          type: "OPT",
          udpPayloadSize: UDP_EDNS_MAX,
          extendedRcode: 0,
          ednsVersion: 0,
          flags: 0,
          flag_do: false,
          options: [],
        },
      ];
    }
    return raw ? { packet, udpLimit, raw: raw(packet) } : { packet, udpLimit };
  };

  /** Encode for UDP: if it does not fit, send the header and question with TC (RFC 2181 §9). */
  const encodeUdp = (packet: Packet, limit: number): Buffer => {
    const full = dnsPacket.encode(packet);
    if (full.length <= limit) return full;
    const opt = (packet.additionals ?? []).filter((a) => a.type === "OPT");
    return dnsPacket.encode({
      ...packet,
      flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE,
      answers: [],
      authorities: [],
      additionals: opt,
    });
  };

  const udp = dgram.createSocket(net.isIPv6(address) ? "udp6" : "udp4");
  udp.on("message", (msg, rinfo) => {
    const out = respond(msg, "udp");
    if (!out) return;
    udp.send(out.raw ?? encodeUdp(out.packet, out.udpLimit), rinfo.port, rinfo.address);
  });
  udp.on("error", () => {
    // A send to a vanished client must not take the server down.
  });

  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Several length-prefixed queries may arrive on one connection (RFC 7766 §6.2.1).
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        const msg = pending.subarray(2, 2 + len);
        pending = pending.subarray(2 + len);
        const out = respond(msg, "tcp");
        if (!out) {
          socket.destroy();
          return;
        }
        const body = out.raw ?? dnsPacket.encode(out.packet);
        const frame = Buffer.alloc(2 + body.length);
        frame.writeUInt16BE(body.length, 0);
        body.copy(frame, 2);
        socket.write(frame);
      }
    });
  });

  // Bind UDP first (port 0 picks one), then TCP on the same number. If TCP
  // cannot have it (someone else holds that TCP port), start over on a new one.
  await new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(opts.port ?? 0, address, () => {
      udp.off("error", reject);
      resolve();
    });
  });
  const port = udp.address().port;
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(port, address, () => {
        tcp.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (opts.port || attempt >= 10) throw err;
    return startDnsServer(opts, attempt + 1);
  }

  return {
    port,
    address,
    setZone,
    removeZone,
    getZone: (origin) => zones.get(canonicalName(origin))?.model,
    queries,
    queryLog,
    setFaults,
    faultCounts: () => decider?.counts() ?? {},
    faultLog: () => [...faultEvents],
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}

/** Quote one character-string for a master file (RFC 1035 §5.1): escape `"` and `\`, \DDD the rest. */
function quoteString(s: Buffer): string {
  let out = '"';
  for (const byte of s) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte <= 0x7e) out += String.fromCharCode(byte);
    else out += `\\${byte.toString().padStart(3, "0")}`;
  }
  return `${out}"`;
}

export interface RenderZoneOptions {
  /** Files to `$INCLUDE` after the zone's own records (absolute paths), e.g. DKIM record files. */
  includes?: string[];
  /** When this version was first served (the sandbox's snapshots: simulated time), as a header comment. */
  servedFrom?: Date;
}

/**
 * Render a zone as a BIND master file: `$ORIGIN`, `$TTL`, SOA, NS, then the
 * other records with absolute owners. TXT character-strings are written one
 * quoted string each (they are at most 255 bytes, checked by `compileZone`),
 * inside parentheses when there are several.
 */
export function renderZoneFile(
  zone: ServedZone | (ZoneModel & { origin: string }),
  options: RenderZoneOptions = {},
): string {
  const compiled = compileZone(zone.origin, zone);
  const origin = compiled.origin;
  const soa = zone.soa;
  const fq = (n: string) => `${n}.`;
  const lines = [
    `; zone ${origin}, serial ${zone.serial}, rendered by ses-dkim-rotation's sandbox DNS server`,
    ...(options.servedFrom ? [`; served from ${options.servedFrom.toISOString()}`] : []),
    `$ORIGIN ${fq(origin)}`,
    `$TTL ${zone.ttl}`,
    `@ ${zone.ttl} IN SOA ${fq(canonicalName(soa.mname))} ${fq(canonicalName(soa.rname))} ( ${zone.serial} ${soa.refresh} ${soa.retry} ${soa.expire} ${soa.minimum} )`,
  ];
  const all = [...compiled.nodes.values()].flat();
  // Apex NS first, then everything else in a stable order.
  const order = (rr: Rr) => (rr.name === origin && rr.type === "NS" ? 0 : 1);
  all.sort(
    (a, b) => order(a) - order(b) || a.name.localeCompare(b.name) || a.type.localeCompare(b.type),
  );
  for (const rr of all) {
    const head = `${fq(rr.name)} ${rr.ttl} IN ${rr.type}`;
    if (rr.type === "TXT") {
      const strings = (rr.data as Buffer[]).map(quoteString);
      if (strings.length === 1) lines.push(`${head} ${strings[0]}`);
      else
        lines.push(
          `${head} (`,
          ...strings.map((s, i) => `    ${s}${i === strings.length - 1 ? " )" : ""}`),
        );
    } else if (rr.type === "NS" || rr.type === "CNAME") {
      // Domain names in RDATA are absolute (with the dot): a relative one
      // would be read below $ORIGIN (RFC 1035 §5.1).
      lines.push(`${head} ${fq(rr.data as string)}`);
    } else {
      lines.push(`${head} ${rr.data as string}`);
    }
  }
  for (const file of options.includes ?? []) lines.push(`$INCLUDE ${file}`);
  lines.push("");
  return lines.join("\n");
}

/** Split a value into character-strings of at most 255 bytes (RFC 1035 §3.3). */
function splitStrings(value: string): Buffer[] {
  const bytes = Buffer.from(value, "latin1");
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += TXT_STRING_MAX)
    out.push(bytes.subarray(i, i + TXT_STRING_MAX));
  return out.length ? out : [Buffer.alloc(0)];
}

/**
 * The SOA every zone here carries: `ns1.<origin>` as primary, the usual
 * timers, and MINIMUM as the negative-caching bound (min(SOA TTL, MINIMUM),
 * RFC 2308 §5), 300 s unless a test needs another.
 */
export function soaFor(origin: string, minimum = 300): ZoneModel["soa"] {
  return {
    mname: `ns1.${origin}`,
    rname: `hostmaster.${origin}`,
    refresh: 3600,
    retry: 600,
    expire: 604800,
    minimum,
  };
}

/**
 * SES's own zones: each Easy DKIM key at `<token>.<zone>`, `<zone>` being the
 * Region's SigningHostedZone (`dkim.amazonses.com`, or `dkim.<region>.amazonses.com`
 * in the Regions that have their own, docs/design.md#ses-signing-hosted-zone),
 * where the customer's CNAMEs lead. SES publishes a key as soon as it makes it
 * (the emulator's `onEasyDkimKey`); every server given here holds the zones, so
 * CNAMEs are followed into them (RFC 1034 §4.3.2). `onChange` hears each new
 * version of a zone (the sandbox snapshots it under `zones/`).
 */
export class AmazonSesKeyZone {
  private readonly models = new Map<string, ZoneModel>();

  constructor(
    private readonly servers: () => DnsServer[],
    public onChange?: (origin: string, model: ZoneModel) => void,
  ) {}

  /** The zones served so far, by origin. */
  get zones(): ReadonlyMap<string, ZoneModel> {
    return this.models;
  }

  /** Serve `publicKey` under each token in `zone` (replacing what a token held before). */
  publish(zone: string, tokens: string[], publicKey: string): void {
    const origin = canonicalName(zone);
    const model = this.models.get(origin) ?? {
      serial: 0,
      ttl: 3600,
      soa: soaFor(origin),
      records: [],
    };
    this.models.set(origin, model);
    const names = new Set(tokens.map((t) => `${t}.${origin}.`));
    model.records = [
      ...model.records.filter((r) => !names.has(r.name)),
      ...[...names].map((name): ZoneRecord => ({
        name,
        type: "TXT",
        data: splitTxt(dkimRecordValue(publicKey)),
      })),
    ];
    model.serial++;
    for (const server of this.servers()) server.setZone(origin, model);
    this.onChange?.(origin, model);
  }
}

/**
 * The zone of a mail domain as the worlds here serve it: SOA, two NS, the DKIM
 * TXT records (each value split into 255-byte strings, RFC 7208 §3.3 / RFC
 * 6376 §3.6.2.2) and the Easy DKIM CNAMEs. One builder for the sandbox's DNS
 * team, the test world, the fault tests and the bench, so their zones cannot
 * drift apart.
 */
export function mailDomainZone(
  domain: string,
  contents: {
    serial: number;
    /** selector → joined TXT value. */
    dkim: ReadonlyMap<string, string>;
    /**
     * Easy DKIM: `<token>._domainkey` CNAME `target`, the target as SES gives
     * it (`<token>.<SigningHostedZone>`, docs/design.md#ses-signing-hosted-zone).
     */
    easyDkimCnames?: readonly { token: string; target: string }[];
    /** Glue for ns1/ns2 (the sandbox's zones carry it). */
    nameserverAddress?: string;
    /** TTL of the TXT records (default: the zone's, 3600). */
    txtTtl?: number;
    /** Other TXT records: owner relative to the zone (e.g. `s1._domainkey.shop`) → joined value. */
    txt?: ReadonlyMap<string, string>;
    /** SOA MINIMUM, the negative-caching bound (default 300). */
    minimum?: number;
  },
): ZoneModel {
  return {
    serial: contents.serial,
    ttl: 3600,
    soa: soaFor(domain, contents.minimum ?? 300),
    records: [
      { name: "@", type: "NS", data: `ns1.${domain}.` },
      { name: "@", type: "NS", data: `ns2.${domain}.` },
      ...(contents.nameserverAddress
        ? (["ns1", "ns2"] as const).map((name): ZoneRecord => ({
            name,
            type: "A",
            data: contents.nameserverAddress!,
          }))
        : []),
      ...[...contents.dkim].map(([selector, value]): ZoneRecord => ({
        name: `${selector}._domainkey`,
        type: "TXT",
        ...(contents.txtTtl ? { ttl: contents.txtTtl } : {}),
        data: splitTxt(value),
      })),
      ...[...(contents.txt ?? [])].map(([name, value]): ZoneRecord => ({
        name,
        type: "TXT",
        data: splitTxt(value),
      })),
      ...(contents.easyDkimCnames ?? []).map(({ token, target }): ZoneRecord => ({
        name: `${token}._domainkey`,
        type: "CNAME",
        data: `${canonicalName(target)}.`,
      })),
    ],
  };
}
