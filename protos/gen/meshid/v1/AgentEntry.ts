// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface AgentEntry {
  'id'?: (string);
  'spiffe_id'?: (string);
  'selectors'?: (string)[];
  'ttl_seconds'?: (number | string | Long);
  'dns_names'?: (string)[];
}

export interface AgentEntry__Output {
  'id': (string);
  'spiffe_id': (string);
  'selectors': (string)[];
  'ttl_seconds': (number);
  'dns_names': (string)[];
}
