import type { Metadata } from '@grpc/grpc-js';
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
    const m = typeof header === 'string' ? /^\s*bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw unauthenticated('authorization metadata must be "Bearer <token>"', 'malformed_authorization');
    bearerToken = m[1];
  }
  return { bearerToken, peerCertificateDer: call.getAuthContext().sslPeerCertificate?.raw };
}
