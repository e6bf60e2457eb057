// Original file: protos/meshid/v1/agent.proto


export interface RenewAgentRequest {
  'csr'?: (string);
}

export interface RenewAgentRequest__Output {
  'csr': (string);
}
