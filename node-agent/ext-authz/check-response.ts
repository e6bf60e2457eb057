import type { CheckResponse } from '../../protos/gen/envoy/service/auth/v3/CheckResponse.js';

/** Response header (to the downstream client) that says why a request was denied. */
export const REASON_HEADER = 'x-meshid-authz';

const OK = 0;
const PERMISSION_DENIED = 7;
const MAX_REASON = 200;

export function allowResponse(): CheckResponse {
  return { status: { code: OK, message: '' }, ok_response: {} };
}

/**
 * PERMISSION_DENIED with an HTTP 403 carrying the reason as a header and as the body. The reason names
 * policies and rules only (never request data), and is cut to printable ASCII so it is always a valid
 * header value.
 */
export function denyResponse(reason: string): CheckResponse {
  const safe = reason.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_REASON);
  return {
    status: { code: PERMISSION_DENIED, message: safe },
    denied_response: {
      status: { code: 'Forbidden' },
      headers: [{ header: { key: REASON_HEADER, value: safe }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
      body: `${safe}\n`,
    },
  };
}
