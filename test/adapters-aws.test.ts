/**
 * The AWS adapters (SES, Secrets Manager key store, CloudWatch, pacer)
 * against the AWS emulator on loopback, through real SDK v3 clients.
 */
import { createPrivateKey, generateKeyPair } from "node:crypto";
import { promisify } from "node:util";
import { expect } from "chai";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import {
  startAwsEmulator,
  type AwsEmulator,
  type TxtLookupResult,
} from "../scripts/sandbox/aws-emulator";
import { SesAdapter } from "../actions/dkim-rotation/src/adapters/ses";
import {
  createAwsClients,
  type AwsClients,
} from "../actions/dkim-rotation/src/adapters/aws-clients";
import { SecretsKeyStore } from "../actions/dkim-rotation/src/adapters/secrets";
import { CloudWatchMetrics } from "../actions/dkim-rotation/src/adapters/cloudwatch";
import { RegionPacer } from "../actions/dkim-rotation/src/adapters/pacer";
import { RefusalError } from "../actions/dkim-rotation/src/engine/errors";
import {
  fromSesPrivateKey,
  generateDkimKeyPair,
  type DkimKeyPair,
} from "../actions/dkim-rotation/src/engine/keys";
import { dkimRecordValue, splitTxt } from "../actions/dkim-rotation/src/engine/record";

const REGION = "ap-northeast-1";
const OTHER_REGION = "us-east-1";
const DAY = 24 * 60 * 60 * 1000;
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

