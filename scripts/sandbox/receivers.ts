/**
 * Receiver populations (docs/design.md#dmarc-aggregate-reports): each
 * verifies every message the sandbox sends with its own resolver cache
 * (answers kept for their TTL, negative ones for the SOA minimum), counts
 * per domain, selector and result, and once a day mails an aggregate report
 * in its own shape: Google-like zip, Outlook.com-like gzip with namespaces,
 * Yahoo-like gzip with upper-case results and `human_result`.
 *
 * Faults (with `--faults`): one population caches "no such record" for each
 * new selector for two days whatever the SOA says (a stale cache: the
 * `reports` alarm must fire), and the report store receives a truncated
 * report, a malformed one and one without selectors (each a logged skip).
 *
 * The reports reach the engine's `reports` command through the same port
 * its S3 adapter implements (`DmarcReportSourcePort`), held in memory here:
 * the emulator has no S3 on this branch.
 */
import { gzipSync } from "node:zlib";
import { zipSync, strToU8 } from "fflate";
import { DAY_MS, isoDate } from "../../actions/dkim-rotation/src/engine/clock";
import type { DkimResult } from "../../actions/dkim-rotation/src/engine/dmarc-report";
import type {
  DmarcReportSourcePort,
  ReportObject,
} from "../../actions/dkim-rotation/src/engine/dmarc";
import { resolveCached, type TxtAnswer } from "./mail";

export interface ReceiverVerify {
  (
    raw: Uint8Array,
    domain: string,
    answers: Record<string, TxtAnswer>,
    at: number,
  ): Promise<{
    verdict: "pass" | "unsigned" | "fail";
  }>;
}

interface Population {
  name: string;
  shape: "google" | "outlook" | "yahoo";
  /** Holds NXDOMAIN for a selector it has not seen for this long (the stale-cache fault). */
  staleNewSelectorMs?: number;
  cache: Map<string, { until: number; answer: TxtAnswer }>;
  seenSelectors: Set<string>;
  /** day → domain → selector → result → messages */
  counts: Map<string, Map<string, Map<string, Map<DkimResult, number>>>>;
}

/** The in-memory report store: what the rua rule's S3 prefix would hold. */
export class MemoryReports implements DmarcReportSourcePort {
  readonly where = "sandbox://dmarc/";
  private readonly objects = new Map<string, Uint8Array>();
  private readonly processed = new Set<string>();
  put(key: string, body: Uint8Array): void {
    this.objects.set(key, body);
  }
  async list(): Promise<ReportObject[]> {
    return [...this.objects]
      .filter(([k]) => !this.processed.has(k))
      .map(([key, v]) => ({ key, size: v.length }));
  }
  async read(key: string): Promise<Uint8Array> {
    return this.objects.get(key)!;
  }
  async markProcessed(key: string): Promise<void> {
    this.processed.add(key);
  }
}

export interface ReceiversOptions {
  resolverAddress: string;
  verify: ReceiverVerify;
  faults: boolean;
  store: MemoryReports;
}

export class Receivers {
  readonly populations: Population[];
  private serial = 0;
  private faultsSent = false;
  constructor(private readonly opts: ReceiversOptions) {
    const make = (name: string, shape: Population["shape"], stale?: number): Population => ({
      name,
      shape,
      ...(stale ? { staleNewSelectorMs: stale } : {}),
      cache: new Map(),
      seenSelectors: new Set(),
      counts: new Map(),
    });
    this.populations = [
      make("gmail.example", "google"),
      make("outlook.example", "outlook"),
      make("yahoo.example", "yahoo"),
      ...(opts.faults ? [make("stale-isp.example", "yahoo", 2 * DAY_MS)] : []),
    ];
  }

  /** Every message, as it reaches each population. */
  async receive(
    raw: Uint8Array,
    domain: string,
    names: string[],
    at: number,
    /** The sandbox's own verification of this message: reused where a population saw the same DNS. */
    seen: { answers: Record<string, TxtAnswer>; verdict: Promise<{ verdict: string }> },
  ): Promise<void> {
    const verdicts = new Map<string, Promise<{ verdict: string }>>([
      [JSON.stringify(seen.answers), seen.verdict],
    ]);
    const work = this.populations.map(async (p) => {
      const answers: Record<string, TxtAnswer> = {};
      for (const name of names) answers[name] = await this.resolve(p, name, at);
      // Populations that saw the same DNS reach the same verdict: verify once.
      const key = JSON.stringify(answers);
      let v = verdicts.get(key);
      if (!v) {
        v = this.opts.verify(raw, domain, answers, at);
        verdicts.set(key, v);
      }
      const { verdict } = await v;
      const ours = names.find((n) => n.endsWith(`._domainkey.${domain}`));
      if (!ours) return;
      const selector = ours.split("._domainkey.")[0]!;
      const result: DkimResult =
        verdict === "pass" ? "pass" : verdict === "unsigned" ? "none" : "fail";
      const day = isoDate(new Date(at));
      const byDomain = p.counts.get(day) ?? new Map();
      p.counts.set(day, byDomain);
      const bySel = byDomain.get(domain) ?? new Map();
      byDomain.set(domain, bySel);
      const byResult = bySel.get(selector) ?? new Map();
      bySel.set(selector, byResult);
      byResult.set(result, (byResult.get(result) ?? 0) + 1);
    });
    await Promise.all(work);
  }

