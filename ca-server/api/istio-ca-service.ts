import type { Logger } from 'pino';
import type { AuditLog } from '../../core/audit.js';
import { invalidArgument, permissionDenied } from '../../core/errors.js';
import { resultLabel } from '../../core/grpc-errors.js';
import { derToPem } from '../../core/x509/pem.js';
import type { IstioCertificateServiceHandlers } from '../../protos/gen/istio/v1/auth/IstioCertificateService.js';
import type { CallerAttestation } from '../attestation/caller.js';
import type { X509SvidIssuer } from '../issuance/x509-svid-issuer.js';
import type { CallLimits } from '../limits/call-limits.js';
import type { CaMetrics } from '../metrics.js';
import { callerCredentials } from './credentials.js';
import { auditRefusals, unary } from './handler.js';

export interface IstioCaServiceDeps {
  attestation: CallerAttestation;
  issuer: X509SvidIssuer;
  /** PEM of every trust anchor, concatenated: the last element of cert_chain. */
  rootBundlePem: () => string;
  audit: AuditLog;
  /** Per-caller rate limits: refused tokens per source address, signing per identity. */
  limits: CallLimits;
  metrics: CaMetrics;
  log: Logger;
}

/**
 * istio.v1.auth.IstioCertificateService, wire-compatible with istio-agent: authenticate (Bearer token or
 * current SVID), sign for the attested identity only, answer leaf first with the root bundle last.
 */
export function istioCaService(deps: IstioCaServiceDeps): IstioCertificateServiceHandlers {
  const { log, metrics } = deps;
  return {
    CreateCertificate: unary(log, 'CreateCertificate', async (request, call) => {
      try {
        const credentials = callerCredentials(call);
        const attest = () => deps.attestation.attestWorkload(credentials);
        const identity = await (credentials.bearerToken === undefined ? attest() : deps.limits.attestingWithToken(call.getPeer(), attest));
        if (request.metadata?.fields?.ImpersonatedIdentity) {
          throw permissionDenied(
            'ImpersonatedIdentity is not accepted here: node agents request workload SVIDs through meshid.v1.NodeAgentService',
            'impersonation',
            identity.spiffeId.toString(),
          );
        }
        if (request.validity_duration < 0) throw invalidArgument('validity_duration must not be negative');
        await deps.limits.signingForIdentity(identity.spiffeId.toString());
        const svid = await deps.issuer.issue({
          csrPem: request.csr,
          spiffeId: identity.spiffeId,
          ttlSeconds: request.validity_duration,
          ttlCapSeconds: identity.ttlCapSeconds,
          dnsNames: identity.dnsNames,
        });
        metrics.csrs.inc({ api: 'istio', result: 'issued' });
        log.info({ spiffeId: svid.spiffeId, serial: svid.serialHex, notAfter: svid.notAfter, attestor: identity.attestor }, 'issued workload SVID');
        return { cert_chain: [derToPem(svid.chainDer[0]!), ...svid.signingChainPem, deps.rootBundlePem()] };
      } catch (err) {
        metrics.csrs.inc({ api: 'istio', result: resultLabel(err) });
        throw err;
      }
    }, auditRefusals(deps.audit, 'istio.v1.auth.IstioCertificateService')),
  };
}
