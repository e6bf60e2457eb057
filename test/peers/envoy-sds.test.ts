// Real Envoy against a minimal SDS server built on protos/envoy: Envoy must decode our DiscoveryResponse,
// Secret and nested SPIFFE validator config, NACK a response it cannot use with error_detail, ACK good ones
// with their version and nonce, and then serve mTLS with exactly those secrets.
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrustDomain } from '../../core/spiffeid.js';
import { privateKeyToPem } from '../../core/x509/keys.js';
import { LOADER_OPTIONS } from '../../protos/load.js';
import { bindUnixSocket, grpcPipeCluster, startEnvoy, type EnvoyProcess } from './envoy-process.js';
import { issueLeafSvid, newRootAuthority, type Authority, type LeafSvid } from './svid-fixtures.js';

const SECRET_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const SPIFFE_VALIDATOR_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig';
const TRUST_DOMAIN = TrustDomain.parse('example.org');
const SERVER_ID = 'spiffe://example.org/ns/default/sa/server';
const CLIENT_ID = 'spiffe://example.org/ns/default/sa/client';

interface DiscoveryRequest {
  version_info: string;
  // google.protobuf.Struct comes from protobufjs' bundled definition, hence camelCase Value fields.
  node: { id: string; cluster: string; metadata: { fields: Record<string, { stringValue?: string }> } } | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail: { code: number; message: string } | null;
}

const pem = (leaf: LeafSvid) => leaf.certificate.toString('pem');

function sdsConfig() {
  return {
    resource_api_version: 'V3',
    api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds' } }] },
  };
}

/** Envoy bootstrap: an mTLS echo listener on a Unix socket whose secrets both come from SDS. */
function bootstrap(dir: string) {
  return {
    node: { id: 'wire-test', cluster: 'peers', metadata: { meshid_validation: 'spiffe' } },
    static_resources: {
      listeners: [
        {
          name: 'mtls-echo',
          address: { pipe: { path: path.join(dir, 'echo.sock') } },
          filter_chains: [
            {
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                  require_client_certificate: true,
                  common_tls_context: {
                    tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: sdsConfig() }],
                    validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: sdsConfig() },
                  },
                },
              },
              filters: [
                {
                  name: 'envoy.filters.network.echo',
                  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo' },
                },
              ],
            },
          ],
        },
      ],
      clusters: [grpcPipeCluster('sds', path.join(dir, 'sds.sock'))],
    },
  };
}

/** mTLS to the echo listener; resolves with what came back, or the error that ended the connection. */
async function echoOverMtls(socketPath: string, root: Authority, client: LeafSvid) {
  const conn = tls.connect({
    path: socketPath,
    ca: root.certificate.toString('pem'),
    cert: pem(client),
    key: privateKeyToPem(client.keys.privateKey),
    checkServerIdentity: () => undefined, // SVIDs carry no DNS name; the URI SAN is checked below
  });
  try {
    await once(conn, 'secureConnect');
    const serverSan = conn.getPeerCertificate().subjectaltname;
    conn.write('ping');
    const [data] = (await once(conn, 'data')) as [Buffer];
    return { serverSan, echoed: data.toString() };
  } catch (err) {
    return { error: err as Error };
  } finally {
    conn.destroy();
  }
}

