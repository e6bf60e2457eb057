import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { TrustBundle } from '../core/bundle.js';
import type { TrustDomain } from '../core/spiffeid.js';
import { writeFileAtomic } from '../core/x509/key-file.js';
import type { TrustBundle__Output } from '../protos/gen/meshid/v1/TrustBundle.js';
import type { CaClient } from './ca-client.js';
import type { TrustBundleMaterial } from './identity-source.js';
import { bundleMaterial } from './svid-material.js';
import { CaStream } from './ca-stream.js';

export const BUNDLE_PEM_FILE = 'bundle.pem';
export const BUNDLE_JWKS_FILE = 'bundle.jwks';

export interface BundleWatcherOptions {
  ca: CaClient;
  /** VM mode: bundle.pem (roots, also the TLS trust on restart) and bundle.jwks are kept here. */
  persistDir: string | undefined;
  backoff: { initialMs: number; maxMs: number };
  log: Logger;
  random?: () => number;
}

interface BundleWatcherEvents {
  /** The bundle changed (new or removed roots or JWT keys); `current()` already returns it. */
  change: [bundle: TrustBundleMaterial];
  /**
   * The CA now signs under another root (a root rotation was activated): every SVID held should be re-issued
   * so the old root can leave the bundle. Emitted after the bundle that came with it was applied.
   */
  'signing-root-change': [rootId: string];
}

/**
 * The agent's trust bundle: follows the CA's WatchBundle stream (reopened with backoff when it breaks, on
 * another replica when its own is unavailable, and on every agent SVID change so it runs on the current mTLS
 * channel), keeps the last bundle through CA outages, feeds its roots to the CA client, and tells listeners
 * at once when it changes. Every bundle the stream delivers is acknowledged to the replica that sent it once
 * applied, and a change of the root the CA signs under is announced so the agent re-issues its SVIDs.
 */
export class BundleWatcher extends EventEmitter<BundleWatcherEvents> {
  private bundle: TrustBundleMaterial | undefined;
  /** The root the CA signs under, as the last bundle message named it. */
  private signingRoot: string | undefined;
  private closed = false;
  private persisting = Promise.resolve();
  private readonly stream: CaStream<TrustBundle__Output>;

  constructor(private readonly options: BundleWatcherOptions) {
    super();
    this.setMaxListeners(0); // one listener per open workload stream
    this.stream = new CaStream({
      ca: options.ca,
      open: () => options.ca.watchBundle(),
      onMessage: (message, address) =>
        this.use(message).then(
          () => this.acknowledge(message.sequence, address),
          (err: unknown) => options.log.error({ err }, 'applying a trust bundle from the CA failed'),
        ),
      backoff: options.backoff,
      log: options.log,
      name: 'trust bundle stream',
      random: options.random,
    });
  }

  current(): TrustBundleMaterial | undefined {
    return this.bundle;
  }

  /** VM restart: the bundle persisted by a previous run, so the agent serves it even while the CA is down. */
  async restore(trustDomain: TrustDomain): Promise<void> {
    if (!this.options.persistDir || this.bundle) return;
    const file = path.join(this.options.persistDir, BUNDLE_JWKS_FILE);
    const json = await readFile(file, 'utf8').catch(() => undefined);
    if (json === undefined) return;
    try {
      const parsed = TrustBundle.fromJwks(trustDomain, json);
      this.bundle = {
        trustDomainId: trustDomain.id,
        rootsDer: [...parsed.x509Authorities],
        rootsPem: parsed.toPem(),
        jwks: json,
        sequence: parsed.sequence ?? 0,
      };
    } catch (err) {
      this.options.log.warn({ file, error: (err as Error).message }, 'ignoring the persisted trust bundle; waiting for the CA');
    }
  }

  /** Opens the stream now if the agent has an SVID, and again whenever the agent SVID changes. */
  start(): void {
    this.stream.start();
  }

  /**
   * Takes the bundle of an AttestAgent/RenewAgent response, unless the stream is delivering: then the stream
   * is the newer word (sequence numbers cannot tell, as each replica numbers its own bundles).
   */
  async apply(message: TrustBundle__Output): Promise<void> {
    if (!this.stream.delivering) await this.use(message);
  }

  /** Stops following the CA; resolves once a bundle file being written is complete (the data dir may go next). */
  close(): Promise<void> {
    this.closed = true;
    this.stream.close();
    return this.persisting.catch(() => undefined);
  }

  /**
   * Puts `message` in effect unless it holds what the current bundle holds. Its sequence and refresh hint do
   * not count: another replica, or the same CA after a restart, sends the same roots and keys under another
   * sequence, and that must not push anything to the workloads.
   */
  private async use(message: TrustBundle__Output): Promise<void> {
    const next = bundleMaterial(message);
    if (!this.bundle || trustContent(next) !== trustContent(this.bundle)) {
      this.bundle = next;
      this.options.ca.setTrustAnchors(next.rootsPem);
      this.options.log.info({ trustDomain: next.trustDomainId, roots: next.rootsDer.length, sequence: next.sequence }, 'trust bundle updated');
      this.emit('change', next);
      if (this.options.persistDir) await this.persist(next);
    }
    this.followSigningRoot(message.active_root_id);
  }

  /** Empty from CA servers that predate the field: then no re-issue is ever triggered. */
  private followSigningRoot(rootId: string): void {
    if (!rootId || rootId === this.signingRoot) return;
    const previous = this.signingRoot;
    this.signingRoot = rootId;
    // First bundle since start: workload SVIDs are minted from now on; a persisted agent SVID from an older
    // root renews on its own schedule, which ends before the CA allows retiring that root.
    if (previous === undefined) return;
    this.options.log.info({ from: previous, to: rootId }, 'the CA now signs under another root; re-issuing every SVID');
    this.emit('signing-root-change', rootId);
  }

  /** To the replica that sent the bundle. Best effort: a lost acknowledgement is repeated by the next stream's first bundle. */
  private acknowledge(sequence: number, address: string): void {
    if (this.closed) return;
    this.options.ca.reportBundle(sequence, address).catch((err: unknown) =>
      this.options.log.debug({ error: (err as Error).message, sequence, ca: address }, 'could not acknowledge the trust bundle to the CA'),
    );
  }

  /** Writes one bundle after another, so a slow older write never lands after a newer one. */
  private persist(bundle: TrustBundleMaterial): Promise<void> {
    const dir = this.options.persistDir!;
    this.persisting = this.persisting.catch(() => undefined).then(async () => {
      await writeFileAtomic(path.join(dir, BUNDLE_PEM_FILE), bundle.rootsPem, 0o644);
      await writeFileAtomic(path.join(dir, BUNDLE_JWKS_FILE), bundle.jwks, 0o644);
    });
    return this.persisting;
  }
}

/** The trust domain, roots and JWT keys of a bundle: what its consumers act on. */
function trustContent(bundle: TrustBundleMaterial): string {
  return JSON.stringify([bundle.trustDomainId, bundle.rootsPem, jwtKeys(bundle.jwks)]);
}

/** The key set of a bundle document; the document itself when it is not one (then compared as a whole). */
function jwtKeys(jwks: string): unknown {
  try {
    return (JSON.parse(jwks) as { keys?: unknown }).keys ?? jwks;
  } catch {
    return jwks;
  }
}
