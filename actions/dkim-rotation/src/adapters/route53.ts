/**
 * `publisher: route53`: puts a selector's TXT record into a Route 53 hosted
 * zone and waits until Route 53 reports the change INSYNC (propagated to
 * every Route 53 authoritative server, API_GetChange).
 *
 * - publish is one CREATE: Route 53 refuses a CREATE of an existing record
 *   set (InvalidChangeBatch), and the publisher role may do nothing else
 *   (IAM's route53:ChangeResourceRecordSetsActions), so no publish can
 *   overwrite a record, the active one included (docs/design.md#route53-changes).
 *   It reads the set first: the same value already there is success
 *   (re-runs converge), a different one is a one-line refusal;
 * - the value is one ResourceRecord of quoted character-strings, `"` and `\`
 *   escaped (Route 53's TXT format); the engine hands strings of at most 255
 *   bytes, and Route 53 refuses longer ones (CharacterStringTooLong);
 * - remove (the gated retire job) reads the exact set first
 *   (ListResourceRecordSets), because a DELETE must match the current TTL
 *   and values exactly.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type Route53Client,
} from "@aws-sdk/client-route-53";
import type { DnsPublisherPort } from "../engine/ports";

export interface Route53PublisherOptions {
  sleep(ms: number): Promise<void>;
  /** Between GetChange calls. Default 5000 (Route 53 throttles API requests per account). */
  pollMs?: number;
  /** Give up waiting for INSYNC after this long. Default 300 000 (docs: "generally within 60 seconds"). */
  timeoutMs?: number;
  onProgress?(line: string): void;
}

/** One TXT value of quoted character-strings, as Route 53 takes it. */
export function route53TxtValue(strings: string[]): string {
  return strings.map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(" ");
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.replace(/\s+/g, " ").trim();
}

function hintFor(err: unknown): string {
  const name = err instanceof Error ? err.name : "";
  const message = err instanceof Error ? err.message : "";
  if (/CharacterStringTooLong/.test(message))
    return "each quoted string of a TXT value must be at most 255 characters: split the record into more strings";
  if (/InvalidCharacterString/.test(message))
    return 'TXT strings must be in double quotes, with " and \\ escaped';
  if (name === "NoSuchHostedZone")
    return "check route53.hostedZoneId in the stack file (the ID without /hostedzone/)";
  if (name === "AccessDenied" || name === "AccessDeniedException")
    return "the publish job's role needs route53:ChangeResourceRecordSets (CREATE; the gated retire job's: DELETE), route53:ListResourceRecordSets and route53:GetChange on this zone";
  if (name === "InvalidChangeBatch")
    return "the zone changed under us (a CREATE over an existing record, a DELETE of a changed one) or the name is outside the zone: list the record set and compare";
  if (name === "Throttling" || name === "PriorRequestNotComplete")
    return "Route 53 throttles API requests per account: retry later, or pace other Route 53 callers";
  return "see the Route 53 error above";
}

