import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import YAML from 'yaml';
import type { CaServer } from '../ca-server/server.js';
import { createLogger } from '../core/log.js';
import { startNodeAgent } from '../node-agent/agent.js';
import { readNodeAgentConfig } from '../node-agent/config.js';
import { envoyBootstrap } from '../node-agent/sds/envoy-bootstrap.js';
import type { ProtoGrpcType } from '../protos/gen/admin.js';
import { loadProto } from '../protos/load.js';
import type { Args } from './args.js';
import { call } from './grpc-client.js';
import { runUntilSignal } from './process.js';
import { startFromArgs } from './server-command.js';

const DEV_DIR = './.meshid';
const DEV_DEFAULTS = {
  trustDomain: 'meshid.dev',
  dataDir: `${DEV_DIR}/ca`,
  'listen.grpc': '127.0.0.1:15012',
  'listen.metrics': '127.0.0.1:15014',
};

/**
 * `meshid dev`: the CA and a VM-mode node agent on embedded defaults under ./.meshid. The agent bootstraps
 * with a join token created here (only on the first start: it persists its SVID), and the current user gets
 * a workload identity served on the agent's Workload API / SDS socket.
 */
export async function runDev(args: Args): Promise<number> {
  const { config, server } = await startFromArgs(args, DEV_DEFAULTS);
  const td = config.trustDomain;
  const agentId = td.spiffeId('/meshid/agent/dev').toString();
  const workloadId = td.spiffeId('/dev/workload').toString();
  const uidSelector = `unix:uid:${process.getuid?.() ?? 0}`;
  const agentDir = path.resolve(DEV_DIR, 'agent');

  const joinToken = existsSync(path.join(agentDir, 'svid.pem'))
    ? undefined
    : await provision(server, { agentId, workloadId, uidSelector });
  const agentConfig = readNodeAgentConfig({
    mode: 'vm',
    logLevel: config.logLevel,
    server: { address: `127.0.0.1:${server.grpcPort}`, tlsServerName: 'localhost', trustBundleFile: server.bundleFile },
    dataDir: agentDir,
    socketDir: path.resolve(DEV_DIR, 'sockets'),
    listen: { ops: '127.0.0.1:15020' },
    ...(joinToken ? { joinToken } : {}),
  });
  const agent = await startNodeAgent(agentConfig, createLogger({ name: 'meshid-agent', level: config.logLevel }));
  const socket = agent.endpoints!.socketPath([uidSelector]);
  const bootstrapFile = path.resolve(DEV_DIR, 'envoy-bootstrap.yaml');
  await writeFile(
    bootstrapFile,
    YAML.stringify(
      envoyBootstrap({
        sdsSocket: socket,
        nodeId: 'dev-envoy',
        admin: { host: '127.0.0.1', port: 15000 },
        inbound: { listen: { host: '127.0.0.1', port: 15006 }, app: { host: '127.0.0.1', port: 8080 } },
      }),
    ),
  );

  const cli = `node ${path.relative(process.cwd(), process.argv[1] ?? 'dist/cli/meshid.js') || 'dist/cli/meshid.js'}`;
  const grpcAddress = `${config.listen.grpc.host}:${server.grpcPort}`;
  console.log(`
meshid dev mode is running
  trust domain       ${td.name}
  CA (TLS gRPC)      ${grpcAddress}   (IstioCertificateService + meshid NodeAgentService)
  CA metrics/health  http://${config.listen.metrics.host}:${server.metricsPort}/metrics  /healthz  /readyz
  admin socket       ${config.listen.adminSocket}
  trust bundle       ${server.bundleFile}
  node agent         ${agentId}  (metrics http://127.0.0.1:${agent.opsPort}/metrics)
  your identity      ${workloadId}  (entry selector ${uidSelector})

Workload API and SDS socket for your user:
  export SPIFFE_ENDPOINT_SOCKET=unix://${socket}
Envoy bootstrap that takes its certificate over SDS from that socket (mTLS on :15006 -> your app on :8080):
  envoy -c ${path.relative(process.cwd(), bootstrapFile)}

Get an X509-SVID straight from the CA (join token -> agent SVID, written to .meshid/svid):
  ${cli} svid request --server ${grpcAddress} --bundle ${path.relative(process.cwd(), server.bundleFile)} --join-token "$(${cli} token create --ttl 10m)" --out .meshid/svid
  openssl verify -CAfile .meshid/svid/bundle.pem -untrusted .meshid/svid/svid.pem .meshid/svid/svid.pem

Press Ctrl-C to stop.`);
  return runUntilSignal([server, agent]);
}

/** First start: a join token for the dev agent and an entry giving the current user an identity. */
async function provision(server: CaServer, ids: { agentId: string; workloadId: string; uidSelector: string }): Promise<string> {
  const proto = loadProto<ProtoGrpcType>('meshid/v1/admin.proto');
  const admin = new proto.meshid.v1.AdminService(`unix:${server.adminSocket}`, grpc.credentials.createInsecure());
  try {
    const { entries } = await call(admin, admin.ListEntries, { parent_id: ids.agentId });
    if (!entries.some((e) => e.spiffe_id === ids.workloadId)) {
      await call(admin, admin.CreateEntry, {
        spiffe_id: ids.workloadId,
        parent_id: ids.agentId,
        selectors: [ids.uidSelector],
        ttl_seconds: 0,
        dns_names: [],
      });
    }
    const { value } = await call(admin, admin.CreateJoinToken, { spiffe_id: ids.agentId, ttl_seconds: 600 });
    return value;
  } finally {
    admin.close();
  }
}
