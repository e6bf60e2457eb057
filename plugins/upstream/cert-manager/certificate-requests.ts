import {
  ApiException,
  CustomObjectsApi,
  IsomorphicFetchHttpLibrary,
  type HttpLibrary,
  type KubeConfig,
} from '@kubernetes/client-node';
import { MeshidError, type ErrorCode } from '../../../core/errors.js';

const GROUP = 'cert-manager.io';
const VERSION = 'v1';
const PLURAL = 'certificaterequests';
/** Each API call; the issuer's overall deadline is separate. */
const CALL_TIMEOUT_MS = 10_000;

export interface CertificateRequestSpec {
  /** PEM CSR (sent base64-encoded, as spec.request is `[]byte`). */
  csrPem: string;
  durationSeconds: number;
  issuerRef: { name: string; kind: string; group: string };
  labels: Record<string, string>;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

export interface CertificateRequestObject {
  metadata?: { name?: string; namespace?: string };
  status?: { conditions?: Condition[]; certificate?: string; ca?: string };
}

export type RequestOutcome =
  | { state: 'pending'; detail: string }
  | { state: 'denied'; detail: string }
  | { state: 'failed'; detail: string }
  | { state: 'issued'; certificatePem: string; caPem: string };

/**
 * Where a CertificateRequest stands: Denied and Ready=False/Failed (or InvalidRequest) are final; issued means
 * Approved and Ready=True/Issued. status.certificate and status.ca are base64 of PEM.
 */
export function requestOutcome(request: CertificateRequestObject): RequestOutcome {
  const conditions = request.status?.conditions ?? [];
  const find = (type: string) => conditions.find((c) => c.type === type);
  const describe = (c: Condition | undefined) => [c?.reason, c?.message].filter(Boolean).join(': ') || 'no reason given';
  const denied = find('Denied');
  if (denied?.status === 'True') return { state: 'denied', detail: describe(denied) };
  const invalid = find('InvalidRequest');
  if (invalid?.status === 'True') return { state: 'failed', detail: describe(invalid) };
  const ready = find('Ready');
  if (ready?.status === 'False' && ready.reason === 'Failed') return { state: 'failed', detail: describe(ready) };
  if (find('Approved')?.status === 'True' && ready?.status === 'True' && ready.reason === 'Issued') {
    const decode = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');
    return { state: 'issued', certificatePem: decode(request.status?.certificate), caPem: decode(request.status?.ca) };
  }
  if (!find('Approved')) return { state: 'pending', detail: 'waiting for approval' };
  return { state: 'pending', detail: ready ? describe(ready) : 'approved, waiting for the issuer' };
}

/** create / get / delete of cert-manager.io/v1 CertificateRequests in one namespace. */
export class CertificateRequests {
  private readonly api: CustomObjectsApi;
  private readonly httpApi: HttpLibrary;
  private readonly server: string;

  constructor(kubeConfig: KubeConfig, private readonly namespace: string) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.server = kubeConfig.getCurrentCluster()?.server ?? 'unknown';
    const fetchLibrary = new IsomorphicFetchHttpLibrary();
    this.httpApi = {
      send: (request) => {
        request.setSignal(AbortSignal.timeout(CALL_TIMEOUT_MS));
        return fetchLibrary.send(request);
      },
    };
  }

  /** Creates the request (generateName spiffe-ca-) and returns its name. */
  async create(spec: CertificateRequestSpec): Promise<string> {
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'CertificateRequest',
      metadata: { generateName: 'spiffe-ca-', namespace: this.namespace, labels: spec.labels },
      spec: {
        request: Buffer.from(spec.csrPem).toString('base64'),
        isCA: true,
        usages: ['cert sign', 'crl sign'],
        duration: `${spec.durationSeconds}s`,
        issuerRef: spec.issuerRef,
      },
    };
    const created = (await this.call('creating a CertificateRequest', () =>
      this.api.createNamespacedCustomObject({ ...this.target(), body }, { httpApi: this.httpApi }),
    )) as CertificateRequestObject;
    const name = created.metadata?.name;
    if (!name) throw new MeshidError('UNAVAILABLE', `the Kubernetes API server at ${this.server} created a CertificateRequest without a name`, 'cert_manager_bad_response');
    return name;
  }

  async get(name: string): Promise<CertificateRequestObject> {
    return (await this.call(`reading CertificateRequest ${this.namespace}/${name}`, () =>
      this.api.getNamespacedCustomObject({ ...this.target(), name }, { httpApi: this.httpApi }),
    )) as CertificateRequestObject;
  }

  /** Deletes the request; one that is already gone counts as deleted. */
  async delete(name: string): Promise<void> {
    try {
      await this.call(`deleting CertificateRequest ${this.namespace}/${name}`, () =>
        this.api.deleteNamespacedCustomObject({ ...this.target(), name }, { httpApi: this.httpApi }),
      );
    } catch (err) {
      if ((err as MeshidError).reason !== 'cert_manager_not_found') throw err;
    }
  }

  private target() {
    return { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL };
  }

  /** Runs one API call; failures name the action and the API server's status message, never credentials. */
  private async call<T>(action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.describe(err, action);
    }
  }

  private describe(err: unknown, action: string): MeshidError {
    const fail = (code: ErrorCode, detail: string, reason: string) =>
      new MeshidError(code, `cert-manager upstream authority: ${action} in ${this.server} failed: ${detail}`, reason);
    if (err instanceof ApiException) {
      const said = `HTTP ${err.code}${statusMessage(err.body)}`;
      if (err.code === 401) return fail('PERMISSION_DENIED', `${said}; check meshid's kubeconfig or service-account token`, 'cert_manager_unauthorized');
      if (err.code === 403) {
        return fail('PERMISSION_DENIED', `${said}; grant meshid create, get and delete on certificaterequests.cert-manager.io in ${this.namespace}`, 'cert_manager_forbidden');
      }
      if (err.code === 404) return fail('FAILED_PRECONDITION', `${said}; is cert-manager installed and does the namespace exist?`, 'cert_manager_not_found');
      if (err.code === 429 || err.code >= 500) return fail('UNAVAILABLE', said, 'cert_manager_unavailable');
      return fail('FAILED_PRECONDITION', said, 'cert_manager_rejected');
    }
    const e = err as { name?: string; code?: string; cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return fail('UNAVAILABLE', `no answer within ${CALL_TIMEOUT_MS} ms`, 'cert_manager_timeout');
    return fail('UNAVAILABLE', `cannot reach the API server (${e.cause?.code ?? e.code ?? e.name ?? 'network error'})`, 'cert_manager_unreachable');
  }
}

/** ": <message>" from a Kubernetes Status body, bounded. */
function statusMessage(body: unknown): string {
  let message: unknown;
  try {
    message = (typeof body === 'string' ? JSON.parse(body) : body)?.message;
  } catch {
    return '';
  }
  if (typeof message !== 'string' || !message) return '';
  return `: ${message.length > 300 ? `${message.slice(0, 297)}...` : message}`;
}
