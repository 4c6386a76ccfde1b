/**
 * The benchmark's world: the AWS emulator (real SDK wire protocols, SES's
 * per-Region request limit on real wall time), two authoritative DNS servers
 * on loopback serving one zone, and a git workspace holding the record files
 * and one stack file per fleet. It lives in the parent process; the engine
 * runs in child processes (engine-child.ts) so that its peak RSS is its own.
 *
 * Fleets are built through the same SDK calls a real estate would have seen
 * (CreateEmailIdentity with BYODKIM attributes, CreateSecret + TagResource
 * through the engine's own SecretsKeyStore), at a raised request limit; the
 * measured runs then use the limit under test.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateEmailIdentityCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { KMSClient } from "@aws-sdk/client-kms";
import { KmsKeyCustody } from "../../actions/dkim-rotation/src/adapters/kms";
import { addDays, DAY_MS, MINUTE_MS } from "../../actions/dkim-rotation/src/engine/clock";
import {
  generateDkimKeyPair,
  publicKeyFingerprint,
  type DkimKeyPair,
  type KeyBits,
} from "../../actions/dkim-rotation/src/engine/keys";
import {
  dkimRecordValue,
  recordPath,
  renderRecordFile,
} from "../../actions/dkim-rotation/src/engine/record";
import { SecretsKeyStore } from "../../actions/dkim-rotation/src/adapters/secrets";
import type { AwsEmulator } from "../sandbox/aws-emulator";
import { mailDomainZone, type DnsServer } from "../sandbox/dns-server";
import { startLocalWorld } from "../local-world";
import type { GitHubFake } from "../github-fake";
import { BENCH_CREDENTIALS, mapLimit, PROJECT } from "./common";

export const ZONE = "bench.example";
export const HOME_REGION = "ap-northeast-1";
export const SECOND_REGION = "ap-northeast-3";
export const ACTIVE_SELECTOR = "b-active";
export const CANDIDATE_SELECTOR = "b-next";
/** SES calls per second while fleets are being built (not a measured figure). */
const SETUP_RATE = 100_000;
const SETUP_CONCURRENCY = 32;

/**
 * - idle: on a BYODKIM key activated 30 days ago (decision: idle).
 * - due: on a key activated 330 days ago (decision: rotate; plan --apply generates a key).
 * - publish: a newer key stored and its record on main and served by both
 *   nameservers (snapshot runs a DNS verification; decision: activate).
 */
export type FleetKind = "idle" | "due" | "publish";

export interface FleetIdentity {
  domain: string;
  /** The candidate's selector and public key (publish fleets), for the DNS section. */
  candidate?: { selector: string; publicKey: string };
}

export interface Fleet {
  name: string;
  kind: FleetKind;
  regions: string[];
  identities: FleetIdentity[];
  /**
   * The fleet's own emulator: one AWS account per fleet, so a measured run
   * sees an account of its own size (the emulator's ListSecrets and DKIM
   * bookkeeping scan the whole account on every request).
   */
  emulator: AwsEmulator;
  /** Stop the fleet's emulator (fleets used once, such as plan --apply's). */
  close(): Promise<void>;
}

/** The repository the bench's record PRs go to, on the GitHub fake. */
export const BENCH_REPOSITORY = { owner: "bench-org", repo: "bench-records" };
/** The DNS team owns the record folder, so each PR requests its review, as in production. */
export const BENCH_CODEOWNERS = "/dns/ @bench-org/dns-team\n";

export interface World {
  nameservers: string[];
  /** The one GitHub stand-in; plan --apply opens its record PRs here. */
  github: GitHubFake;
  ns: DnsServer[];
  workspace: string;
  /** `due`: in an idle fleet, that many identities first whose rotation is due (activated 330 days ago). */
  createFleet(
    name: string,
    kind: FleetKind,
    count: number,
    regions: string[],
    options?: { due?: number },
  ): Promise<Fleet>;
  /** Write a stack file for `count` identities of `fleet` from index `from` (default 0) in `regions`; returns its path. */
  stackFile(fleet: Fleet, count: number, regions: string[], rate: number, from?: number): string;
  close(): Promise<void>;
}

