import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { invalidArgument, MeshidError, permissionDenied, unauthenticated } from '../core/errors.js';
import type { BundleWatcher } from './bundle-watcher.js';
import type { CaClient } from './ca-client.js';
import type { AgentMode } from './config.js';
import type { AgentEntries } from './entries.js';
import type {
  IdentitySource,
  JwtSvidMaterial,
  TrustBundleMaterial,
  WorkloadCaller,
  X509SvidMaterial,
} from './identity-source.js';
import type { JwtSvidCache } from './jwt-svid-cache.js';
import type { SvidCache, WorkloadIdentity } from './svid-cache.js';

export interface AgentIdentitySourceOptions {
  mode: AgentMode;
  svids: SvidCache;
  bundles: BundleWatcher;
  /** VM mode only. */
  entries: AgentEntries | undefined;
  ca: Pick<CaClient, 'mintJwtSvid'>;
  jwts: JwtSvidCache;
  log: Logger;
}

/** A caller's identity as the agent asks the CA for it, with the SPIFFE ID when known beforehand (VM entries). */
type CallerIdentity = WorkloadIdentity & { spiffeId?: string };

/**
 * The IdentitySource the workload-facing servers use. VM mode: a unix caller gets the identities of the
 * registration entries parented to this agent whose selectors all match its kernel-vouched selectors (the
 * first entry in the CA's order is the default). Kubernetes mode: a caller presents its pod's
 * service-account token; the CA decides whose it is and refuses pods on other nodes.
 */
export class AgentIdentitySource implements IdentitySource {
  constructor(private readonly options: AgentIdentitySourceOptions) {}

  async x509Svids(caller: WorkloadCaller): Promise<X509SvidMaterial[]> {
    return this.options.svids.get(this.identitiesOf(caller));
  }

  watchX509Svids(caller: WorkloadCaller, listener: (svids: X509SvidMaterial[]) => void): () => void {
    const { svids, entries, log } = this.options;
    let current: CallerIdentity[] = [];
    const subscriptions = new Map<string, () => void>();
    let closed = false;

    const emit = () => {
      if (closed) return;
      listener(current.map((id) => svids.peek(id.key)).filter((svid): svid is X509SvidMaterial => svid !== undefined));
    };
    const follow = (next: CallerIdentity[]) => {
      const keys = new Set(next.map((id) => id.key));
      for (const [key, unsubscribe] of subscriptions) {
        if (!keys.has(key)) {
          unsubscribe();
          subscriptions.delete(key);
        }
      }
      current = next;
      for (const id of next) if (!subscriptions.has(id.key)) subscriptions.set(id.key, svids.watch(id, emit));
    };
    const identitiesOrNone = () => {
      try {
        return this.identitiesOf(caller);
      } catch {
        return [];
      }
    };

    follow(identitiesOrNone());
    // VM: entries added, removed or changed alter which identities this caller has.
    const onEntries = () => {
      const next = identitiesOrNone();
      if (sameKeys(next, current)) return;
      follow(next);
      if (next.length === 0) emit();
      else svids.get(next).then(emit, (err: unknown) => log.warn({ error: (err as Error).message }, 'cannot fetch SVIDs for changed registration entries'));
    };
    entries?.on('change', onEntries);
    return () => {
      closed = true;
      entries?.off('change', onEntries);
      for (const unsubscribe of subscriptions.values()) unsubscribe();
      subscriptions.clear();
    };
  }

  bundles(): ReadonlyMap<string, TrustBundleMaterial> {
    const own = this.options.bundles.current();
    return new Map(own ? [[own.trustDomainId, own]] : []);
  }

  ownBundle(): TrustBundleMaterial {
    const own = this.options.bundles.current();
    if (!own) throw new MeshidError('UNAVAILABLE', 'the node agent has no trust bundle yet (it is attesting to the CA)', 'no_bundle');
    return own;
  }

  watchBundles(listener: () => void): () => void {
    this.options.bundles.on('change', listener);
    return () => this.options.bundles.off('change', listener);
  }

  async jwtSvids(caller: WorkloadCaller, audience: string[], spiffeId?: string): Promise<JwtSvidMaterial[]> {
    if (audience.length === 0 || audience.some((a) => a === '')) throw invalidArgument('at least one non-empty audience is required', 'missing_audience');
    let identities = this.identitiesOf(caller);
    if (spiffeId && this.options.mode === 'vm') {
      identities = identities.filter((id) => id.spiffeId === spiffeId).slice(0, 1);
      if (identities.length === 0) throw permissionDenied(`the caller is not entitled to ${spiffeId}`, 'no_matching_identity');
    }
    const svids = await Promise.all(identities.map((id) => this.mintJwt(id, audience)));
    if (spiffeId && svids.every((svid) => svid.spiffeId !== spiffeId)) {
      throw permissionDenied(`the caller is not entitled to ${spiffeId}`, 'no_matching_identity');
    }
    return spiffeId ? svids.filter((svid) => svid.spiffeId === spiffeId) : svids;
  }

  private mintJwt(id: CallerIdentity, audience: string[]): Promise<JwtSvidMaterial> {
    return this.options.jwts.get(id.key, audience, async () => {
      const svid = await this.options.ca.mintJwtSvid({
        audience,
        ...('entryId' in id.workload ? { entry_id: id.workload.entryId } : { k8s_token: id.workload.k8sToken }),
      });
      return { spiffeId: svid.spiffe_id, token: svid.token, expiresAt: new Date(svid.expires_at * 1000) };
    });
  }

  /** The identities a caller is entitled to ask for, default first; throws when it has none. */
  private identitiesOf(caller: WorkloadCaller): CallerIdentity[] {
    if (this.options.mode === 'k8s') {
      if (caller.kind !== 'k8s-token') {
        throw permissionDenied('this agent runs in Kubernetes mode: present the pod\'s service-account token', 'token_required');
      }
      if (!caller.token) throw unauthenticated('no service-account token presented', 'missing_token');
      const key = `k8s:${createHash('sha256').update(caller.token).digest('hex')}`;
      return [{ key, workload: { k8sToken: caller.token } }];
    }
    if (caller.kind !== 'unix') {
      throw permissionDenied('this agent runs in VM mode and identifies callers by their Unix socket, not by tokens', 'unix_caller_required');
    }
    const entries = this.options.entries!;
    if (!entries.loaded) {
      throw new MeshidError('UNAVAILABLE', 'the node agent has not loaded its registration entries from the CA yet', 'entries_not_loaded');
    }
    const matched = entries.match(caller.selectors);
    if (matched.length === 0) {
      throw permissionDenied(
        `no registration entry parented to this agent matches the caller (${caller.selectors.join(', ') || 'no selectors'})`,
        'no_matching_entry',
      );
    }
    return matched.map((entry) => ({ key: entry.id, spiffeId: entry.spiffeId, workload: { entryId: entry.id } }));
  }
}

function sameKeys(a: readonly CallerIdentity[], b: readonly CallerIdentity[]): boolean {
  return a.length === b.length && a.every((id, i) => id.key === b[i]!.key);
}
