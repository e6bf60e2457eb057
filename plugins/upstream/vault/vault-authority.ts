import type { Registry } from 'prom-client';
import { MeshidError } from '../../../core/errors.js';
import { createLogger, type Logger } from '../../../core/log.js';
import { x509 } from '../../../core/x509/peculiar.js';
import { parseSigningCaCsr } from '../self-signed/csr.js';
import { upstreamFailureRecorder, type FailureRecorder } from '../shared/failure-metrics.js';
import { checkMintRequest } from '../shared/mint-request.js';
import { RootsNotifier } from '../shared/roots-notifier.js';
import type { MintX509CaRequest, MintX509CaResult, UpstreamAuthority } from '../../api/upstream-authority.js';
import { createVaultClient, vaultFailure, type VaultClient } from './client.js';
import { resolveVaultConfig, type ResolvedVaultConfig, type VaultUpstreamConfig } from './config.js';
import { chainFromSignResponse } from './sign-response.js';
import { VaultToken } from './token.js';

export interface VaultAuthorityDeps {
  log?: Logger;
  /** Counts failures in meshid_ca_upstream_failures_total{upstream="vault"}. */
  registry?: Registry;
}

interface Started {
  config: ResolvedVaultConfig;
  client: VaultClient;
  token: VaultToken;
}

/**
 * HashiCorp Vault or OpenBao as upstream: meshid keeps its signing key and has the CSR signed by
 * `<pkiMount>/root/sign-intermediate` (no role needed; the policy must allow `update` on that path), with the
 * trust domain ID as URI SAN and pathLen 0. A Vault that is down or refuses fails the mint with UNAVAILABLE or
 * PERMISSION_DENIED; the authority manager keeps signing with the current CA and retries.
 */
export class VaultAuthority implements UpstreamAuthority {
  readonly name = 'vault';
  private readonly roots: RootsNotifier;
  private readonly log: Logger;
  private readonly recordFailure: FailureRecorder;
  private state: Started | undefined;

  constructor(
    private readonly rawConfig: VaultUpstreamConfig,
    deps: VaultAuthorityDeps = {},
  ) {
    this.log = (deps.log ?? createLogger({ name: 'meshid' })).child({ upstream: this.name });
    this.recordFailure = upstreamFailureRecorder(this.name, deps.registry);
    this.roots = new RootsNotifier(this.log);
  }

  /**
   * Checks the settings and authenticates. Refused credentials fail the start; an unreachable Vault does not
   * (a restart during an outage keeps serving with the current signing CA), the next mint logs in again.
   */
  async start(): Promise<void> {
    const config = await resolveVaultConfig(this.rawConfig);
    const client = createVaultClient(config);
    const token = new VaultToken(client, config.auth, config.address, this.log, this.recordFailure);
    try {
      await token.authenticate();
    } catch (err) {
      if (!(err instanceof MeshidError) || err.code !== 'UNAVAILABLE') {
        token.close();
        throw err;
      }
      this.recordFailure(err.reason);
      this.log.warn({ err }, 'Vault is unreachable; will authenticate when a signing CA is needed');
    }
    this.state = { config, client, token };
    this.log.info({ address: config.address, pkiMount: config.pkiMount, auth: config.auth.method }, 'Vault upstream ready');
  }

  async mintX509Ca(request: MintX509CaRequest): Promise<MintX509CaResult> {
    const { config } = this.started();
    checkMintRequest(this.name, config.trustDomain, request);
    const csr = await parseSigningCaCsr(request.csrPem);
    const body = {
      csr: request.csrPem,
      common_name: new x509.Name(csr.subject).getField('CN')[0] ?? `meshid intermediate ${config.trustDomain.name}`,
      uri_sans: config.trustDomain.id,
      ttl: `${request.preferredTtlSeconds}s`,
      format: 'pem',
      max_path_length: 0,
      exclude_cn_from_sans: true,
    };
    let result: MintX509CaResult;
    try {
      result = chainFromSignResponse(await this.signIntermediate(body));
    } catch (err) {
      this.recordFailure(err instanceof MeshidError ? err.reason : 'vault_failed');
      throw err;
    }
    this.roots.note(result.upstreamRoots);
    return result;
  }

  onRootsChanged(listener: (roots: x509.X509Certificate[]) => void): () => void {
    return this.roots.listen(listener);
  }

  async close(): Promise<void> {
    this.state?.token.close();
    this.state = undefined;
    this.roots.clear();
  }

  /** Signs; a refusal of a token that should be valid (revoked?) gets one more try after logging in again. */
  private async signIntermediate(body: Record<string, unknown>): Promise<unknown> {
    const { config, client, token } = this.started();
    const path = `${config.pkiMount}/root/sign-intermediate`;
    const attempt = async () => {
      await token.ensureValid();
      try {
        return ((await client.write(path, body)) as { data?: unknown }).data;
      } catch (err) {
        throw vaultFailure(err, `signing meshid's CA (POST ${path})`, config.address, 'FAILED_PRECONDITION');
      }
    };
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof MeshidError) || err.code !== 'PERMISSION_DENIED' || !token.canReauthenticate) throw err;
      await token.authenticate();
      return attempt();
    }
  }

  private started(): Started {
    if (!this.state) throw new MeshidError('FAILED_PRECONDITION', 'vault upstream authority has not been started');
    return this.state;
  }
}
