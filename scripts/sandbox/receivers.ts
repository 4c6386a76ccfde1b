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
 * Each report is mailed, as a receiver does, to the domain's `rua` address:
 * a MIME message with the report attached, handed to SES's inbound endpoint
 * (the emulator's `ses.receive`), whose rua rule stores it in S3; the
 * engine's `reports` command reads it there with its own S3 adapter.
 */
import { gzipSync } from "node:zlib";
import { zipSync, strToU8 } from "fflate";
import { DAY_MS, isoDate } from "../../actions/dkim-rotation/src/engine/clock";
import type { DkimResult } from "../../actions/dkim-rotation/src/engine/dmarc-report";
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

/** Where a receiver's report goes: the rua mailbox (one report per message). */
export interface ReportMailbox {
  /** `name`: the attachment's file name, as receivers name theirs. */
  send(name: string, body: Uint8Array, at: number): void;
}

/**
 * A report as receivers mail it (RFC 7489 section 7.2.1.1: the report is a
 * MIME attachment, gzip or zip), delivered to SES's inbound endpoint for
 * `rua`; SES receiving stores the whole message under the rule's prefix.
 */
export function sesInboundMailbox(
  receive: (raw: Buffer, recipients: readonly string[], at: Date) => unknown[],
  rua: string,
): ReportMailbox {
  return {
    send(name, body, at) {
      const boundary = `report-${name.replace(/[^A-Za-z0-9]/g, "")}`;
      const type = name.endsWith(".zip") ? "application/zip" : "application/gzip";
      const b64 = Buffer.from(body).toString("base64").replace(/.{76}/g, "$&\r\n");
      const raw = Buffer.from(
        [
          `From: noreply-dmarc-support@receiver.example`,
          `To: ${rua}`,
          `Subject: Report Domain: ${name}`,
          `Date: ${new Date(at).toUTCString()}`,
          `MIME-Version: 1.0`,
          `Content-Type: multipart/mixed; boundary="${boundary}"`,
          ``,
          `--${boundary}`,
          `Content-Type: text/plain; charset=us-ascii`,
          ``,
          `This is an aggregate report.`,
          `--${boundary}`,
          `Content-Type: ${type}; name="${name}"`,
          `Content-Disposition: attachment; filename="${name}"`,
          `Content-Transfer-Encoding: base64`,
          ``,
          b64,
          `--${boundary}--`,
          ``,
        ].join("\r\n"),
        "latin1",
      );
      if (!receive(raw, [rua], new Date(at)).length)
        throw new Error(`SES receiving stored nothing for ${rua}: no active rule names it`);
    },
  };
}

export interface ReceiversOptions {
  resolverAddress: string;
  verify: ReceiverVerify;
  faults: boolean;
  mailbox: ReportMailbox;
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
          this.opts.mailbox.send(
            `${p.name}!${domain}!${day}!${this.serial}${p.shape === "google" ? ".zip" : ".xml.gz"}`,
            body,
            now,
          );
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
      this.opts.mailbox.send(
        `truncated.example!${today}.xml.gz`,
        some.subarray(0, some.length - 30),
        now,
      );
      this.opts.mailbox.send(
        `malformed.example!${today}.xml.gz`,
        gzipSync("<feedback><report_metadata></feedback>"),
        now,
      );
      this.opts.mailbox.send(
        `legacy.example!${today}.xml.gz`,
        gzipSync(
          `<feedback><report_metadata><org_name>legacy.example</org_name><report_id>legacy-1</report_id><date_range><begin>${Math.floor(now / 1000) - 86400}</begin><end>${Math.floor(now / 1000) - 1}</end></date_range></report_metadata><policy_published><domain>example.jp</domain></policy_published><record><row><source_ip>192.0.2.1</source_ip><count>4</count></row><auth_results><dkim><domain>example.jp</domain><result>pass</result></dkim></auth_results></record></feedback>`,
        ),
        now,
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
