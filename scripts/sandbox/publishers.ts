/**
 * `--publisher`: who puts a merged record into DNS in the sandbox.
 *
 * - `manual` (default): the DNS team publishes by hand `dnsLeadDays` after
 *   the merge (dns-team.ts); nothing here runs.
 * - `rfc2136`: a real BIND `named` (bind-primary.ts) is the hidden primary of
 *   every domain; the action's `Rfc2136Publisher` updates it with `nsupdate`
 *   (TCP, TSIG), the TSIG secret read from the emulator's Secrets Manager.
 *   The sandbox's ns1/ns2 are its secondaries: after every workflow run the
 *   primary's SOA serial is compared and, when it rose, the zone is
 *   transferred (AXFR) and its `_domainkey` TXT records reach ns1 a minute
 *   later and ns2 `NS2_FOLLOW_MS` later (NOTIFY, then the transfer).
 * - `route53`: the emulator hosts each domain's zone; the action's
 *   `Route53Publisher` UPSERTs/DELETEs through the SDK (REST-XML) and waits
 *   for INSYNC; ns1/ns2 play Route 53's authoritative servers and serve the
 *   zone's `_domainkey` TXT records when the emulator reports the change
 *   served (`onRoute53Sync`).
 *
 * The DNS team still reviews and merges every PR; activation still verifies
 * ns1 and ns2 and still waits for the approvers.
 */
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import {
  ChangeResourceRecordSetsCommand,
  Route53Client,
  type Change,
} from "@aws-sdk/client-route-53";
import { MINUTE_MS } from "../../actions/dkim-rotation/src/engine/clock";
import type { ProjectConfig } from "../../actions/dkim-rotation/src/engine/config";
import { splitTxt } from "../../actions/dkim-rotation/src/engine/record";
import type { AwsEmulator, AwsEmulatorOptions, Route53RecordSet } from "./aws-emulator";
import { prepareBindPrimary, quotedStrings, type BindPrimary } from "./bind-primary";
import type { DnsServer } from "./dns-server";
import type { DnsEvent, DnsTeam, SandboxPublisher } from "./dns-team";
import type { TimelineInput } from "./timeline";
import type { IdentityExtras } from "./world";

export type { SandboxPublisher } from "./dns-team";
export const SANDBOX_PUBLISHERS: readonly SandboxPublisher[] = ["manual", "rfc2136", "route53"];

/** The secondaries after the primary's serial rose: ns1 (NOTIFY + transfer), ns2 (a slower secondary). */
export const NS1_FOLLOW_MS = MINUTE_MS;
export const NS2_FOLLOW_MS = 10 * MINUTE_MS;
/** Where each domain's TSIG secret lives (never under the DKIM key prefix). */
export const tsigSecretName = (domain: string) => `ses-dkim-rotation/tsig/${domain}`;

/** What DNS holds at the end of a run, per domain: selectors with a `_domainkey` TXT record. */
export interface PublisherEndState {
  /** Record files on main (`<record folder>/<domain>/<selector>.zone`). */
  main: string[];
  ns1: string[];
  ns2: string[];
  /** rfc2136: what the primary itself answers (`dig TXT` per selector). */
  primary?: string[];
  /** route53: the hosted zone's TXT sets (the API's view). */
  route53?: string[];
  /** rfc2136: a workflow step masked the TSIG secret it read (`::add-mask::`). */
  tsigSecretMasked?: boolean;
}

export interface PublisherWorld {
  readonly kind: SandboxPublisher;
  /** The identities' stack-file settings (`publisher`, `rfc2136` / `route53`). */
  extras(domains: string[]): IdentityExtras;
  /** Once the team has set up every zone: start the primary or fill the hosted zones. */
  setUp(config: ProjectConfig): Promise<void>;
  /** After every workflow run: secondaries follow the primary. */
  afterRun(): Promise<void>;
  /** A value a workflow step masked. */
  noteMasked(secret: string): void;
  /** What every server, the primary or Route 53 holds at the end (`selectors`: every one the run saw, asked of the primary). */
  endState(domain: string, selectors: string[], main: string[]): Promise<PublisherEndState>;
  close(): Promise<void>;
}

export interface PublisherWorldOptions {
  emulator: AwsEmulator;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Reached late: the team is built after the emulator. */
  team: () => DnsTeam | undefined;
  now: () => number;
  servers: [DnsServer, DnsServer];
  onSecret: (secret: string) => void;
  /** One timeline event (printed and kept, timeline.ts). */
  event: (e: TimelineInput) => void;
}

/** Emulator options a publisher needs (route53: the sync hook, a fast API). */
export function publisherEmulatorOptions(
  kind: SandboxPublisher,
  onSync: (zoneName: string, sets: Route53RecordSet[]) => void,
): Partial<AwsEmulatorOptions> {
  if (kind !== "route53") return {};
  // Route 53 allows 5 API requests/s per account; scaled like SES's pacing.
  return { route53: { requestsPerSecond: 1000 }, onRoute53Sync: onSync };
}

/** `_domainkey` TXT sets of one zone: selector → joined value. */
export function dkimOfRecordSets(zone: string, sets: Route53RecordSet[]): Map<string, string> {
  const suffix = `._domainkey.${zone}.`;
  const dkim = new Map<string, string>();
  for (const set of sets) {
    if (set.type !== "TXT" || !set.name.endsWith(suffix)) continue;
    const selector = set.name.slice(0, -suffix.length);
    if (selector.includes(".")) continue;
    // One record per selector: the publisher writes exactly one value.
    dkim.set(selector, set.values.map((v) => quotedStrings(v).join("")).join(""));
  }
  return dkim;
}