describe("AWS adapters", function () {
  let pair1: DkimKeyPair;
  let pair2: DkimKeyPair;
  let pkcs8: string;

  before(async function () {
    const [a, b, c] = await Promise.all([
      generateDkimKeyPair(1024),
      generateDkimKeyPair(2048),
      promisify(generateKeyPair)("rsa", { modulusLength: 2048 }),
    ]);
    pair1 = a;
    pair2 = b;
    pkcs8 = c.privateKey.export({ type: "pkcs8", format: "der" }).toString("base64");
  });

  describe("RegionPacer", function () {
    /**
     * Virtual time: `sleep` queues a timer and `drive` fires timers in time
     * order, so concurrent sleepers wake in the order a real clock would.
     */
    function virtualTime() {
      let t = 1_000;
      const timers: { until: number; wake: () => void }[] = [];
      return {
        now: () => t,
        sleep: (ms: number) => new Promise<void>((wake) => timers.push({ until: t + ms, wake })),
        async drive<T>(work: Promise<T>): Promise<T> {
          let done = false;
          void work.finally(() => (done = true)).catch(() => {});
          while (!done) {
            await new Promise((r) => setImmediate(r));
            timers.sort((x, y) => x.until - y.until);
            const next = timers.shift();
            if (next) {
              t = Math.max(t, next.until);
              next.wake();
            }
          }
          return work;
        },
      };
    }

    it("spaces calls per key at the configured rate, first come first served", async function () {
      const time = virtualTime();
      const pacer = new RegionPacer({
        requestsPerSecond: 1,
        marginMs: 0,
        now: time.now,
        sleep: time.sleep,
      });
      const starts: { key: string; n: number; at: number }[] = [];
      const call = (key: string, n: number) =>
        pacer.run(key, async () => {
          starts.push({ key, n, at: time.now() });
          return n;
        });
      const results = await time.drive(
        Promise.all([call("a", 1), call("a", 2), call("b", 1), call("a", 3), call("b", 2)]),
      );
      expect(results).to.deep.equal([1, 2, 1, 3, 2]);
      const a = starts.filter((s) => s.key === "a");
      expect(a.map((s) => s.n)).to.deep.equal([1, 2, 3]);
      expect(a.map((s) => s.at - 1_000)).to.deep.equal([0, 1000, 2000]);
      const b = starts.filter((s) => s.key === "b");
      expect(
        b.map((s) => s.at - 1_000),
        "another Region is not held up by the first",
      ).to.deep.equal([0, 1000]);
    });

    it("adds a safety margin of 5% by default and refuses a nonsense rate", function () {
      expect(new RegionPacer({ requestsPerSecond: 1 }).intervalMs).to.equal(1050);
      expect(new RegionPacer({ requestsPerSecond: 50 }).intervalMs).to.equal(21);
      expect(() => new RegionPacer({ requestsPerSecond: 0 })).to.throw(RangeError);
    });
  });

  describe("SesAdapter", function () {
    let aws: AwsEmulator;
    let clock: ManualClock;
    const zone = new Map<string, string[][]>();
    let clients: AwsClients;

    beforeEach(async function () {
      zone.clear();
      clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
      aws = await startAwsEmulator({
        clock,
        lookupTxt: async (name): Promise<TxtLookupResult> => zone.get(name) ?? "NXDOMAIN",
        sesRequestsPerSecond: 1000,
      });
      clients = createAwsClients({
        regions: [REGION, OTHER_REGION],
        endpoint: aws.url,
        credentials,
        maxAttempts: 1,
      });
    });
    afterEach(async function () {
      for (const c of clients.ses.values()) c.destroy();
      clients.secrets.destroy();
      clients.cloudwatch.destroy();
      await aws.close();
    });

    const fastAdapter = () =>
      new SesAdapter({ clients: clients.ses, pacer: new RegionPacer({ requestsPerSecond: 1000 }) });

    it("production clients time out a held connection and retry it instead of hanging", async function () {
      const held = createAwsClients({
        regions: [REGION],
        endpoint: aws.url,
        credentials,
        maxAttempts: 3,
        requestTimeoutMs: 150,
      });
      try {
        // The first attempt is held far longer than the timeout; the retry is answered.
        aws.faults.set({ seed: 1, rate: 1, kinds: ["timeout"], timeoutHoldMs: 5000 });
        let calls = 0;
        const adapter = new SesAdapter({
          clients: held.ses,
          pacer: new RegionPacer({ requestsPerSecond: 1000 }),
        });
        const started = performance.now();
        const pending = adapter.getIdentity(REGION, "example.com").finally(() => calls++);
        await new Promise((r) => setTimeout(r, 100));
        aws.faults.set({ seed: 1, rate: 0, kinds: [] });
        const state = await pending;
        expect(state.exists).to.equal(false);
        expect(calls).to.equal(1);
        expect(performance.now() - started).to.be.below(4000);
        // One attempt went unanswered (held), the retry was answered.
        expect(aws.calls().filter((c) => c.status === 0)).to.have.length(1);
        expect(aws.calls({ operation: "GetEmailIdentity" })).to.have.length(2);
      } finally {
        held.ses.get(REGION)!.destroy();
        held.secrets.destroy();
        held.cloudwatch.destroy();
      }
    });

    it("maps NotFoundException to exists:false", async function () {
      const state = await fastAdapter().getIdentity(REGION, "example.com");
      expect(state).to.deep.equal({
        region: REGION,
        domain: "example.com",
        exists: false,
        signingEnabled: false,
        tokens: [],
      });
    });

    it("imports an EXTERNAL key and maps the DKIM attributes and verification info", async function () {
      const ses = fastAdapter();
      await (clients.ses.get(REGION) as SESv2Client).send(
        new CreateEmailIdentityCommand({ EmailIdentity: "example.com" }),
      );
      const put = await ses.putExternalKey(
        REGION,
        "example.com",
        "gooid-21-prod-20260401",
        pair2.sesPrivateKey,
      );
      expect(put).to.deep.equal({ status: "PENDING", tokens: ["gooid-21-prod-20260401"] });
      expect(aws.ses.identity(REGION, "example.com")?.publicKey).to.equal(pair2.publicKey);

      zone.set("gooid-21-prod-20260401._domainkey.example.com", [
        splitTxt(dkimRecordValue(pair2.publicKey)),
      ]);
      clock.move(5 * 60_000);
      await aws.advance();
      const state = await ses.getIdentity(REGION, "example.com");
      expect(state).to.deep.include({
        region: REGION,
        domain: "example.com",
        exists: true,
        signingEnabled: true,
        status: "SUCCESS",
        tokens: ["gooid-21-prod-20260401"],
        origin: "EXTERNAL",
      });
      expect(state.lastCheckedAt?.toISOString()).to.equal("2026-04-01T00:05:00.000Z");
      expect(state.lastSuccessAt?.toISOString()).to.equal("2026-04-01T00:05:00.000Z");
      expect(state.errorType).to.equal(undefined);
    });

    it("refuses a PKCS#8 key locally, before any HTTP call, saying why", async function () {
      const ses = fastAdapter();
      const before = aws.callCount();
      let refusal: unknown;
      try {
        await ses.putExternalKey(REGION, "example.com", "s1", pkcs8);
      } catch (err) {
        refusal = err;
      }
      expect(refusal).to.be.instanceOf(RefusalError);
      expect((refusal as Error).message).to.match(
        /^example\.com: refusing to import s1 into SES ap-northeast-1: .*PKCS#8/,
      );
      expect((refusal as Error).message).not.to.include(pkcs8.slice(0, 40));
      expect(aws.callCount(), "no request reached SES").to.equal(before);
    });

    it("refuses selectors SES would reject, before any HTTP call", async function () {
      const ses = fastAdapter();
      for (const selector of ["a.b", "a_b", "x".repeat(64)]) {
        let err: unknown;
        try {
          await ses.putExternalKey(REGION, "example.com", selector, pair1.sesPrivateKey);
        } catch (e) {
          err = e;
        }
        expect(err, selector).to.be.instanceOf(RefusalError);
      }
      expect(aws.callCount()).to.equal(0);
    });

    it("names the Region when it has no client for it", async function () {
      let err: unknown;
      try {
        await fastAdapter().getIdentity("eu-west-1", "example.com");
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).to.equal(
        `no SES client for Region eu-west-1 (configured: ${REGION}, ${OTHER_REGION})`,
      );
    });

    it("paces concurrent calls so SES never throttles (and without pacing it does)", async function () {
      // SES side: 20 requests/s, no burst. Our side: 12/s, leaving ~30 ms for
      // loopback jitter (at AWS's 1/s the default margin is 50 ms).
      const paced = new SesAdapter({
        clients: clients.ses,
        pacer: new RegionPacer({ requestsPerSecond: 12 }),
      });
      // Warm the client once: a process's first request takes a slower path (signer, socket).
      await paced.getIdentity(REGION, "example.com");
      aws.setSesRateLimit(20, 1);
      const started = performance.now();
      const states = await Promise.all(
        Array.from({ length: 10 }, () => paced.getIdentity(REGION, "example.com")),
      );
      const elapsed = performance.now() - started;
      expect(states.every((s) => !s.exists)).to.equal(true);
      expect(aws.callCount({ errorCode: "TooManyRequestsException" })).to.equal(0);
      expect(elapsed, "10 calls at 12/s take at least 9 intervals").to.be.greaterThan(
        9 * (1000 / 12),
      );

      // The control: the same burst without pacing is throttled (maxAttempts 1 surfaces it).
      aws.setSesRateLimit(20, 1);
      const unpaced = fastAdapter();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, () => unpaced.getIdentity(REGION, "example.com")),
      );
      const throttled = outcomes.filter(
        (o) => o.status === "rejected" && (o.reason as Error).name === "TooManyRequestsException",
      );
      expect(throttled.length).to.be.greaterThan(0);
    });
  });

  describe("SecretsKeyStore", function () {
    let aws: AwsEmulator;
    let clock: ManualClock;
    let clients: AwsClients;
    let masked: string[];
    let store: SecretsKeyStore;

    beforeEach(async function () {
      clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
      aws = await startAwsEmulator({ clock, lookupTxt: async () => "NXDOMAIN" });
      clients = createAwsClients({
        regions: [REGION],
        endpoint: aws.url,
        credentials,
        maxAttempts: 1,
      });
      masked = [];
      store = new SecretsKeyStore({
        client: clients.secrets,
        kmsKeyId: "alias/ses-dkim",
        onSecret: (v) => masked.push(v),
      });
    });
    afterEach(async function () {
      for (const c of clients.ses.values()) c.destroy();
      clients.secrets.destroy();
      clients.cloudwatch.destroy();
      // docs/design.md#invariant-4-key-material-stays-secret, checked after every test: nothing ever overwrote a value.
      expect(aws.callCount({ operation: "PutSecretValue" })).to.equal(0);
      expect(aws.callCount({ operation: "UpdateSecret" })).to.equal(0);
      await aws.close();
    });

    it("creates the secret in one call with value, KMS key, description and tags", async function () {
      const created = await store.create("example.com", "s1", pair2, clock.now());
      expect(created.created).to.equal(true);
      expect(created.key).to.deep.include({
        secretName: "dkim/example.com/s1",
        publicKey: pair2.publicKey,
        keyBits: 2048,
        state: "pending",
      });
      expect(aws.calls({ service: "secretsmanager" }).map((c) => c.operation)).to.deep.equal([
        "CreateSecret",
      ]);
      const view = aws.secrets.get(REGION, "dkim/example.com/s1");
      expect(view?.currentValue).to.equal(pair2.sesPrivateKey);
      expect(view?.kmsKeyId).to.equal("alias/ses-dkim");
      expect(view?.description).to.equal(
        `DKIM private key for s1._domainkey.example.com (SES BYODKIM). p=${pair2.publicKey}`,
      );
      expect(view?.tags).to.deep.equal({
        "dkim:key-origin": "local",
        "dkim:domain": "example.com",
        "dkim:selector": "s1",
        "dkim:key-bits": "2048",
        "dkim:fingerprint": pair2.fingerprint,
        "dkim:created-at": "2026-04-01T00:00:00.000Z",
        "dkim:state": "pending",
      });
    });

    it("create twice returns created:false and leaves the stored value unchanged", async function () {
      await store.create("example.com", "s1", pair1, clock.now());
      clock.move(DAY);
      const again = await store.create("example.com", "s1", pair2, clock.now());
      expect(again.created).to.equal(false);
      expect(again.key.publicKey, "the existing key, not the new one").to.equal(pair1.publicKey);
      expect(again.key.createdAt.toISOString()).to.equal("2026-04-01T00:00:00.000Z");
      expect(aws.secrets.get(REGION, "dkim/example.com/s1")?.currentValue).to.equal(
        pair1.sesPrivateKey,
      );
      expect(aws.secrets.get(REGION, "dkim/example.com/s1")?.overwritten).to.equal(false);
    });

    it("readPrivateKey hands the value to onSecret before returning it", async function () {
      await store.create("example.com", "s1", pair1, clock.now());
      const order: string[] = [];
      const watched = new SecretsKeyStore({
        client: clients.secrets,
        kmsKeyId: "alias/ses-dkim",
        onSecret: (v) => order.push(`masked ${v === pair1.sesPrivateKey}`),
      });
      const value = await watched
        .readPrivateKey("example.com", "s1", { plaintext: true })
        .then((v) => {
          order.push("returned");
          return v;
        });
      expect(value).to.equal(pair1.sesPrivateKey);
      expect(order).to.deep.equal(["masked true", "returned"]);
      expect(masked).to.deep.equal([]);
    });

    it("readPrivateKey reads an operator's PKCS#8 key as PKCS#1, and refuses PEM SES would not verify", async function () {
      // Planted by hand (not through the adapter): a PKCS#8 key under a DKIM name.
      const { SecretsManagerClient, CreateSecretCommand } =
        await import("@aws-sdk/client-secrets-manager");
      const raw = new SecretsManagerClient({
        endpoint: aws.url,
        region: REGION,
        credentials,
        maxAttempts: 1,
      });
      await raw.send(
        new CreateSecretCommand({
          Name: "dkim/example.com/bad",
          SecretString: pkcs8,
          Description: "p=x",
        }),
      );
      const pem = Buffer.from(
        createPrivateKey({ key: Buffer.from(pkcs8, "base64"), format: "der", type: "pkcs8" })
          .export({ type: "pkcs1", format: "pem" })
          .toString(),
      ).toString("base64");
      await raw.send(
        new CreateSecretCommand({
          Name: "dkim/example.com/pem",
          SecretString: pem,
          Description: "p=x",
        }),
      );
      raw.destroy();
      // SES has been reported to accept PKCS#8 and never verify it: what is read is PKCS#1.
      const read = await store.readPrivateKey("example.com", "bad", { plaintext: true });
      expect(read.startsWith("MIIE")).to.equal(true);
      expect(fromSesPrivateKey(read).bits).to.equal(2048);
      expect(masked).to.deep.equal([pkcs8, read]);
      let err: unknown;
      try {
        await store.readPrivateKey("example.com", "pem", { plaintext: true });
      } catch (e) {
        err = e;
      }
      expect(masked).to.include(pem);
      expect((err as Error).message).to.match(
        /^secret dkim\/example\.com\/pem: private key is base64 of a PEM file/,
      );
    });

    it("lists every key of the domain across pages, including those scheduled for deletion", async function () {
      for (let i = 0; i < 103; i++) {
        await store.create("example.com", `s${i}`, pair1, clock.now());
        clock.move(60_000);
      }
      await store.create("example.com.au", "s1", pair1, clock.now());
      await store.markState("example.com", "s0", "active", new Date("2026-04-02T00:00:00Z"));
      await store.markState("example.com", "s0", "retired", new Date("2026-10-01T00:00:00Z"));
      const deletion = await store.scheduleDeletion("example.com", "s0", 7);
      expect(deletion.toISOString()).to.equal(
        new Date(clock.now().getTime() + 7 * DAY).toISOString(),
      );

      const keys = await store.list("example.com");
      expect(keys).to.have.length(103);
      expect(keys.every((k) => k.domain === "example.com")).to.equal(true);
      expect(aws.callCount({ operation: "ListSecrets" })).to.equal(2);
      const s0 = keys.find((k) => k.selector === "s0");
      expect(s0?.state).to.equal("retired");
      expect(s0?.activatedAt?.toISOString()).to.equal("2026-04-02T00:00:00.000Z");
      expect(s0?.retiredAt?.toISOString()).to.equal("2026-10-01T00:00:00.000Z");
      expect(s0?.deletionDate?.toISOString()).to.equal(deletion.toISOString());
      expect(s0?.publicKey).to.equal(pair1.publicKey);
      expect(keys.find((k) => k.selector === "s1")?.deletionDate).to.equal(undefined);
    });

    it("schedules deletion only with a recovery window of 7–30 days, checked before any call", async function () {
      await store.create("example.com", "s1", pair1, clock.now());
      const before = aws.callCount();
      for (const days of [0, 6, 6.5, 31]) {
        let err: unknown;
        try {
          await store.scheduleDeletion("example.com", "s1", days);
        } catch (e) {
          err = e;
        }
        expect((err as Error).message, String(days)).to.equal(
          `secret dkim/example.com/s1: recovery window must be 7–30 whole days, got ${days}`,
        );
      }
      expect(aws.callCount()).to.equal(before);
    });

    it("a re-run of scheduleDeletion converges without a second DeleteSecret", async function () {
      await store.create("example.com", "s1", pair1, clock.now());
      const first = await store.scheduleDeletion("example.com", "s1", 10);
      clock.move(DAY);
      const second = await store.scheduleDeletion("example.com", "s1", 10);
      expect(second.toISOString()).to.equal(first.toISOString());
      expect(aws.callCount({ operation: "DeleteSecret" })).to.equal(1);
      // The name stays taken while the window runs: a create converges to the existing key.
      const again = await store.create("example.com", "s1", pair2, clock.now());
      expect(again.created).to.equal(false);
      expect(again.key.deletionDate?.toISOString()).to.equal(first.toISOString());
    });

    it("a DeleteSecret whose answer was lost reads the retry's InvalidRequestException as scheduled", async function () {
      await store.create("example.com", "s1", pair1, clock.now());
      // The first DeleteSecret goes through, its answer is lost, and the retry
      // gets Secrets Manager's answer for a secret already scheduled.
      const send = clients.secrets.send.bind(clients.secrets) as (c: unknown) => Promise<unknown>;
      let lost = 0;
      const lossy = new SecretsKeyStore({
        client: Object.assign(Object.create(clients.secrets) as typeof clients.secrets, {
          send: async (command: { constructor: { name: string } }) => {
            if (command.constructor.name === "DeleteSecretCommand" && !lost++) await send(command);
            return send(command);
          },
        }),
        kmsKeyId: "alias/ses-dkim",
      });
      const when = await lossy.scheduleDeletion("example.com", "s1", 10);
      expect(lost).to.equal(1);
      expect(aws.callCount({ operation: "DeleteSecret" })).to.equal(2);
      const secret = aws.secrets.get(REGION, "dkim/example.com/s1")!;
      expect(when.toISOString()).to.equal(secret.deletionDate!.toISOString());
      // A secret that does not exist stays an error.
      let err: unknown;
      try {
        await lossy.scheduleDeletion("example.com", "nope", 10);
      } catch (e) {
        err = e;
      }
      expect((err as Error).name).to.equal("ResourceNotFoundException");
    });

    it("markState on a secret scheduled for deletion is fine when the tags already agree", async function () {
      await store.create("example.com", "s1", pair1, clock.now());
      await store.markState("example.com", "s1", "retired", clock.now());
      await store.scheduleDeletion("example.com", "s1", 7);
      await store.markState("example.com", "s1", "retired", clock.now());
      let err: unknown;
      try {
        await store.markState("example.com", "s1", "active", clock.now());
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).to.equal(
        "secret dkim/example.com/s1 is scheduled for deletion; cannot mark it active (it is retired)",
      );
    });
  });

  describe("CloudWatchMetrics", function () {
    it("publishes with the Domain dimension in batches of at most 1000", async function () {
      const clock = new ManualClock(Date.parse("2026-04-01T00:00:00Z"));
      const aws = await startAwsEmulator({ clock, lookupTxt: async () => "NXDOMAIN" });
      const clients = createAwsClients({
        regions: [REGION],
        endpoint: aws.url,
        credentials,
        maxAttempts: 1,
      });
      try {
        const metrics = new CloudWatchMetrics({ client: clients.cloudwatch, clock });
        const batch = Array.from({ length: 2500 }, (_, i) => ({
          name: "DaysUntilExpiry",
          domain: `d${i}.example.com`,
          value: i,
          unit: "Count" as const,
        }));
        await metrics.publish(batch);
        expect(aws.callCount({ operation: "PutMetricData", outcome: "ok" })).to.equal(3);
        const points = aws.metrics.datapoints({
          namespace: "SesDkimRotation",
          metricName: "DaysUntilExpiry",
        });
        expect(points).to.have.length(2500);
        expect(points[2499]).to.deep.include({ value: 2499, unit: "Count", region: REGION });
        expect(points[2499]?.dimensions).to.deep.equal({ Domain: "d2499.example.com" });
        expect(points[0]?.timestamp.toISOString()).to.equal("2026-04-01T00:00:00.000Z");
      } finally {
        clients.secrets.destroy();
        clients.cloudwatch.destroy();
        for (const c of clients.ses.values()) c.destroy();
        await aws.close();
      }
    });
  });
});
