// Original file: protos/meshid/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface AgentBan {
  'spiffe_id'?: (string);
  'banned_at'?: (number | string | Long);
  'reason'?: (string);
}

export interface AgentBan__Output {
  'spiffe_id': (string);
  'banned_at': (number);
  'reason': (string);
}
