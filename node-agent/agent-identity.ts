import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.js';
import { MeshidError } from '../core/errors.js';
import { decodeUnverifiedJwt } from '../core/kubernetes/unverified-jwt.js';
import { createCsrPem } from '../core/x509/csr-request.js';
import { generateKeyPair } from '../core/x509/keys.js';
import type { AgentSVIDResponse__Output } from '../protos/gen/meshid/v1/AgentSVIDResponse.js';
import type { AttestAgentRequest } from '../protos/gen/meshid/v1/AttestAgentRequest.js';
import type { TrustBundle__Output } from '../protos/gen/meshid/v1/TrustBundle.js';
import { loadAgentSvid, saveAgentSvid, type AgentSvid } from './agent-svid-store.js';
import type { CaClient } from './ca-client.js';
import type { AgentMode } from './config.js';
import { x509Material } from './svid-material.js';
import { renewalDelayMs, timer, type RotationPolicy } from './timing.js';

export interface AgentIdentityOptions {
  mode: AgentMode;
  /** VM mode: where the agent SVID and key persist. */
  dataDir: string;
  /** VM mode: used only when no agent SVID is persisted (or the persisted one expired). */
  joinToken: string;
  /** Kubernetes mode: the agent's projected service-account token, re-read at every attestation. */
  k8sTokenFile: string;
  /** Kubernetes mode: the node the agent runs on ('' = not checked); an agent SVID for another node is refused. */
  k8sNodeName: string;
  ca: CaClient;
  rotation: RotationPolicy;
  backoff: { initialMs: number; maxMs: number };
  /** Receives the bundle that accompanies every agent SVID, before the SVID is put to use. */
  onBundle: (bundle: TrustBundle__Output) => Promise<void>;
  log: Logger;
  random?: () => number;
}

interface AgentIdentityEvents {
  /** A new agent SVID is in use (first attestation, restart, renewal). */
  rotated: [svid: AgentSvid];
  /** An attestation or renewal failed; the current SVID (if any) stays in use until it expires. */
  'renewal-failed': [error: MeshidError, retryInMs: number];
}

/**
 * The node agent's own SVID: obtained by attestation (join token in VM mode, projected service-account
 * token in Kubernetes mode), persisted in VM mode so a restart needs no new token, renewed over mTLS at the
 * configured share of its lifetime, and retried with backoff while the CA is unreachable.
 */
export class AgentIdentity extends EventEmitter<AgentIdentityEvents> {
  private svid: AgentSvid | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** When `retryTimer` fires (epoch ms). */
  private dueAt = 0;
  /** The CA refused the last attempt (not merely unreachable): Kubernetes agents then attest afresh. */
  private refused = false;
  private closed = false;
  private readonly backoff: Backoff;

  constructor(private readonly options: AgentIdentityOptions) {
    super();
    this.backoff = new Backoff(options.backoff, options.random);
  }

  current(): AgentSvid | undefined {
    return this.svid;
  }

  /** Seconds until the current agent SVID expires; 0 when there is none. */
  secondsLeft(now = Date.now()): number {
    return this.svid ? Math.max(0, (this.svid.notAfter.getTime() - now) / 1000) : 0;
  }

  /**
   * Gets the first agent SVID: the persisted one (VM), else by attestation. Rejects when attestation is
   * refused or impossible (no join token, expired SVID, unreadable token file); when the CA is merely
   * unreachable it resolves and keeps retrying in the background.
   */
  async start(): Promise<void> {
    const { mode, dataDir, joinToken, log } = this.options;
    if (mode === 'vm') {
      const persisted = await loadAgentSvid(dataDir);
      if (persisted && persisted.svid.notAfter.getTime() > Date.now()) {
        if (joinToken) log.info({ agentId: persisted.svid.spiffeId }, 'using the persisted agent SVID; the join token was not needed');
        this.install(persisted.svid, persisted.notBefore);
        return;
      }
      if (!joinToken) {
        throw new MeshidError(
          'FAILED_PRECONDITION',
          persisted
            ? `the agent SVID persisted in ${dataDir} (${persisted.svid.spiffeId}) expired at ${persisted.svid.notAfter.toISOString()}; ` +
              'create a new join token ("meshid token create") and start the agent with --join-token'
            : `no agent SVID in ${dataDir} and no join token: create one with "meshid token create" and pass --join-token (needed on first start only)`,
          persisted ? 'agent_svid_expired' : 'join_token_required',
        );
      }
    }
    try {
      await this.obtain();
    } catch (err) {
      if (!(err instanceof MeshidError) || err.code !== 'UNAVAILABLE') throw err;
      this.failed(err);
    }
  }

