/**
 * The composition root for plugins: the one place that names concrete plugins. Everything else in the CA
 * server sees only the contracts in plugins/api (lint rule: eslint.config.js). Adding a plugin is one entry
 * here; its folder exports a PluginDefinition.
 */
import { ConfigError, oneOf, section } from '../core/config-values.js';
import type { ServiceAccountTokenVerifier, TokenVerifierContext } from '../plugins/api/attestor.js';
import type { PluginDefinition } from '../plugins/api/plugin.js';
import type { UpstreamAuthority, UpstreamContext } from '../plugins/api/upstream-authority.js';
import type { JoinTokenStore } from '../plugins/api/join-token-store.js';
import type { TrustDomain } from '../core/spiffeid.js';
import { joinTokenAttestor, type JoinTokenSettings } from '../plugins/attestor/join-token/index.js';
import { jwtVerifier } from '../plugins/attestor/k8s-jwt/index.js';
import { tokenReviewVerifier } from '../plugins/attestor/k8s-tokenreview/index.js';
import { certManagerUpstream } from '../plugins/upstream/cert-manager/index.js';
import { filesUpstream } from '../plugins/upstream/files/index.js';
import { selfSignedUpstream } from '../plugins/upstream/self-signed/index.js';
import { vaultUpstream } from '../plugins/upstream/vault/index.js';


/** Any plugin of a kind; `create` is a method, so a plugin's own settings type is accepted (bivariance). */
type AnyPlugin<Context, Instance> = PluginDefinition<unknown, Context, Instance>;

/** Plugins of one kind by type. A plugin gets back exactly the settings its own readSettings produced. */
class Registry<Context, Instance> {
  private readonly byType: ReadonlyMap<string, AnyPlugin<Context, Instance>>;

  constructor(readonly kind: string, plugins: readonly AnyPlugin<Context, Instance>[]) {
    this.byType = new Map(plugins.map((p) => [p.type, p]));
  }

  get types(): string[] {
    return [...this.byType.keys()];
  }

  readSettings(key: string, type: string, raw: Record<string, unknown>): object {
    return this.plugin(type, key).readSettings(key, raw) as object;
  }

  create(type: string, settings: object, context: Context): Instance {
    return this.plugin(type).create(settings, context);
  }

  private plugin(type: string, key?: string): AnyPlugin<Context, Instance> {
    const plugin = this.byType.get(type);
    if (!plugin) throw new ConfigError(key ? `${key}.type` : this.kind, `unknown ${this.kind} "${type}"; one of ${this.types.join(', ')}`);
    return plugin;
  }
}

const upstreams = new Registry<UpstreamContext, UpstreamAuthority>('upstream authority', [
  selfSignedUpstream, filesUpstream, vaultUpstream, certManagerUpstream,
]);

const tokenVerifiers = new Registry<TokenVerifierContext, Promise<ServiceAccountTokenVerifier>>('token verifier', [
  tokenReviewVerifier, jwtVerifier,
]);

export const UPSTREAM_TYPES = upstreams.types;
export const TOKEN_VERIFIER_TYPES = tokenVerifiers.types;

/** `ca.upstream`: the plugin's type with its settings, e.g. `{ type: 'files', dir: '/etc/cacerts' }`. */
export type UpstreamSettings = { readonly type: string; readonly [setting: string]: unknown };

/**
 * Reads `ca.upstream`: the short form `self-signed` (or another type name), or a mapping `{ type, ...settings }`.
 * Errors are ConfigErrors naming the key, e.g. `ca.upstream.auth.roleId`.
 */
export function readUpstreamSettings(key: string, raw: unknown): UpstreamSettings {
  const settings = typeof raw === 'string' ? { type: raw } : section(key, raw);
  if (settings.type === undefined) throw new ConfigError(`${key}.type`, `required: one of ${UPSTREAM_TYPES.join(', ')}`);
  const type = oneOf(`${key}.type`, settings.type, UPSTREAM_TYPES);
  return { type, ...upstreams.readSettings(key, type, settings) };
}

/** Builds (does not start) the upstream authority the settings select. */
export function createUpstreamAuthority(settings: UpstreamSettings, context: UpstreamContext): UpstreamAuthority {
  return upstreams.create(settings.type, settings, context);
}

/** Reads the settings of the token verifier `mode` selects (kubernetes.*). */
export function readTokenVerifierSettings(key: string, mode: string, raw: Record<string, unknown>): object {
  return tokenVerifiers.readSettings(key, mode, raw);
}

/** The service-account token verifier for `mode`, built from its settings. */
export function createTokenVerifier(mode: string, settings: object, context: TokenVerifierContext): Promise<ServiceAccountTokenVerifier> {
  return tokenVerifiers.create(mode, settings, context);
}

export type { JoinTokenSettings };

/** `joinToken.*`: the VM node attestor's settings. */
export const readJoinTokenSettings = (key: string, raw: Record<string, unknown>): JoinTokenSettings => joinTokenAttestor.readSettings(key, raw);

/** The join-token node attestor over the datastore's join-token port. */
export const createJoinTokenAttestor = (settings: JoinTokenSettings, context: { store: JoinTokenStore; trustDomain: TrustDomain }) =>
  joinTokenAttestor.create(settings, context);
