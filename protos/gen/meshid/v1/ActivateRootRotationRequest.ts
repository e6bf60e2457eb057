// Original file: protos/meshid/v1/admin.proto


export interface ActivateRootRotationRequest {
  'force'?: (boolean);
}

export interface ActivateRootRotationRequest__Output {
  'force': (boolean);
}
