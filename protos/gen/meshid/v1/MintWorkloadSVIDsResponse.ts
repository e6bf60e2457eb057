// Original file: protos/meshid/v1/agent.proto

import type { X509SVID as _meshid_v1_X509SVID, X509SVID__Output as _meshid_v1_X509SVID__Output } from '../../meshid/v1/X509SVID.js';

export interface MintWorkloadSVIDsResponse {
  'svids'?: (_meshid_v1_X509SVID)[];
}

export interface MintWorkloadSVIDsResponse__Output {
  'svids': (_meshid_v1_X509SVID__Output)[];
}
