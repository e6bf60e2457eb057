// Regenerates protos/gen (TypeScript types for the loaded gRPC definitions). Options must match protos/load.ts.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';

// Protos that only contribute message types (no service). The generator still writes a per-file aggregate
// for each; with nothing to describe it keeps unused imports that strict tsc rejects, so it is dropped.
const messageOnly = [
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
];
const files = [
  'istio/v1/auth/ca.proto',
  'meshid/v1/agent.proto',
  'meshid/v1/admin.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/service/auth/v3/external_auth.proto',
  'spiffe/workload.proto',
  ...messageOnly,
  ...process.argv.slice(2),
];
rmSync('protos/gen', { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    'node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js',
    '--keepCase', '--longs=Number', '--enums=String', '--defaults', '--oneofs',
    '--grpcLib=@grpc/grpc-js', '--importFileExtension=.js',
    '-I', 'protos', '-O', 'protos/gen', ...files,
  ],
  { stdio: 'inherit' },
);
for (const proto of messageOnly) rmSync(path.join('protos/gen', `${path.basename(proto, '.proto')}.ts`));
