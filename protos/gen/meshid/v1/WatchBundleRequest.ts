// Original file: protos/meshid/v1/agent.proto


export interface WatchBundleRequest {
}

export interface WatchBundleRequest__Output {
}
