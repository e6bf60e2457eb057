// Original file: protos/meshid/v1/admin.proto


export interface BanAgentResponse {
}

export interface BanAgentResponse__Output {
}
