/**
 * Keeps the bundle ConfigMap of every target namespace holding the current trust bundle. A namespace gets
 * a write when it becomes a target, when the bundle changes, and when its ConfigMap is seen not to hold
 * what was last written (someone edited or deleted it). Writes run a few at a time; a failed one is retried
 * for that namespace alone, with its own backoff, for as long as the namespace is a target.
 */
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../../core/backoff.js';
import { describeKubeError } from '../../core/kubernetes/api-error.js';
import type { BundleConfigMaps } from './bundle-configmap.js';
import type { ConfigMapObserver } from './configmap-watch.js';
import type { NamespaceTargets } from './namespace-watch.js';

/** Why a namespace is written: it became a target, the bundle changed, or its ConfigMap lost the bundle. */
type WriteReason = 'namespace' | 'bundle' | 'drift';
export type WriteResult = 'applied' | 'failed';

export interface BundlePublisherOptions {
  configMaps: Pick<BundleConfigMaps, 'apply' | 'holds' | 'name'>;
  log: Logger;
  onWrite(result: WriteResult): void;
  /** Per-namespace retry delays; default 1 s doubling to 30 s, jittered. */
  backoff?: BackoffOptions;
}

export interface PublicationStatus {
  /** Namespaces published into. */
  namespaces: number;
  /** Of those, the ones whose ConfigMap is not known to hold the current bundle (being written, or failing). */
  stale: number;
}

/** Enough to fill thousands of namespaces in seconds without a burst the API server's fairness has to push back. */
const MAX_CONCURRENT_WRITES = 8;

interface Target {
  /** The PEM last written successfully. Invariant: while it is not the current one, a write is due, running or waiting to retry. */
  written?: string;
  due?: WriteReason;
  writing: boolean;
  retryTimer?: NodeJS.Timeout;
  backoff: Backoff;
}

export class BundlePublisher implements NamespaceTargets {
  private readonly targets = new Map<string, Target>();
  /** Namespaces with a write due that is neither running nor waiting for a retry, in arrival order. */
  private readonly queue = new Set<string>();
  private readonly writes = new Set<Promise<void>>();
  private readonly stop = new AbortController();

  constructor(
    private pem: string,
    private readonly options: BundlePublisherOptions,
  ) {}

  /** A new bundle for every namespace; false when it is the one already published. */
  setBundle(pem: string): boolean {
    if (pem === this.pem) return false;
    this.pem = pem;
    for (const name of this.targets.keys()) this.markDue(name, 'bundle');
    return true;
  }

  setNamespaces(names: readonly string[]): void {
    const keep = new Set(names);
    for (const name of this.targets.keys()) if (!keep.has(name)) this.removeNamespace(name);
    for (const name of keep) this.addNamespace(name);
  }

  addNamespace(name: string): void {
    if (this.targets.has(name) || this.stop.signal.aborted) return;
    this.targets.set(name, { writing: false, backoff: new Backoff(this.options.backoff ?? { initialMs: 1000, maxMs: 30_000 }) });
    this.markDue(name, 'namespace');
  }

  removeNamespace(name: string): void {
    clearTimeout(this.targets.get(name)?.retryTimer);
    this.targets.delete(name);
    this.queue.delete(name);
  }

  readonly observed: ConfigMapObserver = (configMaps, scope) => {
    const byNamespace = new Map(configMaps.map((configMap) => [configMap.metadata?.namespace, configMap]));
    const names = scope === undefined ? [...this.targets.keys()] : this.targets.has(scope) ? [scope] : [];
    for (const name of names) {
      // Not yet holding the current bundle: the write that will is already due, running or waiting.
      if (this.targets.get(name)!.written !== this.pem) continue;
      if (!this.options.configMaps.holds(byNamespace.get(name), this.pem)) this.markDue(name, 'drift');
    }
  };

  status(): PublicationStatus {
    let stale = 0;
    for (const target of this.targets.values()) if (target.written !== this.pem) stale++;
    return { namespaces: this.targets.size, stale };
  }

  /** Starts no write after this; aborts the running ones and resolves once they have settled. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const target of this.targets.values()) clearTimeout(target.retryTimer);
    this.targets.clear();
    this.queue.clear();
    await Promise.allSettled([...this.writes]);
  }

  private markDue(name: string, reason: WriteReason): void {
    const target = this.targets.get(name);
    if (!target) return;
    target.due ??= reason;
    if (!target.writing && !target.retryTimer) this.queue.add(name);
    this.pump();
  }

  private pump(): void {
    for (const name of this.queue) {
      if (this.writes.size >= MAX_CONCURRENT_WRITES || this.stop.signal.aborted) return;
      this.queue.delete(name);
      const target = this.targets.get(name);
      if (target) this.start(name, target);
    }
  }

  private start(name: string, target: Target): void {
    const reason = target.due!;
    target.due = undefined;
    target.writing = true;
    const write = this.write(name, target, reason).finally(() => {
      this.writes.delete(write);
      target.writing = false;
      if (target.due && !target.retryTimer && this.targets.get(name) === target) this.queue.add(name);
      this.pump();
    });
    this.writes.add(write);
  }

  private async write(name: string, target: Target, reason: WriteReason): Promise<void> {
    const { configMaps, log } = this.options;
    const pem = this.pem;
    const context = { namespace: name, configMap: configMaps.name };
    try {
      await configMaps.apply(name, pem, this.stop.signal);
    } catch (err) {
      if (this.stop.signal.aborted) return;
      this.options.onWrite('failed');
      if (this.targets.get(name) !== target) return; // no longer a target: nothing to retry
      target.due ??= reason;
      const retryInMs = target.backoff.next();
      target.retryTimer = setTimeout(() => {
        target.retryTimer = undefined;
        this.markDue(name, target.due ?? reason);
      }, retryInMs);
      // Warned once per run of failures (an outage would otherwise warn per namespace every 30 s); the
      // metrics count every failure, and the recovery is logged.
      const level = target.backoff.failures === 1 ? 'warn' : 'debug';
      log[level]({ ...context, err: describeKubeError(err), failures: target.backoff.failures, retryInMs }, 'writing the trust bundle ConfigMap failed; will retry');
      return;
    }
    this.options.onWrite('applied');
    target.written = pem;
    if (target.backoff.failures > 0) {
      log.info({ ...context, failures: target.backoff.failures }, 'trust bundle ConfigMap written after failed attempts');
    } else if (reason === 'drift') {
      log.info(context, 'trust bundle ConfigMap restored: it no longer held the current bundle (edited or deleted)');
    } else {
      log.debug({ ...context, reason }, 'trust bundle ConfigMap written');
    }
    target.backoff.reset();
  }
}
