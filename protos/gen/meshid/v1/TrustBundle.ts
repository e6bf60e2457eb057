// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface TrustBundle {
  'trust_domain'?: (string);
  'x509_authorities'?: (Buffer | Uint8Array | string)[];
  'jwks'?: (string);
  'sequence'?: (number | string | Long);
  'refresh_hint_seconds'?: (number | string | Long);
  'active_root_id'?: (string);
}

export interface TrustBundle__Output {
  'trust_domain': (string);
  'x509_authorities': (Buffer)[];
  'jwks': (string);
  'sequence': (number);
  'refresh_hint_seconds': (number);
  'active_root_id': (string);
}