  private async resolve(p: Population, name: string, now: number): Promise<TxtAnswer> {
    const hit = p.cache.get(name);
    if (hit && hit.until > now) return hit.answer;
    if (p.staleNewSelectorMs && !p.seenSelectors.has(name)) {
      // It asked before the record existed and keeps that answer far past the SOA minimum.
      p.seenSelectors.add(name);
      p.cache.set(name, { until: now + p.staleNewSelectorMs, answer: "ENOTFOUND" });
      return "ENOTFOUND";
    }
    p.seenSelectors.add(name);
    return resolveCached(p.cache, this.opts.resolverAddress, name, now);
  }

  /** Mail each population's reports for the days before `now` into the store. */
  sendReports(now: number): number {
    const today = isoDate(new Date(now));
    let sent = 0;
    for (const p of this.populations) {
      for (const [day, byDomain] of [...p.counts]) {
        if (day >= today) continue;
        p.counts.delete(day);
        for (const [domain, bySel] of byDomain) {
          const xml = reportXml(p, day, domain, bySel, ++this.serial);
          const body =
            p.shape === "google"
              ? zipSync({ [`${p.name}!${domain}!${day}.xml`]: strToU8(xml) })
              : gzipSync(xml);
          this.opts.store.put(`dmarc/${day}-${p.name}-${domain}-${this.serial}`, body);
          sent++;
        }
      }
    }
    if (this.opts.faults && sent && !this.faultsSent) {
      // Once: what a receiver may send that must be skipped, not counted.
      this.faultsSent = true;
      const some = gzipSync(
        `<?xml version="1.0"?><feedback><report_metadata><org_name>truncated.example</org_name>`.repeat(
          40,
        ),
      );
      this.opts.store.put(`dmarc/${today}-truncated`, some.subarray(0, some.length - 30));
      this.opts.store.put(
        `dmarc/${today}-malformed`,
        gzipSync("<feedback><report_metadata></feedback>"),
      );
      this.opts.store.put(
        `dmarc/${today}-no-selector`,
        gzipSync(
          `<feedback><report_metadata><org_name>legacy.example</org_name><report_id>legacy-1</report_id><date_range><begin>${Math.floor(now / 1000) - 86400}</begin><end>${Math.floor(now / 1000) - 1}</end></date_range></report_metadata><policy_published><domain>example.jp</domain></policy_published><record><row><source_ip>192.0.2.1</source_ip><count>4</count></row><auth_results><dkim><domain>example.jp</domain><result>pass</result></dkim></auth_results></record></feedback>`,
        ),
      );
      sent += 3;
    }
    return sent;
  }
}

function reportXml(
  p: Population,
  day: string,
  domain: string,
  bySel: Map<string, Map<DkimResult, number>>,
  serial: number,
): string {
  const begin = Date.parse(`${day}T00:00:00Z`) / 1000;
  const end = begin + DAY_MS / 1000 - 1;
  const up = p.shape === "yahoo";
  const rows = [...bySel].flatMap(([selector, byResult]) =>
    [...byResult].map(
      ([result, count]) =>
        `<record><row><source_ip>198.51.100.25</source_ip><count>${count}</count><policy_evaluated><disposition>none</disposition><dkim>${result === "pass" ? "pass" : "fail"}</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>${domain}</header_from></identifiers><auth_results><dkim><domain>${domain}</domain><selector>${selector}</selector><result>${up ? result.toUpperCase() : result}</result>${up ? "<human_result></human_result>" : ""}</dkim><spf><domain>amazonses.com</domain><result>pass</result></spf></auth_results></record>`,
    ),
  );
  const open =
    p.shape === "outlook"
      ? `<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><version>1.0</version>`
      : "<feedback>";
  return `<?xml version="1.0" encoding="UTF-8"?>\n${open}<report_metadata><org_name>${p.name}</org_name><email>dmarc@${p.name}</email><report_id>${p.name}-${serial}</report_id><date_range><begin>${begin}</begin><end>${end}</end></date_range></report_metadata><policy_published><domain>${domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><pct>100</pct></policy_published>${rows.join("")}</feedback>`;
}
