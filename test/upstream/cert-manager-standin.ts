import { createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { TrustDomain } from '../../core/spiffeid.js';
import { createCaCertificate, type CaIssuer } from '../../core/x509/ca-cert.js';
import { certificatesToPem } from '../../core/x509/chain.js';
import { x509 } from '../../core/x509/peculiar.js';
import { createLocalServerTls } from '../support/standin-tls.js';

/**
 * A stand-in for the slice of kube-apiserver + cert-manager that meshid's cert-manager upstream uses: the
 * cert-manager.io/v1 CertificateRequest resource (POST / GET / DELETE, kube-apiserver's JSON and Status
 * shapes, generateName, bearer-token auth) and an issuer that acts on new requests as told: issue (approve,
 * then sign with its CA chain), deny, fail, or never get to them.
 */

export type IssuerBehaviour = 'issue' | 'deny' | 'fail' | 'ignore';

export interface StoredRequest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid: string; generateName?: string; labels?: Record<string, string>; creationTimestamp: string; resourceVersion: string };
  spec: { request: string; isCA?: boolean; usages?: string[]; duration?: string; issuerRef: { name: string; kind?: string; group?: string } };
  status: { conditions?: Condition[]; certificate?: string; ca?: string; failureTime?: string };
}

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** The issuing chain: `issuer` signs, status.certificate carries the intermediates, status.ca the root. */
export interface StandinIssuer {
  issuer: CaIssuer;
  intermediates: x509.X509Certificate[];
  root: x509.X509Certificate;
}

const BASE = /^\/apis\/cert-manager\.io\/v1\/namespaces\/([a-z0-9-]+)\/certificaterequests(?:\/([a-z0-9.-]+))?$/;
/** The issuer is a separate controller: it reacts a moment after the request is stored. */
const ISSUER_DELAY_MS = 100;

