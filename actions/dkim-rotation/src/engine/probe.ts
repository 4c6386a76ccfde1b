/**
 * A real signature before every swap (docs/design.md#invariant-1-no-swap-without-dns).
 *
 * Comparing `p=` with the stored key proves the right key is published, not
 * that receivers will accept signatures made with it: a record whose other
 * tags are wrong (`k=` not rsa, `h=` without sha256, `s=` without email, a
 * syntax error) passes the comparison and fails every verifier. So the
 * activator signs a probe message with the decrypted key and verifies it with
 * mailauth's DKIM verifier (RFC 6376 §6), once per authoritative nameserver,
 * resolving the key record from that server's own answer.
 *
 * The probe never leaves this process; only verdicts are reported.
 */
// mailauth's DKIM modules only: its index also loads SPF, DMARC, ARC sealing
// and BIMI (VMC certificates), which the probe never uses (docs/design.md#action-bundle).
import { dkimSign } from "mailauth/lib/dkim/sign";
import { dkimVerify } from "mailauth/lib/dkim/verify";
import { sesPrivateKeyToPem } from "./keys";
import type { NameserverCheck } from "./ports";

export interface ProbeResult {
  server: string;
  /** mailauth's result: pass, fail, neutral, temperror, permerror, or none (no signature checked). */
  result: string;
  /** mailauth's comment, e.g. "bad signature" or "unsupported key type". */
  detail: string;
}

export interface ProbeReport {
  ok: boolean;
  results: ProbeResult[];
}

interface DkimResult {
  signingDomain?: string;
  selector?: string;
  status?: { result?: string; comment?: string };
}

function probeMessage(domain: string, at: Date): Buffer {
  const address = `dkim-probe@${domain}`;
  return Buffer.from(
    [
      `From: ${address}`,
      `To: ${address}`,
      `Subject: DKIM activation probe`,
      `Date: ${at.toUTCString()}`,
      `Message-ID: <probe-${at.getTime()}@${domain}>`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "",
      "This message is signed and verified inside the activation job; it is never sent.",
      "",
    ].join("\r\n"),
  );
}

/**
 * One rsa-sha256 relaxed/relaxed DKIM-Signature, as SES signs (mailauth's
 * signer; `privateKey` is PEM). The probe and the emulator's SES both sign here.
 */
export function signRelaxed(
  raw: Buffer,
  key: DkimSigner & { at: Date },
): Promise<{ signatures: string; errors?: { message: string }[] }> {
  return signRelaxedAll(raw, [key], key.at);
}

export interface DkimSigner {
  domain: string;
  selector: string;
  privateKey: string | Buffer;
}

/**
 * Several signatures in one pass over the message (the emulated SES signs
 * with the identity's key and amazonses.com's): the header lines come out in
 * `signers`' order, byte for byte what signing one after the other (last
 * signer first) prepends, since neither signs the other's DKIM-Signature.
 */
export function signRelaxedAll(
  raw: Buffer,
  signers: readonly DkimSigner[],
  at: Date,
): Promise<{ signatures: string; errors?: { message: string }[] }> {
  const signatureData = signers.map((k) => ({
    signingDomain: k.domain,
    selector: k.selector,
    privateKey: k.privateKey,
    algorithm: "rsa-sha256",
    canonicalization: "relaxed/relaxed",
  }));
  return dkimSign(raw, {
    ...signatureData[0],
    algorithm: "rsa-sha256",
    canonicalization: "relaxed/relaxed",
    signTime: at,
    signatureData,
  } as Parameters<typeof dkimSign>[1]);
}

/** Sign once, then verify against each server's answer (as `DnsPort.verify` recorded it). */
export async function probeSignature(
  domain: string,
  selector: string,
  sesPrivateKey: string,
  servers: NameserverCheck[],
  now: Date,
): Promise<ProbeReport> {
  const raw = probeMessage(domain, now);
  // A Buffer, not a string: it is zeroed after signing, and no string copy of the key is made.
  const pem = Buffer.from(sesPrivateKeyToPem(sesPrivateKey));
  let signatures: string;
  try {
    const signed = await signRelaxed(raw, { domain, selector, privateKey: pem, at: now });
    if (signed.errors?.length) {
      const why = signed.errors.map((e) => e.message).join("; ");
      return {
        ok: false,
        results: servers.map((s) => ({
          server: s.server,
          result: "none",
          detail: `signing failed: ${why}`,
        })),
      };
    }
    signatures = signed.signatures;
  } finally {
    pem.fill(0);
  }
  const message = Buffer.concat([Buffer.from(signatures), raw]);
  const results = (await verifyAgainstServers(message, domain, selector, servers, now)).map(
    ({ server, result, detail }) => ({ server, result, detail }),
  );
  return { ok: results.length > 0 && results.every((r) => r.result === "pass"), results };
}

export interface ServerVerdict extends ProbeResult {
  /** The selectors of every d=<domain> signature the message carries (the canary names a wrong one). */
  domainSelectors: string[];
}

/**
 * Verify `message`'s signature of `domain` with `selector` against each
 * server's own answer (as `DnsPort.verify` recorded it): the one check the
 * probe (a message signed here) and the canary (a message SES signed) share.
 * Other signatures (SES's amazonses.com one, another selector) resolve to
 * nothing and are not ours to judge.
 */
export async function verifyAgainstServers(
  message: Buffer,
  domain: string,
  selector: string,
  servers: readonly NameserverCheck[],
  now: Date,
): Promise<ServerVerdict[]> {
  const owner = `${selector}._domainkey.${domain}`.toLowerCase();
  const results: ServerVerdict[] = [];
  for (const server of servers) {
    if (server.value === undefined) {
      results.push({
        server: server.server,
        result: "none",
        detail: "the server gave no record to verify against",
        domainSelectors: [],
      });
      continue;
    }
    const answer = server.value;
    const resolver = async (name: string, rr: string) => {
      if (rr === "TXT" && name.toLowerCase().replace(/\.$/, "") === owner) return [[answer]];
      throw Object.assign(new Error(`no ${rr} for ${name}`), { code: "ENOTFOUND" });
    };
    const verdict = await dkimVerify(message, {
      resolver,
      curTime: now,
    } as Parameters<typeof dkimVerify>[1]);
    const all = (verdict.results ?? []) as DkimResult[];
    const ours = all.find((r) => r.signingDomain === domain && r.selector === selector);
    results.push({
      server: server.server,
      result: ours?.status?.result ?? "none",
      detail:
        ours?.status?.comment ?? (ours ? "" : "the verifier found no signature of the domain"),
      domainSelectors: all
        .filter((r) => r.signingDomain === domain && r.selector)
        .map((r) => r.selector!),
    });
  }
  return results;
}
