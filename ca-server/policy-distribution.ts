/**
 * The authorization policies the CA hands to node agents (WatchPolicies): loaded from watched YAML files or
 * from the cluster's AuthorizationPolicy resources into a PolicyStore, and turned into one stream message
 * per change. The sources validate every change and keep the last good set when one is invalid, so agents
 * never see a set the CA rejected; before the first good set there is nothing to send.
 */
import { kubeConfigFrom } from '../core/kubernetes/kubeconfig.js';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { watchPolicyFiles } from '../core/policy/file-source.js';
import { watchKubePolicies } from '../core/policy/kube-source.js';
import { PolicyStore, type PolicyUpdate } from '../core/policy/store.js';
import { toPolicyObject } from '../core/policy/to-object.js';
import type { PolicySet as PolicySetMessage } from '../protos/gen/meshid/v1/PolicySet.js';
import type { CaPolicyConfig } from './config.js';

/** One reload of the source: the new set, or why it was rejected (the last good set stays). */
export type PolicyReload = { update: PolicyUpdate } | { error: Error };

export interface PolicyDistribution {
  readonly store: PolicyStore;
  /** The message for the current set; undefined until a valid set was loaded (or when none is configured). */
  current(): PolicySetMessage | undefined;
  /** Called after every change of the set; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  /** Called after every reload attempt, successful or not; returns the unsubscribe function. */
  onReload(listener: (result: PolicyReload) => void): () => void;
  close(): void;
}

export interface PolicyDistributionOptions {
  /** The CA's kubeconfig (kubernetes.kubeconfig); empty = in-cluster credentials. */
  kubeconfig: string;
  log: Logger;
  /** Where meshid_ca_policy_reloads_total is registered. */
  registry: Registry;
}

/**
 * Starts the configured policy source. Waits for the first load of policy files (an invalid file is logged
 * and the CA starts without a set); the Kubernetes source syncs in the background.
 */
export async function startPolicyDistribution(config: CaPolicyConfig, options: PolicyDistributionOptions): Promise<PolicyDistribution> {
  const { log } = options;
  const store = new PolicyStore({ rootNamespace: config.rootNamespace });
  const changeListeners = new Set<() => void>();
  const reloadListeners = new Set<(result: PolicyReload) => void>();
  const reloads = new Counter({
    name: 'meshid_ca_policy_reloads_total',
    help: 'Reloads of the authorization policies distributed to agents, by result (applied, rejected: the last good set stays).',
    labelNames: ['result'] as const,
    registers: [options.registry],
  });
  let message: PolicySetMessage | undefined;
  store.subscribe((update) => {
    // Encoded once per change, not once per agent.
    message = {
      policies_json: (store.current?.policies ?? []).map((p) => JSON.stringify(toPolicyObject(p))),
      version: update.version,
      source: update.source,
      root_namespace: config.rootNamespace,
    };
    for (const listener of changeListeners) listener();
  });
  const onReload = (result: PolicyReload) => {
    reloads.inc({ result: 'error' in result ? 'rejected' : 'applied' });
    for (const listener of reloadListeners) listener(result);
  };

  let source: { close(): void } | undefined;
  if (config.paths.length > 0) {
    const files = watchPolicyFiles({ paths: config.paths, store, log, onReload });
    source = files;
    await files.initial.catch(() => undefined); // logged by the source; agents keep what they have
  } else if (config.kubernetes) {
    source = watchKubePolicies({
      kubeConfig: kubeConfigFrom(options.kubeconfig),
      store,
      log,
      onSync: onReload,
    });
  } else {
    log.info('no authorization policies configured (policies.paths or policies.kubernetes); agents get none from this CA');
  }

  const subscribe = <T>(set: Set<T>, listener: T) => {
    set.add(listener);
    return () => void set.delete(listener);
  };
  return {
    store,
    current: () => message,
    onChange: (listener) => subscribe(changeListeners, listener),
    onReload: (listener) => subscribe(reloadListeners, listener),
    close: () => source?.close(),
  };
}
