import { ISTIO_TOKEN_HEADER } from '../sockets/caller.js';
import { VALIDATION_METADATA_KEY } from './sds-service.js';
import { DEFAULT_CERT, OWN_ROOTS, type ValidationMode } from './secrets.js';

/** A listen or connect address: a Unix socket path, or host and port. */
export type EnvoyAddress = { pipe: string } | { host: string; port: number };

export interface EnvoyBootstrapOptions {
  /** The agent's socket (VM: the caller's per-uid socket; Kubernetes: the shared one). */
  sdsSocket: string;
  /**
   * Kubernetes mode: the pod's projected service-account token file. Envoy re-reads it for every SDS stream
   * (file-based call credentials) and sends it as `authorization: Bearer`, so a token the kubelet refreshed is
   * picked up without a restart.
   */
  sdsTokenFile?: string;
  nodeId: string;
  /** Envoy's --service-cluster; default "meshid". */
  cluster?: string;
  admin: EnvoyAddress;
  /** How peers are validated: Envoy's SPIFFE validator (default) or plain trusted_ca roots. */
  validation?: ValidationMode;
  /** SDS names of the certificate and the validation context; default "default" and "ROOTCA". */
  certificateName?: string;
  validationContextName?: string;
  /** mTLS in, plain HTTP to the local app. The app gets the caller's SPIFFE ID in x-forwarded-client-cert. */
  inbound?: { listen: EnvoyAddress; app: EnvoyAddress };
  /**
   * Authorize every inbound request with the agent's ext_authz socket (meshid policies; a denied request
   * gets 403). `labels` become the node's workload labels that policy selectors match.
   */
  extAuthz?: { socket: string; labels?: Record<string, string> };
  /** Plain HTTP in from the local app, mTLS out to a peer's inbound listener. */
  outbound?: {
    listen: EnvoyAddress;
    upstream: EnvoyAddress;
    /** SPIFFE IDs the upstream must present (any of them); empty = any ID the validation context trusts. */
    serverIds?: string[];
  };
}

const SDS_CLUSTER = 'meshid_sds';
/** Envoy's Google gRPC credentials factory that reads call metadata from a file (its from_plugin needs it). */
const FILE_CREDENTIALS = 'envoy.grpc_credentials.file_based_metadata';
const AUTHZ_CLUSTER = 'meshid_authz';

/**
 * An Envoy v3 bootstrap whose TLS identity and peer validation come from the meshid agent over SDS:
 * a static cluster to the agent's Unix socket (HTTP/2), and the listeners/clusters asked for. Returns the
 * plain object; write it as JSON or YAML (`YAML.stringify`).
 */
export function envoyBootstrap(options: EnvoyBootstrapOptions): Record<string, unknown> {
  const certificateName = options.certificateName ?? DEFAULT_CERT;
  const validationName = options.validationContextName ?? OWN_ROOTS;
  const listeners: unknown[] = [];
  const clusters: unknown[] = options.sdsTokenFile ? [] : [grpcCluster(SDS_CLUSTER, options.sdsSocket)];
  const sds = sdsConfig(options);

  if (options.inbound) {
    const authz = options.extAuthz;
    listeners.push(
      httpListener('inbound', options.inbound.listen, 'inbound_app', {
        forward_client_cert_details: 'SANITIZE_SET',
        set_current_client_cert_details: { uri: true },
        // Policies match paths as Envoy normalises them (Istio's BASE normalisation).
        ...(authz ? { normalize_path: true, merge_slashes: true, http_filters: [extAuthzFilter(), ROUTER] } : {}),
      }, {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
          require_client_certificate: true,
          common_tls_context: commonTlsContext(sds, certificateName, validationName),
        },
      }),
    );
    clusters.push(staticCluster('inbound_app', options.inbound.app));
    if (authz) clusters.push(grpcCluster(AUTHZ_CLUSTER, authz.socket));
  }

  if (options.outbound) {
    listeners.push(httpListener('outbound', options.outbound.listen, 'outbound_peer'));
    clusters.push({
      ...staticCluster('outbound_peer', options.outbound.upstream),
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          common_tls_context: commonTlsContext(sds, certificateName, validationName, options.outbound.serverIds),
        },
      },
    });
  }

  return {
    node: {
      id: options.nodeId,
      cluster: options.cluster ?? 'meshid',
      metadata: {
        [VALIDATION_METADATA_KEY]: options.validation ?? 'spiffe',
        ...(options.extAuthz?.labels ? { labels: options.extAuthz.labels } : {}),
      },
    },
    admin: { address: address(options.admin) },
    static_resources: { listeners, clusters },
  };
}

