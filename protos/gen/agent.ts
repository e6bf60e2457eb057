import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AgentEntry as _meshid_v1_AgentEntry, AgentEntry__Output as _meshid_v1_AgentEntry__Output } from './meshid/v1/AgentEntry.js';
import type { AgentSVIDResponse as _meshid_v1_AgentSVIDResponse, AgentSVIDResponse__Output as _meshid_v1_AgentSVIDResponse__Output } from './meshid/v1/AgentSVIDResponse.js';
import type { AttestAgentRequest as _meshid_v1_AttestAgentRequest, AttestAgentRequest__Output as _meshid_v1_AttestAgentRequest__Output } from './meshid/v1/AttestAgentRequest.js';
import type { JWTSVID as _meshid_v1_JWTSVID, JWTSVID__Output as _meshid_v1_JWTSVID__Output } from './meshid/v1/JWTSVID.js';
import type { JWTSVIDRequest as _meshid_v1_JWTSVIDRequest, JWTSVIDRequest__Output as _meshid_v1_JWTSVIDRequest__Output } from './meshid/v1/JWTSVIDRequest.js';
import type { ListAgentEntriesRequest as _meshid_v1_ListAgentEntriesRequest, ListAgentEntriesRequest__Output as _meshid_v1_ListAgentEntriesRequest__Output } from './meshid/v1/ListAgentEntriesRequest.js';
import type { ListAgentEntriesResponse as _meshid_v1_ListAgentEntriesResponse, ListAgentEntriesResponse__Output as _meshid_v1_ListAgentEntriesResponse__Output } from './meshid/v1/ListAgentEntriesResponse.js';
import type { MintWorkloadSVIDsRequest as _meshid_v1_MintWorkloadSVIDsRequest, MintWorkloadSVIDsRequest__Output as _meshid_v1_MintWorkloadSVIDsRequest__Output } from './meshid/v1/MintWorkloadSVIDsRequest.js';
import type { MintWorkloadSVIDsResponse as _meshid_v1_MintWorkloadSVIDsResponse, MintWorkloadSVIDsResponse__Output as _meshid_v1_MintWorkloadSVIDsResponse__Output } from './meshid/v1/MintWorkloadSVIDsResponse.js';
import type { NodeAgentServiceClient as _meshid_v1_NodeAgentServiceClient, NodeAgentServiceDefinition as _meshid_v1_NodeAgentServiceDefinition } from './meshid/v1/NodeAgentService.js';
import type { PolicySet as _meshid_v1_PolicySet, PolicySet__Output as _meshid_v1_PolicySet__Output } from './meshid/v1/PolicySet.js';
import type { RenewAgentRequest as _meshid_v1_RenewAgentRequest, RenewAgentRequest__Output as _meshid_v1_RenewAgentRequest__Output } from './meshid/v1/RenewAgentRequest.js';
import type { ReportBundleRequest as _meshid_v1_ReportBundleRequest, ReportBundleRequest__Output as _meshid_v1_ReportBundleRequest__Output } from './meshid/v1/ReportBundleRequest.js';
import type { ReportBundleResponse as _meshid_v1_ReportBundleResponse, ReportBundleResponse__Output as _meshid_v1_ReportBundleResponse__Output } from './meshid/v1/ReportBundleResponse.js';
import type { TrustBundle as _meshid_v1_TrustBundle, TrustBundle__Output as _meshid_v1_TrustBundle__Output } from './meshid/v1/TrustBundle.js';
import type { WatchBundleRequest as _meshid_v1_WatchBundleRequest, WatchBundleRequest__Output as _meshid_v1_WatchBundleRequest__Output } from './meshid/v1/WatchBundleRequest.js';
import type { WatchPoliciesRequest as _meshid_v1_WatchPoliciesRequest, WatchPoliciesRequest__Output as _meshid_v1_WatchPoliciesRequest__Output } from './meshid/v1/WatchPoliciesRequest.js';
import type { WorkloadSVIDRequest as _meshid_v1_WorkloadSVIDRequest, WorkloadSVIDRequest__Output as _meshid_v1_WorkloadSVIDRequest__Output } from './meshid/v1/WorkloadSVIDRequest.js';
import type { X509SVID as _meshid_v1_X509SVID, X509SVID__Output as _meshid_v1_X509SVID__Output } from './meshid/v1/X509SVID.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshid: {
    v1: {
      AgentEntry: MessageTypeDefinition<_meshid_v1_AgentEntry, _meshid_v1_AgentEntry__Output>
      AgentSVIDResponse: MessageTypeDefinition<_meshid_v1_AgentSVIDResponse, _meshid_v1_AgentSVIDResponse__Output>
      AttestAgentRequest: MessageTypeDefinition<_meshid_v1_AttestAgentRequest, _meshid_v1_AttestAgentRequest__Output>
      JWTSVID: MessageTypeDefinition<_meshid_v1_JWTSVID, _meshid_v1_JWTSVID__Output>
      JWTSVIDRequest: MessageTypeDefinition<_meshid_v1_JWTSVIDRequest, _meshid_v1_JWTSVIDRequest__Output>
      ListAgentEntriesRequest: MessageTypeDefinition<_meshid_v1_ListAgentEntriesRequest, _meshid_v1_ListAgentEntriesRequest__Output>
      ListAgentEntriesResponse: MessageTypeDefinition<_meshid_v1_ListAgentEntriesResponse, _meshid_v1_ListAgentEntriesResponse__Output>
      MintWorkloadSVIDsRequest: MessageTypeDefinition<_meshid_v1_MintWorkloadSVIDsRequest, _meshid_v1_MintWorkloadSVIDsRequest__Output>
      MintWorkloadSVIDsResponse: MessageTypeDefinition<_meshid_v1_MintWorkloadSVIDsResponse, _meshid_v1_MintWorkloadSVIDsResponse__Output>
      NodeAgentService: SubtypeConstructor<typeof grpc.Client, _meshid_v1_NodeAgentServiceClient> & { service: _meshid_v1_NodeAgentServiceDefinition }
      PolicySet: MessageTypeDefinition<_meshid_v1_PolicySet, _meshid_v1_PolicySet__Output>
      RenewAgentRequest: MessageTypeDefinition<_meshid_v1_RenewAgentRequest, _meshid_v1_RenewAgentRequest__Output>
      ReportBundleRequest: MessageTypeDefinition<_meshid_v1_ReportBundleRequest, _meshid_v1_ReportBundleRequest__Output>
      ReportBundleResponse: MessageTypeDefinition<_meshid_v1_ReportBundleResponse, _meshid_v1_ReportBundleResponse__Output>
      TrustBundle: MessageTypeDefinition<_meshid_v1_TrustBundle, _meshid_v1_TrustBundle__Output>
      WatchBundleRequest: MessageTypeDefinition<_meshid_v1_WatchBundleRequest, _meshid_v1_WatchBundleRequest__Output>
      WatchPoliciesRequest: MessageTypeDefinition<_meshid_v1_WatchPoliciesRequest, _meshid_v1_WatchPoliciesRequest__Output>
      WorkloadSVIDRequest: MessageTypeDefinition<_meshid_v1_WorkloadSVIDRequest, _meshid_v1_WorkloadSVIDRequest__Output>
      X509SVID: MessageTypeDefinition<_meshid_v1_X509SVID, _meshid_v1_X509SVID__Output>
    }
  }
}

