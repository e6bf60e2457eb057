// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface JWTSVID {
  'spiffe_id'?: (string);
  'token'?: (string);
  'expires_at'?: (number | string | Long);
}

export interface JWTSVID__Output {
  'spiffe_id': (string);
  'token': (string);
  'expires_at': (number);
}
