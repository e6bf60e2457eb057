import type { KeyObject } from 'node:crypto';
import { createCsrPem } from '../core/x509/csr-request.js';
import { generateKeyPair, type KeyAlgorithm } from '../core/x509/keys.js';

/** A fresh workload key and a CSR for it. The CSR names no identity: the CA sets it from attestation. */
export interface PreparedKey {
  privateKey: KeyObject;
  csr: string;
}

/**
 * Workload keys with their CSRs, made ahead of need so a workload's first SVID waits only for the CA.
 * Each key is handed out once; the pool refills in the background, one key at a time.
 */
export class KeyPool {
  private readonly ready: PreparedKey[] = [];
  private filling = false;
  private closed = false;

  constructor(
    private readonly algorithm: KeyAlgorithm,
    private readonly size: number,
  ) {
    this.refill();
  }

  async take(): Promise<PreparedKey> {
    const key = this.ready.shift() ?? (await this.prepare());
    this.refill();
    return key;
  }

  close(): void {
    this.closed = true;
    this.ready.length = 0;
  }

  private async prepare(): Promise<PreparedKey> {
    const pair = generateKeyPair(this.algorithm);
    return { privateKey: pair.privateKey, csr: createCsrPem(pair) };
  }

  private refill(): void {
    if (this.filling || this.closed || this.ready.length >= this.size) return;
    this.filling = true;
    setImmediate(() => {
      this.prepare().then(
        (key) => {
          this.filling = false;
          if (this.closed) return;
          this.ready.push(key);
          this.refill();
        },
        () => {
          this.filling = false; // take() generates on demand and reports its own failures
        },
      );
    });
  }
}
