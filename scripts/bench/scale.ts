/**
 * Fleet scale (issue 27): the daily plan and the hourly verify over large
 * fleets with 0–3 identities due, side by side, one emulator per fleet; and
 * bulk onboarding's paced time at AWS's and GitHub's real limits.
 *
 * The plan's SES reads are measured (the emulator's call log and the
 * engine's own count); its time at SES's real 1 request/s is projected as
 * the pacer would space those reads, plus what the run spent besides them.
 */
import type { SesReads } from "../../actions/dkim-rotation/src/engine/snapshot";
import type { FleetChildResult, FleetTask } from "./engine-child";
import { PACER_MARGIN, runChild } from "./fleet";
import { progress, round, table, type Goal } from "./common";
import { BENCH_CODEOWNERS, BENCH_REPOSITORY, HOME_REGION, type World } from "./world";

/** SES's control-plane limit per account and Region (docs/design.md#ses-throttling). */
export const SES_REAL_RATE = 1;
/** The goal: the daily plan over 10,000 identities in 30 minutes at 1 request/s. */
export const PLAN_GOAL_MINUTES = 30;
/** The hourly verify's job timeout (.github/workflows). */
export const VERIFY_TIMEOUT_MINUTES = 30;
/** Bulk onboarding's goal: 1,000 identities in an hour. */
export const ONBOARD_GOAL_MINUTES = 60;
/** KMS GenerateDataKeyPair(WithoutPlaintext) RSA_2048 requests a second (docs/design.md#bulk-onboarding). */
export const KMS_RSA2048_PAIRS_PER_SECOND = 1;
/** Octokit's spacing of content-creating requests and of PR creation (docs/design.md#github-rate-limits). */
export const GITHUB_WRITE_SPACING_S = 1;
export const GITHUB_PR_SPACING_S = 3;
/** Content-creating requests of one new record PR: branch, contents, PR, labels. */
export const WRITES_PER_RECORD_PR = 4;
/** Of one batch record PR (records-per-pr > 1): tree, commit, ref, PR, labels. */
export const WRITES_PER_BATCH_PR = 5;
/** Onboarding sizes up to this are also run against the emulator and the fake. */
export const ONBOARD_MEASURE_MAX = 1000;

export interface ScaleRun {
  command: "plan" | "verify";
  identities: number;
  due: number;
  sesCalls: number;
  sesReads?: SesReads;
  /** ListSecrets requests the emulator answered during the run. */
  keyListings: number;
  wallMs: number;
  /** SES calls ÷ the measured rate: the fastest any client could go. */
  floorMs: number;
  ratio: number;
  /** The same reads at 1 request/s, paced as the engine paces, plus the run's other time. */
  projectedMinutesAt1Rps: number;
  goalMinutes: number;
  failures: string[];
}

export interface OnboardingFigure {
  identities: number;
  recordsPerPr: number;
  /** Measured: plan --apply on a fresh fleet, GitHub's pacing scaled away. */
  measured?: OnboardingRun;
  sesReadMinutes: number;
  kmsMinutes: number;
  githubMinutes: number;
  /** Reads, then the key and PR streams overlapped (keys KEY_CONCURRENCY ahead of the PRs). */
  totalMinutes: number;
}

export interface OnboardingRun {
  /** The engine's wall time (SES at the emulator's rate, Octokit unpaced). */
  wallS: number;
  prs: number;
  /** Content-creating requests the GitHub fake answered (POST, PUT, PATCH, DELETE). */
  githubWrites: number;
  /** Those requests at Octokit's spacing: PRs × max(3 s, their writes × 1 s). */
  pacedGithubMinutes: number;
  failures: string[];
}

export interface ScaleFigures {
  rate: number;
  due: number;
  runs: ScaleRun[];
  onboarding: OnboardingFigure[];
}

/**
 * Onboarding `n` identities at the real limits: one SES read per identity
 * (each is due), one KMS pair per identity at its RSA_2048 quota, and the
 * record PRs at Octokit's pacing. With `recordsPerPr` 1 the PRs go out while
 * KMS makes the next keys (the streams overlap); with more, ceil(n / N) batch
 * PRs go out once every key is stored (tree, commit, ref, PR, labels each),
 * so the streams add up (docs/design.md#bulk-onboarding).
 */
export function onboardingFigure(n: number, recordsPerPr: number): OnboardingFigure {
  const sesS = n * (1 / SES_REAL_RATE) * (1 + PACER_MARGIN);
  const kmsS = n / KMS_RSA2048_PAIRS_PER_SECOND;
  const prs = recordsPerPr === 1 ? n : Math.ceil(n / recordsPerPr);
  const writes = recordsPerPr === 1 ? WRITES_PER_RECORD_PR : WRITES_PER_BATCH_PR;
  const githubS = prs * Math.max(GITHUB_PR_SPACING_S, writes * GITHUB_WRITE_SPACING_S);
  const m = (s: number) => round(s / 60, 1);
  return {
    identities: n,
    recordsPerPr,
    sesReadMinutes: m(sesS),
    kmsMinutes: m(kmsS),
    githubMinutes: m(githubS),
    totalMinutes: m(sesS + (recordsPerPr === 1 ? Math.max(kmsS, githubS) : kmsS + githubS)),
  };
}

