// Original file: protos/meshid/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface JoinToken {
  'id'?: (string);
  'spiffe_id'?: (string);
  'created_at'?: (number | string | Long);
  'expires_at'?: (number | string | Long);
  'used_at'?: (number | string | Long);
  'revoked_at'?: (number | string | Long);
}

export interface JoinToken__Output {
  'id': (string);
  'spiffe_id': (string);
  'created_at': (number);
  'expires_at': (number);
  'used_at': (number);
  'revoked_at': (number);
}
