/**
 * The one config file (engine/config.ts): the repository's real stack file,
 * and a table of bad files, each of which must fail with ONE line naming the
 * file, the identity (when known) and the field (docs/design.md#invariant-6-bad-input-fails-early).
 */
import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  parseProjectConfig,
  ROTATION_BUFFER_DAYS,
} from "../actions/dkim-rotation/src/engine/config";
import { loadConfig } from "../actions/dkim-rotation/src/load-config";
import { InputError } from "../actions/dkim-rotation/src/engine/errors";

const P = "ses-dkim-rotation";

function loadError(file: string, project?: string): InputError {
  try {
    loadConfig(file, project);
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(InputError);
    return err as InputError;
  }
  expect.fail(`expected ${file} to be refused`);
}

describe("config", () => {
  describe("the repository's Pulumi.prod.yaml", () => {
    const config = loadConfig("Pulumi.prod.yaml");

    it("reads the project name from Pulumi.yaml and every identity", () => {
      expect(config.project).to.equal(P);
      expect(config.file).to.equal("Pulumi.prod.yaml");
      expect(config.defaultRegion).to.equal("ap-northeast-1");
      expect(config.identities.map((i) => i.domain)).to.deep.equal([
        "mail.example.jp",
        "news.example.jp",
        "example.co.jp",
      ]);
    });

    it("applies defaults, with regions defaulting to aws:region", () => {
      const news = config.identities.find((i) => i.domain === "news.example.jp")!;
      expect(news).to.deep.equal({
        domain: "news.example.jp",
        selectorPrefix: "news",
        regions: ["ap-northeast-1"],
        keyBits: 2048,
        rotationDays: 365,
        dnsLeadDays: 14,
        alertDays: 30,
        graceDays: 7,
        recordTtl: 3600,
        publisher: "manual",
      });
      const mail = config.identities.find((i) => i.domain === "mail.example.jp")!;
      expect(mail.regions).to.deep.equal(["ap-northeast-1", "ap-northeast-3"]);
      const corp = config.identities.find((i) => i.domain === "example.co.jp")!;
      expect(corp).to.include({ dnsLeadDays: 21, graceDays: 10, rotationDays: 365 });
    });

    it("reads the project-wide settings", () => {
      expect(config).to.deep.include({
        kmsKeyId: "alias/ses-dkim-rotation",
        secretPrefix: "dkim",
        deletionRecoveryDays: 30,
        metricsNamespace: "SesDkimRotation",
        sesRequestsPerSecond: 1,
        dnsTeam: "@example-jp/dns-team",
      });
      expect(config.alertEmails).to.have.length(2);
      expect(config.github).to.deep.include({
        owner: "example-jp",
        repo: "ses-dkim-rotation",
        environment: "dkim-production",
        manageRepository: false,
      });
      expect(config.github?.reviewers).to.deep.equal({ users: [], teams: [4242] });
    });

    it("refuses the file under another project name", () => {
      const err = loadError("Pulumi.prod.yaml", "other-project");
      expect(err.parts.field).to.equal("other-project:identities");
    });
  });

  describe("bad config files", () => {
    let dir: string;
    let n = 0;

    before(() => {
      dir = mkdtempSync(join(tmpdir(), "config-test-"));
    });

    after(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    function writeStack(text: string): string {
      const file = join(dir, `Pulumi.case${++n}.yaml`);
      writeFileSync(file, text);
      return file;
    }

    const base = (): Record<string, unknown> => ({
      domain: "mail.example.jp",
      selectorPrefix: "mail",
    });
    /** A stack file with `identities` (after `edit`) and any extra top-level config. */
    function stack(
      identities: unknown,
      extra: Record<string, unknown> = {},
      region: string | null = "ap-northeast-1",
    ): string {
      const config: Record<string, unknown> = {};
      if (region !== null) config["aws:region"] = region;
      if (identities !== undefined) config[`${P}:identities`] = identities;
      Object.assign(config, extra);
      return stringify({ config });
    }
    const one = (edit: Record<string, unknown>) => stack([{ ...base(), ...edit }]);

    interface Case {
      name: string;
      text: string;
      /** The field path the message must name. */
      field: string;
      /** The identity the message must name, when it is known. */
      identity?: string;
      /** The problem, in words. */
      problem: RegExp;
      /** Expect `file:<line>` instead of the bare file. */
      line?: number;
    }

    const minRotation = 30 + 14 + ROTATION_BUFFER_DAYS + 7;
    const cases: Case[] = [
      {
        name: "keyBits 4096",
        text: one({ keyBits: 4096 }),
        field: `${P}:identities[0].keyBits`,
        identity: "mail.example.jp",
        problem: /1024 or 2048/,
      },
      {
        name: 'keyBits "2048" (a string)',
        text: one({ keyBits: "2048" }),
        field: `${P}:identities[0].keyBits`,
        identity: "mail.example.jp",
        problem: /1024 or 2048/,
      },
      {
        name: "selectorPrefix with an underscore",
        text: one({ selectorPrefix: "mail_dkim" }),
        field: `${P}:identities[0].selectorPrefix`,
        identity: "mail.example.jp",
        problem: /selector pattern/,
      },
      {
        name: "selectorPrefix with a dot",
        text: one({ selectorPrefix: "mail.dkim" }),
        field: `${P}:identities[0].selectorPrefix`,
        identity: "mail.example.jp",
        problem: /selector pattern/,
      },
      {
        name: "selectorPrefix too long for -yyyymmdd-NN",
        text: one({ selectorPrefix: "m".repeat(52) }),
        field: `${P}:identities[0].selectorPrefix`,
        identity: "mail.example.jp",
        problem: /at most 51 characters/,
      },
      {
        name: "selectorPrefix ending in a hyphen",
        text: one({ selectorPrefix: "mail-" }),
        field: `${P}:identities[0].selectorPrefix`,
        identity: "mail.example.jp",
        problem: /selector pattern/,
      },
      {
        name: "domain with a trailing dot",
        text: one({ domain: "mail.example.jp." }),
        field: `${P}:identities[0].domain`,
        identity: "mail.example.jp.",
        problem: /trailing dot/,
      },
      {
        name: "upper-case domain",
        text: one({ domain: "Mail.Example.JP" }),
        field: `${P}:identities[0].domain`,
        identity: "Mail.Example.JP",
        problem: /lower-case/,
      },
      {
        name: "duplicate domain",
        text: stack([base(), { domain: "news.example.jp", selectorPrefix: "news" }, base()]),
        field: `${P}:identities[2].domain`,
        identity: "mail.example.jp",
        problem: /listed twice/,
      },
      {
        name: "region typo ap-northest-1x",
        text: one({ regions: ["ap-northeast-1", "ap-northest-1x"] }),
        field: `${P}:identities[0].regions[1]`,
        identity: "mail.example.jp",
        problem: /AWS region/,
      },
      {
        name: "a Region listed twice",
        text: one({ regions: ["ap-northeast-1", "ap-northeast-1"] }),
        field: `${P}:identities[0].regions`,
        identity: "mail.example.jp",
        problem: /Region twice/,
      },
      {
        name: "empty regions list",
        text: one({ regions: [] }),
        field: `${P}:identities[0].regions`,
        identity: "mail.example.jp",
        problem: /at least one region/,
      },
      {
        name: "unknown identity key selektor",
        text: one({ selektor: "mail" }),
        field: `${P}:identities[0].selektor`,
        identity: "mail.example.jp",
        problem: /not a known identity setting/,
      },
      {
        name: "rotationDays too small for alert + lead + buffer + grace",
        text: one({ rotationDays: minRotation }),
        field: `${P}:identities[0].rotationDays`,
        identity: "mail.example.jp",
        problem: new RegExp(`leaves no room.*= ${minRotation}`),
      },
      {
        name: "rotationDays below the schema minimum",
        text: one({ rotationDays: 10 }),
        field: `${P}:identities[0].rotationDays`,
        identity: "mail.example.jp",
        problem: /30/,
      },
      {
        name: "graceDays 2",
        text: one({ graceDays: 2 }),
        field: `${P}:identities[0].graceDays`,
        identity: "mail.example.jp",
        problem: /at least 4 days/,
      },
      {
        name: "dnsLeadDays negative",
        text: one({ dnsLeadDays: -1 }),
        field: `${P}:identities[0].dnsLeadDays`,
        identity: "mail.example.jp",
        problem: /0/,
      },
      {
        name: "recordTtl 10",
        text: one({ recordTtl: 10 }),
        field: `${P}:identities[0].recordTtl`,
        identity: "mail.example.jp",
        problem: /60/,
      },
      {
        name: "nameservers :53",
        text: one({ nameservers: [":53"] }),
        field: `${P}:identities[0].nameservers[0]`,
        identity: "mail.example.jp",
        problem: /host or host:port/,
      },
      {
        name: "an identity that is not a map",
        text: stack(["mail.example.jp"]),
        field: `${P}:identities[0]`,
        identity: "#1",
        problem: /^"mail\.example\.jp" is a bare string, not an identity$/,
      },
      {
        name: "an identity without a domain (named by position)",
        text: stack([base(), { selectorPrefix: "news" }]),
        field: `${P}:identities[1].domain`,
        identity: "#2",
        problem: /.+/,
      },
      {
        name: "missing identities key",
        text: stack(undefined, { [`${P}:kmsKeyId`]: "alias/x" }),
        field: `${P}:identities`,
        problem: /is missing/,
      },
      {
        name: "identities empty",
        text: stack([]),
        field: `${P}:identities`,
        problem: /at least one identity/,
      },
      {
        name: "identities not a list",
        text: stack({ domain: "mail.example.jp" }),
        field: `${P}:identities`,
        problem: /^is a map, not a YAML list$/,
      },
      {
        name: "deletionRecoveryDays 3",
        text: stack([base()], { [`${P}:deletionRecoveryDays`]: 3 }),
        field: `${P}:deletionRecoveryDays`,
        problem: /at least 7 days/,
      },
      {
        name: "alertEmails with a bad address",
        text: stack([base()], { [`${P}:alertEmails`]: ["not-an-address"] }),
        field: `${P}:alertEmails[0]`,
        problem: /email/i,
      },
      {
        name: "github owner with a slash",
        text: stack([base()], { [`${P}:github`]: { owner: "a/b", repo: "r" } }),
        field: `${P}:github.owner`,
        problem: /GitHub user or organisation/,
      },
      {
        name: "a misspelt project setting (graceDays belongs to an identity)",
        text: stack([base()], { [`${P}:gracedays`]: 10 }),
        field: `${P}:gracedays`,
        problem: /is not a known setting/,
      },
      {
        name: "a misspelt project setting (kmsKeyID)",
        text: stack([base()], { [`${P}:kmsKeyID`]: "alias/other" }),
        field: `${P}:kmsKeyID`,
        problem: /is not a known setting/,
      },
      {
        name: "no aws:region and no regions",
        text: stack([base()], {}, null),
        field: `${P}:identities[0].regions`,
        identity: "mail.example.jp",
        problem: /no aws:region default/,
      },
      {
        name: "aws:region that is not a Region",
        text: stack([base()], {}, "tokyo"),
        field: "aws:region",
        problem: /"tokyo" is not an AWS region/,
      },
      {
        name: "no config map",
        text: stringify({ encryptionsalt: "x" }),
        field: "config",
        problem: /is missing/,
      },
      {
        name: "invalid YAML",
        text: `config:\n  aws:region: ap-northeast-1\n  ${P}:identities: [\n    { domain: a.example.jp,\n`,
        field: "(yaml)",
        problem: /is not valid YAML/,
        line: 5,
      },
      {
        name: "a key given twice in YAML",
        text: `config:\n  aws:region: ap-northeast-1\n  aws:region: ap-northeast-3\n`,
        field: "(yaml)",
        problem: /unique/i,
        line: 3,
      },
    ];

    for (const c of cases) {
      it(c.name, () => {
        const file = writeStack(c.text);
        const err = loadError(file);
        const where = c.line ? `${file}:${c.line}` : file;
        expect(err.parts.file).to.equal(where);
        expect(err.parts.field).to.equal(c.field);
        expect(err.parts.identity).to.equal(c.identity);
        expect(err.message).not.to.match(/[\r\n]/);
        expect(err.message.startsWith(`${where}: `), err.message).to.equal(true);
        expect(err.message).to.include(`field ${c.field}: `);
        if (c.identity) expect(err.message).to.include(`identity ${c.identity}`);
        else expect(err.message).not.to.include(": identity ");
        expect(err.parts.problem).to.match(c.problem);
        // Every refusal says what to write instead (docs/design.md#invariant-6-bad-input-fails-early).
        expect(err.parts.hint, err.message).to.be.a("string").and.not.equal("");
        expect(err.message).to.match(/\(hint: .+\)$/);
        if (c.field.endsWith(".selektor"))
          expect(err.message).to.match(/hint: known settings.*selectorPrefix/);
      });
    }

    it(`covers at least 20 cases (${cases.length})`, () => {
      expect(cases.length).to.be.at.least(20);
    });

    it("a missing file", () => {
      const file = join(dir, "Pulumi.nope.yaml");
      const err = loadError(file);
      expect(err.parts).to.include({ file, field: "(file)", problem: "does not exist" });
      expect(err.message).to.include("--config");
    });

    it("accepts an IDNA A-label domain (a punycode TLD) and a file saved with a BOM", () => {
      const idn = loadConfig(
        writeStack(one({ domain: "mail.example.xn--tckwe", nameservers: ["127.0.0.1:5300"] })),
      );
      expect(idn.identities[0]!.domain).to.equal("mail.example.xn--tckwe");
      expect(loadConfig(writeStack(`\ufeff${one({})}`)).identities).to.have.length(1);
      // An xn-- label must be punycode: xn--zz is not.
      expect(loadError(writeStack(one({ domain: "xn--zz.example" }))).parts.problem).to.match(
        /not a valid IDNA A-label/,
      );
    });

    it("reads the stack file of a 10,000-identity fleet (over 1 MiB)", function () {
      this.timeout(20_000);
      const identities = Array.from({ length: 10_000 }, (_, i) => ({
        domain: `d${i}.fleet.example.jp`,
        selectorPrefix: "mail",
        nameservers: ["127.0.0.1:5300"],
      }));
      const text = stack(identities);
      expect(Buffer.byteLength(text)).to.be.above(1024 * 1024);
      const config = loadConfig(writeStack(text));
      expect(config.identities).to.have.length(10_000);
      expect(config.identities[9_999]!.domain).to.equal("d9999.fleet.example.jp");
    });

    it("accepts a minimal stack file and 1024-bit keys", () => {
      const config = loadConfig(
        writeStack(one({ keyBits: 1024, nameservers: ["127.0.0.1:5300"] })),
      );
      expect(config.project).to.equal(P);
      expect(config.identities[0]).to.include({ keyBits: 1024, graceDays: 7 });
      expect(config.identities[0]!.nameservers).to.deep.equal(["127.0.0.1:5300"]);
      expect(config.deletionRecoveryDays).to.equal(30);
    });

    it("accepts the settings only the Pulumi program reads, and other namespaces", () => {
      const config = loadConfig(
        writeStack(
          stack([base()], {
            [`${P}:protect`]: false,
            [`${P}:adoptIdentities`]: ["mail.example.jp"],
            [`${P}:existingOidcProviderArn`]:
              "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
            "github:owner": "example-jp",
          }),
        ),
      );
      expect(config.identities).to.have.length(1);
    });

    it("accepts rotationDays one day above the minimum", () => {
      const config = loadConfig(writeStack(one({ rotationDays: minRotation + 1 })));
      expect(config.identities[0]!.rotationDays).to.equal(minRotation + 1);
    });

    it("uses the project name from a Pulumi.yaml beside the stack file", () => {
      const sub = mkdtempSync(join(dir, "proj-"));
      writeFileSync(join(sub, "Pulumi.yaml"), "name: my-dkim\nruntime: nodejs\n");
      const file = join(sub, "Pulumi.prod.yaml");
      writeFileSync(
        file,
        stringify({ config: { "aws:region": "eu-west-1", "my-dkim:identities": [base()] } }),
      );
      const config = loadConfig(file);
      expect(config.project).to.equal("my-dkim");
      expect(config.identities[0]!.regions).to.deep.equal(["eu-west-1"]);
    });
  });

  it("a broken Pulumi.yaml beside the stack file is one InputError naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "cfg-pulumi-yaml-"));
    try {
      writeFileSync(join(dir, "Pulumi.yaml"), "name: [oops\n");
      writeFileSync(join(dir, "Pulumi.prod.yaml"), "config:\n  aws:region: ap-northeast-1\n");
      let caught: unknown;
      try {
        loadConfig(join(dir, "Pulumi.prod.yaml"));
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(InputError);
      const message = (caught as Error).message;
      expect(message).to.contain(join(dir, "Pulumi.yaml"));
      expect(message).to.contain("field name");
      expect(message).not.to.contain("\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("parseProjectConfig (the Pulumi program's entry)", () => {
    // Pinned whole: the bounds, the default and "whole number" come from the
    // schema's checks (numberRule), read the same under zod/mini as under classic zod.
    const pinned: [values: Record<string, unknown>, message: string][] = [
      [
        { identities: [{ domain: "example.jp", selectorPrefix: "mail", rotationDays: 10 }] },
        "Pulumi.prod.yaml: identity example.jp: field ses-dkim-rotation:identities[0].rotationDays: 10 is below the allowed range: it must be at least 30 (hint: a whole number from 30 to 3650 (default 365))",
      ],
      [
        { identities: [{ domain: "example.jp", selectorPrefix: "mail" }], deletionRecoveryDays: 3 },
        "Pulumi.prod.yaml: field ses-dkim-rotation:deletionRecoveryDays: must be at least 7 days (a deleted key must stay recoverable) (hint: a whole number from 7 to 30 (default 30))",
      ],
      [
        {
          identities: [{ domain: "example.jp", selectorPrefix: "mail" }],
          sesRequestsPerSecond: "x",
        },
        'Pulumi.prod.yaml: field ses-dkim-rotation:sesRequestsPerSecond: "x" is a string, not a number (hint: write the number without quotes: a number from 0.1 to 1000 (default 1))',
      ],
      [
        { identities: [{ domain: "example.jp", selectorPrefix: "mail" }], githubOwnerId: 1.5 },
        "Pulumi.prod.yaml: field ses-dkim-rotation:githubOwnerId: 1.5 is not a whole number (hint: a whole number from 0 to 9007199254740991)",
      ],
    ];
    for (const [values, message] of pinned)
      it(`words a number out of range exactly (${/field ses-dkim-rotation:([^:]+):/.exec(message)![1]})`, () => {
        expect(() =>
          parseProjectConfig(values, {
            file: "Pulumi.prod.yaml",
            project: P,
            defaultRegion: "us-east-1",
          }),
        )
          .to.throw(InputError)
          .with.property("message", message);
      });

    it("gives the same errors for values handed in directly", () => {
      expect(() =>
        parseProjectConfig(
          { identities: [{ domain: "mail.example.jp", selectorPrefix: "mail", keyBits: 4096 }] },
          { file: "Pulumi.dev.yaml", project: P, defaultRegion: "ap-northeast-1" },
        ),
      ).to.throw(
        InputError,
        /^Pulumi\.dev\.yaml: identity mail\.example\.jp: field ses-dkim-rotation:identities\[0\]\.keyBits: must be 1024 or 2048/,
      );
    });
  });
});
