// Preload for a child process (node --import): Node's key pair generation
// throws, so a test can prove the plan job makes no key itself (issue 12).
import crypto from "node:crypto";
import { syncBuiltinESMExports } from "node:module";

const refuse = () => {
  throw new Error("RSA key generation is disabled in this process");
};
crypto.generateKeyPair = (...args) => {
  const callback = args.at(-1);
  if (typeof callback === "function")
    return callback(new Error("RSA key generation is disabled in this process"));
  refuse();
};
crypto.generateKeyPairSync = refuse;
const subtle = crypto.webcrypto.subtle;
const generateKey = subtle.generateKey.bind(subtle);
subtle.generateKey = async (algorithm, ...rest) => {
  if (/^RSA/i.test(String(algorithm?.name ?? algorithm))) refuse();
  return generateKey(algorithm, ...rest);
};
syncBuiltinESMExports();
