// Original file: protos/meshid/v1/admin.proto


export interface GetBundleResponse {
  'content'?: (string);
}

export interface GetBundleResponse__Output {
  'content': (string);
}
