// The workload sockets on the real filesystem with real uids/gids (tests run as root): directory layout,
// owners and modes, which processes the kernel lets connect, what each socket attributes to its callers,
// removal of retired and stale sockets, and Kubernetes mode's token callers.
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/log.js';
import { startWorkloadEndpoints } from '../../../node-agent/sockets/workload-endpoints.js';
import { startAgentFixture, type AgentFixture } from './support/agent-fixture.js';
import { TRUST_DOMAIN } from './support/ca-identity-source.js';
import { firstMessages, SdsStreamClient, sdsClient, workloadClient, workloadMetadata } from './support/clients.js';

const run = promisify(execFile);
const UID = 1401;
const GID = 1500;
const BY_UID = `spiffe://${TRUST_DOMAIN}/vm/by-uid`;
const BY_GID = `spiffe://${TRUST_DOMAIN}/vm/by-gid`;
const BY_BOTH = `spiffe://${TRUST_DOMAIN}/vm/by-uid-and-gid`;
const CONNECT = `const s = require('node:net').connect(process.argv[1]);
s.on('connect', () => { process.stdout.write('ok'); s.destroy(); });
s.on('error', (e) => process.stdout.write(e.code));`;

/** Whether a process running as uid/gid can connect to `socket`: "ok" or the errno code. */
async function connectAs(uid: number, gid: number, socket: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['-e', CONNECT, socket], { uid, gid });
  return stdout;
}

const modeOf = async (p: string) => {
  const s = await lstat(p);
  return { uid: s.uid, gid: s.gid, mode: (s.mode & 0o7777).toString(8), socket: s.isSocket() };
};