/**
 * `plan --apply` over `n` fresh identities, all due, with `recordsPerPr`:
 * the engine's wall time and the GitHub requests it made, with Octokit's
 * pacing scaled away (its paced time is computed from the counted requests).
 */
async function measureOnboarding(
  world: World,
  n: number,
  recordsPerPr: number,
  rate: number,
): Promise<OnboardingRun> {
  progress(`building onboarding fleet: ${n} identities (records-per-pr ${recordsPerPr})`);
  const fleet = await world.createFleet(`o${n}p${recordsPerPr}x`, "due", n, [HOME_REGION]);
  try {
    fleet.emulator.setSesRateLimit(rate);
    const before = world.github.requests.length;
    const child = await runChild<FleetChildResult>({
      kind: "fleet",
      configFile: world.stackFile(fleet, n, [HOME_REGION], rate),
      workspace: world.workspace,
      endpoint: fleet.emulator.url,
      github: { url: world.github.url, ...BENCH_REPOSITORY, codeowners: BENCH_CODEOWNERS },
      rate,
      command: "plan",
      apply: true,
      dns: "real",
      recordsPerPr,
    });
    const requests = world.github.requests.slice(before);
    const writes = requests.filter((r) => r.method !== "GET").length;
    const prs = requests.filter((r) => r.method === "POST" && /\/pulls$/.test(r.path)).length;
    const pacedS = prs
      ? prs * Math.max(GITHUB_PR_SPACING_S, (writes / prs) * GITHUB_WRITE_SPACING_S)
      : 0;
    progress(
      `onboarding ${n} (records-per-pr ${recordsPerPr}): ${prs} PRs, ${writes} GitHub writes, ${round(child.wallMs / 1000, 2)} s`,
    );
    return {
      wallS: round(child.wallMs / 1000, 2),
      prs,
      githubWrites: writes,
      pacedGithubMinutes: round(pacedS / 60, 1),
      failures: child.failures.slice(0, 3),
    };
  } finally {
    await fleet.close();
  }
}

/** Plan (dry run) and verify over each size, with 0 and `due` identities due; one emulator per size. */
export async function measureScale(
  world: World,
  opts: { sizes: number[]; due: number; rate: number; onboardSizes: number[] },
): Promise<ScaleFigures> {
  const runs: ScaleRun[] = [];
  const interval = (1000 / opts.rate) * (1 + PACER_MARGIN);
  for (const n of opts.sizes) {
    progress(`building scale fleet: ${n + opts.due} identities (${opts.due} due)`);
    // The first `due` identities are due: a stack from index `due` has none.
    const fleet = await world.createFleet(`s${n}x`, "idle", n + opts.due, [HOME_REGION], {
      due: opts.due,
    });
    try {
      fleet.emulator.setSesRateLimit(opts.rate);
      const cases: { command: "plan" | "verify"; due: number }[] = [
        { command: "plan", due: 0 },
        { command: "plan", due: opts.due },
        { command: "verify", due: opts.due },
      ];
      for (const c of cases) {
        const stack = world.stackFile(fleet, n, [HOME_REGION], opts.rate, c.due ? 0 : opts.due);
        const before = fleet.emulator.callCount();
        const task: FleetTask = {
          kind: "fleet",
          configFile: stack,
          workspace: world.workspace,
          endpoint: fleet.emulator.url,
          github: { url: world.github.url, ...BENCH_REPOSITORY, codeowners: BENCH_CODEOWNERS },
          rate: opts.rate,
          command: c.command,
          apply: false,
          dns: "real",
        };
        const child = await runChild<FleetChildResult>(task);
        const calls = fleet.emulator.calls().slice(before);
        const sesCalls = calls.filter(
          (x) => x.operation === "GetEmailIdentity" && x.status === 200,
        ).length;
        const goal = c.command === "plan" ? PLAN_GOAL_MINUTES : VERIFY_TIMEOUT_MINUTES;
        const otherMs = Math.max(0, child.wallMs - Math.max(0, sesCalls - 1) * interval);
        const at1 = Math.max(0, sesCalls - 1) * (1000 / SES_REAL_RATE) * (1 + PACER_MARGIN);
        runs.push({
          command: c.command,
          identities: n,
          due: c.due,
          sesCalls,
          ...(child.sesReads ? { sesReads: child.sesReads } : {}),
          keyListings: calls.filter((x) => x.operation === "ListSecrets").length,
          wallMs: round(child.wallMs, 1),
          floorMs: round((sesCalls / opts.rate) * 1000, 1),
          ratio: sesCalls ? round(child.wallMs / ((sesCalls / opts.rate) * 1000), 3) : NaN,
          projectedMinutesAt1Rps: round((at1 + otherMs) / 60_000, 2),
          goalMinutes: goal,
          failures: child.failures.slice(0, 3),
        });
        progress(
          `scale ${c.command} ${n} (${c.due} due): ${sesCalls} SES calls, ${round(child.wallMs / 1000, 2)} s`,
        );
      }
    } finally {
      await fleet.close();
    }
  }
  const onboarding: OnboardingFigure[] = [];
  for (const n of opts.onboardSizes)
    for (const perPr of [1, 50]) {
      const figure = onboardingFigure(n, perPr);
      if (n <= ONBOARD_MEASURE_MAX)
        figure.measured = await measureOnboarding(world, n, perPr, opts.rate);
      onboarding.push(figure);
    }
  return { rate: opts.rate, due: opts.due, runs, onboarding };
}

