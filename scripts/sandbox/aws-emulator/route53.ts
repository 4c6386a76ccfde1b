/**
 * Emulated Route 53: ChangeResourceRecordSets, GetChange,
 * ListResourceRecordSets and GetHostedZone, in the REST-XML protocol the
 * installed @aws-sdk/client-route-53 sends (`/2013-04-01/...`, an XML body
 * in the `https://route53.amazonaws.com/doc/2013-04-01/` namespace, errors
 * as `<ErrorResponse><Error><Code>`). Route 53 is global: the SDK signs for
 * us-east-1 and the zone store has no Region.
 *
 * Stricter than lenient, as the Route 53 API reference and developer guide
 * document it:
 * - a change batch is all or nothing: every change is validated against the
 *   zone as the earlier changes of the batch leave it, every problem is
 *   reported in one InvalidChangeBatch, and nothing is written unless all
 *   pass (API_ChangeResourceRecordSets);
 * - a TXT value is one or more character-strings, each in double quotes,
 *   each at most 255 characters once unescaped; `\"` and `\\` are the
 *   escapes, any other character outside printable ASCII must be written
 *   `\ddd` (ResourceRecordTypes.html#TXTFormat). The messages are the
 *   real ones: `CharacterStringTooLong (Value is too long)`,
 *   `InvalidCharacterString (Value should be enclosed in quotation marks)`;
 * - names are lower-cased, end with a dot, and must be in the zone;
 * - CREATE of an existing set, DELETE of a missing one, or DELETE whose TTL
 *   or values differ from the current ones, is InvalidChangeBatch;
 * - a change is PENDING until it has propagated to every Route 53
 *   authoritative server, then INSYNC (API_GetChange); the emulator makes
 *   it INSYNC `propagationMs` after it was submitted, on the emulator clock
 *   (docs: "generally ... within 60 seconds");
 * - ListResourceRecordSets sorts by the name with its labels reversed, then
 *   by type, in ASCII order; a type without a name is InvalidInput; at most
 *   300 sets per page.
 */
import { randomInt } from "node:crypto";
import { AwsApiError } from "./common";

export const ROUTE53_XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/";

/** "Changes generally propagate to all Route 53 name servers within 60 seconds." */
export const DEFAULT_ROUTE53_PROPAGATION_MS = 60_000;

export interface Route53RecordSet {
  /** Lower case, with the trailing dot: `s1._domainkey.example.jp.` */
  name: string;
  type: string;
  ttl: number;
  /** The `Value` elements exactly as stored (TXT: quoted character-strings). */
  values: string[];
}

export interface Route53ChangeView {
  id: string;
  zoneId: string;
  status: "PENDING" | "INSYNC";
  submittedAt: Date;
  comment?: string;
}

export type Route53SyncHook = (
  zoneName: string,
  recordSets: Route53RecordSet[],
) => void | Promise<void>;

export interface Route53BackendOptions {
  /** Submission to INSYNC, on the emulator clock. */
  propagationMs: number;
  /**
   * A switch for what the docs leave to trust: how long before every
   * authoritative server serves a change its GetChange already reports
   * INSYNC. The docs say INSYNC means propagated to all of them, so the
   * default is 0: the sync hook runs before INSYNC is visible. A positive
   * value reports INSYNC that long before the hook runs (a test of the
   * DNS-first gate, which must still see the old record).
   */
  insyncLeadMs: number;
  onSync: Route53SyncHook[];
}

/** A parsed XML element: element children and the text directly inside it. */
export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function malformed(detail: string): AwsApiError {
  return new AwsApiError("InvalidInput", `Invalid XML ; ${detail}`, 400);
}

function decodeEntities(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw malformed("unescaped '&'");
    if (ref.startsWith("#x")) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    const e = ENTITIES[ref];
    if (e === undefined) throw malformed(`unknown entity ${m}`);
    return e;
  });
}

/**
 * A small, strict XML reader for the documents the SDK writes: a prolog,
 * elements with (ignored) attributes, text, entity and character
 * references. No DTDs, comments or processing instructions inside.
 */
