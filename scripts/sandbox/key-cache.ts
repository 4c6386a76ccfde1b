/**
 * mailauth parses the PEM text of a key on every message it signs or verifies
 * (its `getPrivateKey` and `getPublicKey` call `crypto.createPrivateKey` and
 * `crypto.createPublicKey` each time). The sandbox signs (the emulated SES)
 * and verifies (the receiver) about 10,000 messages with a handful of keys,
 * and parsing was the largest single cost of its mail stream. This parses
 * each PEM once per thread: a KeyObject is immutable, so the same text gives
 * an equal key either way, and a text that does not parse still throws on
 * every call (errors are not cached).
 *
 * Only mailauth's shape of call is cached (`{ key, format: "pem" }` with no
 * other option), and only callers that read the functions from the CommonJS
 * `node:crypto` object at call time see it (mailauth does); ES module imports
 * of `node:crypto` keep the original functions.
 */
import { createRequire } from "node:module";
import type { KeyObject } from "node:crypto";

type KeyFactory = (input: unknown) => KeyObject;

const require = createRequire(import.meta.url);
let installed = false;

function cached(original: KeyFactory): KeyFactory {
  const keys = new Map<string, KeyObject>();
  return (input: unknown) => {
    if (typeof input !== "object" || input === null) return original(input);
    const o = input as { key?: unknown; format?: unknown };
    const fields = Object.keys(o);
    if (o.format !== "pem" || fields.length !== 2 || !("key" in o)) return original(input);
    const text =
      typeof o.key === "string" ? o.key : Buffer.isBuffer(o.key) ? o.key.toString("latin1") : null;
    if (text === null) return original(input);
    let key = keys.get(text);
    if (!key) keys.set(text, (key = original(input)));
    return key;
  };
}

/** Parse each PEM once in this thread (idempotent). */
export function cacheMailauthKeyParsing(): void {
  if (installed) return;
  installed = true;
  const crypto = require("node:crypto") as {
    createPrivateKey: KeyFactory;
    createPublicKey: KeyFactory;
  };
  crypto.createPrivateKey = cached(crypto.createPrivateKey.bind(crypto));
  crypto.createPublicKey = cached(crypto.createPublicKey.bind(crypto));
}
