// Original file: protos/meshid/v1/agent.proto


export interface AttestAgentRequest {
  'join_token'?: (string);
  'k8s_token'?: (string);
  'csr'?: (string);
  'credential'?: "join_token"|"k8s_token";
}

export interface AttestAgentRequest__Output {
  'join_token'?: (string);
  'k8s_token'?: (string);
  'csr': (string);
  'credential'?: "join_token"|"k8s_token";
}
