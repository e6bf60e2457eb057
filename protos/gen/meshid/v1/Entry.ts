// Original file: protos/meshid/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface Entry {
  'id'?: (string);
  'spiffe_id'?: (string);
  'parent_id'?: (string);
  'selectors'?: (string)[];
  'ttl_seconds'?: (number | string | Long);
  'dns_names'?: (string)[];
  'created_at'?: (number | string | Long);
}

export interface Entry__Output {
  'id': (string);
  'spiffe_id': (string);
  'parent_id': (string);
  'selectors': (string)[];
  'ttl_seconds': (number);
  'dns_names': (string)[];
  'created_at': (number);
}
