// Original file: protos/meshid/v1/agent.proto

import type { X509SVID as _meshid_v1_X509SVID, X509SVID__Output as _meshid_v1_X509SVID__Output } from '../../meshid/v1/X509SVID.js';
import type { TrustBundle as _meshid_v1_TrustBundle, TrustBundle__Output as _meshid_v1_TrustBundle__Output } from '../../meshid/v1/TrustBundle.js';

export interface AgentSVIDResponse {
  'svid'?: (_meshid_v1_X509SVID | null);
  'bundle'?: (_meshid_v1_TrustBundle | null);
}

export interface AgentSVIDResponse__Output {
  'svid': (_meshid_v1_X509SVID__Output | null);
  'bundle': (_meshid_v1_TrustBundle__Output | null);
}
