/**
 * The contract between the node agent's core (CA client, SVID cache, rotation, bundle watch) and the
 * servers that hand identities to workloads (Envoy SDS, SPIFFE Workload API). Servers never talk to the
 * CA; they ask an IdentitySource and subscribe to its changes.
 */

/** One X509-SVID with its private key, as every server needs it. Keys never leave the node. */
export interface X509SvidMaterial {
  spiffeId: string;
  /** DER certificates, leaf first, roots excluded. */
  chainDer: Buffer[];
  /** Same chain as concatenated PEM. */
  chainPem: string;
  /** PKCS#8 DER (Workload API) and PEM (SDS). */
  privateKeyDer: Buffer;
  privateKeyPem: string;
  notAfter: Date;
}

export interface TrustBundleMaterial {
  /** "spiffe://<td>" */
  trustDomainId: string;
  rootsDer: Buffer[];
  /** Concatenated PEM of rootsDer. */
  rootsPem: string;
  /** SPIFFE bundle document (JWK Set JSON): X.509 roots and JWT keys. */
  jwks: string;
  sequence: number;
}

/**
 * Who is calling, as established by something the caller cannot forge:
 * - `unix`: the selectors the kernel vouches for, from the socket the caller could reach (a socket inside a
 *   directory only that uid/gid can traverse), e.g. ["unix:uid:1000", "unix:gid:1000"];
 * - `k8s-token`: the pod's service-account token the caller presented (Kubernetes mode); the CA verifies it
 *   and that the pod runs on this node.
 */
export type WorkloadCaller =
  | { kind: 'unix'; selectors: readonly string[] }
  | { kind: 'k8s-token'; token: string };

export interface JwtSvidMaterial {
  spiffeId: string;
  token: string;
  expiresAt: Date;
}

export interface IdentitySource {
  /**
   * The caller's current X509-SVIDs, default identity first. Rejects with MeshidError PERMISSION_DENIED
   * when no identity matches the caller, UNAVAILABLE while the agent has none yet and the CA is unreachable.
   */
  x509Svids(caller: WorkloadCaller): Promise<X509SvidMaterial[]>;
  /** Calls `listener` with the caller's full SVID list whenever it changes (rotation). Returns unsubscribe. */
  watchX509Svids(caller: WorkloadCaller, listener: (svids: X509SvidMaterial[]) => void): () => void;

  /** Bundles by trust domain ID ("spiffe://<td>"); the own trust domain is always present. */
  bundles(): ReadonlyMap<string, TrustBundleMaterial>;
  /** The agent's own trust domain bundle. */
  ownBundle(): TrustBundleMaterial;
  /** Calls `listener` whenever any bundle changes (new or removed roots, JWT keys). Returns unsubscribe. */
  watchBundles(listener: () => void): () => void;

  /** JWT-SVIDs for the caller (all identities, or only `spiffeId`), signed by the CA for `audience`. */
  jwtSvids(caller: WorkloadCaller, audience: string[], spiffeId?: string): Promise<JwtSvidMaterial[]>;
}