export class Route53Publisher implements DnsPublisherPort {
  readonly kind = "route53";
  private readonly pollMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly client: Route53Client,
    private readonly hostedZoneId: string,
    private readonly opts: Route53PublisherOptions,
  ) {
    this.pollMs = opts.pollMs ?? 5000;
    this.timeoutMs = opts.timeoutMs ?? 300_000;
    if (!(this.pollMs > 0) || !(this.timeoutMs > 0))
      throw new RangeError("Route53Publisher: pollMs and timeoutMs must be positive");
  }

  private recordName(domain: string, selector: string): string {
    return `${selector}._domainkey.${domain}.`.toLowerCase().replace(/\.\.$/, ".");
  }

  /** Submit one change of `recordSet`, then wait until Route 53 reports it INSYNC. */
  private async change(
    action: "CREATE" | "DELETE",
    name: string,
    why: string,
    recordSet: ResourceRecordSet,
  ): Promise<string> {
    let changeId: string;
    try {
      const out = await this.client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: this.hostedZoneId,
          ChangeBatch: {
            Comment: `ses-dkim-rotation: ${why}`,
            Changes: [{ Action: action, ResourceRecordSet: recordSet }],
          },
        }),
      );
      changeId = out.ChangeInfo?.Id ?? "";
      if (!changeId) throw new Error("ChangeResourceRecordSets answered without a ChangeInfo Id");
    } catch (err) {
      throw this.fail(action, name, err);
    }
    this.opts.onProgress?.(
      `route53: ${action} ${name} TXT submitted as ${changeId}; waiting for INSYNC`,
    );
    await this.waitInsync(changeId, name);
    return changeId;
  }

  private fail(action: string, name: string, err: unknown): Error {
    return new Error(
      `Route 53 ${action} of ${name} TXT in hosted zone ${this.hostedZoneId} failed: ${oneLine(err)} (hint: ${hintFor(err)})`,
      { cause: err },
    );
  }

  async publish(req: {
    domain: string;
    selector: string;
    strings: string[];
    ttl: number;
  }): Promise<{ detail: string }> {
    const name = this.recordName(req.domain, req.selector);
    if (req.strings.length === 0) throw new Error(`Route 53 CREATE of ${name}: no TXT strings`);
    const value = route53TxtValue(req.strings);
    const settled = await this.alreadyThere(name, value);
    if (settled) return settled;
    let changeId: string;
    try {
      changeId = await this.change("CREATE", name, `publish ${req.selector} for ${req.domain}`, {
        Name: name,
        Type: "TXT",
        TTL: req.ttl,
        ResourceRecords: [{ Value: value }],
      });
    } catch (err) {
      // Created meanwhile (a concurrent run), so Route 53 refused the CREATE:
      // the same value is success. A wait that timed out is not.
      const cause = (err as Error).cause;
      if (cause instanceof Error && cause.name === "InvalidChangeBatch") {
        const raced = await this.alreadyThere(name, value);
        if (raced) return raced;
      }
      throw err;
    }
    return { detail: `route53: ${name} TXT created in ${this.hostedZoneId} (${changeId} INSYNC)` };
  }

  /**
   * What the zone holds at `name` already: the same one value is success, any
   * other TXT set a refusal (this role may only CREATE; Route 53 would refuse
   * the CREATE anyway, and nothing here may overwrite a record).
   */
  private async alreadyThere(name: string, value: string): Promise<{ detail: string } | undefined> {
    const current = await this.current(name);
    if (!current) return undefined;
    const values = (current.ResourceRecords ?? []).map((r) => r.Value);
    if (values.length === 1 && values[0] === value)
      return { detail: `route53: ${name} TXT already holds this value in ${this.hostedZoneId}` };
    throw new Error(
      `Route 53 hosted zone ${this.hostedZoneId} already holds a different TXT record at ${name}; refusing to publish over it (hint: a selector is never reused, so that record is not this key's: ask the DNS team who wrote it; delete it in the zone only if it is not a live key, then re-run the publish job)`,
    );
  }

  /** The TXT set at exactly `name`, if any. */
  private async current(name: string): Promise<ResourceRecordSet | undefined> {
    try {
      const out = await this.client.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: this.hostedZoneId,
          StartRecordName: name,
          StartRecordType: "TXT",
          MaxItems: 1,
        }),
      );
      const first = out.ResourceRecordSets?.[0];
      // The list starts at the first set >= (name, TXT): it may be another one.
      return first && first.Type === "TXT" && first.Name?.toLowerCase() === name
        ? first
        : undefined;
    } catch (err) {
      throw this.fail("ListResourceRecordSets", name, err);
    }
  }

  async remove(req: {
    domain: string;
    selector: string;
  }): Promise<{ acted: boolean; detail: string }> {
    const name = this.recordName(req.domain, req.selector);
    const current = await this.current(name);
    if (!current)
      return {
        acted: false,
        detail: `route53: ${name} holds no TXT record in ${this.hostedZoneId}`,
      };
    const changeId = await this.change("DELETE", name, `remove ${req.selector} for ${req.domain}`, {
      Name: current.Name,
      Type: "TXT",
      TTL: current.TTL,
      ResourceRecords: current.ResourceRecords,
    });
    return {
      acted: true,
      detail: `route53: ${name} TXT deleted from ${this.hostedZoneId} (${changeId} INSYNC)`,
    };
  }

  private async waitInsync(changeId: string, name: string): Promise<void> {
    let waited = 0;
    for (;;) {
      let status: string | undefined;
      try {
        const out = await this.client.send(new GetChangeCommand({ Id: changeId }));
        status = out.ChangeInfo?.Status;
      } catch (err) {
        throw this.fail(`GetChange ${changeId} for the change`, name, err);
      }
      if (status === "INSYNC") return;
      if (waited >= this.timeoutMs)
        throw new Error(
          `Route 53 change ${changeId} for ${name} TXT in hosted zone ${this.hostedZoneId} is still ${status ?? "unknown"} after ${Math.round(waited / 1000)} s (hint: Route 53 usually propagates within 60 s; check GetChange ${changeId} later and re-run: a record already holding this value counts as published)`,
        );
      this.opts.onProgress?.(
        `route53: ${changeId} is ${status ?? "unknown"}; checking again in ${this.pollMs} ms`,
      );
      await this.opts.sleep(this.pollMs);
      waited += this.pollMs;
    }
  }
}
