import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AuthorizationPolicy } from '../core/policy/model.js';
import type { PolicyStore, PolicyUpdate } from '../core/policy/store.js';
import { PolicyValidationError, validatePolicy, type PolicyIssue } from '../core/policy/validate.js';
import { writeFileAtomic } from '../core/x509/key-file.js';
import type { PolicySet__Output } from '../protos/gen/meshid/v1/PolicySet.js';
import type { CaClient } from './ca-client.js';
import { CaStream } from './ca-stream.js';

/** VM mode: the last policy set the CA sent, as received (0600 in the agent's data dir). */
export const POLICY_FILE = 'policies.json';

export interface PolicyWatcherOptions {
  ca: CaClient;
  store: PolicyStore;
  /** VM mode: the last good set is kept here, so a restart during a CA outage still enforces it. */
  persistDir: string | undefined;
  backoff: { initialMs: number; maxMs: number };
  log: Logger;
  random?: () => number;
}

interface PolicyWatcherEvents {
  /** A set from the CA (or the persisted one) is now enforced. */
  applied: [update: PolicyUpdate];
  /** A set from the CA was invalid here; the last good set stays in force. */
  rejected: [error: Error];
  /** The stream from the CA broke (CA outage, agent SVID change); the last good set stays, and it is reopened. */
  disconnected: [error: Error];
}

/**
 * The agent's authorization policies from the CA's WatchPolicies stream. Every set is validated again
 * here and replaces the store's set as a whole, or not at all: an invalid set, a broken stream or a CA
 * outage leave the last good set in force. VM agents persist each applied set and restore it on start.
 */
export class PolicyWatcher extends EventEmitter<PolicyWatcherEvents> {
  private readonly stream: CaStream<PolicySet__Output>;
  /** What the enforced set was built from; an identical set (e.g. after a reconnect) is not applied again. */
  private appliedKey: string | undefined;
  private persisting = Promise.resolve();

  constructor(private readonly options: PolicyWatcherOptions) {
    super();
    this.stream = new CaStream({
      ca: options.ca,
      open: () => options.ca.watchPolicies(),
      onMessage: (message) => this.receive(message),
      onError: (err) => this.emit('disconnected', err),
      backoff: options.backoff,
      log: options.log,
      name: 'authorization policy stream',
      random: options.random,
    });
  }

  /** VM restart: enforces the set persisted by a previous run until the CA sends one. */
  async restore(): Promise<void> {
    if (!this.options.persistDir || this.options.store.current) return;
    const file = path.join(this.options.persistDir, POLICY_FILE);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return;
    try {
      const update = this.apply(JSON.parse(text) as PolicySet__Output, 'ca-persisted');
      if (update) this.options.log.info({ file, policies: update.policies }, 'enforcing the persisted authorization policies until the CA sends its set');
    } catch (err) {
      this.options.log.warn({ file, error: (err as Error).message }, 'ignoring the persisted authorization policies; waiting for the CA');
    }
  }

  start(): void {
    this.stream.start();
  }

  /** Stops following the CA; resolves once a policy file being written is complete. */
  close(): Promise<void> {
    this.stream.close();
    return this.persisting.catch(() => undefined);
  }

  /** Resolves once every applied set has been written to the data dir. */
  persisted(): Promise<void> {
    return this.persisting;
  }

  private receive(message: PolicySet__Output): void {
    let update: PolicyUpdate | undefined;
    try {
      update = this.apply(message, 'ca');
    } catch (err) {
      this.options.log.error(
        { error: (err as Error).message, caVersion: message.version },
        'authorization policies from the CA rejected; keeping the last good set',
      );
      this.emit('rejected', err as Error);
      return;
    }
    if (!update) return;
    this.options.log.info({ version: update.version, policies: update.policies, caVersion: message.version, caSource: message.source }, 'authorization policies updated from the CA');
    if (this.options.persistDir) this.persist(message);
    this.emit('applied', update);
  }

  /** Validates and swaps in `message`'s set; undefined when it is the set already enforced. */
  private apply(message: PolicySet__Output, source: string): PolicyUpdate | undefined {
    const key = JSON.stringify([message.root_namespace, message.policies_json]);
    if (key === this.appliedKey) return undefined;
    const update = this.options.store.replace(
      parsePolicies(message.policies_json),
      source,
      message.root_namespace ? { rootNamespace: message.root_namespace } : undefined,
    );
    this.appliedKey = key;
    return update;
  }

  /** One write after another, so a slow older write never lands after a newer one. */
  private persist(message: PolicySet__Output): void {
    const file = path.join(this.options.persistDir!, POLICY_FILE);
    const text = JSON.stringify({
      policies_json: message.policies_json,
      version: message.version,
      source: message.source,
      root_namespace: message.root_namespace,
    });
    this.persisting = this.persisting
      .then(() => writeFileAtomic(file, text, 0o600))
      .catch((err: unknown) => this.options.log.error({ err, file }, 'could not persist the authorization policies'));
  }
}

/** Every policy of a set, or PolicyValidationError with every issue (nothing of a bad set is used). */
function parsePolicies(documents: readonly string[]): AuthorizationPolicy[] {
  if (!Array.isArray(documents)) throw new PolicyValidationError([{ origin: 'ca', path: 'policies_json', message: 'expected a list' }]);
  const policies: AuthorizationPolicy[] = [];
  const issues: PolicyIssue[] = [];
  documents.forEach((json, i) => {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      issues.push({ origin: 'ca', path: `policies_json[${i}]`, message: 'not valid JSON' });
      return;
    }
    const result = validatePolicy(raw, { origin: 'ca', label: `policies_json[${i}]` });
    if ('policy' in result) policies.push(result.policy);
    else issues.push(...result.issues);
  });
  if (issues.length > 0) throw new PolicyValidationError(issues);
  return policies;
}
