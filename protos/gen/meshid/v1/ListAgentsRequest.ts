// Original file: protos/meshid/v1/admin.proto


export interface ListAgentsRequest {
}

export interface ListAgentsRequest__Output {
}
