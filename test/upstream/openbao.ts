import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer } from '../peers/peers.js';
import { freePort } from '../support/free-port.js';

const READY_DEADLINE_MS = 30_000;
const POLL_MS = 50;

export interface AppRoleCredentials {
  roleId: string;
  secretId: string;
}

/**
 * A real OpenBao dev server (`bao server -dev`, in-memory, unsealed) on a free loopback port, with a random
 * root token and its own HOME (the dev server writes a token helper file there).
 */
export class OpenBao {
  private exited: Promise<void>;
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly home: string,
    readonly address: string,
    readonly rootToken: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(): Promise<OpenBao> {
    const bao = requirePeer('bao');
    const port = await freePortPair();
    const home = await mkdtemp(path.join(tmpdir(), 'meshid-bao-'));
    const rootToken = randomBytes(16).toString('hex');
    const child = spawn(
      bao,
      ['server', '-dev', `-dev-listen-address=127.0.0.1:${port}`, `-dev-root-token-id=${rootToken}`, '-log-level=warn'],
      { env: { PATH: process.env.PATH ?? '', HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new OpenBao(child, home, `http://127.0.0.1:${port}`, rootToken);
    await server.waitReady();
    return server;
  }

  /** Polls /v1/sys/health until the server answers 200 (initialized, unsealed, active) or the deadline passes. */
  private async waitReady(): Promise<void> {
    const deadline = Date.now() + READY_DEADLINE_MS;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline && !exited) {
      const status = await fetch(`${this.address}/v1/sys/health`).then((r) => r.status, () => 0);
      if (status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    await this.stop();
    throw new Error(`OpenBao did not become ready at ${this.address}${exited ? ' (it exited)' : ''}:\n${this.output}`);
  }

  /** One API call; throws with OpenBao's errors on a non-2xx answer. */
  async api(method: string, apiPath: string, body?: unknown, token = this.rootToken): Promise<Record<string, unknown>> {
    const response = await fetch(`${this.address}/v1/${apiPath}`, {
      method,
      headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`OpenBao ${method} ${apiPath}: HTTP ${response.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  /** Enables a PKI mount with a generated EC root and returns the root's PEM. */
  async enablePkiRoot(mount = 'pki', commonName = 'OpenBao Test Root'): Promise<string> {
    await this.api('POST', `sys/mounts/${mount}`, { type: 'pki', config: { max_lease_ttl: '87600h' } });
    const root = await this.api('POST', `${mount}/root/generate/internal`, {
      common_name: commonName,
      ttl: '87600h',
      key_type: 'ec',
      key_bits: 256,
    });
    return (root.data as { certificate: string }).certificate;
  }

  async putPolicy(name: string, hcl: string): Promise<void> {
    await this.api('PUT', `sys/policies/acl/${name}`, { policy: hcl });
  }

  /** Enables AppRole (once) and creates a role with the given token settings; returns its credentials. */
  async appRole(role: string, settings: Record<string, unknown>): Promise<AppRoleCredentials> {
    const auths = await this.api('GET', 'sys/auth');
    if (!('approle/' in ((auths.data as Record<string, unknown> | undefined) ?? auths))) {
      await this.api('POST', 'sys/auth/approle', { type: 'approle' });
    }
    await this.api('POST', `auth/approle/role/${role}`, settings);
    const roleId = ((await this.api('GET', `auth/approle/role/${role}/role-id`)).data as { role_id: string }).role_id;
    const secretId = ((await this.api('POST', `auth/approle/role/${role}/secret-id`)).data as { secret_id: string }).secret_id;
    return { roleId, secretId };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
    await rm(this.home, { recursive: true, force: true });
  }
}

/** A port p with p+1 also free: the dev server's cluster listener takes the next port. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (await freePort(port + 1).then(() => true, () => false)) return port;
  }
  throw new Error('no pair of free loopback ports found');
}
