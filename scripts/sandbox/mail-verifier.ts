/**
 * Worker thread: verifies DKIM signatures with mailauth, off the main thread.
 *
 * The sandbox resolves the DNS answers at send time (against its loopback
 * servers, through a TTL cache like a recipient's resolver) and hands them in
 * with the message, so the verdict is the one a receiver would have reached
 * at that moment, even though the CPU work happens a little later.
 */
import { parentPort } from "node:worker_threads";
import { dkimVerify } from "mailauth";
import { cacheMailauthKeyParsing } from "./key-cache";

cacheMailauthKeyParsing();

export interface VerifyRequest {
  id: number;
  raw: Uint8Array;
  domain: string;
  /** TXT answers by lower-case name, or a Node DNS error code. */
  answers: Record<string, string[][] | "ENOTFOUND" | "ENODATA">;
  curTime: number;
}

export interface VerifyResponse {
  id: number;
  /** pass: a passing signature of the domain; unsigned: none of the domain; fail: present and not passing. */
  verdict: "pass" | "unsigned" | "fail";
  detail?: string;
}

interface DkimResult {
  signingDomain?: string;
  status?: { result?: string; comment?: string };
}

async function verifyOne(req: VerifyRequest): Promise<VerifyResponse> {
  const resolver = async (name: string, rr: string) => {
    const answer = req.answers[name.toLowerCase().replace(/\.$/, "")];
    if (rr !== "TXT" || answer === undefined)
      throw Object.assign(new Error(`no ${rr} for ${name}`), { code: "ENOTFOUND" });
    if (typeof answer === "string") throw Object.assign(new Error(answer), { code: answer });
    return answer;
  };
  try {
    const result = await dkimVerify(Buffer.from(req.raw), {
      resolver,
      curTime: new Date(req.curTime),
    } as Parameters<typeof dkimVerify>[1]);
    const ours = ((result.results ?? []) as DkimResult[]).filter(
      (r) => r.signingDomain === req.domain,
    );
    if (!ours.length) return { id: req.id, verdict: "unsigned" };
    if (ours.some((r) => r.status?.result === "pass")) return { id: req.id, verdict: "pass" };
    return {
      id: req.id,
      verdict: "fail",
      detail: `${ours[0]?.status?.result}: ${ours[0]?.status?.comment ?? ""}`,
    };
  } catch (err) {
    return { id: req.id, verdict: "fail", detail: `verifier error: ${(err as Error).message}` };
  }
}

// Requests come in batches (mail.ts); each batch's verdicts go back together.
parentPort?.on("message", async (batch: VerifyRequest[]) => {
  const out: VerifyResponse[] = [];
  for (const req of batch) out.push(await verifyOne(req));
  parentPort!.postMessage(out);
});
