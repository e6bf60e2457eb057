import { describe, expect, it } from 'vitest';
import { MeshidError, permissionDenied } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import type { Secret } from '../../protos/gen/envoy/extensions/transport_sockets/tls/v3/Secret.js';
import type { DiscoveryRequest__Output } from '../../protos/gen/envoy/service/discovery/v3/DiscoveryRequest.js';
import type { DiscoveryResponse } from '../../protos/gen/envoy/service/discovery/v3/DiscoveryResponse.js';
import { SdsMetrics } from './metrics.js';
import { SdsStream } from './sds-stream.js';
import { SECRET_TYPE_URL } from './secrets.js';

const request = (fields: Partial<DiscoveryRequest__Output> = {}): DiscoveryRequest__Output => ({
  version_info: '',
  node: null,
  resource_names: ['default'],
  type_url: SECRET_TYPE_URL,
  response_nonce: '',
  error_detail: null,
  ...fields,
});

/** A stream over a mutable secret "generation"; resolve() waits for `gate` when one is set. */
function harness() {
  const sent: DiscoveryResponse[] = [];
  const failures: unknown[] = [];
  const logs: string[] = [];
  const metrics = new SdsMetrics();
  const state = {
    generation: 1,
    error: undefined as unknown,
    gate: undefined as Promise<void> | undefined,
    resolves: 0,
  };
  const stream = new SdsStream({
    resolve: async (names) => {
      state.resolves++;
      if (state.gate) await state.gate;
      if (state.error) throw state.error;
      return names.map((name): Secret => ({ name, tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(`g${state.generation}`) } } }));
    },
    send: (response) => sent.push(response),
    fail: (err) => failures.push(err),
    log: createLogger({ name: 'test', level: 'debug', destination: { write: (line: string) => logs.push(line) } }),
    metrics,
  });
  const last = () => sent.at(-1)!;
  const ack = (fields: Partial<DiscoveryRequest__Output> = {}) =>
    stream.onRequest(request({ version_info: last().version_info!, response_nonce: last().nonce!, ...fields }));
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { stream, sent, failures, logs, metrics, state, last, ack, settle };
}

describe('SdsStream (xDS state of the world)', () => {
  it('answers the first request at once with a version, a nonce and the Secret type', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    expect(h.sent).toHaveLength(1);
    expect(h.last()).toMatchObject({ type_url: SECRET_TYPE_URL, nonce: '1', version_info: expect.stringMatching(/^[0-9a-f]{20}$/) });
    expect(h.last().resources).toEqual([expect.objectContaining({ '@type': SECRET_TYPE_URL, name: 'default' })]);
    expect(await h.metrics.pushes.get()).toMatchObject({ values: [{ labels: { kind: 'initial' }, value: 1 }] });
  });

  it('pushes a change after the ACK with a new version and nonce', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    const first = h.last();
    h.ack();
    h.state.generation = 2;
    h.stream.onChange();
    await h.settle();
    expect(h.sent).toHaveLength(2);
    expect(h.last().nonce).not.toBe(first.nonce);
    expect(h.last().version_info).not.toBe(first.version_info);
  });

  it('keeps at most one response unacknowledged and coalesces changes made meanwhile', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    for (const generation of [2, 3, 4]) {
      h.state.generation = generation;
      h.stream.onChange();
      await h.settle();
    }
    expect(h.sent).toHaveLength(1); // still waiting for the ACK
    h.ack();
    await h.settle();
    expect(h.sent).toHaveLength(2);
    expect(h.last().resources![0]).toMatchObject({ tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('g4') } } });
  });

  it('ignores a request carrying a stale nonce', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    h.ack();
    h.state.generation = 2;
    h.stream.onChange();
    await h.settle();
    h.state.generation = 3;
    h.stream.onChange();
    h.stream.onRequest(request({ response_nonce: '1' })); // answers the first response, not the one in flight
    await h.settle();
    expect(h.sent).toHaveLength(2);
    h.ack();
    await h.settle();
    expect(h.sent).toHaveLength(3);
  });

  it('logs and counts a NACK and never resends the rejected content', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    h.ack({ version_info: '', error_detail: { code: 3, message: 'bad certificate chain', details: [] } });
    await h.settle();
    expect(await h.metrics.nacks.get()).toMatchObject({ values: [{ value: 1 }] });
    expect(h.logs.join('')).toContain('bad certificate chain');

    h.stream.onChange(); // e.g. a bundle event that changes nothing for this stream
    await h.settle();
    expect(h.sent).toHaveLength(1);

    h.state.generation = 2; // new content (the next rotation) is sent
    h.stream.onChange();
    await h.settle();
    expect(h.sent).toHaveLength(2);
  });

  it('does not push content the client already has', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    h.ack();
    h.stream.onChange();
    await h.settle();
    expect(h.state.resolves).toBe(2);
    expect(h.sent).toHaveLength(1);
  });

  it('answers a changed subscription carried by an ACK', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    h.ack({ resource_names: ['default', 'ROOTCA'] });
    await h.settle();
    expect(h.sent).toHaveLength(2);
    expect(h.last().resources!.map((r) => (r as unknown as { name: string }).name)).toEqual(['default', 'ROOTCA']);
  });

  it('ends the stream when the first answer is refused', async () => {
    const h = harness();
    h.state.error = permissionDenied('no identity');
    h.stream.onRequest(request());
    await h.settle();
    expect(h.sent).toHaveLength(0);
    expect(h.failures).toEqual([h.state.error]);
  });

  it('keeps the stream (and the client its secrets) through a transient failure, then pushes again', async () => {
    const h = harness();
    h.stream.onRequest(request());
    await h.settle();
    h.ack();
    h.state.error = new MeshidError('UNAVAILABLE', 'CA unreachable');
    h.stream.onChange();
    await h.settle();
    expect(h.failures).toHaveLength(0);
    h.state.error = undefined;
    h.state.generation = 2;
    h.stream.onChange();
    await h.settle();
    expect(h.sent).toHaveLength(2);
  });

  it('sends nothing after close, even when a resolve was under way', async () => {
    const h = harness();
    let open!: () => void;
    h.state.gate = new Promise((resolve) => (open = resolve));
    h.stream.onRequest(request());
    h.stream.close();
    open();
    await h.settle();
    expect(h.sent).toHaveLength(0);
  });
});
