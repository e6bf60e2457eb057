import { MeshidError } from '../../core/errors.js';
import type { TrustDomain } from '../../core/spiffeid.js';
import { generateKeyPair, subjectKeyIdentifier, type KeyAlgorithm } from '../../core/x509/keys.js';
import type { UpstreamAuthority } from '../../plugins/upstream/upstream-authority.js';
import type { AuthorityRecord } from '../datastore/datastore.js';
import { createCaCsrPem } from './ca-csr.js';
import { certificatesToPem, verifyCaChain } from './chain.js';
import type { AuthorityJournal } from './journal.js';
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

/**
 * Mints the next signing CA: a new key (saved 0600 before anything refers to it), a CSR, the upstream's
 * signature, a check of what came back, and a `prepared` journal record. Nothing is left behind on failure.
 */
export async function prepareAuthority(ctx: PrepareContext, now: Date): Promise<AuthorityRecord> {
  const { privateKey, publicKey } = generateKeyPair(ctx.keyAlgorithm);
  const id = subjectKeyIdentifier(publicKey.export({ format: 'der', type: 'spki' })).toString('hex');
  const keyPath = await ctx.keyStore.write(id, privateKey);
  try {
    const csrPem = await createCaCsrPem({ privateKey, publicKey, subject: ctx.subject, trustDomain: ctx.trustDomain });
    const minted = await ctx.upstream.mintX509Ca({
      csrPem,
      trustDomain: ctx.trustDomain,
      preferredTtlSeconds: ctx.ttlSeconds,
    });
    const what = `upstream authority "${ctx.upstream.name}" returned a bad signing CA`;
    verifyCaChain(minted.x509CaChain, minted.upstreamRoots, what, publicKey);
    const certificate = minted.x509CaChain[0]!;
    if (certificate.notAfter <= now) {
      throw new MeshidError('FAILED_PRECONDITION', `${what}: it expired at ${certificate.notAfter.toISOString()}`, 'bad_ca_chain');
    }
    return await ctx.journal.recordPrepared(
      {
        id,
        kind: 'intermediate',
        upstream: ctx.upstream.name,
        certificatePem: certificatesToPem(minted.x509CaChain),
        upstreamRootsPem: certificatesToPem(minted.upstreamRoots),
        keyPath,
        notBefore: certificate.notBefore,
        notAfter: certificate.notAfter,
      },
      now,
    );
  } catch (err) {
    await ctx.keyStore.remove(keyPath);
    throw err;
  }
}
