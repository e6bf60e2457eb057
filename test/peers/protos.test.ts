// meshid's own .proto subsets (protos/spiffe, protos/envoy, protos/google/rpc) must keep upstream's
// packages, names and field numbers, or Envoy and go-spiffe silently mis-decode them. The tables below
// were checked field by field against envoyproxy/envoy api/ and spiffe/go-spiffe
// proto/spiffe/workload/workload.proto; they are read back from the descriptors @grpc/proto-loader builds
// with the project's loader options (protos/load.ts: keepCase, longs as Number, enums as String,
// defaults, oneofs).
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { LOADER_OPTIONS } from '../../protos/load.js';

const PROTO_FILES = [
  'spiffe/workload.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
  'envoy/service/auth/v3/external_auth.proto',
];

const definition = protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS);

/** [field number, type] with type like "string", "repeated bytes", "map<string,bytes>", "DataSource". */
type FieldSpec = readonly [number, string];

const EXPECTED_MESSAGES: Record<string, Record<string, FieldSpec>> = {
  // SPIFFE Workload API (no package)
  X509SVIDRequest: {},
  X509SVIDResponse: {
    svids: [1, 'repeated X509SVID'],
    crl: [2, 'repeated bytes'],
    federated_bundles: [3, 'map<string,bytes>'],
  },
  X509SVID: {
    spiffe_id: [1, 'string'],
    x509_svid: [2, 'bytes'],
    x509_svid_key: [3, 'bytes'],
    bundle: [4, 'bytes'],
    hint: [5, 'string'],
  },
  X509BundlesRequest: {},
  X509BundlesResponse: { crl: [1, 'repeated bytes'], bundles: [2, 'map<string,bytes>'] },
  JWTSVIDRequest: { audience: [1, 'repeated string'], spiffe_id: [2, 'string'] },
  JWTSVIDResponse: { svids: [1, 'repeated JWTSVID'] },
  JWTSVID: { spiffe_id: [1, 'string'], svid: [2, 'string'], hint: [3, 'string'] },
  JWTBundlesRequest: {},
  JWTBundlesResponse: { bundles: [1, 'map<string,bytes>'] },
  ValidateJWTSVIDRequest: { audience: [1, 'string'], svid: [2, 'string'] },
  ValidateJWTSVIDResponse: { spiffe_id: [1, 'string'], claims: [2, 'Struct'] },

  'google.rpc.Status': { code: [1, 'int32'], message: [2, 'string'], details: [3, 'repeated Any'] },

  'envoy.config.core.v3.Node': {
    id: [1, 'string'],
    cluster: [2, 'string'],
    metadata: [3, 'Struct'],
    user_agent_name: [6, 'string'],
    user_agent_version: [7, 'string'],
  },
  'envoy.config.core.v3.Metadata': { filter_metadata: [1, 'map<string,Struct>'] },
  'envoy.config.core.v3.HeaderValue': { key: [1, 'string'], value: [2, 'string'] },
  'envoy.config.core.v3.HeaderValueOption': {
    header: [1, 'HeaderValue'],
    append: [2, 'BoolValue'],
    append_action: [3, 'HeaderAppendAction'],
  },
  'envoy.config.core.v3.DataSource': { filename: [1, 'string'], inline_bytes: [2, 'bytes'], inline_string: [3, 'string'] },
  'envoy.config.core.v3.TypedExtensionConfig': { name: [1, 'string'], typed_config: [2, 'Any'] },
  'envoy.config.core.v3.Address': { socket_address: [1, 'SocketAddress'], pipe: [2, 'Pipe'] },
  'envoy.config.core.v3.SocketAddress': { protocol: [1, 'Protocol'], address: [2, 'string'], port_value: [3, 'uint32'] },
  'envoy.config.core.v3.Pipe': { path: [1, 'string'], mode: [2, 'uint32'] },

  'envoy.service.discovery.v3.DiscoveryRequest': {
    version_info: [1, 'string'],
    node: [2, 'Node'],
    resource_names: [3, 'repeated string'],
    type_url: [4, 'string'],
    response_nonce: [5, 'string'],
    error_detail: [6, 'Status'],
  },
  'envoy.service.discovery.v3.DiscoveryResponse': {
    version_info: [1, 'string'],
    resources: [2, 'repeated Any'],
    canary: [3, 'bool'],
    type_url: [4, 'string'],
    nonce: [5, 'string'],
  },
  'envoy.service.discovery.v3.DeltaDiscoveryRequest': {
    node: [1, 'Node'],
    type_url: [2, 'string'],
    resource_names_subscribe: [3, 'repeated string'],
    resource_names_unsubscribe: [4, 'repeated string'],
    initial_resource_versions: [5, 'map<string,string>'],
    response_nonce: [6, 'string'],
    error_detail: [7, 'Status'],
  },
  'envoy.service.discovery.v3.DeltaDiscoveryResponse': {
    system_version_info: [1, 'string'],
    resources: [2, 'repeated Resource'],
    type_url: [4, 'string'],
    nonce: [5, 'string'],
    removed_resources: [6, 'repeated string'],
  },
  'envoy.service.discovery.v3.Resource': { version: [1, 'string'], resource: [2, 'Any'], name: [3, 'string'] },

  'envoy.extensions.transport_sockets.tls.v3.Secret': {
    name: [1, 'string'],
    tls_certificate: [2, 'TlsCertificate'],
    validation_context: [4, 'CertificateValidationContext'],
  },
  'envoy.extensions.transport_sockets.tls.v3.TlsCertificate': {
    certificate_chain: [1, 'DataSource'],
    private_key: [2, 'DataSource'],
  },
  'envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext': {
    trusted_ca: [1, 'DataSource'],
    custom_validator_config: [12, 'TypedExtensionConfig'],
  },
  'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig': { trust_domains: [1, 'repeated TrustDomain'] },
  'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig.TrustDomain': {
    name: [1, 'string'],
    trust_bundle: [2, 'DataSource'],
  },

  'envoy.service.auth.v3.CheckRequest': { attributes: [1, 'AttributeContext'] },
  'envoy.service.auth.v3.AttributeContext': {
    source: [1, 'Peer'],
    destination: [2, 'Peer'],
    request: [4, 'Request'],
    context_extensions: [10, 'map<string,string>'],
    metadata_context: [11, 'Metadata'],
  },
  'envoy.service.auth.v3.AttributeContext.Peer': {
    address: [1, 'Address'],
    service: [2, 'string'],
    labels: [3, 'map<string,string>'],
    principal: [4, 'string'],
    certificate: [5, 'string'],
  },
  'envoy.service.auth.v3.AttributeContext.Request': { time: [1, 'Timestamp'], http: [2, 'HttpRequest'] },
  'envoy.service.auth.v3.AttributeContext.HttpRequest': {
    id: [1, 'string'],
    method: [2, 'string'],
    headers: [3, 'map<string,string>'],
    path: [4, 'string'],
    host: [5, 'string'],
    scheme: [6, 'string'],
    size: [9, 'int64'],
    protocol: [10, 'string'],
    body: [11, 'string'],
  },
  'envoy.service.auth.v3.CheckResponse': {
    status: [1, 'Status'],
    denied_response: [2, 'DeniedHttpResponse'],
    ok_response: [3, 'OkHttpResponse'],
    dynamic_metadata: [4, 'Struct'],
  },
  'envoy.service.auth.v3.DeniedHttpResponse': {
    status: [1, 'HttpStatus'],
    headers: [2, 'repeated HeaderValueOption'],
    body: [3, 'string'],
  },
  'envoy.service.auth.v3.OkHttpResponse': {
    headers: [2, 'repeated HeaderValueOption'],
    headers_to_remove: [5, 'repeated string'],
    response_headers_to_add: [6, 'repeated HeaderValueOption'],
  },
  'envoy.type.v3.HttpStatus': { code: [1, 'StatusCode'] },
};

