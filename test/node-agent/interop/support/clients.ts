// grpc-js clients of the agent's workload socket, as an Envoy or a workload would use it.
import { EventEmitter, once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { DiscoveryRequest } from '../../../../protos/gen/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { SecretDiscoveryServiceClient } from '../../../../protos/gen/envoy/service/secret/v3/SecretDiscoveryService.js';
import type { ProtoGrpcType as SdsProto } from '../../../../protos/gen/sds.js';
import type { SpiffeWorkloadAPIClient } from '../../../../protos/gen/SpiffeWorkloadAPI.js';
import type { ProtoGrpcType as WorkloadProto } from '../../../../protos/gen/workload.js';
import { LOADER_OPTIONS, loadProto } from '../../../../protos/load.js';
import { SECRET_TYPE_URL } from '../../../../node-agent/sds/secrets.js';

/** A decoded SDS Secret, as Envoy reads it (proto-loader's JSON form unpacks the Any resources). */
export interface DecodedSecret {
  '@type': string;
  name: string;
  tls_certificate?: { certificate_chain: { inline_bytes: Buffer }; private_key: { inline_bytes: Buffer } };
  validation_context?: {
    trusted_ca?: { inline_bytes: Buffer } | null;
    custom_validator_config?: {
      name: string;
      typed_config: { '@type': string; trust_domains: { name: string; trust_bundle: { inline_bytes: Buffer } }[] };
    } | null;
  };
}

export interface DecodedResponse {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: DecodedSecret[];
}

const CLIENT_OPTIONS: grpc.ClientOptions = { 'grpc.max_receive_message_length': 64 * 1024 * 1024 };

export function sdsClient(socketPath: string): SecretDiscoveryServiceClient {
  const definition = protoLoader.loadSync(
    [
      'envoy/service/secret/v3/sds.proto',
      'envoy/extensions/transport_sockets/tls/v3/secret.proto',
      'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
    ],
    { ...LOADER_OPTIONS, json: true },
  );
  const proto = grpc.loadPackageDefinition(definition) as unknown as SdsProto;
  return new proto.envoy.service.secret.v3.SecretDiscoveryService(`unix:${socketPath}`, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
}

export function workloadClient(socketPath: string): SpiffeWorkloadAPIClient {
  const proto = loadProto<WorkloadProto>('spiffe/workload.proto');
  return new proto.SpiffeWorkloadAPI(`unix:${socketPath}`, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
}

/** Metadata with the Workload API security header, plus any extra entries. */
export function workloadMetadata(extra: Record<string, string | Buffer> = {}, withHeader = true): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (withHeader) metadata.set('workload.spiffe.io', 'true');
  for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
  return metadata;
}

/** One StreamSecrets stream driven like Envoy drives it: request, then ACK (or NACK) every response. */
export class SdsStreamClient {
  readonly responses: DecodedResponse[] = [];
  private readonly events = new EventEmitter();
  private readonly call: grpc.ClientDuplexStream<DiscoveryRequest, DecodedResponse>;
  error: grpc.ServiceError | undefined;

  constructor(client: SecretDiscoveryServiceClient, metadata: grpc.Metadata = new grpc.Metadata()) {
    this.call = client.StreamSecrets(metadata) as unknown as grpc.ClientDuplexStream<DiscoveryRequest, DecodedResponse>;
    this.call.on('data', (response: DecodedResponse) => {
      this.responses.push(response);
      this.events.emit('change');
    });
    this.call.on('error', (err: grpc.ServiceError) => {
      this.error = err;
      this.events.emit('change');
    });
  }

  request(names: string[], node: DiscoveryRequest['node'] = { id: 'test', cluster: 'test' }): void {
    this.call.write({ node, resource_names: names, type_url: SECRET_TYPE_URL });
  }

  /** ACKs (or, with `error`, NACKs) the latest response. */
  answer(names: string[], error?: string): void {
    const last = this.responses.at(-1)!;
    const previous = error ? (this.responses.at(-2)?.version_info ?? '') : last.version_info;
    this.call.write({
      version_info: previous,
      response_nonce: last.nonce,
      resource_names: names,
      type_url: SECRET_TYPE_URL,
      ...(error ? { error_detail: { code: grpc.status.INVALID_ARGUMENT, message: error } } : {}),
    });
  }

  /** Resolves once `count` responses arrived; rejects if the stream ends with an error first. */
  async waitFor(count: number): Promise<DecodedResponse> {
    while (this.responses.length < count) {
      if (this.error) throw this.error;
      await once(this.events, 'change');
    }
    return this.responses[count - 1]!;
  }

  /** Resolves with the error the stream ended with. */
  async failure(): Promise<grpc.ServiceError> {
    while (!this.error) await once(this.events, 'change');
    return this.error;
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** The first `count` messages of a server stream (then cancels it). */
export async function firstMessages<T>(call: grpc.ClientReadableStream<T>, count = 1): Promise<T[]> {
  const messages: T[] = [];
  return new Promise((resolve, reject) => {
    call.on('data', (message: T) => {
      messages.push(message);
      if (messages.length === count) {
        call.cancel();
        resolve(messages);
      }
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) reject(err);
    });
  });
}

/** A unary call as a promise. */
export function unaryCall<Req, Res>(
  invoke: (request: Req, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, res?: Res) => void) => unknown,
  request: Req,
  metadata: grpc.Metadata,
): Promise<Res> {
  return new Promise((resolve, reject) => invoke(request, metadata, (err, res) => (err ? reject(err) : resolve(res as Res))));
}
