import { MeshidError } from '../../core/errors.js';
import type { DataStore } from '../datastore/datastore.js';
import type { BundleAcks } from './bundle-acks.js';
import type { AuthorityManager } from './manager.js';
import type { RootRotationView } from './root-rotator.js';

/** How many lagging agents a status or a refusal names. */
const NAMED_AGENTS = 20;

export interface RootRotationStatus extends RootRotationView {
  /** The bundle agents should hold now. */
  bundleSequence: number;
  agentsActive: number;
  agentsAcknowledged: number;
  /** Active agents that have not acknowledged bundleSequence (the first NAMED_AGENTS by SPIFFE ID). */
  agentsPending: string[];
}

/**
 * The operator's root rotation (admin API, `meshid ca rotate`): the authority manager's steps plus what only
 * the server knows, which agents have applied which bundle. Activation waits until every active agent (not
 * evicted, agent SVID not expired) reported a bundle holding the new root, unless forced.
 */
export class RootRotation {
  private readonly now: () => Date;

  constructor(
    private readonly deps: { authorities: AuthorityManager; acks: BundleAcks; store: DataStore; now?: () => Date },
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async status(): Promise<RootRotationStatus> {
    const agents = await this.activeAgents();
    const pending = agents.filter((id) => !this.deps.acks.isCurrent(id));
    return {
      ...this.deps.authorities.rootRotation(),
      bundleSequence: this.deps.acks.currentSequence ?? 0,
      agentsActive: agents.length,
      agentsAcknowledged: agents.length - pending.length,
      agentsPending: pending.slice(0, NAMED_AGENTS),
    };
  }

  /** Active agents still on another bundle than the current one (the stale-bundle gauge). */
  async staleAgents(): Promise<number> {
    return (await this.activeAgents()).filter((id) => !this.deps.acks.isCurrent(id)).length;
  }

  async prepare(): Promise<RootRotationStatus> {
    await this.deps.authorities.prepareRootRotation();
    return this.status();
  }

  async activate(options: { force?: boolean } = {}): Promise<RootRotationStatus> {
    const next = this.deps.authorities.rootRotation().nextRoot;
    if (next && !options.force) {
      const agents = await this.activeAgents();
      const lagging = agents.filter((id) => !this.deps.acks.trusts(id, next.fingerprint));
      if (lagging.length > 0) {
        const named = lagging.slice(0, NAMED_AGENTS).join(', ') + (lagging.length > NAMED_AGENTS ? ', ...' : '');
        throw new MeshidError(
          'FAILED_PRECONDITION',
          `${lagging.length} of ${agents.length} active agents have not acknowledged a trust bundle with the new root ${next.id} yet ` +
            `(${named}); wait for them (meshid ca rotate status), evict agents that are gone (meshid agent evict), or pass --force`,
          'bundle_not_propagated',
        );
      }
    }
    await this.deps.authorities.activateRootRotation(next ? { expectRootId: next.id } : {});
    return this.status();
  }

  async retire(options: { force?: boolean } = {}): Promise<RootRotationStatus> {
    await this.deps.authorities.retireRootRotation({ force: options.force });
    return this.status();
  }

  private async activeAgents(): Promise<string[]> {
    const now = this.now();
    const agents = (await this.deps.store.listAgents()).filter((a) => a.expiresAt > now).map((a) => a.spiffeId);
    this.deps.acks.retain(new Set(agents));
    return agents.sort();
  }
}
