/**
 * SES (API v2) adapter: reads an identity's DKIM state and imports a BYODKIM
 * key, one `SESv2Client` per Region (DKIM is configured per Region), every
 * call paced to SES's 1 request/s per account and Region.
 *
 * `putExternalKey` checks the key and the selector locally first. SES has
 * been reported to accept a PKCS#8 key or a base64'd PEM file and then never
 * verify it — which would leave mail unsigned for 72 h and then FAILED — so
 * anything but base64 PKCS#1 DER of 1024/2048 bits is refused before the call.
 */
import {
  GetEmailIdentityCommand,
  PutEmailIdentityDkimSigningAttributesCommand,
  SESv2Client,
  type GetEmailIdentityCommandOutput,
  type SESv2ClientConfig,
} from "@aws-sdk/client-sesv2";
import { RefusalError } from "../engine/errors";
import { KeyFormatError, parseSesPrivateKey } from "../engine/keys";
import type { SesDkimStatus, SesIdentityState, SesPort } from "../engine/ports";
import { isValidSelector, SES_SELECTOR_MAX } from "../engine/selector";
import { pacerKey, RegionPacer } from "./pacer";

export interface SesAdapterOptions {
  /** One client per Region the identities live in. */
  clients: ReadonlyMap<string, SESv2Client> | Readonly<Record<string, SESv2Client>>;
  /**
   * Shared with every other SES caller in this process. Default: a new
   * 1 request/s pacer. Installed into each client's middleware stack.
   */
  pacer?: RegionPacer;
  /** Part of the pacing key (SES's limit is per account and Region). */
  account?: string;
}

const STATUSES: readonly SesDkimStatus[] = [
  "PENDING",
  "SUCCESS",
  "FAILED",
  "TEMPORARY_FAILURE",
  "NOT_STARTED",
];

function asStatus(s: string | undefined): SesDkimStatus | undefined {
  return STATUSES.find((x) => x === s);
}

export class SesAdapter implements SesPort {
  private readonly clients: ReadonlyMap<string, SESv2Client>;
  private readonly pacer: RegionPacer;

  constructor(options: SesAdapterOptions) {
    this.clients =
      options.clients instanceof Map
        ? options.clients
        : new Map(Object.entries(options.clients as Record<string, SESv2Client>));
    this.pacer = options.pacer ?? new RegionPacer({ requestsPerSecond: 1 });
    for (const [region, client] of this.clients)
      installPacer(client, this.pacer, pacerKey(region, options.account));
  }

  private client(region: string): SESv2Client {
    const client = this.clients.get(region);
    if (!client)
      throw new Error(
        `no SES client for Region ${region} (configured: ${[...this.clients.keys()].join(", ") || "none"})`,
      );
    return client;
  }

  async getIdentity(region: string, domain: string): Promise<SesIdentityState> {
    const client = this.client(region);
    let out: GetEmailIdentityCommandOutput;
    try {
      out = await client.send(new GetEmailIdentityCommand({ EmailIdentity: domain }));
    } catch (err) {
      if ((err as Error).name === "NotFoundException") {
        return { region, domain, exists: false, signingEnabled: false, tokens: [] };
      }
      throw err;
    }
    const dkim = out.DkimAttributes;
    const info = out.VerificationInfo;
    const status = asStatus(dkim?.Status);
    if (!status) {
      // An identity that exists always carries DkimAttributes.Status (SES v2
      // GetEmailIdentity). Guessing at a missing or new value would let the
      // planner (or an activation's poll, which would wait out its timeout)
      // act on a state nobody checked, so stop here in one line.
      const what = !dkim
        ? "no DkimAttributes"
        : dkim.Status === undefined
          ? "no DkimAttributes.Status"
          : `an unknown DkimAttributes.Status "${String(dkim.Status).slice(0, 40)}"`;
      throw new RefusalError(
        domain,
        `SES ${region} answered GetEmailIdentity with ${what} (expected one of ${STATUSES.join(", ")}); refusing to act on a DKIM state this tool does not understand`,
      );
    }
    return {
      region,
      domain,
      exists: true,
      signingEnabled: dkim?.SigningEnabled ?? false,
      status,
      tokens: dkim?.Tokens ?? [],
      ...(dkim?.SigningAttributesOrigin ? { origin: dkim.SigningAttributesOrigin } : {}),
      ...(dkim?.SigningHostedZone ? { signingHostedZone: dkim.SigningHostedZone } : {}),
      ...(info?.LastCheckedTimestamp ? { lastCheckedAt: info.LastCheckedTimestamp } : {}),
      ...(info?.LastSuccessTimestamp ? { lastSuccessAt: info.LastSuccessTimestamp } : {}),
      ...(info?.ErrorType ? { errorType: info.ErrorType } : {}),
    };
  }

