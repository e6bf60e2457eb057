// Original file: protos/meshid/v1/admin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ActivateRootRotationRequest as _meshid_v1_ActivateRootRotationRequest, ActivateRootRotationRequest__Output as _meshid_v1_ActivateRootRotationRequest__Output } from '../../meshid/v1/ActivateRootRotationRequest.js';
import type { BanAgentRequest as _meshid_v1_BanAgentRequest, BanAgentRequest__Output as _meshid_v1_BanAgentRequest__Output } from '../../meshid/v1/BanAgentRequest.js';
import type { BanAgentResponse as _meshid_v1_BanAgentResponse, BanAgentResponse__Output as _meshid_v1_BanAgentResponse__Output } from '../../meshid/v1/BanAgentResponse.js';
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
import type { GetRootRotationRequest as _meshid_v1_GetRootRotationRequest, GetRootRotationRequest__Output as _meshid_v1_GetRootRotationRequest__Output } from '../../meshid/v1/GetRootRotationRequest.js';
import type { ListAgentBansRequest as _meshid_v1_ListAgentBansRequest, ListAgentBansRequest__Output as _meshid_v1_ListAgentBansRequest__Output } from '../../meshid/v1/ListAgentBansRequest.js';
import type { ListAgentBansResponse as _meshid_v1_ListAgentBansResponse, ListAgentBansResponse__Output as _meshid_v1_ListAgentBansResponse__Output } from '../../meshid/v1/ListAgentBansResponse.js';
import type { ListAgentsRequest as _meshid_v1_ListAgentsRequest, ListAgentsRequest__Output as _meshid_v1_ListAgentsRequest__Output } from '../../meshid/v1/ListAgentsRequest.js';
import type { ListAgentsResponse as _meshid_v1_ListAgentsResponse, ListAgentsResponse__Output as _meshid_v1_ListAgentsResponse__Output } from '../../meshid/v1/ListAgentsResponse.js';
import type { ListEntriesRequest as _meshid_v1_ListEntriesRequest, ListEntriesRequest__Output as _meshid_v1_ListEntriesRequest__Output } from '../../meshid/v1/ListEntriesRequest.js';
import type { ListEntriesResponse as _meshid_v1_ListEntriesResponse, ListEntriesResponse__Output as _meshid_v1_ListEntriesResponse__Output } from '../../meshid/v1/ListEntriesResponse.js';
import type { ListJoinTokensRequest as _meshid_v1_ListJoinTokensRequest, ListJoinTokensRequest__Output as _meshid_v1_ListJoinTokensRequest__Output } from '../../meshid/v1/ListJoinTokensRequest.js';
import type { ListJoinTokensResponse as _meshid_v1_ListJoinTokensResponse, ListJoinTokensResponse__Output as _meshid_v1_ListJoinTokensResponse__Output } from '../../meshid/v1/ListJoinTokensResponse.js';
import type { PrepareRootRotationRequest as _meshid_v1_PrepareRootRotationRequest, PrepareRootRotationRequest__Output as _meshid_v1_PrepareRootRotationRequest__Output } from '../../meshid/v1/PrepareRootRotationRequest.js';
import type { RetireRootRotationRequest as _meshid_v1_RetireRootRotationRequest, RetireRootRotationRequest__Output as _meshid_v1_RetireRootRotationRequest__Output } from '../../meshid/v1/RetireRootRotationRequest.js';
import type { RevokeJoinTokenRequest as _meshid_v1_RevokeJoinTokenRequest, RevokeJoinTokenRequest__Output as _meshid_v1_RevokeJoinTokenRequest__Output } from '../../meshid/v1/RevokeJoinTokenRequest.js';
import type { RevokeJoinTokenResponse as _meshid_v1_RevokeJoinTokenResponse, RevokeJoinTokenResponse__Output as _meshid_v1_RevokeJoinTokenResponse__Output } from '../../meshid/v1/RevokeJoinTokenResponse.js';
import type { RootRotationStatus as _meshid_v1_RootRotationStatus, RootRotationStatus__Output as _meshid_v1_RootRotationStatus__Output } from '../../meshid/v1/RootRotationStatus.js';
import type { UnbanAgentRequest as _meshid_v1_UnbanAgentRequest, UnbanAgentRequest__Output as _meshid_v1_UnbanAgentRequest__Output } from '../../meshid/v1/UnbanAgentRequest.js';
import type { UnbanAgentResponse as _meshid_v1_UnbanAgentResponse, UnbanAgentResponse__Output as _meshid_v1_UnbanAgentResponse__Output } from '../../meshid/v1/UnbanAgentResponse.js';

