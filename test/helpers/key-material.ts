/**
 * The secret scan every test of a message, a log or an artifact uses: no PEM
 * private key, and no 40-character window of the private part of a key's
 * base64 forms.
 */
import { createPrivateKey } from "node:crypto";
import { expect } from "chai";

/** 40-character windows of the private part of a key's base64 forms (PKCS#1, PKCS#8, PEM): none may appear. */
export function keyFragments(sesPrivateKey: string): string[] {
  const key = createPrivateKey({
    key: Buffer.from(sesPrivateKey, "base64"),
    format: "der",
    type: "pkcs1",
  });
  const forms = [
    sesPrivateKey,
    key.export({ type: "pkcs8", format: "der" }).toString("base64"),
    key.export({ type: "pkcs1", format: "pem" }).toString(),
  ];
  const out: string[] = [];
  for (const f of forms) {
    const flat = f.replace(/-----[^-]+-----|\s/g, "");
    // From character 440 on: past the modulus (public, also in p=) into d, p, q….
    for (let i = 440; i + 40 <= flat.length; i += 40) out.push(flat.slice(i, i + 40));
  }
  return out;
}

export function expectNoKeyMaterial(texts: string[], sesPrivateKey: string, what: string) {
  const joined = texts.join("\n");
  expect(joined, `${what}: a PEM private key`).not.to.match(/PRIVATE KEY-----/);
  for (const fragment of keyFragments(sesPrivateKey))
    expect(joined.includes(fragment), `${what} contains private key material`).to.equal(false);
}