  /**
   * Renews the agent SVID at a random point within `windowMs` instead of at its scheduled time: the CA signs
   * under another root (so a fleet's agents spread their calls over the window).
   */
  renewWithin(windowMs: number): void {
    if (!this.svid) return; // still attesting: the SVID it gets will come from the new root
    const delay = (this.options.random ?? Math.random)() * windowMs;
    if (this.retryTimer && this.dueAt <= Date.now() + delay) return; // renews sooner anyway
    this.schedule(delay);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  /** Attests (first time, or Kubernetes after a refusal/expiry) or renews, and puts the new SVID to use. */
  private async obtain(): Promise<void> {
    const { privateKey, publicKey } = generateKeyPair();
    const csr = createCsrPem({ privateKey, publicKey });
    const attest = !this.svid || (this.options.mode === 'k8s' && (this.refused || this.secondsLeft() === 0));
    const res = attest ? await this.options.ca.attestAgent(await this.credential(csr)) : await this.options.ca.renewAgent(csr);
    await this.accept(res, privateKey, new Date());
  }

  private async credential(csr: string): Promise<AttestAgentRequest> {
    if (this.options.mode === 'vm') return { join_token: this.options.joinToken, csr };
    const file = this.options.k8sTokenFile;
    const token = await readFile(file, 'utf8').then(
      (text) => text.trim(),
      (err: NodeJS.ErrnoException) => {
        throw new MeshidError(
          'FAILED_PRECONDITION',
          `cannot read the agent's service-account token ${file} (kubernetes.tokenFile): ${err.code ?? err.message}`,
          'token_file_unreadable',
        );
      },
    );
    if (!token) throw new MeshidError('FAILED_PRECONDITION', `the service-account token file ${file} is empty`, 'token_file_unreadable');
    this.checkTokenNode(token);
    return { k8s_token: token, csr };
  }

  /**
   * Checked before the token is sent: the CA would attest the token's node, and that re-attestation would
   * displace the agent that really runs there.
   */
  private checkTokenNode(token: string): void {
    const node = this.options.k8sNodeName;
    const tokenNode = node === '' ? undefined : boundNodeName(token);
    if (tokenNode === undefined || tokenNode === node) return;
    throw new MeshidError(
      'FAILED_PRECONDITION',
      `the service-account token in ${this.options.k8sTokenFile} (kubernetes.tokenFile) is bound to a pod on node ${tokenNode}, ` +
        `but this agent runs on node ${node} (kubernetes.nodeName); mount the token projected into this node's agent pod`,
      'wrong_node',
    );
  }

  private async accept(res: AgentSVIDResponse__Output, privateKey: AgentSvid['privateKey'], receivedAt: Date): Promise<void> {
    const svid: AgentSvid = { ...x509Material(res.svid, privateKey), privateKey };
    if (this.closed) return;
    if (res.bundle) await this.options.onBundle(res.bundle);
    if (this.options.mode === 'vm') await saveAgentSvid(this.options.dataDir, svid);
    const first = !this.svid;
    this.install(svid, receivedAt);
    this.backoff.reset();
    this.refused = false;
    this.options.log.info({ agentId: svid.spiffeId, notAfter: svid.notAfter }, first ? 'node agent attested' : 'agent SVID renewed');
  }

  private install(svid: AgentSvid, issuedAt: Date): void {
    this.svid = svid;
    this.options.ca.setIdentity(svid.chainPem, svid.privateKeyPem);
    this.schedule(renewalDelayMs({ issuedAt, notAfter: svid.notAfter }, this.options.rotation, Date.now(), this.options.random));
    this.emit('rotated', svid);
  }

  private schedule(ms: number): void {
    clearTimeout(this.retryTimer);
    this.dueAt = Date.now() + ms;
    if (this.closed) return;
    this.retryTimer = timer(ms, () => {
      this.obtain().catch((err: unknown) => this.failed(err));
    });
  }

  private failed(err: unknown): void {
    if (this.closed) return;
    const error = err instanceof MeshidError ? err : new MeshidError('INTERNAL', (err as Error).message ?? String(err), 'internal');
    this.refused = error.code !== 'UNAVAILABLE';
    const retryInMs = this.backoff.next();
    const secondsLeft = Math.round(this.secondsLeft());
    const fields = { code: error.code, error: error.message, secondsLeft, retryInSeconds: Math.round(retryInMs / 100) / 10 };
    if (this.svid && secondsLeft === 0 && this.options.mode === 'vm') {
      this.options.log.error(fields, 'the agent SVID has expired and the CA will not renew it: create a new join token and restart the agent with --join-token');
    } else {
      this.options.log.warn(fields, this.svid ? 'agent SVID renewal failed; keeping the current SVID' : 'node agent attestation failed; retrying');
    }
    this.schedule(retryInMs);
    this.emit('renewal-failed', error, retryInMs);
  }
}

/**
 * The node a projected token is bound to (its kubernetes.io.node.name claim), read without verifying the
 * signature: it only lets the agent refuse a token that is not its own; the CA verifies the token.
 */
function boundNodeName(token: string): string | undefined {
  try {
    const claims = decodeUnverifiedJwt(token).payload['kubernetes.io'] as { node?: { name?: unknown } } | undefined;
    return typeof claims?.node?.name === 'string' ? claims.node.name : undefined;
  } catch {
    return undefined; // not a JWT: the CA refuses it with the precise reason
  }
}
