// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface WorkloadSVIDRequest {
  'csr'?: (string);
  'entry_id'?: (string);
  'k8s_token'?: (string);
  'ttl_seconds'?: (number | string | Long);
  'workload'?: "entry_id"|"k8s_token";
}

export interface WorkloadSVIDRequest__Output {
  'csr': (string);
  'entry_id'?: (string);
  'k8s_token'?: (string);
  'ttl_seconds': (number);
  'workload'?: "entry_id"|"k8s_token";
}