const n = (x: number) => x.toLocaleString("en-US");

/** The goals: plan ≤ 30 min at 1 request/s; verify within its timeout; onboarding 1,000 ≤ 60 min; one listing per run. */
export function scaleGoals(f: ScaleFigures | undefined): Goal[] {
  if (!f) return [];
  const goals: Goal[] = [];
  for (const r of f.runs) {
    goals.push({
      section: "scale",
      name: `daily ${r.command} over ${n(r.identities)} identities, ${r.due} due, at 1 request/s`,
      goal: `≤ ${r.goalMinutes} min`,
      value: `${r.projectedMinutesAt1Rps} min (${r.sesCalls} SES calls)`,
      met: r.projectedMinutesAt1Rps <= r.goalMinutes && !r.failures.length,
    });
    goals.push({
      section: "scale",
      name: `${r.command} over ${n(r.identities)} identities lists the key store once`,
      // The account holds the fleet's keys (n + due): 100 a page, one listing.
      goal: `≤ ${Math.ceil((r.identities + f.due) / 100)} ListSecrets pages`,
      value: String(r.keyListings),
      met: r.keyListings <= Math.ceil((r.identities + f.due) / 100),
      invariant: true,
    });
  }
  for (const o of f.onboarding.filter((x) => x.identities >= 1000))
    goals.push({
      section: "scale",
      name: `onboarding ${n(o.identities)} identities, records-per-pr ${o.recordsPerPr}`,
      goal: `≤ ${ONBOARD_GOAL_MINUTES} min`,
      value: `${o.totalMinutes} min (paced)`,
      met: o.totalMinutes <= ONBOARD_GOAL_MINUTES,
    });
  return goals;
}

export function renderScale(f: ScaleFigures): string {
  return [
    `SCALE — emulator SES limit ${f.rate} req/s per Region; one emulator per fleet; plan is a dry run; "at 1 req/s" = (SES calls − 1) × 1.05 s + the run's time besides the paced reads`,
    table(
      [
        "run",
        "identities",
        "due",
        "SES calls",
        "why read",
        "ListSecrets",
        "wall s",
        "wall ÷ floor",
        "at 1 req/s (min)",
        "goal (min)",
      ],
      f.runs.map((r) => [
        r.command,
        n(r.identities),
        r.due,
        r.sesCalls,
        r.sesReads
          ? `${r.sesReads.due} due, ${r.sesReads.sweep} sweep, ${r.sesReads.skipped} skipped`
          : "—",
        r.keyListings,
        round(r.wallMs / 1000, 2),
        Number.isNaN(r.ratio) ? "—" : r.ratio,
        r.projectedMinutesAt1Rps,
        r.goalMinutes,
      ]),
    ),
    `ONBOARDING — paced at the real limits: SES ${SES_REAL_RATE} req/s, KMS RSA_2048 pairs ${KMS_RSA2048_PAIRS_PER_SECOND}/s, GitHub writes every ${GITHUB_WRITE_SPACING_S} s and PRs every ${GITHUB_PR_SPACING_S} s; keys overlap one-record PRs, batch PRs follow the keys. "measured": plan --apply on a fresh fleet (SES at the emulator's rate, Octokit unpaced), its GitHub writes paced`,
    table(
      [
        "identities",
        "records-per-pr",
        "SES reads min",
        "KMS min",
        "GitHub min",
        "total min",
        "measured: wall s",
        "PRs",
        "GitHub writes",
        "paced GitHub min",
      ],
      f.onboarding.map((o) => [
        n(o.identities),
        o.recordsPerPr,
        o.sesReadMinutes,
        o.kmsMinutes,
        o.githubMinutes,
        o.totalMinutes,
        o.measured
          ? `${o.measured.wallS}${o.measured.failures.length ? ` (${o.measured.failures.length} failed: ${o.measured.failures[0]})` : ""}`
          : "—",
        o.measured?.prs ?? "—",
        o.measured?.githubWrites ?? "—",
        o.measured?.pacedGithubMinutes ?? "—",
      ]),
    ),
    "",
  ].join("\n");
}
