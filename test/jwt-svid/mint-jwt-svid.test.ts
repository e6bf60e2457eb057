import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import type { TrustBundle__Output } from '../../protos/gen/meshid/v1/TrustBundle.js';
import { JwtCa, refusal, TRUST_DOMAIN, verifyWithBundle, type Agent } from './ca.js';

describe('MintJWTSVID against a real CA', () => {
  let ca: JwtCa;
  let agent: Agent;
  let entryId: string;
  const workloadId = `spiffe://${TRUST_DOMAIN}/billing/api`;

  beforeAll(async () => {
    ca = await JwtCa.start();
    agent = await ca.attestAgent({ joinToken: true });
    entryId = await ca.createEntry(workloadId, agent.spiffeId);
  });
  afterAll(() => ca.close());

  it('signs a token that verifies against the JWT keys of the served bundle', async () => {
    const before = Math.floor(Date.now() / 1000);
    const svid = await agent.mint({ entry_id: entryId, audience: ['orders', 'payments'] });
    const after = Math.floor(Date.now() / 1000);

    expect(svid.spiffe_id).toBe(workloadId);
    const header = decodeProtectedHeader(svid.token);
    expect(header).toEqual({ alg: 'ES256', kid: ca.server.jwtKeys.active().kid, typ: 'JWT' });

    const { payload } = await verifyWithBundle(svid.token, await ca.jwksJson(), { audience: 'payments' });
    expect(payload.sub).toBe(workloadId);
    expect(payload.aud).toEqual(['orders', 'payments']);
    expect(payload.exp).toBe(svid.expires_at);
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.iat).toBeLessThanOrEqual(after);
    expect(payload.exp! - payload.iat!).toBe(300); // 5 minute default
  });

  it('refuses the token to a validator whose audience is not in aud', async () => {
    const svid = await agent.mint({ entry_id: entryId, audience: ['orders'] });
    await expect(verifyWithBundle(svid.token, await ca.jwksJson(), { audience: 'payments' })).rejects.toThrow(/aud/);
  });

  it('honours a requested TTL and cuts one above jwt.maxTtl to the maximum', async () => {
    const short = await agent.mint({ entry_id: entryId, audience: ['orders'], ttl_seconds: 60 });
    const long = await agent.mint({ entry_id: entryId, audience: ['orders'], ttl_seconds: 7 * 24 * 3600 });
    const lifetime = async (token: string) => {
      const { payload } = await verifyWithBundle(token, await ca.jwksJson(), { audience: 'orders' });
      return payload.exp! - payload.iat!;
    };
    expect(await lifetime(short.token)).toBe(60);
    expect(await lifetime(long.token)).toBe(3600);
  });

  it('requires at least one non-empty audience', async () => {
    expect(await refusal(agent.mint({ entry_id: entryId, audience: [] }))).toEqual({
      code: 'INVALID_ARGUMENT',
      details: expect.stringMatching(/at least one audience is required/),
    });
    expect(await refusal(agent.mint({ entry_id: entryId, audience: ['orders', ''] }))).toEqual({
      code: 'INVALID_ARGUMENT',
      details: 'audience[1] is empty',
    });
  });

  it('requires a workload and a non-negative TTL', async () => {
    expect(await refusal(agent.mint({ audience: ['orders'] }))).toEqual({
      code: 'INVALID_ARGUMENT',
      details: 'one of entry_id or k8s_token is required',
    });
    expect(await refusal(agent.mint({ entry_id: entryId, audience: ['orders'], ttl_seconds: -5 }))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it("refuses an entry parented to another agent, and unknown entries", async () => {
    const other = await ca.attestAgent({ joinToken: true });
    const othersEntry = await ca.createEntry(`spiffe://${TRUST_DOMAIN}/other/app`, other.spiffeId);
    expect(await refusal(agent.mint({ entry_id: othersEntry, audience: ['orders'] }))).toEqual({
      code: 'PERMISSION_DENIED',
      details: expect.stringContaining(`is not parented to ${agent.spiffeId}`),
    });
    expect(await refusal(agent.mint({ entry_id: 'no-such-entry', audience: ['orders'] }))).toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    // The rightful agent gets it.
    expect((await other.mint({ entry_id: othersEntry, audience: ['orders'] })).spiffe_id).toBe(`spiffe://${TRUST_DOMAIN}/other/app`);
  });

  it('refuses callers without an agent SVID', async () => {
    const anonymous = ca.agentClient();
    const res = await refusal(
      new Promise((resolve, reject) =>
        anonymous.MintJWTSVID({ entry_id: entryId, audience: ['orders'] }, (err, r) => (err ? reject(err) : resolve(r))),
      ),
    );
    expect(res.code).toBe('UNAUTHENTICATED');
  });

  it('counts issued and refused JWT-SVIDs', async () => {
    const metric = async () => (await ca.server.metrics.jwtSvids.get()).values;
    const count = async (result: string) => (await metric()).find((v) => v.labels.result === result)?.value ?? 0;
    const issued = await count('issued');
    const invalid = await count('invalid_argument');
    await agent.mint({ entry_id: entryId, audience: ['orders'] });
    await refusal(agent.mint({ entry_id: entryId, audience: [] }));
    expect(await count('issued')).toBe(issued + 1);
    expect(await count('invalid_argument')).toBe(invalid + 1);
  });

  it('issues for a pod on the node agent\'s own node and refuses a pod on another node', async () => {
    const nodeAgent = await ca.attestAgent({ k8sNode: 'worker-1' });
    const here = await nodeAgent.mint({ k8s_token: await ca.podToken('shop/cart', 'worker-1'), audience: ['orders'] });
    expect(here.spiffe_id).toBe(`spiffe://${TRUST_DOMAIN}/ns/shop/sa/cart`);
    const { payload } = await verifyWithBundle(here.token, await ca.jwksJson(), { audience: 'orders' });
    expect(payload.sub).toBe(`spiffe://${TRUST_DOMAIN}/ns/shop/sa/cart`);

    expect(await refusal(nodeAgent.mint({ k8s_token: await ca.podToken('shop/cart', 'worker-2'), audience: ['orders'] }))).toEqual({
      code: 'PERMISSION_DENIED',
      details: expect.stringContaining('runs on node worker-2'),
    });
  });

  it('serves the JWT keys to agents in WatchBundle and pushes a change when a new key is published', async () => {
    const stream = agent.client.WatchBundle({});
    const messages: TrustBundle__Output[] = [];
    let notify: () => void = () => undefined;
    stream.on('data', (m: TrustBundle__Output) => {
      messages.push(m);
      notify();
    });
    stream.on('error', () => undefined);
    const nth = (n: number) =>
      new Promise<TrustBundle__Output>((resolve) => {
        const check = () => messages.length >= n && resolve(messages[n - 1]!);
        notify = check;
        check();
      });
    try {
      const first = await nth(1);
      const kids = (m: TrustBundle__Output) =>
        (JSON.parse(m.jwks) as { keys: { use: string; kid?: string }[] }).keys.filter((k) => k.use === 'jwt-svid').map((k) => k.kid);
      expect(kids(first)).toEqual([ca.server.jwtKeys.active().kid]);

      // Half way through the key's lifetime the successor is prepared and published (not yet signing).
      const { prepared } = await ca.server.jwtKeys.rotateIfDue(new Date(Date.now() + 13 * 3600 * 1000));
      expect(prepared).toBeDefined();
      const second = await nth(2);
      expect(kids(second)).toEqual([ca.server.jwtKeys.active().kid, prepared]);
      expect(second.sequence).toBeGreaterThan(first.sequence);
      expect(JSON.parse(await ca.jwksJson()).keys.map((k: { kid?: string }) => k.kid)).toContain(prepared);
    } finally {
      stream.cancel();
    }
  });
});
