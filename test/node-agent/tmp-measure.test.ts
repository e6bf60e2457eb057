import { it } from 'vitest';
import { CaFixture } from '../ca-server/fixture.js';
import { agentConfig, createEntry, createJoinToken, startAgent, tempDir, TRUST_DOMAIN } from './agent-fixture.js';
it('measures', async () => {
  const ca = await CaFixture.start({ kubernetes: 'disabled' });
  const admin = ca.adminClient();
  const token = await createJoinToken(admin, '/meshid/agent/m');
  const N = 1000;
  for (let i = 0; i < N; i++) await createEntry(admin, { spiffeId: `spiffe://${TRUST_DOMAIN}/w/${i}`, parentId: token.spiffeId, selectors: [`unix:uid:${10000 + i}`] });
  const agent = await startAgent(agentConfig(ca, await tempDir(), { joinToken: token.value }));
  await agent.entries!.refresh();
  const lat: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    await agent.source.x509Svids({ kind: 'unix', selectors: [`unix:uid:${10000 + i}`] });
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  console.log('first-cert p50', lat[150].toFixed(2), 'p99', lat[297].toFixed(2));
  const t = performance.now();
  await Promise.all(Array.from({ length: N - 300 }, (_, i) => agent.source.x509Svids({ kind: 'unix', selectors: [`unix:uid:${10300 + i}`] })));
  console.log('700 concurrent first certs ms', (performance.now() - t).toFixed(0), 'cached', agent.svids.size);
  const t2 = performance.now();
  for (let i = 0; i < N; i++) await agent.source.x509Svids({ kind: 'unix', selectors: [`unix:uid:${10000 + i}`] });
  console.log('1000 cached lookups ms', (performance.now() - t2).toFixed(1));
  global.gc?.();
  console.log('rss MB (agent+CA in one process)', (process.memoryUsage().rss / 1e6).toFixed(0));
  await agent.close(); admin.close(); await ca.close();
}, 120000);
