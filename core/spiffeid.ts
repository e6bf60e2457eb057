import { invalidArgument } from './errors.js';

/** Limits from the SPIFFE-ID spec as go-spiffe enforces them. */
export const MAX_TRUST_DOMAIN_LENGTH = 255;
export const MAX_SPIFFE_ID_LENGTH = 2048;
const SCHEME = 'spiffe://';

const TD_CHAR = /^[a-z0-9._-]+$/;
const SEGMENT_CHAR = /^[a-zA-Z0-9._-]+$/;

/** A validated SPIFFE trust domain name (no scheme). */
export class TrustDomain {
  private constructor(readonly name: string) {}

  /** Accepts `example.org` or `spiffe://example.org`. */
  static parse(input: string): TrustDomain {
    const name = input.startsWith(SCHEME) ? input.slice(SCHEME.length) : input;
    validateTrustDomainName(name);
    return new TrustDomain(name);
  }

  /** `spiffe://<td>`: the key used in bundle maps and signing-CA URI SANs. */
  get id(): string {
    return SCHEME + this.name;
  }

  spiffeId(path: string): SpiffeId {
    return SpiffeId.fromParts(this, path);
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }
}

/** A validated SPIFFE ID. Construct with `SpiffeId.parse` or `TrustDomain.spiffeId`. */
export class SpiffeId {
  private constructor(
    readonly trustDomain: TrustDomain,
    readonly path: string,
  ) {}

  static parse(input: string): SpiffeId {
    if (typeof input !== 'string' || input.length === 0) throw invalidArgument('SPIFFE ID is empty', 'bad_spiffe_id');
    if (input.length > MAX_SPIFFE_ID_LENGTH) {
      throw invalidArgument(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_LENGTH} bytes`, 'bad_spiffe_id');
    }
    if (!input.startsWith(SCHEME)) {
      throw invalidArgument('SPIFFE ID must start with "spiffe://"', 'bad_spiffe_id');
    }
    const rest = input.slice(SCHEME.length);
    const slash = rest.indexOf('/');
    const tdName = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? '' : rest.slice(slash);
    validateTrustDomainName(tdName);
    validatePath(path);
    return new SpiffeId(TrustDomain.parse(tdName), path);
  }

  static fromParts(td: TrustDomain, path: string): SpiffeId {
    validatePath(path);
    const id = new SpiffeId(td, path);
    if (id.toString().length > MAX_SPIFFE_ID_LENGTH) {
      throw invalidArgument(`SPIFFE ID is longer than ${MAX_SPIFFE_ID_LENGTH} bytes`, 'bad_spiffe_id');
    }
    return id;
  }

  /** Istio's Kubernetes convention: spiffe://<td>/ns/<ns>/sa/<sa>. */
  static forServiceAccount(td: TrustDomain, namespace: string, serviceAccount: string): SpiffeId {
    // each name must stay one segment: "a/sa/b" as a namespace would forge another identity's path
    if (namespace.includes('/') || serviceAccount.includes('/')) {
      throw invalidArgument('Kubernetes namespace and service account names may not contain "/"', 'bad_spiffe_id');
    }
    return SpiffeId.fromParts(td, `/ns/${namespace}/sa/${serviceAccount}`);
  }

  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }

  equals(other: SpiffeId): boolean {
    return this.trustDomain.equals(other.trustDomain) && this.path === other.path;
  }

  toString(): string {
    return SCHEME + this.trustDomain.name + this.path;
  }
}

function validateTrustDomainName(name: string): void {
  if (name.length === 0) throw invalidArgument('trust domain is missing', 'bad_spiffe_id');
  if (name.length > MAX_TRUST_DOMAIN_LENGTH) {
    throw invalidArgument(`trust domain is longer than ${MAX_TRUST_DOMAIN_LENGTH} bytes`, 'bad_spiffe_id');
  }
  if (!TD_CHAR.test(name)) {
    throw invalidArgument(
      'trust domain may only contain lowercase letters, digits, ".", "-" and "_" (no port, userinfo, query or fragment)',
      'bad_spiffe_id',
    );
  }
}

function validatePath(path: string): void {
  if (path === '') return;
  if (path[0] !== '/') throw invalidArgument('SPIFFE ID path must start with "/"', 'bad_spiffe_id');
  // split keeps empty strings, so "//" and a trailing "/" surface as empty segments
  for (const segment of path.slice(1).split('/')) {
    if (segment === '') throw invalidArgument('SPIFFE ID path has an empty segment or a trailing "/"', 'bad_spiffe_id');
    if (segment === '.' || segment === '..') {
      throw invalidArgument('SPIFFE ID path may not contain "." or ".." segments', 'bad_spiffe_id');
    }
    if (!SEGMENT_CHAR.test(segment)) {
      throw invalidArgument(
        'SPIFFE ID path segments may only contain letters, digits, ".", "-" and "_"',
        'bad_spiffe_id',
      );
    }
  }
}
