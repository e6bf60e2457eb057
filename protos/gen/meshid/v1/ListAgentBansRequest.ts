// Original file: protos/meshid/v1/admin.proto


export interface ListAgentBansRequest {
}

export interface ListAgentBansRequest__Output {
}
