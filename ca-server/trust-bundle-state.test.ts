import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrustDomain } from '../core/spiffeid.js';
import { fingerprint } from '../core/x509/chain.js';
import type { x509 } from '../core/x509/peculiar.js';
import { makeRoot } from '../test/authority/upstream-double.js';
import { BundleAcks } from './authority/bundle-acks.js';
import type { AuthorityChange } from './authority/manager.js';
import type { AuthorityRecord } from './datastore/datastore.js';
import { TrustBundleState, type BundleChangeCause, type TrustBundleStateOptions } from './trust-bundle-state.js';

const td = TrustDomain.parse('example.org');
const now = new Date();
const HOUR = 3600_000;

/** Stands in for the authority manager, the JWT key manager and the journal, with hooks to change them. */
function sources(first: x509.X509Certificate) {
  let roots = [first];
  let records: AuthorityRecord[] = [];
  let authorityListener: ((change: AuthorityChange) => void) | undefined;
  let jwtListener: (() => void) | undefined;
  const jwtKey = { keyId: 'k1', publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey };
  return {
    authorities: {
      trustBundle: () => ({ roots }),
      activeRootId: () => `root-${roots.length}`,
      onChange: (listener: (change: AuthorityChange) => void) => {
        authorityListener = listener;
        return () => (authorityListener = undefined);
      },
    },
    jwtKeys: {
      bundleKeys: () => [jwtKey],
      onChange: (listener: () => void) => {
        jwtListener = listener;
        return () => (jwtListener = undefined);
      },
    },
    store: { listAuthorities: async () => records },
    setRoots: (next: x509.X509Certificate[]) => (roots = next),
    setRecords: (next: AuthorityRecord[]) => (records = next),
    changeAuthorities: () => authorityListener?.({ active: { id: 'next' } } as AuthorityChange),
    changeJwtKeys: () => jwtListener?.(),
    subscribed: () => authorityListener !== undefined || jwtListener !== undefined,
  };
}

const signingCa = (certificate: x509.X509Certificate, state: AuthorityRecord['state'], notAfter: Date): AuthorityRecord => ({
  id: fingerprint(certificate),
  kind: 'intermediate',
  state,
  upstream: 'test',
  certificatePem: certificate.toString('pem'),
  notBefore: certificate.notBefore,
  notAfter,
  createdAt: certificate.notBefore,
});

describe('TrustBundleState', () => {
  let dir: string;
  let open: TrustBundleState[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshid-bundle-'));
    open = [];
  });
  afterEach(() => {
    for (const state of open) state.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (src: ReturnType<typeof sources>, acks = new BundleAcks()) => {
    const options: TrustBundleStateOptions = { trustDomain: td, bundleFile: join(dir, 'bundle.pem'), ...src, acks, log: pino({ level: 'silent' }) };
    const state = await TrustBundleState.open(options);
    open.push(state);
    return { state, file: options.bundleFile, acks };
  };
  const nextChange = (state: TrustBundleState) =>
    new Promise<BundleChangeCause>((resolve) => {
      const unsubscribe = state.onChange((cause) => {
        unsubscribe();
        resolve(cause);
      });
    });

  it('publishes the first bundle: PEM, 0644 bundle file, agent message, acknowledgements, caller issuers', async () => {
    const root = (await makeRoot(now, 'CN=root 1')).certificate;
    const src = sources(root);
    const usable = (await makeRoot(now, 'CN=ca 1')).certificate;
    const prepared = (await makeRoot(now, 'CN=ca 2')).certificate;
    const expired = (await makeRoot(now, 'CN=ca 3')).certificate;
    src.setRecords([
      signingCa(usable, 'retired', new Date(now.getTime() + HOUR)),
      signingCa(prepared, 'prepared', new Date(now.getTime() + HOUR)),
      signingCa(expired, 'retired', new Date(now.getTime() - HOUR)),
    ]);
    const { state, file, acks } = await start(src);

    const bundle = state.current();
    expect(bundle.x509Authorities).toEqual([Buffer.from(root.rawData)]);
    expect(state.pem()).toBe(bundle.toPem());
    expect(readFileSync(file, 'utf8')).toBe(state.pem());
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(state.document('pem')).toBe(state.pem());
    expect(JSON.parse(state.document('jwks'))).toEqual(bundle.toJwks());
    expect(state.message()).toEqual({
      trust_domain: 'spiffe://example.org',
      x509_authorities: [Buffer.from(root.rawData)],
      jwks: JSON.stringify(bundle.toJwks()),
      sequence: bundle.sequence,
      refresh_hint_seconds: 300,
      active_root_id: 'root-1',
    });
    expect(acks.currentSequence).toBe(bundle.sequence);
    expect(state.issuers().map((c) => c.fingerprint256)).toEqual([new X509Certificate(usable.toString('pem')).fingerprint256]);
    expect(state.issuers()).toBe(state.issuers());
  });

  it('rebuilds on an authority change: new issuers, PEM and file, then tells listeners', async () => {
    const first = (await makeRoot(now, 'CN=root 1')).certificate;
    const src = sources(first);
    const { state, file, acks } = await start(src);
    const before = { bundle: state.current(), issuers: state.issuers() };
    const second = (await makeRoot(now, 'CN=root 2')).certificate;
    src.setRoots([first, second]);
    src.setRecords([signingCa((await makeRoot(now, 'CN=ca')).certificate, 'active', new Date(now.getTime() + HOUR))]);

    const changed = nextChange(state);
    src.changeAuthorities();
    expect(await changed).toBe('authorities');
    expect(state.current().sequence).toBe(before.bundle.sequence! + 1);
    expect(state.current().x509Authorities).toHaveLength(2);
    expect(readFileSync(file, 'utf8')).toBe(state.pem());
    expect(state.pem()).toBe(state.current().toPem());
    expect(state.message().active_root_id).toBe('root-2');
    expect(state.issuers()).not.toBe(before.issuers);
    expect(state.issuers()).toHaveLength(1);
    expect(acks.currentSequence).toBe(state.current().sequence);
  });

  it('keeps the issuers on a JWT key change, and stops following once closed', async () => {
    const src = sources((await makeRoot(now, 'CN=root')).certificate);
    const { state } = await start(src);
    const before = { sequence: state.current().sequence!, issuers: state.issuers() };

    const changed = nextChange(state);
    src.changeJwtKeys();
    expect(await changed).toBe('jwt-keys');
    expect(state.current().sequence).toBe(before.sequence + 1);
    expect(state.issuers()).toBe(before.issuers);

    state.close();
    expect(src.subscribed()).toBe(false);
  });
});
