// Original file: protos/meshid/v1/admin.proto


export interface RevokeJoinTokenResponse {
}

export interface RevokeJoinTokenResponse__Output {
}
