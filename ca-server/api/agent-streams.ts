import type { MeshidError } from '../../core/errors.js';

interface OpenStream {
  serialHex: string;
  end: (err: MeshidError) => void;
}

/**
 * The open streams (WatchBundle, WatchPolicies) of each agent, by the serial of the SVID that opened them,
 * so an eviction, a ban or a newer SVID taking over ends them at once instead of at the next reconnect.
 */
export class AgentStreams {
  private readonly byAgent = new Map<string, Set<OpenStream>>();

  /** Registers a stream; returns its removal. */
  add(agentId: string, serialHex: string, end: (err: MeshidError) => void): () => void {
    let streams = this.byAgent.get(agentId);
    if (!streams) this.byAgent.set(agentId, (streams = new Set()));
    const stream = { serialHex, end };
    streams.add(stream);
    return () => {
      streams.delete(stream);
      if (streams.size === 0 && this.byAgent.get(agentId) === streams) this.byAgent.delete(agentId);
    };
  }

  /** Ends the agent's streams, except those opened with `keepSerialHex` (its current SVID). */
  end(agentId: string, err: MeshidError, keepSerialHex?: string): void {
    for (const stream of [...(this.byAgent.get(agentId) ?? [])]) {
      if (stream.serialHex !== keepSerialHex) stream.end(err);
    }
  }
}
