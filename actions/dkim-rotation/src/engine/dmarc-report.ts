/**
 * DMARC aggregate reports: the archive a receiver mails to the `rua` address
 * (gzip, zip, or bare XML), decoded under a size cap, and the XML read into a
 * small model (docs/design.md#dmarc-aggregate-reports). Pure: bytes in, model
 * or a one-line refusal out; the adapter (adapters/dmarc-reports.ts) fetches.
 *
 * Strict where a report could hurt us: a cap on the compressed object and on
 * every byte inflated (a zip bomb stops at the cap, whatever its headers
 * claim), no DOCTYPE and no entity expansion. Tolerant where receivers differ
 * from RFC 7489 appendix C and RFC 9990: a missing selector, several DKIM
 * results per row, `human_result`, a namespace or none, upper-case results.
 */
import { Gunzip, Unzip, UnzipInflate } from "fflate";
import { XMLParser, XMLValidator } from "fast-xml-parser";

/** RFC 7489 appendix C `DKIMResultType`, kept by RFC 9990. */
export const DKIM_RESULTS = [
  "none",
  "pass",
  "fail",
  "policy",
  "neutral",
  "temperror",
  "permerror",
] as const;
export type DkimResult = (typeof DKIM_RESULTS)[number];

export interface DkimAuthResult {
  domain: string;
  /** Required by RFC 9990; optional in RFC 7489, and often absent in practice. */
  selector?: string;
  result: DkimResult;
}

export interface ReportRow {
  count: number;
  sourceIp?: string;
  headerFrom?: string;
  /** Every DKIM signature the receiver tried (RFC 9990), or what it chose to say. */
  dkim: DkimAuthResult[];
}

export interface AggregateReport {
  orgName: string;
  reportId: string;
  begin: Date;
  end: Date;
  /** `policy_published/domain`: the domain whose DMARC record asked for the report. */
  policyDomain: string;
  rows: ReportRow[];
  /** Non-conformance the parser tolerated, one short line each. */
  warnings: string[];
}

export interface ReportLimits {
  /** Cap on the object as stored and on the XML after decompression (`dmarcReports.maxReportBytes`). */
  maxBytes: number;
}

/** A report we refuse to read; `why` is one line for the log. */
export class ReportRejected extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = "ReportRejected";
  }
}

/** Input is fed to the inflaters this many bytes at a time, so no single step can outgrow the cap by much (deflate expands at most ~1032:1). */
const FEED_BYTES = 1024;

function feed(push: (chunk: Uint8Array, final: boolean) => void, data: Uint8Array): void {
  if (data.length === 0) push(data, true);
  for (let i = 0; i < data.length; i += FEED_BYTES)
    push(data.subarray(i, i + FEED_BYTES), i + FEED_BYTES >= data.length);
}

