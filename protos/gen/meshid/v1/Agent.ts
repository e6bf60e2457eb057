// Original file: protos/meshid/v1/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface Agent {
  'spiffe_id'?: (string);
  'attestation_type'?: (string);
  'serial_number'?: (string);
  'expires_at'?: (number | string | Long);
  'attested_at'?: (number | string | Long);
  'last_seen_at'?: (number | string | Long);
  'selectors'?: (string)[];
  'new_serial_number'?: (string);
}

export interface Agent__Output {
  'spiffe_id': (string);
  'attestation_type': (string);
  'serial_number': (string);
  'expires_at': (number);
  'attested_at': (number);
  'last_seen_at': (number);
  'selectors': (string)[];
  'new_serial_number': (string);
}
