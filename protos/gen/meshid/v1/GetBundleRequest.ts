// Original file: protos/meshid/v1/admin.proto


export interface GetBundleRequest {
  'format'?: (string);
}

export interface GetBundleRequest__Output {
  'format': (string);
}
