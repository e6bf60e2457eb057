// Original file: protos/meshid/v1/agent.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AgentSVIDResponse as _meshid_v1_AgentSVIDResponse, AgentSVIDResponse__Output as _meshid_v1_AgentSVIDResponse__Output } from '../../meshid/v1/AgentSVIDResponse.js';
import type { AttestAgentRequest as _meshid_v1_AttestAgentRequest, AttestAgentRequest__Output as _meshid_v1_AttestAgentRequest__Output } from '../../meshid/v1/AttestAgentRequest.js';
import type { JWTSVID as _meshid_v1_JWTSVID, JWTSVID__Output as _meshid_v1_JWTSVID__Output } from '../../meshid/v1/JWTSVID.js';
import type { JWTSVIDRequest as _meshid_v1_JWTSVIDRequest, JWTSVIDRequest__Output as _meshid_v1_JWTSVIDRequest__Output } from '../../meshid/v1/JWTSVIDRequest.js';
import type { ListAgentEntriesRequest as _meshid_v1_ListAgentEntriesRequest, ListAgentEntriesRequest__Output as _meshid_v1_ListAgentEntriesRequest__Output } from '../../meshid/v1/ListAgentEntriesRequest.js';
import type { ListAgentEntriesResponse as _meshid_v1_ListAgentEntriesResponse, ListAgentEntriesResponse__Output as _meshid_v1_ListAgentEntriesResponse__Output } from '../../meshid/v1/ListAgentEntriesResponse.js';
import type { MintWorkloadSVIDsRequest as _meshid_v1_MintWorkloadSVIDsRequest, MintWorkloadSVIDsRequest__Output as _meshid_v1_MintWorkloadSVIDsRequest__Output } from '../../meshid/v1/MintWorkloadSVIDsRequest.js';
import type { MintWorkloadSVIDsResponse as _meshid_v1_MintWorkloadSVIDsResponse, MintWorkloadSVIDsResponse__Output as _meshid_v1_MintWorkloadSVIDsResponse__Output } from '../../meshid/v1/MintWorkloadSVIDsResponse.js';
import type { PolicySet as _meshid_v1_PolicySet, PolicySet__Output as _meshid_v1_PolicySet__Output } from '../../meshid/v1/PolicySet.js';
import type { RenewAgentRequest as _meshid_v1_RenewAgentRequest, RenewAgentRequest__Output as _meshid_v1_RenewAgentRequest__Output } from '../../meshid/v1/RenewAgentRequest.js';
import type { ReportBundleRequest as _meshid_v1_ReportBundleRequest, ReportBundleRequest__Output as _meshid_v1_ReportBundleRequest__Output } from '../../meshid/v1/ReportBundleRequest.js';
import type { ReportBundleResponse as _meshid_v1_ReportBundleResponse, ReportBundleResponse__Output as _meshid_v1_ReportBundleResponse__Output } from '../../meshid/v1/ReportBundleResponse.js';
import type { TrustBundle as _meshid_v1_TrustBundle, TrustBundle__Output as _meshid_v1_TrustBundle__Output } from '../../meshid/v1/TrustBundle.js';
import type { WatchBundleRequest as _meshid_v1_WatchBundleRequest, WatchBundleRequest__Output as _meshid_v1_WatchBundleRequest__Output } from '../../meshid/v1/WatchBundleRequest.js';
import type { WatchPoliciesRequest as _meshid_v1_WatchPoliciesRequest, WatchPoliciesRequest__Output as _meshid_v1_WatchPoliciesRequest__Output } from '../../meshid/v1/WatchPoliciesRequest.js';

