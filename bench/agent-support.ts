/**
 * The CA side of the node-agent benchmark, run as its own process (forked by agent.bench.ts, IPC channel) so
 * the CA never shares an event loop with the agent or the workloads: a real CA server (startCaServer) whose
 * root comes from the `files` upstream, reviewing tokens with a real kube-apiserver (test/peers/kube-cluster.ts,
 * its own processes). The parent asks over IPC for pods and their tokens, ahead of the timed part, and for a
 * new operator CA (a trust bundle change every agent must push).
 */
import { mkdir, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import pino from 'pino';
import { readCaServerConfig } from '../ca-server/config.js';
import { startCaServer, type CaServer } from '../ca-server/server.js';
import { createLogger } from '../core/log.js';
import { createCaCertificate } from '../core/x509/ca-cert.js';
import { certificatesToPem } from '../core/x509/chain.js';
import { writeFileAtomic, writePrivateKeyFile } from '../core/x509/key-file.js';
import { generateKeyPair } from '../core/x509/keys.js';
import { ISTIO_CACERTS } from '../plugins/upstream/files/operator-ca.js';
import { KubeCluster } from '../test/peers/kube-cluster.js';

export const CA_HOST_ARG = 'ca-host';
export const TRUST_DOMAIN = 'bench.example';
export const AUDIENCE = 'meshid';
/** The agent DaemonSet's service account, trusted by the CA to ask for pods on its own node. */
export const AGENT_ACCOUNT = { namespace: 'meshid-system', serviceAccount: 'meshid-agent' };

export interface CaHostInfo {
  grpcPort: number;
  bundleFile: string;
  adminSocket: string;
}

export interface PodSpec {
  namespace: string;
  name: string;
  serviceAccount: string;
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one host. */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

export type CaHostRequest =
  | { id: number; op: 'pod-tokens'; nodeName: string; pods: PodSpec[] }
  | { id: number; op: 'replace-operator-ca' }
  | { id: number; op: 'close' };

export interface OperatorCaChange {
  /** When the new operator CA files were written. */
  writtenAt: number;
  /** When the CA announced the bundle holding the new root (before it publishes it to agents). */
  changedAt: number;
  roots: number;
}

export type CaHostMessage =
  | { op: 'ready'; info: CaHostInfo }
  | { id: number; result: unknown }
  | { id: number; error: string };

const send = (message: CaHostMessage) => process.send!(message);

/** Writes a fresh self-signed operator CA in Istio's cacerts layout (the CA is its own root). */
async function writeOperatorCa(dir: string, name: string): Promise<void> {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const now = Date.now();
  const certificate = await createCaCertificate({
    subject: `O=meshid bench, CN=${name}`,
    publicKey,
    selfSigningKey: privateKey,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 365 * 86400_000),
  });
  const pem = certificatesToPem([certificate]);
  await writePrivateKeyFile(path.join(dir, ISTIO_CACERTS.key), privateKey);
  await writeFileAtomic(path.join(dir, ISTIO_CACERTS.cert), pem, 0o644);
  await writeFileAtomic(path.join(dir, ISTIO_CACERTS.roots), pem, 0o644);
}

/** Pods created at a time: well within the API server's in-flight limit (200 mutating requests, then 429). */
const POD_BATCH = 50;

/** Creates the pods on `nodeName` and returns a TokenRequest token bound to each (the projected token). */
async function podTokens(cluster: KubeCluster, nodeName: string, pods: PodSpec[]): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < pods.length; i += POD_BATCH) {
    const batch = pods.slice(i, i + POD_BATCH);
    tokens.push(...(await Promise.all(batch.map(async (pod) => cluster.podToken(await cluster.createPod({ ...pod, nodeName }), [AUDIENCE])))));
  }
  return tokens;
}

/** Resolves when the CA next announces a trust bundle change. */
function nextBundleChange(server: CaServer): Promise<{ at: number; roots: number }> {
  return new Promise((resolve) => {
    const unsubscribe = server.authorities.onChange((change) => {
      if (!change.bundleChanged) return;
      unsubscribe();
      resolve({ at: wallClockMs(), roots: change.bundle.roots.length });
    });
  });
}

/** The CA server, in tokenreview mode against `cluster`. */
async function startCa(dir: string, operatorDir: string, cluster: KubeCluster): Promise<CaServer> {
  const config = readCaServerConfig({
    trustDomain: TRUST_DOMAIN,
    dataDir: path.join(dir, 'data'),
    logLevel: 'info',
    listen: { grpc: '127.0.0.1:0', metrics: '127.0.0.1:0', adminSocket: path.join(dir, 'admin.sock') },
    ca: { upstream: { type: 'files', dir: operatorDir } },
    kubernetes: {
      mode: 'tokenreview',
      kubeconfig: await cluster.writeKubeconfig(path.join(dir, 'kubeconfig')),
      audiences: [AUDIENCE],
      trustedNodeAccounts: [`${AGENT_ACCOUNT.namespace}/${AGENT_ACCOUNT.serviceAccount}`],
    },
  });
  // Production log level, written to /dev/null so a terminal is never the bottleneck.
  const log = createLogger({ name: 'meshid-ca', level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
  return startCaServer(config, log);
}

async function caHost(dir: string): Promise<void> {
  const operatorDir = path.join(dir, 'operator-ca');
  await mkdir(operatorDir, { recursive: true, mode: 0o700 });
  await writeOperatorCa(operatorDir, 'operator CA 0');
  const cluster = await KubeCluster.start();
  const server = await startCa(dir, operatorDir, cluster).catch(async (err: unknown) => {
    await cluster.stop();
    throw err;
  });
  let operatorCas = 0;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await server.close();
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    })());

  const handle = async (request: CaHostRequest): Promise<unknown> => {
    switch (request.op) {
      case 'pod-tokens':
        return podTokens(cluster, request.nodeName, request.pods);
      case 'replace-operator-ca': {
        const changed = nextBundleChange(server);
        const writtenAt = wallClockMs();
        await writeOperatorCa(operatorDir, `operator CA ${++operatorCas}`);
        const { at, roots } = await changed;
        return { writtenAt, changedAt: at, roots } satisfies OperatorCaChange;
      }
      case 'close':
        await close();
        process.disconnect();
        return undefined;
    }
  };

  // The bench went away without closing us: stop (the API server and etcd too) rather than linger with open ports.
  process.on('disconnect', () => void close().finally(() => process.exit(0)));
  process.on('message', (request: CaHostRequest) => {
    handle(request).then(
      (result) => {
        if (request.op !== 'close') send({ id: request.id, result });
      },
      (err: unknown) => send({ id: request.id, error: (err as Error).stack ?? String(err) }),
    );
  });
  send({ op: 'ready', info: { grpcPort: server.grpcPort, bundleFile: server.bundleFile, adminSocket: server.adminSocket } });
}

if (process.argv[2] === CA_HOST_ARG && process.send) {
  await caHost(process.argv[3]!);
}
