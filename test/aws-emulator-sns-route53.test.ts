/**
 * The AWS emulator's SNS Publish and Route 53 record changes, driven by the
 * real SDK v3 clients over loopback, and the two adapters on top of them
 * (SnsNotifier, Route53Publisher): wire shapes, error mapping, the
 * documented validation rules (accepted and refused), atomic change
 * batches, and waiting for INSYNC on the emulator clock.
 */
import { expect } from "chai";
import {
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SNSClient,
  type PublishCommandInput,
} from "@aws-sdk/client-sns";
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  GetHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type Change,
} from "@aws-sdk/client-route-53";
import {
  startAwsEmulator,
  type AwsEmulator,
  type AwsEmulatorOptions,
  type Route53RecordSet,
} from "../scripts/sandbox/aws-emulator";
import { SnsNotifier } from "../actions/dkim-rotation/src/adapters/sns";
import { Route53Publisher, route53TxtValue } from "../actions/dkim-rotation/src/adapters/route53";
import type { Notification } from "../actions/dkim-rotation/src/engine/ports";

const REGION = "ap-northeast-1";
const ACCOUNT = "123456789012";
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator-secret" };

class ManualClock {
  constructor(private t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  move(ms: number): void {
    this.t += ms;
  }
}

async function expectError(
  p: Promise<unknown>,
  name: string,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    expect((err as Error).name, (err as Error).message).to.equal(name);
    return err as Error & { $metadata?: { httpStatusCode?: number } };
  }
  expect.fail(`expected ${name}`);
}

async function expectRejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  expect.fail("expected a rejection");
}

const tooLong = (text: string) =>
  `[Invalid Resource Record: 'FATAL problem: CharacterStringTooLong (Value is too long) encountered with '${text}'']`;

