// Original file: protos/meshid/v1/admin.proto


export interface RevokeJoinTokenRequest {
  'id'?: (string);
}

export interface RevokeJoinTokenRequest__Output {
  'id': (string);
}
