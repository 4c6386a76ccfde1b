/**
 * The on-premises DNS team: it reviews every record PR on GitHub (the fake)
 * and merges it `reviewDays` after it opens, then publishes the change
 * `dnsLeadDays` later (the identity's lead time): on ns1 first, on ns2 a
 * little later, as a primary and a lagging secondary would. Every zone it
 * serves is archived under `zones/`.
 *
 * With an automatic publisher (`--publisher rfc2136 | route53`) the team still
 * reviews and merges, but publishes nothing by hand: the servers follow what
 * the publisher put in DNS (`follow`: the primary's zone transfer, or
 * Route 53's sync).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DAY_MS, isoDate, type SimClock } from "../../actions/dkim-rotation/src/engine/clock";
import type { ProjectConfig } from "../../actions/dkim-rotation/src/engine/config";
import {
  dkimRecordValue,
  parseRecordFile,
  recordFolderOf,
  recordPath,
} from "../../actions/dkim-rotation/src/engine/record";
import type { GitHubFake } from "../github-fake";
import { mailDomainZone, renderZoneFile, type DnsServer, type ZoneModel } from "./dns-server";
import type { TimelineInput } from "./timeline";
import type { SandboxRepository } from "./world";

/** A change the team made visible: `published` once both servers serve it. */
export interface DnsEvent {
  kind: "published" | "removed";
  domain: string;
  selector: string;
  at: number;
  serial: number;
}

/** A PR the team merged. */
export interface MergedRecordPr {
  number: number;
  kind: "rotation" | "retirement";
  domain: string;
  selector: string;
  path: string;
  mergedAt: number;
  publishAt: number;
}

interface ZoneChange {
  at: number;
  server: DnsServer;
  domain: string;
  selector: string;
  value?: string;
  serial: number;
  /** Who made the change, for the timeline (absent: the DNS team by hand). */
  via?: string;
}

/** Who puts a merged record into DNS: the team by hand, or the action's publisher. */
export type SandboxPublisher = "manual" | "rfc2136" | "route53";

export interface DnsTeamOptions {
  /** Each server with its lag behind the first. */
  servers: [DnsServer, number][];
  config: ProjectConfig;
  github: GitHubFake;
  repository: SandboxRepository;
  clock: SimClock;
  /** Where served zones are archived. */
  zonesDir: string;
  reviewDays: number;
  /** One timeline event (printed and kept, timeline.ts). */
  event: (e: TimelineInput) => void;
  /** Default `manual`: the team publishes after the lead time. */
  publisher?: SandboxPublisher;
}

export class DnsTeam {
  /** Per server port and domain: selector → served value. */
  private readonly served = new Map<string, Map<string, string>>();
  private readonly serials = new Map<string, number>();
  private readonly easyDkimCnames = new Map<string, { token: string; target: string }[]>();
  private readonly queue: ZoneChange[] = [];
  private readonly archive = new Set<string>();
  /** The team's copy of what it published on ns1 (the zone of record). */
  private readonly zones = new Map<string, Map<string, string>>();
  /** Per domain: what ns1 serves once every queued change has landed. */
  private readonly intended = new Map<string, Map<string, string>>();

  constructor(private readonly opts: DnsTeamOptions) {}

  get zonesServed(): number {
    return this.archive.size;
  }

  zoneSerial(domain: string): number {
    return this.serials.get(domain) ?? 0;
  }

  /** What `server` serves for the selector (joined value), if anything. */
  servedValue(server: DnsServer, domain: string, selector: string): string | undefined {
    return this.served.get(`${server.port}/${domain}`)?.get(selector);
  }

  /** Every server serves `p=publicKey` at the selector. */
  servesEverywhere(domain: string, selector: string, publicKey: string): boolean {
    const value = dkimRecordValue(publicKey);
    return this.opts.servers.every(([s]) => this.servedValue(s, domain, selector) === value);
  }

  /** The selectors `server` serves a `_domainkey` TXT record for. */
  servedSelectors(server: DnsServer, domain: string): string[] {
    return [...(this.served.get(`${server.port}/${domain}`)?.keys() ?? [])].sort();
  }

  servedAnywhere(domain: string, selector: string): boolean {
    return this.opts.servers.some(([s]) => this.servedValue(s, domain, selector) !== undefined);
  }

