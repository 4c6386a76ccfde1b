/**
 * What receivers' DMARC reports say about retiring an old selector
 * (docs/design.md#dmarc-aggregate-reports): its key's `dkim:report-seen` tag,
 * written by the report job, is all the planner reads; it never reads the
 * reports themselves.
 */
import { addDays, DAY_MS } from "./clock";
import type { StoredKey } from "./ports";

export const REPORTS_OFF =
  "production proof from DMARC reports is off: the stack file has no dmarcReports block";

/**
 * The evidence gate on retiring an old selector
 * (docs/design.md#dmarc-aggregate-reports): wait until reports have not seen
 * it for `quietDays`, or say why retirement goes ahead without that proof.
 */
export function reportQuiet(
  quietDays: number | undefined,
  old: StoredKey | undefined,
  active: StoredKey | undefined,
  now: Date,
): { ok: true; why: string } | { ok: false; why: string; notBefore: Date } {
  if (quietDays === undefined) return { ok: true, why: REPORTS_OFF };
  const oldSeen = old?.reportSeenAt;
  const newest = [oldSeen, active?.reportSeenAt]
    .filter((d): d is Date => !!d)
    .sort((a, b) => b.getTime() - a.getTime())[0];
  if (!newest || now.getTime() - newest.getTime() >= quietDays * DAY_MS)
    return {
      ok: true,
      why: `no DMARC report data for ${quietDays}+ days${newest ? ` (the last report ended ${newest.toISOString()})` : ""}: retiring on the grace period alone`,
    };
  if (oldSeen && now.getTime() - oldSeen.getTime() < quietDays * DAY_MS) {
    const notBefore = addDays(oldSeen, quietDays);
    return {
      ok: false,
      notBefore,
      why: `not until ${notBefore.toISOString()}: receivers' reports still saw ${old!.selector} until ${oldSeen.toISOString()} (dmarcReports.quietDays ${quietDays})`,
    };
  }
  return {
    ok: true,
    why: oldSeen
      ? `reports have not seen ${old!.selector} since ${oldSeen.toISOString()} (quietDays ${quietDays})`
      : `reports have never seen ${old?.selector ?? "the old selector"} while they see ${active?.selector ?? "the active selector"}`,
  };
}
