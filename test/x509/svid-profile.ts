import { createPublicKey, X509Certificate as NodeX509Certificate, type KeyObject } from 'node:crypto';
import { MeshidError } from '../../core/errors.js';
import { SpiffeId, type TrustDomain } from '../../core/spiffeid.js';
import { contents, contextTag, DerReader, TAG } from '../../core/x509/der.js';
import { OID } from '../../core/x509/oids.js';
import { x509 } from '../../core/x509/peculiar.js';

export interface SvidProfileOptions {
  /** The leaf must carry exactly this SPIFFE ID. */
  expectedSpiffeId?: string;
  /** Every SPIFFE ID in the chain must belong to this trust domain. */
  trustDomain?: TrustDomain;
  /** The leaf's private key: it must match the leaf's public key (go-spiffe checks this). */
  privateKey?: KeyObject;
  /** Trust anchors (DER): the last chain element must be one of them or be signed by one. */
  roots?: Uint8Array[];
  /** When given, every certificate must be valid at this instant. */
  now?: Date;
}

interface Parsed {
  der: Uint8Array;
  cert: x509.X509Certificate;
  node: NodeX509Certificate;
}

/**
 * Checks an X509-SVID chain (leaf first, then signing CAs, roots optional) against the SPIFFE X509-SVID
 * profile as PROTOCOLS.md states it and meshid's issuance practice (serial, SKI/AKI, notAfter capping).
 * Returns human-readable violations; an empty list means the chain conforms.
 */
export function checkX509SvidProfile(chainDer: Uint8Array[], options: SvidProfileOptions = {}): string[] {
  const violations: string[] = [];
  if (chainDer.length === 0) return ['chain is empty'];
  let chain: Parsed[];
  try {
    chain = chainDer.map((der) => ({ der, cert: new x509.X509Certificate(der), node: new NodeX509Certificate(der) }));
  } catch {
    return ['chain holds a certificate that does not parse'];
  }
  const report = (label: string) => (message: string) => violations.push(`${label}: ${message}`);

  checkLeaf(chain[0]!, report('leaf'), options);
  chain.slice(1).forEach((ca, i) => checkSigningCert(ca, report(`CA[${i + 1}]`), options));
  chain.forEach((c, i) => {
    const say = report(i === 0 ? 'leaf' : `CA[${i}]`);
    checkCommon(c, say, options);
    const issuer = chain[i + 1];
    if (issuer) checkIssuedBy(c, issuer, say);
  });
  if (options.roots) checkAnchored(chain[chain.length - 1]!, options.roots, report('chain'));
  if (options.privateKey) {
    const spki = createPublicKey(options.privateKey).export({ format: 'der', type: 'spki' });
    if (!spki.equals(Buffer.from(chain[0]!.cert.publicKey.rawData))) report('leaf')('private key does not match the public key');
  }
  return violations;
}

function checkLeaf({ cert }: Parsed, say: (m: string) => void, options: SvidProfileOptions): void {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  if (uris.length !== 1) say(`must carry exactly one URI SAN, has ${uris.length}`);
  if (uris.length === 1) {
    const id = spiffeIdOf(uris[0]!, say);
    if (id && id.path === '') say('SPIFFE ID must have a path');
    if (id && options.trustDomain && !id.memberOf(options.trustDomain)) say(`SPIFFE ID ${id} is not in trust domain ${options.trustDomain}`);
    if (options.expectedSpiffeId !== undefined && uris[0] !== options.expectedSpiffeId) {
      say(`SPIFFE ID is ${uris[0]}, expected ${options.expectedSpiffeId}`);
    }
  }
  if (cert.subject === '' && !san?.critical) say('subject is empty, so the SAN extension must be critical');

  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku) say('key usage extension is missing');
  else {
    if (!ku.critical) say('key usage must be critical');
    if (!(ku.usages & x509.KeyUsageFlags.digitalSignature)) say('key usage must include digitalSignature');
    if (ku.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) say('key usage must not include keyCertSign or cRLSign');
  }
  if (cert.getExtension(x509.BasicConstraintsExtension)?.ca) say('basicConstraints must have cA=false');

  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku && !(eku.usages.includes(OID.serverAuth) && eku.usages.includes(OID.clientAuth))) {
    say('extended key usage must include both serverAuth and clientAuth');
  }
}

