// Original file: protos/meshid/v1/admin.proto

import type { JoinToken as _meshid_v1_JoinToken, JoinToken__Output as _meshid_v1_JoinToken__Output } from '../../meshid/v1/JoinToken.js';

export interface CreateJoinTokenResponse {
  'token'?: (_meshid_v1_JoinToken | null);
  'value'?: (string);
}

export interface CreateJoinTokenResponse__Output {
  'token': (_meshid_v1_JoinToken__Output | null);
  'value': (string);
}
