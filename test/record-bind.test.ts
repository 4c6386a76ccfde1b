/**
 * Record files against real DNS software: what `renderRecordFile` writes must
 * load in BIND (`named-checkzone`, `named`) when `$INCLUDE`d into a zone, and
 * `dig` must hand back strings that join to the exact record value. The
 * hand-made single 300-byte string shows why splitting matters: BIND refuses
 * it, and so does our own parser, naming the file and line.
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";
import { generateDkimKeyPair, type DkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import {
  dkimRecordValue,
  parseRecordFile,
  recordOwner,
  recordPath,
  renderRecordFile,
  splitTxt,
  type RenderInput,
} from "../actions/dkim-rotation/src/engine/record";
import {
  mailDomainZone,
  soaFor,
  renderZoneFile,
  type ZoneModel,
} from "../scripts/sandbox/dns-server";
import { checkZone, digTxt, requireBinary, startBind, type BindServer } from "./helpers/bind";

const DOMAIN = "example.jp";
const ZONE: ZoneModel = {
  serial: 2026030101,
  soa: soaFor(DOMAIN),
  ttl: 300,
  records: [
    { name: "@", type: "NS", data: "ns1.example.jp." },
    { name: "ns1", type: "A", data: "127.0.0.1" },
  ],
};

function renderInput(selector: string, key: DkimKeyPair): RenderInput {
  return {
    domain: DOMAIN,
    selector,
    keyBits: key.bits,
    fingerprint: key.fingerprint,
    createdAt: "2026-03-01T00:00:00.000Z",
    publishBy: "2026-03-15",
    publicKey: key.publicKey,
    ttl: 3600,
    nameservers: ["ns1.example.jp"],
  };
}

describe("record files in BIND", function () {
  let dir: string;
  let key1024: DkimKeyPair;
  let key2048: DkimKeyPair;
  let checkzone: string;

  /** Write the record file where the repository keeps it, and a zone that `$INCLUDE`s it. */
  async function writeZoneWith(
    selector: string,
    recordText: string,
  ): Promise<{ recordFile: string; zoneFile: string }> {
    const recordFile = path.join(dir, recordPath(DOMAIN, selector));
    await mkdir(path.dirname(recordFile), { recursive: true });
    await writeFile(recordFile, recordText);
    const zoneFile = path.join(dir, `${DOMAIN}.${selector}.zone`);
    await writeFile(
      zoneFile,
      renderZoneFile({ origin: DOMAIN, ...ZONE }, { includes: [recordFile] }),
    );
    return { recordFile, zoneFile };
  }

  before(async function () {
    checkzone = requireBinary(this, "named-checkzone");
    dir = await mkdtemp(path.join(os.tmpdir(), "dkim-record-bind-"));
    [key1024, key2048] = await Promise.all([generateDkimKeyPair(1024), generateDkimKeyPair(2048)]);
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const bits of [1024, 2048] as const) {
    it(`named-checkzone accepts a rendered ${bits}-bit record file $INCLUDEd into a zone`, async () => {
      const key = bits === 1024 ? key1024 : key2048;
      const selector = `sel${bits}`;
      const text = renderRecordFile(renderInput(selector, key));
      const { zoneFile } = await writeZoneWith(selector, text);
      const result = await checkZone(checkzone, DOMAIN, zoneFile);
      expect(result.ok, result.output).to.equal(true);
      expect(result.output).to.match(/loaded serial 2026030101/);
      // 2048-bit values are longer than one character-string can hold.
      const strings = splitTxt(dkimRecordValue(key.publicKey));
      expect(strings.length).to.equal(bits === 2048 ? 2 : 1);
    });
  }

  it("a single 300-byte string is rejected by named-checkzone and by parseRecordFile (file:line)", async () => {
    const value = dkimRecordValue(key2048.publicKey).slice(0, 300);
    expect(Buffer.byteLength(value)).to.equal(300);
    const text = [
      "; hand-made, not split",
      `; domain:      ${DOMAIN}`,
      `${recordOwner(DOMAIN, "handmade")} 3600 IN TXT "${value}"`,
      "",
    ].join("\n");
    const { recordFile, zoneFile } = await writeZoneWith("handmade", text);
    const result = await checkZone(checkzone, DOMAIN, zoneFile);
    expect(result.ok, result.output).to.equal(false);
    // BIND 9.18 says "syntax error" for an over-long character-string, at the record file's line.
    expect(result.output).to.include(`${recordFile}:3: syntax error`);
    expect(result.output).to.include("not loaded due to errors");

    const file = recordPath(DOMAIN, "handmade");
    let error: unknown;
    try {
      parseRecordFile(text, file);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(InputError);
    const message = (error as Error).message;
    expect(message).to.include(`${file}:3`);
    expect(message).to.include("300-byte string");
    expect(message.split("\n")).to.have.length(1);
  });

  it("renderRecordFile → parseRecordFile gives back value, owner, ttl and meta", () => {
    for (const [selector, key] of [
      ["rt1024", key1024],
      ["rt2048", key2048],
    ] as const) {
      const input = renderInput(selector, key);
      const parsed = parseRecordFile(renderRecordFile(input), recordPath(DOMAIN, selector));
      expect(parsed.value).to.equal(dkimRecordValue(key.publicKey));
      expect(parsed.owner).to.equal(recordOwner(DOMAIN, selector));
      expect(parsed.ttl).to.equal(3600);
      expect(parsed.meta).to.deep.equal({
        domain: DOMAIN,
        selector,
        keyBits: key.bits,
        fingerprint: key.fingerprint,
        createdAt: input.createdAt,
        publishBy: input.publishBy,
      });
      expect(parsed.tags.get("p")).to.equal(key.publicKey);
      for (const s of parsed.strings) expect(s.bytes).to.be.at.most(255);
    }
  });

  it("zone files archived by the sandbox (renderZoneFile) load, quotes, backslashes and raw bytes included", async () => {
    const zoneFile = path.join(dir, `${DOMAIN}.2026030102.zone`);
    const odd = ['say "hi"', "back\\slash", Buffer.from([0x00, 0xff, 0x3b])];
    await writeFile(
      zoneFile,
      renderZoneFile({
        origin: DOMAIN,
        ...ZONE,
        serial: 2026030102,
        records: [
          ...ZONE.records,
          { name: "odd", type: "TXT", data: odd },
          { name: "k._domainkey", type: "TXT", data: splitTxt(dkimRecordValue(key2048.publicKey)) },
        ],
      }),
    );
    const result = await checkZone(checkzone, DOMAIN, zoneFile);
    expect(result.ok, result.output).to.equal(true);
    expect(result.output).to.match(/loaded serial 2026030102/);
  });

  it("Easy DKIM CNAMEs in an archived zone file keep their absolute target (not one below $ORIGIN)", async () => {
    const zoneFile = path.join(dir, `${DOMAIN}.2026030103.zone`);
    const target = "tok1.dkim.ap-northeast-3.amazonses.com";
    await writeFile(
      zoneFile,
      renderZoneFile({
        origin: DOMAIN,
        ...mailDomainZone(DOMAIN, {
          serial: 2026030103,
          dkim: new Map(),
          easyDkimCnames: [{ token: "tok1", target }],
          nameserverAddress: "127.0.0.1",
        }),
      }),
    );
    const dumped = spawnSync(checkzone, ["-D", "-q", DOMAIN, zoneFile], { encoding: "utf8" });
    expect(dumped.status, dumped.stderr).to.equal(0);
    expect(dumped.stdout).to.match(
      new RegExp(
        `^tok1\\._domainkey\\.${DOMAIN.replace(".", "\\.")}\\.\\s+\\d+\\s+IN\\s+CNAME\\s+${target.replace(/\./g, "\\.")}\\.$`,
        "m",
      ),
    );
  });

  describe("served by named, read with dig", function () {
    let bind: BindServer;
    let digPath: string;

    before(async function () {
      const named = requireBinary(this, "named");
      digPath = requireBinary(this, "dig");
      const recordFiles: string[] = [];
      for (const [selector, key] of [
        ["dig1024", key1024],
        ["dig2048", key2048],
      ] as const) {
        const file = path.join(dir, recordPath(DOMAIN, selector));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, renderRecordFile(renderInput(selector, key)));
        recordFiles.push(file);
      }
      const zoneFile = path.join(dir, `${DOMAIN}.served.zone`);
      await writeFile(
        zoneFile,
        renderZoneFile({ origin: DOMAIN, ...ZONE }, { includes: recordFiles }),
      );
      bind = await startBind(named, [{ origin: DOMAIN, file: zoneFile }]);
    });
    after(async () => {
      await bind?.stop();
    });

    for (const bits of [1024, 2048] as const) {
      it(`dig returns ${bits}-bit strings that join back to the value`, async () => {
        const key = bits === 1024 ? key1024 : key2048;
        const records = await digTxt(
          digPath,
          bind.port,
          recordOwner(DOMAIN, `dig${bits}`).slice(0, -1),
        );
        expect(records).to.have.length(1);
        const strings = records[0]!;
        expect(strings).to.deep.equal(splitTxt(dkimRecordValue(key.publicKey)));
        for (const s of strings) expect(Buffer.byteLength(s)).to.be.at.most(255);
        expect(strings.join("")).to.equal(dkimRecordValue(key.publicKey));
      });
    }
  });
});
