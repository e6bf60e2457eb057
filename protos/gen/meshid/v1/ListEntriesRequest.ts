// Original file: protos/meshid/v1/admin.proto


export interface ListEntriesRequest {
  'parent_id'?: (string);
}

export interface ListEntriesRequest__Output {
  'parent_id': (string);
}
