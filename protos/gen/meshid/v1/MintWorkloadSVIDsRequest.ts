// Original file: protos/meshid/v1/agent.proto

import type { WorkloadSVIDRequest as _meshid_v1_WorkloadSVIDRequest, WorkloadSVIDRequest__Output as _meshid_v1_WorkloadSVIDRequest__Output } from '../../meshid/v1/WorkloadSVIDRequest.js';

export interface MintWorkloadSVIDsRequest {
  'requests'?: (_meshid_v1_WorkloadSVIDRequest)[];
}

export interface MintWorkloadSVIDsRequest__Output {
  'requests': (_meshid_v1_WorkloadSVIDRequest__Output)[];
}
