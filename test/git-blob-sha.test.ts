/**
 * The adapter and the GitHub fake share one `gitBlobSha`, so the fake cannot
 * catch a wrong derivation by agreeing with it: git itself is the oracle.
 */
import { execFileSync } from "node:child_process";
import { expect } from "chai";
import { gitBlobSha } from "../actions/dkim-rotation/src/adapters/github";

describe("gitBlobSha", () => {
  const samples: [string, string | Buffer][] = [
    ["empty", ""],
    ["a record file", '; DKIM\nmail-20270104._domainkey IN TXT ( "v=DKIM1; k=rsa; " "p=MIIB" )\n'],
    ["multi-byte UTF-8", "選択子 → 鍵\n"],
    ["bytes that are not UTF-8", Buffer.from([0xff, 0x00, 0xfe, 0x0a])],
  ];
  for (const [name, content] of samples) {
    it(`matches git hash-object for ${name}`, () => {
      const want = execFileSync("git", ["hash-object", "--stdin"], { input: content })
        .toString()
        .trim();
      expect(gitBlobSha(content)).to.equal(want);
    });
  }
});
