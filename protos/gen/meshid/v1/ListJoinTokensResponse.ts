// Original file: protos/meshid/v1/admin.proto

import type { JoinToken as _meshid_v1_JoinToken, JoinToken__Output as _meshid_v1_JoinToken__Output } from '../../meshid/v1/JoinToken.js';

export interface ListJoinTokensResponse {
  'tokens'?: (_meshid_v1_JoinToken)[];
}

export interface ListJoinTokensResponse__Output {
  'tokens': (_meshid_v1_JoinToken__Output)[];
}
