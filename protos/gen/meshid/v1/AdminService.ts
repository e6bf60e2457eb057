// Original file: protos/meshid/v1/admin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CreateEntryRequest as _meshid_v1_CreateEntryRequest, CreateEntryRequest__Output as _meshid_v1_CreateEntryRequest__Output } from '../../meshid/v1/CreateEntryRequest.js';
import type { CreateJoinTokenRequest as _meshid_v1_CreateJoinTokenRequest, CreateJoinTokenRequest__Output as _meshid_v1_CreateJoinTokenRequest__Output } from '../../meshid/v1/CreateJoinTokenRequest.js';
import type { CreateJoinTokenResponse as _meshid_v1_CreateJoinTokenResponse, CreateJoinTokenResponse__Output as _meshid_v1_CreateJoinTokenResponse__Output } from '../../meshid/v1/CreateJoinTokenResponse.js';
import type { DeleteEntryRequest as _meshid_v1_DeleteEntryRequest, DeleteEntryRequest__Output as _meshid_v1_DeleteEntryRequest__Output } from '../../meshid/v1/DeleteEntryRequest.js';
import type { DeleteEntryResponse as _meshid_v1_DeleteEntryResponse, DeleteEntryResponse__Output as _meshid_v1_DeleteEntryResponse__Output } from '../../meshid/v1/DeleteEntryResponse.js';
import type { Entry as _meshid_v1_Entry, Entry__Output as _meshid_v1_Entry__Output } from '../../meshid/v1/Entry.js';
import type { EvictAgentRequest as _meshid_v1_EvictAgentRequest, EvictAgentRequest__Output as _meshid_v1_EvictAgentRequest__Output } from '../../meshid/v1/EvictAgentRequest.js';
import type { EvictAgentResponse as _meshid_v1_EvictAgentResponse, EvictAgentResponse__Output as _meshid_v1_EvictAgentResponse__Output } from '../../meshid/v1/EvictAgentResponse.js';
import type { GetBundleRequest as _meshid_v1_GetBundleRequest, GetBundleRequest__Output as _meshid_v1_GetBundleRequest__Output } from '../../meshid/v1/GetBundleRequest.js';
import type { GetBundleResponse as _meshid_v1_GetBundleResponse, GetBundleResponse__Output as _meshid_v1_GetBundleResponse__Output } from '../../meshid/v1/GetBundleResponse.js';
import type { ListAgentsRequest as _meshid_v1_ListAgentsRequest, ListAgentsRequest__Output as _meshid_v1_ListAgentsRequest__Output } from '../../meshid/v1/ListAgentsRequest.js';
import type { ListAgentsResponse as _meshid_v1_ListAgentsResponse, ListAgentsResponse__Output as _meshid_v1_ListAgentsResponse__Output } from '../../meshid/v1/ListAgentsResponse.js';
import type { ListEntriesRequest as _meshid_v1_ListEntriesRequest, ListEntriesRequest__Output as _meshid_v1_ListEntriesRequest__Output } from '../../meshid/v1/ListEntriesRequest.js';
import type { ListEntriesResponse as _meshid_v1_ListEntriesResponse, ListEntriesResponse__Output as _meshid_v1_ListEntriesResponse__Output } from '../../meshid/v1/ListEntriesResponse.js';
import type { ListJoinTokensRequest as _meshid_v1_ListJoinTokensRequest, ListJoinTokensRequest__Output as _meshid_v1_ListJoinTokensRequest__Output } from '../../meshid/v1/ListJoinTokensRequest.js';
import type { ListJoinTokensResponse as _meshid_v1_ListJoinTokensResponse, ListJoinTokensResponse__Output as _meshid_v1_ListJoinTokensResponse__Output } from '../../meshid/v1/ListJoinTokensResponse.js';
import type { RevokeJoinTokenRequest as _meshid_v1_RevokeJoinTokenRequest, RevokeJoinTokenRequest__Output as _meshid_v1_RevokeJoinTokenRequest__Output } from '../../meshid/v1/RevokeJoinTokenRequest.js';
import type { RevokeJoinTokenResponse as _meshid_v1_RevokeJoinTokenResponse, RevokeJoinTokenResponse__Output as _meshid_v1_RevokeJoinTokenResponse__Output } from '../../meshid/v1/RevokeJoinTokenResponse.js';

