/**
 * The record-file checks the DNS-review workflow runs without AWS access
 * (engine/records.ts, adapters/repo-records.ts), over real files in a temporary checkout.
 */
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseProjectConfig, type ProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";
import { generateDkimKeyPair, type DkimKeyPair } from "../actions/dkim-rotation/src/engine/keys";
import {
  checkRecordFolder,
  dkimRecordValue,
  parseRecordFile,
  recordOwner,
  recordPath,
  renderRecordFile,
  splitTxt,
} from "../actions/dkim-rotation/src/engine/record";
import { validateRecordFile } from "../actions/dkim-rotation/src/engine/records";
import {
  checkAllRecords,
  checkRecordRepo,
  gitMergeTimes,
  RepoRecords,
} from "../actions/dkim-rotation/src/adapters/repo-records";

/** git with a fixed author, and a fixed date when given. */
const git = (cwd: string, args: string[], date?: string) =>
  execFileSync("git", args, {
    cwd,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.jp",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.jp",
      ...(date ? { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  }).toString();

const MAIL = "mail.example.jp";
const NEWS = "news.example.jp";

function config(): ProjectConfig {
  return parseProjectConfig(
    {
      identities: [
        { domain: MAIL, selectorPrefix: "mail" },
        { domain: NEWS, selectorPrefix: "news", keyBits: 1024 },
      ],
    },
    { file: "Pulumi.test.yaml", project: "ses-dkim-rotation", defaultRegion: "ap-northeast-1" },
  );
}

function render(domain: string, selector: string, pair: DkimKeyPair): string {
  return renderRecordFile({
    domain,
    selector,
    keyBits: pair.bits,
    fingerprint: pair.fingerprint,
    createdAt: "2026-03-05",
    publishBy: "2026-03-19",
    publicKey: pair.publicKey,
    ttl: 3600,
  });
}

/** Replace one base64 character in the middle of the modulus: still valid DER, different key. */
function tamper(publicKey: string): string {
  const i = 200;
  const c = publicKey[i] === "A" ? "B" : "A";
  return publicKey.slice(0, i) + c + publicKey.slice(i + 1);
}

describe("records (record-file checks)", () => {
  let pair2048: DkimKeyPair;
  let pair1024: DkimKeyPair;
  let next2048: DkimKeyPair;
  let repo: string;
  const cfg = config();
  const mail = cfg.identities[0]!;
  const news = cfg.identities[1]!;

  before(async () => {
    [pair2048, pair1024, next2048] = await Promise.all([
      generateDkimKeyPair(2048),
      generateDkimKeyPair(1024),
      generateDkimKeyPair(2048),
    ]);
  });

  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), "records-check-"));
  });

  afterEach(() => {
    rmSync(repo, { recursive: true, force: true });
  });

  function write(rel: string, text: string): void {
    mkdirSync(join(repo, rel, ".."), { recursive: true });
    writeFileSync(join(repo, rel), text);
  }

  function only(errors: InputError[]): InputError {
    expect(errors.map((e) => e.message)).to.have.length(1);
    const err = errors[0]!;
    expect(err).to.be.instanceOf(InputError);
    expect(err.parts.file).to.match(/^dns\/[^:]+\.zone:\d+$/);
    expect(err.message).not.to.include("\n");
    return err;
  }

  describe("validateRecordFile", () => {
    it("returns the record for a rendered file", () => {
      const path = recordPath(MAIL, "mail-20260305");
      const record = validateRecordFile(
        parseRecordFile(render(MAIL, "mail-20260305", pair2048), path),
        mail,
      );
      expect(record).to.deep.equal({
        domain: MAIL,
        selector: "mail-20260305",
        path,
        publicKey: pair2048.publicKey,
        keyBits: 2048,
      });
    });

    it("checks the key size against the identity it is given", () => {
      const path = recordPath(NEWS, "news-20260305");
      const parsed = parseRecordFile(render(NEWS, "news-20260305", pair1024), path);
      expect(validateRecordFile(parsed, news).keyBits).to.equal(1024);
      expect(() => validateRecordFile(parsed, { ...news, keyBits: 2048 })).to.throw(
        InputError,
        /RSA-1024 key; the identity is configured for 2048/,
      );
    });

    it("refuses a file name that is not a selector", () => {
      const path = `dns/${MAIL}/mail_20260305.zone`;
      const parsed = parseRecordFile(render(MAIL, "mail_20260305", pair2048), path);
      let err: unknown;
      try {
        validateRecordFile(parsed, mail);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(InputError);
      expect((err as InputError).parts).to.include({ file: `${path}:1`, field: "selector" });
    });
  });

  describe("checkAllRecords", () => {
    it("accepts good files for every configured identity and dns/README.md beside them", () => {
      write(recordPath(MAIL, "mail-20260305"), render(MAIL, "mail-20260305", pair2048));
      write(recordPath(NEWS, "news-20260305"), render(NEWS, "news-20260305", pair1024));
      write("dns/README.md", "# not a domain\n");
      const { records, errors } = checkAllRecords(repo, cfg);
      expect(errors.map((e) => e.message)).to.deep.equal([]);
      expect(records.map((r) => `${r.domain}/${r.selector}/${r.keyBits}`)).to.deep.equal([
        `${MAIL}/mail-20260305/2048`,
        `${NEWS}/news-20260305/1024`,
      ]);
    });

    it("returns nothing for a checkout without dns/", () => {
      expect(checkAllRecords(repo, cfg)).to.deep.equal({ records: [], errors: [] });
    });

    it("file name vs header selector mismatch", () => {
      const path = recordPath(MAIL, "mail-20260306");
      write(path, render(MAIL, "mail-20260305", pair2048));
      const err = only(checkAllRecords(repo, cfg).errors);
      expect(err.parts).to.include({ file: `${path}:1`, identity: MAIL, field: "selector" });
      expect(err.message).to.match(/header says mail-20260305 but the file is mail-20260306\.zone/);
    });

    it("owner for another domain", () => {
      const path = recordPath(MAIL, "mail-20260305");
      const text = render(MAIL, "mail-20260305", pair2048).replace(
        recordOwner(MAIL, "mail-20260305"),
        recordOwner("example.com", "mail-20260305"),
      );
      write(path, text);
      const err = only(checkAllRecords(repo, cfg).errors);
      const line = text.split("\n").findIndex((l) => l.startsWith("mail-20260305._domainkey")) + 1;
      expect(err.parts).to.include({ file: `${path}:${line}`, identity: MAIL, field: "owner" });
      expect(err.message).to.include("mail-20260305._domainkey.example.com.");
    });

    it("accepts an owner that differs only in case (DNS names are case-insensitive)", () => {
      const path = recordPath(MAIL, "mail-20260305");
      const text = render(MAIL, "mail-20260305", pair2048).replace(
        "._domainkey.mail.example.jp.",
        "._domainkey.MAIL.example.jp.",
      );
      write(path, text);
      expect(checkAllRecords(repo, cfg).errors).to.deep.equal([]);
    });

    it("key bits vs the identity's keyBits", () => {
      const path = recordPath(NEWS, "news-20260305");
      write(path, render(NEWS, "news-20260305", pair2048));
      const err = only(checkAllRecords(repo, cfg).errors);
      expect(err.parts).to.include({ identity: NEWS, field: "p" });
      expect(err.message).to.match(/RSA-2048 key; the identity is configured for 1024/);
    });

    it("header key-bits vs the key in p=", () => {
      const path = recordPath(MAIL, "mail-20260305");
      write(
        path,
        render(MAIL, "mail-20260305", pair2048).replace("key-bits:    2048", "key-bits:    1024"),
      );
      const err = only(checkAllRecords(repo, cfg).errors);
      expect(err.parts).to.include({ file: `${path}:1`, field: "key-bits" });
    });

    it("a p= edited after generation fails the header fingerprint", () => {
      const path = recordPath(MAIL, "mail-20260305");
      const good = render(MAIL, "mail-20260305", pair2048);
      const edited = tamper(pair2048.publicKey);
      // Characters 190–230 of p= sit inside the first character-string.
      const text = good.replace(pair2048.publicKey.slice(190, 230), edited.slice(190, 230));
      expect(text).not.to.equal(good);
      write(path, text);
      const err = only(checkAllRecords(repo, cfg).errors);
      expect(err.parts).to.include({ identity: MAIL, field: "p" });
      expect(err.message).to.match(/fingerprint/);
      expect(err.message).to.include(pair2048.fingerprint.slice(0, 19));
    });

    it("t=y (testing mode)", () => {
      const path = recordPath(MAIL, "mail-20260305");
      const value = `v=DKIM1; k=rsa; t=y; p=${pair2048.publicKey}`;
      const good = render(MAIL, "mail-20260305", pair2048);
      const header = good.slice(0, good.indexOf("\nmail-20260305._domainkey") + 1);
      const strings = splitTxt(value).map((v) => `"${v}"`);
      write(
        path,
        `${header}${recordOwner(MAIL, "mail-20260305")} 3600 IN TXT ( ${strings.join(" ")} )\n`,
      );
      const err = only(checkAllRecords(repo, cfg).errors);
      expect(err.parts).to.include({ identity: MAIL, field: "t" });
    });

    it("a PKCS#1 p= is refused with the reason", () => {
      const path = recordPath(NEWS, "news-20260305");
      const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
      const pkcs1 = publicKey.export({ type: "pkcs1", format: "der" }).toString("base64");
      const lines = [
        `${recordOwner(NEWS, "news-20260305")} 3600 IN TXT (`,
        `    "${dkimRecordValue(pkcs1)}" )`,
      ];
      write(path, lines.join("\n"));
      const err = only(checkAllRecords(repo, cfg).errors);
      expect(err.parts).to.include({ file: `${path}:2`, field: "p" });
      expect(err.message).to.match(/PKCS#1 RSAPublicKey/);
    });

    it("a domain directory that is not in the config", () => {
      const path = recordPath("old.example.jp", "old-20250101");
      write(path, render("old.example.jp", "old-20250101", pair2048));
      const err = only(checkAllRecords(repo, cfg).errors);
      expect(err.parts).to.include({ identity: "old.example.jp", field: "domain" });
      expect(err.message).to.include("old.example.jp");
      expect(err.message).to.include("Pulumi.test.yaml");
    });

    it("a parse error is collected, not thrown, and other files still load", () => {
      write(recordPath(MAIL, "mail-20260305"), render(MAIL, "mail-20260305", pair2048));
      const bad = recordPath(MAIL, "mail-20260306");
      write(bad, `${recordOwner(MAIL, "mail-20260306")} 3600 IN TXT "v=DKIM1; p=QUJD\n`);
      const { records, errors } = checkAllRecords(repo, cfg);
      expect(records).to.have.length(1);
      const err = only(errors);
      expect(err.parts.file).to.equal(`${bad}:1`);
    });
  });

  describe("RepoRecords", () => {
    it("reads validated records with their merge time", async () => {
      write(recordPath(MAIL, "mail-20260305"), render(MAIL, "mail-20260305", pair2048));
      const merged = new Date("2026-03-06T01:02:03Z");
      const source = new RepoRecords(repo, cfg, async () => merged);
      const records = await source.read(MAIL);
      expect(records).to.have.length(1);
      expect(records[0]).to.deep.include({ selector: "mail-20260305", mergedAt: merged });
      expect(await source.read(NEWS)).to.deep.equal([]);
      expect(await source.read("unknown.example.jp")).to.deep.equal([]);
    });

    it("without git history the merge time is unknown", async () => {
      write(recordPath(MAIL, "mail-20260305"), render(MAIL, "mail-20260305", pair2048));
      const records = await new RepoRecords(repo, cfg).read(MAIL);
      expect(records[0]!.mergedAt).to.equal(undefined);
    });

    it("takes each record's last change from one git log; a shallow clone's boundary gives no time", async () => {
      const a = recordPath(MAIL, "mail-20260305");
      const b = recordPath(MAIL, "mail-20270301");
      git(repo, ["init", "-q", "-b", "main"]);
      write(a, render(MAIL, "mail-20260305", pair2048));
      git(repo, ["add", "."]);
      git(repo, ["commit", "-qm", "a"], "2026-03-07T00:00:00Z");
      write(b, render(MAIL, "mail-20270301", next2048));
      git(repo, ["add", "."]);
      git(repo, ["commit", "-qm", "b"], "2027-03-03T00:00:00Z");
      writeFileSync(join(repo, "README.md"), "not a record\n");
      git(repo, ["add", "."]);
      git(repo, ["commit", "-qm", "readme"], "2027-03-10T00:00:00Z");

      const times = gitMergeTimes(repo);
      expect(await times(a)).to.deep.equal(new Date("2026-03-07T00:00:00Z"));
      expect(await times(b)).to.deep.equal(new Date("2027-03-03T00:00:00Z"));
      expect(await times("dns/none.zone")).to.equal(undefined);
      const records = await new RepoRecords(repo, cfg).read(MAIL);
      expect(records.map((r) => r.mergedAt?.toISOString())).to.deep.equal([
        "2026-03-07T00:00:00.000Z",
        "2027-03-03T00:00:00.000Z",
      ]);

      // fetch-depth 1: both files seem added by the one commit there is (2027-03-10).
      const shallow = mkdtempSync(join(tmpdir(), "records-shallow-"));
      try {
        git(tmpdir(), ["clone", "-q", "--depth", "1", `file://${repo}`, shallow]);
        const shallowTimes = gitMergeTimes(shallow);
        expect(await shallowTimes(a)).to.equal(undefined);
        expect(await shallowTimes(b)).to.equal(undefined);
      } finally {
        rmSync(shallow, { recursive: true, force: true });
      }
    });

    it("throws the InputError of a bad file", async () => {
      write(recordPath(MAIL, "mail-20260305"), render(MAIL, "mail-20260305", pair1024));
      let err: unknown;
      try {
        await new RepoRecords(repo, cfg, async () => undefined).read(MAIL);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(InputError);
    });
  });

  describe("another record folder (--record-folder, the action's record-folder input)", () => {
    const FOLDER = "dkim/records";
    const inFolder = { ...cfg, recordFolder: FOLDER };
    it("reads, checks and dates the files there, and ignores dns/", async () => {
      const rel = recordPath(MAIL, "mail-20270301", FOLDER);
      expect(rel).to.equal(`dkim/records/${MAIL}/mail-20270301.zone`);
      write(rel, render(MAIL, "mail-20270301", pair2048));
      // A stray dns/ is not the record folder any more: nothing there is read.
      write(recordPath(MAIL, "mail-20260305"), "not a record\n");
      git(repo, ["init", "-q", "-b", "main"]);
      git(repo, ["add", "."]);
      git(repo, ["commit", "-qm", "records"], "2027-03-01T00:00:00Z");
      const records = await new RepoRecords(repo, inFolder).read(MAIL);
      expect(records.map((r) => [r.path, r.mergedAt?.toISOString()])).to.deep.equal([
        [rel, "2027-03-01T00:00:00.000Z"],
      ]);
      const all = checkAllRecords(repo, inFolder);
      expect(all.errors.map((e) => e.message)).to.deep.equal([]);
      expect(all.records.map((r) => r.path)).to.deep.equal([rel]);
      // With the default folder the same tree fails on dns/.
      expect(checkAllRecords(repo, cfg).errors).to.have.length(1);
    });

    it("refuses a folder above the record folder that is a link out of the repository", () => {
      const outside = mkdtempSync(join(tmpdir(), "records-outside-"));
      try {
        mkdirSync(join(outside, "records", MAIL), { recursive: true });
        writeFileSync(
          join(outside, "records", MAIL, "mail-20270301.zone"),
          render(MAIL, "mail-20270301", pair2048),
        );
        symlinkSync(outside, join(repo, "dkim"));
        const { records, errors } = checkAllRecords(repo, inFolder);
        expect(records).to.deep.equal([]);
        expect(errors.map((e) => e.message)).to.deep.equal([
          "dkim: field (file): is a symbolic link; the record folder must be part of the repository (hint: record files live in dkim/records/<domain>/<selector>.zone)",
        ]);
        expect(() => checkRecordRepo(repo, { file: "argv", field: "--repo" }, FOLDER)).to.throw(
          InputError,
          /^dkim: field \(file\): is a symbolic link/,
        );
      } finally {
        rmSync(outside, { recursive: true, force: true });
      }
    });

    it("checkRecordFolder takes plain relative folders only", () => {
      const src = { file: "argv", field: "--record-folder" };
      expect(checkRecordFolder("dkim/records/", src)).to.equal("dkim/records");
      expect(checkRecordFolder("dns", src)).to.equal("dns");
      for (const bad of [
        "",
        "/dns",
        "../dns",
        "a/../b",
        "./dns",
        ".git",
        "a//b",
        "d ns",
        "d\\ns",
        "x".repeat(201),
      ])
        expect(() => checkRecordFolder(bad, src), JSON.stringify(bad)).to.throw(
          InputError,
          /^argv: field --record-folder: /,
        );
    });
  });
});
