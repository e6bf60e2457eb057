import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startOpsServer, type OpsServer } from './ops-server.js';

const LIMITS = { maxConnections: 16, headersTimeoutMs: 5000, requestTimeoutMs: 5000 };

describe('ops server /readyz', () => {
  let ops: OpsServer | undefined;
  afterEach(async () => {
    await ops?.close();
  });

  const readyz = async (readiness: () => string | null | Promise<string | null>) => {
    ops = await startOpsServer({ host: '127.0.0.1', port: 0, registry: new Registry(), readiness, limits: LIMITS });
    const res = await fetch(`http://127.0.0.1:${ops.port}/readyz`);
    return { status: res.status, body: await res.text() };
  };

  it.each<[string, () => string | null | Promise<string | null>, { status: number; body: string }]>([
    ['a synchronous null', () => null, { status: 200, body: 'ready\n' }],
    ['a synchronous reason', () => 'shutting down', { status: 503, body: 'shutting down\n' }],
    ['a promised null', async () => null, { status: 200, body: 'ready\n' }],
    ['a promised reason', async () => 'datastore unreachable', { status: 503, body: 'datastore unreachable\n' }],
    ['a check that throws', () => { throw new Error('boom'); }, { status: 503, body: 'readiness check failed: boom\n' }],
    ['a check that rejects', () => Promise.reject(new Error('boom')), { status: 503, body: 'readiness check failed: boom\n' }],
  ])('answers %s', async (_name, readiness, expected) => {
    expect(await readyz(readiness)).toEqual(expected);
  });
});
