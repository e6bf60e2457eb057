// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface JWTSVIDRequest {
  'entry_id'?: (string);
  'k8s_token'?: (string);
  'audience'?: (string)[];
  'ttl_seconds'?: (number | string | Long);
  'workload'?: "entry_id"|"k8s_token";
}

export interface JWTSVIDRequest__Output {
  'entry_id'?: (string);
  'k8s_token'?: (string);
  'audience': (string)[];
  'ttl_seconds': (number);
  'workload'?: "entry_id"|"k8s_token";
}
