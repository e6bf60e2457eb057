import { CoreV1Api, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import { listWatch, type ListWatch } from '../../core/kubernetes/list-watch.js';

/** Told which namespaces exist and are not being deleted. */
export interface NamespaceTargets {
  /** The whole set, after each (re)list. */
  setNamespaces(names: readonly string[]): void;
  addNamespace(name: string): void;
  removeNamespace(name: string): void;
}

/** A namespace being deleted refuses new objects, and its ConfigMap goes with it. */
const isActive = (namespace: V1Namespace) => namespace.status?.phase !== 'Terminating' && !namespace.metadata?.deletionTimestamp;

/** Follows every namespace of the cluster (list + watch namespaces), new ones included. */
export function watchNamespaces(kubeConfig: KubeConfig, targets: NamespaceTargets, onError: (err: unknown, retryInMs: number) => void): ListWatch {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  return listWatch<V1Namespace>({
    kubeConfig,
    path: '/api/v1/namespaces',
    list: (query) => api.listNamespace(query),
    onList: (items) => targets.setNamespaces(items.filter(isActive).map((namespace) => namespace.metadata!.name!)),
    onEvent: (type, namespace) => {
      const name = namespace.metadata!.name!;
      if (type !== 'DELETED' && isActive(namespace)) targets.addNamespace(name);
      else targets.removeNamespace(name);
    },
    onError,
  });
}