export class CertManagerStandin {
  readonly callerToken = randomBytes(24).toString('base64url');
  /** Authenticates but lacks RBAC on certificaterequests (answered 403). */
  readonly forbiddenToken = randomBytes(24).toString('base64url');
  behaviour: IssuerBehaviour = 'issue';
  /** Every request as created (before the issuer touched it). */
  readonly created: StoredRequest[] = [];
  readonly deleted: string[] = [];
  private readonly requests = new Map<string, StoredRequest>();
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly caPem: string,
    public issuer: StandinIssuer,
  ) {}

  static async start(issuer: StandinIssuer): Promise<CertManagerStandin> {
    const tls = await createLocalServerTls();
    const server = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const standin = new CertManagerStandin(server, `https://127.0.0.1:${port}`, tls.caPem, issuer);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void standin.handle(req, res));
    return standin;
  }

  /** Requests still stored (finished ones should have been deleted by the client). */
  get stored(): StoredRequest[] {
    return [...this.requests.values()];
  }

  async writeKubeconfig(dir: string, token = this.callerToken): Promise<string> {
    const file = path.join(dir, `kubeconfig-${randomUUID()}.json`);
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'standin', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: 'meshid', user: { token } }],
      contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'meshid', namespace: 'default' } }],
      'current-context': 'standin',
    };
    await writeFile(file, JSON.stringify(config), { mode: 0o600 });
    return file;
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const match = BASE.exec(url.pathname);
    if (!match) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const [, namespace, name] = match as unknown as [string, string, string | undefined];
    if (req.headers.authorization === `Bearer ${this.forbiddenToken}`) {
      const verb = { POST: 'create', GET: 'get', DELETE: 'delete' }[req.method ?? ''] ?? 'access';
      return send(res, 403, status(403, 'Forbidden', `certificaterequests.cert-manager.io is forbidden: User "system:serviceaccount:meshid-system:meshid-ca" ` +
        `cannot ${verb} resource "certificaterequests" in API group "cert-manager.io" in the namespace "${namespace}"`));
    }
    if (req.headers.authorization !== `Bearer ${this.callerToken}`) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    const key = `${namespace}/${name}`;
    const notFound = () => send(res, 404, status(404, 'NotFound', `certificaterequests.cert-manager.io "${name}" not found`, name));

    if (req.method === 'POST' && !name) return this.create(namespace, await readBody(req), res);
    if (req.method === 'GET' && name) {
      const stored = this.requests.get(key);
      return stored ? send(res, 200, stored) : notFound();
    }
    if (req.method === 'DELETE' && name) {
      if (!this.requests.delete(key)) return notFound();
      this.deleted.push(name);
      return send(res, 200, { ...status(200, '', ''), status: 'Success', details: { name, group: 'cert-manager.io', kind: 'certificaterequests', uid: randomUUID() } });
    }
    return send(res, 405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
  }

  private create(namespace: string, text: string, res: ServerResponse): void {
    let body: Partial<StoredRequest> & { metadata?: Partial<StoredRequest['metadata']> };
    try {
      body = JSON.parse(text);
    } catch {
      return send(res, 400, status(400, 'BadRequest', 'the body of the request was in an unknown format'));
    }
    if (body.apiVersion !== 'cert-manager.io/v1' || body.kind !== 'CertificateRequest') {
      return send(res, 400, status(400, 'BadRequest', `the API version in the data (${body.apiVersion}) does not match the expected API version (cert-manager.io/v1)`));
    }
    if (body.metadata?.namespace && body.metadata.namespace !== namespace) {
      return send(res, 400, status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'));
    }
    if (!body.spec?.request || !body.spec.issuerRef?.name) {
      return send(res, 422, status(422, 'Invalid', 'CertificateRequest.cert-manager.io is invalid: spec.request and spec.issuerRef.name are required'));
    }
    const name = body.metadata?.name ?? `${body.metadata?.generateName ?? ''}${randomBytes(3).toString('hex').slice(0, 5)}`;
    const stored: StoredRequest = {
      apiVersion: 'cert-manager.io/v1',
      kind: 'CertificateRequest',
      metadata: {
        ...body.metadata,
        name,
        namespace,
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString(),
        resourceVersion: String(Date.now()),
      },
      spec: body.spec as StoredRequest['spec'],
      status: {},
    };
    this.requests.set(`${namespace}/${name}`, stored);
    this.created.push(structuredClone(stored));
    send(res, 201, stored);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.actOn(stored);
    }, ISSUER_DELAY_MS);
    this.timers.add(timer);
  }

  /** What approver + issuer controllers would do with a new request. */
  private async actOn(request: StoredRequest): Promise<void> {
    const set = (type: string, state: 'True' | 'False', reason: string, message: string) => {
      const conditions = (request.status.conditions ??= []).filter((c) => c.type !== type);
      conditions.push({ type, status: state, reason, message, lastTransitionTime: new Date().toISOString() });
      request.status.conditions = conditions;
    };
    switch (this.behaviour) {
      case 'deny':
        set('Denied', 'True', 'policy.cert-manager.io', 'No policy approved this request: [meshid-ca: spec.isCA not allowed]');
        set('Ready', 'False', 'Denied', 'The CertificateRequest was denied by an approval controller');
        request.status.failureTime = new Date().toISOString();
        return;
      case 'ignore':
        set('Approved', 'True', 'cert-manager.io', 'Certificate request has been approved by cert-manager.io');
        set('Ready', 'False', 'Pending', `Referenced "${request.spec.issuerRef.kind ?? 'Issuer'}" not found: issuer "${request.spec.issuerRef.name}" not found`);
        return;
      case 'fail':
        set('Approved', 'True', 'cert-manager.io', 'Certificate request has been approved by cert-manager.io');
        set('Ready', 'False', 'Failed', 'Failed to sign certificate: the CA key pair secret is missing');
        request.status.failureTime = new Date().toISOString();
        return;
      case 'issue': {
        set('Approved', 'True', 'cert-manager.io', 'Certificate request has been approved by cert-manager.io');
        const certificate = await this.sign(request);
        request.status.certificate = Buffer.from(certificatesToPem([certificate, ...this.issuer.intermediates])).toString('base64');
        request.status.ca = Buffer.from(certificatesToPem([this.issuer.root])).toString('base64');
        set('Ready', 'True', 'Issued', 'Certificate fetched from issuer successfully');
      }
    }
  }

  /** Like cert-manager's CA issuer: the CSR's subject, key and URI SAN; isCA and duration from the spec. */
  private async sign(request: StoredRequest): Promise<x509.X509Certificate> {
    const csr = new x509.Pkcs10CertificateRequest(Buffer.from(request.spec.request, 'base64').toString('utf8'));
    if (!request.spec.isCA) throw new Error('the stand-in issuer only signs CA requests');
    const san = csr.extensions.find((e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension);
    const uri = san?.names.items.find((n) => n.type === 'url')?.value;
    const seconds = Number(/^(\d+)s$/.exec(request.spec.duration ?? '')?.[1] ?? 3600);
    const now = Date.now();
    return createCaCertificate({
      subject: csr.subject,
      publicKey: createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }),
      notBefore: new Date(now - 30_000),
      notAfter: new Date(Math.min(now + seconds * 1000, this.issuer.issuer.certificate.notAfter.getTime())),
      pathLength: 0,
      issuer: this.issuer.issuer,
      trustDomain: uri ? TrustDomain.parse(uri) : undefined,
    });
  }
}

function status(code: number, reason: string, message: string, name?: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details: name ? { name, group: 'cert-manager.io', kind: 'certificaterequests' } : undefined, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
