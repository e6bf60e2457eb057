import {
  ApiException,
  AuthenticationV1Api,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  type HttpLibrary,
  type V1TokenReview,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import { invalidArgument, MeshidError } from '../../../core/errors.js';

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

const unavailable = (message: string, reason: string) => new MeshidError('UNAVAILABLE', message, reason);

/** Sends TokenReviews; every failure to get an answer is UNAVAILABLE, never a verdict on the token. */
export class TokenReviewClient {
  private readonly api: AuthenticationV1Api;
  private readonly server: string;
  private readonly httpApi: HttpLibrary;

  constructor(kubeConfig: KubeConfig, private readonly timeoutMs: number) {
    this.api = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.server = kubeConfig.getCurrentCluster()?.server ?? 'unknown';
    const fetchLibrary = new IsomorphicFetchHttpLibrary();
    this.httpApi = {
      send: (request) => {
        request.setSignal(AbortSignal.timeout(timeoutMs));
        return fetchLibrary.send(request);
      },
    };
  }

  async review(token: string, audiences: readonly string[]): Promise<V1TokenReviewStatus> {
    let answer: V1TokenReview;
    try {
      answer = await this.api.createTokenReview(
        {
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: { token, audiences: audiences.length > 0 ? [...audiences] : undefined },
          },
        },
        { httpApi: this.httpApi },
      );
    } catch (err) {
      throw this.describeFailure(err);
    }
    if (!answer.status) {
      throw unavailable(`the Kubernetes API server at ${this.server} answered a TokenReview without status`, 'tokenreview_failed');
    }
    return answer.status;
  }

  /** Names the failure without the request (which carries the token) or the raw response body. */
  private describeFailure(err: unknown): MeshidError {
    if (err instanceof ApiException) {
      if (err.code === 401) {
        return unavailable(
          `the Kubernetes API server at ${this.server} refused meshid's own credentials (HTTP 401); ` +
            'check meshid\'s kubeconfig or service-account token',
          'tokenreview_unauthorized',
        );
      }
      if (err.code === 403) {
        return unavailable(
          `meshid may not create tokenreviews on ${this.server} (HTTP 403); bind its service account to the ` +
            'system:auth-delegator ClusterRole',
          'tokenreview_forbidden',
        );
      }
      return unavailable(`TokenReview on ${this.server} failed with HTTP ${err.code}`, 'tokenreview_failed');
    }
    const e = err as { name?: string; code?: string; cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return unavailable(
        `the Kubernetes API server at ${this.server} did not answer a TokenReview within ${this.timeoutMs} ms`,
        'tokenreview_timeout',
      );
    }
    const code = e.cause?.code ?? e.code ?? e.name ?? 'unknown error';
    return unavailable(`cannot reach the Kubernetes API server at ${this.server} (${code})`, 'tokenreview_unreachable');
  }
}
