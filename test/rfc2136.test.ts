/**
 * The `rfc2136` publisher against a real BIND `named` on loopback: TSIG key
 * from `tsig-keygen`, `update-policy { grant <key> subdomain
 * _domainkey.example.test. TXT; }`, and a second zone the key may not touch.
 * `nsupdate` is wrapped by a script that logs its argv, so the tests also see
 * when nothing was sent and that the secret never reached a command line.
 */
import { expect } from "chai";
import { promises as dns } from "node:dns";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Rfc2136Error, Rfc2136Publisher } from "../actions/dkim-rotation/src/adapters/rfc2136";
import { generateDkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import { dkimRecordValue, splitTxt } from "../actions/dkim-rotation/src/engine/record";
import {
  digQuery,
  digSoaSerial,
  digTxt,
  freePort,
  requireBinary,
  startBind,
  tsigKeygen,
  type BindServer,
  type BindTsigKey,
} from "./helpers/bind";

const ZONE = "example.test";
const FORBIDDEN = "forbidden.test";
const KEY_NAME = "ses-dkim-rotation.example.test";
const SECRET_NAME = "ses-dkim-rotation/tsig/example.test";

function zoneFile(origin: string): string {
  return [
    "$TTL 300",
    `@ IN SOA ns1.${origin}. hostmaster.${origin}. 2026030101 3600 600 86400 300`,
    `@ IN NS ns1.${origin}.`,
    "ns1 IN A 127.0.0.1",
    "www IN A 127.0.0.1",
    "",
  ].join("\n");
}

describe("rfc2136 publisher against BIND named (TSIG, update-policy)", function () {
  let dir: string;
  let bind: BindServer;
  let dig: string;
  let key: BindTsigKey;
  let wrapper: string;
  let argvLog: string;
  let strings: string[];
  let otherStrings: string[];
  /** Every progress line and error message any test saw, checked for the secret at the end. */
  const texts: string[] = [];

  before(async function () {
    const named = requireBinary(this, "named");
    const nsupdate = requireBinary(this, "nsupdate");
    dig = requireBinary(this, "dig");
    const keygen = requireBinary(this, "tsig-keygen");
    dir = await mkdtemp(path.join(os.tmpdir(), "dkim-rfc2136-"));
    key = await tsigKeygen(keygen, KEY_NAME, "hmac-sha256");
    const zonePath = path.join(dir, `${ZONE}.db`);
    const forbiddenPath = path.join(dir, `${FORBIDDEN}.db`);
    await writeFile(zonePath, zoneFile(ZONE));
    await writeFile(forbiddenPath, zoneFile(FORBIDDEN));
    bind = await startBind(
      named,
      [
        {
          origin: ZONE,
          file: zonePath,
          updatePolicy: [`grant ${KEY_NAME} subdomain _domainkey.${ZONE}. TXT`],
        },
        // Dynamic, but the key may only touch www's A record there.
        {
          origin: FORBIDDEN,
          file: forbiddenPath,
          updatePolicy: [`grant ${KEY_NAME} name www.${FORBIDDEN}. A`],
        },
      ],
      15000,
      { keys: [key] },
    );
    argvLog = path.join(dir, "nsupdate-argv.log");
    wrapper = path.join(dir, "nsupdate-wrapper.sh");
    await writeFile(argvLog, "");
    await writeFile(
      wrapper,
      `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec '${nsupdate}' "$@"\n`,
    );
    await chmod(wrapper, 0o700);
    const [a, b] = await Promise.all([generateDkimKeyPair(2048), generateDkimKeyPair(2048)]);
    strings = splitTxt(dkimRecordValue(a.publicKey));
    otherStrings = splitTxt(dkimRecordValue(b.publicKey));
  });

  after(async () => {
    await bind?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function publisher(
    over: { zone?: string; server?: string; keyName?: string; timeoutSeconds?: number } = {},
    secret: () => Promise<string> = async () => key.secret,
  ): Rfc2136Publisher {
    return new Rfc2136Publisher(
      {
        server: over.server ?? bind.server,
        keyName: over.keyName ?? KEY_NAME,
        algorithm: "hmac-sha256",
        secretName: SECRET_NAME,
        zone: over.zone ?? ZONE,
      },
      {
        tsigSecret: secret,
        nsupdatePath: wrapper,
        timeoutSeconds: over.timeoutSeconds ?? 10,
        onProgress: (line) => texts.push(line),
      },
    );
  }

  async function refusal(p: Promise<unknown>): Promise<Rfc2136Error> {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(Rfc2136Error);
      const e = err as Rfc2136Error;
      texts.push(e.message);
      expect(e.message).to.not.include("\n");
      return e;
    }
    throw new Error("expected a refusal");
  }

  async function nsupdateRuns(): Promise<number> {
    return (await readFile(argvLog, "utf8")).split("\n").filter(Boolean).length;
  }

  const name = (selector: string, zone = ZONE) => `${selector}._domainkey.${zone}`;

  it("publishes a 2048-bit DKIM record split in strings of at most 255 bytes, read back exactly by dig", async () => {
    expect(strings.length).to.be.greaterThan(1);
    expect(strings.every((s) => Buffer.byteLength(s) <= 255)).to.equal(true);
    const serial = await digSoaSerial(dig, bind.port, ZONE);
    const started = Date.now();
    const { detail } = await publisher().publish({
      domain: ZONE,
      selector: "s1",
      strings,
      ttl: 3600,
    });
    const elapsed = Date.now() - started;
    texts.push(detail);
    const served = await digTxt(dig, bind.port, name("s1"));
    expect(served).to.have.length(1);
    expect(served[0]).to.deep.equal(strings);
    expect(served[0]!.join("")).to.equal(strings.join(""));
    const ttl = await digQuery(dig, bind.port, "TXT", name("s1"));
    expect(ttl.status).to.equal("NOERROR");
    expect(await digSoaSerial(dig, bind.port, ZONE)).to.equal(serial + 1);
    expect(detail).to.include(`SOA serial ${serial} → ${serial + 1}`);
    expect(detail).to.include("the primary serves exactly");
    expect(elapsed).to.be.lessThan(10000);
  });

  it("re-publishing the same value is a no-op that succeeds: one record, serial unchanged", async () => {
    const serial = await digSoaSerial(dig, bind.port, ZONE);
    const { detail } = await publisher().publish({
      domain: ZONE,
      selector: "s1",
      strings,
      ttl: 3600,
    });
    texts.push(detail);
    const served = await digTxt(dig, bind.port, name("s1"));
    expect(served).to.deep.equal([strings]);
    expect(await digSoaSerial(dig, bind.port, ZONE)).to.equal(serial);
    expect(detail).to.include("unchanged");
  });

  it("replaces an old different value in one atomic update: readers see old or new, never none or both", async () => {
    const serial = await digSoaSerial(dig, bind.port, ZONE);
    const before = await nsupdateRuns();
    const seen: string[] = [];
    let stop = false;
    const reader = (async () => {
      const resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
      resolver.setServers([bind.server]);
      while (!stop) {
        try {
          const records = await resolver.resolveTxt(name("s1"));
          seen.push(
            records.length !== 1
              ? `${records.length} records`
              : records[0]!.join("") === strings.join("")
                ? "old"
                : records[0]!.join("") === otherStrings.join("")
                  ? "new"
                  : "other",
          );
        } catch (err) {
          seen.push((err as { code?: string }).code ?? "error");
        }
      }
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await publisher().publish({ domain: ZONE, selector: "s1", strings: otherStrings, ttl: 600 });
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      stop = true;
      await reader;
    }
    expect(await nsupdateRuns()).to.equal(before + 1);
    expect(await digTxt(dig, bind.port, name("s1"))).to.deep.equal([otherStrings]);
    // One transaction: the serial rose by exactly one for the delete and the add together.
    expect(await digSoaSerial(dig, bind.port, ZONE)).to.equal(serial + 1);
    expect(seen).to.include("old");
    expect(seen).to.include("new");
    expect(seen.filter((s) => s !== "old" && s !== "new")).to.deep.equal([]);
    expect(seen.lastIndexOf("old")).to.be.lessThan(seen.indexOf("new"));
  });

  it("removes the TXT RRset: dig then shows NXDOMAIN or NODATA", async () => {
    const result = await publisher().remove({ domain: ZONE, selector: "s1" });
    texts.push(result.detail);
    expect(result.acted).to.equal(true);
    const after = await digQuery(dig, bind.port, "TXT", name("s1"));
    expect(["NXDOMAIN", "NOERROR"]).to.include(after.status);
    expect(after.answers).to.deep.equal([]);
    expect(result.detail).to.match(/NXDOMAIN|NODATA/);
  });

  it("removing again is success with acted: false, and sends nothing", async () => {
    const before = await nsupdateRuns();
    const result = await publisher().remove({ domain: ZONE, selector: "s1" });
    texts.push(result.detail);
    expect(result.acted).to.equal(false);
    expect(await nsupdateRuns()).to.equal(before);
  });

  it("a wrong secret is one clear BADSIG refusal naming server, zone and record; nothing is written", async () => {
    const wrong = Buffer.alloc(32, 7).toString("base64");
    const e = await refusal(
      publisher({}, async () => wrong).publish({
        domain: ZONE,
        selector: "s2",
        strings,
        ttl: 3600,
      }),
    );
    expect(e.reason).to.equal("badsig");
    expect(e.message).to.include(bind.server);
    expect(e.message).to.include(`zone ${ZONE}`);
    expect(e.message).to.include(name("s2"));
    expect(e.message).to.include("BADSIG");
    expect(e.message).to.include(SECRET_NAME);
    expect(e.message).to.not.include(wrong);
    expect(e.message).to.not.include(key.secret);
    expect((await digQuery(dig, bind.port, "TXT", name("s2"))).answers).to.deep.equal([]);
  });

  it("an unknown key name is a BADKEY refusal saying which key the DNS team must define", async () => {
    const e = await refusal(
      publisher({ keyName: "not-granted.example.test" }).publish({
        domain: ZONE,
        selector: "s2",
        strings,
        ttl: 3600,
      }),
    );
    expect(e.reason).to.equal("badkey");
    expect(e.message).to.include("BADKEY");
    expect(e.message).to.include("not-granted.example.test");
    expect((await digQuery(dig, bind.port, "TXT", name("s2"))).answers).to.deep.equal([]);
  });

  it("a zone whose update-policy does not grant the key is a REFUSED refusal; nothing is written", async () => {
    const serial = await digSoaSerial(dig, bind.port, FORBIDDEN);
    const e = await refusal(
      publisher({ zone: FORBIDDEN }).publish({
        domain: FORBIDDEN,
        selector: "s1",
        strings,
        ttl: 3600,
      }),
    );
    expect(e.reason).to.equal("refused");
    expect(e.message).to.include("REFUSED");
    expect(e.message).to.include(`zone ${FORBIDDEN}`);
    expect(e.message).to.include(`grant ${KEY_NAME} subdomain _domainkey.${FORBIDDEN}. TXT`);
    expect((await digQuery(dig, bind.port, "TXT", name("s1", FORBIDDEN))).answers).to.deep.equal(
      [],
    );
    expect(await digSoaSerial(dig, bind.port, FORBIDDEN)).to.equal(serial);
  });

  it("a zone the server does not serve is a NOTAUTH refusal", async () => {
    const e = await refusal(
      publisher({ zone: "elsewhere.test" }).publish({
        domain: "elsewhere.test",
        selector: "s1",
        strings,
        ttl: 3600,
      }),
    );
    expect(e.reason).to.equal("notauth");
    expect(e.message).to.include("not authoritative for zone elsewhere.test");
  });

  it("refuses a name outside _domainkey of its zone before sending anything", async () => {
    const before = await nsupdateRuns();
    const outside = await refusal(
      publisher().publish({ domain: FORBIDDEN, selector: "s1", strings, ttl: 3600 }),
    );
    expect(outside.reason).to.equal("outside");
    expect(outside.message).to.include(`refused before sending to ${bind.server}`);
    expect(outside.message).to.include(`zone ${ZONE}`);
    const dotted = await refusal(
      publisher().publish({ domain: ZONE, selector: "www.x", strings, ttl: 3600 }),
    );
    expect(dotted.reason).to.equal("outside");
    const removeOutside = await refusal(publisher().remove({ domain: FORBIDDEN, selector: "s1" }));
    expect(removeOutside.reason).to.equal("outside");
    expect(await nsupdateRuns()).to.equal(before);
    expect((await digQuery(dig, bind.port, "A", `www.${FORBIDDEN}`)).answers).to.deep.equal([
      "127.0.0.1",
    ]);
  });

  it("refuses a string over 255 bytes, a bad TTL and a non-base64 secret before sending", async () => {
    const before = await nsupdateRuns();
    const long = await refusal(
      publisher().publish({ domain: ZONE, selector: "s3", strings: ["x".repeat(256)], ttl: 3600 }),
    );
    expect(long.reason).to.equal("invalid");
    expect(long.message).to.include("256 bytes");
    const ttl = await refusal(
      publisher().publish({ domain: ZONE, selector: "s3", strings: ["v=DKIM1"], ttl: -1 }),
    );
    expect(ttl.reason).to.equal("invalid");
    const badSecret = "not base64 !! s3cr3t-value";
    const notBase64 = await refusal(
      publisher({}, async () => badSecret).publish({
        domain: ZONE,
        selector: "s3",
        strings: ["v=DKIM1"],
        ttl: 3600,
      }),
    );
    expect(notBase64.reason).to.equal("invalid");
    expect(notBase64.message).to.not.include("s3cr3t");
    expect(await nsupdateRuns()).to.equal(before);
    expect((await digQuery(dig, bind.port, "TXT", name("s3"))).answers).to.deep.equal([]);
  });

  it("a server that accepts TCP but never answers is a timeout refusal in bounded time", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const e = await refusal(
        publisher({ server: `127.0.0.1:${port}`, timeoutSeconds: 1 }).publish({
          domain: ZONE,
          selector: "s4",
          strings,
          ttl: 3600,
        }),
      );
      expect(Date.now() - started).to.be.lessThan(8000);
      expect(e.reason).to.equal("timeout");
      expect(e.message).to.include(`127.0.0.1:${port}`);
      expect(e.message).to.include("no reply within 1 s");
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it("a closed port is an unreachable refusal, quickly", async () => {
    const port = await freePort();
    const started = Date.now();
    const e = await refusal(
      publisher({ server: `127.0.0.1:${port}`, timeoutSeconds: 2 }).publish({
        domain: ZONE,
        selector: "s4",
        strings,
        ttl: 3600,
      }),
    );
    expect(Date.now() - started).to.be.lessThan(8000);
    expect(["unreachable", "timeout"]).to.include(e.reason);
    expect(e.message).to.include(`TCP port ${port}`);
  });

  it("redacts the secret even when nsupdate prints it back (as it does for a key it cannot decode)", async () => {
    // Real nsupdate 9.18 prints "could not create key from <secret>: bad base64
    // encoding"; this stand-in prints the secret the same way for any key line.
    const echoing = path.join(dir, "nsupdate-echoing.sh");
    await writeFile(
      echoing,
      `#!/bin/sh\nsed -n 's/^key [^ ]* \\(.*\\)$/could not create key from \\1: bad base64 encoding/p' >&2\nexit 1\n`,
    );
    await chmod(echoing, 0o700);
    const progress: string[] = [];
    const p = new Rfc2136Publisher(
      {
        server: bind.server,
        keyName: KEY_NAME,
        algorithm: "hmac-sha256",
        secretName: SECRET_NAME,
        zone: ZONE,
      },
      {
        tsigSecret: async () => key.secret,
        nsupdatePath: echoing,
        onProgress: (line) => progress.push(line),
      },
    );
    const e = await refusal(p.publish({ domain: ZONE, selector: "s5", strings, ttl: 3600 }));
    texts.push(...progress);
    expect(e.reason).to.equal("failed");
    expect(e.message).to.include("could not create key from [tsig secret]");
    for (const text of [e.message, ...progress]) expect(text).to.not.include(key.secret);
  });

  it("the TSIG secret never appears in argv, progress lines or error messages", async () => {
    expect(texts.length).to.be.greaterThan(10);
    const argv = await readFile(argvLog, "utf8");
    expect(argv).to.include("-v");
    for (const text of [argv, ...texts]) {
      expect(text).to.not.include(key.secret);
      expect(text).to.not.include(key.secret.replace(/=+$/, ""));
    }
  });
});
