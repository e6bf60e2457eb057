/**
 * Reads the decision inputs out of an Envoy ext_authz CheckRequest. Anything Envoy would always send for an
 * HTTP request (the http attributes, a destination workload) missing means the request is malformed and is
 * denied (fail closed); optional attributes that are missing (peer principal on plaintext, IPs and ports on
 * Unix-socket listeners, a JWT) simply stay unavailable to the policy engine.
 *
 * Which workload Envoy protects, in order of precedence:
 *   - context_extensions `workload_spiffe_id`, `workload_namespace`, `workload_labels` ("app=web,version=v1"),
 *     set per listener/route with ExtAuthzPerRoute.check_settings.context_extensions;
 *   - destination.principal (the SPIFFE ID of the certificate Envoy serves on the mTLS listener) and
 *     destination.labels (Envoy fills them from node metadata when the filter sets
 *     `bootstrap_metadata_labels_key`);
 *   - the agent's configured default workload.
 * The namespace defaults to the one the SPIFFE ID names (.../ns/<ns>/...).
 */
import { invalidArgument } from '../../core/errors.js';
import type { RequestAttributes, WorkloadRef } from '../../core/policy/model.js';
import type { Address__Output } from '../../protos/gen/envoy/config/core/v3/Address.js';
import type { CheckRequest__Output } from '../../protos/gen/envoy/service/auth/v3/CheckRequest.js';
import type { Struct__Output } from '../../protos/gen/google/protobuf/Struct.js';
import type { Value__Output } from '../../protos/gen/google/protobuf/Value.js';

export const CONTEXT_KEYS = {
  spiffeId: 'workload_spiffe_id',
  namespace: 'workload_namespace',
  labels: 'workload_labels',
} as const;

/** Where Envoy's jwt_authn filter leaves the verified payload (its `payload_in_metadata`). */
export interface JwtMetadataLocation {
  filter: string;
  key: string;
}

export const DEFAULT_JWT_METADATA: JwtMetadataLocation = { filter: 'envoy.filters.http.jwt_authn', key: 'jwt_payload' };

export interface CheckInputOptions {
  defaultWorkload?: WorkloadRef;
  jwtMetadata?: JwtMetadataLocation;
}

export interface CheckInput {
  workload: WorkloadRef;
  attributes: RequestAttributes;
}

const malformed = (detail: string) => invalidArgument(`malformed check request: ${detail}`, 'malformed_check');

export function readCheckRequest(request: CheckRequest__Output, options: CheckInputOptions = {}): CheckInput {
  const attrs = request.attributes;
  if (!attrs) throw malformed('no attributes');
  const http = attrs.request?.http;
  if (!http) throw malformed('no HTTP request attributes (ext_authz must run as an HTTP filter)');
  if (!http.method) throw malformed('no HTTP method');
  if (!http.path) throw malformed('no HTTP path');

  const source = attrs.source;
  const destination = attrs.destination;
  const jwt = options.jwtMetadata ?? DEFAULT_JWT_METADATA;
  const payload = attrs.metadata_context?.filter_metadata?.[jwt.filter]?.fields[jwt.key];
  return {
    workload: readWorkload(attrs.context_extensions ?? {}, destination?.principal ?? '', destination?.labels ?? {}, options.defaultWorkload),
    attributes: {
      principal: source?.principal || undefined,
      sourceIp: ipOf(source?.address ?? null),
      destinationIp: ipOf(destination?.address ?? null),
      destinationPort: portOf(destination?.address ?? null),
      method: http.method,
      path: http.path,
      host: http.host || undefined,
      headers: http.headers ?? {},
      jwtClaims: payload ? readJwtPayload(payload) : undefined,
    },
  };
}

function readWorkload(
  context: Record<string, string>,
  destinationPrincipal: string,
  destinationLabels: Record<string, string>,
  fallback: WorkloadRef | undefined,
): WorkloadRef {
  const spiffeId = context[CONTEXT_KEYS.spiffeId] || (destinationPrincipal.startsWith('spiffe://') ? destinationPrincipal : undefined);
  const namespace = context[CONTEXT_KEYS.namespace] || undefined;
  const labels = { ...destinationLabels, ...parseLabels(context[CONTEXT_KEYS.labels] ?? '') };
  if (spiffeId === undefined && namespace === undefined) {
    if (fallback) return fallback;
    throw malformed(
      `no destination workload: Envoy sent neither context_extensions ${CONTEXT_KEYS.spiffeId} / ${CONTEXT_KEYS.namespace} nor a SPIFFE destination.principal, and the agent has no default workload`,
    );
  }
  return { labels, ...(spiffeId ? { spiffeId } : {}), ...(namespace ? { namespace } : {}) };
}

/** "app=web,version=v1" -> { app: "web", version: "v1" } */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw malformed(`context extension ${CONTEXT_KEYS.labels} entry "${pair}" is not name=value`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

const ipOf = (address: Address__Output | null) => address?.socket_address?.address || undefined;

function portOf(address: Address__Output | null): number | undefined {
  const socket = address?.socket_address;
  return socket && socket.port_specifier === 'port_value' ? socket.port_value : undefined;
}

function readJwtPayload(value: Value__Output): Record<string, unknown> {
  const json = valueToJson(value);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw malformed('JWT payload metadata is not an object');
  return json as Record<string, unknown>;
}

function structToJson(struct: Struct__Output): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct.fields ?? {})) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: Value__Output): unknown {
  switch (value.kind) {
    case 'stringValue':
      return value.stringValue;
    case 'numberValue':
      return value.numberValue;
    case 'boolValue':
      return value.boolValue;
    case 'structValue':
      return value.structValue ? structToJson(value.structValue) : null;
    case 'listValue':
      return (value.listValue?.values ?? []).map(valueToJson);
    default:
      return null;
  }
}