export function parseXml(source: string): XmlElement {
  let i = 0;
  const skipSpace = () => {
    while (i < source.length && /\s/.test(source[i] as string)) i++;
  };
  skipSpace();
  if (source.startsWith("<?xml", i)) {
    const end = source.indexOf("?>", i);
    if (end < 0) throw malformed("unterminated XML declaration");
    i = end + 2;
  }
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(
      source.slice(i),
    );
    if (!open) throw malformed(`expected an element at offset ${i}`);
    i += open[0].length;
    const node: XmlElement = { name: open[1] as string, children: [], text: "" };
    if (open[3]) return node;
    let text = "";
    for (;;) {
      const lt = source.indexOf("<", i);
      if (lt < 0) throw malformed(`unterminated element <${node.name}>`);
      text += source.slice(i, lt);
      i = lt;
      if (source.startsWith("</", i)) {
        const close = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(source.slice(i));
        if (!close || close[1] !== node.name)
          throw malformed(`mismatched closing tag for <${node.name}>`);
        i += close[0].length;
        node.text = decodeEntities(text);
        return node;
      }
      if (source.startsWith("<![CDATA[", i)) {
        const end = source.indexOf("]]>", i);
        if (end < 0) throw malformed("unterminated CDATA");
        text += source
          .slice(i + 9, end)
          .replace(/&/g, "&amp;")
          .replace(/</g, "&lt;");
        i = end + 3;
        continue;
      }
      node.children.push(element());
    }
  };
  const root = element();
  skipSpace();
  if (i !== source.length) throw malformed("content after the root element");
  return root;
}

function child(node: XmlElement, name: string): XmlElement | undefined {
  return node.children.find((c) => c.name === name);
}

function children(node: XmlElement | undefined, name: string): XmlElement[] {
  return node ? node.children.filter((c) => c.name === name) : [];
}

