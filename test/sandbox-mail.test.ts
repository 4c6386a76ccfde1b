/**
 * The sandbox's mail stream over two simulated years sends ~10,000 messages:
 * it must not keep them, nor their verdicts, once each is settled
 * (docs/benchmarks.md, "Peak memory").
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CreateEmailIdentityCommand } from "@aws-sdk/client-sesv2";
import { SimClock } from "../actions/dkim-rotation/src/engine/clock";
import type { ProjectConfig } from "../actions/dkim-rotation/src/engine/config";
import { dkimRecordValue, splitTxt } from "../actions/dkim-rotation/src/engine/record";
import { startAwsEmulator, type AwsEmulator } from "../scripts/sandbox/aws-emulator";
import { mailDomainZone, startDnsServer, type DnsServer } from "../scripts/sandbox/dns-server";
import { MailStream } from "../scripts/sandbox/mail";

const DOMAIN = "example.com";
const REGION = "ap-northeast-1";
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator-secret" };

describe("sandbox mail stream: memory", function () {
  this.timeout(30_000);
  let aws: AwsEmulator | undefined;
  let dns: DnsServer | undefined;
  let stream: MailStream | undefined;
  let dir: string;

  after(async () => {
    await stream?.close();
    await aws?.close();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps no sent message and no settled verdict, and still verifies each one", async () => {
    dir = mkdtempSync(join(tmpdir(), "sandbox-mail-"));
    const clock = new SimClock(Date.UTC(2027, 0, 1), async () => {});
    dns = await startDnsServer();
    const server = dns;
    const published = new Map<string, string[][]>();
    aws = await startAwsEmulator({
      clock: { now: () => clock.now() },
      // SES's own lookups: the same records the stream's resolver gets from `server`.
      lookupTxt: async (name) => published.get(name.toLowerCase()) ?? "NXDOMAIN",
      sesRequestsPerSecond: 1000,
      retainSentMessages: false,
      onMessage: (e) => stream?.onMessage(e),
    });
    const emulator = aws;
    const config = {
      identities: [{ domain: DOMAIN, regions: [REGION] }],
    } as unknown as ProjectConfig;
    stream = new MailStream({
      config,
      emulator: () => emulator,
      credentials,
      clock,
      resolverAddress: `127.0.0.1:${server.port}`,
      mailDir: dir,
      zoneSerial: () => 1,
      dense: () => false,
    });
    const live = stream;
    await live.client(REGION).send(new CreateEmailIdentityCommand({ EmailIdentity: DOMAIN }));
    const publicKey = await emulator.ses.easyDkimPublicKey(REGION, DOMAIN);
    const tokens = emulator.ses.identity(REGION, DOMAIN)!.tokens;
    for (const t of tokens)
      published.set(`${t}._domainkey.${DOMAIN}`, [splitTxt(dkimRecordValue(publicKey))]);
    server.setZone(
      DOMAIN,
      mailDomainZone(DOMAIN, {
        serial: 1,
        dkim: new Map(tokens.map((t) => [t, dkimRecordValue(publicKey)])),
      }),
    );
    clock.t += 60 * 60_000;
    await emulator.advance();
    expect(emulator.ses.identity(REGION, DOMAIN)?.status).to.equal("SUCCESS");

    live.start(clock.t);
    for (let i = 0; i < 3; i++) {
      const next = live.next()!;
      clock.t = next.at;
      await live.send(next.domain, next.at);
    }
    await live.settle();
    expect(live.stats).to.deep.equal({ messages: 3, verified: 3, unsigned: 0, failed: 0 });
    expect(readdirSync(dir).sort()).to.have.length(3);
    const internals = live as unknown as { sent: unknown[]; verdicts: Set<unknown> };
    expect(internals.sent, "messages kept after send").to.have.length(0);
    expect(internals.verdicts.size, "verdicts kept after they settled").to.equal(0);
  });
});
