import type { AuthorityManager, SigningAuthority } from './authority/manager.js';
import type { DataStore } from './datastore/datastore.js';

/**
 * Why the CA cannot sign right now, or null (its /readyz): no active signing CA, one outside its validity
 * (rotation kept failing, or the clock is off), or a datastore that does not answer.
 */
export async function caNotReady(authorities: AuthorityManager, store: DataStore, now = new Date()): Promise<string | null> {
  let active: SigningAuthority;
  try {
    active = authorities.active();
  } catch {
    return 'no active signing CA';
  }
  if (active.certificate.notBefore > now) return `the active signing CA ${active.id} is not valid before ${active.certificate.notBefore.toISOString()}`;
  if (active.notAfter <= now) return `the active signing CA ${active.id} expired at ${active.notAfter.toISOString()}`;
  try {
    await store.ping();
  } catch (err) {
    return `datastore unreachable: ${(err as Error).message}`;
  }
  return null;
}
