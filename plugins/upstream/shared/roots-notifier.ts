import type { Logger } from '../../../core/log.js';
import type { x509 } from '../../../core/x509/peculiar.js';
import { certificateSetKey } from './certificates.js';

type RootsListener = (roots: x509.X509Certificate[]) => void;

/** The onRootsChanged side of an upstream: remembers the roots last seen and tells listeners when they differ. */
export class RootsNotifier {
  private readonly listeners = new Set<RootsListener>();
  private key: string | undefined;

  constructor(private readonly log: Logger) {}

  listen(listener: RootsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records the roots the upstream now has; listeners hear about them unless they are the first or unchanged. */
  note(roots: x509.X509Certificate[]): void {
    const key = certificateSetKey(roots);
    const changed = this.key !== undefined && this.key !== key;
    this.key = key;
    if (!changed) return;
    for (const listener of this.listeners) {
      try {
        listener(roots);
      } catch (err) {
        this.log.error({ err }, 'an upstream roots listener failed');
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
