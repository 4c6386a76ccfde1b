/**
 * What every command is handed: the config, the ports (adapters implement
 * them), the clock, the logger and the text of record PRs. The front ends (the
 * action, the CLI, the sandbox) build one; the commands in plan.ts, verify.ts,
 * activate.ts and retire.ts read it and nothing else.
 */
import type { Clock } from "./clock";
import type { IdentityConfig, ProjectConfig } from "./config";
import { plaintextAllowed } from "./custody";
import { InputError } from "./errors";
import type { RollbackTarget, RotationDates } from "./lifecycle";
import type { Notices } from "./notify";
import type {
  CanaryPort,
  ChangeRequestPort,
  DnsPort,
  DnsPublisherPort,
  KeyStorePort,
  MetricsPort,
  SesPort,
  StoredKey,
} from "./ports";
import type { RecordSource } from "./records";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Long work reports progress; front ends decide how to show it. */
  progress(label: string, done: number, total: number): void;
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, progress: () => {} };

export interface LockPort {
  /** Take the per-domain lock or throw LockedError; returns the release function. */
  acquire(domain: string, purpose: string): Promise<() => Promise<void>>;
}

export class LockedError extends Error {
  constructor(domain: string, holder: string) {
    super(
      `${domain}: another run holds the lock (${holder}); refusing to run two activations at once`,
    );
    this.name = "LockedError";
  }
}

/** Text for a record PR; the action renders Markdown for the DNS team, the CLI plain text. */
export interface ChangeText {
  rotation(info: RotationInfo): { title: string; body: string };
  /** One PR carrying several records (records-per-pr); absent: their bodies one after another. */
  rotationBatch?(infos: RotationInfo[]): { title: string; body: string };
  retirement(info: { domain: string; selector: string; activeSelector?: string; path: string }): {
    title: string;
    body: string;
  };
}

/** A rotation as its record PR and notices tell it; its dates from lifecycle rotationDates. */
export interface RotationInfo extends RotationDates {
  identity: IdentityConfig;
  selector: string;
  previousSelector?: string;
  /** Where a failed activation of this key goes back to, said plainly in the PR (invariant 2). */
  rollback: RollbackTarget;
  path: string;
  recordFileText: string;
  joinedValue: string;
  /** `sha256:<hex>` of the public key (SPKI DER): the record file's `; fingerprint:` line. */
  fingerprint: string;
  nameservers: string[];
}

export interface EngineContext {
  config: ProjectConfig;
  ses: SesPort;
  keys: KeyStorePort;
  dns: DnsPort;
  records: RecordSource;
  changes: ChangeRequestPort;
  metrics?: MetricsPort;
  lock?: LockPort;
  clock: Clock;
  log: Logger;
  /** Called synchronously the moment private key material exists in this process. */
  onSecret: (secret: string) => void;
  /** The text of record PRs: Markdown in the action, plain text in the CLI (both outside the engine). */
  changeText: ChangeText;
  /** Activation polling: SES usually verifies in minutes; bounded so a job never hangs. */
  activation?: { pollIntervalMs: number; timeoutMs: number };
  /** The canary's mail path; used only when the stack file has a `canary:` block (docs/design.md#canary). */
  canary?: CanaryPort;
  /** How many identities are gathered at once (SES calls are paced anyway). */
  concurrency?: number;
  /** Messages to the DNS team and the approvers (SNS); none are sent without it. */
  notices?: Notices;
  /**
   * The publisher of an identity whose `publisher` is not `manual`; the
   * front end builds it with its client and its TSIG secret.
   */
  publisherFor?: (identity: IdentityConfig) => DnsPublisherPort;
}

export function findIdentity(
  config: ProjectConfig,
  domain: string,
  source = "argv",
): IdentityConfig {
  const identity = config.identities.find((i) => i.domain === domain);
  if (!identity) {
    throw new InputError({
      file: source,
      identity: domain,
      field: "domain",
      problem: `is not an identity in ${config.file}`,
      hint: `configured: ${config.identities.map((i) => i.domain).join(", ")}`,
    });
  }
  return identity;
}

/** Read a stored key's private half, plaintext only where its custody allows it (custody.ts). */
export async function readKey(
  ctx: EngineContext,
  identity: IdentityConfig,
  key: StoredKey,
): Promise<string> {
  const secret = await ctx.keys.readPrivateKey(identity.domain, key.selector, {
    plaintext: plaintextAllowed(identity, key),
  });
  ctx.onSecret(secret);
  return secret;
}

export async function withLock<T>(
  ctx: EngineContext,
  domain: string,
  purpose: string,
  fn: () => Promise<T>,
): Promise<T> {
  if (!ctx.lock) return fn();
  const release = await ctx.lock.acquire(domain, purpose);
  try {
    return await fn();
  } finally {
    await release();
  }
}
