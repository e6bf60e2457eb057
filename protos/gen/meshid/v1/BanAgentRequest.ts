// Original file: protos/meshid/v1/admin.proto


export interface BanAgentRequest {
  'spiffe_id'?: (string);
  'reason'?: (string);
}

export interface BanAgentRequest__Output {
  'spiffe_id': (string);
  'reason': (string);
}
