// Kubernetes mode, the faults of the AuthorizationPolicy list + watch: it resumes after the server ends a
// stream and re-lists after a 410. These run against a stand-in because a real kube-apiserver ends watches
// and compacts history only on its own schedule (minutes), never on demand. Listing, following changes and
// keeping the last good set on an invalid object run against the real API server and Istio's real CRD in
// test/kubernetes/authorization-policies.test.ts.
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

describe('AuthorizationPolicy watch faults (kube-apiserver stand-in)', () => {
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

  it('resumes from the last resourceVersion when the server ends the stream', async () => {
    if (standin.openWatches === 0) await once(standin, 'watch');
    const lists = standin.requests.list;
    const watches = standin.requests.watch;
    const rewatched = once(standin, 'watch');
    standin.endWatches();
    await rewatched;
    expect(standin.requests.watch).toBe(watches + 1);
    const synced = nextSync();
    standin.apply(cr('deny-get', { action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] }));
    expect(await synced).toMatchObject({ update: { policies: 2 } });
    expect(decide()).toMatchObject({ allowed: false, policy: 'prod/deny-get' });
    expect(standin.requests.list).toBe(lists);
  });

  it('re-lists when its resourceVersion has been compacted away (410)', async () => {
    const lists = standin.requests.list;
    standin.endWatches();
    standin.delete('prod', 'deny-get');
    standin.compact(); // the event the watcher missed is gone from the history
    const synced = nextSync();
    expect(await synced).toMatchObject({ update: { policies: 1 } });
    expect(standin.requests.list).toBe(lists + 1);
    expect(decide()).toMatchObject({ allowed: true, policy: 'prod/allow-frontend' });
  });
});
