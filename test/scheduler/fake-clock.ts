// A clock a test moves by hand, for the Scheduler's `clock` option: advance(ms) runs every timer
// that falls due in that span, in time order, with now() at each timer's due time.

import type { SchedulerClock } from "../../src/scheduler/scheduler.js";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements SchedulerClock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start: number | Date) {
    this.t = typeof start === "number" ? start : start.getTime();
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }

  /** Timers pending now. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time on by `ms`, running the timers that fall due on the way. */
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }

  /** Time leaps `ms` at once (a suspended machine, a clock step): overdue timers run at the new time. */
  jump(ms: number): void {
    this.t += ms;
    this.advance(0);
  }

  advanceTo(end: number | Date): void {
    const until = typeof end === "number" ? end : end.getTime();
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const first = this.timers[0];
      if (!first || first.at > until) break;
      this.timers.shift();
      this.t = Math.max(this.t, first.at);
      first.fn();
    }
    this.t = Math.max(this.t, until);
  }
}
