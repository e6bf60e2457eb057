import { permissionDenied } from '../../core/errors.js';
import type { IdentitySource, WorkloadCaller, X509SvidMaterial } from '../identity-source.js';

/**
 * One caller's X509-SVIDs for the life of one stream: fetched once, then kept current by the source's watch,
 * so a push (rotation or bundle change) needs no new lookup. The watch starts before the fetch, so a rotation
 * in between is not lost; the newer list always wins.
 */
export class CallerSvids {
  private latest: X509SvidMaterial[] | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly source: IdentitySource,
    private readonly caller: WorkloadCaller,
    private readonly onChange: () => void,
  ) {}

  /** The caller's SVIDs, default first. Rejects PERMISSION_DENIED when it has none (any more). */
  async get(): Promise<X509SvidMaterial[]> {
    if (!this.unsubscribe && !this.closed) {
      this.unsubscribe = this.source.watchX509Svids(this.caller, (svids) => {
        this.latest = svids;
        this.onChange();
      });
    }
    if (!this.latest) {
      const fetched = await this.source.x509Svids(this.caller);
      this.latest ??= fetched;
    }
    if (this.latest.length === 0) {
      throw permissionDenied('no identity is registered for this caller any more', 'no_identity');
    }
    return this.latest;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
