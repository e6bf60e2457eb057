import type { Metadata } from '@grpc/grpc-js';
import { parseBearer } from '../../core/bearer.js';
import { unauthenticated } from '../../core/errors.js';
import type { CallerCredentials } from '../attestation/caller.js';

interface CallWithPeer {
  metadata: Metadata;
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } };
}

/** What a caller presented: a Bearer token in `authorization` metadata and/or a TLS client certificate. */
export function callerCredentials(call: CallWithPeer): CallerCredentials {
  const header = call.metadata.get('authorization')[0];
  let bearerToken: string | undefined;
  if (header !== undefined) {
    bearerToken = typeof header === 'string' ? parseBearer(header) : undefined;
    if (bearerToken === undefined) throw unauthenticated('authorization metadata must be "Bearer <token>"', 'malformed_authorization');
  }
  return { bearerToken, peerCertificateDer: call.getAuthContext().sslPeerCertificate?.raw };
}
