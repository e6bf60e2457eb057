// Original file: protos/meshid/v1/agent.proto


export interface ListAgentEntriesRequest {
}

export interface ListAgentEntriesRequest__Output {
}