describe("AWS emulator: SNS Publish", function () {
  let aws: AwsEmulator;
  let clock: ManualClock;
  let sns: SNSClient;
  let topic: string;

  beforeEach(async function () {
    clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
    aws = await startAwsEmulator({ clock });
    sns = new SNSClient({ endpoint: aws.url, region: REGION, credentials, maxAttempts: 1 });
    topic = aws.createTopic("dkim-rotation", REGION);
  });
  afterEach(async function () {
    sns.destroy();
    await aws.close();
  });

  const publish = (input: Partial<PublishCommandInput>) =>
    sns.send(new PublishCommand({ TopicArn: topic, Message: "hello", ...input }));

  it("makes topic ARNs in the emulator's account", function () {
    expect(topic).to.equal(`arn:aws:sns:${REGION}:${ACCOUNT}:dkim-rotation`);
    expect(aws.createTopic("other")).to.equal(`arn:aws:sns:us-east-1:${ACCOUNT}:other`);
    expect(() => aws.createTopic("bad name")).to.throw(/not a valid SNS topic name/);
  });

  it("accepts a message over the query protocol and records it as sent", async function () {
    const out = await publish({
      Subject: "DKIM: PR opened for example.jp (s2026)",
      Message: "héllo & <world>",
      MessageAttributes: {
        audience: { DataType: "String.Array", StringValue: '["dns-team","approvers"]' },
        event: { DataType: "String", StringValue: "pr-opened" },
        count: { DataType: "Number", StringValue: "-12.5e3" },
        blob: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 255]) },
      },
    });
    expect(out.MessageId).to.match(/^[0-9a-f-]{36}$/);
    expect(aws.published()).to.have.length(1);
    const m = aws.published()[0]!;
    expect(m.messageId).to.equal(out.MessageId);
    expect(m.topicArn).to.equal(topic);
    expect(m.subject).to.equal("DKIM: PR opened for example.jp (s2026)");
    expect(m.message).to.equal("héllo & <world>");
    expect(m.at.toISOString()).to.equal("2026-04-01T00:00:00.000Z");
    expect(m.messageAttributes.audience).to.deep.equal({
      DataType: "String.Array",
      StringValue: '["dns-team","approvers"]',
    });
    expect(m.messageAttributes.count).to.deep.equal({ DataType: "Number", StringValue: "-12.5e3" });
    expect(m.messageAttributes.blob?.BinaryValue?.toString("hex")).to.equal("0001ff");
    expect(aws.callCount({ service: "sns", operation: "Publish", outcome: "ok" })).to.equal(1);
  });

  it("refuses an unknown topic with NotFoundException (404)", async function () {
    const err = await expectError(
      publish({ TopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:nope` }),
      "NotFoundException",
    );
    expect(err).to.be.instanceOf(NotFoundException);
    expect(err.message).to.equal("Topic does not exist");
    expect(err.$metadata?.httpStatusCode).to.equal(404);
    expect(aws.published()).to.deep.equal([]);
  });

  it("refuses a topic of another Region and a malformed ARN", async function () {
    const elsewhere = aws.createTopic("elsewhere", "eu-west-1");
    const err = await expectError(publish({ TopicArn: elsewhere }), "InvalidParameterException");
    expect(err).to.be.instanceOf(InvalidParameterException);
    expect(err.message).to.equal("Invalid parameter: TopicArn");
    await expectError(publish({ TopicArn: "dkim-rotation" }), "InvalidParameterException");
    await expectError(publish({ TopicArn: undefined }), "InvalidParameterException");
    expect(aws.published()).to.deep.equal([]);
  });

  it("requires a non-empty Message", async function () {
    const err = await expectError(publish({ Message: "" }), "InvalidParameterException");
    expect(err.message).to.equal("Invalid parameter: Empty message");
  });

  it("limits Message to 262,144 UTF-8 bytes, attributes included", async function () {
    await publish({ Message: "é".repeat(131_072) }); // 262,144 bytes
    const err = await expectError(
      publish({ Message: `${"é".repeat(131_072)}x` }),
      "InvalidParameterException",
    );
    expect(err.message).to.match(/^Invalid parameter: Message too long: 262145 bytes/);
    // name (1) + type (6) + value (1) = 8 bytes of attribute
    await expectError(
      publish({
        Message: "x".repeat(262_144 - 7),
        MessageAttributes: { a: { DataType: "String", StringValue: "b" } },
      }),
      "InvalidParameterException",
    );
    await publish({
      Message: "x".repeat(262_144 - 8),
      MessageAttributes: { a: { DataType: "String", StringValue: "b" } },
    });
    expect(aws.published()).to.have.length(2);
  });

  it("refuses a Subject with a line break", async function () {
    const err = await expectError(
      publish({ Subject: "DKIM rotation\nfor example.jp" }),
      "InvalidParameterException",
    );
    expect(err.message).to.equal(
      "Invalid parameter: Subject Reason: Subject must not contain line breaks",
    );
    expect(aws.published()).to.deep.equal([]);
  });

  it("enforces the rest of the Subject rules", async function () {
    await publish({ Subject: "x".repeat(99) });
    await publish({ Subject: "[dkim] 7 days left" });
    const refused: [string, string][] = [
      ["x".repeat(100), "Subject must be less than 100 characters long"],
      [" leading space", "Subject must begin with a letter, number or punctuation mark"],
      ["tab\there", "Subject must be ASCII text without control characters"],
      ["café", "Subject must be ASCII text without control characters"],
      ["", "Subject must not be empty"],
    ];
    for (const [subject, why] of refused) {
      const err = await expectError(publish({ Subject: subject }), "InvalidParameterException");
      expect(err.message, JSON.stringify(subject)).to.equal(
        `Invalid parameter: Subject Reason: ${why}`,
      );
    }
    expect(aws.published().map((m) => m.subject)).to.deep.equal([
      "x".repeat(99),
      "[dkim] 7 days left",
    ]);
  });

  it("allows 10 message attributes and refuses 11", async function () {
    const attrs = (n: number) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`a${i}`, { DataType: "String", StringValue: "v" }]),
      );
    await publish({ MessageAttributes: attrs(10) });
    const err = await expectError(
      publish({ MessageAttributes: attrs(11) }),
      "InvalidParameterException",
    );
    expect(err.message).to.equal(
      "Invalid parameter: MessageAttributes Reason: Number of message attributes [11] exceeds the allowed maximum [10].",
    );
    expect(aws.published()).to.have.length(1);
  });

  it("checks attribute names, data types and values", async function () {
    const ok: PublishCommandInput["MessageAttributes"][] = [
      { "my.attr-1_x": { DataType: "String.Array", StringValue: '["a", 1, true, null]' } },
      { n: { DataType: "Number", StringValue: "1e126" } },
      { n: { DataType: "Number.float", StringValue: "0.5" } },
      { s: { DataType: "String.custom", StringValue: "x" } },
      { b: { DataType: "Binary.gif", BinaryValue: new Uint8Array([1]) } },
    ];
    for (const MessageAttributes of ok) await publish({ MessageAttributes });
    const refused: [PublishCommandInput["MessageAttributes"], string][] = [
      [{ ".a": { DataType: "String", StringValue: "x" } }, "has an invalid name"],
      [{ "a..b": { DataType: "String", StringValue: "x" } }, "has an invalid name"],
      [{ "AWS.x": { DataType: "String", StringValue: "x" } }, "has an invalid name"],
      [{ "amazon.x": { DataType: "String", StringValue: "x" } }, "has an invalid name"],
      [{ "a b": { DataType: "String", StringValue: "x" } }, "has an invalid name"],
      [
        { a: { DataType: "Json", StringValue: "{}" } },
        "has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String",
      ],
      [
        { a: { DataType: "String", StringValue: "" } },
        "must contain a non-empty message attribute value",
      ],
      [{ a: { DataType: "String.Array", StringValue: "dns-team" } }, "value is not a JSON array"],
      [{ a: { DataType: "String.Array", StringValue: '{"a":1}' } }, "value is not a JSON array"],
      [
        { a: { DataType: "String.Array", StringValue: '[["nested"]]' } },
        "value may hold only strings, numbers, true, false and null",
      ],
      [{ a: { DataType: "Number", StringValue: "twelve" } }, "value is not a number"],
      [{ a: { DataType: "Number", StringValue: "1e127" } }, "value is outside 10^-128 to 10^+126"],
      [
        { a: { DataType: "Number", StringValue: "1".repeat(39) } },
        "value has more than 38 digits of precision",
      ],
      [
        { a: { DataType: "Binary", StringValue: "x" } },
        "of type Binary must not have a StringValue",
      ],
    ];
    for (const [MessageAttributes, why] of refused) {
      const name = Object.keys(MessageAttributes!)[0]!;
      const err = await expectError(publish({ MessageAttributes }), "InvalidParameterException");
      expect(err.message, name).to.equal(
        `Invalid parameter: MessageAttributes Reason: Message attribute '${name}' ${why}`,
      );
    }
    expect(aws.published()).to.have.length(ok.length);
  });

  it("injects faults through the shared fault plan", async function () {
    aws.faults.set({ seed: 1, rate: 1, kinds: ["throttle"] });
    const err = await expectRejection(publish({}));
    expect(err.name).to.equal("ThrottledException");
    expect(aws.faults.log()[0]).to.include({ service: "sns", operation: "(query)" });
    expect(aws.published()).to.deep.equal([]);
  });

  describe("SnsNotifier", function () {
    const note: Notification = {
      event: "reminder-7",
      domain: "example.jp",
      selector: "s2026",
      audience: ["dns-team", "escalation"],
      subject: "DKIM: 7 days left to merge s2026 for example.jp",
      message: "The rotation PR for example.jp has waited 7 days.\nPlease review it.",
    };

    it("publishes the subject, message and the four attributes", async function () {
      const out = await new SnsNotifier(sns, topic).send(note);
      const [m] = aws.published();
      expect(out.messageId).to.equal(m!.messageId);
      expect(m!.subject).to.equal(note.subject);
      expect(m!.message).to.equal(note.message);
      expect(m!.messageAttributes).to.deep.equal({
        audience: { DataType: "String.Array", StringValue: '["dns-team","escalation"]' },
        event: { DataType: "String", StringValue: "reminder-7" },
        domain: { DataType: "String", StringValue: "example.jp" },
        selector: { DataType: "String", StringValue: "s2026" },
      });
    });

    it("names the topic and SNS's error in one line", async function () {
      const missing = `arn:aws:sns:${REGION}:${ACCOUNT}:gone`;
      const err = await expectRejection(new SnsNotifier(sns, missing).send(note));
      expect(err.message).to.equal(
        `SNS Publish to ${missing} failed (reminder-7 for s2026._domainkey.example.jp): NotFoundException: Topic does not exist`,
      );
      const bad = await expectRejection(
        new SnsNotifier(sns, topic).send({ ...note, subject: "two\nlines" }),
      );
      expect(bad.message).to.equal(
        `SNS Publish to ${topic} failed (reminder-7 for s2026._domainkey.example.jp): InvalidParameterException: Invalid parameter: Subject Reason: Subject must not contain line breaks`,
      );
      expect(bad.message).to.not.include("\n");
      expect(aws.published()).to.deep.equal([]);
    });
  });
});

describe("AWS emulator: Route 53", function () {
  let aws: AwsEmulator;
  let clock: ManualClock;
  let r53: Route53Client;
  let zoneId: string;
  let synced: { zone: string; sets: Route53RecordSet[]; at: Date }[];

  const start = async (options: Partial<AwsEmulatorOptions> = {}) => {
    clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
    synced = [];
    aws = await startAwsEmulator({
      clock,
      route53: { requestsPerSecond: 1000, ...options.route53 },
      onRoute53Sync: (zone, sets) => {
        synced.push({ zone, sets, at: clock.now() });
      },
    });
    r53 = new Route53Client({
      endpoint: aws.url,
      region: "us-east-1",
      credentials,
      maxAttempts: 1,
    });
    zoneId = aws.createHostedZone("Example.JP");
  };
  afterEach(async function () {
    r53.destroy();
    await aws.close();
  });

  const txt = (
    action: "CREATE" | "DELETE" | "UPSERT",
    name: string,
    values: string[],
    ttl = 300,
  ): Change => ({
    Action: action,
    ResourceRecordSet: {
      Name: name,
      Type: "TXT",
      TTL: ttl,
      ResourceRecords: values.map((Value) => ({ Value })),
    },
  });
  const change = (...changes: Change[]) =>
    r53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: { Changes: changes },
      }),
    );
  const userSets = () =>
    aws.route53Records(zoneId).filter((s) => s.type !== "NS" && s.type !== "SOA");

  describe("API", function () {
    beforeEach(async function () {
      await start();
    });

    it("makes hosted zones with Route 53 style IDs, NS and SOA, and answers GetHostedZone", async function () {
      expect(zoneId).to.match(/^Z[A-Z0-9]{13,21}$/);
      const out = await r53.send(new GetHostedZoneCommand({ Id: `/hostedzone/${zoneId}` }));
      expect(out.HostedZone?.Id).to.equal(`/hostedzone/${zoneId}`);
      expect(out.HostedZone?.Name).to.equal("example.jp.");
      expect(out.HostedZone?.Config?.PrivateZone).to.equal(false);
      expect(out.HostedZone?.ResourceRecordSetCount).to.equal(2);
      expect(out.DelegationSet?.NameServers).to.have.length(4);
      expect(aws.route53Records(zoneId).map((s) => `${s.name} ${s.type}`)).to.deep.equal([
        "example.jp. NS",
        "example.jp. SOA",
      ]);
      const err = await expectError(
        r53.send(new GetHostedZoneCommand({ Id: "ZNOSUCHZONE00000" })),
        "NoSuchHostedZone",
      );
      expect(err.message).to.equal("No hosted zone found with ID: ZNOSUCHZONE00000");
      expect(err.$metadata?.httpStatusCode).to.equal(404);
    });

    it("applies an UPSERT at once but reports it PENDING until propagated, then INSYNC", async function () {
      const out = await change(
        txt("UPSERT", "S1._DomainKey.Example.JP", ['"v=DKIM1; k=rsa; " "p=AB"']),
      );
      expect(out.ChangeInfo?.Status).to.equal("PENDING");
      expect(out.ChangeInfo?.Id).to.match(/^\/change\/C[A-Z0-9]{13}$/);
      expect(out.ChangeInfo?.SubmittedAt?.toISOString()).to.equal("2026-04-01T00:00:00.000Z");
      // ListResourceRecordSets returns PENDING changes too (the API's view).
      expect(userSets()).to.deep.equal([
        {
          name: "s1._domainkey.example.jp.",
          type: "TXT",
          ttl: 300,
          values: ['"v=DKIM1; k=rsa; " "p=AB"'],
        },
      ]);
      const status = async () =>
        (await r53.send(new GetChangeCommand({ Id: out.ChangeInfo!.Id! }))).ChangeInfo?.Status;
      clock.move(59_999);
      expect(await status()).to.equal("PENDING");
      expect(synced).to.deep.equal([]);
      clock.move(1);
      expect(await status()).to.equal("INSYNC");
      expect(synced).to.have.length(1);
      expect(synced[0]!.zone).to.equal("example.jp.");
      expect(synced[0]!.at.toISOString()).to.equal("2026-04-01T00:01:00.000Z");
      expect(synced[0]!.sets.filter((s) => s.type === "TXT")).to.deep.equal(userSets());
      const err = await expectError(
        r53.send(new GetChangeCommand({ Id: "CNOSUCHCHANGE0" })),
        "NoSuchChange",
      );
      expect(err.$metadata?.httpStatusCode).to.equal(404);
    });

    it("refuses a 256-character TXT string with Route 53's message and writes nothing", async function () {
      const long = `"${"a".repeat(256)}"`;
      const err = await expectError(
        change(txt("UPSERT", "s1._domainkey.example.jp.", [long])),
        "InvalidChangeBatch",
      );
      expect(err.message).to.equal(tooLong(long));
      expect(err.$metadata?.httpStatusCode).to.equal(400);
      expect(userSets()).to.deep.equal([]);
      expect(aws.route53Changes()).to.deep.equal([]);
      // 255 is the limit; it is counted after unescaping (\" is one character).
      await change(txt("UPSERT", "s1._domainkey.example.jp.", [`"${"a".repeat(255)}"`]));
      await change(txt("UPSERT", "s2._domainkey.example.jp.", [`"${"a".repeat(254)}\\""`]));
      expect(userSets().map((s) => s.name)).to.deep.equal([
        "s1._domainkey.example.jp.",
        "s2._domainkey.example.jp.",
      ]);
    });

    it("is all or nothing: one bad change in a batch writes none, and every problem is reported", async function () {
      const long = `"${"b".repeat(300)}"`;
      const err = await expectError(
        change(
          txt("UPSERT", "good._domainkey.example.jp.", ['"fine"']),
          txt("UPSERT", "bad._domainkey.example.jp.", [long]),
          txt("CREATE", "x.other.jp.", ['"x"']),
        ),
        "InvalidChangeBatch",
      );
      expect(err.message).to.equal(
        `[${tooLong(long).slice(1, -1)}, RRSet with DNS name x.other.jp. is not permitted in zone example.jp.]`,
      );
      expect(userSets()).to.deep.equal([]);
      expect(aws.route53Changes()).to.deep.equal([]);
    });

    it("requires quoted TXT strings and escapes for characters outside printable ASCII", async function () {
      const unquoted = await expectError(
        change(txt("UPSERT", "a.example.jp", ["v=DKIM1; p=AB"])),
        "InvalidChangeBatch",
      );
      expect(unquoted.message).to.equal(
        "[Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'v=DKIM1; p=AB'']",
      );
      for (const bad of ['"open', '"a"b', '"a" ', '"tab\there"', '"é"', '"bad \\q escape"']) {
        await expectError(change(txt("UPSERT", "a.example.jp", [bad])), "InvalidChangeBatch");
      }
      await change(txt("UPSERT", "a.example.jp", ['"quote \\" backslash \\\\ octal \\351"']));
      expect(userSets()[0]!.values).to.deep.equal(['"quote \\" backslash \\\\ octal \\351"']);
    });

    it("refuses CREATE of an existing set, and DELETE that does not match exactly", async function () {
      const name = "s1._domainkey.example.jp.";
      await change(txt("CREATE", name, ['"v1"'], 300));
      const label = `[name='${name}', type='TXT']`;
      const exists = await expectError(change(txt("CREATE", name, ['"v2"'])), "InvalidChangeBatch");
      expect(exists.message).to.equal(
        `[Tried to create resource record set ${label} but it already exists]`,
      );
      const missing = await expectError(
        change(txt("DELETE", "s9._domainkey.example.jp.", ['"v1"'])),
        "InvalidChangeBatch",
      );
      expect(missing.message).to.equal(
        "[Tried to delete resource record set [name='s9._domainkey.example.jp.', type='TXT'] but it was not found]",
      );
      const mismatch = `[Tried to delete resource record set ${label} but the values provided do not match the current values]`;
      expect(
        (await expectError(change(txt("DELETE", name, ['"v1"'], 60)), "InvalidChangeBatch"))
          .message,
      ).to.equal(mismatch);
      expect(
        (await expectError(change(txt("DELETE", name, ['"v2"'])), "InvalidChangeBatch")).message,
      ).to.equal(mismatch);
      expect(
        (
          await expectError(
            change(txt("DELETE", name, ['"v1"']), txt("DELETE", name, ['"v1"'])),
            "InvalidChangeBatch",
          )
        ).message,
      ).to.equal(`[Tried to delete resource record set ${label} but it was not found]`);
      expect(userSets()).to.have.length(1);
      // DELETE then CREATE in one batch is the documented way to replace a set.
      await change(
        txt("DELETE", "S1._DOMAINKEY.example.jp", ['"v1"'], 300),
        txt("CREATE", name, ['"v2"'], 60),
      );
      expect(userSets()).to.deep.equal([{ name, type: "TXT", ttl: 60, values: ['"v2"'] }]);
    });

    it("lists record sets in Route 53's order, from a start name and type, in pages", async function () {
      await change(
        txt("UPSERT", "b.example.jp", ['"b"']),
        txt("UPSERT", "a.example.jp", ['"a"']),
        txt("UPSERT", "z.a.example.jp", ['"za"']),
        txt("UPSERT", "example.jp", ['"apex"']),
        {
          Action: "UPSERT",
          ResourceRecordSet: {
            Name: "www.example.jp",
            Type: "CNAME",
            TTL: 60,
            ResourceRecords: [{ Value: "example.net" }],
          },
        },
      );
      const all = await r53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
      expect(all.ResourceRecordSets?.map((s) => `${s.Name} ${s.Type}`)).to.deep.equal([
        "example.jp. NS",
        "example.jp. SOA",
        "example.jp. TXT",
        "a.example.jp. TXT",
        "z.a.example.jp. TXT",
        "b.example.jp. TXT",
        "www.example.jp. CNAME",
      ]);
      expect(all.IsTruncated).to.equal(false);
      const page = await r53.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          StartRecordName: "A.example.jp",
          StartRecordType: "TXT",
          MaxItems: 2,
        }),
      );
      expect(page.ResourceRecordSets?.map((s) => s.Name)).to.deep.equal([
        "a.example.jp.",
        "z.a.example.jp.",
      ]);
      expect(page.ResourceRecordSets?.[0]?.ResourceRecords).to.deep.equal([{ Value: '"a"' }]);
      expect(page).to.include({
        IsTruncated: true,
        NextRecordName: "b.example.jp.",
        NextRecordType: "TXT",
        MaxItems: 2,
      });
      const typeOnly = await expectError(
        r53.send(
          new ListResourceRecordSetsCommand({ HostedZoneId: zoneId, StartRecordType: "TXT" }),
        ),
        "InvalidInput",
      );
      expect(typeOnly.$metadata?.httpStatusCode).to.equal(400);
      const cnameClash = await expectError(
        change(txt("UPSERT", "www.example.jp", ['"x"'])),
        "InvalidChangeBatch",
      );
      expect(cnameClash.message).to.match(/conflicts with other records with the same DNS name/);
    });

    it("refuses a change to a missing zone, and a set without TTL", async function () {
      const err = await expectError(
        r53.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: "ZNOSUCHZONE00000",
            ChangeBatch: { Changes: [txt("UPSERT", "a.example.jp", ['"a"'])] },
          }),
        ),
        "NoSuchHostedZone",
      );
      expect(err.$metadata?.httpStatusCode).to.equal(404);
      const noTtl = await expectError(
        change({
          Action: "UPSERT",
          ResourceRecordSet: {
            Name: "a.example.jp",
            Type: "TXT",
            ResourceRecords: [{ Value: '"a"' }],
          },
        }),
        "InvalidInput",
      );
      expect(noTtl.message).to.match(
        /^Invalid request: Expected exactly one of \[AliasTarget, all of \[TTL, and ResourceRecords\]/,
      );
      expect(userSets()).to.deep.equal([]);
    });
  });

  describe("switches and quotas", function () {
    it("insyncLeadMs reports INSYNC before the zone is served", async function () {
      await start({ route53: { propagationMs: 10_000, insyncLeadMs: 4_000 } });
      const out = await change(txt("UPSERT", "a.example.jp", ['"a"']));
      clock.move(6_000);
      const got = await r53.send(new GetChangeCommand({ Id: out.ChangeInfo!.Id! }));
      expect(got.ChangeInfo?.Status).to.equal("INSYNC");
      expect(synced).to.deep.equal([]);
      clock.move(4_000);
      await aws.advance();
      expect(synced).to.have.length(1);
    });

    it("throttles Route 53 at its requests-per-second quota", async function () {
      await start({ route53: { requestsPerSecond: 1 } });
      await r53.send(new GetHostedZoneCommand({ Id: zoneId }));
      const err = await expectError(
        r53.send(new GetHostedZoneCommand({ Id: zoneId })),
        "Throttling",
      );
      expect(err.message).to.equal("Rate exceeded");
    });

    it("refuses a client signed for another Region (Route 53 signs for us-east-1)", async function () {
      await start();
      const wrong = new Route53Client({
        endpoint: aws.url,
        region: REGION,
        credentials,
        maxAttempts: 1,
      });
      try {
        await expectError(
          wrong.send(new GetHostedZoneCommand({ Id: zoneId })),
          "SignatureDoesNotMatch",
        );
      } finally {
        wrong.destroy();
      }
    });
  });

  describe("Route53Publisher", function () {
    let progress: string[];
    let sleeps: number[];
    const publisher = (opts: { pollMs?: number; timeoutMs?: number } = {}, id = zoneId) =>
      new Route53Publisher(r53, id, {
        sleep: async (ms) => {
          sleeps.push(ms);
          clock.move(ms);
        },
        onProgress: (line) => progress.push(line),
        ...opts,
      });
    const name = "s2026._domainkey.example.jp.";
    const strings = ["v=DKIM1; k=rsa; p=MIIB", "IjANBgkq"];

    beforeEach(async function () {
      await start({ route53: { propagationMs: 12_000 } });
      progress = [];
      sleeps = [];
    });

    it("creates one TXT record and returns only after INSYNC", async function () {
      const out = await publisher({ pollMs: 5000 }).publish({
        domain: "example.jp",
        selector: "s2026",
        strings,
        ttl: 300,
      });
      expect(userSets()).to.deep.equal([
        { name, type: "TXT", ttl: 300, values: ['"v=DKIM1; k=rsa; p=MIIB" "IjANBgkq"'] },
      ]);
      // 0 s PENDING, 5 s PENDING, 10 s PENDING, 15 s INSYNC.
      expect(sleeps).to.deep.equal([5000, 5000, 5000]);
      expect(synced).to.have.length(1);
      expect(aws.route53Changes().map((c) => c.status)).to.deep.equal(["INSYNC"]);
      expect(aws.callCount({ service: "route53", operation: "GetChange" })).to.equal(4);
      expect(out.detail).to.match(
        new RegExp(`^route53: ${name} TXT created in ${zoneId} \\(/change/C[A-Z0-9]+ INSYNC\\)$`),
      );
      expect(progress[0]).to.match(
        /^route53: CREATE s2026\._domainkey\.example\.jp\. TXT submitted as \/change\/C/,
      );
    });

    it("re-publishing the same value succeeds and changes nothing", async function () {
      const req = { domain: "example.jp", selector: "s2026", strings, ttl: 300 };
      await publisher().publish(req);
      const before = aws.route53Records(zoneId);
      const again = await publisher().publish(req);
      expect(again.detail).to.equal(`route53: ${name} TXT already holds this value in ${zoneId}`);
      expect(aws.route53Records(zoneId)).to.deep.equal(before);
      // No second change: the set was read, found equal, and left alone.
      expect(aws.route53Changes().map((c) => c.status)).to.deep.equal(["INSYNC"]);
    });

    it("refuses in one line to publish over a different value, naming zone, name and what to do; nothing written", async function () {
      await change(txt("CREATE", name, ['"v=DKIM1; k=rsa; p=ACTIVE"'], 300));
      clock.move(12_000);
      const before = aws.route53Records(zoneId);
      const changes = aws.callCount({ service: "route53", operation: "ChangeResourceRecordSets" });
      const err = await expectRejection(
        publisher().publish({ domain: "example.jp", selector: "s2026", strings, ttl: 300 }),
      );
      expect(err.message).to.equal(
        `Route 53 hosted zone ${zoneId} already holds a different TXT record at ${name}; refusing to publish over it (hint: a selector is never reused, so that record is not this key's: ask the DNS team who wrote it; delete it in the zone only if it is not a live key, then re-run the publish job)`,
      );
      expect(err.message).to.not.include("\n");
      expect(aws.route53Records(zoneId)).to.deep.equal(before);
      expect(aws.callCount({ service: "route53", operation: "ChangeResourceRecordSets" })).to.equal(
        changes,
      );
    });

    it("escapes quotes and backslashes in the strings", async function () {
      expect(route53TxtValue(['a"b', "c\\d"])).to.equal('"a\\"b" "c\\\\d"');
      await publisher().publish({
        domain: "example.jp",
        selector: "s2026",
        strings: ['a"b', "c\\d"],
        ttl: 60,
      });
      expect(userSets()[0]!.values).to.deep.equal(['"a\\"b" "c\\\\d"']);
    });

    it("removes the exact current set and waits for INSYNC; a missing one is acted:false", async function () {
      await publisher().publish({ domain: "example.jp", selector: "s2026", strings, ttl: 300 });
      // A set that sorts right after the name must not be taken for it.
      await change(txt("UPSERT", "s2027._domainkey.example.jp", ['"other"'], 60));
      clock.move(12_000);
      const removed = await publisher().remove({ domain: "example.jp", selector: "s2026" });
      expect(removed.acted).to.equal(true);
      expect(removed.detail).to.match(
        new RegExp(`^route53: ${name} TXT deleted from ${zoneId} \\(/change/C[A-Z0-9]+ INSYNC\\)$`),
      );
      expect(userSets().map((s) => s.name)).to.deep.equal(["s2027._domainkey.example.jp."]);
      expect(aws.route53Changes().every((c) => c.status === "INSYNC")).to.equal(true);
      expect(synced.at(-1)!.sets.map((s) => s.name)).to.not.include(name);

      const deletesBefore = aws.callCount({
        service: "route53",
        operation: "ChangeResourceRecordSets",
      });
      const again = await publisher().remove({ domain: "example.jp", selector: "s2026" });
      expect(again).to.deep.equal({
        acted: false,
        detail: `route53: ${name} holds no TXT record in ${zoneId}`,
      });
      expect(aws.callCount({ service: "route53", operation: "ChangeResourceRecordSets" })).to.equal(
        deletesBefore,
      );
    });

    it("names the zone, the record and Route 53's message when a string is too long", async function () {
      const long = "c".repeat(256);
      const err = await expectRejection(
        publisher().publish({ domain: "example.jp", selector: "s2026", strings: [long], ttl: 300 }),
      );
      expect(err.message).to.equal(
        `Route 53 CREATE of ${name} TXT in hosted zone ${zoneId} failed: InvalidChangeBatch: ${tooLong(`"${long}"`)} (hint: each quoted string of a TXT value must be at most 255 characters: split the record into more strings)`,
      );
      expect(err.message).to.not.include("\n");
      expect(userSets()).to.deep.equal([]);
    });

    it("names a missing zone", async function () {
      const err = await expectRejection(
        publisher({}, "ZNOSUCHZONE00000").publish({
          domain: "example.jp",
          selector: "s2026",
          strings,
          ttl: 300,
        }),
      );
      expect(err.message).to.equal(
        `Route 53 ListResourceRecordSets of ${name} TXT in hosted zone ZNOSUCHZONE00000 failed: NoSuchHostedZone: No hosted zone found with ID: ZNOSUCHZONE00000 (hint: check route53.hostedZoneId in the stack file (the ID without /hostedzone/))`,
      );
    });

    it("gives up waiting for INSYNC after timeoutMs, naming the change", async function () {
      await aws.close();
      r53.destroy();
      await start({ route53: { propagationMs: 3_600_000 } });
      const err = await expectRejection(
        publisher({ pollMs: 10_000, timeoutMs: 30_000 }).publish({
          domain: "example.jp",
          selector: "s2026",
          strings,
          ttl: 300,
        }),
      );
      const id = aws.route53Changes()[0]!.id;
      expect(err.message).to.equal(
        `Route 53 change /change/${id} for ${name} TXT in hosted zone ${zoneId} is still PENDING after 30 s (hint: Route 53 usually propagates within 60 s; check GetChange /change/${id} later and re-run: a record already holding this value counts as published)`,
      );
      expect(sleeps).to.deep.equal([10_000, 10_000, 10_000]);
    });
  });
});
