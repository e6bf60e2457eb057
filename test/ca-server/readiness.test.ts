// /readyz of a real CA: ready only while it can sign, i.e. with an active signing CA inside its validity
// and a datastore that answers. The clock is moved with a fake Date (timers stay real).
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CaFixture } from './fixture.js';

const readyz = async (ca: CaFixture) => {
  const res = await fetch(`${ca.metricsUrl}/readyz`);
  return { status: res.status, body: await res.text() };
};

describe('CA /readyz', () => {
  let ca: CaFixture;

  beforeAll(async () => {
    ca = await CaFixture.start({ kubernetes: 'disabled' });
  });
  afterAll(async () => {
    await ca?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers 200 while the active signing CA is valid and the datastore answers', async () => {
    expect(await readyz(ca)).toEqual({ status: 200, body: 'ready\n' });
  });

  it('answers 503 once the active signing CA has expired, and names it', async () => {
    const active = ca.server.authorities.active();
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(active.notAfter.getTime() + 1000);
    expect(await readyz(ca)).toEqual({ status: 503, body: `the active signing CA ${active.id} expired at ${active.notAfter.toISOString()}\n` });
    vi.useRealTimers();
    expect((await readyz(ca)).status).toBe(200);
  });

  it('answers 503 while the active signing CA is not valid yet (clock behind)', async () => {
    const active = ca.server.authorities.active();
    const notBefore = active.certificate.notBefore;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(notBefore.getTime() - 60_000);
    expect(await readyz(ca)).toEqual({ status: 503, body: `the active signing CA ${active.id} is not valid before ${notBefore.toISOString()}\n` });
  });

  it('answers 503 when the datastore does not answer, while /healthz stays 200', async () => {
    await ca.server.store.close();
    expect(await readyz(ca)).toEqual({ status: 503, body: 'datastore unreachable: datastore is closed\n' });
    expect((await fetch(`${ca.metricsUrl}/healthz`)).status).toBe(200);
  });
});
