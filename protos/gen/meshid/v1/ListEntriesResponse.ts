// Original file: protos/meshid/v1/admin.proto

import type { Entry as _meshid_v1_Entry, Entry__Output as _meshid_v1_Entry__Output } from '../../meshid/v1/Entry.js';

export interface ListEntriesResponse {
  'entries'?: (_meshid_v1_Entry)[];
}

export interface ListEntriesResponse__Output {
  'entries': (_meshid_v1_Entry__Output)[];
}
