import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, LOG_CAPTURE_DIR_ENV } from '../../core/log.js';

describe(`${LOG_CAPTURE_DIR_ENV}`, () => {
  const saved = process.env[LOG_CAPTURE_DIR_ENV];
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'meshid-log-capture-'));
    process.env[LOG_CAPTURE_DIR_ENV] = path.join(dir, 'run');
  });
  afterEach(async () => {
    if (saved === undefined) delete process.env[LOG_CAPTURE_DIR_ENV];
    else process.env[LOG_CAPTURE_DIR_ENV] = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it('tees every logger, custom destinations included, into <dir>/<pid>.log, redacted and written at once', async () => {
    const own: string[] = [];
    const a = createLogger({ name: 'meshid-ca', level: 'debug', destination: { write: (line: string) => void own.push(line) } });
    const b = createLogger({ name: 'meshid-agent', level: 'warn', destination: { write: () => undefined } });
    a.debug({ joinToken: 'secret' }, 'first');
    b.info('below the level: written nowhere');
    b.child({ part: 'x' }).warn('second');

    const captured = (await readFile(path.join(dir, 'run', `${process.pid}.log`), 'utf8')).split('\n').filter(Boolean);
    expect(captured.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ name: 'meshid-ca', joinToken: '[redacted]', msg: 'first' }),
      expect.objectContaining({ name: 'meshid-agent', part: 'x', msg: 'second' }),
    ]);
    expect(own).toEqual([`${captured[0]}\n`]);
  });
});
