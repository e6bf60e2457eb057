import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { watchTokenDeadline } from './token-deadline.js';

const NOW = Date.parse('2026-12-04T12:00:00Z') / 1000;
const jwt = (claims: Record<string, unknown>) =>
  `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const log = pino({ level: 'silent' });

describe('watchTokenDeadline', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW * 1000);
  });
  afterEach(() => vi.useRealTimers());

  it.each([
    ['a fresh 1 h token: at 90% of its life', { iat: NOW, exp: NOW + 3600 }, 0.9, 3240],
    ['a token issued 20 min ago: still at 90% of its life', { iat: NOW - 1200, exp: NOW + 2400 }, 0.9, 2040],
    ['past its reconnect point: 15 s before exp', { iat: NOW - 3300, exp: NOW + 300 }, 0.9, 285],
    ['in its last 15 s: never', { iat: NOW - 3590, exp: NOW + 10 }, 0.9, null],
    ['expired: never', { iat: NOW - 3600, exp: NOW - 1 }, 0.9, null],
    ['without iat: never', { exp: NOW + 3600 }, 0.9, null],
    ['exp not a number: never', { iat: NOW, exp: 'soon' }, 0.9, null],
  ])('%s', (_name, claims, fraction, due) => {
    const onDue = vi.fn();
    watchTokenDeadline({ kind: 'k8s-token', token: jwt(claims) }, fraction, log, onDue);
    if (due === null) {
      vi.advanceTimersByTime(7200_000);
      expect(onDue).not.toHaveBeenCalled();
      return;
    }
    vi.advanceTimersByTime(due * 1000 - 1);
    expect(onDue).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onDue).toHaveBeenCalledWith(expect.objectContaining({ code: 'UNAVAILABLE', reason: 'token_expiring' }));
  });

  it('never fires for a non-JWT token or a unix caller, nor once cancelled', () => {
    const onDue = vi.fn();
    watchTokenDeadline({ kind: 'k8s-token', token: 'not-a-jwt' }, 0.9, log, onDue);
    watchTokenDeadline({ kind: 'unix', selectors: ['unix:uid:1'] }, 0.9, log, onDue);
    watchTokenDeadline({ kind: 'k8s-token', token: jwt({ iat: NOW, exp: NOW + 60 }) }, 0.5, log, onDue)();
    vi.advanceTimersByTime(7200_000);
    expect(onDue).not.toHaveBeenCalled();
  });
});