export function xmlText(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
function routeId(prefix: string, length: number): string {
  let id = prefix;
  while (id.length < length) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** Lower case, one trailing dot (Route 53 treats `a.b` and `a.b.` as identical). */
export function normalizeDnsName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith(".") ? lower : `${lower}.`;
}

/** The ListResourceRecordSets sort key: labels reversed, trailing dot kept (`com.example.www.`). */
function sortName(name: string): string {
  const labels = name.replace(/\.$/, "").split(".");
  return `${labels.reverse().join(".")}.`;
}

function ascii(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareSets(a: { name: string; type: string }, b: { name: string; type: string }) {
  return ascii(sortName(a.name), sortName(b.name)) || ascii(a.type, b.type);
}

/**
 * The character-strings of a TXT value, unescaped, or why Route 53 refuses
 * it. Each must be quoted; inside, `\"`, `\\` and `\ddd` are the escapes;
 * anything outside printable ASCII (space included only inside quotes) must
 * be escaped; strings are separated by spaces.
 */
export function parseTxtValue(value: string): { strings: string[] } | { problem: string } {
  const strings: string[] = [];
  let i = 0;
  const notQuoted = {
    problem: "InvalidCharacterString (Value should be enclosed in quotation marks)",
  };
  if (value.length === 0) return notQuoted;
  while (i < value.length) {
    if (value[i] !== '"') return notQuoted;
    i++;
    const bytes: number[] = [];
    let closed = false;
    while (i < value.length) {
      const c = value[i] as string;
      const code = c.charCodeAt(0);
      if (c === '"') {
        closed = true;
        i++;
        break;
      }
      if (c === "\\") {
        const next = value[i + 1];
        if (next === '"' || next === "\\") {
          bytes.push(next.charCodeAt(0));
          i += 2;
          continue;
        }
        const octal = /^[0-3][0-7]{2}/.exec(value.slice(i + 1));
        if (octal) {
          bytes.push(parseInt(octal[0], 8));
          i += 4;
          continue;
        }
        return { problem: "InvalidCharacterString (Value contains an invalid escape sequence)" };
      }
      if (code < 0x20 || code > 0x7e)
        return {
          problem:
            "InvalidCharacterString (Value contains a character that must be written as a \\ddd octal escape)",
        };
      bytes.push(code);
      i++;
    }
    if (!closed) return notQuoted;
    if (bytes.length > 255) return { problem: "CharacterStringTooLong (Value is too long)" };
    strings.push(Buffer.from(bytes).toString("latin1"));
    if (i < value.length) {
      if (value[i] !== " ") return notQuoted;
      while (value[i] === " ") i++;
      if (i >= value.length) return notQuoted;
    }
  }
  return { strings };
}

function invalidRecord(problem: string, value: string): string {
  return `Invalid Resource Record: 'FATAL problem: ${problem} encountered with '${value}''`;
}

interface Zone {
  id: string;
  name: string;
  callerReference: string;
  nameServers: string[];
  sets: Route53RecordSet[];
}

interface ChangeRecord extends Route53ChangeView {
  /** When GetChange starts answering INSYNC. */
  insyncAt: number;
  /** When the authoritative servers serve it (the sync hook runs). */
  servedAt: number;
  served: boolean;
  /** The zone as this change left it, for the sync hook. */
  snapshot: Route53RecordSet[];
}

const SUPPORTED_TYPES = new Set(["TXT", "CNAME"]);
const MAX_TTL = 2_147_483_647;

const copySet = (s: Route53RecordSet): Route53RecordSet => ({ ...s, values: [...s.values] });

export class Route53Backend {
  private readonly zones = new Map<string, Zone>();
  private readonly changes = new Map<string, ChangeRecord>();
  private lastInsync = 0;

  constructor(private readonly options: Route53BackendOptions) {}

  createHostedZone(name: string, now: Date): string {
    const zoneName = normalizeDnsName(name);
    if (!/^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+$/.test(zoneName) || zoneName.length > 255)
      throw new Error(`createHostedZone: ${name} is not a valid domain name`);
    let id = routeId("Z", 21);
    while (this.zones.has(id)) id = routeId("Z", 21);
    const n = randomInt(2048);
    const nameServers = [
      `ns-${n}.awsdns-${String(n % 64).padStart(2, "0")}.com`,
      `ns-${n + 512}.awsdns-${String((n + 1) % 64).padStart(2, "0")}.net`,
      `ns-${n + 1024}.awsdns-${String((n + 2) % 64).padStart(2, "0")}.org`,
      `ns-${n + 1536}.awsdns-${String((n + 3) % 64).padStart(2, "0")}.co.uk`,
    ];
    // Every hosted zone starts with its NS and SOA sets at the apex.
    const sets: Route53RecordSet[] = [
      { name: zoneName, type: "NS", ttl: 172800, values: nameServers.map((s) => `${s}.`) },
      {
        name: zoneName,
        type: "SOA",
        ttl: 900,
        values: [`${nameServers[0]}. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400`],
      },
    ];
    this.zones.set(id, {
      id,
      name: zoneName,
      callerReference: `emulator-${now.getTime()}-${id}`,
      nameServers,
      sets,
    });
    return id;
  }

  records(zoneId: string): Route53RecordSet[] {
    const zone = this.zones.get(zoneId);
    if (!zone) throw new Error(`no hosted zone ${zoneId}`);
    return zone.sets.map(copySet);
  }

  changeViews(): Route53ChangeView[] {
    return [...this.changes.values()].map((c) => ({
      id: c.id,
      zoneId: c.zoneId,
      status: c.status,
      submittedAt: c.submittedAt,
      ...(c.comment !== undefined ? { comment: c.comment } : {}),
    }));
  }

  private zone(zoneId: string): Zone {
    const zone = this.zones.get(zoneId);
    if (!zone)
      throw new AwsApiError("NoSuchHostedZone", `No hosted zone found with ID: ${zoneId}`, 404);
    return zone;
  }

  private changeInfoXml(c: ChangeRecord): string {
    return `<ChangeInfo><Id>/change/${c.id}</Id><Status>${c.status}</Status><SubmittedAt>${c.submittedAt.toISOString()}</SubmittedAt>${c.comment !== undefined ? `<Comment>${xmlText(c.comment)}</Comment>` : ""}</ChangeInfo>`;
  }

  changeResourceRecordSets(zoneId: string, now: Date, body: string): string {
    const zone = this.zone(zoneId);
    const root = parseXml(body);
    if (root.name !== "ChangeResourceRecordSetsRequest")
      throw malformed(`unexpected root element <${root.name}>`);
    const batch = child(root, "ChangeBatch");
    if (!batch) throw new AwsApiError("InvalidInput", "ChangeBatch is required", 400);
    const comment = child(batch, "Comment")?.text;
    if (comment !== undefined && comment.length > 256)
      throw new AwsApiError(
        "InvalidInput",
        "1 validation error detected: Value at 'changeBatch.comment' failed to satisfy constraint: Member must have length less than or equal to 256",
        400,
      );
    const changes = children(child(batch, "Changes"), "Change");
    if (changes.length === 0)
      throw new AwsApiError(
        "InvalidInput",
        "1 validation error detected: Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1",
        400,
      );

    // Quotas of one request (API_ChangeResourceRecordSets, DNSLimitations).
    let recordCount = 0;
    let valueChars = 0;
    for (const c of changes) {
      for (const rr of children(
        child(child(c, "ResourceRecordSet") ?? c, "ResourceRecords"),
        "ResourceRecord",
      )) {
        recordCount++;
        valueChars += (child(rr, "Value")?.text ?? "").length;
      }
    }
    if (recordCount > 1000)
      throw new AwsApiError(
        "InvalidChangeBatch",
        `[Number of records in the request (${recordCount}) exceeds the limit of 1000]`,
        400,
      );
    if (valueChars > 32000)
      throw new AwsApiError(
        "InvalidChangeBatch",
        `[The sum of the characters in all Value elements (${valueChars}) exceeds the limit of 32000]`,
        400,
      );

    const working = zone.sets.map(copySet);
    const problems: string[] = [];
    for (const c of changes) {
      const action = child(c, "Action")?.text;
      const rrs = child(c, "ResourceRecordSet");
      if (action !== "CREATE" && action !== "DELETE" && action !== "UPSERT")
        throw new AwsApiError(
          "InvalidInput",
          `1 validation error detected: Value '${action ?? "null"}' at 'changeBatch.changes.member.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]`,
          400,
        );
      if (!rrs) throw new AwsApiError("InvalidInput", "ResourceRecordSet is required", 400);
      const rawName = child(rrs, "Name")?.text ?? "";
      const type = child(rrs, "Type")?.text ?? "";
      if (!rawName || !type)
        throw new AwsApiError(
          "InvalidInput",
          "Name and Type are required in every ResourceRecordSet",
          400,
        );
      const name = normalizeDnsName(rawName);
      for (const unsupported of [
        "SetIdentifier",
        "AliasTarget",
        "Weight",
        "Region",
        "Failover",
        "GeoLocation",
        "MultiValueAnswer",
        "HealthCheckId",
        "TrafficPolicyInstanceId",
        "CidrRoutingConfig",
        "GeoProximityLocation",
      ]) {
        if (child(rrs, unsupported))
          throw new AwsApiError(
            "InvalidInput",
            `${unsupported} is not emulated (simple routing only)`,
            400,
          );
      }
      if (!SUPPORTED_TYPES.has(type)) {
        if (type === "SOA" || type === "NS")
          problems.push(
            `${type} records at the zone apex are managed by Route 53 in this emulator`,
          );
        else
          throw new AwsApiError(
            "InvalidInput",
            `Record type ${type} is not emulated (TXT and CNAME only)`,
            400,
          );
        continue;
      }
      const ttlText = child(rrs, "TTL")?.text;
      const records = children(child(rrs, "ResourceRecords"), "ResourceRecord");
      if (ttlText === undefined || records.length === 0)
        throw new AwsApiError(
          "InvalidInput",
          `Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=${action}, Name=${rawName}, Type=${type}, SetIdentifier=null]`,
          400,
        );
      const ttl = Number(ttlText);
      if (!/^\d+$/.test(ttlText) || ttl > MAX_TTL)
        throw new AwsApiError(
          "InvalidInput",
          `1 validation error detected: Value '${ttlText}' at 'changeBatch.changes.member.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value between 0 and ${MAX_TTL}`,
          400,
        );
      const values = records.map((r) => child(r, "Value")?.text ?? "");
      if (name !== zone.name && !name.endsWith(`.${zone.name}`)) {
        problems.push(`RRSet with DNS name ${name} is not permitted in zone ${zone.name}`);
        continue;
      }
      let bad = false;
      for (const value of values) {
        if (value.length > 4000) {
          problems.push(invalidRecord("Value is longer than 4000 characters", value));
          bad = true;
          continue;
        }
        if (type === "TXT") {
          const parsed = parseTxtValue(value);
          if ("problem" in parsed) {
            problems.push(invalidRecord(parsed.problem, value));
            bad = true;
          }
        }
      }
      if (type === "CNAME" && values.length > 1) {
        problems.push(
          `RRSet of type CNAME with DNS name ${name} is not permitted because it has more than one value`,
        );
        bad = true;
      }
      if (new Set(values).size !== values.length) {
        problems.push(
          `Duplicate Resource Record: '${values.find((v, k) => values.indexOf(v) !== k)}'`,
        );
        bad = true;
      }
      if (bad) continue;

      const at = working.findIndex((s) => s.name === name && s.type === type);
      const label = `[name='${name}', type='${type}']`;
      if (action === "DELETE") {
        const current = at >= 0 ? working[at] : undefined;
        if (!current) {
          problems.push(`Tried to delete resource record set ${label} but it was not found`);
          continue;
        }
        const same =
          current.ttl === ttl &&
          current.values.length === values.length &&
          [...current.values].sort().join("\n") === [...values].sort().join("\n");
        if (!same) {
          problems.push(
            `Tried to delete resource record set ${label} but the values provided do not match the current values`,
          );
          continue;
        }
        working.splice(at, 1);
        continue;
      }
      if (action === "CREATE" && at >= 0) {
        problems.push(`Tried to create resource record set ${label} but it already exists`);
        continue;
      }
      // A CNAME may not share its name with any other set (RFC 1034 §3.6.2).
      const clash = working.find(
        (s) => s.name === name && s.type !== type && (s.type === "CNAME" || type === "CNAME"),
      );
      if (clash) {
        problems.push(
          `RRSet of type ${type} with DNS name ${name} is not permitted as it conflicts with other records with the same DNS name in zone ${zone.name}`,
        );
        continue;
      }
      const set: Route53RecordSet = { name, type, ttl, values };
      if (at >= 0) working[at] = set;
      else working.push(set);
    }
    if (problems.length > 0)
      throw new AwsApiError("InvalidChangeBatch", `[${problems.join(", ")}]`, 400);

    working.sort(compareSets);
    zone.sets = working;
    let id = routeId("C", 14);
    while (this.changes.has(id)) id = routeId("C", 14);
    // Changes reach the servers in the order they were made.
    const servedAt = Math.max(this.lastInsync, now.getTime() + this.options.propagationMs);
    this.lastInsync = servedAt;
    const change: ChangeRecord = {
      id,
      zoneId,
      status: "PENDING",
      submittedAt: now,
      ...(comment !== undefined ? { comment } : {}),
      servedAt,
      insyncAt: servedAt - Math.max(0, this.options.insyncLeadMs),
      served: false,
      snapshot: working.map(copySet),
    };
    this.changes.set(id, change);
    return `<?xml version="1.0" encoding="UTF-8"?>\n<ChangeResourceRecordSetsResponse xmlns="${ROUTE53_XMLNS}">${this.changeInfoXml(change)}</ChangeResourceRecordSetsResponse>`;
  }

  getChange(id: string): string {
    const change = this.changes.get(id);
    if (!change)
      throw new AwsApiError(
        "NoSuchChange",
        `A change with the specified change ID does not exist: ${id}`,
        404,
      );
    return `<?xml version="1.0" encoding="UTF-8"?>\n<GetChangeResponse xmlns="${ROUTE53_XMLNS}">${this.changeInfoXml(change)}</GetChangeResponse>`;
  }

  getHostedZone(zoneId: string): string {
    const zone = this.zone(zoneId);
    return `<?xml version="1.0" encoding="UTF-8"?>\n<GetHostedZoneResponse xmlns="${ROUTE53_XMLNS}"><HostedZone><Id>/hostedzone/${zone.id}</Id><Name>${xmlText(zone.name)}</Name><CallerReference>${xmlText(zone.callerReference)}</CallerReference><Config><PrivateZone>false</PrivateZone></Config><ResourceRecordSetCount>${zone.sets.length}</ResourceRecordSetCount></HostedZone><DelegationSet><NameServers>${zone.nameServers.map((n) => `<NameServer>${n}</NameServer>`).join("")}</NameServers></DelegationSet></GetHostedZoneResponse>`;
  }

  listResourceRecordSets(zoneId: string, query: URLSearchParams): string {
    const zone = this.zone(zoneId);
    const startName = query.get("name");
    const startType = query.get("type");
    if (startType !== null && startName === null)
      throw new AwsApiError(
        "InvalidInput",
        "The input is not valid: a record type was specified without a record name",
        400,
      );
    if (query.get("identifier") !== null)
      throw new AwsApiError("InvalidInput", "StartRecordIdentifier is not emulated", 400);
    const maxText = query.get("maxitems");
    let max = 300;
    if (maxText !== null) {
      if (!/^\d+$/.test(maxText) || Number(maxText) < 1)
        throw new AwsApiError("InvalidInput", `Invalid value for MaxItems: ${maxText}`, 400);
      // "If you specify a value greater than 300, Route 53 returns only the first 300."
      max = Math.min(300, Number(maxText));
    }
    const sorted = [...zone.sets].sort(compareSets);
    let from = 0;
    if (startName !== null) {
      const key = { name: normalizeDnsName(startName), type: startType ?? "" };
      from = sorted.findIndex((s) => compareSets(s, key) >= 0);
      if (from < 0) from = sorted.length;
    }
    const page = sorted.slice(from, from + max);
    const next = sorted[from + max];
    const sets = page
      .map(
        (s) =>
          `<ResourceRecordSet><Name>${xmlText(s.name)}</Name><Type>${s.type}</Type><TTL>${s.ttl}</TTL><ResourceRecords>${s.values.map((v) => `<ResourceRecord><Value>${xmlText(v)}</Value></ResourceRecord>`).join("")}</ResourceRecords></ResourceRecordSet>`,
      )
      .join("");
    return `<?xml version="1.0" encoding="UTF-8"?>\n<ListResourceRecordSetsResponse xmlns="${ROUTE53_XMLNS}"><ResourceRecordSets>${sets}</ResourceRecordSets><IsTruncated>${next ? "true" : "false"}</IsTruncated>${next ? `<NextRecordName>${xmlText(next.name)}</NextRecordName><NextRecordType>${next.type}</NextRecordType>` : ""}<MaxItems>${max}</MaxItems></ListResourceRecordSetsResponse>`;
  }

  /** Serve and mark INSYNC every change due at `now`, in submission order. */
  async processDue(now: Date): Promise<void> {
    const t = now.getTime();
    for (const change of this.changes.values()) {
      if (!change.served && change.servedAt <= t) {
        change.served = true;
        const zone = this.zones.get(change.zoneId);
        for (const hook of this.options.onSync)
          await hook(zone?.name ?? "", change.snapshot.map(copySet));
      }
      // INSYNC never precedes serving unless insyncLeadMs says so (insyncAt <= servedAt).
      if (change.status === "PENDING" && change.insyncAt <= t) change.status = "INSYNC";
    }
  }
}
