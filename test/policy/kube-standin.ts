// A plain-HTTP stand-in for the slice of kube-apiserver the policy watch uses: list and watch of
// security.istio.io/v1 authorizationpolicies, with resourceVersions, bookmarks-free event history,
// compaction (a watch from a forgotten version gets a 410 ERROR event) and server-side stream ends.
// Stand-in only for those two faults: a real kube-apiserver ends watches and compacts its history on its own
// schedule, never on demand. Everything else about the watch runs against the real API server
// (test/kubernetes/authorization-policies.test.ts).
import { EventEmitter } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

const PATH = '/apis/security.istio.io/v1/authorizationpolicies';

interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  [key: string]: unknown;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: StoredObject;
  rv: number;
}

/** Emits 'watch' whenever a watch stream opens. */
export class KubePolicyStandin extends EventEmitter {
  readonly requests = { list: 0, watch: 0 };
  private readonly objects = new Map<string, StoredObject>();
  private history: WatchEvent[] = [];
  private oldestRetained = 0;
  private rv = 100;
  private readonly streams = new Set<ServerResponse>();
  private readonly server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    if (url.pathname !== PATH || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    if (url.searchParams.get('watch') === 'true') this.watch(Number(url.searchParams.get('resourceVersion') ?? '0'), res);
    else this.list(res);
  });

  async start(): Promise<KubeConfig> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'standin', server: `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'meshid', token: 'standin-token' }],
      contexts: [{ name: 'standin', cluster: 'standin', user: 'meshid' }],
      currentContext: 'standin',
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Creates or replaces a policy object (kubectl apply). */
  apply(object: StoredObject): void {
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(key, stored);
    this.publish({ type, object: stored, rv: this.rv });
  }

  delete(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const object = this.objects.get(key);
    if (!object) return;
    this.objects.delete(key);
    this.publish({ type: 'DELETED', object: { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } }, rv: this.rv });
  }

  /** Forgets the event history: watches from older versions get 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestRetained = this.rv;
  }

  /** Ends every open watch stream normally, as the API server does on its watch timeout. */
  endWatches(): void {
    for (const s of this.streams) s.end();
    this.streams.clear();
  }

  get openWatches(): number {
    return this.streams.size;
  }

  private list(res: ServerResponse): void {
    this.requests.list++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicyList', metadata: { resourceVersion: String(this.rv) }, items: [...this.objects.values()] }),
    );
  }

  private watch(from: number, res: ServerResponse): void {
    this.requests.watch++;
    res.writeHead(200, { 'content-type': 'application/json' });
    if (from < this.oldestRetained) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    for (const e of this.history) if (e.rv > from) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    this.streams.add(res);
    res.on('close', () => this.streams.delete(res));
    this.emit('watch');
  }

  private publish(event: WatchEvent): void {
    this.history.push(event);
    for (const s of this.streams) s.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }
}
