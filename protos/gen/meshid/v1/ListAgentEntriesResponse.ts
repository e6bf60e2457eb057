// Original file: protos/meshid/v1/agent.proto

import type { AgentEntry as _meshid_v1_AgentEntry, AgentEntry__Output as _meshid_v1_AgentEntry__Output } from '../../meshid/v1/AgentEntry.js';

export interface ListAgentEntriesResponse {
  'entries'?: (_meshid_v1_AgentEntry)[];
}

export interface ListAgentEntriesResponse__Output {
  'entries': (_meshid_v1_AgentEntry__Output)[];
}
