import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { peerVersion, pinnedVersions, requirePeer } from './peers.js';

const run = promisify(execFile);

describe('provisioned interop peers', () => {
  const pins = pinnedVersions();

  it('envoy is the real Envoy binary at the pinned release', () => {
    expect(peerVersion('envoy')).toBe(pins.envoy);
  });

  it('bao is the real OpenBao binary at the pinned release', () => {
    expect(peerVersion('bao')).toBe(pins.bao);
  });

  it('go-spiffe-client is built against the pinned go-spiffe', () => {
    expect(peerVersion('go-spiffe-client')).toBe(pins.goSpiffe);
  });

  it('openssl is OpenSSL 3', () => {
    expect(peerVersion('openssl')).toMatch(/^3\.\d+\.\d+/);
  });

  it('postgres is the real PostgreSQL server', () => {
    expect(peerVersion('postgres')).toMatch(/^\d+\.\d+/);
  });

  it('go-spiffe-client reports an unreachable Workload API as JSON with the gRPC code', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshid-peers-'));
    try {
      const failure = await run(requirePeer('go-spiffe-client'), [
        'x509', '-socket', `unix://${dir}/absent.sock`, '-timeout', '5s',
      ]).then(
        () => undefined,
        (err: { code?: number; stderr?: string }) => err,
      );
      expect(failure?.code).toBe(1);
      expect(JSON.parse(failure?.stderr ?? '')).toMatchObject({ grpc_code: 'Unavailable' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('requirePeer on a machine without the peer', () => {
  const emptyBin = mkdtempSync(path.join(tmpdir(), 'meshid-nopeers-'));
  afterAll(() => rmSync(emptyBin, { recursive: true, force: true }));

  it('fails in CI, naming the peer and the provisioning step', () => {
    expect(() => requirePeer('envoy', { binDir: emptyBin, ci: true })).toThrow(
      /peer "envoy" is missing .*CI job must run `bash scripts\/provision-peers\.sh`/,
    );
  });

  it('fails for a developer too, telling them what to run', () => {
    expect(() => requirePeer('bao', { binDir: emptyBin, ci: false })).toThrow(
      /peer "bao" is not provisioned .*run `bash scripts\/provision-peers\.sh` once/,
    );
  });

  it('asks for the same provisioning when the PostgreSQL binaries are missing', () => {
    expect(() => requirePeer('initdb', { binDir: emptyBin, ci: false })).toThrow(
      /peer "initdb" is not provisioned .*run `bash scripts\/provision-peers\.sh` once/,
    );
  });

  it('treats a dangling link (e.g. a deleted venv) as missing', () => {
    symlinkSync(path.join(emptyBin, 'gone'), path.join(emptyBin, 'openssl'));
    expect(() => requirePeer('openssl', { binDir: emptyBin, ci: true })).toThrow(/peer "openssl" is missing/);
  });

  it('returns the absolute path of a present peer', () => {
    symlinkSync(process.execPath, path.join(emptyBin, 'go-spiffe-client'));
    expect(requirePeer('go-spiffe-client', { binDir: emptyBin })).toBe(path.join(emptyBin, 'go-spiffe-client'));
  });
});
