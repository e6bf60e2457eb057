// Original file: protos/meshid/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface CreateEntryRequest {
  'spiffe_id'?: (string);
  'parent_id'?: (string);
  'selectors'?: (string)[];
  'ttl_seconds'?: (number | string | Long);
  'dns_names'?: (string)[];
}

export interface CreateEntryRequest__Output {
  'spiffe_id': (string);
  'parent_id': (string);
  'selectors': (string)[];
  'ttl_seconds': (number);
  'dns_names': (string)[];
}
