// Original file: protos/meshid/v1/admin.proto


export interface GetRootRotationRequest {
}

export interface GetRootRotationRequest__Output {
}
