import {
  ApiException,
  AuthenticationV1Api,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  type HttpLibrary,
  type V1TokenReview,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import { MeshidError } from '../../../core/errors.js';

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
          `meshid may not create tokenreviews on ${this.server} (HTTP 403); install the Helm chart's RBAC, or bind ` +
            "meshid's service account to the system:auth-delegator ClusterRole",
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
