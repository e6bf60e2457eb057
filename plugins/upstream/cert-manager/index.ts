import type { UpstreamPlugin } from '../../api/upstream-authority.js';
import { readCertManagerSettings, type CertManagerSettings } from './config.js';
import { CertManagerAuthority } from './cert-manager-authority.js';

/** `ca.upstream.type: cert-manager`: a cert-manager issuer signs meshid's signing CA (CertificateRequest). */
export const certManagerUpstream: UpstreamPlugin<CertManagerSettings> = {
  type: 'cert-manager',
  readSettings: readCertManagerSettings,
  create: (settings, { trustDomain, log, registry }) => new CertManagerAuthority({ ...settings, trustDomain }, { log, registry }),
};
