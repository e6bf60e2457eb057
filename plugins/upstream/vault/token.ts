import { MeshidError } from '../../../core/errors.js';
import type { Logger } from '../../../core/log.js';
import type { FailureRecorder } from '../shared/failure-metrics.js';
import { readSecretFile, vaultFailure, type VaultClient } from './client.js';
import type { ResolvedVaultAuth } from './config.js';

/** A token closer than this to its expiry is replaced before use. */
const MIN_REMAINING_MS = 5_000;
const MIN_TIMER_MS = 500;
/** After a failed renewal of a token meshid cannot replace, try again this often (or sooner if it expires). */
const RENEWAL_RETRY_MS = 30_000;

interface Lease {
  /** Seconds; 0 = the token does not expire. */
  ttlSeconds: number;
  renewable: boolean;
}

/**
 * Keeps the client's Vault token usable: logs in (AppRole, Kubernetes) or adopts the configured token (reread
 * from tokenFile, which Vault Agent may rewrite), renews it with renew-self at 2/3 of its lease, and logs in
 * again when it can no longer be renewed or was revoked.
 */
export class VaultToken {
  private expiresAtMs: number | undefined;
  private initialTtlSeconds = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly client: VaultClient,
    private readonly auth: ResolvedVaultAuth,
    private readonly address: string,
    private readonly log: Logger,
    private readonly recordFailure: FailureRecorder,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a new token can be obtained without an operator (every method but an inline static token). */
  get canReauthenticate(): boolean {
    return this.auth.method !== 'token' || this.auth.tokenFile !== undefined;
  }

  /** Logs in or checks the configured token, then schedules its renewal. */
  async authenticate(): Promise<void> {
    const lease = await this.obtain();
    this.initialTtlSeconds = lease.ttlSeconds;
    this.adopt(lease);
  }

  /** Before each use: replaces a token that has expired or is about to, when the method allows. */
  async ensureValid(): Promise<void> {
    if (this.expiresAtMs === undefined && this.client.token) return;
    if (this.expiresAtMs !== undefined && this.expiresAtMs - this.now() > MIN_REMAINING_MS) return;
    if (!this.client.token || this.canReauthenticate) return this.authenticate();
    throw new MeshidError(
      'PERMISSION_DENIED',
      `vault upstream authority: the configured Vault token expired at ${new Date(this.expiresAtMs!).toISOString()} and could not ` +
        'be renewed; give meshid a renewable or periodic token (or use tokenFile, AppRole or Kubernetes auth)',
      'vault_token_expired',
    );
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async obtain(): Promise<Lease> {
    const auth = this.auth;
    try {
      if (auth.method === 'token') {
        this.client.token = auth.token ?? (await readSecretFile(auth.tokenFile!, 'Vault token'));
        const { data } = (await this.client.tokenLookupSelf()) as { data?: { ttl?: number; renewable?: boolean } };
        return { ttlSeconds: data?.ttl ?? 0, renewable: data?.renewable === true };
      }
      const answer =
        auth.method === 'approle'
          ? await this.client.approleLogin({
              role_id: auth.roleId,
              ...(auth.secretId || auth.secretIdFile
                ? { secret_id: auth.secretId ?? (await readSecretFile(auth.secretIdFile!, 'AppRole secret ID')) }
                : {}),
              mount_point: auth.mount,
            })
          : await this.client.kubernetesLogin({
              role: auth.role,
              jwt: await readSecretFile(auth.tokenFile, 'Kubernetes service-account token'),
              mount_point: auth.mount,
            });
      return leaseOf(answer);
    } catch (err) {
      if (err instanceof MeshidError) throw err;
      throw vaultFailure(err, describeLogin(auth), this.address, 'PERMISSION_DENIED');
    }
  }

  private adopt(lease: Lease): void {
    clearTimeout(this.timer);
    if (lease.ttlSeconds <= 0) {
      this.expiresAtMs = undefined;
      return;
    }
    this.expiresAtMs = this.now() + lease.ttlSeconds * 1000;
    if (lease.renewable || this.canReauthenticate) this.schedule((lease.ttlSeconds * 1000 * 2) / 3, lease.renewable);
  }

  private schedule(delayMs: number, renewable: boolean): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.refresh(renewable), Math.max(delayMs, MIN_TIMER_MS));
    this.timer.unref();
  }

  /** Renews the token; logs in again instead once renewal fails or no longer gives a useful lease (max TTL). */
  private async refresh(renewable: boolean): Promise<void> {
    try {
      if (renewable && (await this.renew())) return;
      await this.authenticate();
      this.log.info({ method: this.auth.method }, 'logged in to Vault again');
    } catch (err) {
      if (this.closed) return;
      this.recordFailure('token_renewal');
      const failure = err instanceof MeshidError ? err : vaultFailure(err, 'renewing the Vault token', this.address, 'PERMISSION_DENIED');
      this.log.warn({ err: failure }, 'renewing the Vault token failed; will retry');
      const left = (this.expiresAtMs ?? this.now()) - this.now();
      this.schedule(Math.min(RENEWAL_RETRY_MS, left / 2), renewable);
    }
  }

  /** renew-self; false when logging in again is the better move (and possible). */
  private async renew(): Promise<boolean> {
    let lease: Lease;
    try {
      lease = leaseOf(await this.client.tokenRenewSelf({}));
    } catch (err) {
      if (!this.canReauthenticate) throw err;
      this.log.warn({ err: vaultFailure(err, 'renewing the Vault token', this.address, 'PERMISSION_DENIED') }, 'Vault token renewal failed; logging in again');
      return false;
    }
    if (lease.ttlSeconds * 3 < this.initialTtlSeconds && this.canReauthenticate) return false;
    this.log.debug({ ttlSeconds: lease.ttlSeconds }, 'Vault token renewed');
    this.adopt(lease);
    return true;
  }
}

function leaseOf(answer: unknown): Lease {
  const auth = (answer as { auth?: { lease_duration?: number; renewable?: boolean } }).auth;
  return { ttlSeconds: auth?.lease_duration ?? 0, renewable: auth?.renewable === true };
}

function describeLogin(auth: ResolvedVaultAuth): string {
  if (auth.method === 'approle') return `AppRole login (auth/${auth.mount}/login)`;
  if (auth.method === 'kubernetes') return `Kubernetes login as role "${auth.role}" (auth/${auth.mount}/login)`;
  return 'checking the Vault token (auth/token/lookup-self)';
}
