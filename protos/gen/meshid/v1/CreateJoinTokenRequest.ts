// Original file: protos/meshid/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface CreateJoinTokenRequest {
  'spiffe_id'?: (string);
  'ttl_seconds'?: (number | string | Long);
}

export interface CreateJoinTokenRequest__Output {
  'spiffe_id': (string);
  'ttl_seconds': (number);
}
