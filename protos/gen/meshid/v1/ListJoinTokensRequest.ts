// Original file: protos/meshid/v1/admin.proto


export interface ListJoinTokensRequest {
}

export interface ListJoinTokensRequest__Output {
}