  /** The starting zone, on every server at once. */
  setUp(
    domain: string,
    dkim: Map<string, string>,
    easyDkimCnames: { token: string; target: string }[] = [],
  ): void {
    this.zones.set(domain, new Map(dkim));
    this.intended.set(domain, new Map(dkim));
    this.serials.set(domain, 2026010100);
    this.easyDkimCnames.set(domain, easyDkimCnames);
    for (const [server] of this.opts.servers)
      this.serve(server, domain, new Map(dkim), 2026010100, this.opts.clock.t);
  }

  /** When the next queued change lands on a server (Infinity when none). */
  nextChangeAt(): number {
    return this.queue.reduce((m, q) => Math.min(m, q.at), Infinity);
  }

  /** Apply the changes due by `now`; returns what became visible on every server. */
  applyDue(now: number): DnsEvent[] {
    const events: DnsEvent[] = [];
    this.queue.sort((a, b) => a.at - b.at);
    const last = this.opts.servers[this.opts.servers.length - 1]![0];
    while (this.queue.length && this.queue[0]!.at <= now) {
      const change = this.queue.shift()!;
      const dkim = new Map(this.served.get(`${change.server.port}/${change.domain}`));
      if (change.value === undefined) dkim.delete(change.selector);
      else dkim.set(change.selector, change.value);
      this.serve(change.server, change.domain, dkim, change.serial, change.at);
      if (change.server === this.opts.servers[0]![0]) {
        this.zones.set(change.domain, dkim);
        this.serials.set(change.domain, change.serial);
      }
      if (change.server !== last) continue;
      const event: DnsEvent = {
        kind: change.value === undefined ? "removed" : "published",
        domain: change.domain,
        selector: change.selector,
        at: change.at,
        serial: change.serial,
      };
      events.push(event);
      this.opts.event({
        at: change.at,
        kind: event.kind,
        domain: change.domain,
        selector: change.selector,
        detail: change.via
          ? `${change.domain}: ${change.via}: ns1 and ns2 ${event.kind === "published" ? "serve" : "no longer serve"} ${change.selector} (serial ${change.serial})`
          : event.kind === "published"
            ? `${change.domain}: DNS team published ${change.selector} on ns1 and ns2 (serial ${change.serial})`
            : `${change.domain}: DNS team removed ${change.selector} (serial ${change.serial})`,
      });
    }
    return events;
  }

  /**
   * A change to the zone: a new serial, on each server after its lag (or
   * after `lags[i]` for server i, when given).
   */
  schedule(
    domain: string,
    selector: string,
    value: string | undefined,
    at: number,
    follow?: { lags: number[]; serial?: number; via: string },
  ): void {
    const first = this.opts.servers[0]![0];
    // Serial per change; every server gets the same content under the same serial.
    const serial =
      follow?.serial ??
      this.zoneSerial(domain) +
        this.queue.filter((q) => q.domain === domain && q.server === first).length +
        1;
    const intended = this.intended.get(domain) ?? new Map<string, string>();
    if (value === undefined) intended.delete(selector);
    else intended.set(selector, value);
    this.intended.set(domain, intended);
    this.opts.servers.forEach(([server, lag], i) =>
      this.queue.push({
        at: at + (follow ? follow.lags[i]! : lag),
        server,
        domain,
        selector,
        value,
        serial,
        ...(follow ? { via: follow.via } : {}),
      }),
    );
  }

  /**
   * The servers follow a zone the publisher changed: every `_domainkey` TXT
   * record added, changed or removed there (against what the servers serve
   * once their queue has landed) reaches server i `lags[i]` after `at`.
   * Returns the selectors that changed.
   */
  follow(
    domain: string,
    dkim: ReadonlyMap<string, string>,
    at: number,
    how: { lags: number[]; serial?: number; via: string },
  ): string[] {
    const now = this.intended.get(domain) ?? new Map<string, string>();
    const changed: string[] = [];
    for (const [selector, value] of dkim) if (now.get(selector) !== value) changed.push(selector);
    for (const selector of now.keys()) if (!dkim.has(selector)) changed.push(selector);
    for (const selector of changed) this.schedule(domain, selector, dkim.get(selector), at, how);
    return changed;
  }

  /** The zone of record (what ns1 serves) as a master file, e.g. for a primary's first load. */
  zoneFile(domain: string): string {
    return renderZoneFile({
      ...this.model(domain, this.zones.get(domain)!, this.zoneSerial(domain)),
      origin: domain,
    });
  }

