/**
 * DnsVerifier against real servers on loopback: the sandbox's authoritative
 * Node server, and BIND `named` serving the same records from a zone file
 * that `$INCLUDE`s the record files exactly as the rotation PR writes them.
 */
import { expect } from "chai";
import dgram from "node:dgram";
import { promises as dns } from "node:dns";
import dnsPacket, { type DecodedPacket, type Packet } from "dns-packet";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  DnsVerifier,
  queryTxt,
  type ResolverLike,
} from "../actions/dkim-rotation/src/adapters/dns";
import { generateDkimKeyPair, type DkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import {
  dkimRecordValue,
  renderRecordFile,
  splitTxt,
} from "../actions/dkim-rotation/src/engine/record";
import {
  soaFor,
  renderZoneFile,
  startDnsServer,
  type DnsServer,
  type ZoneModel,
  type ZoneRecord,
} from "../scripts/sandbox/dns-server";
import { freePort, requireBinary, startBind, type BindServer } from "./helpers/bind";

const DOMAIN = "example.jp";
const SOA = soaFor(DOMAIN);
const fixedClock = {
  now: () => new Date("2026-03-01T00:00:00Z"),
  sleep: async () => {},
};

let keyA: DkimKeyPair;
let keyB: DkimKeyPair;
// An Ed25519 SPKI is valid base64 but not what SES signs with.
const ED25519_P = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=";
const UNRELATED = ["x".repeat(255), "y".repeat(255)];

function txt(selector: string, strings: string[]): ZoneRecord {
  return { name: `${selector}._domainkey`, type: "TXT", data: strings };
}

/** The test zone: one selector per case. */
function zone(serial: number, extra: ZoneRecord[] = []): ZoneModel {
  return {
    serial,
    soa: SOA,
    ttl: 300,
    records: [
      { name: "@", type: "NS", data: "ns1.example.jp." },
      { name: "ns1", type: "A", data: "127.0.0.1" },
      txt("sel2048", splitTxt(dkimRecordValue(keyA.publicKey))),
      txt("wrong", splitTxt(dkimRecordValue(keyB.publicKey))),
      txt("revoked", ["v=DKIM1; k=rsa; p="]),
      txt("ed", [`v=DKIM1; k=ed25519; p=${ED25519_P}`]),
      { name: "nodata._domainkey", type: "A", data: "192.0.2.1" },
      // Big: the key record plus an unrelated TXT record at the same name, so
      // the UDP answer exceeds 512 bytes and the client must retry over TCP.
      txt("big", splitTxt(dkimRecordValue(keyA.publicKey))),
      txt("big", UNRELATED),
      txt("two", splitTxt(dkimRecordValue(keyA.publicKey))),
      txt("two", splitTxt(dkimRecordValue(keyB.publicKey))),
      ...extra,
    ],
  };
}

describe("DnsVerifier against the sandbox's authoritative DNS server", () => {
  let server: DnsServer;
  let verifier: DnsVerifier;
  let configured: string[];

  before(async () => {
    [keyA, keyB] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
    server = await startDnsServer();
    server.setZone(DOMAIN, zone(1));
    configured = [`127.0.0.1:${server.port}`];
    verifier = new DnsVerifier({ timeoutMs: 500, tries: 1, clock: fixedClock });
  });
  after(async () => {
    await server?.close();
  });

  it("ok for a 2048-bit record served as several strings, asking the server directly", async () => {
    const before = server.queries.get(`sel2048._domainkey.${DOMAIN}`) ?? 0;
    const v = await verifier.verify(DOMAIN, "sel2048", keyA.publicKey, configured);
    expect(v.ok).to.equal(true);
    expect(v.checkedAt.toISOString()).to.equal("2026-03-01T00:00:00.000Z");
    expect(v.servers).to.have.length(1);
    expect(v.servers[0]).to.include({ server: configured[0], status: "ok" });
    expect(v.servers[0]!.value).to.equal(dkimRecordValue(keyA.publicKey));
    expect(server.queries.get(`sel2048._domainkey.${DOMAIN}`)).to.equal(before + 1);
    // The record really is several character-strings on the wire.
    const raw = await queryTxt(configured[0]!, `sel2048._domainkey.${DOMAIN}`);
    expect(raw).to.be.an("array").with.length(1);
    expect((raw as string[][])[0]!.length).to.be.greaterThan(1);
  });

  it("Easy DKIM CNAMEs are checked against the target SES gave (its SigningHostedZone), not dkim.amazonses.com", async () => {
    const cname = (token: string, target: string): ZoneRecord => ({
      name: `${token}._domainkey`,
      type: "CNAME",
      data: `${target}.`,
    });
    server.setZone(DOMAIN, zone(2, [cname("tok1", "tok1.dkim.eu-south-1.amazonses.com")]));
    try {
      const name = `tok1._domainkey.${DOMAIN}`;
      const right = await verifier.verifyEasyDkim(
        DOMAIN,
        [{ token: "tok1", name, target: "tok1.dkim.eu-south-1.amazonses.com" }],
        configured,
      );
      expect(right.ok, JSON.stringify(right.servers)).to.equal(true);
      const wrong = await verifier.verifyEasyDkim(
        DOMAIN,
        [{ token: "tok1", name, target: "tok1.dkim.amazonses.com" }],
        configured,
      );
      expect(wrong.ok).to.equal(false);
      expect(wrong.servers[0]!.detail).to.equal(
        `Easy DKIM CNAME ${name} → tok1.dkim.eu-south-1.amazonses.com (SES asks for tok1.dkim.amazonses.com)`,
      );
    } finally {
      server.setZone(DOMAIN, zone(3));
    }
  });

  it("missing with NXDOMAIN when the name does not exist", async () => {
    const v = await verifier.verify(DOMAIN, "absent", keyA.publicKey, configured);
    expect(v.ok).to.equal(false);
    expect(v.servers[0]!.status).to.equal("missing");
    expect(v.servers[0]!.detail).to.match(/^NXDOMAIN/);
    expect(await queryTxt(configured[0]!, `absent._domainkey.${DOMAIN}`)).to.equal("NXDOMAIN");
  });

  it("missing with NODATA when the name exists without TXT", async () => {
    const v = await verifier.verify(DOMAIN, "nodata", keyA.publicKey, configured);
    expect(v.servers[0]!.status).to.equal("missing");
    expect(v.servers[0]!.detail).to.match(/^NODATA/);
    expect(await queryTxt(configured[0]!, `nodata._domainkey.${DOMAIN}`)).to.equal("NODATA");
  });

  it("mismatch on p= when another key is published, naming both fingerprints", async () => {
    const v = await verifier.verify(DOMAIN, "wrong", keyA.publicKey, configured);
    expect(v.ok).to.equal(false);
    expect(v.servers[0]!.status).to.equal("mismatch");
    expect(v.servers[0]!.detail).to.include("tag p:");
    expect(v.servers[0]!.detail).to.include(keyB.fingerprint.slice(0, 19));
    expect(v.servers[0]!.detail).to.include(keyA.fingerprint.slice(0, 19));
  });

  it("revoked when p= is empty", async () => {
    const v = await verifier.verify(DOMAIN, "revoked", keyA.publicKey, configured);
    expect(v.servers[0]!.status).to.equal("revoked");
  });

  it("mismatch on k= for an ed25519 record", async () => {
    const v = await verifier.verify(DOMAIN, "ed", keyA.publicKey, configured);
    expect(v.servers[0]!.status).to.equal("mismatch");
    expect(v.servers[0]!.detail).to.match(/^tag k: k=ed25519/);
  });

  it("malformed when two DKIM key records share the name", async () => {
    const v = await verifier.verify(DOMAIN, "two", keyA.publicKey, configured);
    expect(v.servers[0]!.status).to.equal("malformed");
    expect(v.servers[0]!.detail).to.include("2 DKIM key records");
  });

  it("verifies an answer too large for UDP, which the client fetches over TCP", async () => {
    const name = `big._domainkey.${DOMAIN}`;
    const logStart = server.queryLog.length;
    const v = await verifier.verify(DOMAIN, "big", keyA.publicKey, configured);
    expect(v.ok, JSON.stringify(v.servers)).to.equal(true);
    const transports = server.queryLog
      .slice(logStart)
      .filter((q) => q.name === name)
      .map((q) => q.transport);
    expect(transports).to.deep.equal(["udp", "tcp"]);
  });

  it("not ok when one of two servers is stale, and names the stale one", async () => {
    const stale = await startDnsServer();
    try {
      // The stale server still has the zone from before the record was added.
      stale.setZone(DOMAIN, {
        serial: 0,
        soa: SOA,
        ttl: 300,
        records: [{ name: "@", type: "NS", data: "ns1.example.jp." }],
      });
      const staleName = `127.0.0.1:${stale.port}`;
      const v = await verifier.verify(DOMAIN, "sel2048", keyA.publicKey, [
        ...configured,
        staleName,
      ]);
      expect(v.ok).to.equal(false);
      expect(v.servers.map((s) => [s.server, s.status])).to.deep.equal([
        [configured[0], "ok"],
        [staleName, "missing"],
      ]);
      expect(stale.queries.get(`sel2048._domainkey.${DOMAIN}`)).to.equal(1);
      // Once the stale server catches up, the same verifier sees it at once:
      // a fresh resolver per check means no negative answer is cached.
      stale.setZone(DOMAIN, zone(2));
      const again = await verifier.verify(DOMAIN, "sel2048", keyA.publicKey, [
        ...configured,
        staleName,
      ]);
      expect(again.ok).to.equal(true);
    } finally {
      await stale.close();
    }
  });

  it("unreachable, with the error code, for a port where nothing listens", async () => {
    const port = await freePort();
    const v = await verifier.verify(DOMAIN, "sel2048", keyA.publicKey, [
      ...configured,
      `127.0.0.1:${port}`,
    ]);
    expect(v.ok).to.equal(false);
    expect(v.servers[0]!.status).to.equal("ok");
    expect(v.servers[1]!.status).to.equal("unreachable");
    expect(v.servers[1]!.detail).to.match(/\((ECONNREFUSED|ETIMEOUT)\)$/);
  });

  it("a server that answers REFUSED is named by that RCODE, not called unreachable", async () => {
    const v = await verifier.verify("example.org", "sel2048", keyA.publicKey, configured);
    expect(v.ok).to.equal(false);
    expect(v.servers[0]!.status).to.equal("error");
    expect(v.servers[0]!.detail).to.match(
      /^answered REFUSED for sel2048\._domainkey\.example\.org: the server will not answer for this name .*\(EREFUSED\)$/,
    );
  });

  describe("nameserver discovery", () => {
    let systemCalls: string[];
    let discovering: DnsVerifier;
    const sub = "mail.example.jp";

    before(() => {
      systemCalls = [];
      // The "system" resolver is a real resolver, wrapped to record what it is asked.
      const real = new dns.Resolver({ timeout: 500, tries: 1 });
      real.setServers(configured);
      const system: ResolverLike = {
        setServers: (s) => real.setServers(s),
        cancel: () => real.cancel(),
        resolveTxt: (n) => (systemCalls.push(`TXT ${n}`), real.resolveTxt(n)),
        resolveNs: (n) => (systemCalls.push(`NS ${n}`), real.resolveNs(n)),
        resolve4: (n) => (systemCalls.push(`A ${n}`), real.resolve4(n)),
        resolve6: (n) => (systemCalls.push(`AAAA ${n}`), real.resolve6(n)),
      };
      discovering = new DnsVerifier({
        systemResolver: system,
        nameserverPort: server.port,
        timeoutMs: 500,
        tries: 1,
      });
    });

    it("walks up from a sub-domain inside its parent's zone to the parent's NS", async () => {
      server.setZone(
        DOMAIN,
        zone(3, [
          {
            name: "s1._domainkey.mail",
            type: "TXT",
            data: splitTxt(dkimRecordValue(keyA.publicKey)),
          },
        ]),
      );
      systemCalls.length = 0;
      expect(await discovering.nameservers(sub)).to.deep.equal([
        `ns1.example.jp -p ${server.port}`,
      ]);
      const v = await discovering.verify(sub, "s1", keyA.publicKey);
      expect(v.ok, JSON.stringify(v.servers)).to.equal(true);
      expect(v.servers[0]!.server).to.equal(`ns1.example.jp (127.0.0.1:${server.port})`);
      expect(systemCalls).to.include(`NS ${sub}`).and.include(`NS ${DOMAIN}`);
      // The record itself was never asked of the (caching) system resolver.
      expect(systemCalls.filter((c) => c.startsWith("TXT"))).to.deep.equal([]);
    });

    it("reports a nameserver without an address instead of skipping it", async () => {
      server.setZone(
        DOMAIN,
        zone(4, [
          { name: "@", type: "NS", data: "ns2.example.jp." },
          {
            name: "s1._domainkey.mail",
            type: "TXT",
            data: splitTxt(dkimRecordValue(keyA.publicKey)),
          },
        ]),
      );
      const v = await discovering.verify(sub, "s1", keyA.publicKey);
      expect(v.ok).to.equal(false);
      const ns2 = v.servers.find((s) => s.server.startsWith("ns2"));
      expect(ns2?.status).to.equal("unreachable");
      expect(ns2?.detail).to.include("ns2.example.jp has no address");
    });

    it("reports, not throws, when no NS can be found", async () => {
      const v = await discovering.verify("nowhere.example.org", "s1", keyA.publicKey);
      expect(v.ok).to.equal(false);
      expect(v.servers).to.have.length(1);
      expect(v.servers[0]!.status).to.equal("unreachable");
      expect(v.servers[0]!.detail).to.include(
        "NS lookup for nowhere.example.org failed: REFUSED (EREFUSED)",
      );
    });

    after(() => {
      server.setZone(DOMAIN, zone(5));
    });
  });
});

/** One raw UDP exchange, to see flags and sections that resolvers hide. */
async function rawUdp(
  port: number,
  query: Packet,
): Promise<{ size: number; packet: DecodedPacket }> {
  const socket = dgram.createSocket("udp4");
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no answer")), 2000);
      socket.once("message", (msg) => {
        clearTimeout(timer);
        resolve({ size: msg.length, packet: dnsPacket.decode(msg) });
      });
      socket.send(dnsPacket.encode(query), port, "127.0.0.1");
    });
  } finally {
    socket.close();
  }
}

