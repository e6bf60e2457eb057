/**
 * The SQL that reads the same in SQLite and PostgreSQL (both take @name parameters: postgres-queries.ts
 * compiles them to $n). Statements whose dialects differ stay with their backend.
 */
export const SHARED_SQL = {
  ping: 'SELECT 1',
  listTokens: 'SELECT * FROM join_tokens ORDER BY created_at, id',
  upsertAgent: `INSERT INTO agents (spiffe_id, attestation_type, serial_number, new_serial_number, expires_at,
      attested_at, last_seen_at, selectors)
    VALUES (@spiffeId, @attestationType, @serialNumber, @newSerialNumber, @expiresAt, @attestedAt, @lastSeenAt, @selectors)
    ON CONFLICT (spiffe_id) DO UPDATE SET attestation_type = excluded.attestation_type,
      serial_number = excluded.serial_number, new_serial_number = excluded.new_serial_number,
      expires_at = excluded.expires_at, attested_at = excluded.attested_at,
      last_seen_at = excluded.last_seen_at, selectors = excluded.selectors`,
  listAgents: 'SELECT * FROM agents ORDER BY spiffe_id',
  renewAgent: `UPDATE agents SET new_serial_number = @newSerialNumber, expires_at = @expiresAt,
      last_seen_at = @lastSeenAt WHERE spiffe_id = @spiffeId`,
  insertBan: `INSERT INTO agent_bans (spiffe_id, banned_at, reason) VALUES (@spiffeId, @bannedAt, @reason)
    ON CONFLICT (spiffe_id) DO NOTHING`,
  listBans: 'SELECT * FROM agent_bans ORDER BY spiffe_id',
  putAuthority: `INSERT INTO authorities (id, kind, state, upstream, certificate_pem, key_path, upstream_roots_pem,
      not_before, not_after, created_at, activated_at, retired_at)
    VALUES (@id, @kind, @state, @upstream, @certificatePem, @keyPath, @upstreamRootsPem, @notBefore, @notAfter,
      @createdAt, @activatedAt, @retiredAt)
    ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, state = excluded.state, upstream = excluded.upstream,
      certificate_pem = excluded.certificate_pem, key_path = excluded.key_path,
      upstream_roots_pem = excluded.upstream_roots_pem, not_before = excluded.not_before,
      not_after = excluded.not_after, created_at = excluded.created_at, activated_at = excluded.activated_at,
      retired_at = excluded.retired_at`,
  putJwtKey: `INSERT INTO jwt_keys (id, state, algorithm, public_key_pem, key_path, not_after, created_at,
      activated_at, retired_at, published_until)
    VALUES (@id, @state, @algorithm, @publicKeyPem, @keyPath, @notAfter, @createdAt, @activatedAt, @retiredAt,
      @publishedUntil)
    ON CONFLICT (id) DO UPDATE SET state = excluded.state, algorithm = excluded.algorithm,
      public_key_pem = excluded.public_key_pem, key_path = excluded.key_path, not_after = excluded.not_after,
      created_at = excluded.created_at, activated_at = excluded.activated_at, retired_at = excluded.retired_at,
      published_until = excluded.published_until`,
} as const;
