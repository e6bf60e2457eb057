// Original file: protos/meshid/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface Authority {
  'id'?: (string);
  'kind'?: (string);
  'state'?: (string);
  'upstream'?: (string);
  'subject'?: (string);
  'not_before'?: (number | string | Long);
  'not_after'?: (number | string | Long);
  'activated_at'?: (number | string | Long);
  'retired_at'?: (number | string | Long);
  'root_id'?: (string);
}

export interface Authority__Output {
  'id': (string);
  'kind': (string);
  'state': (string);
  'upstream': (string);
  'subject': (string);
  'not_before': (number);
  'not_after': (number);
  'activated_at': (number);
  'retired_at': (number);
  'root_id': (string);
}