/** Envoy's own gRPC client needs a cluster; call credentials that read a file exist only for Google gRPC. */
function sdsConfig(options: EnvoyBootstrapOptions) {
  const service = options.sdsTokenFile
    ? {
        google_grpc: {
          target_uri: `unix:${options.sdsSocket}`,
          stat_prefix: SDS_CLUSTER,
          credentials_factory_name: FILE_CREDENTIALS,
          channel_credentials: { local_credentials: {} },
          call_credentials: [
            {
              from_plugin: {
                name: FILE_CREDENTIALS,
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.config.grpc_credential.v3.FileBasedMetadataConfig',
                  secret_data: { filename: options.sdsTokenFile },
                  header_key: ISTIO_TOKEN_HEADER,
                },
              },
            },
          ],
        },
      }
    : { envoy_grpc: { cluster_name: SDS_CLUSTER } };
  return {
    resource_api_version: 'V3',
    api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [service], set_node_on_first_message_only: true },
  };
}

function commonTlsContext(sds: ReturnType<typeof sdsConfig>, certificateName: string, validationName: string, peerIds: string[] = []) {
  const validationSds = { name: validationName, sds_config: sds };
  return {
    tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
    tls_certificate_sds_secret_configs: [{ name: certificateName, sds_config: sds }],
    ...(peerIds.length === 0
      ? { validation_context_sds_secret_config: validationSds }
      : {
          // Static SAN matching merged with the SDS validation context (the SPIFFE validator honours it).
          combined_validation_context: {
            default_validation_context: {
              match_typed_subject_alt_names: peerIds.map((id) => ({ san_type: 'URI', matcher: { exact: id } })),
            },
            validation_context_sds_secret_config: validationSds,
          },
        }),
  };
}

function httpListener(name: string, listen: EnvoyAddress, cluster: string, extra: Record<string, unknown> = {}, transportSocket?: unknown) {
  return {
    name,
    address: address(listen),
    filter_chains: [
      {
        ...(transportSocket ? { transport_socket: transportSocket } : {}),
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: name,
              route_config: {
                virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }],
              },
              http_filters: [ROUTER],
              ...extra,
            },
          },
        ],
      },
    ],
  };
}

function staticCluster(name: string, endpoint: EnvoyAddress, extra: Record<string, unknown> = {}) {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    ...extra,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: address(endpoint) } }] }] },
  };
}

const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

/** Asks the agent about every request; the agent unreachable -> 403 (fail closed). */
function extAuthzFilter() {
  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      transport_api_version: 'V3',
      grpc_service: { envoy_grpc: { cluster_name: AUTHZ_CLUSTER }, timeout: '1s' },
      failure_mode_allow: false,
      bootstrap_metadata_labels_key: 'labels',
    },
  };
}

/** gRPC (HTTP/2) to one of the agent's Unix sockets. */
function grpcCluster(name: string, socket: string) {
  return staticCluster(name, { pipe: socket }, {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  });
}

function address(a: EnvoyAddress) {
  return 'pipe' in a ? { pipe: { path: a.pipe } } : { socket_address: { address: a.host, port_value: a.port } };
}