export async function startWorld(options: { keyPool?: number } = {}): Promise<World> {
  const workspace = mkdtempSync(join(tmpdir(), "dkim-bench-"));
  const git = (...args: string[]) =>
    execFileSync(
      "git",
      ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", ...args],
      { cwd: workspace, stdio: ["ignore", "ignore", "pipe"] },
    );
  git("init", "-q");
  mkdirSync(join(workspace, "dns"));

  // The DNS servers here; one emulator per fleet (below), on the same servers.
  // SES's own DKIM lookups while fleets are built: generous, so a loaded
  // machine does not leave identities PENDING (setup, not a measured figure).
  const local = await startLocalWorld({ emulator: false, sesLookupTimeoutMs: 5000 });
  const ns = local.servers;
  const nameservers = local.addresses;
  const github = await local.startGitHub({
    ...BENCH_REPOSITORY,
    files: { ".github/CODEOWNERS": BENCH_CODEOWNERS },
  });

  // A few real key pairs, shared across identities: building 1,000 identities
  // must not spend minutes generating keys nobody measures.
  const pool: DkimKeyPair[] = [];
  for (let i = 0; i < (options.keyPool ?? 4); i++) pool.push(await generateDkimKeyPair(2048));

  const txt = new Map<string, string>(); // owner (relative to ZONE) → record value
  let serial = 2026010100;
  const publishZone = () => {
    serial++;
    const zone = mailDomainZone(ZONE, {
      serial,
      dkim: new Map(),
      txt,
      nameserverAddress: "127.0.0.1",
    });
    for (const server of ns) server.setZone(ZONE, zone);
  };

  const writeRecord = (
    domain: string,
    selector: string,
    pair: Pick<DkimKeyPair, "bits" | "fingerprint" | "publicKey">,
    createdAt: Date,
  ) => {
    const path = join(workspace, recordPath(domain, selector));
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(
      path,
      renderRecordFile({
        domain,
        selector,
        keyBits: pair.bits,
        fingerprint: pair.fingerprint,
        createdAt: createdAt.toISOString(),
        publishBy: addDays(createdAt, 14).toISOString().slice(0, 10),
        publicKey: pair.publicKey,
        ttl: 3600,
        nameservers,
      }),
    );
    txt.set(
      `${selector}._domainkey.${domain.slice(0, -ZONE.length - 1)}`,
      dkimRecordValue(pair.publicKey),
    );
  };

  const fleets: Fleet[] = [];
  const createFleet: World["createFleet"] = async (name, kind, count, regions, options = {}) => {
    // The emulator's DKIM checks run on a clock nudged forward once the fleet
    // is built, so every identity reaches SUCCESS before it is measured and
    // no check (24 h later on that clock) ever falls inside a measured run.
    let offsetMs = 0;
    const emulator = await local.startEmulator({
      clock: { now: () => new Date(Date.now() + offsetMs) },
      sesRequestsPerSecond: SETUP_RATE,
      dkim: { firstCheckMinutes: 1 },
    });
    const ses = new Map(
      [HOME_REGION, SECOND_REGION].map((region) => [
        region,
        new SESv2Client({ region, endpoint: emulator.url, credentials: BENCH_CREDENTIALS }),
      ]),
    );
    const secretsClient = new SecretsManagerClient({
      region: HOME_REGION,
      endpoint: emulator.url,
      credentials: BENCH_CREDENTIALS,
    });
    const kmsClient = new KMSClient({
      region: HOME_REGION,
      endpoint: emulator.url,
      credentials: BENCH_CREDENTIALS,
    });
    // Candidates are made the way the plan makes them (KMS-wrapped): the
    // custody check refuses any other pending 2048-bit key (docs/design.md#key-origins).
    const keyStore = new SecretsKeyStore({
      client: secretsClient,
      kmsKeyId: "alias/ses-dkim-rotation",
      custody: new KmsKeyCustody({ client: kmsClient, keyId: "alias/ses-dkim-rotation" }),
    });
    const now = Date.now();
    /** When identity `i`'s active key was made and activated: due ones 330 days ago. */
    const activeDates = (i: number) => {
      const ago = kind === "idle" && i >= (options.due ?? 0) ? 30 : 330;
      return {
        created: new Date(now - (ago + 10) * DAY_MS),
        activatedAt: new Date(now - ago * DAY_MS),
      };
    };
    const candidateCreated = new Date(now - 20 * DAY_MS);
    const width = String(count).length;
    // Secrets Manager dates a secret by its CreatedDate, and the key store reports
    // a created-at tag that contradicts it as tampering: seed each key with the
    // emulator's clock at the key's creation time, actives first, then candidates.
    const seedOffset = offsetMs;
    const identities = await mapLimit(
      Array.from({ length: count }, (_, i) => i),
      SETUP_CONCURRENCY,
      async (i): Promise<FleetIdentity> => {
        const domain = `${name}${String(i).padStart(width, "0")}.${ZONE}`;
        const active = pool[i % pool.length]!;
        for (const region of regions) {
          await ses.get(region)!.send(
            new CreateEmailIdentityCommand({
              EmailIdentity: domain,
              DkimSigningAttributes: {
                DomainSigningSelector: ACTIVE_SELECTOR,
                DomainSigningPrivateKey: active.sesPrivateKey,
              },
            }),
          );
        }
        return { domain };
      },
    );
    // One pass per creation date (the emulator's clock dates each secret).
    const byDate = new Map<number, number[]>();
    identities.forEach((_, i) => {
      const t = activeDates(i).created.getTime();
      byDate.set(t, [...(byDate.get(t) ?? []), i]);
    });
    for (const [created, indexes] of byDate) {
      offsetMs = seedOffset + (created - now);
      await mapLimit(indexes, SETUP_CONCURRENCY, async (i) => {
        const { domain } = identities[i]!;
        const active = pool[i % pool.length]!;
        const dates = activeDates(i);
        await keyStore.create(domain, ACTIVE_SELECTOR, active, dates.created);
        await keyStore.markState(domain, ACTIVE_SELECTOR, "active", dates.activatedAt);
        writeRecord(domain, ACTIVE_SELECTOR, active, dates.created);
      });
    }
    if (kind === "publish") {
      offsetMs = seedOffset + (candidateCreated.getTime() - now);
      await mapLimit(identities, SETUP_CONCURRENCY, async (id) => {
        const { key } = await keyStore.generate(id.domain, CANDIDATE_SELECTOR, candidateCreated);
        const pub = {
          bits: key.keyBits as KeyBits,
          fingerprint: publicKeyFingerprint(key.publicKey),
          publicKey: key.publicKey,
        };
        writeRecord(id.domain, CANDIDATE_SELECTOR, pub, candidateCreated);
        id.candidate = { selector: CANDIDATE_SELECTOR, publicKey: key.publicKey };
      });
    }
    offsetMs = seedOffset;
    publishZone();
    // The records "reach main": one commit, so RepoRecords' `git log` finds a merge time.
    git("add", "dns");
    git("commit", "-q", "-m", `fleet ${name}`);
    // Let SES check DNS once: every new identity goes PENDING → SUCCESS.
    offsetMs += 2 * MINUTE_MS;
    await emulator.advance();
    const pending = identities.filter((id) =>
      regions.some((r) => emulator.ses.identity(r, id.domain)?.status !== "SUCCESS"),
    );
    for (const c of ses.values()) c.destroy();
    secretsClient.destroy();
    kmsClient.destroy();
    if (pending.length) {
      await emulator.close();
      throw new Error(
        `fleet ${name}: ${pending.length} identities did not reach SES SUCCESS (e.g. ${pending[0]!.domain})`,
      );
    }
    let closed = false;
    const fleet: Fleet = {
      name,
      kind,
      regions,
      identities,
      emulator,
      close: async () => {
        if (closed) return;
        closed = true;
        await emulator.close();
      },
    };
    fleets.push(fleet);
    return fleet;
  };

  const stackFile: World["stackFile"] = (fleet, count, regions, rate, from = 0) => {
    const lines = [
      "# Written by scripts/bench: one fleet of the benchmark.",
      "config:",
      `  aws:region: ${HOME_REGION}`,
      `  ${PROJECT}:kmsKeyId: alias/ses-dkim-rotation`,
      `  ${PROJECT}:sesRequestsPerSecond: ${rate}`,
      `  ${PROJECT}:identities:`,
    ];
    for (const id of fleet.identities.slice(from, from + count)) {
      lines.push(
        `    - domain: ${id.domain}`,
        `      selectorPrefix: b`,
        `      regions: [${regions.join(", ")}]`,
        `      nameservers: [${nameservers.map((n) => `"${n}"`).join(", ")}]`,
      );
    }
    const file = join(
      workspace,
      `bench-${fleet.name}-${count}${from ? `-from${from}` : ""}-${regions.length}r.yaml`,
    );
    writeFileSync(file, `${lines.join("\n")}\n`);
    return file;
  };

  return {
    nameservers,
    github,
    ns,
    workspace,
    createFleet,
    stackFile,
    close: async () => {
      await local.close();
      rmSync(workspace, { recursive: true, force: true });
    },
  };
}
