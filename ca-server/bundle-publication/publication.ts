/**
 * Trust bundle publication (kubernetes.bundleConfigMap): the X.509 roots of the CA's trust bundle in a
 * ConfigMap per namespace, like Istio's istio-ca-root-cert, kept current through root rotations (the
 * bundle's change events, the same ones WatchBundle streams follow), into new namespaces, and back after
 * an edit or a deletion.
 *
 * Not part of readiness: the ConfigMaps are a copy for workloads that read their roots from the cluster,
 * and the CA signs without the API server. Marking the CA unready while the API server is away would stop
 * issuance for the whole mesh for the length of that outage; failures show in the metrics and the log.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { describeKubeError } from '../../core/kubernetes/api-error.js';
import { kubeConfigFrom } from '../../core/kubernetes/kubeconfig.js';
import type { ListWatch } from '../../core/kubernetes/list-watch.js';
import type { TrustBundleState } from '../trust-bundle-state.js';
import { BundleConfigMaps } from './bundle-configmap.js';
import type { BundleConfigMapConfig } from './config.js';
import { watchBundleConfigMaps } from './configmap-watch.js';
import { BundlePublicationMetrics } from './metrics.js';
import { watchNamespaces } from './namespace-watch.js';
import { BundlePublisher } from './publisher.js';

export interface BundlePublicationOptions {
  /** The CA's kubeconfig (kubernetes.kubeconfig); empty = in-cluster credentials. */
  kubeconfig: string;
  bundle: Pick<TrustBundleState, 'pem' | 'current' | 'onChange'>;
  log: Logger;
  /** Where meshid_ca_bundle_configmap_* are registered. */
  registry: Registry;
}

export interface BundlePublication {
  /** Stops watching and writing; resolves once no write is in flight. */
  close(): Promise<void>;
}

/** Starts publishing in the background; throws only when the credentials cannot be loaded. */
export function startBundlePublication(config: BundleConfigMapConfig, options: BundlePublicationOptions): BundlePublication {
  const { bundle, log } = options;
  const kubeConfig = kubeConfigFrom(options.kubeconfig);
  const configMaps = new BundleConfigMaps(kubeConfig, config.name, config.key);
  const metrics = new BundlePublicationMetrics(options.registry, () => publisher.status());
  const publisher = new BundlePublisher(bundle.pem(), { configMaps, log, onWrite: (result) => metrics.written(result) });

  const watchFailed = (resource: 'namespaces' | 'configmaps') => (err: unknown, retryInMs: number) => {
    metrics.watchFailures.inc({ resource });
    log.warn({ resource, err: describeKubeError(err), retryInMs }, 'trust bundle publication: watch interrupted; will retry');
  };
  const watches: ListWatch[] = [];
  if (config.namespaces.length === 0) {
    watches.push(watchNamespaces(kubeConfig, publisher, watchFailed('namespaces')));
    watches.push(watchBundleConfigMaps(kubeConfig, { name: config.name }, publisher.observed, watchFailed('configmaps')));
  } else {
    publisher.setNamespaces(config.namespaces);
    for (const namespace of config.namespaces) {
      watches.push(watchBundleConfigMaps(kubeConfig, { name: config.name, namespace }, publisher.observed, watchFailed('configmaps')));
    }
  }
  const unsubscribe = bundle.onChange(() => {
    if (publisher.setBundle(bundle.pem())) {
      const { namespaces } = publisher.status();
      log.info({ configMap: config.name, roots: bundle.current().x509Authorities.length, namespaces }, 'trust bundle roots changed; updating the bundle ConfigMaps');
    }
  });
  log.info(
    { configMap: config.name, key: config.key, namespaces: config.namespaces.length > 0 ? config.namespaces : 'all' },
    'publishing the trust bundle into ConfigMaps',
  );

  return {
    async close() {
      unsubscribe();
      for (const watch of watches) watch.close();
      await publisher.close();
    },
  };
}
