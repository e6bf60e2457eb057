// Original file: protos/meshid/v1/admin.proto


export interface UnbanAgentResponse {
}

export interface UnbanAgentResponse__Output {
}
