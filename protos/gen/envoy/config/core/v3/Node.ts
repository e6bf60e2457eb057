// Original file: protos/envoy/config/core/v3/base.proto

import type { Struct as _google_protobuf_Struct, Struct__Output as _google_protobuf_Struct__Output } from '../../../../google/protobuf/Struct.js';

export interface Node {
  'id'?: (string);
  'cluster'?: (string);
  'metadata'?: (_google_protobuf_Struct | null);
  'user_agent_name'?: (string);
  'user_agent_version'?: (string);
  'user_agent_version_type'?: "user_agent_version";
}

export interface Node__Output {
  'id': (string);
  'cluster': (string);
  'metadata': (_google_protobuf_Struct__Output | null);
  'user_agent_name': (string);
  'user_agent_version'?: (string);
  'user_agent_version_type'?: "user_agent_version";
}
