// Original file: protos/meshid/v1/admin.proto

import type { AgentBan as _meshid_v1_AgentBan, AgentBan__Output as _meshid_v1_AgentBan__Output } from '../../meshid/v1/AgentBan.js';

export interface ListAgentBansResponse {
  'bans'?: (_meshid_v1_AgentBan)[];
}

export interface ListAgentBansResponse__Output {
  'bans': (_meshid_v1_AgentBan__Output)[];
}