class Collector {
  private readonly parts: Uint8Array[] = [];
  private total = 0;
  done = false;
  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {}
  add(chunk: Uint8Array, final: boolean): void {
    this.total += chunk.length;
    if (this.total > this.max)
      throw new ReportRejected(
        `${this.what} inflates past ${this.max} bytes (maxReportBytes); not read further`,
      );
    this.parts.push(chunk);
    if (final) this.done = true;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.total);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function gunzip(data: Uint8Array, max: number): Uint8Array {
  const out = new Collector(max, "gzip stream");
  const gz = new Gunzip((chunk, final) => out.add(chunk, final));
  try {
    feed((c, f) => gz.push(c, f), data);
  } catch (err) {
    if (err instanceof ReportRejected) throw err;
    throw new ReportRejected(`gzip stream is corrupt or truncated (${(err as Error).message})`);
  }
  if (!out.done) throw new ReportRejected("gzip stream is truncated");
  return out.bytes();
}

function unzip(data: Uint8Array, max: number): Uint8Array {
  const files: { name: string; out: Collector }[] = [];
  let failure: Error | undefined;
  const uz = new Unzip((file) => {
    if (file.name.endsWith("/")) return; // a directory entry
    if (files.length >= 1) {
      failure = new ReportRejected(
        `zip holds more than one file (${files[0]!.name}, ${file.name}); a report is one XML file`,
      );
      return;
    }
    const out = new Collector(max, `zip entry ${file.name}`);
    files.push({ name: file.name, out });
    file.ondata = (err, chunk, final) => {
      if (failure) return;
      if (err) failure = new ReportRejected(`zip entry ${file.name} is corrupt (${err.message})`);
      else {
        try {
          out.add(chunk, final);
        } catch (e) {
          failure = e as Error;
          file.terminate();
        }
      }
    };
    file.start();
  });
  uz.register(UnzipInflate);
  try {
    for (let i = 0; i < data.length && !failure; i += FEED_BYTES)
      uz.push(data.subarray(i, i + FEED_BYTES), i + FEED_BYTES >= data.length);
  } catch (err) {
    if (err instanceof ReportRejected) throw err;
    throw new ReportRejected(`zip archive is corrupt (${(err as Error).message})`);
  }
  if (failure) throw failure;
  const file = files[0];
  if (!file) throw new ReportRejected("zip archive holds no file");
  if (!file.out.done) throw new ReportRejected(`zip entry ${file.name} is truncated`);
  return file.out.bytes();
}

const REPORT_TYPES = /^(application\/(gzip|x-gzip|zip|x-zip|x-zip-compressed|xml)|text\/xml)$/;
const REPORT_NAMES = /\.(xml|xml\.gz|gz|zip)$/i;

function headerParam(value: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\*?\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, "i").exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The first part of a MIME entity (latin1 text) that is a report, decoded; depth-limited. */
function findReportPart(entity: string, depth: number): Uint8Array | undefined {
  const split = /\r?\n\r?\n/.exec(entity);
  if (!split) return undefined;
  const head = entity.slice(0, split.index).replace(/\r?\n[ \t]+/g, " ");
  const body = entity.slice(split.index + split[0].length);
  const headers = new Map<string, string>();
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const type = headers.get("content-type") ?? "text/plain";
  const mediaType = type.split(";")[0]!.trim().toLowerCase();
  if (mediaType.startsWith("multipart/")) {
    const boundary = headerParam(type, "boundary");
    if (!boundary || depth >= 3) return undefined;
    const parts = body.split(`--${boundary}`).slice(1);
    for (const part of parts) {
      if (part.startsWith("--")) break;
      const found = findReportPart(part.replace(/^\r?\n/, ""), depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  const name =
    headerParam(headers.get("content-disposition") ?? "", "filename") ?? headerParam(type, "name");
  if (!REPORT_TYPES.test(mediaType) && !(name && REPORT_NAMES.test(name))) return undefined;
  const encoding = (headers.get("content-transfer-encoding") ?? "7bit").toLowerCase();
  if (encoding === "base64") return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
  if (["7bit", "8bit", "binary"].includes(encoding)) return Buffer.from(body, "latin1");
  throw new ReportRejected(`report attachment uses ${encoding} transfer encoding; not read`);
}

/**
 * The report inside what was stored: SES's S3 action stores the whole
 * message as received (docs/design.md#dmarc-aggregate-reports), so the
 * attachment is found in its MIME parts; bytes that already are gzip, zip or
 * XML are the report itself.
 */
export function reportPayload(data: Uint8Array): Uint8Array {
  const isArchive =
    (data[0] === 0x1f && data[1] === 0x8b) || (data[0] === 0x50 && data[1] === 0x4b);
  // Buffer's latin1 is byte-for-byte (TextDecoder's "latin1" is windows-1252).
  const start = Buffer.from(data.subarray(0, 64))
    .toString("latin1")
    .replace(/^\xEF\xBB\xBF/, "")
    .trimStart();
  if (isArchive || start.startsWith("<")) return data;
  const found = findReportPart(Buffer.from(data).toString("latin1"), 0);
  if (!found) throw new ReportRejected("the message carries no gzip, zip or XML attachment");
  return found;
}

/**
 * The report's XML from the object as stored: gzip (RFC 7489 §7.2.1.1's
 * `application/gzip`), zip (what several large receivers send), or bare XML,
 * told apart by their first bytes, never by the name.
 */
export function decodeReportArchive(data: Uint8Array, limits: ReportLimits): string {
  if (data.length > limits.maxBytes)
    throw new ReportRejected(
      `object is ${data.length} bytes, above maxReportBytes ${limits.maxBytes}`,
    );
  data = reportPayload(data);
  let xml: Uint8Array;
  if (data[0] === 0x1f && data[1] === 0x8b) xml = gunzip(data, limits.maxBytes);
  else if (data[0] === 0x50 && data[1] === 0x4b) xml = unzip(data, limits.maxBytes);
  else xml = data;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(xml);
  } catch {
    throw new ReportRejected("report is not UTF-8 text (neither gzip, zip nor XML)");
  }
  return text.replace(/^\uFEFF/, "");
}

/** Elements that may repeat; fast-xml-parser returns them as arrays always. */
const REPEATED = new Set(["feedback.record", "feedback.record.auth_results.dkim"]);

const parser = new XMLParser({
  ignoreAttributes: true,
  // Entities are never expanded, so `&lt;` stays as written: no report field we read needs one.
  processEntities: false,
  htmlEntities: false,
  // `dmarc:feedback` and `feedback` alike (RFC 9990 adds a namespace; most reports have none).
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (_name, jpath) => REPEATED.has(String(jpath)),
});

type Node = Record<string, unknown>;

function text(v: unknown): string | undefined {
  if (typeof v === "string") return v.trim() || undefined;
  if (typeof v === "number") return String(v);
  return undefined;
}

/**
 * Read one aggregate report. Refuses (ReportRejected) what is not a report:
 * a DOCTYPE or entity declaration, XML that is not well-formed (a truncated
 * file), no `feedback`, no `policy_published/domain`, no or a bad date range,
 * a row without a whole-number count. Tolerates and records in `warnings`
 * the rest.
 */
export function parseAggregateReport(xml: string, limits: ReportLimits): AggregateReport {
  if (new TextEncoder().encode(xml).length > limits.maxBytes)
    throw new ReportRejected(`XML is larger than maxReportBytes ${limits.maxBytes}`);
  // No report needs a DTD; refusing it outright closes entity expansion
  // ("billion laughs") and external entities whatever the parser would do.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml))
    throw new ReportRejected("XML has a DOCTYPE or ENTITY declaration; reports need none");
  const valid = XMLValidator.validate(xml);
  if (valid !== true)
    throw new ReportRejected(
      `XML is not well-formed (line ${valid.err.line}: ${valid.err.msg.replace(/\s+/g, " ")})`,
    );
  const doc = parser.parse(xml) as Node;
  const feedback = doc.feedback as Node | undefined;
  if (!feedback || typeof feedback !== "object")
    throw new ReportRejected("no <feedback> root element: not a DMARC aggregate report");
  const warnings: string[] = [];
  const meta = (feedback.report_metadata ?? {}) as Node;
  const range = (meta.date_range ?? {}) as Node;
  const policy = (feedback.policy_published ?? {}) as Node;
  const policyDomain = text(policy.domain)?.toLowerCase().replace(/\.$/, "");
  if (!policyDomain) throw new ReportRejected("no policy_published/domain");
  const epoch = (v: unknown, what: string): Date => {
    const s = text(v);
    if (!s || !/^\d{1,12}$/.test(s))
      throw new ReportRejected(`date_range/${what} is ${s ? JSON.stringify(s) : "missing"}`);
    return new Date(Number(s) * 1000);
  };
  const begin = epoch(range.begin, "begin");
  const end = epoch(range.end, "end");
  if (end < begin) throw new ReportRejected("date_range ends before it begins");
  const orgName = text(meta.org_name) ?? "(no org_name)";
  const reportId = text(meta.report_id) ?? "(no report_id)";
  if (!text(meta.org_name)) warnings.push("report_metadata/org_name is missing");

  const records = (feedback.record ?? []) as Node[];
  const rows: ReportRow[] = records.map((record, i) => {
    const row = (record.row ?? {}) as Node;
    const countText = text(row.count);
    if (!countText || !/^\d{1,12}$/.test(countText))
      throw new ReportRejected(
        `record ${i + 1}: row/count is ${countText ? JSON.stringify(countText) : "missing"}`,
      );
    const auth = (record.auth_results ?? {}) as Node;
    const dkim: DkimAuthResult[] = [];
    for (const d of (auth.dkim ?? []) as Node[]) {
      const domain = text(d.domain)?.toLowerCase().replace(/\.$/, "");
      const resultText = text(d.result)?.toLowerCase();
      const result = DKIM_RESULTS.find((r) => r === resultText);
      if (!domain || !result) {
        warnings.push(
          `record ${i + 1}: a dkim result without ${domain ? `a known result (${JSON.stringify(resultText ?? "")})` : "a domain"} was ignored`,
        );
        continue;
      }
      const selector = text(d.selector)?.toLowerCase();
      if (!selector)
        warnings.push(
          `record ${i + 1}: dkim result for ${domain} names no selector (RFC 9990 requires one)`,
        );
      dkim.push({ domain, ...(selector ? { selector } : {}), result });
    }
    const ids = (record.identifiers ?? {}) as Node;
    const headerFrom = text(ids.header_from)?.toLowerCase();
    const sourceIp = text(row.source_ip);
    return {
      count: Number(countText),
      ...(sourceIp ? { sourceIp } : {}),
      ...(headerFrom ? { headerFrom } : {}),
      dkim,
    };
  });
  return { orgName, reportId, begin, end, policyDomain, rows, warnings };
}

/** Archive and XML in one step, as the ingestion reads an object. */
export function readAggregateReport(data: Uint8Array, limits: ReportLimits): AggregateReport {
  return parseAggregateReport(decodeReportArchive(data, limits), limits);
}
