import { KubeConfig } from '@kubernetes/client-node';
import { invalidArgument } from '../errors.js';

export type KubeConfigSource = { kubeconfigPath: string } | { inCluster: true };

/** Loads the credentials meshid uses to call the API server: a kubeconfig file, or the pod's service account. */
export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const kc = new KubeConfig();
  if ('kubeconfigPath' in source) {
    try {
      kc.loadFromFile(source.kubeconfigPath);
    } catch (err) {
      // Only the error code: a YAML parser's message quotes file content, which may hold meshid's credentials.
      const detail = (err as NodeJS.ErrnoException).code ?? 'not a valid kubeconfig';
      throw invalidArgument(`cannot load kubeconfig ${source.kubeconfigPath} (${detail})`, 'bad_kubeconfig');
    }
  } else {
    if (!process.env.KUBERNETES_SERVICE_HOST) {
      throw invalidArgument(
        'in-cluster Kubernetes config needs KUBERNETES_SERVICE_HOST (meshid is not running in a pod); ' +
          'set kubernetes.kubeconfig instead',
        'bad_kubeconfig',
      );
    }
    kc.loadFromCluster();
  }
  if (!kc.getCurrentCluster()) throw invalidArgument('kubeconfig has no current cluster', 'bad_kubeconfig');
  return kc;
}

/** A kubeconfig file when a path is configured, else the in-cluster service account. */
export const kubeConfigFrom = (kubeconfigPath: string | undefined): KubeConfig =>
  loadKubeConfig(kubeconfigPath ? { kubeconfigPath } : { inCluster: true });
