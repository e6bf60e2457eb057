// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface PolicySet {
  'policies_json'?: (string)[];
  'version'?: (number | string | Long);
  'source'?: (string);
  'root_namespace'?: (string);
}

export interface PolicySet__Output {
  'policies_json': (string)[];
  'version': (number);
  'source': (string);
  'root_namespace': (string);
}
