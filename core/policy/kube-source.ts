/**
 * Kubernetes mode: keeps the PolicyStore in step with the cluster's AuthorizationPolicy custom resources
 * (security.istio.io/v1), by list + watch from the list's resourceVersion, re-watching from the last seen
 * version when the stream ends and re-listing when the server says that version is gone (410).
 *
 * The whole set is validated on every change. If any object is invalid the update is not applied and the
 * last good set stays in force (dropping one bad DENY policy would fail open), and the issues are logged.
 */
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../backoff.js';
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

interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  [key: string]: unknown;
}

class GoneError extends Error {}

export function watchKubePolicies(options: KubePolicySourceOptions): KubePolicySource {
  const { kubeConfig, store, log, version = 'v1', debounceMs = 50, retryMs = 1000, maxRetryMs = 30_000 } = options;
  const path = `/apis/${GROUP}/${version}/${PLURAL}`;
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const watch = new Watch(kubeConfig);
  const objects = new Map<string, KubeObject>();
  let resourceVersion = '';
  let closed = false;
  let abort: AbortController | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let rebuildTimer: NodeJS.Timeout | undefined;
  // Delay before re-listing / re-watching: retryMs doubling up to maxRetryMs, reset by any progress.
  const backoff = new Backoff({ initialMs: retryMs, maxMs: maxRetryMs, jitter: false });
  let resolveInitial: (u: PolicyUpdate) => void;
  const initial = new Promise<PolicyUpdate>((resolve) => (resolveInitial = resolve));
  let initialDone = false;

  const keyOf = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

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

  const scheduleRebuild = () => {
    clearTimeout(rebuildTimer);
    rebuildTimer = setTimeout(rebuild, debounceMs);
  };

  const retry = (step: () => Promise<void>, err: unknown) => {
    if (closed) return;
    const delay = backoff.next();
    log.warn({ err: (err as Error)?.message, retryInMs: delay }, 'AuthorizationPolicy watch interrupted');
    retryTimer = setTimeout(() => void step().catch((e: unknown) => retry(step, e)), delay);
  };

  const list = async () => {
    const answer = (await api.listClusterCustomObject({ group: GROUP, version, plural: PLURAL })) as { metadata?: { resourceVersion?: string }; items?: KubeObject[] };
    objects.clear();
    for (const item of answer.items ?? []) objects.set(keyOf(item), item);
    resourceVersion = answer.metadata?.resourceVersion ?? '';
    backoff.reset();
    rebuild();
    await startWatch();
  };

  let generation = 0;
  const startWatch = async () => {
    if (closed) return;
    const gen = ++generation;
    let finished = false;
    // Watch may call done more than once (error, then close), and a 410 arrives as an event: act once.
    const finish = (err: unknown) => {
      if (finished || closed || gen !== generation) return;
      finished = true;
      abort?.abort();
      onDone(err);
    };
    const controller = await watch.watch(
      path,
      { resourceVersion, allowWatchBookmarks: true },
      (phase: string, obj: KubeObject & { code?: number }) => {
        if (finished || gen !== generation) return;
        if (phase === 'ERROR') {
          // A Status object; 410 Gone means our resourceVersion is too old to resume from.
          if (obj.code === 410) finish(new GoneError('resourceVersion expired'));
          return;
        }
        if (obj.metadata?.resourceVersion) resourceVersion = obj.metadata.resourceVersion;
        if (phase === 'BOOKMARK') return;
        if (phase === 'DELETED') objects.delete(keyOf(obj));
        else objects.set(keyOf(obj), obj);
        backoff.reset();
        scheduleRebuild();
      },
      finish,
    );
    abort = controller;
    if (finished || closed) controller.abort();
  };

  const onDone = (err: unknown) => {
    if (err instanceof GoneError || (err as { statusCode?: number } | null)?.statusCode === 410) {
      resourceVersion = '';
      retry(list, err);
    } else if (err) {
      retry(startWatch, err);
    } else {
      void startWatch().catch((e: unknown) => retry(startWatch, e)); // the server ended the stream normally
    }
  };

  void list().catch((err: unknown) => retry(list, err));

  return {
    initial,
    close() {
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(rebuildTimer);
      abort?.abort();
    },
  };
}