  /** When the next open PR is due for merging (Infinity when none is open). */
  nextReviewAt(): number {
    const due = this.opts.github
      .listPulls()
      .filter((p) => p.state === "open")
      .map((p) => Date.parse(p.createdAt) + this.opts.reviewDays * DAY_MS);
    return due.length ? Math.min(...due) : Infinity;
  }

  /**
   * Approve and merge ("Squash and merge") every open record PR that has
   * waited `reviewDays`; the checkout follows main, and each change is planned
   * for publication after the identity's lead time.
   */
  reviewDue(now: number): MergedRecordPr[] {
    const merged: MergedRecordPr[] = [];
    for (const pr of this.opts.github.listPulls()) {
      if (pr.state !== "open") continue;
      const mergeAt = Date.parse(pr.createdAt) + this.opts.reviewDays * DAY_MS;
      if (mergeAt > now) continue;
      const branch = /^(dkim|dkim-retire)\/([^/]+)\/([^/]+)$/.exec(pr.head);
      if (!branch) throw new Error(`sandbox DNS team: PR #${pr.number} has branch ${pr.head}`);
      const [, prefix, domain, selector] = branch as unknown as [string, string, string, string];
      const kind = prefix === "dkim" ? "rotation" : "retirement";
      const path = recordPath(domain, selector, recordFolderOf(this.opts.config));
      const content = kind === "rotation" ? this.opts.github.readFile(path, pr.head) : undefined;
      this.opts.github.merge(pr.number);
      this.opts.repository.pullMain(this.opts.github, `${pr.title} (#${pr.number})`, now);
      const identity = this.opts.config.identities.find((i) => i.domain === domain)!;
      const publisher = this.opts.publisher ?? "manual";
      if (publisher !== "manual") {
        // The action's publish job puts it into DNS on the merge's push (publisher
        // role); the gated retire job takes a retired one out (activator role).
        this.opts.event({
          at: now,
          kind: content !== undefined ? "merged" : "retirement-merged",
          domain,
          selector,
          detail:
            content !== undefined
              ? `${domain}: DNS reviewers approved and merged PR #${pr.number}; the publish job puts it into DNS by ${publisher}`
              : `${domain}: retirement PR #${pr.number} merged; the gated retire job takes the record out by ${publisher}`,
        });
        merged.push({
          number: pr.number,
          kind,
          domain,
          selector,
          path,
          mergedAt: now,
          publishAt: now,
        });
        continue;
      }
      const publishAt = now + identity.dnsLeadDays * DAY_MS;
      if (content !== undefined) {
        const record = parseRecordFile(content, path);
        this.schedule(domain, selector, dkimRecordValue(record.tags.get("p")!), publishAt);
        this.opts.event({
          at: now,
          kind: "merged",
          domain,
          selector,
          detail: `${domain}: DNS reviewers approved and merged PR #${pr.number}; publication planned ${isoDate(new Date(publishAt))}`,
        });
      } else {
        this.schedule(domain, selector, undefined, publishAt);
        this.opts.event({
          at: now,
          kind: "retirement-merged",
          domain,
          selector,
          detail: `${domain}: retirement PR #${pr.number} merged; removal planned ${isoDate(new Date(publishAt))}`,
        });
      }
      merged.push({ number: pr.number, kind, domain, selector, path, mergedAt: now, publishAt });
    }
    return merged;
  }

  private model(domain: string, dkim: Map<string, string>, serial: number): ZoneModel {
    return mailDomainZone(domain, {
      serial,
      dkim,
      easyDkimCnames: this.easyDkimCnames.get(domain),
      nameserverAddress: "127.0.0.1",
      txtTtl: 3600,
    });
  }

  private serve(
    server: DnsServer,
    domain: string,
    dkim: Map<string, string>,
    serial: number,
    at: number,
  ) {
    this.served.set(`${server.port}/${domain}`, dkim);
    const model = this.model(domain, dkim, serial);
    server.setZone(domain, model);
    const name = `${domain}.${serial}`;
    if (!this.archive.has(name)) {
      this.archive.add(name);
      writeFileSync(
        join(this.opts.zonesDir, `${name}.zone`),
        renderZoneFile({ ...model, origin: domain }, { servedFrom: new Date(at) }),
      );
    }
  }
}
