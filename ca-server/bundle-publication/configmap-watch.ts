import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { listWatch, type ListWatch } from '../../core/kubernetes/list-watch.js';

/**
 * Told what the published ConfigMaps look like: `configMaps` are all there are in `scope` (one namespace, or
 * every namespace when undefined), so a namespace in scope without one has none.
 */
export type ConfigMapObserver = (configMaps: readonly V1ConfigMap[], scope: string | undefined) => void;

/**
 * Watches the ConfigMaps named `name` (a field selector, so other ConfigMaps never reach meshid): in every
 * namespace, or in one. This is how an edit or a deletion by someone else is noticed and repaired.
 */
export function watchBundleConfigMaps(
  kubeConfig: KubeConfig,
  options: { name: string; namespace?: string },
  observe: ConfigMapObserver,
  onError: (err: unknown, retryInMs: number) => void,
): ListWatch {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const { name, namespace } = options;
  return listWatch<V1ConfigMap>({
    kubeConfig,
    path: namespace === undefined ? '/api/v1/configmaps' : `/api/v1/namespaces/${namespace}/configmaps`,
    fieldSelector: `metadata.name=${name}`,
    list: (query) => (namespace === undefined ? api.listConfigMapForAllNamespaces(query) : api.listNamespacedConfigMap({ ...query, namespace })),
    onList: (items) => observe(items, namespace),
    onEvent: (type, configMap) => observe(type === 'DELETED' ? [] : [configMap], configMap.metadata!.namespace!),
    onError,
  });
}
