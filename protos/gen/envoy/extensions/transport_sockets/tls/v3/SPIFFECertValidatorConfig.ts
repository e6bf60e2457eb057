// Original file: protos/envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto

import type { DataSource as _envoy_config_core_v3_DataSource, DataSource__Output as _envoy_config_core_v3_DataSource__Output } from '../../../../../envoy/config/core/v3/DataSource.js';

export interface _envoy_extensions_transport_sockets_tls_v3_SPIFFECertValidatorConfig_TrustDomain {
  'name'?: (string);
  'trust_bundle'?: (_envoy_config_core_v3_DataSource | null);
}

export interface _envoy_extensions_transport_sockets_tls_v3_SPIFFECertValidatorConfig_TrustDomain__Output {
  'name': (string);
  'trust_bundle': (_envoy_config_core_v3_DataSource__Output | null);
}

export interface SPIFFECertValidatorConfig {
  'trust_domains'?: (_envoy_extensions_transport_sockets_tls_v3_SPIFFECertValidatorConfig_TrustDomain)[];
}

export interface SPIFFECertValidatorConfig__Output {
  'trust_domains': (_envoy_extensions_transport_sockets_tls_v3_SPIFFECertValidatorConfig_TrustDomain__Output)[];
}