/** [request, response] type names, "stream " marking a streamed side. */
const EXPECTED_SERVICES: Record<string, Record<string, readonly [string, string]>> = {
  SpiffeWorkloadAPI: {
    FetchX509SVID: ['X509SVIDRequest', 'stream X509SVIDResponse'],
    FetchX509Bundles: ['X509BundlesRequest', 'stream X509BundlesResponse'],
    FetchJWTSVID: ['JWTSVIDRequest', 'JWTSVIDResponse'],
    FetchJWTBundles: ['JWTBundlesRequest', 'stream JWTBundlesResponse'],
    ValidateJWTSVID: ['ValidateJWTSVIDRequest', 'ValidateJWTSVIDResponse'],
  },
  'envoy.service.secret.v3.SecretDiscoveryService': {
    DeltaSecrets: ['stream DeltaDiscoveryRequest', 'stream DeltaDiscoveryResponse'],
    StreamSecrets: ['stream DiscoveryRequest', 'stream DiscoveryResponse'],
    FetchSecrets: ['DiscoveryRequest', 'DiscoveryResponse'],
  },
  'envoy.service.auth.v3.Authorization': { Check: ['CheckRequest', 'CheckResponse'] },
};

const EXPECTED_ENUM_VALUES: Record<string, Record<string, number>> = {
  'envoy.type.v3.StatusCode': { Empty: 0, OK: 200, BadRequest: 400, Unauthorized: 401, Forbidden: 403, TooManyRequests: 429, ServiceUnavailable: 503 },
  'envoy.config.core.v3.HeaderValueOption.HeaderAppendAction': {
    APPEND_IF_EXISTS_OR_ADD: 0,
    ADD_IF_ABSENT: 1,
    OVERWRITE_IF_EXISTS_OR_ADD: 2,
  },
  'envoy.config.core.v3.SocketAddress.Protocol': { TCP: 0, UDP: 1 },
};

