// PolicyStore swaps compiled sets atomically; the file source reloads on change and keeps the last good set.
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { watchPolicyFiles } from '../../core/policy/file-source.js';
import type { PolicyUpdate } from '../../core/policy/store.js';
import { PolicyStore } from '../../core/policy/store.js';
import { PolicyValidationError } from '../../core/policy/validate.js';
import { policy, request } from './policy-fixtures.js';

const WORKLOAD = { namespace: 'prod', labels: {} };
const log = pino({ level: 'silent' });

describe('PolicyStore', () => {
  it('denies everything until the first set arrives (an empty set would allow everything)', () => {
    const store = new PolicyStore();
    expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: false, reason: 'denied: no policy set loaded yet' });
    store.replace([], 'test');
    expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: true });
  });

  it('swaps in a new set and tells subscribers', () => {
    const store = new PolicyStore();
    const updates: PolicyUpdate[] = [];
    const unsubscribe = store.subscribe((u) => updates.push(u));
    store.replace([policy({ action: 'DENY', rules: [{}] })], 'files');
    expect(store.evaluate(WORKLOAD, request()).allowed).toBe(false);
    store.replace([], 'kubernetes');
    unsubscribe();
    store.replace([], 'ca');
    expect(updates).toEqual([
      { version: 1, policies: 1, source: 'files' },
      { version: 2, policies: 0, source: 'kubernetes' },
    ]);
  });

  it('keeps the current set when a replacement does not compile', () => {
    const store = new PolicyStore();
    store.replace([policy({ action: 'DENY', rules: [{}] })], 'files');
    const allowAll = policy({ rules: [{}] });
    expect(() => store.replace([allowAll, allowAll], 'files')).toThrow(PolicyValidationError);
    expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: false, policy: 'prod/p' });
  });

  it('uses the configured root namespace', () => {
    const store = new PolicyStore({ rootNamespace: 'mesh' });
    store.replace([policy({ action: 'DENY', rules: [{}] }, { namespace: 'mesh' })], 'files');
    expect(store.evaluate({ namespace: 'any', labels: {} }, request()).allowed).toBe(false);
  });
});

describe('policy file source', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-policy-watch-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const doc = (name: string, action: string) =>
    `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: prod\nspec:\n  action: ${action}\n  rules: [{}]\n`;

  function watcherFor(paths: string[], store: PolicyStore) {
    const events = new EventEmitter();
    const source = watchPolicyFiles({ paths, store, log, debounceMs: 50, onReload: (r) => events.emit('reload', r) });
    const nextReload = () => once(events, 'reload').then(([r]) => r as { update: PolicyUpdate } | { error: Error });
    return { source, nextReload };
  }

  it('loads the files, reloads on change and on rename-over, and keeps the last good set on errors', async () => {
    const file = path.join(dir, 'policies.yaml');
    writeFileSync(file, doc('gate', 'DENY'));
    const store = new PolicyStore();
    const { source, nextReload } = watcherFor([file], store);
    try {
      expect(await source.initial).toMatchObject({ version: 1, policies: 1, source: 'files' });
      expect(store.evaluate(WORKLOAD, request()).allowed).toBe(false);

      let reloaded = nextReload();
      writeFileSync(file, doc('gate', 'ALLOW'));
      expect(await reloaded).toEqual({ update: { version: 2, policies: 1, source: 'files' } });
      expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: true, policy: 'prod/gate' });

      reloaded = nextReload();
      writeFileSync(file, 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: gate, namespace: prod}\nspec: {action: NOPE}\n');
      const failed = await reloaded;
      expect('error' in failed && failed.error.message).toBe(`${file}: prod/gate: spec.action: expected one of ALLOW, DENY, AUDIT, got string "NOPE"`);
      expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: true, policy: 'prod/gate' });

      reloaded = nextReload();
      const temp = path.join(dir, '.policies.yaml.tmp');
      writeFileSync(temp, doc('gate', 'DENY'));
      renameSync(temp, file);
      expect(await reloaded).toMatchObject({ update: { version: 3 } });
      expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: false, policy: 'prod/gate' });
    } finally {
      source.close();
    }
  });

  it('watches directories for new and removed YAML files', async () => {
    const sub = mkdtempSync(path.join(dir, 'd-'));
    writeFileSync(path.join(sub, 'a.yaml'), doc('a', 'AUDIT'));
    const store = new PolicyStore();
    const { source, nextReload } = watcherFor([sub], store);
    try {
      await source.initial;
      expect(store.current!.size).toBe(1);
      let reloaded = nextReload();
      writeFileSync(path.join(sub, 'b.yml'), doc('b', 'DENY'));
      expect(await reloaded).toMatchObject({ update: { policies: 2 } });
      reloaded = nextReload();
      rmSync(path.join(sub, 'b.yml'));
      expect(await reloaded).toMatchObject({ update: { policies: 1 } });
      expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: true, audit: [{ policy: 'prod/a' }] });
    } finally {
      source.close();
    }
  });

  it('rejects the initial promise when the first load fails, leaving deny-all in force', async () => {
    const store = new PolicyStore();
    const { source } = watcherFor([path.join(dir, 'absent.yaml')], store);
    try {
      await expect(source.initial).rejects.toThrow(/absent\.yaml: cannot read: ENOENT/);
      expect(store.evaluate(WORKLOAD, request()).allowed).toBe(false);
    } finally {
      source.close();
    }
  });
});
