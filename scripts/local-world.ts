/**
 * The one builder of a local world: loopback authoritative DNS servers, the
 * AWS emulator (SES resolving through one of those servers, Easy DKIM keys
 * served at `<token>.<SigningHostedZone>` on all of them) and, when asked, the
 * GitHub fake (started once the caller knows its files, which name the
 * servers' addresses). The test world, the engine harness, the sandbox and the bench
 * all start theirs here and add only what is theirs (zones, checkouts,
 * clients); everything is closed in reverse order, once.
 */
import { queryTxt } from "../actions/dkim-rotation/src/adapters/dns";
import { pooledResolverFactory } from "./dns-channels";
import {
  startAwsEmulator,
  type AwsEmulator,
  type AwsEmulatorOptions,
  type EasyDkimKey,
} from "./sandbox/aws-emulator";
import { AmazonSesKeyZone, startDnsServer, type DnsServer } from "./sandbox/dns-server";
import { startGitHubFake, type GitHubFake, type GitHubFakeOptions } from "./github-fake";

export interface LocalWorldOptions {
  /** How many loopback authoritative servers to start. Default 2. */
  nameservers?: number;
  /**
   * The emulator's options, or `false` for none (the bench starts one per
   * fleet with `startEmulator`). `lookupTxt` defaults to asking `sesResolver`
   * directly (SES resolves through the public DNS; here, straight from an
   * authoritative server); `onEasyDkimKey` is called after the key is served.
   */
  emulator?: AwsEmulatorOptions | false;
  /** The address SES's lookups go to, read at each lookup. Default: the first server. */
  sesResolver?: () => string;
  /** Per-try timeout of SES's lookups (2 tries). Default 500 ms; the bench's large fleets use 1,000. */
  sesLookupTimeoutMs?: number;
}

export interface LocalWorld {
  readonly servers: DnsServer[];
  /** `127.0.0.1:<port>` per server, as written to the identities' `nameservers`. */
  readonly addresses: string[];
  /** The world's emulator; absent when started with `emulator: false`. */
  readonly emulator?: AwsEmulator;
  /** Easy DKIM's key zone, on every server. */
  readonly amazonses: AmazonSesKeyZone;
  /** Another emulator on the same servers (closed with the world, or earlier by its owner). */
  startEmulator(options?: AwsEmulatorOptions): Promise<AwsEmulator>;
  /** The GitHub fake (closed with the world). */
  startGitHub(options: GitHubFakeOptions): Promise<GitHubFake>;
  /** Clean-up for what a caller builds on the world; run before the world's own, in reverse. */
  onClose(close: () => Promise<void> | void): void;
  /** Close everything, newest first. Safe to call twice. */
  close(): Promise<void>;
}

export async function startLocalWorld(options: LocalWorldOptions = {}): Promise<LocalWorld> {
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c();
  };
  try {
    const servers: DnsServer[] = [];
    for (let i = 0; i < (options.nameservers ?? 2); i++) {
      const server = await startDnsServer();
      closers.push(() => server.close());
      servers.push(server);
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    const amazonses = new AmazonSesKeyZone(() => servers);
    const resolver = options.sesResolver ?? (() => addresses[0]!);
    const sesResolvers = pooledResolverFactory();
    const startEmulator = async (o: AwsEmulatorOptions = {}): Promise<AwsEmulator> => {
      const emulator = await startAwsEmulator({
        lookupTxt: (name) =>
          queryTxt(resolver(), name, {
            timeout: options.sesLookupTimeoutMs ?? 500,
            tries: 2,
            createResolver: sesResolvers,
          }),
        ...o,
        onEasyDkimKey: async (key: EasyDkimKey) => {
          amazonses.publish(key.zone, key.tokens, key.publicKey);
          await o.onEasyDkimKey?.(key);
        },
      });
      closers.push(() => emulator.close());
      return emulator;
    };
    const emulator =
      options.emulator === false ? undefined : await startEmulator(options.emulator ?? {});
    return {
      servers,
      addresses,
      emulator,
      amazonses,
      startEmulator,
      startGitHub: async (o) => {
        const github = await startGitHubFake(o);
        closers.push(() => github.close());
        return github;
      },
      onClose: (c) => closers.push(c),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
