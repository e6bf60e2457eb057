// /readyz of a real VM agent: ready only with an unexpired agent SVID and a trust bundle. The CA is stopped
// and restarted on the same data dir and port to hold the agent in each not-ready state.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BUNDLE_JWKS_FILE } from '../../node-agent/bundle-watcher.js';
import type { NodeAgent } from '../../node-agent/agent.js';
import type { NodeAgentConfig } from '../../node-agent/config.js';
import { CaFixture } from '../ca-server/fixture.js';
import { agentConfig, createJoinToken, nextEvent, startAgent, tempDir } from './agent-fixture.js';

let root: string;
let port = 0;
let ca: CaFixture | undefined;
let config: NodeAgentConfig;
let agent: NodeAgent | undefined;

async function startCa(): Promise<void> {
  ca = await CaFixture.start({
    kubernetes: 'disabled',
    dataDir: path.join(root, 'ca'),
    config: { listen: { grpc: `127.0.0.1:${port}`, metrics: '127.0.0.1:0', adminSocket: path.join(root, 'admin.sock') } },
  });
  port = ca.server.grpcPort;
}

async function stopCa(): Promise<void> {
  await ca?.close();
  ca = undefined;
}

const readyz = async () => {
  const res = await fetch(`http://127.0.0.1:${agent!.opsPort}/readyz`);
  return { status: res.status, body: await res.text() };
};

beforeAll(async () => {
  root = await tempDir();
  await startCa();
  const admin = ca!.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/readiness');
  admin.close();
  config = agentConfig(ca!, await tempDir(root), { joinToken: token.value });
});

afterAll(async () => {
  await agent?.close();
  await stopCa();
  // A closed agent may still be persisting the last bundle it applied: retry while the dir refills.
  await rm(root, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('agent /readyz', () => {
  it('is 503 before the first agent SVID and 200 once attested', async () => {
    await stopCa();
    agent = await startAgent(config);
    expect(await readyz()).toEqual({ status: 503, body: 'no agent SVID yet (attesting to the CA)\n' });

    const attested = nextEvent(agent.identity, 'rotated');
    await startCa();
    await attested;
    expect(await readyz()).toEqual({ status: 200, body: 'ready\n' });
  });

  it('is 503 once the agent SVID has expired', async () => {
    const { notAfter } = agent!.identity.current()!;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(notAfter.getTime() + 1000);
    expect(await readyz()).toEqual({ status: 503, body: 'the agent SVID has expired\n' });
    vi.useRealTimers();
    expect((await readyz()).status).toBe(200);
  });

  it('is 503 without a trust bundle (restarted with its persisted bundle gone, CA down) until the CA sends one', async () => {
    await agent!.close();
    await stopCa();
    await rm(path.join(config.dataDir, BUNDLE_JWKS_FILE));
    agent = await startAgent(config);
    expect(agent.identity.current()).toBeDefined();
    expect(await readyz()).toEqual({ status: 503, body: 'no trust bundle yet\n' });

    const bundle = nextEvent(agent.bundles, 'change');
    await startCa();
    await bundle;
    expect(await readyz()).toEqual({ status: 200, body: 'ready\n' });
  });
});
