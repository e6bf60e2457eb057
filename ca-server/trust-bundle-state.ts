import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { TrustBundle } from '../core/bundle.js';
import type { TrustDomain } from '../core/spiffeid.js';
import { fingerprint } from '../core/x509/chain.js';
import { writeFileAtomic } from '../core/x509/key-file.js';
import type { TrustBundle as TrustBundleMessage } from '../protos/gen/meshid/v1/TrustBundle.js';
import type { BundleAcks } from './authority/bundle-acks.js';
import type { JwtKeyManager } from './authority/jwt-keys.js';
import type { AuthorityManager } from './authority/manager.js';
import type { DataStore } from './datastore/datastore.js';
import { AsyncMutex } from './datastore/mutex.js';

const BUNDLE_REFRESH_HINT_SECONDS = 300;

/** What a bundle change came from: the signing authorities (roots, or the active signing CA) or the JWT keys. */
export type BundleChangeCause = 'authorities' | 'jwt-keys';

export interface TrustBundleStateOptions {
  trustDomain: TrustDomain;
  /** <dataDir>/bundle.pem: rewritten (0644, atomically) on every change. */
  bundleFile: string;
  authorities: Pick<AuthorityManager, 'trustBundle' | 'activeRootId' | 'onChange'>;
  jwtKeys: Pick<JwtKeyManager, 'bundleKeys' | 'onChange'>;
  /** Where the signing CAs that verify mTLS callers are read from. */
  store: Pick<DataStore, 'listAuthorities'>;
  /** Told of every bundle published: a root rotation activates once every agent acknowledged the new root. */
  acks: BundleAcks;
  log: Logger;
}

/** One published bundle and its forms, each computed once. */
interface Published {
  bundle: TrustBundle;
  pem: string;
  /** The agent-facing message minus active_root_id, which is read live (it follows the active signing CA). */
  message: Omit<TrustBundleMessage, 'active_root_id'>;
}

/**
 * The trust bundle this server serves, rebuilt whenever the signing authorities or the JWT keys change, and
 * what is derived from it once per change rather than per call: its PEM (every CreateCertificate answer ends
 * with it), the bundle file, the agent-facing message, and the signing certificates that verify mTLS callers.
 * Between changes pem() and issuers() answer the same value (CallerAttestation caches verified peers by the
 * identity of the issuers array).
 */
export class TrustBundleState {
  /** Starts at the Unix time: a restarted server does not reuse its previous run's numbers (bundles change rarely). */
  private sequence = Math.floor(Date.now() / 1000);
  private published: Published;
  private readonly listeners = new Set<(cause: BundleChangeCause) => void>();
  /** Bundle file writes, one at a time so the file ends with the newest bundle. */
  private readonly fileWrites = new AsyncMutex();
  private readonly unsubscribe: (() => void)[];

  /** Builds the first bundle, writes the bundle file, then follows the authorities and the JWT keys. */
  static async open(options: TrustBundleStateOptions): Promise<TrustBundleState> {
    const state = new TrustBundleState(options, await signingCertificates(options.store));
    await state.writeBundleFile();
    return state;
  }

  private constructor(
    private readonly options: TrustBundleStateOptions,
    private signing: readonly X509Certificate[],
  ) {
    this.published = this.next();
    const { authorities, jwtKeys, store, log } = options;
    this.unsubscribe = [
      authorities.onChange((change) => {
        void (async () => {
          this.signing = await signingCertificates(store);
          // A new signing CA is announced too: the message names the active root, and agents re-issue when it changes.
          await this.publish('authorities');
          log.info({ active: change.active.id, roots: this.published.bundle.x509Authorities.length }, 'signing authorities changed');
        })().catch((err: unknown) => log.error({ err }, 'applying an authority change failed'));
      }),
      jwtKeys.onChange(() => {
        this.publish('jwt-keys').then(
          () => log.info({ jwtKeys: this.published.bundle.jwtAuthorities.map((k) => k.keyId) }, 'JWT signing keys changed'),
          (err: unknown) => log.error({ err }, 'publishing a JWT key change failed'),
        );
      }),
    ];
  }

  current(): TrustBundle {
    return this.published.bundle;
  }

  /** The X.509 roots as concatenated PEM. */
  pem(): string {
    return this.published.pem;
  }

  /** The bundle as the admin API's GetBundle answers it. */
  document(format: 'pem' | 'jwks'): string {
    return format === 'pem' ? this.published.pem : JSON.stringify(this.published.bundle.toJwks(), null, 2);
  }

  /** The bundle as node agents receive it (renewal answers, WatchBundle). */
  message(): TrustBundleMessage {
    return { ...this.published.message, active_root_id: this.options.authorities.activeRootId() };
  }

  /** Every signing CA that may have issued a still-valid SVID: verifies mTLS callers across rotation. */
  issuers(): readonly X509Certificate[] {
    return this.signing;
  }

  /** Called after a new bundle was published (and the bundle file written); returns an unsubscribe function. */
  onChange(listener: (cause: BundleChangeCause) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops following the authorities and the JWT keys. */
  close(): void {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
  }

  private async publish(cause: BundleChangeCause): Promise<void> {
    this.published = this.next();
    await this.writeBundleFile();
    for (const listener of this.listeners) listener(cause);
  }

  /** Builds the next bundle and its derived forms, and records it with the acknowledgement tracker. */
  private next(): Published {
    const { roots } = this.options.authorities.trustBundle();
    const bundle = new TrustBundle({
      trustDomain: this.options.trustDomain,
      x509Authorities: roots.map((root) => Buffer.from(root.rawData)),
      jwtAuthorities: this.options.jwtKeys.bundleKeys(),
      sequence: this.sequence++,
      refreshHintSeconds: BUNDLE_REFRESH_HINT_SECONDS,
    });
    this.options.acks.publish(bundle.sequence ?? 0, roots.map(fingerprint));
    return {
      bundle,
      pem: bundle.toPem(),
      message: {
        trust_domain: bundle.trustDomain.id,
        x509_authorities: [...bundle.x509Authorities],
        jwks: JSON.stringify(bundle.toJwks()),
        sequence: bundle.sequence ?? 0,
        refresh_hint_seconds: bundle.refreshHintSeconds ?? 0,
      },
    };
  }

  private writeBundleFile(): Promise<void> {
    return this.fileWrites.run(() => writeFileAtomic(this.options.bundleFile, this.published.pem, 0o644));
  }
}

async function signingCertificates(store: Pick<DataStore, 'listAuthorities'>): Promise<X509Certificate[]> {
  const now = Date.now();
  return (await store.listAuthorities({ kind: 'intermediate' }))
    .filter((a) => a.state !== 'prepared' && a.notAfter.getTime() > now)
    .map((a) => new X509Certificate(a.certificatePem));
}
