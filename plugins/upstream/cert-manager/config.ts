import path from 'node:path';
import { ConfigError, durationSeconds, rejectUnknownKeys, str } from '../../../core/config-values.js';
import { TrustDomain } from '../../../core/spiffeid.js';
import { resolveTrustDomain, settingError } from '../shared/settings.js';

/** SPIRE's cert-manager plugin waits this long for an issuer before giving up. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 75_000;

/** What `ca.upstream` carries for `type: cert-manager`. */
export interface CertManagerSettings {
  /** Namespace the CertificateRequests are created in (and, for kind Issuer, where the issuer lives). */
  namespace: string;
  issuerName: string;
  /** Default "Issuer"; "ClusterIssuer" or an external issuer's kind. */
  issuerKind?: string;
  /** Default "cert-manager.io". */
  issuerGroup?: string;
  /** Kubeconfig file; empty or unset = the pod's service account. */
  kubeconfig?: string;
  /** How long to wait for the issuer; default 75 s. */
  timeoutMs?: number;
}

export interface CertManagerUpstreamConfig extends CertManagerSettings {
  trustDomain: TrustDomain | string;
}

export interface ResolvedCertManagerConfig {
  namespace: string;
  issuerRef: { name: string; kind: string; group: string };
  kubeconfig: string;
  timeoutMs: number;
  trustDomain: TrustDomain;
}

/** Reads `ca.upstream` settings for the cert-manager upstream; errors name the key under `prefix`. */
export function readCertManagerSettings(prefix: string, raw: Record<string, unknown>): CertManagerSettings {
  rejectUnknownKeys(prefix, raw, ['type', 'namespace', 'issuerName', 'issuerKind', 'issuerGroup', 'kubeconfig', 'timeout']);
  const optional = (key: string) => (raw[key] === undefined || raw[key] === '' ? undefined : str(`${prefix}.${key}`, raw[key]));
  const required = (key: string, why: string) => {
    const value = optional(key);
    if (value === undefined) throw new ConfigError(`${prefix}.${key}`, why);
    return value;
  };
  const kubeconfig = optional('kubeconfig');
  return {
    namespace: required('namespace', 'required for the cert-manager upstream: where CertificateRequests are created'),
    issuerName: required('issuerName', 'required for the cert-manager upstream: the issuer that signs meshid\'s CA'),
    issuerKind: optional('issuerKind'),
    issuerGroup: optional('issuerGroup'),
    kubeconfig: kubeconfig ? path.resolve(kubeconfig) : undefined,
    timeoutMs: raw.timeout === undefined ? undefined : durationSeconds(`${prefix}.timeout`, raw.timeout) * 1000,
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function resolveCertManagerConfig(config: CertManagerUpstreamConfig): ResolvedCertManagerConfig {
  const bad = settingError('cert-manager');
  const trustDomain = resolveTrustDomain(config.trustDomain, bad);
  if (!DNS_LABEL.test(config.namespace ?? '')) throw bad('namespace', `must be a Kubernetes namespace name, got "${config.namespace}"`);
  if (!config.issuerName) throw bad('issuerName', 'is required');
  const timeoutMs = config.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw bad('timeout', `must be greater than zero, got ${timeoutMs} ms`);
  return {
    namespace: config.namespace,
    issuerRef: { name: config.issuerName, kind: config.issuerKind || 'Issuer', group: config.issuerGroup || 'cert-manager.io' },
    kubeconfig: config.kubeconfig ?? '',
    timeoutMs,
    trustDomain,
  };
}