export interface AdminServiceClient extends grpc.Client {
  ActivateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  ActivateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  ActivateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  ActivateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  activateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  activateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  activateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  activateRootRotation(argument: _meshid_v1_ActivateRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  
  BanAgent(argument: _meshid_v1_BanAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  BanAgent(argument: _meshid_v1_BanAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  BanAgent(argument: _meshid_v1_BanAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  BanAgent(argument: _meshid_v1_BanAgentRequest, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  banAgent(argument: _meshid_v1_BanAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  banAgent(argument: _meshid_v1_BanAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  banAgent(argument: _meshid_v1_BanAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  banAgent(argument: _meshid_v1_BanAgentRequest, callback: grpc.requestCallback<_meshid_v1_BanAgentResponse__Output>): grpc.ClientUnaryCall;
  
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
  
  GetRootRotation(argument: _meshid_v1_GetRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  GetRootRotation(argument: _meshid_v1_GetRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  GetRootRotation(argument: _meshid_v1_GetRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  GetRootRotation(argument: _meshid_v1_GetRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  getRootRotation(argument: _meshid_v1_GetRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  getRootRotation(argument: _meshid_v1_GetRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  getRootRotation(argument: _meshid_v1_GetRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  getRootRotation(argument: _meshid_v1_GetRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  
  ListAgentBans(argument: _meshid_v1_ListAgentBansRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  ListAgentBans(argument: _meshid_v1_ListAgentBansRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  ListAgentBans(argument: _meshid_v1_ListAgentBansRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  ListAgentBans(argument: _meshid_v1_ListAgentBansRequest, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  listAgentBans(argument: _meshid_v1_ListAgentBansRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  listAgentBans(argument: _meshid_v1_ListAgentBansRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  listAgentBans(argument: _meshid_v1_ListAgentBansRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  listAgentBans(argument: _meshid_v1_ListAgentBansRequest, callback: grpc.requestCallback<_meshid_v1_ListAgentBansResponse__Output>): grpc.ClientUnaryCall;
  
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
  
  PrepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  PrepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  PrepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  PrepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  prepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  prepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  prepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  prepareRootRotation(argument: _meshid_v1_PrepareRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  
  RetireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  RetireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  RetireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  RetireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  retireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  retireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  retireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  retireRootRotation(argument: _meshid_v1_RetireRootRotationRequest, callback: grpc.requestCallback<_meshid_v1_RootRotationStatus__Output>): grpc.ClientUnaryCall;
  
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  RevokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  revokeJoinToken(argument: _meshid_v1_RevokeJoinTokenRequest, callback: grpc.requestCallback<_meshid_v1_RevokeJoinTokenResponse__Output>): grpc.ClientUnaryCall;
  
  UnbanAgent(argument: _meshid_v1_UnbanAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  UnbanAgent(argument: _meshid_v1_UnbanAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  UnbanAgent(argument: _meshid_v1_UnbanAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  UnbanAgent(argument: _meshid_v1_UnbanAgentRequest, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  unbanAgent(argument: _meshid_v1_UnbanAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  unbanAgent(argument: _meshid_v1_UnbanAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  unbanAgent(argument: _meshid_v1_UnbanAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  unbanAgent(argument: _meshid_v1_UnbanAgentRequest, callback: grpc.requestCallback<_meshid_v1_UnbanAgentResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface AdminServiceHandlers extends grpc.UntypedServiceImplementation {
  ActivateRootRotation: grpc.handleUnaryCall<_meshid_v1_ActivateRootRotationRequest__Output, _meshid_v1_RootRotationStatus>;
  
  BanAgent: grpc.handleUnaryCall<_meshid_v1_BanAgentRequest__Output, _meshid_v1_BanAgentResponse>;
  
  CreateEntry: grpc.handleUnaryCall<_meshid_v1_CreateEntryRequest__Output, _meshid_v1_Entry>;
  
  CreateJoinToken: grpc.handleUnaryCall<_meshid_v1_CreateJoinTokenRequest__Output, _meshid_v1_CreateJoinTokenResponse>;
  
  DeleteEntry: grpc.handleUnaryCall<_meshid_v1_DeleteEntryRequest__Output, _meshid_v1_DeleteEntryResponse>;
  
  EvictAgent: grpc.handleUnaryCall<_meshid_v1_EvictAgentRequest__Output, _meshid_v1_EvictAgentResponse>;
  
  GetBundle: grpc.handleUnaryCall<_meshid_v1_GetBundleRequest__Output, _meshid_v1_GetBundleResponse>;
  
  GetRootRotation: grpc.handleUnaryCall<_meshid_v1_GetRootRotationRequest__Output, _meshid_v1_RootRotationStatus>;
  
  ListAgentBans: grpc.handleUnaryCall<_meshid_v1_ListAgentBansRequest__Output, _meshid_v1_ListAgentBansResponse>;
  
  ListAgents: grpc.handleUnaryCall<_meshid_v1_ListAgentsRequest__Output, _meshid_v1_ListAgentsResponse>;
  
  ListEntries: grpc.handleUnaryCall<_meshid_v1_ListEntriesRequest__Output, _meshid_v1_ListEntriesResponse>;
  
  ListJoinTokens: grpc.handleUnaryCall<_meshid_v1_ListJoinTokensRequest__Output, _meshid_v1_ListJoinTokensResponse>;
  
  PrepareRootRotation: grpc.handleUnaryCall<_meshid_v1_PrepareRootRotationRequest__Output, _meshid_v1_RootRotationStatus>;
  
  RetireRootRotation: grpc.handleUnaryCall<_meshid_v1_RetireRootRotationRequest__Output, _meshid_v1_RootRotationStatus>;
  
  RevokeJoinToken: grpc.handleUnaryCall<_meshid_v1_RevokeJoinTokenRequest__Output, _meshid_v1_RevokeJoinTokenResponse>;
  
  UnbanAgent: grpc.handleUnaryCall<_meshid_v1_UnbanAgentRequest__Output, _meshid_v1_UnbanAgentResponse>;
  
}

export interface AdminServiceDefinition extends grpc.ServiceDefinition {
  ActivateRootRotation: MethodDefinition<_meshid_v1_ActivateRootRotationRequest, _meshid_v1_RootRotationStatus, _meshid_v1_ActivateRootRotationRequest__Output, _meshid_v1_RootRotationStatus__Output>
  BanAgent: MethodDefinition<_meshid_v1_BanAgentRequest, _meshid_v1_BanAgentResponse, _meshid_v1_BanAgentRequest__Output, _meshid_v1_BanAgentResponse__Output>
  CreateEntry: MethodDefinition<_meshid_v1_CreateEntryRequest, _meshid_v1_Entry, _meshid_v1_CreateEntryRequest__Output, _meshid_v1_Entry__Output>
  CreateJoinToken: MethodDefinition<_meshid_v1_CreateJoinTokenRequest, _meshid_v1_CreateJoinTokenResponse, _meshid_v1_CreateJoinTokenRequest__Output, _meshid_v1_CreateJoinTokenResponse__Output>
  DeleteEntry: MethodDefinition<_meshid_v1_DeleteEntryRequest, _meshid_v1_DeleteEntryResponse, _meshid_v1_DeleteEntryRequest__Output, _meshid_v1_DeleteEntryResponse__Output>
  EvictAgent: MethodDefinition<_meshid_v1_EvictAgentRequest, _meshid_v1_EvictAgentResponse, _meshid_v1_EvictAgentRequest__Output, _meshid_v1_EvictAgentResponse__Output>
  GetBundle: MethodDefinition<_meshid_v1_GetBundleRequest, _meshid_v1_GetBundleResponse, _meshid_v1_GetBundleRequest__Output, _meshid_v1_GetBundleResponse__Output>
  GetRootRotation: MethodDefinition<_meshid_v1_GetRootRotationRequest, _meshid_v1_RootRotationStatus, _meshid_v1_GetRootRotationRequest__Output, _meshid_v1_RootRotationStatus__Output>
  ListAgentBans: MethodDefinition<_meshid_v1_ListAgentBansRequest, _meshid_v1_ListAgentBansResponse, _meshid_v1_ListAgentBansRequest__Output, _meshid_v1_ListAgentBansResponse__Output>
  ListAgents: MethodDefinition<_meshid_v1_ListAgentsRequest, _meshid_v1_ListAgentsResponse, _meshid_v1_ListAgentsRequest__Output, _meshid_v1_ListAgentsResponse__Output>
  ListEntries: MethodDefinition<_meshid_v1_ListEntriesRequest, _meshid_v1_ListEntriesResponse, _meshid_v1_ListEntriesRequest__Output, _meshid_v1_ListEntriesResponse__Output>
  ListJoinTokens: MethodDefinition<_meshid_v1_ListJoinTokensRequest, _meshid_v1_ListJoinTokensResponse, _meshid_v1_ListJoinTokensRequest__Output, _meshid_v1_ListJoinTokensResponse__Output>
  PrepareRootRotation: MethodDefinition<_meshid_v1_PrepareRootRotationRequest, _meshid_v1_RootRotationStatus, _meshid_v1_PrepareRootRotationRequest__Output, _meshid_v1_RootRotationStatus__Output>
  RetireRootRotation: MethodDefinition<_meshid_v1_RetireRootRotationRequest, _meshid_v1_RootRotationStatus, _meshid_v1_RetireRootRotationRequest__Output, _meshid_v1_RootRotationStatus__Output>
  RevokeJoinToken: MethodDefinition<_meshid_v1_RevokeJoinTokenRequest, _meshid_v1_RevokeJoinTokenResponse, _meshid_v1_RevokeJoinTokenRequest__Output, _meshid_v1_RevokeJoinTokenResponse__Output>
  UnbanAgent: MethodDefinition<_meshid_v1_UnbanAgentRequest, _meshid_v1_UnbanAgentResponse, _meshid_v1_UnbanAgentRequest__Output, _meshid_v1_UnbanAgentResponse__Output>
}
