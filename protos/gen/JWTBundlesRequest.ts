// Original file: protos/spiffe/workload.proto


export interface JWTBundlesRequest {
}

export interface JWTBundlesRequest__Output {
}
