import { SignJWT } from 'jose';
import { invalidArgument } from '../../core/errors.js';
import type { SpiffeId } from '../../core/spiffeid.js';
import type { JwtSigningKey } from '../authority/jwt-keys.js';

export interface JwtSvidRequest {
  /** From attestation: becomes `sub`. */
  spiffeId: SpiffeId;
  /** `aud`: at least one, none empty. */
  audience: readonly string[];
  /** 0 or undefined: the configured default; more than the maximum is cut to the maximum. */
  ttlSeconds?: number;
}

export interface IssuedJwtSvid {
  spiffeId: string;
  /** Compact JWS. */
  token: string;
  expiresAt: Date;
}

export interface JwtSvidPolicy {
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

/** Signs JWT-SVIDs (JWT-SVID spec): header alg + kid + typ JWT; claims sub, aud, iat, exp. */
export class JwtSvidIssuer {
  constructor(
    private readonly keys: { active(): JwtSigningKey },
    private readonly policy: JwtSvidPolicy,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async issue(request: JwtSvidRequest): Promise<IssuedJwtSvid> {
    checkAudience(request.audience);
    const ttl = request.ttlSeconds ?? 0;
    if (!Number.isSafeInteger(ttl) || ttl < 0) {
      throw invalidArgument(`ttl_seconds must be a whole number of seconds >= 0 (0 = default), got ${ttl}`, 'bad_ttl');
    }
    const issuedAt = Math.floor(this.now().getTime() / 1000);
    const expiresAt = issuedAt + Math.min(ttl || this.policy.defaultTtlSeconds, this.policy.maxTtlSeconds);
    const key = this.keys.active();
    const spiffeId = request.spiffeId.toString();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: 'JWT' })
      .setSubject(spiffeId)
      .setAudience([...request.audience])
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .sign(key.privateKey);
    return { spiffeId, token, expiresAt: new Date(expiresAt * 1000) };
  }
}

function checkAudience(audience: readonly string[]): void {
  if (audience.length === 0) {
    throw invalidArgument('at least one audience is required: name the service the token is for', 'bad_audience');
  }
  const empty = audience.findIndex((a) => a.trim() === '');
  if (empty >= 0) throw invalidArgument(`audience[${empty}] is empty`, 'bad_audience');
}
