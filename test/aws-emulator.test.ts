/**
 * The AWS emulator, driven by the real SDK v3 clients over loopback: wire
 * shapes, error mapping, SES's validation and rate limit, the DKIM status
 * machine on a simulated clock, DKIM signatures on sent mail, and Secrets
 * Manager's immutability and recovery-window rules.
 */
import { generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { expect } from "chai";
import {
  CreateEmailIdentityCommand,
  GetEmailIdentityCommand,
  NotFoundException,
  PutEmailIdentityDkimAttributesCommand,
  PutEmailIdentityDkimSigningAttributesCommand,
  SendEmailCommand,
  SESv2Client,
} from "@aws-sdk/client-sesv2";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { dkimVerify } from "mailauth";
import {
  startAwsEmulator,
  type AwsEmulator,
  type SentMessage,
  type TxtLookupResult,
} from "../scripts/sandbox/aws-emulator";
import { AwsApiError } from "../scripts/sandbox/aws-emulator/common";
import { signRelaxed, signRelaxedAll } from "../actions/dkim-rotation/src/engine/probe";
import {
  generateDkimKeyPair,
  sesPrivateKeyToPem,
  type DkimKeyPair,
} from "../actions/dkim-rotation/src/engine/keys";
import { dkimRecordValue, splitTxt } from "../actions/dkim-rotation/src/engine/record";

const REGION = "ap-northeast-1";
const OTHER_REGION = "us-east-1";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator-secret" };

/** A clock the test moves by hand. */
class ManualClock {
  constructor(private t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  move(ms: number): void {
    this.t += ms;
  }
}

/** The DNS the emulated SES sees: name → TXT strings. */
class FakeZone {
  readonly records = new Map<string, string[][]>();
  publish(domain: string, selector: string, publicKey: string): void {
    this.records.set(`${selector}._domainkey.${domain}`, [splitTxt(dkimRecordValue(publicKey))]);
  }
  remove(domain: string, selector: string): void {
    this.records.delete(`${selector}._domainkey.${domain}`);
  }
  /** Serve SES's Easy DKIM key under each token (the CNAMEs, as a resolver follows them). */
  async publishEasyDkim(aws: AwsEmulator, region: string, domain: string): Promise<void> {
    const publicKey = await aws.ses.easyDkimPublicKey(region, domain);
    for (const token of aws.ses.identity(region, domain)!.tokens)
      this.publish(domain, token, publicKey);
  }
  lookup = async (name: string): Promise<TxtLookupResult> =>
    this.records.get(name.toLowerCase()) ?? "NXDOMAIN";
}

function sesClient(aws: AwsEmulator, region = REGION, maxAttempts = 1): SESv2Client {
  return new SESv2Client({ endpoint: aws.url, region, credentials, maxAttempts });
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

const putExternal = (domain: string, selector: string, key: string) =>
  new PutEmailIdentityDkimSigningAttributesCommand({
    EmailIdentity: domain,
    SigningAttributesOrigin: "EXTERNAL",
    SigningAttributes: { DomainSigningSelector: selector, DomainSigningPrivateKey: key },
  });

describe("AWS emulator", function () {
  let key1: DkimKeyPair;
  let key2: DkimKeyPair;
  let pkcs8Key: string;
  let pkcs1Of4096: string;

  before(async function () {
    const gen = promisify(generateKeyPair);
    const [a, b, c, big] = await Promise.all([
      generateDkimKeyPair(1024),
      generateDkimKeyPair(2048),
      gen("rsa", { modulusLength: 1024 }),
      gen("rsa", { modulusLength: 4096 }),
    ]);
    key1 = a;
    key2 = b;
    pkcs8Key = c.privateKey.export({ type: "pkcs8", format: "der" }).toString("base64");
    pkcs1Of4096 = big.privateKey.export({ type: "pkcs1", format: "der" }).toString("base64");
  });

  describe("SES v2", function () {
    let aws: AwsEmulator;
    let clock: ManualClock;
    let zone: FakeZone;
    let ses: SESv2Client;

    beforeEach(async function () {
      clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
      zone = new FakeZone();
      aws = await startAwsEmulator({ clock, lookupTxt: zone.lookup, sesRequestsPerSecond: 1000 });
      ses = sesClient(aws);
    });
    afterEach(async function () {
      ses.destroy();
      await aws.close();
    });

    it("round-trips GetEmailIdentity fields through the SDK", async function () {
      const created = await ses.send(
        new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }),
      );
      expect(created.IdentityType).to.equal("DOMAIN");
      expect(created.DkimAttributes?.SigningAttributesOrigin).to.equal("AWS_SES");
      expect(created.DkimAttributes?.Tokens).to.have.length(3);

      const put = await ses.send(putExternal("example.com", "sel-20260401", key2.sesPrivateKey));
      expect(put.DkimStatus).to.equal("PENDING");
      expect(put.DkimTokens).to.deep.equal(["sel-20260401"]);

      zone.publish("example.com", "sel-20260401", key2.publicKey);
      clock.move(5 * MINUTE);
      await aws.advance();
      const got = await ses.send(new GetEmailIdentityCommand({ EmailIdentity: "example.com" }));
      expect(got.IdentityType).to.equal("DOMAIN");
      expect(got.VerifiedForSendingStatus).to.equal(true);
      expect(got.DkimAttributes).to.deep.include({
        SigningEnabled: true,
        Status: "SUCCESS",
        Tokens: ["sel-20260401"],
        SigningAttributesOrigin: "EXTERNAL",
      });
      expect(got.VerificationInfo?.LastCheckedTimestamp).to.be.instanceOf(Date);
      expect(got.VerificationInfo?.LastCheckedTimestamp?.toISOString()).to.equal(
        "2026-04-01T00:05:00.000Z",
      );
      expect(got.VerificationInfo?.LastSuccessTimestamp?.toISOString()).to.equal(
        "2026-04-01T00:05:00.000Z",
      );
    });

    it("maps errors to the SDK's exception classes", async function () {
      const missing = await expectError(
        ses.send(new GetEmailIdentityCommand({ EmailIdentity: "nowhere.example" })),
        "NotFoundException",
      );
      expect(missing).to.be.instanceOf(NotFoundException);
      expect(missing.$metadata?.httpStatusCode).to.equal(404);
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      await expectError(
        ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "EXAMPLE.com" })),
        "AlreadyExistsException",
      );
      await expectError(
        ses.send(putExternal("nowhere.example", "s1", key1.sesPrivateKey)),
        "NotFoundException",
      );
    });

    it("rejects private keys SES would reject, without echoing them", async function () {
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      const pem = sesPrivateKeyToPem(key1.sesPrivateKey);
      const withNewline = `${key1.sesPrivateKey.slice(0, 64)}\n${key1.sesPrivateKey.slice(64)}`;
      const cases = {
        pem,
        withNewline,
        pkcs1Of4096,
        notBase64: "not*base64",
        tooLong: "A".repeat(20481),
      };
      for (const [label, bad] of Object.entries(cases)) {
        const err = await expectError(
          ses.send(putExternal("example.com", "s1", bad)),
          "BadRequestException",
        );
        expect(err.$metadata?.httpStatusCode, label).to.equal(400);
        expect(err.message, label).not.to.include(key1.sesPrivateKey.slice(0, 40));
      }
      expect(aws.ses.identity(REGION, "example.com")?.origin).to.equal("AWS_SES");
    });

    it("rejects selectors outside SES's pattern", async function () {
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      for (const selector of ["a.b", "a_b", "-ab", "ab-", "x".repeat(64), ""]) {
        await expectError(
          ses.send(putExternal("example.com", selector, key1.sesPrivateKey)),
          "BadRequestException",
        );
      }
      const ok = await ses.send(putExternal("example.com", "x".repeat(63), key1.sesPrivateKey));
      expect(ok.DkimTokens).to.deep.equal(["x".repeat(63)]);
    });

    it("goes PENDING → SUCCESS on the first check after the record matches", async function () {
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      await ses.send(putExternal("example.com", "s1", key1.sesPrivateKey));
      zone.publish("example.com", "s1", key1.publicKey);
      clock.move(4 * MINUTE);
      await aws.advance();
      expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("PENDING");
      clock.move(1 * MINUTE);
      await aws.advance();
      const view = aws.ses.identity(REGION, "example.com");
      expect(view?.status).to.equal("SUCCESS");
      expect(view?.lastSuccessAt?.toISOString()).to.equal("2026-04-01T00:05:00.000Z");
    });

    it("goes PENDING → FAILED 72 simulated hours after the PUT when the record is missing", async function () {
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      await ses.send(putExternal("example.com", "s1", key1.sesPrivateKey));
      clock.move(71 * HOUR);
      await aws.advance();
      expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("PENDING");
      clock.move(1 * HOUR);
      await aws.advance();
      const got = await ses.send(new GetEmailIdentityCommand({ EmailIdentity: "example.com" }));
      expect(got.DkimAttributes?.Status).to.equal("FAILED");
      expect(got.VerificationInfo?.ErrorType).to.equal("HOST_NOT_FOUND");
      // Publishing now is too late: SES stopped checking until the attributes are set again.
      zone.publish("example.com", "s1", key1.publicKey);
      clock.move(48 * HOUR);
      await aws.advance();
      expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("FAILED");
    });

    it("reports INVALID_VALUE when the record carries another key", async function () {
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      await ses.send(putExternal("example.com", "s1", key1.sesPrivateKey));
      zone.publish("example.com", "s1", key2.publicKey);
      clock.move(10 * MINUTE);
      await aws.advance();
      const view = aws.ses.identity(REGION, "example.com");
      expect(view?.status).to.equal("PENDING");
      expect(view?.errorType).to.equal("INVALID_VALUE");
    });

    it("goes SUCCESS → TEMPORARY_FAILURE → FAILED when the active record vanishes", async function () {
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      await ses.send(putExternal("example.com", "s1", key1.sesPrivateKey));
      zone.publish("example.com", "s1", key1.publicKey);
      clock.move(5 * MINUTE);
      await aws.advance();
      zone.remove("example.com", "s1");
      clock.move(24 * HOUR);
      await aws.advance();
      expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("TEMPORARY_FAILURE");
      clock.move(72 * HOUR);
      await aws.advance();
      const view = aws.ses.identity(REGION, "example.com");
      expect(view?.status).to.equal("FAILED");
      expect(view?.history.map((h) => h.status)).to.deep.equal([
        // Easy DKIM at creation: PENDING until SES finds its three CNAMEs.
        "PENDING",
        "PENDING",
        "SUCCESS",
        "TEMPORARY_FAILURE",
        "FAILED",
      ]);
    });

    it("accepts a PKCS#8 key silently and never verifies it (why the engine refuses PKCS#8)", async function () {
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      const put = await ses.send(putExternal("example.com", "s1", pkcs8Key));
      expect(put.DkimStatus).to.equal("PENDING");
      const view = aws.ses.identity(REGION, "example.com");
      expect(view?.keyFormat).to.equal("pkcs8");
      // Even the exactly right record does not help.
      zone.publish("example.com", "s1", view?.publicKey as string);
      clock.move(72 * HOUR);
      await aws.advance();
      expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("FAILED");
      expect(aws.ses.identity(REGION, "example.com")?.errorType).to.equal("INVALID_VALUE");
    });

    for (const reading of ["new-tokens", "same-tokens"] as const) {
      it(`switch back to Easy DKIM (${reading}): ${reading === "new-tokens" ? "three new tokens and a new key, PENDING while their CNAMEs are missing" : "the earlier tokens and key, SUCCESS at the next check"}`, async function () {
        await aws.close();
        aws = await startAwsEmulator({
          clock,
          lookupTxt: zone.lookup,
          sesRequestsPerSecond: 1000,
          sesQuirks: { easyDkimSwitchBack: reading },
        });
        ses.destroy();
        ses = sesClient(aws);
        await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
        expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("PENDING");
        await zone.publishEasyDkim(aws, REGION, "example.com");
        const first = aws.ses.identity(REGION, "example.com")!;
        clock.move(5 * MINUTE);
        await aws.advance();
        expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("SUCCESS");
        zone.publish("example.com", "s1", key1.publicKey);
        await ses.send(putExternal("example.com", "s1", key1.sesPrivateKey));
        const back = await ses.send(
          new PutEmailIdentityDkimSigningAttributesCommand({
            EmailIdentity: "example.com",
            SigningAttributesOrigin: "AWS_SES",
          }),
        );
        expect(back.DkimStatus).to.equal("PENDING");
        clock.move(5 * MINUTE);
        await aws.advance();
        const view = aws.ses.identity(REGION, "example.com")!;
        if (reading === "same-tokens") {
          expect(back.DkimTokens).to.deep.equal(first.tokens);
          expect(view.publicKey).to.equal(first.publicKey);
          expect(view.status).to.equal("SUCCESS");
        } else {
          expect(back.DkimTokens).to.have.length(3);
          for (const t of back.DkimTokens!) expect(first.tokens).not.to.include(t);
          expect(view.publicKey).to.not.equal(first.publicKey);
          expect([view.status, view.errorType]).to.deep.equal(["PENDING", "HOST_NOT_FOUND"]);
        }
      });
    }

    /**
     * A fresh emulator that hands every message to the returned list, with
     * example.com verified (and signing) with Easy DKIM, as a domain must be to send.
     */
    async function sendingEmulator(): Promise<SentMessage[]> {
      const sent: SentMessage[] = [];
      await aws.close();
      aws = await startAwsEmulator({
        clock,
        lookupTxt: zone.lookup,
        sesRequestsPerSecond: 1000,
        // As the sandbox runs it: messages reach onMessage only (scripts/sandbox/run.ts).
        retainSentMessages: false,
        onMessage: (e) => void sent.push(e),
      });
      ses.destroy();
      ses = sesClient(aws);
      await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
      await zone.publishEasyDkim(aws, REGION, "example.com");
      clock.move(5 * MINUTE);
      await aws.advance();
      return sent;
    }

    it("sends unsigned while PENDING and signed with d= and s= after SUCCESS", async function () {
      const sent = await sendingEmulator();
      expect(aws.ses.identity(REGION, "example.com")?.status).to.equal("SUCCESS");
      await ses.send(putExternal("example.com", "s1", key2.sesPrivateKey));
      const message = (subject: string) =>
        new SendEmailCommand({
          Content: {
            Raw: {
              Data: Buffer.from(
                `From: Sender <noreply@example.com>\r\nTo: rcpt@example.org\r\nSubject: ${subject}\r\nDate: ${clock.now().toUTCString()}\r\n\r\nhello\r\n`,
              ),
            },
          },
        });
      await ses.send(message("while pending"));
      zone.publish("example.com", "s1", key2.publicKey);
      clock.move(5 * MINUTE);
      await aws.advance();
      const out = await ses.send(message("after success"));
      expect(out.MessageId).to.match(/^[0-9a-f]+-[0-9a-f-]{36}-000000$/);

      expect(sent).to.have.length(2);
      expect(() => aws.ses.sent()).to.throw(/does not keep sent messages/);
      const resolver = async (name: string, rrtype: string) => {
        const found = zone.records.get(name);
        if (rrtype !== "TXT" || !found)
          throw Object.assign(new Error(`no ${rrtype} for ${name}`), { code: "ENOTFOUND" });
        return found;
      };
      const unsigned = await dkimVerify(sent[0]!.raw, { resolver, curTime: clock.now() });
      expect(sent[0]!.selector).to.equal(null);
      const unsignedPasses = unsigned.results.filter(
        (r) => r.signingDomain === "example.com" && r.status.result === "pass",
      );
      expect(unsignedPasses).to.have.length(0);
      // Only SES's own amazonses.com signature while PENDING (docs/design.md#emulated-ses-receiving).
      const head = sent[0]!.raw
        .toString("latin1")
        .split("\r\n\r\n")[0]!
        .replace(/\r\n[ \t]+/g, " ");
      expect(
        head
          .split("\r\n")
          .filter((l) => /^DKIM-Signature:/i.test(l))
          .map((l) => /[;\s]d=([^;\s]+)/.exec(l)?.[1]),
      ).to.deep.equal(["amazonses.com"]);

      const signed = await dkimVerify(sent[1]!.raw, { resolver, curTime: clock.now() });
      expect(sent[1]!.selector).to.equal("s1");
      const pass = signed.results.find((r) => r.status.result === "pass");
      expect(pass?.signingDomain).to.equal("example.com");
      expect(pass?.selector).to.equal("s1");
      expect(sent[1]!.raw.toString("latin1")).to.match(
        /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com;/m,
      );
    });

    it("signs twice in one pass exactly as one signature after the other (the identity's, then amazonses.com's)", async function () {
      const pem = (k: DkimKeyPair) => sesPrivateKeyToPem(k.sesPrivateKey);
      const at = new Date("2027-01-01T00:00:00Z");
      const unsigned = Buffer.from(
        "From: <a@example.com>\r\nTo: b@example.org\r\nSubject: s\r\nDate: Fri, 01 Jan 2027 00:00:00 GMT\r\n\r\nhello\r\n",
      );
      const own = { domain: "example.com", selector: "s1", privateKey: pem(key2) };
      const ses = { domain: "amazonses.com", selector: "sesapnortheast1", privateKey: pem(key1) };
      const first = await signRelaxed(unsigned, { ...own, at });
      const inner = Buffer.concat([Buffer.from(first.signatures), unsigned]);
      const second = await signRelaxed(inner, { ...ses, at });
      const oneAfterOther = Buffer.concat([Buffer.from(second.signatures), inner]);
      const both = await signRelaxedAll(unsigned, [ses, own], at);
      expect(both.errors ?? []).to.deep.equal([]);
      expect(Buffer.concat([Buffer.from(both.signatures), unsigned]).toString("latin1")).to.equal(
        oneAfterOther.toString("latin1"),
      );
    });

    it("sends in process (the sandbox's senders) as over the wire: signed, logged, refused alike", async function () {
      const sent = await sendingEmulator();
      await ses.send(putExternal("example.com", "s1", key2.sesPrivateKey));
      zone.publish("example.com", "s1", key2.publicKey);
      clock.move(5 * MINUTE);
      const raw = (from: string) =>
        Buffer.from(
          `From: <${from}>\r\nTo: rcpt@example.org\r\nSubject: s\r\nDate: ${clock.now().toUTCString()}\r\n\r\nhello\r\n`,
        );
      const input = (from: string) => ({
        FromEmailAddress: from,
        Destination: { ToAddresses: ["rcpt@example.org"] },
        Content: { Raw: { Data: raw(from) } },
      });
      // The in-process send runs the checks due first, as a request does: s1 is SUCCESS by then.
      const out = await aws.ses.sendEmail(REGION, input("noreply@example.com"));
      await ses.send(new SendEmailCommand(input("noreply@example.com")));
      expect(out.MessageId).to.match(/^[0-9a-f]+-[0-9a-f-]{36}-000000$/);
      expect(sent.map((m) => m.selector)).to.deep.equal(["s1", "s1"]);
      const error = await aws.ses.sendEmail(REGION, input("noreply@unverified.example")).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(AwsApiError).and.to.include({ code: "MessageRejected" });
      let wireError: unknown;
      await ses.send(new SendEmailCommand(input("noreply@unverified.example"))).catch((e) => {
        wireError = e;
      });
      expect(wireError).to.include({ name: "MessageRejected" });
      // Logged as requests are: two SendEmail each way, and the control-plane count without them.
      expect(aws.callCount({ service: "ses", operation: "SendEmail", outcome: "ok" })).to.equal(2);
      expect(
        aws.callCount({ service: "ses", operation: "SendEmail", errorCode: "MessageRejected" }),
      ).to.equal(2);
      expect(aws.sesControlPlaneCalls()).to.equal(
        aws.callCount({ service: "ses" }) -
          aws.callCount({ service: "ses", operation: "SendEmail" }),
      );
      expect(aws.sesControlPlaneCalls()).to.equal(2);
    });

    it("keeps DKIM per Region: the same domain in two Regions is two identities", async function () {
      const other = sesClient(aws, OTHER_REGION);
      try {
        await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
        await other.send(new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }));
        await ses.send(putExternal("example.com", "s1", key1.sesPrivateKey));
        expect(aws.ses.identity(REGION, "example.com")?.origin).to.equal("EXTERNAL");
        expect(aws.ses.identity(OTHER_REGION, "example.com")?.origin).to.equal("AWS_SES");
        await other.send(
          new PutEmailIdentityDkimAttributesCommand({
            EmailIdentity: "example.com",
            SigningEnabled: false,
          }),
        );
        expect(aws.ses.identity(OTHER_REGION, "example.com")?.signingEnabled).to.equal(false);
        expect(aws.ses.identity(REGION, "example.com")?.signingEnabled).to.equal(true);
      } finally {
        other.destroy();
      }
    });

    it("requires a SigV4 Authorization header scoped to the right service", async function () {
      const bare = await fetch(`${aws.url}/v2/email/identities/example.com`);
      expect(bare.status).to.equal(403);
      expect(bare.headers.get("x-amzn-errortype")).to.equal("MissingAuthenticationTokenException");
      const wrong = await fetch(`${aws.url}/v2/email/identities/example.com`, {
        headers: {
          authorization: `AWS4-HMAC-SHA256 Credential=AKID/20260401/${REGION}/secretsmanager/aws4_request, SignedHeaders=host, Signature=${"0".repeat(64)}`,
        },
      });
      expect(wrong.status).to.equal(403);
      expect(wrong.headers.get("x-amzn-errortype")).to.equal("InvalidSignatureException");
    });
  });

  describe("SES rate limit (AWS default, 1 request/s per Region)", function () {
    let aws: AwsEmulator;
    before(async function () {
      aws = await startAwsEmulator({ lookupTxt: async () => "NXDOMAIN" });
    });
    after(async function () {
      await aws.close();
    });

    it("answers the second quick call with TooManyRequestsException (429), per Region", async function () {
      const ses = sesClient(aws);
      const other = sesClient(aws, OTHER_REGION);
      try {
        // An address identity can send at once (a domain waits for its DKIM records).
        await ses.send(new CreateEmailIdentityCommand({ EmailIdentity: "a@example.com" }));
        const err = await expectError(
          ses.send(new GetEmailIdentityCommand({ EmailIdentity: "a@example.com" })),
          "TooManyRequestsException",
        );
        expect(err.$metadata?.httpStatusCode).to.equal(429);
        // Another Region has its own bucket.
        await other.send(new CreateEmailIdentityCommand({ EmailIdentity: "a@example.com" }));
        // SendEmail is not a control-plane call.
        await ses.send(
          new SendEmailCommand({
            Content: {
              Raw: {
                Data: Buffer.from(
                  "From: a@example.com\r\nTo: b@example.org\r\nSubject: x\r\n\r\nx\r\n",
                ),
              },
            },
          }),
        );
        expect(
          aws.callCount({
            operation: "GetEmailIdentity",
            errorCode: "TooManyRequestsException",
            region: REGION,
          }),
        ).to.equal(1);
      } finally {
        ses.destroy();
        other.destroy();
      }
    });
  });

  describe("Secrets Manager", function () {
    let aws: AwsEmulator;
    let clock: ManualClock;
    let sm: SecretsManagerClient;
    beforeEach(async function () {
      clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
      aws = await startAwsEmulator({ clock, lookupTxt: async () => "NXDOMAIN" });
      sm = new SecretsManagerClient({
        endpoint: aws.url,
        region: REGION,
        credentials,
        maxAttempts: 1,
      });
    });
    afterEach(async function () {
      sm.destroy();
      await aws.close();
    });

    it("creates a secret once; a second CreateSecret is ResourceExistsException and changes nothing", async function () {
      await sm.send(
        new CreateSecretCommand({
          Name: "dkim/example.com/s1",
          SecretString: "first",
          KmsKeyId: "alias/dkim",
        }),
      );
      const err = await expectError(
        sm.send(new CreateSecretCommand({ Name: "dkim/example.com/s1", SecretString: "second" })),
        "ResourceExistsException",
      );
      expect(err).to.be.instanceOf(ResourceExistsException);
      const value = await sm.send(new GetSecretValueCommand({ SecretId: "dkim/example.com/s1" }));
      expect(value.SecretString).to.equal("first");
      const view = aws.secrets.get(REGION, "dkim/example.com/s1");
      expect(view?.kmsKeyId).to.equal("alias/dkim");
      expect(view?.operationCounts).to.deep.include({ CreateSecret: 1, GetSecretValue: 1 });
      expect(view?.overwritten).to.equal(false);
    });

    it("implements PutSecretValue and UpdateSecret, and the inspection API sees them", async function () {
      await sm.send(new CreateSecretCommand({ Name: "other", SecretString: "v1" }));
      await sm.send(new PutSecretValueCommand({ SecretId: "other", SecretString: "v2" }));
      await sm.send(
        new UpdateSecretCommand({ SecretId: "other", SecretString: "v3", Description: "d" }),
      );
      const value = await sm.send(
        new GetSecretValueCommand({ SecretId: "other", VersionStage: "AWSPREVIOUS" }),
      );
      expect(value.SecretString).to.equal("v2");
      const view = aws.secrets.get(REGION, "other");
      expect(view?.currentValue).to.equal("v3");
      expect(view?.overwritten).to.equal(true);
      expect(view?.operationCounts).to.deep.include({ PutSecretValue: 1, UpdateSecret: 1 });
    });

    it("enforces the 7–30 day recovery window and refuses ForceDeleteWithoutRecovery", async function () {
      for (const name of ["a", "b", "c"])
        await sm.send(new CreateSecretCommand({ Name: name, SecretString: "x" }));
      for (const days of [0, 6, 31]) {
        await expectError(
          sm.send(new DeleteSecretCommand({ SecretId: "a", RecoveryWindowInDays: days })),
          "InvalidParameterException",
        );
      }
      await expectError(
        sm.send(new DeleteSecretCommand({ SecretId: "a", ForceDeleteWithoutRecovery: true })),
        "InvalidParameterException",
      );
      const a = await sm.send(new DeleteSecretCommand({ SecretId: "a", RecoveryWindowInDays: 7 }));
      expect(a.DeletionDate?.toISOString()).to.equal("2026-04-08T00:00:00.000Z");
      const b = await sm.send(new DeleteSecretCommand({ SecretId: "b", RecoveryWindowInDays: 30 }));
      expect(b.DeletionDate?.toISOString()).to.equal("2026-05-01T00:00:00.000Z");
      const c = await sm.send(new DeleteSecretCommand({ SecretId: "c" }));
      expect(c.DeletionDate?.toISOString(), "default window is 30 days").to.equal(
        "2026-05-01T00:00:00.000Z",
      );
    });

    it("treats a secret scheduled for deletion as existing until the window ends", async function () {
      await sm.send(
        new CreateSecretCommand({
          Name: "dkim/example.com/s1",
          SecretString: "x",
          Tags: [{ Key: "k", Value: "v" }],
        }),
      );
      await sm.send(
        new DeleteSecretCommand({ SecretId: "dkim/example.com/s1", RecoveryWindowInDays: 7 }),
      );
      await expectError(
        sm.send(new GetSecretValueCommand({ SecretId: "dkim/example.com/s1" })),
        "InvalidRequestException",
      );
      await expectError(
        sm.send(
          new TagResourceCommand({
            SecretId: "dkim/example.com/s1",
            Tags: [{ Key: "a", Value: "b" }],
          }),
        ),
        "InvalidRequestException",
      );
      await expectError(
        sm.send(new CreateSecretCommand({ Name: "dkim/example.com/s1", SecretString: "y" })),
        "InvalidRequestException",
      );
      const hidden = await sm.send(
        new ListSecretsCommand({ Filters: [{ Key: "name", Values: ["dkim/"] }] }),
      );
      expect(hidden.SecretList).to.have.length(0);
      const shown = await sm.send(
        new ListSecretsCommand({
          IncludePlannedDeletion: true,
          Filters: [{ Key: "name", Values: ["dkim/"] }],
        }),
      );
      expect(shown.SecretList?.[0]?.DeletedDate?.toISOString()).to.equal(
        "2026-04-01T00:00:00.000Z",
      );
      const described = await sm.send(
        new DescribeSecretCommand({ SecretId: "dkim/example.com/s1" }),
      );
      expect(described.Tags).to.deep.equal([{ Key: "k", Value: "v" }]);

      await sm.send(new RestoreSecretCommand({ SecretId: "dkim/example.com/s1" }));
      await sm.send(
        new DeleteSecretCommand({ SecretId: "dkim/example.com/s1", RecoveryWindowInDays: 7 }),
      );
      clock.move(7 * 24 * HOUR);
      await aws.advance();
      expect(aws.secrets.get(REGION, "dkim/example.com/s1")).to.equal(undefined);
      await sm.send(new CreateSecretCommand({ Name: "dkim/example.com/s1", SecretString: "z" }));
    });

    it("filters by name prefix and paginates ListSecrets", async function () {
      for (let i = 0; i < 5; i++) {
        await sm.send(
          new CreateSecretCommand({ Name: `dkim/example.com/s${i}`, SecretString: "x" }),
        );
        clock.move(MINUTE);
      }
      await sm.send(new CreateSecretCommand({ Name: "dkim/example.org/s0", SecretString: "x" }));
      const names: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await sm.send(
          new ListSecretsCommand({
            Filters: [{ Key: "name", Values: ["dkim/example.com/"] }],
            MaxResults: 2,
            NextToken: token,
          }),
        );
        names.push(...(page.SecretList ?? []).map((s) => s.Name as string));
        token = page.NextToken;
        pages++;
      } while (token);
      expect(pages).to.equal(3);
      expect(names.sort()).to.deep.equal([0, 1, 2, 3, 4].map((i) => `dkim/example.com/s${i}`));
    });
  });

  describe("CloudWatch", function () {
    it("stores PutMetricData datapoints and enforces the 1000-datum limit", async function () {
      const clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
      const aws = await startAwsEmulator({ clock, lookupTxt: async () => "NXDOMAIN" });
      const cw = new CloudWatchClient({
        endpoint: aws.url,
        region: REGION,
        credentials,
        maxAttempts: 1,
      });
      try {
        await cw.send(
          new PutMetricDataCommand({
            Namespace: "SesDkimRotation",
            MetricData: [
              {
                MetricName: "DaysUntilExpiry",
                Dimensions: [{ Name: "Domain", Value: "example.com" }],
                Value: 42,
                Unit: "Count",
              },
            ],
          }),
        );
        const points = aws.metrics.datapoints({ namespace: "SesDkimRotation" });
        expect(points).to.have.length(1);
        expect(points[0]).to.deep.include({
          metricName: "DaysUntilExpiry",
          value: 42,
          unit: "Count",
          region: REGION,
        });
        expect(points[0]?.dimensions).to.deep.equal({ Domain: "example.com" });
        const tooMany = Array.from({ length: 1001 }, () => ({ MetricName: "X", Value: 1 }));
        await expectError(
          cw.send(new PutMetricDataCommand({ Namespace: "SesDkimRotation", MetricData: tooMany })),
          "InvalidParameterValueException",
        );
        await expectError(
          cw.send(
            new PutMetricDataCommand({
              Namespace: "AWS/SES",
              MetricData: [{ MetricName: "X", Value: 1 }],
            }),
          ),
          "InvalidParameterValueException",
        );
        expect(aws.metrics.datapoints()).to.have.length(1);
      } finally {
        cw.destroy();
        await aws.close();
      }
    });
  });
});
