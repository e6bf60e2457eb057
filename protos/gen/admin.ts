import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ActivateRootRotationRequest as _meshid_v1_ActivateRootRotationRequest, ActivateRootRotationRequest__Output as _meshid_v1_ActivateRootRotationRequest__Output } from './meshid/v1/ActivateRootRotationRequest.js';
import type { AdminServiceClient as _meshid_v1_AdminServiceClient, AdminServiceDefinition as _meshid_v1_AdminServiceDefinition } from './meshid/v1/AdminService.js';
import type { Agent as _meshid_v1_Agent, Agent__Output as _meshid_v1_Agent__Output } from './meshid/v1/Agent.js';
import type { AgentBan as _meshid_v1_AgentBan, AgentBan__Output as _meshid_v1_AgentBan__Output } from './meshid/v1/AgentBan.js';
import type { Authority as _meshid_v1_Authority, Authority__Output as _meshid_v1_Authority__Output } from './meshid/v1/Authority.js';
import type { BanAgentRequest as _meshid_v1_BanAgentRequest, BanAgentRequest__Output as _meshid_v1_BanAgentRequest__Output } from './meshid/v1/BanAgentRequest.js';
import type { BanAgentResponse as _meshid_v1_BanAgentResponse, BanAgentResponse__Output as _meshid_v1_BanAgentResponse__Output } from './meshid/v1/BanAgentResponse.js';
import type { CreateEntryRequest as _meshid_v1_CreateEntryRequest, CreateEntryRequest__Output as _meshid_v1_CreateEntryRequest__Output } from './meshid/v1/CreateEntryRequest.js';
import type { CreateJoinTokenRequest as _meshid_v1_CreateJoinTokenRequest, CreateJoinTokenRequest__Output as _meshid_v1_CreateJoinTokenRequest__Output } from './meshid/v1/CreateJoinTokenRequest.js';
import type { CreateJoinTokenResponse as _meshid_v1_CreateJoinTokenResponse, CreateJoinTokenResponse__Output as _meshid_v1_CreateJoinTokenResponse__Output } from './meshid/v1/CreateJoinTokenResponse.js';
import type { DeleteEntryRequest as _meshid_v1_DeleteEntryRequest, DeleteEntryRequest__Output as _meshid_v1_DeleteEntryRequest__Output } from './meshid/v1/DeleteEntryRequest.js';
import type { DeleteEntryResponse as _meshid_v1_DeleteEntryResponse, DeleteEntryResponse__Output as _meshid_v1_DeleteEntryResponse__Output } from './meshid/v1/DeleteEntryResponse.js';
import type { Entry as _meshid_v1_Entry, Entry__Output as _meshid_v1_Entry__Output } from './meshid/v1/Entry.js';
import type { EvictAgentRequest as _meshid_v1_EvictAgentRequest, EvictAgentRequest__Output as _meshid_v1_EvictAgentRequest__Output } from './meshid/v1/EvictAgentRequest.js';
import type { EvictAgentResponse as _meshid_v1_EvictAgentResponse, EvictAgentResponse__Output as _meshid_v1_EvictAgentResponse__Output } from './meshid/v1/EvictAgentResponse.js';
import type { GetBundleRequest as _meshid_v1_GetBundleRequest, GetBundleRequest__Output as _meshid_v1_GetBundleRequest__Output } from './meshid/v1/GetBundleRequest.js';
import type { GetBundleResponse as _meshid_v1_GetBundleResponse, GetBundleResponse__Output as _meshid_v1_GetBundleResponse__Output } from './meshid/v1/GetBundleResponse.js';
import type { GetRootRotationRequest as _meshid_v1_GetRootRotationRequest, GetRootRotationRequest__Output as _meshid_v1_GetRootRotationRequest__Output } from './meshid/v1/GetRootRotationRequest.js';
import type { JoinToken as _meshid_v1_JoinToken, JoinToken__Output as _meshid_v1_JoinToken__Output } from './meshid/v1/JoinToken.js';
import type { ListAgentBansRequest as _meshid_v1_ListAgentBansRequest, ListAgentBansRequest__Output as _meshid_v1_ListAgentBansRequest__Output } from './meshid/v1/ListAgentBansRequest.js';
import type { ListAgentBansResponse as _meshid_v1_ListAgentBansResponse, ListAgentBansResponse__Output as _meshid_v1_ListAgentBansResponse__Output } from './meshid/v1/ListAgentBansResponse.js';
import type { ListAgentsRequest as _meshid_v1_ListAgentsRequest, ListAgentsRequest__Output as _meshid_v1_ListAgentsRequest__Output } from './meshid/v1/ListAgentsRequest.js';
import type { ListAgentsResponse as _meshid_v1_ListAgentsResponse, ListAgentsResponse__Output as _meshid_v1_ListAgentsResponse__Output } from './meshid/v1/ListAgentsResponse.js';
import type { ListEntriesRequest as _meshid_v1_ListEntriesRequest, ListEntriesRequest__Output as _meshid_v1_ListEntriesRequest__Output } from './meshid/v1/ListEntriesRequest.js';
import type { ListEntriesResponse as _meshid_v1_ListEntriesResponse, ListEntriesResponse__Output as _meshid_v1_ListEntriesResponse__Output } from './meshid/v1/ListEntriesResponse.js';
import type { ListJoinTokensRequest as _meshid_v1_ListJoinTokensRequest, ListJoinTokensRequest__Output as _meshid_v1_ListJoinTokensRequest__Output } from './meshid/v1/ListJoinTokensRequest.js';
import type { ListJoinTokensResponse as _meshid_v1_ListJoinTokensResponse, ListJoinTokensResponse__Output as _meshid_v1_ListJoinTokensResponse__Output } from './meshid/v1/ListJoinTokensResponse.js';
import type { PrepareRootRotationRequest as _meshid_v1_PrepareRootRotationRequest, PrepareRootRotationRequest__Output as _meshid_v1_PrepareRootRotationRequest__Output } from './meshid/v1/PrepareRootRotationRequest.js';
import type { RetireRootRotationRequest as _meshid_v1_RetireRootRotationRequest, RetireRootRotationRequest__Output as _meshid_v1_RetireRootRotationRequest__Output } from './meshid/v1/RetireRootRotationRequest.js';
import type { RevokeJoinTokenRequest as _meshid_v1_RevokeJoinTokenRequest, RevokeJoinTokenRequest__Output as _meshid_v1_RevokeJoinTokenRequest__Output } from './meshid/v1/RevokeJoinTokenRequest.js';
import type { RevokeJoinTokenResponse as _meshid_v1_RevokeJoinTokenResponse, RevokeJoinTokenResponse__Output as _meshid_v1_RevokeJoinTokenResponse__Output } from './meshid/v1/RevokeJoinTokenResponse.js';
import type { RootRotationStatus as _meshid_v1_RootRotationStatus, RootRotationStatus__Output as _meshid_v1_RootRotationStatus__Output } from './meshid/v1/RootRotationStatus.js';
import type { UnbanAgentRequest as _meshid_v1_UnbanAgentRequest, UnbanAgentRequest__Output as _meshid_v1_UnbanAgentRequest__Output } from './meshid/v1/UnbanAgentRequest.js';
import type { UnbanAgentResponse as _meshid_v1_UnbanAgentResponse, UnbanAgentResponse__Output as _meshid_v1_UnbanAgentResponse__Output } from './meshid/v1/UnbanAgentResponse.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshid: {
    v1: {
      ActivateRootRotationRequest: MessageTypeDefinition<_meshid_v1_ActivateRootRotationRequest, _meshid_v1_ActivateRootRotationRequest__Output>
      AdminService: SubtypeConstructor<typeof grpc.Client, _meshid_v1_AdminServiceClient> & { service: _meshid_v1_AdminServiceDefinition }
      Agent: MessageTypeDefinition<_meshid_v1_Agent, _meshid_v1_Agent__Output>
      AgentBan: MessageTypeDefinition<_meshid_v1_AgentBan, _meshid_v1_AgentBan__Output>
      Authority: MessageTypeDefinition<_meshid_v1_Authority, _meshid_v1_Authority__Output>
      BanAgentRequest: MessageTypeDefinition<_meshid_v1_BanAgentRequest, _meshid_v1_BanAgentRequest__Output>
      BanAgentResponse: MessageTypeDefinition<_meshid_v1_BanAgentResponse, _meshid_v1_BanAgentResponse__Output>
      CreateEntryRequest: MessageTypeDefinition<_meshid_v1_CreateEntryRequest, _meshid_v1_CreateEntryRequest__Output>
      CreateJoinTokenRequest: MessageTypeDefinition<_meshid_v1_CreateJoinTokenRequest, _meshid_v1_CreateJoinTokenRequest__Output>
      CreateJoinTokenResponse: MessageTypeDefinition<_meshid_v1_CreateJoinTokenResponse, _meshid_v1_CreateJoinTokenResponse__Output>
      DeleteEntryRequest: MessageTypeDefinition<_meshid_v1_DeleteEntryRequest, _meshid_v1_DeleteEntryRequest__Output>
      DeleteEntryResponse: MessageTypeDefinition<_meshid_v1_DeleteEntryResponse, _meshid_v1_DeleteEntryResponse__Output>
      Entry: MessageTypeDefinition<_meshid_v1_Entry, _meshid_v1_Entry__Output>
      EvictAgentRequest: MessageTypeDefinition<_meshid_v1_EvictAgentRequest, _meshid_v1_EvictAgentRequest__Output>
      EvictAgentResponse: MessageTypeDefinition<_meshid_v1_EvictAgentResponse, _meshid_v1_EvictAgentResponse__Output>
      GetBundleRequest: MessageTypeDefinition<_meshid_v1_GetBundleRequest, _meshid_v1_GetBundleRequest__Output>
      GetBundleResponse: MessageTypeDefinition<_meshid_v1_GetBundleResponse, _meshid_v1_GetBundleResponse__Output>
      GetRootRotationRequest: MessageTypeDefinition<_meshid_v1_GetRootRotationRequest, _meshid_v1_GetRootRotationRequest__Output>
      JoinToken: MessageTypeDefinition<_meshid_v1_JoinToken, _meshid_v1_JoinToken__Output>
      ListAgentBansRequest: MessageTypeDefinition<_meshid_v1_ListAgentBansRequest, _meshid_v1_ListAgentBansRequest__Output>
      ListAgentBansResponse: MessageTypeDefinition<_meshid_v1_ListAgentBansResponse, _meshid_v1_ListAgentBansResponse__Output>
      ListAgentsRequest: MessageTypeDefinition<_meshid_v1_ListAgentsRequest, _meshid_v1_ListAgentsRequest__Output>
      ListAgentsResponse: MessageTypeDefinition<_meshid_v1_ListAgentsResponse, _meshid_v1_ListAgentsResponse__Output>
      ListEntriesRequest: MessageTypeDefinition<_meshid_v1_ListEntriesRequest, _meshid_v1_ListEntriesRequest__Output>
      ListEntriesResponse: MessageTypeDefinition<_meshid_v1_ListEntriesResponse, _meshid_v1_ListEntriesResponse__Output>
      ListJoinTokensRequest: MessageTypeDefinition<_meshid_v1_ListJoinTokensRequest, _meshid_v1_ListJoinTokensRequest__Output>
      ListJoinTokensResponse: MessageTypeDefinition<_meshid_v1_ListJoinTokensResponse, _meshid_v1_ListJoinTokensResponse__Output>
      PrepareRootRotationRequest: MessageTypeDefinition<_meshid_v1_PrepareRootRotationRequest, _meshid_v1_PrepareRootRotationRequest__Output>
      RetireRootRotationRequest: MessageTypeDefinition<_meshid_v1_RetireRootRotationRequest, _meshid_v1_RetireRootRotationRequest__Output>
      RevokeJoinTokenRequest: MessageTypeDefinition<_meshid_v1_RevokeJoinTokenRequest, _meshid_v1_RevokeJoinTokenRequest__Output>
      RevokeJoinTokenResponse: MessageTypeDefinition<_meshid_v1_RevokeJoinTokenResponse, _meshid_v1_RevokeJoinTokenResponse__Output>
      RootRotationStatus: MessageTypeDefinition<_meshid_v1_RootRotationStatus, _meshid_v1_RootRotationStatus__Output>
      UnbanAgentRequest: MessageTypeDefinition<_meshid_v1_UnbanAgentRequest, _meshid_v1_UnbanAgentRequest__Output>
      UnbanAgentResponse: MessageTypeDefinition<_meshid_v1_UnbanAgentResponse, _meshid_v1_UnbanAgentResponse__Output>
    }
  }
}

