// Original file: protos/meshid/v1/admin.proto


export interface EvictAgentResponse {
}

export interface EvictAgentResponse__Output {
}
