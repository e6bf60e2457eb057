// Run by scripts/test.mjs after the whole suite (vitest.log-scan.config.ts), over every log line the CA,
// the agents and the CLI wrote during it (core/log.ts tees them into MESHID_LOG_CAPTURE_DIR).
import { describe, expect, it } from 'vitest';
import { LOG_CAPTURE_DIR_ENV } from '../../core/log.js';
import { scanCaptureDir } from './secret-shapes.js';

/** A whole run logs about 1,300 lines; far fewer means the capture broke, not that all is clean. */
const MIN_LINES = 500;

describe('log scan of the whole test run', () => {
  it('finds no token, join-token secret or private key in any log line', async () => {
    const dir = process.env[LOG_CAPTURE_DIR_ENV];
    if (!dir) throw new Error(`${LOG_CAPTURE_DIR_ENV} is not set: run the scan through npm test`);
    const scan = await scanCaptureDir(dir);
    console.log(`log scan: ${scan.lines} lines in ${scan.files} files (${dir}); lines per logger: ${JSON.stringify(scan.loggers)}`);
    expect(scan.lines, 'captured log lines').toBeGreaterThanOrEqual(MIN_LINES);
    expect(Object.keys(scan.loggers)).toEqual(expect.arrayContaining(['meshid-ca', 'meshid-agent']));
    expect(scan.findings).toEqual([]);
  });
});
