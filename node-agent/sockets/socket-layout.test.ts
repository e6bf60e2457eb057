import { describe, expect, it } from 'vitest';
import { planSocket } from './socket-layout.js';

const AGENT = { uid: 0, gid: 0 };

describe('planSocket', () => {
  it('normalizes the selectors a socket attributes (gid before uid, duplicates folded)', () => {
    const plan = planSocket('/run/meshid', ['unix:uid:1000', 'unix:gid:50', 'unix:uid:1000'], AGENT);
    expect(plan.selectors).toEqual(['unix:gid:50', 'unix:uid:1000']);
    expect(plan.socket.path).toBe('/run/meshid/gid-50/uid-1000/agent.sock');
    expect(planSocket('/run/meshid', ['unix:gid:50', 'unix:uid:1000'], AGENT).key).toBe(plan.key);
  });

  it('puts the agent\'s own uid/gid where the layout says "agent" (non-root development runs)', () => {
    const plan = planSocket('/tmp/s', ['unix:gid:50'], { uid: 501, gid: 20 });
    expect(plan.groupDir).toEqual({ path: '/tmp/s/gid-50', uid: 501, gid: 50, mode: 0o750 });
    expect(plan.socket).toEqual({ path: '/tmp/s/gid-50/agent.sock', uid: 501, gid: 50, mode: 0o660 });
    expect(planSocket('/tmp/s', ['unix:uid:7'], { uid: 501, gid: 20 }).userDir).toEqual({ path: '/tmp/s/uid-7', uid: 7, gid: 20, mode: 0o700 });
  });

  it('refuses what no directory permission can vouch for', () => {
    expect(() => planSocket('/s', [], AGENT)).toThrow(/empty selector set/);
    expect(() => planSocket('/s', ['unix:uid:1', 'unix:uid:2'], AGENT)).toThrow(/two uids \(1 and 2\)/);
    expect(() => planSocket('/s', ['k8s:ns:default'], AGENT)).toThrow(/cannot be vouched for/);
    expect(() => planSocket('/s', ['unix:uid:-1'], AGENT)).toThrow(/cannot be vouched for/);
    expect(() => planSocket('/s', ['unix:uid:4294967295'], AGENT)).toThrow(/cannot be vouched for/);
    expect(() => planSocket(`/${'d'.repeat(100)}`, ['unix:uid:1'], AGENT)).toThrow(/longer than the 107 bytes/);
  });
});
