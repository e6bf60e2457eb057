import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Directory holding the .proto sources (works from the TS tree and from dist/ alike). */
export const PROTO_ROOT = fileURLToPath(new URL('./', import.meta.url)).replace(/\/dist\/protos\/$/, '/protos/');

/**
 * One set of loader options for every service, matching scripts/gen-protos.mjs so the generated types in
 * protos/gen describe exactly what the loader produces: snake_case field names, int64 as Number, enums as
 * strings, defaults filled in, oneof virtual fields set.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

export function loadProto<T>(relativePath: string): T {
  const definition = protoLoader.loadSync(relativePath, LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition) as unknown as T;
}
