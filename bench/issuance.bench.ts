/**
 * X509-SVID issuance throughput: CSR -> signed leaf, beside the raw node:crypto ECDSA P-256 rates of the
 * same run. Each section returns table rows; add a section (e.g. over gRPC) by appending to `sections`.
 * The in-process rows with one request at a time are one-core numbers (the CSR check hands off to libuv's
 * pool and back, one thread working at a time); the row with several in flight uses the pool alongside.
 */
import { sign, verify } from 'node:crypto';
import { SpiffeId } from '../core/spiffeid.js';
import { createCaCertificate, randomSerial } from '../core/x509/ca-cert.js';
import { checkCsrIdentity, parseCsr } from '../core/x509/csr.js';
import { createCsrPem } from '../core/x509/csr-request.js';
import { generateKeyPair } from '../core/x509/keys.js';
import { createLeafSigner, leafValidity, type LeafSignerOptions } from '../core/x509/leaf.js';
import { x509 } from '../core/x509/peculiar.js';
import { createLeafCertificateReference } from '../test/x509/leaf-reference.js';
import { describeMachine, measureAsync, measureSync, printTable, type Measurement } from './harness.js';

const CSR_POOL_SIZE = 1000;
const TARGET_IN_PROCESS = 5000;
const SPIFFE_ID = SpiffeId.parse('spiffe://example.org/ns/bench/sa/workload');
const TTL = { requestedTtlSeconds: 3600, maxTtlSeconds: 86400 };

interface Context {
  signing: LeafSignerOptions & { notAfter: Date };
  /** PEM CSRs, each for its own P-256 key. */
  csrs: string[];
}

type Section = (ctx: Context) => Promise<Measurement[]>;

async function setUp(): Promise<Context> {
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 365 * 86400_000);
  const root = generateKeyPair('ec-p256');
  const rootCert = await createCaCertificate({
    subject: 'O=meshid bench, CN=root',
    publicKey: root.publicKey,
    selfSigningKey: root.privateKey,
    notBefore,
    notAfter,
  });
  const inter = generateKeyPair('ec-p256');
  const interCert = await createCaCertificate({
    subject: 'O=meshid bench, CN=intermediate',
    publicKey: inter.publicKey,
    issuer: { certificate: rootCert, privateKey: root.privateKey },
    notBefore,
    notAfter,
  });
  const csrs: string[] = [];
  for (let i = 0; i < CSR_POOL_SIZE; i++) csrs.push(createCsrPem({ ...generateKeyPair('ec-p256'), spiffeId: SPIFFE_ID }));
  return {
    signing: { issuerCertDer: Buffer.from(interCert.rawData), issuerKey: inter.privateKey, notAfter: interCert.notAfter },
    csrs,
  };
}

/** Raw ECDSA P-256 over a TBS-sized message: the ceiling issuance is measured against. */
const rawCrypto: Section = async () => {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const message = Buffer.alloc(450, 0x5a);
  const signature = sign('sha256', message, privateKey);
  return [
    measureSync('raw ECDSA P-256 sign', () => sign('sha256', message, privateKey)),
    measureSync('raw ECDSA P-256 verify', () => verify('sha256', message, publicKey, signature)),
  ];
};

/**
 * The production path: fast DER CSR reader + proof-of-possession check (on the libuv pool) + template leaf
 * encoder. One request at a time keeps one core working at any moment, each request paying a hand-off to the
 * pool and back; with several in flight the event loop and the pool overlap, as under a server's load.
 */
const inProcessFast: Section = async ({ signing, csrs }) => {
  const signer = createLeafSigner(signing);
  const spiffeId = SPIFFE_ID.toString();
  const issue = async (i: number) => {
    const csr = await parseCsr(csrs[i % csrs.length]!);
    checkCsrIdentity(csr, SPIFFE_ID);
    const validity = leafValidity({ now: new Date(), ...TTL, issuerNotAfter: signing.notAfter });
    signer.sign({ spkiDer: csr.spkiDer, spiffeId, ...validity });
  };
  return [
    await measureAsync('CSR->SVID fast path (1 core)', issue),
    await measureAsync('CSR->SVID fast path (8 in flight: event loop + libuv pool)', issue, { concurrency: 8 }),
  ];
};

/** The same work done the straightforward way with @peculiar/x509. */
const inProcessReference: Section = async ({ signing, csrs }) => {
  const spiffeId = SPIFFE_ID.toString();
  return [
    await measureAsync(
      'CSR->SVID @peculiar/x509 reference (1 core)',
      async (i) => {
        const csr = new x509.Pkcs10CertificateRequest(csrs[i % csrs.length]!);
        if (!(await csr.verify())) throw new Error('reference path rejected a valid CSR');
        const validity = leafValidity({ now: new Date(), ...TTL, issuerNotAfter: signing.notAfter });
        await createLeafCertificateReference(signing, {
          spkiDer: new Uint8Array(csr.publicKey.rawData),
          spiffeId,
          serial: randomSerial(),
          ...validity,
        });
      },
      { warmup: 50 },
    ),
  ];
};

const sections: Section[] = [rawCrypto, inProcessFast, inProcessReference];

async function main(): Promise<void> {
  console.log(`issuance benchmark: ${describeMachine()}`);
  const ctx = await setUp();
  const rows: Measurement[] = [];
  for (const section of sections) rows.push(...(await section(ctx)));
  printTable('X509-SVID issuance (CSR parse + proof-of-possession verify + sign)', rows, rows[0]);
  const fast = rows.find((r) => r.name.startsWith('CSR->SVID fast path'))!;
  const verdict = fast.opsPerSec >= TARGET_IN_PROCESS ? 'met' : 'MISSED';
  console.log(`\nin-process target >= ${TARGET_IN_PROCESS.toLocaleString('en-US')} SVIDs/s on one core: ${verdict}`);
}

await main();
