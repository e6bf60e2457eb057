/**
 * Exponential retry delays, shared by every retry loop (node agent streams and renewals, the Kubernetes
 * policy watch, the CA's rotation checks) so they double and cap the same way.
 */

export interface BackoffOptions {
  /** Delay after the first failure (attempt 0). */
  initialMs: number;
  /** Delays never exceed this. */
  maxMs: number;
}

/**
 * The un-jittered delay before retry `attempt` (0 for the first): `initialMs` doubled `attempt` times,
 * capped at `maxMs`. (The exponent stops at 1023, the largest finite power of two; by then the cap applies.)
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  return Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 1023));
}

/**
 * Exponential backoff as a counter: each `next()` is the delay for one more failure, `reset()` after a
 * success. With jitter (the default) each delay lies in [base/2, base] for the base of backoffDelayMs;
 * `jitter: false` answers the base itself. `random` is injectable so tests can pin the jitter.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions & { jitter?: boolean },
    private readonly random: () => number = Math.random,
  ) {}

  /** Failures since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  next(): number {
    const base = backoffDelayMs(this.attempt, this.options);
    this.attempt++;
    return this.options.jitter === false ? base : base / 2 + this.random() * (base / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
