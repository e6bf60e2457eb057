import type { LimiterClock } from '../../ca-server/limits/rate-limiter.js';

/** A LimiterClock that only moves when told to; sleepers wake in order of their deadlines. */
export class FakeClock implements LimiterClock {
  private nowMs = 0;
  private sleepers: { until: number; wake: () => void }[] = [];

  now(): number {
    return this.nowMs;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => this.sleepers.push({ until: this.nowMs + ms, wake }));
  }

  /** Moves time on by `ms`, waking every sleeper whose deadline has passed. */
  advance(ms: number): void {
    this.nowMs += ms;
    const due = this.sleepers.filter((s) => s.until <= this.nowMs).sort((a, b) => a.until - b.until);
    this.sleepers = this.sleepers.filter((s) => s.until > this.nowMs);
    for (const sleeper of due) sleeper.wake();
  }

  get sleeping(): number {
    return this.sleepers.length;
  }
}
