import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { invalidArgument, MeshidError } from '../../core/errors.js';
import { resultLabel, toServiceError } from '../../core/grpc-errors.js';
import type { Node__Output } from '../../protos/gen/envoy/config/core/v3/Node.js';
import type { DiscoveryRequest__Output } from '../../protos/gen/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { SecretDiscoveryServiceHandlers } from '../../protos/gen/envoy/service/secret/v3/SecretDiscoveryService.js';
import type { ProtoGrpcType } from '../../protos/gen/sds.js';
import { LOADER_OPTIONS } from '../../protos/load.js';
import type { IdentitySource, WorkloadCaller, X509SvidMaterial } from '../identity-source.js';
import { CallerSvids } from '../sockets/caller-svids.js';
import { describeCaller, type CallerResolver } from '../sockets/caller.js';
import { watchTokenDeadline } from '../sockets/token-deadline.js';
import type { SdsMetrics } from './metrics.js';
import { SdsStream, versionOf } from './sds-stream.js';
import { needsSvids, packAny, resolveSecrets, SECRET_TYPE_URL, type ValidationMode } from './secrets.js';

/**
 * Node metadata key an Envoy sets to choose how its validation contexts check peers: "spiffe" (default,
 * Envoy's SPIFFE certificate validator) or "trusted_ca" (plain X.509 roots). Example bootstrap:
 *   node: { metadata: { "meshid.validation": trusted_ca } }
 */
export const VALIDATION_METADATA_KEY = 'meshid.validation';
const VALIDATION_MODES: readonly ValidationMode[] = ['spiffe', 'trusted_ca'];

/** The SDS service definition; the Secret and SPIFFE validator types are loaded too, to encode them in Any. */
export function sdsServiceDefinition(): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(
    [
      'envoy/service/secret/v3/sds.proto',
      'envoy/extensions/transport_sockets/tls/v3/secret.proto',
      'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
    ],
    LOADER_OPTIONS,
  );
  const proto = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  return proto.envoy.service.secret.v3.SecretDiscoveryService.service;
}

export interface SdsServiceOptions {
  source: IdentitySource;
  callerOf: CallerResolver;
  log: Logger;
  metrics: SdsMetrics;
  /** Kubernetes mode: streams end at this fraction of the caller's token lifetime (watchTokenDeadline). */
  tokenStreamFraction: number;
}

/** envoy.service.secret.v3.SecretDiscoveryService: the caller's SVIDs and the trust bundles as Envoy secrets. */
export function sdsService({ source, callerOf, log, metrics, tokenStreamFraction }: SdsServiceOptions): SecretDiscoveryServiceHandlers {
  const refused = (rpc: string, err: unknown) => {
    metrics.errors.inc({ rpc, code: resultLabel(err) });
    return toServiceError(err, log, rpc);
  };

  const secretsFor = async (
    names: readonly string[],
    validation: ValidationMode,
    callerSvids: () => Promise<X509SvidMaterial[]>,
  ) => {
    const svids = needsSvids(names) ? await callerSvids() : [];
    return resolveSecrets(names, { svids, bundles: source.bundles(), ownBundle: source.ownBundle(), validation });
  };

  return {
    StreamSecrets(call) {
      let caller: WorkloadCaller;
      try {
        caller = callerOf(call.metadata);
      } catch (err) {
        call.emit('error', refused('StreamSecrets', err));
        return;
      }
      const streamLog = log.child({ rpc: 'StreamSecrets', ...describeCaller(caller) });
      let validation: ValidationMode | undefined;
      const svids = new CallerSvids(source, caller, () => stream.onChange());
      const stream: SdsStream = new SdsStream({
        resolve: (names) => secretsFor(names, validation ?? 'spiffe', () => svids.get()),
        send: (response) => call.write(response),
        fail: (err) => end(err),
        log: streamLog,
        metrics,
      });
      const unwatchBundles = source.watchBundles(() => stream.onChange());
      const stopDeadline = watchTokenDeadline(caller, tokenStreamFraction, streamLog, (err) => end(err));
      metrics.streams.inc();
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        stream.close();
        svids.close();
        unwatchBundles();
        stopDeadline();
        metrics.streams.dec();
      };
      const end = (err: unknown) => {
        finish();
        call.emit('error', refused('StreamSecrets', err));
      };

      call.on('data', (request: DiscoveryRequest__Output) => {
        if (finished) return;
        try {
          checkTypeUrl(request.type_url);
          validation ??= validationMode(request.node);
        } catch (err) {
          end(err);
          return;
        }
        stream.onRequest(request);
      });
      call.on('end', () => {
        finish();
        call.end();
      });
      call.on('cancelled', finish);
      call.on('close', finish);
    },

    FetchSecrets(call, callback) {
      const { request } = call;
      (async () => {
        checkTypeUrl(request.type_url);
        const caller = callerOf(call.metadata);
        const secrets = await secretsFor(request.resource_names, validationMode(request.node), () => source.x509Svids(caller));
        if (secrets.length === 0) {
          throw new MeshidError('NOT_FOUND', `none of the requested secrets exist: ${request.resource_names.join(', ')}`, 'no_such_secret');
        }
        return {
          version_info: versionOf(secrets),
          type_url: SECRET_TYPE_URL,
          resources: secrets.map((secret) => packAny(SECRET_TYPE_URL, secret)),
        };
      })().then(
        (response) => {
          metrics.fetches.inc();
          callback(null, response);
        },
        (err: unknown) => callback(refused('FetchSecrets', err)),
      );
    },

    DeltaSecrets(call) {
      const err = new MeshidError(
        'UNIMPLEMENTED',
        'meshid serves SDS as state of the world only: use StreamSecrets (Envoy: api_type GRPC, not DELTA_GRPC)',
        'delta_unsupported',
      );
      call.emit('error', refused('DeltaSecrets', err));
    },
  };
}

function checkTypeUrl(typeUrl: string): void {
  if (typeUrl !== '' && typeUrl !== SECRET_TYPE_URL) {
    throw invalidArgument(`this SDS server only serves ${SECRET_TYPE_URL}, not ${typeUrl}`, 'bad_type_url');
  }
}

function validationMode(node: Node__Output | null): ValidationMode {
  const value = node?.metadata?.fields[VALIDATION_METADATA_KEY];
  if (!value) return 'spiffe';
  const mode = value.stringValue as ValidationMode | undefined;
  if (mode === undefined || !VALIDATION_MODES.includes(mode)) {
    throw invalidArgument(`node metadata "${VALIDATION_METADATA_KEY}" must be one of ${VALIDATION_MODES.join(', ')}`, 'bad_node_metadata');
  }
  return mode;
}
