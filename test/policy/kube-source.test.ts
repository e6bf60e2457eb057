// Kubernetes mode: the AuthorizationPolicy list + watch keeps the store in step with the cluster, resumes
// after stream ends, re-lists after a 410, and keeps the last good set while a CR is invalid.
import { EventEmitter, once } from 'node:events';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchKubePolicies, type KubePolicySource } from '../../core/policy/kube-source.js';
import { PolicyStore, type PolicyUpdate } from '../../core/policy/store.js';
import { KubePolicyStandin } from './kube-standin.js';
import { request } from './policy-fixtures.js';

const WORKLOAD = { namespace: 'prod', labels: { app: 'shop' } };
type Sync = { update: PolicyUpdate } | { error: Error };

const cr = (name: string, spec: Record<string, unknown>, namespace = 'prod') => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name, namespace, uid: `uid-${name}`, generation: 1 },
  spec,
  status: {},
});

describe('AuthorizationPolicy watch against a kube-apiserver stand-in', () => {
  const standin = new KubePolicyStandin();
  const store = new PolicyStore();
  const syncs = new EventEmitter();
  let source: KubePolicySource;
  const nextSync = () => once(syncs, 'sync').then(([s]) => s as Sync);
  const decide = () => store.evaluate(WORKLOAD, request());

  beforeAll(async () => {
    standin.apply(cr('allow-frontend', { rules: [{ from: [{ source: { namespaces: ['frontend'] } }] }] }));
    const kubeConfig = await standin.start();
    source = watchKubePolicies({ kubeConfig, store, log: pino({ level: 'silent' }), debounceMs: 20, retryMs: 20, onSync: (s) => syncs.emit('sync', s) });
  });

  afterAll(async () => {
    source?.close();
    await standin.stop();
  });

  it('applies the listed policies', async () => {
    expect(await source.initial).toMatchObject({ version: 1, policies: 1, source: 'kubernetes' });
    expect(decide()).toMatchObject({ allowed: true, policy: 'prod/allow-frontend' });
    expect(standin.requests.list).toBe(1);
  });

  it('follows added, modified and deleted objects', async () => {
    if (standin.openWatches === 0) await once(standin, 'watch');
    let synced = nextSync();
    standin.apply(cr('deny-get', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }));
    expect(await synced).toMatchObject({ update: { policies: 2 } });
    expect(decide()).toMatchObject({ allowed: false, policy: 'prod/deny-get' });

    synced = nextSync();
    standin.apply(cr('deny-get', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }] }));
    await synced;
    expect(decide()).toMatchObject({ allowed: true, policy: 'prod/allow-frontend' });

    synced = nextSync();
    standin.delete('prod', 'allow-frontend');
    expect(await synced).toMatchObject({ update: { policies: 1 } });
    expect(decide()).toMatchObject({ allowed: true, policy: null, reason: 'allowed: no ALLOW policy applies' });
  });

  it('keeps the last good set while an object is invalid, and applies the fix', async () => {
    let synced = nextSync();
    standin.apply(cr('broken', { action: 'DENY', rules: [{ to: [{ operation: { methods: 'GET' } }] }] }));
    const failed = await synced;
    expect('error' in failed && failed.error.message).toBe(
      'kubernetes: prod/broken: spec.rules[0].to[0].operation.methods: expected a list of strings, got string "GET"',
    );
    expect(decide()).toMatchObject({ allowed: true });

    synced = nextSync();
    standin.apply(cr('broken', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }));
    expect(await synced).toMatchObject({ update: { policies: 2 } });
    expect(decide()).toMatchObject({ allowed: false, policy: 'prod/broken' });
  });

  it('resumes from the last resourceVersion when the server ends the stream', async () => {
    const lists = standin.requests.list;
    const watches = standin.requests.watch;
    const rewatched = once(standin, 'watch');
    standin.endWatches();
    await rewatched;
    expect(standin.requests.watch).toBe(watches + 1);
    const synced = nextSync();
    standin.delete('prod', 'broken');
    await synced;
    expect(decide()).toMatchObject({ allowed: true });
    expect(standin.requests.list).toBe(lists);
  });

  it('re-lists when its resourceVersion has been compacted away (410)', async () => {
    const lists = standin.requests.list;
    standin.endWatches();
    standin.apply(cr('allow-ops', { rules: [{ from: [{ source: { namespaces: ['ops'] } }] }] }));
    standin.compact(); // the event the watcher missed is gone from the history
    const synced = nextSync();
    expect(await synced).toMatchObject({ update: { policies: 2 } });
    expect(standin.requests.list).toBe(lists + 1);
    expect(decide()).toMatchObject({ allowed: false, reason: 'denied: no ALLOW policy matched' });
  });
});
