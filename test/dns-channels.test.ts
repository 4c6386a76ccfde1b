/**
 * The world's pooled DNS channels (scripts/dns-channels.ts) must answer as a
 * fresh resolver per query would: c-ares 1.31+ caches answers per channel for
 * up to an hour unless the embedder turns it off (Node sets qcache_max_ttl 0,
 * nodejs/node#57640), and a shared channel would then serve the sandbox a
 * record the zone no longer has.
 */
import dgram from "node:dgram";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import dnsPacket from "dns-packet";
import { queryTxt } from "../actions/dkim-rotation/src/adapters/dns";
import { pooledResolverFactory } from "../scripts/dns-channels";
import { startDnsServer, type DnsServer, type ZoneModel } from "../scripts/sandbox/dns-server";

const ORIGIN = "pool.example.jp";

function zone(serial: number, txt: Record<string, string>): ZoneModel {
  return {
    serial,
    // A long TTL and negative TTL: any cache would keep the first answer.
    ttl: 3600,
    soa: {
      mname: `ns1.${ORIGIN}.`,
      rname: `hostmaster.${ORIGIN}.`,
      refresh: 3600,
      retry: 600,
      expire: 604800,
      minimum: 3600,
    },
    records: Object.entries(txt).map(([name, value]) => ({ name, type: "TXT", data: [value] })),
  };
}

describe("pooled DNS channels (the sandbox's own lookups)", function () {
  let ns: DnsServer;
  let server: string;
  beforeEach(async () => {
    ns = await startDnsServer();
    server = `127.0.0.1:${ns.port}`;
  });
  afterEach(() => ns.close());

  it("answers what the zone holds now: no answer or NXDOMAIN is kept across a zone change", async function () {
    const createResolver = pooledResolverFactory();
    const ask = (name: string) =>
      queryTxt(server, name, { timeout: 500, tries: 1, createResolver });
    ns.setZone(ORIGIN, zone(1, { a: "v=one" }));
    expect(await ask(`a.${ORIGIN}`)).to.deep.equal([["v=one"]]);
    expect(await ask(`b.${ORIGIN}`)).to.equal("NXDOMAIN");
    ns.setZone(ORIGIN, zone(2, { a: "v=two", b: "v=new" }));
    expect(await ask(`a.${ORIGIN}`)).to.deep.equal([["v=two"]]);
    expect(await ask(`b.${ORIGIN}`)).to.deep.equal([["v=new"]]);
    ns.setZone(ORIGIN, zone(3, {}));
    expect(await ask(`a.${ORIGIN}`)).to.equal("NXDOMAIN");
    // Every question reached the server: nothing came from a channel cache.
    expect(ns.queries.get(`a.${ORIGIN}`)).to.equal(3);
  });

  it("many queries at once share one channel, and one caller's cancel fails no other", async function () {
    const createResolver = pooledResolverFactory();
    ns.setZone(ORIGIN, zone(1, { a: "v=one", b: "v=two" }));
    const names = Array.from({ length: 40 }, (_, i) => `${i % 2 ? "a" : "b"}.${ORIGIN}`);
    const answers = await Promise.all(
      names.map((n) => queryTxt(server, n, { timeout: 500, tries: 1, createResolver })),
    );
    expect(answers).to.deep.equal(names.map((n) => [[n.startsWith("a") ? "v=one" : "v=two"]]));
  });

  it("a query still in flight survives another caller's finished query on the same channel", async function () {
    // A server that answers `slow.` names 300 ms late: the fast query ends (and
    // queryTxt cancels its resolver) while the slow one is still waiting.
    const udp = dgram.createSocket("udp4");
    udp.on("message", (msg, rinfo) => {
      const q = dnsPacket.decode(msg);
      const name = q.questions![0]!.name;
      const reply = dnsPacket.encode({
        id: q.id,
        type: "response",
        flags: dnsPacket.AUTHORITATIVE_ANSWER,
        questions: q.questions,
        answers: [{ name, type: "TXT", ttl: 3600, data: [name.split(".")[0]!] }],
      });
      setTimeout(
        () => udp.send(reply, rinfo.port, rinfo.address),
        name.startsWith("slow") ? 300 : 0,
      );
    });
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    try {
      const at = `127.0.0.1:${(udp.address() as AddressInfo).port}`;
      const createResolver = pooledResolverFactory();
      const ask = (name: string) => queryTxt(at, name, { timeout: 2000, tries: 1, createResolver });
      const slow = ask(`slow.${ORIGIN}`);
      expect(await ask(`fast.${ORIGIN}`)).to.deep.equal([["fast"]]);
      expect(await slow).to.deep.equal([["slow"]]);
    } finally {
      udp.close();
    }
  });

  it("refuses a query before its server is set, and more than one server", function () {
    const resolver = pooledResolverFactory()({ timeout: 500, tries: 1 });
    expect(() => resolver.resolveTxt(`a.${ORIGIN}`)).to.throw(/setServers/);
    expect(() => resolver.setServers([server, server])).to.throw(/exactly one server/);
  });
});
