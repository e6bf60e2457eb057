const DAY_MS = 24 * 60 * 60 * 1000;

export interface RotationSchedule {
  /** When the next authority is minted and published in the bundle. */
  prepareAt: Date;
  /** When the prepared authority starts signing and the current one is retired. */
  activateAt: Date;
}

/**
 * SPIRE's schedule: prepare at notAfter - min(lifetime/2, 30d), activate at notAfter - min(lifetime/6, 7d).
 * With the 7-day default lifetime: prepare 3.5 days before expiry, activate 28 h before it. 28 h exceeds the
 * 24 h maximum SVID TTL, so no leaf is ever cut short by its issuer's expiry, and the prepared authority has
 * ~2.3 days to reach every agent's bundle before it signs anything.
 */
export function rotationSchedule(authority: { notBefore: Date; notAfter: Date }): RotationSchedule {
  const end = authority.notAfter.getTime();
  const lifetime = end - authority.notBefore.getTime();
  return {
    prepareAt: new Date(end - Math.min(lifetime / 2, 30 * DAY_MS)),
    activateAt: new Date(end - Math.min(lifetime / 6, 7 * DAY_MS)),
  };
}

export type RotationStep = 'prepare' | 'activate';

/**
 * The next thing to do at `now`. Without a usable active authority (first start, or it expired while the
 * server was down) there is nothing to protect: prepare and activate at once.
 */
export function nextRotationStep(
  state: { active?: { notBefore: Date; notAfter: Date }; hasPrepared: boolean },
  now: Date,
): RotationStep | undefined {
  if (!state.active || now >= state.active.notAfter) return state.hasPrepared ? 'activate' : 'prepare';
  const { prepareAt, activateAt } = rotationSchedule(state.active);
  if (state.hasPrepared) return now >= activateAt ? 'activate' : undefined;
  return now >= prepareAt ? 'prepare' : undefined;
}
