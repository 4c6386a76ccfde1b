/**
 * The sandbox parses each PEM once per thread for mailauth (scripts/sandbox/key-cache.ts):
 * the same text gives the same key, a bad text throws every time, and any
 * other shape of call is not cached.
 */
import { generateKeyPairSync } from "node:crypto";
import { createRequire } from "node:module";
import { expect } from "chai";
import { cacheMailauthKeyParsing } from "../scripts/sandbox/key-cache";

const crypto = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto");

describe("sandbox key cache (mailauth's PEM parsing)", function () {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  before(() => cacheMailauthKeyParsing());

  it("parses a PEM once: mailauth's call shape returns the same key object, equal to a fresh parse", function () {
    const a = crypto.createPrivateKey({ key: Buffer.from(pem), format: "pem" });
    const b = crypto.createPrivateKey({ key: Buffer.from(pem), format: "pem" });
    expect(a).to.equal(b);
    expect(a.equals(privateKey)).to.equal(true);
    const pub = crypto.createPublicKey({ key: Buffer.from(pem), format: "pem" });
    expect(pub.type).to.equal("public");
    expect(crypto.createPublicKey({ key: Buffer.from(pem), format: "pem" })).to.equal(pub);
  });

  it("does not cache a failure, nor any other shape of call", function () {
    const bad = {
      key: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
      format: "pem" as const,
    };
    expect(() => crypto.createPrivateKey(bad)).to.throw();
    expect(() => crypto.createPrivateKey(bad)).to.throw();
    const other = () =>
      crypto.createPrivateKey({ key: pem, format: "pem", encoding: "utf8" } as Parameters<
        typeof crypto.createPrivateKey
      >[0]);
    expect(other()).to.not.equal(other());
    expect(crypto.createPrivateKey(pem)).to.not.equal(crypto.createPrivateKey(pem));
  });
});