describe('VM workload sockets', () => {
  let agent: AgentFixture;
  const uidSet = [`unix:uid:${UID}`];
  const gidSet = [`unix:gid:${GID}`];
  const bothSet = [`unix:uid:${UID}`, `unix:gid:${GID}`];

  beforeAll(async () => {
    agent = await startAgentFixture();
    agent.source.register({ selectors: uidSet }, [BY_UID]);
    agent.source.register({ selectors: gidSet }, [BY_GID]);
    agent.source.register({ selectors: bothSet }, [BY_BOTH]);
    await agent.endpoints.update([uidSet, gidSet, bothSet, ['unix:path:/usr/bin/app']]);
  });

  afterAll(async () => {
    await agent?.close();
  });

  it('lays out one socket per selector set with owners and modes only that uid/gid passes', async () => {
    const s = agent.socketDir;
    expect(await modeOf(s)).toEqual({ uid: 0, gid: 0, mode: '755', socket: false });
    expect(await modeOf(path.join(s, `uid-${UID}`))).toEqual({ uid: UID, gid: 0, mode: '700', socket: false });
    expect(await modeOf(path.join(s, `uid-${UID}`, 'agent.sock'))).toEqual({ uid: UID, gid: 0, mode: '600', socket: true });
    expect(await modeOf(path.join(s, `gid-${GID}`))).toEqual({ uid: 0, gid: GID, mode: '750', socket: false });
    expect(await modeOf(path.join(s, `gid-${GID}`, 'agent.sock'))).toEqual({ uid: 0, gid: GID, mode: '660', socket: true });
    expect(await modeOf(path.join(s, `gid-${GID}`, `uid-${UID}`))).toEqual({ uid: UID, gid: GID, mode: '700', socket: false });
    expect(await modeOf(path.join(s, `gid-${GID}`, `uid-${UID}`, 'agent.sock'))).toEqual({ uid: UID, gid: GID, mode: '600', socket: true });
    expect(agent.endpoints.socketPath(bothSet)).toBe(path.join(s, `gid-${GID}`, `uid-${UID}`, 'agent.sock'));
    expect(await agent.metric('meshid_agent_workload_sockets')).toBe(3);
  });

  it('skips (and logs) selector sets no socket can vouch for', () => {
    expect(agent.logs.text()).toContain('unix:path:/usr/bin/app');
    expect(() => agent.endpoints.socketPath(['unix:path:/usr/bin/app'])).toThrow(/unix:uid:<n> and unix:gid:<n> only/);
  });

  it('lets the kernel decide who connects: uid sockets need the uid, gid sockets the group, nested ones both', async () => {
    const sockets = { uid: agent.endpoints.socketPath(uidSet), gid: agent.endpoints.socketPath(gidSet), both: agent.endpoints.socketPath(bothSet) };
    const reach = async (uid: number, gid: number) => ({
      uid: await connectAs(uid, gid, sockets.uid),
      gid: await connectAs(uid, gid, sockets.gid),
      both: await connectAs(uid, gid, sockets.both),
    });
    expect(await reach(UID, UID)).toEqual({ uid: 'ok', gid: 'EACCES', both: 'EACCES' });
    expect(await reach(UID + 1, GID)).toEqual({ uid: 'EACCES', gid: 'ok', both: 'EACCES' });
    expect(await reach(UID, GID)).toEqual({ uid: 'ok', gid: 'ok', both: 'ok' });
    expect(await reach(UID + 1, UID + 1)).toEqual({ uid: 'EACCES', gid: 'EACCES', both: 'EACCES' });
  });

  it('attributes every call on a socket exactly that socket\'s selectors', async () => {
    const ids = async (selectors: string[]) => {
      const client = workloadClient(agent.endpoints.socketPath(selectors));
      const [message] = await firstMessages(client.FetchX509SVID({}, workloadMetadata()));
      client.close();
      return message!.svids.map((s) => s.spiffe_id);
    };
    expect(await ids(uidSet)).toEqual([BY_UID]);
    expect(await ids(gidSet)).toEqual([BY_GID]);
    expect(await ids(bothSet)).toEqual([BY_UID, BY_GID, BY_BOTH]);
  });

  it('closes and removes the sockets of selector sets no longer served, ending their streams', async () => {
    const client = sdsClient(agent.endpoints.socketPath(uidSet));
    const stream = new SdsStreamClient(client);
    stream.request(['default']);
    await stream.waitFor(1);

    await agent.endpoints.update([gidSet]);
    expect((await stream.failure()).code).toBeDefined();
    await expect(stat(path.join(agent.socketDir, `uid-${UID}`))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(path.join(agent.socketDir, `gid-${GID}`, `uid-${UID}`))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await modeOf(agent.endpoints.socketPath(gidSet))).toMatchObject({ socket: true });
    expect(await agent.metric('meshid_agent_workload_sockets')).toBe(1);
    client.close();

    await agent.endpoints.update([gidSet, uidSet]); // a returning set gets a fresh directory and socket
    expect(await connectAs(UID, UID, agent.endpoints.socketPath(uidSet))).toBe('ok');
  });

  it('removes sockets a previous run left behind, refuses a symlinked socket directory', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshid-stale-'));
    const socketDir = path.join(dir, 'sockets');
    await mkdir(path.join(socketDir, 'uid-4242'), { recursive: true });
    await writeFile(path.join(socketDir, 'uid-4242', 'agent.sock'), '');
    await writeFile(path.join(socketDir, 'agent.sock'), '');
    await writeFile(path.join(socketDir, 'README'), 'not ours');
    const log = createLogger({ name: 'test', level: 'silent' });
    const endpoints = await startWorkloadEndpoints({ socketDir, mode: 'vm', source: agent.source, log });
    try {
      await expect(stat(path.join(socketDir, 'uid-4242'))).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(stat(path.join(socketDir, 'agent.sock'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await stat(path.join(socketDir, 'README'))).isFile()).toBe(true);
    } finally {
      await endpoints.close();
    }
    const link = path.join(dir, 'link');
    await symlink(socketDir, link);
    await expect(startWorkloadEndpoints({ socketDir: link, mode: 'vm', source: agent.source, log })).rejects.toThrow(/not a directory/);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('Kubernetes mode socket', () => {
  let agent: AgentFixture;
  const WEB = `spiffe://${TRUST_DOMAIN}/ns/shop/sa/web`;

  beforeAll(async () => {
    agent = await startAgentFixture({ mode: 'k8s' });
    agent.source.register({ token: 'pod-token-web' }, [WEB]);
  });

  afterAll(async () => {
    await agent?.close();
  });

  it('serves one world-connectable socket; callers bring their tokens', async () => {
    const socket = agent.endpoints.socketPath([]);
    expect(socket).toBe(path.join(agent.socketDir, 'agent.sock'));
    expect(await modeOf(socket)).toMatchObject({ mode: '666', socket: true });
    expect(await connectAs(4321, 4321, socket)).toBe('ok');
  });

  const sdsDefault = async (metadata: grpc.Metadata) => {
    const client = sdsClient(agent.endpoints.socketPath([]));
    const stream = new SdsStreamClient(client, metadata);
    stream.request(['default']);
    try {
      const response = await stream.waitFor(1);
      return `ok ${response.resources[0]!.name}`;
    } catch (err) {
      const e = err as grpc.ServiceError;
      return `${grpc.status[e.code]}: ${e.details}`;
    } finally {
      client.close();
    }
  };
  const md = (entries: Record<string, string | Buffer>) => workloadMetadata(entries, false);

  it('identifies SDS callers by the Istio binary token header or a Bearer token', async () => {
    expect(await sdsDefault(md({ 'istio_sds_credentials_header-bin': Buffer.from('pod-token-web') }))).toBe('ok default');
    expect(await sdsDefault(md({ authorization: 'Bearer pod-token-web' }))).toBe('ok default');
  });

  it('refuses SDS callers without a token, with a malformed header, or with an unknown token', async () => {
    expect(await sdsDefault(md({}))).toMatch(/^PERMISSION_DENIED: no workload identity on this call: .*authorization: Bearer <token>.*istio_sds_credentials_header-bin/);
    expect(await sdsDefault(md({ authorization: 'Basic dXNlcg==' }))).toBe('PERMISSION_DENIED: the "authorization" header must be "Bearer <service-account token>"');
    expect(await sdsDefault(md({ authorization: 'Bearer pod-token-elsewhere' }))).toBe('PERMISSION_DENIED: no registration entry matches this caller');
    expect(agent.logs.text()).not.toContain('pod-token');
  });

  it('serves the Workload API to token callers', async () => {
    const client = workloadClient(agent.endpoints.socketPath([]));
    const [message] = await firstMessages(client.FetchX509SVID({}, workloadMetadata({ authorization: 'Bearer pod-token-web' })));
    expect(message!.svids.map((s) => s.spiffe_id)).toEqual([WEB]);
    const refused = await firstMessages(client.FetchX509SVID({}, workloadMetadata())).catch((err: grpc.ServiceError) => err.code);
    expect(refused).toBe(grpc.status.PERMISSION_DENIED);
    client.close();
  });
});
