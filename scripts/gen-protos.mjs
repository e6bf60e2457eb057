// Regenerates protos/gen (TypeScript types for the loaded gRPC definitions). Options must match protos/load.ts.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const files = [
  'istio/v1/auth/ca.proto',
  'meshid/v1/agent.proto',
  'meshid/v1/admin.proto',
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
