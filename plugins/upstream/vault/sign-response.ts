import { certificatesFromPem } from '../../../core/x509/chain.js';
import { MeshidError } from '../../../core/errors.js';
import type { x509 } from '../../../core/x509/peculiar.js';
import { distinctCertificates, isSelfSigned } from '../shared/certificates.js';
import type { MintX509CaResult } from '../../api/upstream-authority.js';

const WHAT = 'vault upstream authority: the sign-intermediate response';

/**
 * Builds meshid's chain from `<mount>/root/sign-intermediate` data: `certificate` (with format pem_bundle also
 * the issuing CA), `ca_chain` (OpenBao lists the new certificate in it too) or else `issuing_ca`. The trust
 * anchors are the self-signed certificates above meshid's; without one, the top of the chain (as SPIRE does).
 */
export function chainFromSignResponse(data: unknown): MintX509CaResult {
  const { certificate, issuing_ca: issuingCa, ca_chain: caChain } = (data ?? {}) as Record<string, unknown>;
  if (typeof certificate !== 'string') throw bad('has no certificate');
  const issued = certificatesFromPem(certificate, `${WHAT} certificate`);
  const signed = issued[0]!;
  const chainPems = Array.isArray(caChain) && caChain.length > 0 ? caChain : typeof issuingCa === 'string' ? [issuingCa] : [];
  const above = distinctCertificates(
    [...issued.slice(1), ...chainPems.flatMap((pem) => parsePem(pem))],
    [signed],
  );
  if (above.length === 0) throw bad('has neither ca_chain nor issuing_ca, so the root is unknown');
  const selfSigned = above.filter(isSelfSigned);
  const roots: x509.X509Certificate[] = selfSigned.length > 0 ? selfSigned : [above.at(-1)!];
  return { x509CaChain: [signed, ...distinctCertificates(above, roots)], upstreamRoots: roots };
}

function parsePem(pem: unknown): x509.X509Certificate[] {
  if (typeof pem !== 'string') throw bad('has a ca_chain entry that is not PEM text');
  return certificatesFromPem(pem, `${WHAT} ca_chain`);
}

const bad = (why: string) => new MeshidError('FAILED_PRECONDITION', `${WHAT} ${why}`, 'vault_bad_response');
