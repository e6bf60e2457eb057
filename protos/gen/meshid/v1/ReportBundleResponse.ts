// Original file: protos/meshid/v1/agent.proto


export interface ReportBundleResponse {
}

export interface ReportBundleResponse__Output {
}
