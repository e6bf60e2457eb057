import { describe, expect, it } from 'vitest';
import { AsyncMutex } from './mutex.js';

describe('AsyncMutex', () => {
  it('runs sections one at a time in call order', async () => {
    const mutex = new AsyncMutex();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = mutex.run(async () => {
      log.push('first start');
      await gate;
      log.push('first end');
    });
    const second = mutex.run(() => log.push('second'));
    await Promise.resolve();
    release();
    await Promise.all([first, second]);
    expect(log).toEqual(['first start', 'first end', 'second']);
  });

  it('releases the lock when a section fails', async () => {
    const mutex = new AsyncMutex();
    await expect(mutex.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(mutex.run(() => { throw new Error('sync boom'); })).rejects.toThrow('sync boom');
    expect(await mutex.run(() => 7)).toBe(7);
  });
});
