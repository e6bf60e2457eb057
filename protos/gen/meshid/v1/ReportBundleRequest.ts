// Original file: protos/meshid/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

export interface ReportBundleRequest {
  'sequence'?: (number | string | Long);
}

export interface ReportBundleRequest__Output {
  'sequence': (number);
}