  async putExternalKey(
    region: string,
    domain: string,
    selector: string,
    sesPrivateKey: string,
  ): Promise<{ status?: SesDkimStatus; tokens: string[] }> {
    const refuse = (why: string): never => {
      throw new RefusalError(domain, `refusing to import ${selector} into SES ${region}: ${why}`);
    };
    if (!isValidSelector(selector)) {
      refuse(
        `selector must be 1–${SES_SELECTOR_MAX} letters, digits or inner hyphens (no dots or underscores)`,
      );
    }
    try {
      parseSesPrivateKey(sesPrivateKey);
    } catch (err) {
      // The message describes the format only; it never contains key material.
      if (err instanceof KeyFormatError) refuse(err.message);
      throw err;
    }
    const client = this.client(region);
    const out = await client.send(
      new PutEmailIdentityDkimSigningAttributesCommand({
        EmailIdentity: domain,
        SigningAttributesOrigin: "EXTERNAL",
        SigningAttributes: {
          DomainSigningSelector: selector,
          DomainSigningPrivateKey: sesPrivateKey,
        },
      }),
    );
    const status = asStatus(out.DkimStatus);
    return { ...(status ? { status } : {}), tokens: out.DkimTokens ?? [] };
  }

  async useEasyDkim(
    region: string,
    domain: string,
  ): Promise<{ status?: SesDkimStatus; tokens: string[] }> {
    const out = await this.client(region).send(
      new PutEmailIdentityDkimSigningAttributesCommand({
        EmailIdentity: domain,
        SigningAttributesOrigin: "AWS_SES",
      }),
    );
    const status = asStatus(out.DkimStatus);
    return { ...(status ? { status } : {}), tokens: out.DkimTokens ?? [] };
  }
}

export const PACER_MIDDLEWARE = "dkimRotationRegionPacer";

/**
 * Make every attempt of every call through `client` (retries included) wait
 * for its slot right before it is signed and sent. Installing again on the
 * same client replaces the previous pacer (named middleware, override).
 */
export function installPacer(client: SESv2Client, pacer: RegionPacer, key: string): void {
  const pace =
    <A, R>(next: (args: A) => Promise<R>) =>
    async (args: A): Promise<R> => {
      await pacer.acquire(key);
      return next(args);
    };
  client.middlewareStack.addRelativeTo(pace, {
    name: PACER_MIDDLEWARE,
    relation: "before",
    toMiddleware: "httpSigningMiddleware",
    override: true,
  });
}

export interface AwsClientsOptions {
  /**
   * The SDK's retry strategy instead of its adaptive mode: the sandbox scales
   * the backoff down as it scales SES's pacing (two years in a minute).
   */
  retryStrategy?: SESv2ClientConfig["retryStrategy"];
  /** Regions that hold the SES identities. */
  regions: string[];
  /** Region of the key store and the metrics (the stack's home Region). Default: the first of `regions`. */
  homeRegion?: string;
  /** Custom endpoint (the sandbox emulator); AWS's own endpoints when absent. */
  endpoint?: string;
  /** Static credentials (the sandbox); the default provider chain (OIDC role) when absent. */
  credentials?: SESv2ClientConfig["credentials"];
  /** SDK attempts per call, including the first (default 5). */
  maxAttempts?: number;
  /**
   * Per-attempt socket timeout (default 30 s). Without it a connection that
   * AWS (or a proxy) holds open hangs the job until GitHub's job timeout; with
   * it the attempt fails and the SDK retries it.
   */
  requestTimeoutMs?: number;
}

/**
 * What every client of the project shares: the retry strategy, the
 * per-attempt timeout, the endpoint and the credentials. One derivation for
 * `createAwsClients` and for the action's clients made on first use (context.ts).
 */
export function awsClientConfig(options: Omit<AwsClientsOptions, "regions" | "homeRegion">) {
  return {
    // A given strategy replaces the SDK's adaptive mode (whose limiter and
    // backoff work in real seconds) and its attempt count.
    ...(options.retryStrategy
      ? { retryStrategy: options.retryStrategy }
      : { retryMode: "adaptive" as const, maxAttempts: options.maxAttempts ?? 5 }),
    // This SDK version only logs a warning on requestTimeout unless told to throw.
    requestHandler: {
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      throwOnRequestTimeout: true,
    },
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  };
}

/** Route 53 is global: the SDK signs for us-east-1 (AWS General Reference, Route 53 endpoints). */
export const ROUTE53_SIGNING_REGION = "us-east-1";
