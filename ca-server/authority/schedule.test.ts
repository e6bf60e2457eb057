import { describe, expect, it } from 'vitest';
import { nextRotationStep, rotationSchedule } from './schedule.js';

const H = 3600_000;
const D = 24 * H;
const T0 = new Date('2030-01-01T00:00:00Z').getTime();
const at = (ms: number) => new Date(T0 + ms);

describe('rotationSchedule', () => {
  it('prepares at half and activates at five sixths of a 7-day lifetime', () => {
    expect(rotationSchedule({ notBefore: at(0), notAfter: at(7 * D) })).toEqual({
      prepareAt: at(3.5 * D),
      activateAt: at(7 * D - 28 * H),
    });
  });

  it('caps the lead times at 30 days and 7 days for long lifetimes', () => {
    expect(rotationSchedule({ notBefore: at(0), notAfter: at(365 * D) })).toEqual({
      prepareAt: at(335 * D),
      activateAt: at(358 * D),
    });
  });
});

describe('nextRotationStep', () => {
  const active = { notBefore: at(0), notAfter: at(6 * H) }; // prepare at 3 h, activate at 5 h

  it('prepares, then activates at once, without an active authority', () => {
    expect(nextRotationStep({ hasPrepared: false }, at(0))).toBe('prepare');
    expect(nextRotationStep({ hasPrepared: true }, at(0))).toBe('activate');
  });

  it('follows the schedule of the active authority', () => {
    expect(nextRotationStep({ active, hasPrepared: false }, at(3 * H - 1))).toBeUndefined();
    expect(nextRotationStep({ active, hasPrepared: false }, at(3 * H))).toBe('prepare');
    expect(nextRotationStep({ active, hasPrepared: true }, at(5 * H - 1))).toBeUndefined();
    expect(nextRotationStep({ active, hasPrepared: true }, at(5 * H))).toBe('activate');
  });

  it('prepares late when the preparation point was missed, activating on the next step', () => {
    expect(nextRotationStep({ active, hasPrepared: false }, at(5.5 * H))).toBe('prepare');
  });

  it('replaces an expired active authority immediately', () => {
    expect(nextRotationStep({ active, hasPrepared: false }, at(6 * H))).toBe('prepare');
    expect(nextRotationStep({ active, hasPrepared: true }, at(9 * H))).toBe('activate');
  });
});
