// Original file: protos/meshid/v1/admin.proto

import type { Authority as _meshid_v1_Authority, Authority__Output as _meshid_v1_Authority__Output } from '../../meshid/v1/Authority.js';
import type { Long } from '@grpc/proto-loader';

export interface RootRotationStatus {
  'phase'?: (string);
  'authorities'?: (_meshid_v1_Authority)[];
  'bundle_sequence'?: (number | string | Long);
  'agents_active'?: (number);
  'agents_acknowledged'?: (number);
  'agents_pending'?: (string)[];
  'retire_safe_at'?: (number | string | Long);
  'upstream'?: (string);
}

export interface RootRotationStatus__Output {
  'phase': (string);
  'authorities': (_meshid_v1_Authority__Output)[];
  'bundle_sequence': (number);
  'agents_active': (number);
  'agents_acknowledged': (number);
  'agents_pending': (string)[];
  'retire_safe_at': (number);
  'upstream': (string);
}