export async function startPublisherWorld(
  kind: SandboxPublisher,
  o: PublisherWorldOptions,
): Promise<PublisherWorld | undefined> {
  if (kind === "manual") return undefined;
  const servedOn = (server: DnsServer, domain: string) => o.team()!.servedSelectors(server, domain);
  const [ns1, ns2] = o.servers;

  if (kind === "rfc2136") {
    const primary: BindPrimary = await prepareBindPrimary();
    o.onSecret(primary.secret);
    const serials = new Map<string, number>();
    let domains: string[] = [];
    let masked = false;
    return {
      kind,
      noteMasked(secret) {
        if (secret === primary.secret) masked = true;
      },
      extras(ds) {
        domains = ds;
        return Object.fromEntries(
          ds.map((d) => [
            d,
            {
              publisher: "rfc2136",
              rfc2136: {
                server: primary.server,
                keyName: primary.keyName,
                algorithm: primary.algorithm,
                secretName: tsigSecretName(d),
              },
            },
          ]),
        );
      },
      async setUp(config) {
        // The TSIG secret, as the DNS team hands it over: in Secrets Manager, in the home Region.
        const client = new SecretsManagerClient({
          region: config.defaultRegion,
          endpoint: o.emulator.url,
          credentials: o.credentials,
        });
        try {
          for (const d of domains)
            await client.send(
              new CreateSecretCommand({
                Name: tsigSecretName(d),
                SecretString: primary.secret,
                Description: `TSIG key ${primary.keyName} for RFC 2136 updates of ${d} (sandbox)`,
              }),
            );
        } finally {
          client.destroy();
        }
        const team = o.team()!;
        await primary.start(domains.map((d) => ({ origin: d, text: team.zoneFile(d) })));
        for (const d of domains) serials.set(d, await primary.serial(d));
        o.event({
          at: o.now(),
          kind: "start",
          detail: `sandbox: publisher rfc2136: named ${primary.server} is the hidden primary of ${domains.join(", ")} (TSIG ${primary.keyName}, update-policy: _domainkey TXT only); ns1 and ns2 follow its serial`,
        });
      },
      async afterRun() {
        const team = o.team()!;
        for (const d of domains) {
          const serial = await primary.serial(d);
          if (serial <= (serials.get(d) ?? 0)) continue;
          serials.set(d, serial);
          const dkim = await primary.transferDkim(d);
          team.follow(d, dkim, o.now(), {
            lags: [NS1_FOLLOW_MS, NS2_FOLLOW_MS],
            serial,
            via: `zone transfer from the rfc2136 primary`,
          });
        }
      },
      async endState(domain, selectors, main) {
        const onPrimary: string[] = [];
        for (const s of selectors) if ((await primary.digTxt(domain, s)).length) onPrimary.push(s);
        return {
          main,
          ns1: servedOn(ns1, domain),
          ns2: servedOn(ns2, domain),
          primary: onPrimary,
          tsigSecretMasked: masked,
        };
      },
      close: () => primary.stop(),
    };
  }

  // route53
  const zoneIds = new Map<string, string>();
  const client = new Route53Client({
    region: "us-east-1",
    endpoint: o.emulator.url,
    credentials: o.credentials,
  });
  return {
    kind,
    extras(ds) {
      for (const d of ds) if (!zoneIds.has(d)) zoneIds.set(d, o.emulator.createHostedZone(d));
      return Object.fromEntries(
        ds.map((d) => [d, { publisher: "route53", route53: { hostedZoneId: zoneIds.get(d)! } }]),
      );
    },
    async setUp(config) {
      // The zones start as the servers do: the legacy domain's hand-made selector is in Route 53.
      const team = o.team()!;
      for (const identity of config.identities) {
        const d = identity.domain;
        const selectors = team.servedSelectors(ns1, d);
        if (!selectors.length) continue;
        const changes: Change[] = selectors.map((s) => ({
          Action: "CREATE",
          ResourceRecordSet: {
            Name: `${s}._domainkey.${d}.`,
            Type: "TXT",
            TTL: 3600,
            ResourceRecords: [
              {
                Value: splitTxt(team.servedValue(ns1, d, s)!)
                  .map((x) => `"${x}"`)
                  .join(" "),
              },
            ],
          },
        }));
        await client.send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: zoneIds.get(d)!,
            ChangeBatch: { Comment: "sandbox: the zone as it starts", Changes: changes },
          }),
        );
      }
      o.event({
        at: o.now(),
        kind: "start",
        detail: `sandbox: publisher route53: hosted zones ${[...zoneIds].map(([d, id]) => `${d} ${id}`).join(", ")}; ns1 and ns2 serve each change once Route 53 reports it in sync`,
      });
    },
    async afterRun() {},
    noteMasked() {},
    async endState(domain, _selectors, main) {
      const inZone = [
        ...dkimOfRecordSets(domain, o.emulator.route53Records(zoneIds.get(domain)!)).keys(),
      ];
      return {
        main,
        ns1: servedOn(ns1, domain),
        ns2: servedOn(ns2, domain),
        route53: inZone.sort(),
      };
    },
    async close() {
      client.destroy();
    },
  };
}

/** The route53 sync hook: Route 53's servers (ns1, ns2) serve the zone's records at once. */
export function route53Follower(o: {
  team: () => DnsTeam | undefined;
  onDnsEvents: (events: DnsEvent[]) => void;
  now: () => number;
}) {
  return (zoneName: string, sets: Route53RecordSet[]) => {
    const team = o.team();
    if (!team) return;
    const domain = zoneName.replace(/\.$/, "");
    const at = o.now();
    const changed = team.follow(domain, dkimOfRecordSets(domain, sets), at, {
      lags: [0, 0],
      via: "Route 53 change in sync",
    });
    if (changed.length) o.onDnsEvents(team.applyDue(at));
  };
}