export interface AdminServiceClient extends grpc.Client {
  CreateEntry(argument: _meshid_v1_CreateEntryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  CreateEntry(argument: _meshid_v1_CreateEntryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  CreateEntry(argument: _meshid_v1_CreateEntryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  CreateEntry(argument: _meshid_v1_CreateEntryRequest, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  createEntry(argument: _meshid_v1_CreateEntryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  createEntry(argument: _meshid_v1_CreateEntryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  createEntry(argument: _meshid_v1_CreateEntryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  createEntry(argument: _meshid_v1_CreateEntryRequest, callback: grpc.requestCallback<_meshid_v1_Entry__Output>): grpc.ClientUnaryCall;
  
  CreateJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  CreateJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  CreateJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  CreateJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  createJoinToken(argument: _meshid_v1_CreateJoinTokenRequest, callback: grpc.requestCallback<_meshid_v1_CreateJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  
  DeleteEntry(argument: _meshid_v1_DeleteEntryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  DeleteEntry(argument: _meshid_v1_DeleteEntryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  DeleteEntry(argument: _meshid_v1_DeleteEntryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  DeleteEntry(argument: _meshid_v1_DeleteEntryRequest, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  deleteEntry(argument: _meshid_v1_DeleteEntryRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  deleteEntry(argument: _meshid_v1_DeleteEntryRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  deleteEntry(argument: _meshid_v1_DeleteEntryRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  deleteEntry(argument: _meshid_v1_DeleteEntryRequest, callback: grpc.requestCallback<_meshid_v1_DeleteEntryResponse__Output>): grpc.ClientUnaryCall;
  
  EvictAgent(argument: _meshid_v1_EvictAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  EvictAgent(argument: _meshid_v1_EvictAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  EvictAgent(argument: _meshid_v1_EvictAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  EvictAgent(argument: _meshid_v1_EvictAgentRequest, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  evictAgent(argument: _meshid_v1_EvictAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  evictAgent(argument: _meshid_v1_EvictAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  evictAgent(argument: _meshid_v1_EvictAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  evictAgent(argument: _meshid_v1_EvictAgentRequest, callback: grpc.requestCallback<_meshid_v1_EvictAgentResponse__Output>): grpc.ClientUnaryCall;
  
  GetBundle(argument: _meshid_v1_GetBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  GetBundle(argument: _meshid_v1_GetBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  GetBundle(argument: _meshid_v1_GetBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  GetBundle(argument: _meshid_v1_GetBundleRequest, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _meshid_v1_GetBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _meshid_v1_GetBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _meshid_v1_GetBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  getBundle(argument: _meshid_v1_GetBundleRequest, callback: grpc.requestCallback<_meshid_v1_GetBundleResponse__Output>): grpc.ClientUnaryCall;
  
  ListAgents(argument: _meshid_v1_ListAgentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _meshid_v1_ListAgentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _meshid_v1_ListAgentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  ListAgents(argument: _meshid_v1_ListAgentsRequest, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _meshid_v1_ListAgentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _meshid_v1_ListAgentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _meshid_v1_ListAgentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  listAgents(argument: _meshid_v1_ListAgentsRequest, callback: grpc.requestCallback<_meshid_v1_ListAgentsResponse__Output>): grpc.ClientUnaryCall;
  
  ListEntries(argument: _meshid_v1_ListEntriesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  ListEntries(argument: _meshid_v1_ListEntriesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  ListEntries(argument: _meshid_v1_ListEntriesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  ListEntries(argument: _meshid_v1_ListEntriesRequest, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  listEntries(argument: _meshid_v1_ListEntriesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  listEntries(argument: _meshid_v1_ListEntriesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  listEntries(argument: _meshid_v1_ListEntriesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  listEntries(argument: _meshid_v1_ListEntriesRequest, callback: grpc.requestCallback<_meshid_v1_ListEntriesResponse__Output>): grpc.ClientUnaryCall;
  
  ListJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  ListJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  ListJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  ListJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  listJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  listJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  listJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  listJoinTokens(argument: _meshid_v1_ListJoinTokensRequest, callback: grpc.requestCallback<_meshid_v1_ListJoinTokensResponse__Output>): grpc.ClientUnaryCall;
  
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface AdminServiceHandlers extends grpc.UntypedServiceImplementation {
  CreateEntry: grpc.handleUnaryCall<_meshid_v1_CreateEntryRequest__Output, _meshid_v1_Entry>;
  
  CreateJoinToken: grpc.handleUnaryCall<_meshid_v1_CreateJoinTokenRequest__Output, _meshid_v1_CreateJoinTokenResponse>;
  
  DeleteEntry: grpc.handleUnaryCall<_meshid_v1_DeleteEntryRequest__Output, _meshid_v1_DeleteEntryResponse>;
  
  EvictAgent: grpc.handleUnaryCall<_meshid_v1_EvictAgentRequest__Output, _meshid_v1_EvictAgentResponse>;
  
  GetBundle: grpc.handleUnaryCall<_meshid_v1_GetBundleRequest__Output, _meshid_v1_GetBundleResponse>;
  
  ListAgents: grpc.handleUnaryCall<_meshid_v1_ListAgentsRequest__Output, _meshid_v1_ListAgentsResponse>;
  
  ListEntries: grpc.handleUnaryCall<_meshid_v1_ListEntriesRequest__Output, _meshid_v1_ListEntriesResponse>;
  
  ListJoinTokens: grpc.handleUnaryCall<_meshid_v1_ListJoinTokensRequest__Output, _meshid_v1_ListJoinTokensResponse>;
  
  RevokeJoinToken: grpc.handleUnaryCall<_meshid_v1_RevokeJoinTokenRequest__Output, _meshid_v1_RevokeJoinTokenResponse>;
  
}

export interface AdminServiceDefinition extends grpc.ServiceDefinition {
  CreateEntry: MethodDefinition<_meshid_v1_CreateEntryRequest, _meshid_v1_Entry, _meshid_v1_CreateEntryRequest__Output, _meshid_v1_Entry__Output>
  CreateJoinToken: MethodDefinition<_meshid_v1_CreateJoinTokenRequest, _meshid_v1_CreateJoinTokenResponse, _meshid_v1_CreateJoinTokenRequest__Output, _meshid_v1_CreateJoinTokenResponse__Output>
  DeleteEntry: MethodDefinition<_meshid_v1_DeleteEntryRequest, _meshid_v1_DeleteEntryResponse, _meshid_v1_DeleteEntryRequest__Output, _meshid_v1_DeleteEntryResponse__Output>
  EvictAgent: MethodDefinition<_meshid_v1_EvictAgentRequest, _meshid_v1_EvictAgentResponse, _meshid_v1_EvictAgentRequest__Output, _meshid_v1_EvictAgentResponse__Output>
  GetBundle: MethodDefinition<_meshid_v1_GetBundleRequest, _meshid_v1_GetBundleResponse, _meshid_v1_GetBundleRequest__Output, _meshid_v1_GetBundleResponse__Output>
  ListAgents: MethodDefinition<_meshid_v1_ListAgentsRequest, _meshid_v1_ListAgentsResponse, _meshid_v1_ListAgentsRequest__Output, _meshid_v1_ListAgentsResponse__Output>
  ListEntries: MethodDefinition<_meshid_v1_ListEntriesRequest, _meshid_v1_ListEntriesResponse, _meshid_v1_ListEntriesRequest__Output, _meshid_v1_ListEntriesResponse__Output>
  ListJoinTokens: MethodDefinition<_meshid_v1_ListJoinTokensRequest, _meshid_v1_ListJoinTokensResponse, _meshid_v1_ListJoinTokensRequest__Output, _meshid_v1_ListJoinTokensResponse__Output>
  RevokeJoinToken: MethodDefinition<_meshid_v1_RevokeJoinTokenRequest, _meshid_v1_RevokeJoinTokenResponse, _meshid_v1_RevokeJoinTokenRequest__Output, _meshid_v1_RevokeJoinTokenResponse__Output>
}