/** RCODE is the low 4 bits of the header flags (RFC 1035 §4.1.1). */
function rcodeOf(packet: DecodedPacket): number {
  return (packet.flags ?? 0) & 0xf;
}

describe("the sandbox's DNS server on the wire", () => {
  let server: DnsServer;
  const q = (name: string, type: "TXT" | "SOA" | "NS", edns?: number): Packet => ({
    type: "query",
    id: 4242,
    flags: 0,
    questions: [{ name, type, class: "IN" }],
    additionals: edns
      ? [
          {
            name: ".",
            type: "OPT",
            udpPayloadSize: edns,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ]
      : [],
  });

  before(async () => {
    if (!keyA)
      [keyA, keyB] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
    server = await startDnsServer();
    server.setZone(DOMAIN, zone(7));
  });
  after(async () => {
    await server?.close();
  });

  it("answers authoritatively, NXDOMAIN with the SOA at min(TTL, MINIMUM) (RFC 2308)", async () => {
    const ok = await rawUdp(server.port, q(`sel2048._domainkey.${DOMAIN}`, "TXT"));
    expect(ok.packet.flag_aa).to.equal(true);
    expect(ok.packet.id).to.equal(4242);
    const nx = await rawUdp(server.port, q(`absent._domainkey.${DOMAIN}`, "TXT"));
    expect(rcodeOf(nx.packet)).to.equal(3); // NXDOMAIN
    expect(nx.packet.flag_aa).to.equal(true);
    const soa = nx.packet.authorities?.[0];
    if (soa?.type !== "SOA") expect.fail("no SOA in the authority section");
    expect(soa.ttl).to.equal(Math.min(300, SOA.minimum));
    expect(soa.data.serial).to.equal(7);
  });

  it("REFUSED without AA for a name outside its zones", async () => {
    const r = await rawUdp(server.port, q("www.example.org", "TXT"));
    expect(rcodeOf(r.packet)).to.equal(5); // REFUSED
    expect(r.packet.flag_aa).to.equal(false);
  });

  it("answers SOA and NS at the apex, with glue", async () => {
    const soa = await rawUdp(server.port, q(DOMAIN, "SOA"));
    expect(soa.packet.answers?.[0]?.type).to.equal("SOA");
    const ns = await rawUdp(server.port, q(DOMAIN, "NS"));
    expect(ns.packet.answers?.map((a) => a.type === "NS" && a.data)).to.deep.equal([
      "ns1.example.jp",
    ]);
    expect(ns.packet.additionals?.some((a) => a.type === "A" && a.data === "127.0.0.1")).to.equal(
      true,
    );
  });

  it("truncates at 512 bytes without EDNS, and at the advertised EDNS size", async () => {
    const name = `big._domainkey.${DOMAIN}`;
    const classic = await rawUdp(server.port, q(name, "TXT"));
    expect(classic.packet.flag_tc).to.equal(true);
    expect(classic.size).to.be.at.most(512);
    const small = await rawUdp(server.port, q(name, "TXT", 600));
    expect(small.packet.flag_tc).to.equal(true);
    const large = await rawUdp(server.port, q(name, "TXT", 4096));
    expect(large.packet.flag_tc).to.equal(false);
    expect(large.size).to.be.greaterThan(600);
    expect(large.packet.answers).to.have.length(2);
  });

  it("refuses to load a character-string over 255 bytes", () => {
    expect(() =>
      server.setZone("bad.example", { ...zone(1), records: [txt("x", ["a".repeat(256)])] }),
    ).to.throw(/256 bytes/);
    expect(server.getZone("bad.example")).to.equal(undefined);
  });
});

describe("DnsVerifier against BIND named", function () {
  let bind: BindServer;
  let dir: string;
  let verifier: DnsVerifier;
  let configured: string[];

  before(async function () {
    const named = requireBinary(this, "named");
    if (!keyA)
      [keyA, keyB] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
    dir = await mkdtemp(path.join(os.tmpdir(), "dkim-verify-bind-"));
    // The key records come from record files exactly as the rotation PR writes them.
    const includes: string[] = [];
    for (const [selector, key] of [
      ["sel2048", keyA],
      ["wrong", keyB],
      ["big", keyA],
    ] as const) {
      const file = path.join(dir, "dns", DOMAIN, `${selector}.zone`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(
        file,
        renderRecordFile({
          domain: DOMAIN,
          selector,
          keyBits: key.bits,
          fingerprint: key.fingerprint,
          createdAt: "2026-03-01T00:00:00.000Z",
          publishBy: "2026-03-15",
          publicKey: key.publicKey,
          ttl: 3600,
        }),
      );
      includes.push(file);
    }
    const model: ZoneModel = {
      serial: 2026030101,
      soa: SOA,
      ttl: 300,
      records: [
        { name: "@", type: "NS", data: "ns1.example.jp." },
        { name: "ns1", type: "A", data: "127.0.0.1" },
        txt("revoked", ["v=DKIM1; k=rsa; p="]),
        txt("ed", [`v=DKIM1; k=ed25519; p=${ED25519_P}`]),
        // BIND's check-names refuses an A record at an underscore name, so
        // here the name exists as an empty non-terminal: NODATA all the same.
        txt("below.nodata", ["unrelated"]),
        txt("big", UNRELATED),
      ],
    };
    const zoneFile = path.join(dir, `${DOMAIN}.zone`);
    await writeFile(zoneFile, renderZoneFile({ origin: DOMAIN, ...model }, { includes }));
    bind = await startBind(named, [{ origin: DOMAIN, file: zoneFile }]);
    configured = [bind.server];
    verifier = new DnsVerifier({ timeoutMs: 500, tries: 2 });
  });
  after(async () => {
    await bind?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("ok for the split 2048-bit record from the record file", async () => {
    const v = await verifier.verify(DOMAIN, "sel2048", keyA.publicKey, configured);
    expect(v.ok, JSON.stringify(v.servers)).to.equal(true);
    expect(v.servers[0]!.value).to.equal(dkimRecordValue(keyA.publicKey));
  });

  it("NXDOMAIN and NODATA are both missing, told apart", async () => {
    const absent = await verifier.verify(DOMAIN, "absent", keyA.publicKey, configured);
    expect(absent.servers[0]).to.include({ status: "missing" });
    expect(absent.servers[0]!.detail).to.match(/^NXDOMAIN/);
    const nodata = await verifier.verify(DOMAIN, "nodata", keyA.publicKey, configured);
    expect(nodata.servers[0]).to.include({ status: "missing" });
    expect(nodata.servers[0]!.detail).to.match(/^NODATA/);
  });

  it("mismatch on p, revoked, and mismatch on k", async () => {
    const wrong = await verifier.verify(DOMAIN, "wrong", keyA.publicKey, configured);
    expect(wrong.servers[0]!.status).to.equal("mismatch");
    expect(wrong.servers[0]!.detail).to.include("tag p:");
    const revoked = await verifier.verify(DOMAIN, "revoked", keyA.publicKey, configured);
    expect(revoked.servers[0]!.status).to.equal("revoked");
    const ed = await verifier.verify(DOMAIN, "ed", keyA.publicKey, configured);
    expect(ed.servers[0]!.status).to.equal("mismatch");
    expect(ed.servers[0]!.detail).to.match(/^tag k:/);
  });

  it("verifies the record behind a truncated UDP answer (TCP retry)", async () => {
    const v = await verifier.verify(DOMAIN, "big", keyA.publicKey, configured);
    expect(v.ok, JSON.stringify(v.servers)).to.equal(true);
  });

  it("BIND up to date and a stale Node server: not ok, names the stale server", async () => {
    const stale = await startDnsServer();
    try {
      stale.setZone(DOMAIN, { serial: 1, soa: SOA, ttl: 300, records: [] });
      const v = await verifier.verify(DOMAIN, "sel2048", keyA.publicKey, [
        bind.server,
        `127.0.0.1:${stale.port}`,
      ]);
      expect(v.ok).to.equal(false);
      expect(v.servers.filter((s) => s.status !== "ok").map((s) => s.server)).to.deep.equal([
        `127.0.0.1:${stale.port}`,
      ]);
    } finally {
      await stale.close();
    }
  });
});
