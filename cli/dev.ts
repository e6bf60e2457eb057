import path from 'node:path';
import type { Args } from './args.js';
import { runUntilSignal, startFromArgs } from './server-command.js';

const DEV_DEFAULTS = {
  trustDomain: 'meshid.dev',
  dataDir: './.meshid/ca',
  'listen.grpc': '127.0.0.1:15012',
  'listen.metrics': '127.0.0.1:15014',
};

/** `meshid dev`: the CA on embedded defaults under ./.meshid, with copy-paste next steps. */
export async function runDev(args: Args): Promise<number> {
  const { config, server } = await startFromArgs(args, DEV_DEFAULTS);
  const cli = `node ${path.relative(process.cwd(), process.argv[1] ?? 'dist/cli/meshid.js') || 'dist/cli/meshid.js'}`;
  const grpc = `${config.listen.grpc.host}:${server.grpcPort}`;
  console.log(`
meshid dev mode is running
  trust domain     ${config.trustDomain.name}
  CA (TLS gRPC)    ${grpc}   (IstioCertificateService + meshid NodeAgentService)
  metrics/health   http://${config.listen.metrics.host}:${server.metricsPort}/metrics  /healthz  /readyz
  admin socket     ${config.listen.adminSocket}
  trust bundle     ${server.bundleFile}
  data dir         ${config.dataDir}

Get an X509-SVID (join token -> agent SVID, written to ./.meshid/svid):
  ${cli} svid request --server ${grpc} --bundle ${path.relative(process.cwd(), server.bundleFile)} --join-token "$(${cli} token create --ttl 10m)" --out .meshid/svid
  openssl verify -CAfile .meshid/svid/bundle.pem -untrusted .meshid/svid/svid.pem .meshid/svid/svid.pem

Press Ctrl-C to stop.`);
  return runUntilSignal([server]);
}
