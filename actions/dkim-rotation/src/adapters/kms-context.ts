/**
 * What the key store shares with KMS custody without loading the KMS client
 * (docs/design.md#action-bundle): the encryption context a wrapped key is
 * bound to, and custody's error.
 */
export function keyContext(domain: string, selector: string): Record<string, string> {
  return { domain, selector };
}

export class KmsCustodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KmsCustodyError";
  }
}
