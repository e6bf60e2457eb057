// Original file: protos/meshid/v1/admin.proto

import type { Agent as _meshid_v1_Agent, Agent__Output as _meshid_v1_Agent__Output } from '../../meshid/v1/Agent.js';

export interface ListAgentsResponse {
  'agents'?: (_meshid_v1_Agent)[];
}

export interface ListAgentsResponse__Output {
  'agents': (_meshid_v1_Agent__Output)[];
}
