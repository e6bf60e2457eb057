import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpiffeJwks } from '../../core/bundle.js';
import { CaFixture, newCsr, rpc, splitPem, TRUST_DOMAIN } from '../ca-server/fixture.js';

/** The built `meshid` CLI, spawned for real against an in-process CA server's admin socket. */

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'dist/cli/meshid.js');

let ca: CaFixture;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function meshid(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: ca.dir, env: { ...process.env, MESHID_ADMIN_SOCKET: ca.server.adminSocket }, timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(...args: string[]): Promise<string> {
  const res = await meshid(...args);
  expect({ code: res.code, stderr: res.stderr }).toMatchObject({ code: 0 });
  return res.stdout;
}

async function json<T>(...args: string[]): Promise<T> {
  return JSON.parse(await ok(...args, '--json')) as T;
}

beforeAll(async () => {
  // `npm run build`: the CLI under test is the compiled one users run.
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO }, (err, stdout) =>
      err ? reject(new Error(`npm run build failed:\n${stdout}`)) : resolve(),
    ),
  );
  ca = await CaFixture.start({ kubernetes: 'disabled' });
});

afterAll(async () => {
  await ca?.close();
});

// Each CLI run is a fresh Node process (about 1 s on a busy 2-core machine); some tests make several.
describe('meshid CLI against the admin socket', { timeout: 90_000 }, () => {
  it('the admin socket is owner-only (0600) in an owner-only directory', async () => {
    expect((await stat(ca.server.adminSocket)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(ca.server.adminSocket))).mode & 0o777).toBe(0o700);
  });

  it('token create / list / revoke', async () => {
    const created = await meshid('token', 'create', '--ttl', '10m', '--spiffe-id', `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-a`);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^mjt1\.[0-9a-f]{16}\.[\w-]{43}$/);
    const id = token.split('.')[1]!;
    expect(created.stderr).toContain(`join token ${id} for spiffe://${TRUST_DOMAIN}/meshid/agent/vm-a, expires`);

    const listed = await json<{ id: string; spiffe_id: string; expires_at: number; used_at: number; revoked_at: number }[]>('token', 'list');
    const row = listed.find((t) => t.id === id)!;
    expect(row).toMatchObject({ spiffe_id: `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-a`, used_at: 0, revoked_at: 0 });
    expect(Math.abs(row.expires_at - (Date.now() / 1000 + 600))).toBeLessThan(10);
    expect(JSON.stringify(listed)).not.toContain(token);
    expect(await ok('token', 'list')).toMatch(new RegExp(`^${id}\\s+spiffe://${TRUST_DOMAIN}/meshid/agent/vm-a\\s+\\S+\\s+unused$`, 'm'));

    expect(await ok('token', 'revoke', id)).toBe(`revoked join token ${id}\n`);
    expect(await ok('token', 'list')).toMatch(new RegExp(`^${id}\\s.*\\srevoked$`, 'm'));
  });

  it('a join token from the CLI attests an agent with `meshid svid request`', async () => {
    const token = (await ok('token', 'create', '--ttl', '5m')).trim();
    const out = path.join(ca.dir, 'svid');
    const stdout = await ok('svid', 'request', '--server', ca.target, '--bundle', ca.server.bundleFile, '--join-token', token, '--out', out);
    const id = token.split('.')[1]!;
    expect(stdout).toContain(`spiffe://${TRUST_DOMAIN}/meshid/agent/join_token/${id}`);
    const chain = splitPem(await readFile(path.join(out, 'svid.pem'), 'utf8'));
    expect(new X509Certificate(chain[0]!).subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}/meshid/agent/join_token/${id}`);
    expect(await readFile(path.join(out, 'bundle.pem'), 'utf8')).toBe(ca.bundlePem());
    expect((await stat(path.join(out, 'key.pem'))).mode & 0o777).toBe(0o600);

    const reused = await meshid('svid', 'request', '--server', ca.target, '--bundle', ca.server.bundleFile, '--join-token', token, '--out', out);
    expect(reused.code).toBe(1);
    expect(reused.stderr).toBe(`meshid: UNAUTHENTICATED: join token ${id} has already been used; each token attests one agent — create a new one\n`);
    expect(reused.stderr).not.toContain(token);
  });

  it('token revoke of an unknown id fails with NOT_FOUND', async () => {
    const res = await meshid('token', 'revoke', 'feedfacefeedface');
    expect(res).toMatchObject({ code: 1, stdout: '', stderr: 'meshid: NOT_FOUND: no join token with id "feedfacefeedface"\n' });
  });

  it('entry create / list / delete', async () => {
    const parent = `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-b`;
    const spiffeId = `spiffe://${TRUST_DOMAIN}/vm/billing`;
    const id = (
      await ok('entry', 'create', '--spiffe-id', spiffeId, '--parent-id', parent, '--selector', 'unix:uid:1000', '--selector', 'unix:gid:50', '--ttl', '1h', '--dns-name', 'billing.internal')
    ).trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const entries = await json<Record<string, unknown>[]>('entry', 'list', '--parent-id', parent);
    expect(entries).toEqual([
      {
        id,
        spiffe_id: spiffeId,
        parent_id: parent,
        selectors: ['unix:gid:50', 'unix:uid:1000'],
        ttl_seconds: 3600,
        dns_names: ['billing.internal'],
        created_at: expect.any(Number),
      },
    ]);
    expect(await ok('entry', 'list')).toMatch(new RegExp(`^${id}\\s+${spiffeId}\\s+${parent}\\s+unix:gid:50,unix:uid:1000\\s+3600s$`, 'm'));

    expect(await ok('entry', 'delete', id)).toBe(`deleted entry ${id}\n`);
    expect(await json('entry', 'list', '--parent-id', parent)).toEqual([]);
    const again = await meshid('entry', 'delete', id);
    expect(again).toMatchObject({ code: 1, stderr: `meshid: NOT_FOUND: no registration entry with id "${id}"\n` });
  });

  it('entry create with a bad selector: a clear error and exit code 2', async () => {
    const res = await meshid('entry', 'create', '--spiffe-id', `spiffe://${TRUST_DOMAIN}/vm/x`, '--parent-id', `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-b`, '--selector', 'uid1000');
    expect(res).toEqual({
      code: 2,
      stdout: '',
      stderr: 'meshid: INVALID_ARGUMENT: selector "uid1000" must look like type:key:value (e.g. unix:uid:1000)\n',
    });
  });

  it('entry create with a SPIFFE ID of another trust domain, or without a required flag: exit code 2', async () => {
    const foreign = await meshid('entry', 'create', '--spiffe-id', 'spiffe://other.org/vm/x', '--parent-id', `spiffe://${TRUST_DOMAIN}/a`, '--selector', 'unix:uid:1');
    expect(foreign).toMatchObject({ code: 2, stderr: `meshid: INVALID_ARGUMENT: spiffe_id must be in trust domain "${TRUST_DOMAIN}"\n` });
    const missing = await meshid('entry', 'create', '--parent-id', `spiffe://${TRUST_DOMAIN}/a`, '--selector', 'unix:uid:1');
    expect(missing).toMatchObject({ code: 2, stderr: 'meshid: --spiffe-id is required\n' });
    const typo = await meshid('entry', 'list', '--parent', 'x');
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^meshid: unknown option --parent \(this command takes: /);
  });

  it('agent list / evict / ban / unban / bans', async () => {
    const attest = async (name: string) => {
      const token = (await ok('token', 'create', '--spiffe-id', `spiffe://${TRUST_DOMAIN}/meshid/agent/${name}`)).trim();
      const client = ca.agentClient();
      try {
        return await rpc(client, client.AttestAgent, { join_token: token, csr: (await newCsr()).csr });
      } finally {
        client.close();
      }
    };
    const attested = await attest('vm-c');
    const agentId = `spiffe://${TRUST_DOMAIN}/meshid/agent/vm-c`;
    const serial = new X509Certificate(attested.svid!.cert_chain[0]!).serialNumber.toLowerCase().replace(/^(00)+/, '');
    const agents = await json<{ spiffe_id: string; attestation_type: string; serial_number: string; new_serial_number: string }[]>('agent', 'list');
    expect(agents.find((a) => a.spiffe_id === agentId)).toMatchObject({ attestation_type: 'join_token', serial_number: serial, new_serial_number: '' });
    expect(await ok('agent', 'list')).toMatch(new RegExp(`^${agentId}\\s+join_token\\s+\\S+\\s+\\S+\\s+${serial}$`, 'm'));

    expect(await ok('agent', 'evict', agentId)).toBe(`evicted ${agentId}: its SVIDs are refused now; it may attest again (ban it to keep it out)\n`);
    expect(await ok('agent', 'list')).not.toContain(agentId);
    const unknown = await meshid('agent', 'evict', `spiffe://${TRUST_DOMAIN}/meshid/agent/nobody`);
    expect(unknown).toMatchObject({ code: 1, stderr: `meshid: NOT_FOUND: no agent with SPIFFE ID "spiffe://${TRUST_DOMAIN}/meshid/agent/nobody"\n` });

    await attest('vm-c');
    expect(await ok('agent', 'ban', agentId, '--reason', 'disk stolen')).toBe(`banned ${agentId}: its SVIDs are refused now and it cannot attest again until unbanned\n`);
    expect(await ok('agent', 'list')).not.toContain(agentId);
    expect(await json('agent', 'bans')).toEqual([{ spiffe_id: agentId, banned_at: expect.any(Number), reason: 'disk stolen' }]);
    expect(await ok('agent', 'bans')).toMatch(new RegExp(`^${agentId}\\s+\\S+\\s+disk stolen$`, 'm'));
    await expect(attest('vm-c')).rejects.toMatchObject({ details: `agent ${agentId} is banned (disk stolen); an operator must lift the ban with \`meshid agent unban\`` });
    expect(await ok('agent', 'unban', agentId)).toBe(`unbanned ${agentId}: it may attest again (with a new join token for VM agents)\n`);
    expect(await json('agent', 'bans')).toEqual([]);
    await attest('vm-c');
    const notBanned = await meshid('agent', 'unban', agentId);
    expect(notBanned).toMatchObject({ code: 1, stderr: `meshid: NOT_FOUND: agent "${agentId}" is not banned (see \`meshid agent bans\`)\n` });
    const workload = await meshid('agent', 'ban', `spiffe://${TRUST_DOMAIN}/ns/default/sa/web`);
    expect(workload).toMatchObject({ code: 2, stderr: `meshid: INVALID_ARGUMENT: spiffe://${TRUST_DOMAIN}/ns/default/sa/web is not a node agent ID (spiffe://${TRUST_DOMAIN}/meshid/agent/...)\n` });
  });

  it('bundle show --format pem prints the trust bundle', async () => {
    expect(await ok('bundle', 'show', '--format', 'pem')).toBe(ca.bundlePem());
    expect(await ok('bundle', 'show')).toBe(ca.bundlePem());
  });

  it('bundle show --format jwks prints a SPIFFE bundle: sequence, refresh hint, one x5c per root', async () => {
    const jwks = JSON.parse(await ok('bundle', 'show', '--format', 'jwks')) as SpiffeJwks;
    expect(jwks.spiffe_sequence).toEqual(expect.any(Number));
    expect(jwks.spiffe_refresh_hint).toBe(300);
    const x509Keys = jwks.keys.filter((k) => k.use === 'x509-svid');
    const roots = splitPem(ca.bundlePem()).map((pem) => new X509Certificate(pem));
    expect(x509Keys.map((k) => k.x5c)).toEqual(roots.map((root) => [root.raw.toString('base64')]));
    for (const [i, key] of x509Keys.entries()) {
      expect(key.kid).toBeUndefined();
      expect(key).toMatchObject(roots[i]!.publicKey.export({ format: 'jwk' }));
    }
  });

  it('bundle show with an unknown format: exit code 2', async () => {
    const res = await meshid('bundle', 'show', '--format', 'der');
    expect(res).toMatchObject({ code: 2, stderr: 'meshid: INVALID_ARGUMENT: format must be "pem" or "jwks", got "der"\n' });
  });

  it('a missing admin socket is reported as UNAVAILABLE with exit code 1', async () => {
    const res = await meshid('agent', 'list', '--socket', path.join(ca.dir, 'nope.sock'));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^meshid: UNAVAILABLE: /);
  });
});

describe('meshid policy (offline)', { timeout: 90_000 }, () => {
  it('dispatches lint and check to the policy command, with its exit codes', async () => {
    const file = path.join(ca.dir, 'policy.yaml');
    await writeFile(
      file,
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-web, namespace: shop}\nspec:\n  rules: [{from: [{source: {namespaces: [web]}}]}]\n',
    );
    expect(await meshid('policy', 'lint', file)).toMatchObject({ code: 0 });
    const check = (from: string) => meshid('policy', 'check', '--policies', file, '--to', 'shop', '--from', from);
    expect(await check(`spiffe://${TRUST_DOMAIN}/ns/web/sa/frontend`)).toMatchObject({ code: 0, stdout: expect.stringContaining('decided by ALLOW policy shop/allow-web, rule 0') });
    expect(await check(`spiffe://${TRUST_DOMAIN}/ns/ops/sa/batch`)).toMatchObject({ code: 3, stdout: expect.stringContaining('denied: no ALLOW policy matched') });
  });
});
