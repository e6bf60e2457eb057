import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AgentEntry__Output } from '../protos/gen/meshid/v1/AgentEntry.js';
import type { CaClient } from './ca-client.js';
import { timer } from './timing.js';

/** A registration entry parented to this agent, as the CA lists it. */
export interface AgentEntry {
  id: string;
  spiffeId: string;
  selectors: string[];
  ttlSeconds: number;
  dnsNames: string[];
}

/**
 * Selectors a VM agent can vouch for: the caller's uid and gid, known from the socket it could reach (one
 * socket per selector set in a directory only that uid/gid can enter). Entries with any other selector never
 * match on a VM.
 */
const UNIX_SELECTOR = /^unix:(uid|gid):\d+$/;

/** An entry matches when it has selectors, all of them supported, and every one is among the caller's. */
export function entryMatches(entry: Pick<AgentEntry, 'selectors'>, callerSelectors: ReadonlySet<string>): boolean {
  return entry.selectors.length > 0 && entry.selectors.every((s) => UNIX_SELECTOR.test(s) && callerSelectors.has(s));
}

interface AgentEntriesEvents {
  /** The set of entries (or any entry's content) changed; `removed` are the IDs of entries now gone. */
  change: [removed: string[]];
}

/**
 * VM mode: the registration entries parented to this agent, polled from the CA at start (once the agent
 * has an SVID) and every `pollIntervalMs`. Keeps the last list through CA outages. Order is the CA's
 * (creation time, then ID); the first matching entry is a caller's default identity.
 */
export class AgentEntries extends EventEmitter<AgentEntriesEvents> {
  private entries: AgentEntry[] = [];
  private snapshot = '';
  private loadedOnce = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private failing = false;
  private closed = false;
  private readonly unsupportedWarned = new Set<string>();

  constructor(private readonly options: { ca: CaClient; pollIntervalMs: number; log: Logger }) {
    super();
    this.setMaxListeners(0); // one listener per open workload stream
  }

  /** True once the list has been fetched at least once. */
  get loaded(): boolean {
    return this.loadedOnce;
  }

  /** Entries whose selectors the caller's kernel-vouched selectors satisfy, in the CA's order. */
  match(callerSelectors: readonly string[]): AgentEntry[] {
    const set = new Set(callerSelectors);
    return this.entries.filter((entry) => entryMatches(entry, set));
  }

  /** Distinct selector sets of the usable entries (each sorted), for one workload socket per set. */
  selectorSets(): string[][] {
    const sets = new Map<string, string[]>();
    for (const entry of this.entries) {
      if (!entry.selectors.every((s) => UNIX_SELECTOR.test(s))) continue;
      const set = [...new Set(entry.selectors)].sort();
      sets.set(set.join('\n'), set);
    }
    return [...sets.values()].sort((a, b) => a.join('\n').localeCompare(b.join('\n')));
  }

  /** Polls now if the agent has an SVID, else as soon as it gets one; then every poll interval. */
  start(): void {
    if (this.options.ca.hasIdentity()) void this.poll();
    else {
      this.unsubscribe = this.options.ca.onChannelChange(() => {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
        void this.poll();
      });
    }
  }

  /** Fetches the list now. Rejects when the CA cannot answer. */
  async refresh(): Promise<void> {
    const listed = await this.options.ca.listAgentEntries();
    if (this.closed) return;
    this.loadedOnce = true;
    this.replace(listed.map(fromProto));
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    clearTimeout(this.pollTimer);
  }

  private async poll(): Promise<void> {
    clearTimeout(this.pollTimer);
    try {
      await this.refresh();
      if (this.failing) this.options.log.info({ entries: this.entries.length }, 'registration entries reloaded from the CA');
      this.failing = false;
    } catch (err) {
      if (!this.failing) {
        this.options.log.warn({ error: (err as Error).message }, 'cannot list registration entries; keeping the last list');
      }
      this.failing = true;
    }
    if (!this.closed) this.pollTimer = timer(this.options.pollIntervalMs, () => void this.poll());
  }

  private replace(entries: AgentEntry[]): void {
    const snapshot = JSON.stringify(entries);
    if (snapshot === this.snapshot) return;
    this.snapshot = snapshot;
    const kept = new Set(entries.map((e) => e.id));
    const removed = this.entries.filter((e) => !kept.has(e.id)).map((e) => e.id);
    this.entries = entries;
    for (const entry of entries) {
      const unsupported = entry.selectors.filter((s) => !UNIX_SELECTOR.test(s));
      if (unsupported.length > 0 && !this.unsupportedWarned.has(entry.id)) {
        this.unsupportedWarned.add(entry.id);
        this.options.log.warn(
          { entryId: entry.id, spiffeId: entry.spiffeId, unsupported },
          'registration entry has selectors a VM agent cannot vouch for (only unix:uid:N and unix:gid:N); it matches no workload',
        );
      }
    }
    this.options.log.info({ entries: entries.length, removed: removed.length }, 'registration entries changed');
    this.emit('change', removed);
  }
}

function fromProto(e: AgentEntry__Output): AgentEntry {
  return { id: e.id, spiffeId: e.spiffe_id, selectors: e.selectors, ttlSeconds: e.ttl_seconds, dnsNames: e.dns_names };
}
