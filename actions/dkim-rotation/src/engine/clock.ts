/**
 * Time is injected everywhere so the sandbox can run years in seconds and
 * tests can pin the clock at an edge. Production uses `systemClock`.
 */
export interface Clock {
  now(): Date;
  /** Resolves after `ms` of this clock's time. Simulated clocks advance instead of waiting. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const DAY_MS = 24 * 60 * 60 * 1000;
export const HOUR_MS = 60 * 60 * 1000;
export const MINUTE_MS = 60 * 1000;

export function addDays(d: Date, days: number): Date {
  return new Date(d.getTime() + days * DAY_MS);
}

/** Whole days from `from` to `to`, rounded down (negative if `to` is earlier). */
export function daysBetween(from: Date, to: Date): number {
  return Math.floor((to.getTime() - from.getTime()) / DAY_MS);
}

export function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/**
 * Simulated time, the one the sandbox, the tests and the bench share.
 * `sleep` hands the target time to `advanceTo`, which moves `t` there (in
 * steps, if it wants to run what falls due on the way); `t` never ends a
 * sleep earlier than the target.
 */
export class SimClock implements Clock {
  constructor(
    public t: number,
    private readonly advanceTo: (to: number) => Promise<void>,
  ) {}
  now(): Date {
    return new Date(this.t);
  }
  async sleep(ms: number): Promise<void> {
    const to = this.t + ms;
    await this.advanceTo(to);
    if (this.t < to) this.t = to;
  }
}