// The parts of google.protobuf.DescriptorProto / EnumDescriptorProto that proto-loader exposes as `type`.
interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: EnumDescriptor[];
  options: { mapEntry?: boolean } | null;
}

function messageType(name: string): protoLoader.MessageTypeDefinition<object, object> {
  const def = definition[name];
  if (!def || !('format' in def) || def.format !== 'Protocol Buffer 3 DescriptorProto') {
    throw new Error(`${name} is not a loaded top-level message type`);
  }
  return def as protoLoader.MessageTypeDefinition<object, object>;
}

/** Descriptor of a message or enum; nested ones are only reachable through their parent. */
function descriptorOf(name: string): MessageDescriptor | EnumDescriptor {
  const def = definition[name];
  if (def && 'format' in def) return def.type as MessageDescriptor | EnumDescriptor;
  const dot = name.lastIndexOf('.');
  const parent = dot > 0 ? (descriptorOf(name.slice(0, dot)) as MessageDescriptor) : undefined;
  const simple = name.slice(dot + 1);
  const nested = parent?.nestedType.find((t) => t.name === simple) ?? parent?.enumType.find((t) => t.name === simple);
  if (!nested) throw new Error(`${name} is not loaded`);
  return nested;
}

function typeOf(field: FieldDescriptor, message: MessageDescriptor): string {
  if (field.type !== 'TYPE_MESSAGE' && field.type !== 'TYPE_ENUM') return field.type.slice('TYPE_'.length).toLowerCase();
  const entry = message.nestedType.find((t) => t.name === field.typeName && t.options?.mapEntry);
  if (entry) return `map<${typeOf(entry.field[0]!, entry)},${typeOf(entry.field[1]!, entry)}>`;
  return field.typeName.split('.').pop()!;
}

function fieldsOf(name: string): Record<string, FieldSpec> {
  const message = descriptorOf(name) as MessageDescriptor;
  return Object.fromEntries(
    message.field.map((f) => {
      const type = typeOf(f, message);
      const repeated = f.label === 'LABEL_REPEATED' && !type.startsWith('map<');
      return [f.name, [f.number, repeated ? `repeated ${type}` : type] as const];
    }),
  );
}

describe('protos: upstream names and field numbers', () => {
  it.each(Object.entries(EXPECTED_MESSAGES))('%s', (name, fields) => {
    expect(fieldsOf(name)).toEqual(fields);
  });

  it.each(Object.entries(EXPECTED_SERVICES))('service %s', (service, methods) => {
    const def = definition[service] as protoLoader.ServiceDefinition;
    const actual = Object.fromEntries(
      Object.entries(def).map(([method, m]) => {
        const request = (m.requestType.type as { name: string }).name;
        const response = (m.responseType.type as { name: string }).name;
        expect(m.path).toBe(`/${service}/${method}`);
        return [method, [`${m.requestStream ? 'stream ' : ''}${request}`, `${m.responseStream ? 'stream ' : ''}${response}`]];
      }),
    );
    expect(actual).toEqual(methods);
  });

  it.each(Object.entries(EXPECTED_ENUM_VALUES))('enum %s', (name, values) => {
    const actual = Object.fromEntries((descriptorOf(name) as EnumDescriptor).value.map((v) => [v.name, v.number]));
    expect(actual).toMatchObject(values);
  });
});