export interface NodeAgentServiceClient extends grpc.Client {
  AttestAgent(argument: _meshid_v1_AttestAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  AttestAgent(argument: _meshid_v1_AttestAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  AttestAgent(argument: _meshid_v1_AttestAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  AttestAgent(argument: _meshid_v1_AttestAgentRequest, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  attestAgent(argument: _meshid_v1_AttestAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  attestAgent(argument: _meshid_v1_AttestAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  attestAgent(argument: _meshid_v1_AttestAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  attestAgent(argument: _meshid_v1_AttestAgentRequest, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  
  ListAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  ListAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  ListAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  ListAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  listAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  listAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  listAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  listAgentEntries(argument: _meshid_v1_ListAgentEntriesRequest, callback: grpc.requestCallback<_meshid_v1_ListAgentEntriesResponse__Output>): grpc.ClientUnaryCall;
  
  MintJWTSVID(argument: _meshid_v1_JWTSVIDRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  MintJWTSVID(argument: _meshid_v1_JWTSVIDRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  MintJWTSVID(argument: _meshid_v1_JWTSVIDRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  MintJWTSVID(argument: _meshid_v1_JWTSVIDRequest, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  mintJwtsvid(argument: _meshid_v1_JWTSVIDRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  mintJwtsvid(argument: _meshid_v1_JWTSVIDRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  mintJwtsvid(argument: _meshid_v1_JWTSVIDRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  mintJwtsvid(argument: _meshid_v1_JWTSVIDRequest, callback: grpc.requestCallback<_meshid_v1_JWTSVID__Output>): grpc.ClientUnaryCall;
  
  MintWorkloadSVIDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  MintWorkloadSVIDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  MintWorkloadSVIDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  MintWorkloadSVIDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  mintWorkloadSviDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  mintWorkloadSviDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  mintWorkloadSviDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  mintWorkloadSviDs(argument: _meshid_v1_MintWorkloadSVIDsRequest, callback: grpc.requestCallback<_meshid_v1_MintWorkloadSVIDsResponse__Output>): grpc.ClientUnaryCall;
  
  RenewAgent(argument: _meshid_v1_RenewAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  RenewAgent(argument: _meshid_v1_RenewAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  RenewAgent(argument: _meshid_v1_RenewAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  RenewAgent(argument: _meshid_v1_RenewAgentRequest, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  renewAgent(argument: _meshid_v1_RenewAgentRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  renewAgent(argument: _meshid_v1_RenewAgentRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  renewAgent(argument: _meshid_v1_RenewAgentRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  renewAgent(argument: _meshid_v1_RenewAgentRequest, callback: grpc.requestCallback<_meshid_v1_AgentSVIDResponse__Output>): grpc.ClientUnaryCall;
  
  ReportBundle(argument: _meshid_v1_ReportBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  ReportBundle(argument: _meshid_v1_ReportBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  ReportBundle(argument: _meshid_v1_ReportBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  ReportBundle(argument: _meshid_v1_ReportBundleRequest, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  reportBundle(argument: _meshid_v1_ReportBundleRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  reportBundle(argument: _meshid_v1_ReportBundleRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  reportBundle(argument: _meshid_v1_ReportBundleRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  reportBundle(argument: _meshid_v1_ReportBundleRequest, callback: grpc.requestCallback<_meshid_v1_ReportBundleResponse__Output>): grpc.ClientUnaryCall;
  
  WatchBundle(argument: _meshid_v1_WatchBundleRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_TrustBundle__Output>;
  WatchBundle(argument: _meshid_v1_WatchBundleRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_TrustBundle__Output>;
  watchBundle(argument: _meshid_v1_WatchBundleRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_TrustBundle__Output>;
  watchBundle(argument: _meshid_v1_WatchBundleRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_TrustBundle__Output>;
  
  WatchPolicies(argument: _meshid_v1_WatchPoliciesRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_PolicySet__Output>;
  WatchPolicies(argument: _meshid_v1_WatchPoliciesRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_PolicySet__Output>;
  watchPolicies(argument: _meshid_v1_WatchPoliciesRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_PolicySet__Output>;
  watchPolicies(argument: _meshid_v1_WatchPoliciesRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_meshid_v1_PolicySet__Output>;
  
}

export interface NodeAgentServiceHandlers extends grpc.UntypedServiceImplementation {
  AttestAgent: grpc.handleUnaryCall<_meshid_v1_AttestAgentRequest__Output, _meshid_v1_AgentSVIDResponse>;
  
  ListAgentEntries: grpc.handleUnaryCall<_meshid_v1_ListAgentEntriesRequest__Output, _meshid_v1_ListAgentEntriesResponse>;
  
  MintJWTSVID: grpc.handleUnaryCall<_meshid_v1_JWTSVIDRequest__Output, _meshid_v1_JWTSVID>;
  
  MintWorkloadSVIDs: grpc.handleUnaryCall<_meshid_v1_MintWorkloadSVIDsRequest__Output, _meshid_v1_MintWorkloadSVIDsResponse>;
  
  RenewAgent: grpc.handleUnaryCall<_meshid_v1_RenewAgentRequest__Output, _meshid_v1_AgentSVIDResponse>;
  
  ReportBundle: grpc.handleUnaryCall<_meshid_v1_ReportBundleRequest__Output, _meshid_v1_ReportBundleResponse>;
  
  WatchBundle: grpc.handleServerStreamingCall<_meshid_v1_WatchBundleRequest__Output, _meshid_v1_TrustBundle>;
  
  WatchPolicies: grpc.handleServerStreamingCall<_meshid_v1_WatchPoliciesRequest__Output, _meshid_v1_PolicySet>;
  
}

export interface NodeAgentServiceDefinition extends grpc.ServiceDefinition {
  AttestAgent: MethodDefinition<_meshid_v1_AttestAgentRequest, _meshid_v1_AgentSVIDResponse, _meshid_v1_AttestAgentRequest__Output, _meshid_v1_AgentSVIDResponse__Output>
  ListAgentEntries: MethodDefinition<_meshid_v1_ListAgentEntriesRequest, _meshid_v1_ListAgentEntriesResponse, _meshid_v1_ListAgentEntriesRequest__Output, _meshid_v1_ListAgentEntriesResponse__Output>
  MintJWTSVID: MethodDefinition<_meshid_v1_JWTSVIDRequest, _meshid_v1_JWTSVID, _meshid_v1_JWTSVIDRequest__Output, _meshid_v1_JWTSVID__Output>
  MintWorkloadSVIDs: MethodDefinition<_meshid_v1_MintWorkloadSVIDsRequest, _meshid_v1_MintWorkloadSVIDsResponse, _meshid_v1_MintWorkloadSVIDsRequest__Output, _meshid_v1_MintWorkloadSVIDsResponse__Output>
  RenewAgent: MethodDefinition<_meshid_v1_RenewAgentRequest, _meshid_v1_AgentSVIDResponse, _meshid_v1_RenewAgentRequest__Output, _meshid_v1_AgentSVIDResponse__Output>
  ReportBundle: MethodDefinition<_meshid_v1_ReportBundleRequest, _meshid_v1_ReportBundleResponse, _meshid_v1_ReportBundleRequest__Output, _meshid_v1_ReportBundleResponse__Output>
  WatchBundle: MethodDefinition<_meshid_v1_WatchBundleRequest, _meshid_v1_TrustBundle, _meshid_v1_WatchBundleRequest__Output, _meshid_v1_TrustBundle__Output>
  WatchPolicies: MethodDefinition<_meshid_v1_WatchPoliciesRequest, _meshid_v1_PolicySet, _meshid_v1_WatchPoliciesRequest__Output, _meshid_v1_PolicySet__Output>
}