describe('real Envoy over SDS built from protos/envoy', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshid-sds-'));
  const server = new grpc.Server();
  const requests: DiscoveryRequest[] = [];
  const events = new EventEmitter();
  let envoy: EnvoyProcess | undefined;
  let root: Authority;
  let serverSvid: LeafSvid;
  let nonce = 0;

  /** The first request (already seen or still to come) matching `match`. */
  const request = (match: (r: DiscoveryRequest) => boolean) =>
    new Promise<DiscoveryRequest>((resolve) => {
      const seen = requests.find(match);
      if (seen) return resolve(seen);
      const listener = (r: DiscoveryRequest) => {
        if (!match(r)) return;
        events.off('request', listener);
        resolve(r);
      };
      events.on('request', listener);
    });

  const secret = (name: string) =>
    name === 'ROOTCA'
      ? {
          name,
          validation_context: {
            custom_validator_config: {
              name: 'envoy.tls.cert_validator.spiffe',
              typed_config: {
                '@type': SPIFFE_VALIDATOR_URL,
                trust_domains: [{ name: TRUST_DOMAIN.name, trust_bundle: { inline_bytes: Buffer.from(root.certificate.toString('pem')) } }],
              },
            },
          },
        }
      : {
          name,
          tls_certificate: {
            certificate_chain: { inline_bytes: Buffer.from(pem(serverSvid)) },
            private_key: { inline_bytes: Buffer.from(privateKeyToPem(serverSvid.keys.privateKey)) },
          },
        };

  beforeAll(async () => {
    root = await newRootAuthority(TRUST_DOMAIN);
    serverSvid = await issueLeafSvid(root, SERVER_ID);

    const definition = protoLoader.loadSync(
      [
        'envoy/service/secret/v3/sds.proto',
        'envoy/extensions/transport_sockets/tls/v3/secret.proto',
        'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
      ],
      LOADER_OPTIONS,
    );
    const sds = grpc.loadPackageDefinition(definition) as unknown as {
      envoy: { service: { secret: { v3: { SecretDiscoveryService: grpc.ServiceClientConstructor } } } };
    };
    server.addService(sds.envoy.service.secret.v3.SecretDiscoveryService.service, {
      StreamSecrets: (call: grpc.ServerDuplexStream<DiscoveryRequest, unknown>) => {
        call.on('data', (req: DiscoveryRequest) => {
          requests.push(req);
          events.emit('request', req);
          if (req.response_nonce !== '' && req.error_detail === null) return; // ACK
          const name = req.resource_names[0]!;
          // The first `default` carries a resource of the wrong type on purpose, to watch Envoy NACK it.
          const wrongType = name === 'default' && req.response_nonce === '';
          call.write({
            version_info: wrongType ? 'wrong-type' : 'v1',
            nonce: `n${++nonce}`,
            type_url: SECRET_URL,
            resources: [wrongType ? { '@type': SPIFFE_VALIDATOR_URL, trust_domains: [] } : { '@type': SECRET_URL, ...secret(name) }],
          });
        });
        call.on('end', () => call.end());
      },
    });
    await bindUnixSocket(server, path.join(dir, 'sds.sock'));
    envoy = startEnvoy(bootstrap(dir), dir);
  });

  afterAll(async () => {
    await envoy?.stop();
    server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends node id, cluster and metadata, the resource name and the Secret type URL', async () => {
    const first = await request((r) => r.resource_names.includes('default') && r.response_nonce === '');
    expect(first).toMatchObject({ version_info: '', type_url: SECRET_URL, resource_names: ['default'] });
    expect(first.node).toMatchObject({ id: 'wire-test', cluster: 'peers' });
    expect(first.node!.metadata.fields['meshid_validation']).toMatchObject({ kind: 'stringValue', stringValue: 'spiffe' });
  });

  it('NACKs a secret it cannot use, with the nonce, its last accepted version and an error_detail', async () => {
    const nack = await request((r) => r.resource_names.includes('default') && r.error_detail !== null);
    expect(nack.response_nonce).toBe('n1');
    expect(nack.version_info).toBe(''); // nothing accepted yet
    expect(nack.error_detail!.message).toContain('SPIFFECertValidatorConfig');
  });

  it('ACKs the valid certificate and the SPIFFE validation context with version and nonce', async () => {
    const ackDefault = await request((r) => r.resource_names.includes('default') && r.version_info === 'v1');
    const ackRoot = await request((r) => r.resource_names.includes('ROOTCA') && r.version_info === 'v1');
    for (const ack of [ackDefault, ackRoot]) {
      expect(ack.error_detail).toBeNull();
      expect(ack.response_nonce).toMatch(/^n\d+$/);
    }
  });

  it('serves mTLS with the SDS certificate and validates clients with the SDS SPIFFE bundle', async () => {
    await envoy!.logged('starting workers'); // the SDS-backed listener is warm
    const socketPath = path.join(dir, 'echo.sock');

    const trusted = await echoOverMtls(socketPath, root, await issueLeafSvid(root, CLIENT_ID));
    expect(trusted).toEqual({ serverSan: `URI:${SERVER_ID}`, echoed: 'ping' });

    const foreignRoot = await newRootAuthority(TrustDomain.parse('elsewhere.org'), 'O=elsewhere, CN=root');
    const refused = await echoOverMtls(socketPath, root, await issueLeafSvid(foreignRoot, 'spiffe://elsewhere.org/intruder'));
    expect(refused.echoed).toBeUndefined();
    // TLS alert 46 (certificate_unknown) from Envoy's SPIFFE validator.
    expect(refused.error).toMatchObject({ code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN' });
  });
});
