/**
 * One c-ares channel per (server, timeout, tries) for the world's own TXT
 * lookups (the mail stream, the receivers, the emulated SES's DKIM checks).
 * `queryTxt` makes a `Resolver` per query, which is right for the product's
 * few checks, but a `Resolver` costs a channel's set-up: over half a
 * simulated year that was about 1.5 s of the sandbox's main thread
 * (docs/benchmarks.md, "Sandbox: ≤ 45 s"). The product's own lookups (the
 * engine's DNS checks, the canary) keep a resolver per check.
 *
 * `setServers` on a channel with a query in flight is refused by Node, and
 * `cancel` would fail every caller's query, so the per-query object handed
 * out only picks its channel; the channel's server is set once.
 */
import { promises as dnsPromises } from "node:dns";
import type {
  ResolverFactory,
  ResolverLike,
  ResolverSettings,
} from "../actions/dkim-rotation/src/adapters/dns";

export function pooledResolverFactory(): ResolverFactory {
  const channels = new Map<string, InstanceType<typeof dnsPromises.Resolver>>();
  const channel = (settings: ResolverSettings, server: string) => {
    const key = `${server} ${settings.timeout} ${settings.tries}`;
    let c = channels.get(key);
    if (!c) {
      c = new dnsPromises.Resolver(settings);
      c.setServers([server]);
      channels.set(key, c);
    }
    return c;
  };
  return (settings): ResolverLike => {
    let picked: InstanceType<typeof dnsPromises.Resolver> | undefined;
    const use = () => {
      if (!picked) throw new Error("pooled resolver: setServers([server]) first");
      return picked;
    };
    return {
      setServers(servers) {
        if (servers.length !== 1) throw new Error("pooled resolver: exactly one server");
        picked = channel(settings, servers[0]!);
      },
      resolveTxt: (name) => use().resolveTxt(name),
      resolveCname: (name) => use().resolveCname(name),
      resolveNs: (name) => use().resolveNs(name),
      resolve4: (name) => use().resolve4(name),
      resolve6: (name) => use().resolve6(name),
      // The channel is shared: cancelling it would fail other callers' queries.
      cancel() {},
    };
  };
}
