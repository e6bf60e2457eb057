import { describe, expect, it } from 'vitest';
import { FloodGuard, MAX_EMPTY_FRAMES, MAX_QUEUED_CONTROL_FRAMES, RESET_BURST, RESET_RATE } from './flood-guard.js';

describe('FloodGuard', () => {
  it('allows the cap of queued control frames, trips past it, and counts afresh once the queue empties', () => {
    const guard = new FloodGuard();
    for (let i = 0; i < MAX_QUEUED_CONTROL_FRAMES; i++) expect(guard.controlFrameQueued()).toBe(false);
    expect(guard.controlFrameQueued()).toBe(true);
    guard.writeQueueEmptied();
    expect(guard.controlFrameQueued()).toBe(false);
  });

  it('counts empty frames between requests', () => {
    const guard = new FloodGuard();
    for (let i = 0; i < MAX_EMPTY_FRAMES; i++) expect(guard.emptyFrame()).toBe(false);
    guard.requestCompleted();
    for (let i = 0; i < MAX_EMPTY_FRAMES; i++) expect(guard.emptyFrame()).toBe(false);
    expect(guard.emptyFrame()).toBe(true);
  });

  it('lets a burst of resets through, then RESET_RATE a second', () => {
    const t0 = 5_000;
    const guard = new FloodGuard(t0);
    for (let i = 0; i < RESET_BURST; i++) expect(guard.peerReset(t0)).toBe(false);
    expect(guard.peerReset(t0)).toBe(true);
    const oneSecondLater = t0 + 1000;
    for (let i = 0; i < RESET_RATE; i++) expect(guard.peerReset(oneSecondLater)).toBe(false);
    expect(guard.peerReset(oneSecondLater)).toBe(true);
    // Tokens never pile up beyond the burst.
    const muchLater = t0 + 3_600_000;
    for (let i = 0; i < RESET_BURST; i++) expect(guard.peerReset(muchLater)).toBe(false);
    expect(guard.peerReset(muchLater)).toBe(true);
  });
});
