/** How many published bundles are remembered; bundles change a few times a day at most. */
const HISTORY = 64;

/**
 * Which trust bundle each agent last reported applying (ReportBundle), checked against the bundles this
 * server published. Kept in memory: after a restart every agent reports again as soon as its WatchBundle
 * stream reconnects (the first message of every stream is acknowledged), so nothing needs persisting.
 */
export class BundleAcks {
  /** Sequence -> fingerprints of its X.509 roots, oldest first. */
  private readonly published = new Map<number, ReadonlySet<string>>();
  private readonly acknowledged = new Map<string, number>();
  private latest: number | undefined;

  /** Records a bundle this server now serves; sequences only grow. */
  publish(sequence: number, rootFingerprints: readonly string[]): void {
    this.published.set(sequence, new Set(rootFingerprints));
    this.latest = sequence;
    for (const old of this.published.keys()) {
      if (this.published.size <= HISTORY) break;
      this.published.delete(old);
    }
  }

  get currentSequence(): number | undefined {
    return this.latest;
  }

  /**
   * Records that `agentId` applied bundle `sequence`. Returns false (and records nothing) for a sequence this
   * server did not publish, e.g. one a previous run of the server sent; an older one than already reported
   * changes nothing.
   */
  acknowledge(agentId: string, sequence: number): boolean {
    if (!this.published.has(sequence)) return false;
    const previous = this.acknowledged.get(agentId);
    if (previous === undefined || sequence > previous) this.acknowledged.set(agentId, sequence);
    return true;
  }

  /** Whether the agent's last reported bundle is the current one. */
  isCurrent(agentId: string): boolean {
    return this.latest !== undefined && this.acknowledged.get(agentId) === this.latest;
  }

  /** Whether the agent's last reported bundle holds the root with this fingerprint. */
  trusts(agentId: string, rootFingerprint: string): boolean {
    const sequence = this.acknowledged.get(agentId);
    return sequence !== undefined && (this.published.get(sequence)?.has(rootFingerprint) ?? false);
  }

  /** Forgets agents that are gone (evicted, expired), so the map stays bounded by the live fleet. */
  retain(agentIds: ReadonlySet<string>): void {
    for (const id of this.acknowledged.keys()) if (!agentIds.has(id)) this.acknowledged.delete(id);
  }
}
