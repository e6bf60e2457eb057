import { MeshidError } from '../../core/errors.js';
import type { TrustDomain } from '../../core/spiffeid.js';
import { generateKeyPair, subjectKeyIdentifier, type KeyAlgorithm } from '../../core/x509/keys.js';
import type { x509 } from '../../core/x509/peculiar.js';
import type { UpstreamAuthority } from '../../plugins/api/upstream-authority.js';
import type { AuthorityRecord } from '../datastore/datastore.js';
import { createCaCsrPem } from './ca-csr.js';
import { certificatesToPem, fingerprint, verifyCaChain } from '../../core/x509/chain.js';
import type { AuthorityJournal, NewAuthority } from './journal.js';
import type { KeyStore } from './key-store.js';

export interface PrepareContext {
  upstream: UpstreamAuthority;
  journal: AuthorityJournal;
  keyStore: KeyStore;
  trustDomain: TrustDomain;
  keyAlgorithm: KeyAlgorithm;
  ttlSeconds: number;
  subject: string;
}

export interface PrepareOptions {
  /** Root rotation: the root to mint under (upstreams with prepareRoot only). */
  root?: x509.X509Certificate;
  /** Which prepared signing CAs compete with this one in the journal (see AuthorityJournal.recordPrepared). */
  sameSlot?: (other: AuthorityRecord) => boolean;
}

/**
 * Mints the next signing CA: a new key (saved 0600 before anything refers to it), a CSR, the upstream's
 * signature, a check of what came back, and a `prepared` journal record. Nothing is left behind on failure.
 */
export async function prepareAuthority(ctx: PrepareContext, now: Date, options: PrepareOptions = {}): Promise<AuthorityRecord> {
  const authority = await mintAuthority(ctx, now, options.root);
  try {
    return await ctx.journal.recordPrepared(authority, now, options.sameSlot);
  } catch (err) {
    await discardAuthority(ctx, authority);
    throw err;
  }
}

/**
 * Mints and checks a signing CA without journaling it; the caller journals it or calls discardAuthority.
 * With `root`, the upstream must have signed under exactly that root.
 */
export async function mintAuthority(ctx: PrepareContext, now: Date, root?: x509.X509Certificate): Promise<NewAuthority> {
  const { privateKey, publicKey } = generateKeyPair(ctx.keyAlgorithm);
  const id = subjectKeyIdentifier(publicKey.export({ format: 'der', type: 'spki' })).toString('hex');
  const keyPath = await ctx.keyStore.write(id, privateKey);
  try {
    const csrPem = await createCaCsrPem({ privateKey, publicKey, subject: ctx.subject, trustDomain: ctx.trustDomain });
    const minted = await ctx.upstream.mintX509Ca({
      csrPem,
      trustDomain: ctx.trustDomain,
      preferredTtlSeconds: ctx.ttlSeconds,
      ...(root ? { root } : {}),
    });
    const what = `upstream authority "${ctx.upstream.name}" returned a bad signing CA`;
    const anchor = verifyCaChain(minted.x509CaChain, minted.upstreamRoots, what, publicKey);
    if (root && fingerprint(anchor) !== fingerprint(root)) {
      throw new MeshidError('FAILED_PRECONDITION', `${what}: it is not signed under the requested root`, 'bad_ca_chain');
    }
    const certificate = minted.x509CaChain[0]!;
    if (certificate.notAfter <= now) {
      throw new MeshidError('FAILED_PRECONDITION', `${what}: it expired at ${certificate.notAfter.toISOString()}`, 'bad_ca_chain');
    }
    return {
      id,
      kind: 'intermediate',
      upstream: ctx.upstream.name,
      certificatePem: certificatesToPem(minted.x509CaChain),
      upstreamRootsPem: certificatesToPem(minted.upstreamRoots),
      keyPath,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
    };
  } catch (err) {
    await ctx.keyStore.remove(keyPath);
    throw err;
  }
}

/** Removes the key of a minted signing CA that will not be journaled. */
export async function discardAuthority(ctx: PrepareContext, authority: NewAuthority): Promise<void> {
  if (authority.keyPath) await ctx.keyStore.remove(authority.keyPath);
}
