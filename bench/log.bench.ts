/**
 * Cost of one log line through createLogger (redaction included) beside bare pino, written to a sink that
 * drops it, so only formatting is timed. The CA logs one "issued workload SVID" line per signed SVID.
 */
import pino from 'pino';
import { createLogger } from '../core/log.js';
import { describeMachine, measureSync, printTable } from './harness.js';

const sink = { write: () => undefined };
const issued = {
  spiffeId: 'spiffe://example.org/ns/bench/sa/workload',
  serial: '5f1c0b6a9d3e4f2a8b7c6d5e4f3a2b1c',
  notAfter: new Date(Date.now() + 3600_000),
  attestor: 'k8s_psat',
};
const withSecrets = {
  request: { headers: { Authorization: 'Bearer abc.def' }, body: { joinToken: 'mjt1.0123456789abcdef.' + 'x'.repeat(43) } },
  err: new Error('upstream said: -----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----'),
};

const bare = pino({ name: 'meshid-ca' }, sink);
const meshid = createLogger({ name: 'meshid-ca', destination: sink });

console.log(`log line benchmark: ${describeMachine()}`);
const rows = [
  measureSync('bare pino: issued workload SVID', () => bare.info(issued, 'issued workload SVID'), { warmup: 20_000 }),
  measureSync('createLogger: issued workload SVID', () => meshid.info(issued, 'issued workload SVID'), { warmup: 20_000 }),
  measureSync('createLogger: nested secrets + error', () => meshid.error(withSecrets, 'call failed'), { warmup: 20_000 }),
];
printTable('one log line, formatted and dropped (mean µs/line = 1e6 / ops/s)', rows, rows[0]);
for (const r of rows) console.log(`${r.name}: ${(1e6 / r.opsPerSec).toFixed(2)} µs/line mean`);
