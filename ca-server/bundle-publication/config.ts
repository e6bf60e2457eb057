import { bool, ConfigError, list, rejectUnknownKeys, section, str } from '../../core/config-values.js';

/** `kubernetes.bundleConfigMap`: the trust bundle published into a ConfigMap per namespace (Istio's istio-ca-root-cert). */
export interface BundleConfigMapConfig {
  enabled: boolean;
  /** The ConfigMap's name in every target namespace. */
  name: string;
  /** The data key holding the PEM roots. */
  key: string;
  /** Empty: every namespace, new ones included; otherwise only these. */
  namespaces: string[];
}

export const BUNDLE_CONFIGMAP_DEFAULTS: BundleConfigMapConfig = {
  enabled: false,
  name: 'istio-ca-root-cert',
  key: 'root-cert.pem',
  namespaces: [],
};

// The API server's own rules (k8s.io/apimachinery/pkg/util/validation), so a bad value fails at start, not on every write.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/;
const MAX_LABEL = 63;
const MAX_SUBDOMAIN = 253;

function isDnsSubdomain(value: string): boolean {
  return value.length <= MAX_SUBDOMAIN && value.split('.').every((label) => label.length <= MAX_LABEL && DNS_LABEL.test(label));
}

export function readBundleConfigMap(key: string, value: unknown): BundleConfigMapConfig {
  const raw = section(key, value);
  rejectUnknownKeys(key, raw, ['enabled', 'name', 'key', 'namespaces']);
  const d = BUNDLE_CONFIGMAP_DEFAULTS;
  const name = str(`${key}.name`, raw.name ?? d.name);
  if (!isDnsSubdomain(name)) {
    throw new ConfigError(`${key}.name`, `expected a ConfigMap name (lower-case DNS subdomain, at most ${MAX_SUBDOMAIN} characters), got "${name}"`);
  }
  const dataKey = str(`${key}.key`, raw.key ?? d.key);
  if (dataKey.length > MAX_SUBDOMAIN || !CONFIGMAP_KEY.test(dataKey) || dataKey === '.' || dataKey.startsWith('..')) {
    throw new ConfigError(
      `${key}.key`,
      `expected a ConfigMap key (letters, digits, "-", "_" and ".", not "." or starting with "..", at most ${MAX_SUBDOMAIN} characters), got "${dataKey}"`,
    );
  }
  const namespaces = list(`${key}.namespaces`, raw.namespaces ?? d.namespaces);
  for (const [i, namespace] of namespaces.entries()) {
    if (namespace.length > MAX_LABEL || !DNS_LABEL.test(namespace)) {
      throw new ConfigError(`${key}.namespaces[${i}]`, `expected a namespace name (lower-case DNS label, at most ${MAX_LABEL} characters), got "${namespace}"`);
    }
    if (namespaces.indexOf(namespace) !== i) throw new ConfigError(`${key}.namespaces[${i}]`, `"${namespace}" is listed twice`);
  }
  return { enabled: bool(`${key}.enabled`, raw.enabled ?? d.enabled), name, key: dataKey, namespaces };
}
