/**
 * Easy DKIM's CNAMEs, derived in one place: `<token>._domainkey.<domain>` →
 * `<token>.<SigningHostedZone>`, the zone as SES's GetEmailIdentity gives it
 * per Region (docs/design.md#ses-signing-hosted-zone). Not every Region uses
 * `dkim.amazonses.com`, so the zone is never assumed: without it the target
 * is unknown and every check and message says so.
 */

/** One Easy DKIM CNAME as SES asks for it in one Region. */
export interface EasyDkimCname {
  region: string;
  token: string;
  /** `<token>._domainkey.<domain>` (no trailing dot). */
  name: string;
  /** `<token>.<SigningHostedZone>` (no trailing dot); absent when SES gave no zone. */
  target?: string;
}

/** The CNAMEs SES asks for in `region`, from its tokens and `SigningHostedZone`. */
export function easyDkimCnames(
  domain: string,
  region: string,
  tokens: readonly string[],
  signingHostedZone: string | undefined,
): EasyDkimCname[] {
  const apex = domain.replace(/\.$/, "").toLowerCase();
  const zone = signingHostedZone?.replace(/\.$/, "").toLowerCase();
  return tokens.map((token) => ({
    region,
    token,
    name: `${token}._domainkey.${apex}`,
    ...(zone ? { target: `${token}.${zone}` } : {}),
  }));
}

/** Regions whose CNAME targets are unknown (SES gave no `SigningHostedZone` there). */
export function unknownZoneRegions(cnames: readonly EasyDkimCname[]): string[] {
  return [...new Set(cnames.filter((c) => !c.target).map((c) => c.region))];
}

/** The CNAMEs with their targets, or undefined when any target is unknown (nothing to check against). */
export function withTargets(
  cnames: readonly EasyDkimCname[],
): (EasyDkimCname & { target: string })[] | undefined {
  const known = cnames.flatMap((c) => (c.target ? [{ ...c, target: c.target }] : []));
  return known.length === cnames.length ? known : undefined;
}

/** Why the CNAMEs cannot be checked, in one phrase, or undefined when they can. */
export function unjudgedWhy(cnames: readonly EasyDkimCname[]): string | undefined {
  const regions = unknownZoneRegions(cnames);
  return regions.length
    ? `SES ${regions.join(", ")} gave no DkimAttributes.SigningHostedZone, so the CNAME target is unknown and whether it is served cannot be checked`
    : undefined;
}

/** The CNAMEs as the DNS team would publish them: `name CNAME target; …`. */
export function renderEasyDkimCnames(cnames: readonly EasyDkimCname[]): string {
  return cnames
    .map(
      (c) =>
        `${c.name} CNAME ${c.target ?? `${c.token}.<SigningHostedZone of SES ${c.region}, which SES did not give>`}`,
    )
    .join("; ");
}
