/**
 * The ConfigMap meshid publishes the trust bundle in: what it holds, how it is written, and whether an
 * observed copy still holds the current bundle.
 *
 * Ownership: meshid owns one data key and its managed-by label, nothing else. It writes them with
 * server-side apply (field manager meshid-ca, forced), so labels, annotations and other data keys that
 * users or other tools add stay as they are, and a hand edit of the key is taken back on the next write.
 */
import { CoreV1Api, Observable, PatchStrategy, type KubeConfig, type ObservableMiddleware, type V1ConfigMap } from '@kubernetes/client-node';

const FIELD_MANAGER = 'meshid-ca';
const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const MANAGED_BY = 'meshid';

/** A write that has not been answered by then is abandoned (and retried): a hung API server must not hold a namespace forever. */
const WRITE_TIMEOUT_MS = 30_000;

export class BundleConfigMaps {
  private readonly api: CoreV1Api;

  constructor(
    kubeConfig: KubeConfig,
    readonly name: string,
    readonly key: string,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  /** Creates or updates the ConfigMap in `namespace` to hold `pem`; `stop` aborts the request. */
  async apply(namespace: string, pem: string, stop: AbortSignal): Promise<void> {
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: this.name, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
      data: { [this.key]: pem },
    };
    await this.api.patchNamespacedConfigMap(
      { name: this.name, namespace, body, fieldManager: FIELD_MANAGER, force: true },
      { middleware: [applyRequest(AbortSignal.any([stop, AbortSignal.timeout(WRITE_TIMEOUT_MS)]))], middlewareMergeStrategy: 'append' },
    );
  }

  /** Whether `configMap` (undefined: there is none) holds `pem` under meshid's key and label. */
  holds(configMap: V1ConfigMap | undefined, pem: string): boolean {
    return configMap?.data?.[this.key] === pem && configMap.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
  }
}

/** Sends the patch as a server-side apply, abortable (the generated client picks JSON patch and takes no signal). */
function applyRequest(signal: AbortSignal): ObservableMiddleware {
  return {
    pre(context) {
      context.setHeaderParam('Content-Type', PatchStrategy.ServerSideApply);
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
}
