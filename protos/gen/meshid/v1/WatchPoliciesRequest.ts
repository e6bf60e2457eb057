// Original file: protos/meshid/v1/agent.proto


export interface WatchPoliciesRequest {
}

export interface WatchPoliciesRequest__Output {
}
