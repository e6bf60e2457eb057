// The agent's PolicyWatcher on a scripted stream: what it does with sets a CA of another version may send
// (unknown fields, broken JSON, duplicates), an unchanged set after a reconnect, and a damaged persisted file.
// The stream is a stand-in so the messages can be ones a correct CA of this version never sends.
import { EventEmitter, once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PolicyStore, type PolicyUpdate } from '../../core/policy/store.js';
import { toPolicyObject } from '../../core/policy/to-object.js';
import type { CaClient } from '../../node-agent/ca-client.js';
import { POLICY_FILE, PolicyWatcher } from '../../node-agent/policy-watcher.js';
import type { PolicySet__Output } from '../../protos/gen/meshid/v1/PolicySet.js';
import { policy, request } from '../policy/policy-fixtures.js';

/** The CaClient surface the watcher uses, with one scripted WatchPolicies stream. */
class ScriptedCa {
  readonly stream = Object.assign(new EventEmitter(), { cancel: () => undefined });
  asClient(): CaClient {
    return {
      hasIdentity: () => true,
      onChannelChange: () => () => undefined,
      watchPolicies: () => this.stream,
    } as unknown as CaClient;
  }
  send(policiesJson: string[], rootNamespace = 'istio-system'): void {
    const message: PolicySet__Output = { policies_json: policiesJson, version: 1, source: 'files', root_namespace: rootNamespace };
    this.stream.emit('data', message);
  }
}

const json = (p: ReturnType<typeof policy>) => JSON.stringify(toPolicyObject(p));
const allowFrontend = policy({ rules: [{ from: [{ source: { namespaces: ['frontend'] } }] }] }, { name: 'allow-frontend' });
const denyAll = policy({ action: 'DENY', rules: [{}] }, { name: 'deny-all' });
const WORKLOAD = { namespace: 'prod', labels: {} };

let dir: string;
let ca: ScriptedCa;
let store: PolicyStore;
let watcher: PolicyWatcher;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'meshid-policy-watcher-'));
  ca = new ScriptedCa();
  store = new PolicyStore();
  watcher = new PolicyWatcher({ ca: ca.asClient(), store, persistDir: dir, backoff: { initialMs: 10, maxMs: 10 }, log: pino({ level: 'silent' }) });
  watcher.start();
});

afterEach(async () => {
  watcher.close();
  await rm(dir, { recursive: true, force: true });
});

describe('PolicyWatcher', () => {
  it('enforces a valid set with the root namespace the CA names', async () => {
    const applied = once(watcher, 'applied') as Promise<[PolicyUpdate]>;
    ca.send([json(allowFrontend)], 'mesh-root');
    expect((await applied)[0]).toMatchObject({ version: 1, policies: 1, source: 'ca' });
    expect(store.current!.rootNamespace).toBe('mesh-root');
    expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: true, policy: 'prod/allow-frontend' });
  });

  it('rejects a set with anything invalid in it as a whole and keeps the last good set', async () => {
    ca.send([json(allowFrontend)]);
    const good = store.current;
    const unknownField = JSON.stringify({ ...toPolicyObject(denyAll), spec: { action: 'DENY', rules: [{}], targetRefs: [] } });
    const rejections: Error[] = [];
    watcher.on('rejected', (err) => rejections.push(err));
    ca.send([json(denyAll), unknownField]);
    ca.send([json(denyAll), '{"apiVersion":']);
    ca.send([json(denyAll), json(denyAll)]);
    expect(rejections.map((e) => e.message)).toEqual([
      'ca: prod/deny-all: spec.targetRefs: targetRefs (Gateway API attachment) is not supported by meshid; use selector',
      'ca: policies_json[1]: not valid JSON',
      'ca: prod/deny-all: metadata.name: duplicate policy (also defined in ca)',
    ]);
    expect(store.current).toBe(good);
    expect(store.evaluate(WORKLOAD, request())).toMatchObject({ allowed: true });
  });

  it('does not re-apply the set it already enforces (a reconnect sends it again)', async () => {
    const updates: PolicyUpdate[] = [];
    watcher.on('applied', (u) => updates.push(u));
    ca.send([json(allowFrontend)]);
    ca.send([json(allowFrontend)]);
    ca.send([json(allowFrontend), json(denyAll)]);
    expect(updates.map((u) => u.policies)).toEqual([1, 2]);
  });

  it('restores the persisted set on start, and ignores a damaged file (deny-all until the CA answers)', async () => {
    ca.send([json(denyAll)]);
    await watcher.persisted();
    expect(JSON.parse(await readFile(path.join(dir, POLICY_FILE), 'utf8'))).toMatchObject({ policies_json: [json(denyAll)], root_namespace: 'istio-system' });

    const restart = () => {
      const restored = new PolicyStore();
      return { restored, watcher: new PolicyWatcher({ ca: ca.asClient(), store: restored, persistDir: dir, backoff: { initialMs: 10, maxMs: 10 }, log: pino({ level: 'silent' }) }) };
    };
    const again = restart();
    await again.watcher.restore();
    expect(again.restored.evaluate(WORKLOAD, request())).toMatchObject({ allowed: false, policy: 'prod/deny-all' });

    await writeFile(path.join(dir, POLICY_FILE), '{"policies_json": ["{}"]}');
    const damaged = restart();
    await damaged.watcher.restore();
    expect(damaged.restored.current).toBeNull();
    expect(damaged.restored.evaluate(WORKLOAD, request()).reason).toBe('denied: no policy set loaded yet');
  });
});