function checkSigningCert({ cert }: Parsed, say: (m: string) => void, options: SvidProfileOptions): void {
  if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) say('signing certificate must have cA=true');
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku || !(ku.usages & x509.KeyUsageFlags.keyCertSign)) say('signing certificate must have keyCertSign');
  const uris = cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.filter((n) => n.type === 'url') ?? [];
  for (const { value } of uris) {
    const id = spiffeIdOf(value, say);
    if (id && id.path !== '') say(`signing certificate SPIFFE ID ${value} must not have a path`);
    if (id && options.trustDomain && !id.memberOf(options.trustDomain)) say(`SPIFFE ID ${id} is not in trust domain ${options.trustDomain}`);
  }
}

/** Rules for every certificate: v3, serial, key identifiers, validity. */
function checkCommon({ der, cert }: Parsed, say: (m: string) => void, options: SvidProfileOptions): void {
  const { version, serial } = versionAndSerial(der);
  if (version !== 2) say(`must be X.509 v3, is v${version + 1}`);
  if (serial[0]! & 0x80) say('serial number must be positive');
  if (serial.length < 8) say(`serial number must have at least 64 bits, has ${serial.length * 8}`);
  if (!cert.getExtension(x509.SubjectKeyIdentifierExtension)) say('subject key identifier is missing');
  if (cert.notBefore >= cert.notAfter) say('notBefore must be before notAfter');
  if (options.now && (options.now < cert.notBefore || options.now > cert.notAfter)) say(`not valid at ${options.now.toISOString()}`);
}

function checkIssuedBy(child: Parsed, issuer: Parsed, say: (m: string) => void): void {
  if (!child.node.checkIssued(issuer.node) || !child.node.verify(issuer.node.publicKey)) {
    say('is not issued and signed by the next certificate in the chain');
  }
  const aki = child.cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  const ski = issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (!aki) say('authority key identifier is missing');
  else if (ski && aki !== ski) say("authority key identifier does not match the issuer's subject key identifier");
  if (child.cert.notAfter > issuer.cert.notAfter) say("notAfter is later than the issuer's notAfter");
}

function checkAnchored(last: Parsed, roots: Uint8Array[], say: (m: string) => void): void {
  const anchored = roots.some((rootDer) => {
    if (Buffer.from(rootDer).equals(Buffer.from(last.der))) return true;
    const root = new NodeX509Certificate(rootDer);
    return last.node.checkIssued(root) && last.node.verify(root.publicKey);
  });
  if (!anchored) say('does not chain to any of the given roots');
}

function spiffeIdOf(uri: string, say: (m: string) => void): SpiffeId | undefined {
  try {
    return SpiffeId.parse(uri);
  } catch (err) {
    if (!(err instanceof MeshidError)) throw err;
    say(`URI SAN ${JSON.stringify(uri)} is not a valid SPIFFE ID: ${err.message}`);
    return undefined;
  }
}

function versionAndSerial(der: Uint8Array): { version: number; serial: Uint8Array } {
  const cert = DerReader.within(der, new DerReader(der).next(TAG.SEQUENCE));
  const tbs = DerReader.within(der, cert.next(TAG.SEQUENCE));
  const explicitVersion = tbs.optional(contextTag(0, true));
  const version = explicitVersion ? contents(der, DerReader.within(der, explicitVersion).next(TAG.INTEGER))[0]! : 0;
  return { version, serial: contents(der, tbs.next(TAG.INTEGER)) };
}
