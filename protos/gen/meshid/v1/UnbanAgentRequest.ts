// Original file: protos/meshid/v1/admin.proto


export interface UnbanAgentRequest {
  'spiffe_id'?: (string);
}

export interface UnbanAgentRequest__Output {
  'spiffe_id': (string);
}