describe('protos: wire encoding', () => {
  const secretType = messageType('envoy.extensions.transport_sockets.tls.v3.Secret');
  const SECRET_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
  const SPIFFE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig';

  it('encodes a Secret with the bytes Envoy decodes (hand-computed from upstream numbers)', () => {
    const bytes = secretType.serialize({ name: 'default', validation_context: { trusted_ca: { inline_bytes: Buffer.from('x') } } });
    // 0a 07 "default" | 22 05 (validation_context=4) 0a 03 (trusted_ca=1) 12 01 (inline_bytes=2) "x"
    expect(bytes.toString('hex')).toBe(`0a07${Buffer.from('default').toString('hex')}22050a03120178`);
  });

  it('packs a SPIFFE-validator Secret into an SDS DiscoveryResponse and reads it back', () => {
    const sds = definition['envoy.service.secret.v3.SecretDiscoveryService'] as protoLoader.ServiceDefinition;
    const stream = sds['StreamSecrets']!;
    const bundle = Buffer.from('-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n');
    const wire = stream.responseSerialize({
      version_info: '7',
      nonce: 'n1',
      type_url: SECRET_URL,
      resources: [
        {
          '@type': SECRET_URL,
          name: 'ROOTCA',
          validation_context: {
            custom_validator_config: {
              name: 'envoy.tls.cert_validator.spiffe',
              typed_config: { '@type': SPIFFE_URL, trust_domains: [{ name: 'example.org', trust_bundle: { inline_bytes: bundle } }] },
            },
          },
        },
      ],
    });

    const response = stream.responseDeserialize(wire) as {
      version_info: string;
      nonce: string;
      resources: { type_url: string; value: Buffer }[];
    };
    expect(response).toMatchObject({ version_info: '7', nonce: 'n1' });
    expect(response.resources[0]!.type_url).toBe(SECRET_URL);

    const secret = secretType.deserialize(response.resources[0]!.value) as {
      name: string;
      type: string;
      validation_context: { custom_validator_config: { name: string; typed_config: { type_url: string; value: Buffer } } };
    };
    expect(secret).toMatchObject({ name: 'ROOTCA', type: 'validation_context' });
    const validator = secret.validation_context.custom_validator_config;
    expect(validator.name).toBe('envoy.tls.cert_validator.spiffe');
    expect(validator.typed_config.type_url).toBe(SPIFFE_URL);

    const spiffeConfig = messageType('envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig').deserialize(
      validator.typed_config.value,
    ) as { trust_domains: { name: string; trust_bundle: { specifier: string; inline_bytes: Buffer } }[] };
    expect(spiffeConfig.trust_domains).toHaveLength(1);
    expect(spiffeConfig.trust_domains[0]).toMatchObject({ name: 'example.org', trust_bundle: { specifier: 'inline_bytes' } });
    expect(spiffeConfig.trust_domains[0]!.trust_bundle.inline_bytes.equals(bundle)).toBe(true);
  });

  it('reads an ext_authz CheckResponse deny with its oneof and enum', () => {
    const check = (definition['envoy.service.auth.v3.Authorization'] as protoLoader.ServiceDefinition)['Check']!;
    const wire = check.responseSerialize({
      status: { code: 7, message: 'denied by policy' },
      denied_response: { status: { code: 'Forbidden' }, headers: [{ header: { key: 'x-meshid-denied', value: 'policy' } }], body: 'RBAC: access denied' },
    });
    expect(check.responseDeserialize(wire)).toMatchObject({
      status: { code: 7, message: 'denied by policy' },
      http_response: 'denied_response',
      denied_response: { status: { code: 'Forbidden' }, body: 'RBAC: access denied' },
    });
  });
});
