import type { Registry } from 'prom-client';
import type { Logger } from '../../core/log.js';
import type { TrustDomain } from '../../core/spiffeid.js';
import type { KeyAlgorithm } from '../../core/x509/keys.js';
import type { x509 } from '../../core/x509/peculiar.js';
import type { PluginDefinition } from './plugin.js';

export interface MintX509CaRequest {
  /** PEM CSR for meshid's signing CA (meshid generated and keeps the key). */
  csrPem: string;
  trustDomain: TrustDomain;
  preferredTtlSeconds: number;
  /**
   * Root rotation, for upstreams with `prepareRoot` only: sign under this root (the original one or one
   * `prepareRoot` returned) instead of the one the upstream started with. Others never receive it.
   */
  root?: x509.X509Certificate;
}

export interface MintX509CaResult {
  /** The signed intermediate first, then any upstream intermediates, excluding roots. */
  x509CaChain: x509.X509Certificate[];
  /** Trust anchors that verify the chain. */
  upstreamRoots: x509.X509Certificate[];
}

/** A root created for a root rotation. */
export interface PreparedRoot {
  certificate: x509.X509Certificate;
  /** Where its private key is kept (0600), for the authority journal. */
  keyPath: string;
}

/**
 * A root meshid chains to. Every plugin (self-signed, files, vault, cert-manager) implements only this:
 * sign meshid's signing-CA CSR and report the roots.
 */
export interface UpstreamAuthority {
  readonly name: string;
  /** Validates config and connects; throws a MeshidError naming the bad setting. */
  start(): Promise<void>;
  mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult>;
  /** Called when the upstream's roots change; returns an unsubscribe function. */
  onRootsChanged(listener: (roots: x509.X509Certificate[]) => void): () => void;
  /**
   * Optional: called when the CA the upstream signs with changed (e.g. the operator replaced its files), so the
   * authority manager mints a new signing CA from it without waiting for the schedule. Returns an unsubscribe
   * function.
   */
  onUpstreamChanged?(listener: () => void): () => void;
  /**
   * Optional, for upstreams whose root meshid itself holds (self-signed): creates the next root for a root
   * rotation, its key persisted like the current one. It signs nothing until a mint request names it in
   * `root`. Upstreams without it manage their roots themselves.
   */
  prepareRoot?(): Promise<PreparedRoot>;
  close(): Promise<void>;
}

/** What the CA server hands every upstream plugin besides its own settings. */
export interface UpstreamContext {
  dataDir: string;
  trustDomain: TrustDomain;
  /** self-signed: key algorithm and lifetime of the embedded root. */
  keyAlgorithm: KeyAlgorithm;
  rootTtlSeconds: number;
  log?: Logger;
  /** Where upstream failure counters go (the CA server's metrics registry). */
  registry?: Registry;
}

/** An upstream authority plugin (`ca.upstream.type`). */
export type UpstreamPlugin<Settings> = PluginDefinition<Settings, UpstreamContext, UpstreamAuthority>;
