/**
 * Kubernetes mode: keeps the PolicyStore in step with the cluster's AuthorizationPolicy custom resources
 * (security.istio.io/v1), by list + watch (core/kubernetes/list-watch.ts: re-watched from the last seen
 * version when the stream ends, re-listed when the server says that version is gone, retried with backoff).
 *
 * The whole set is validated on every change. If any object is invalid the update is not applied and the
 * last good set stays in force (dropping one bad DENY policy would fail open), and the issues are logged.
 */
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { listWatch } from '../kubernetes/list-watch.js';
import type { AuthorizationPolicy } from './model.js';
import type { PolicyStore, PolicyUpdate } from './store.js';
import { PolicyValidationError, validatePolicy, type PolicyIssue } from './validate.js';

const GROUP = 'security.istio.io';
const PLURAL = 'authorizationpolicies';

export interface KubePolicySourceOptions {
  kubeConfig: KubeConfig;
  store: PolicyStore;
  log: Logger;
  /** Default v1. */
  version?: 'v1' | 'v1beta1';
  /** Quiet time after a watch event before the set is rebuilt (events come in bursts). Default 50 ms. */
  debounceMs?: number;
  /** Delay before re-listing / re-watching after a failure, doubling up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Told about every rebuild: the update, or the error that kept the last good set. */
  onSync?: (result: { update: PolicyUpdate } | { error: Error }) => void;
}

export interface KubePolicySource {
  /** Resolves after the first successful list has been applied. */
  readonly initial: Promise<PolicyUpdate>;
  close(): void;
}

export function watchKubePolicies(options: KubePolicySourceOptions): KubePolicySource {
  const { kubeConfig, store, log, version = 'v1', debounceMs = 50, retryMs = 1000, maxRetryMs = 30_000 } = options;
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const objects = new Map<string, KubernetesObject>();
  let resourceVersion = ''; // of the state last applied, for the logs
  let rebuildTimer: NodeJS.Timeout | undefined;
  let resolveInitial: (u: PolicyUpdate) => void;
  const initial = new Promise<PolicyUpdate>((resolve) => (resolveInitial = resolve));
  let initialDone = false;

  const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

  const rebuild = () => {
    const policies: AuthorizationPolicy[] = [];
    const issues: PolicyIssue[] = [];
    for (const [key, raw] of objects) {
      const result = validatePolicy(raw, { origin: 'kubernetes', label: key });
      if ('policy' in result) policies.push(result.policy);
      else issues.push(...result.issues);
    }
    try {
      if (issues.length > 0) throw new PolicyValidationError(issues);
      const update = store.replace(policies, 'kubernetes');
      log.info({ version: update.version, policies: update.policies, resourceVersion }, 'authorization policies synced from Kubernetes');
      options.onSync?.({ update });
      if (!initialDone) {
        initialDone = true;
        resolveInitial(update);
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'invalid AuthorizationPolicy in the cluster; keeping the last good set');
      options.onSync?.({ error: err as Error });
    }
  };

  const watch = listWatch<KubernetesObject>({
    kubeConfig,
    path: `/apis/${GROUP}/${version}/${PLURAL}`,
    list: async (query) => {
      const answer = (await api.listClusterCustomObject({ group: GROUP, version, plural: PLURAL, ...query })) as Partial<KubernetesListObject<KubernetesObject>>;
      resourceVersion = answer.metadata?.resourceVersion ?? '';
      return { ...answer, items: answer.items ?? [] };
    },
    onList: (items) => {
      objects.clear();
      for (const item of items) objects.set(keyOf(item), item);
      clearTimeout(rebuildTimer); // this rebuild covers any pending one
      rebuild();
    },
    onEvent: (type, object) => {
      if (object.metadata?.resourceVersion) resourceVersion = object.metadata.resourceVersion;
      if (type === 'DELETED') objects.delete(keyOf(object));
      else objects.set(keyOf(object), object);
      clearTimeout(rebuildTimer);
      rebuildTimer = setTimeout(rebuild, debounceMs);
    },
    onError: (err, retryInMs) => log.warn({ err: (err as Error | undefined)?.message, retryInMs }, 'AuthorizationPolicy watch interrupted'),
    backoff: { initialMs: retryMs, maxMs: maxRetryMs, jitter: false },
  });

  return {
    initial,
    close() {
      clearTimeout(rebuildTimer);
      watch.close();
    },
  };
}
