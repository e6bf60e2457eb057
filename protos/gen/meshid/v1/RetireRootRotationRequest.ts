// Original file: protos/meshid/v1/admin.proto


export interface RetireRootRotationRequest {
  'force'?: (boolean);
}

export interface RetireRootRotationRequest__Output {
  'force': (boolean);
}
