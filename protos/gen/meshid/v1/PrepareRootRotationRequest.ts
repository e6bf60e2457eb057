// Original file: protos/meshid/v1/admin.proto


export interface PrepareRootRotationRequest {
}

export interface PrepareRootRotationRequest__Output {
}
