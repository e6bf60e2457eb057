// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface X509SVID {
  'spiffe_id'?: (string);
  'cert_chain'?: (Buffer | Uint8Array | string)[];
  'expires_at'?: (number | string | Long);
}

export interface X509SVID__Output {
  'spiffe_id': (string);
  'cert_chain': (Buffer)[];
  'expires_at': (number);
}
