/**
 * When to renew (takes `random` so tests can pin the jitter) and unref'd timers. Retry delays after a
 * failure are core/backoff.ts.
 */

export interface RotationPolicy {
  /** Renew at this fraction of the lifetime (0.5 = half-life)... */
  fraction: number;
  /** ...plus or minus up to this fraction of the lifetime, uniformly. */
  jitter: number;
}

/**
 * Milliseconds from `now` until an SVID valid from `issuedAt` (when it reached us; not the backdated
 * notBefore, which would pull renewal forward) to `notAfter` should be renewed. Never negative.
 */
export function renewalDelayMs(
  svid: { issuedAt: Date; notAfter: Date },
  policy: RotationPolicy,
  now = Date.now(),
  random: () => number = Math.random,
): number {
  const lifetime = svid.notAfter.getTime() - svid.issuedAt.getTime();
  const share = policy.fraction + (random() * 2 - 1) * policy.jitter;
  return Math.max(0, svid.issuedAt.getTime() + lifetime * share - now);
}

/** setTimeout that does not keep the process alive; delays beyond Node's 24.8-day limit fire at that limit, not at once. */
export function timer(ms: number, fn: () => void): NodeJS.Timeout {
  const t = setTimeout(fn, Math.min(Math.max(0, ms), 2 ** 31 - 1));
  t.unref();
  return t;
}
