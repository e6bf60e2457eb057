// `meshid ca rotate prepare|activate|retire|status` against a real CA's admin socket, run in-process with
// the same argument parsing as cli/meshid.ts (which starts its main() on import).
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseArgs, UsageError } from '../../cli/args.js';
import { runCaCommand } from '../../cli/ca-command.js';
import { CaFixture } from '../ca-server/fixture.js';

let ca: CaFixture;

/** Runs `meshid ca ...` and returns what it printed. */
async function meshid(...argv: string[]): Promise<string> {
  const args = parseArgs(['ca', ...argv, '--socket', ca.server.adminSocket], ['help', 'json', 'force']);
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((line?: unknown) => void lines.push(String(line ?? '')));
  try {
    await runCaCommand(args.positionals[1], args);
  } finally {
    log.mockRestore();
  }
  return lines.join('\n');
}

beforeAll(async () => {
  ca = await CaFixture.start({ kubernetes: 'disabled' });
});
afterAll(async () => {
  await ca?.close();
});

describe('meshid ca rotate', () => {
  it('walks a root rotation, showing authorities, agents and the next step', async () => {
    const idle = await meshid('rotate', 'status');
    expect(idle).toMatch(/^KIND\s+ID\s+STATE\s+NOT AFTER\s+ROOT\s+SUBJECT$/m);
    expect(idle).toMatch(/^root\s+[0-9a-f]{40}\s+active\s+\S+\s+-\s+O=meshid, CN=meshid root meshid\.test$/m);
    expect(idle).toContain('root rotation: idle (upstream self-signed)');
    expect(idle).toContain('acknowledged by 0 of 0 active agents');
    expect(idle).toContain('next: no root rotation in progress; start one with: meshid ca rotate prepare');

    const prepared = await meshid('rotate', 'prepare');
    expect(prepared).toMatch(/^root\s+[0-9a-f]{40}\s+prepared\s+.*OU=rotated /m);
    expect(prepared).toContain('root rotation: prepared');
    expect(prepared).toContain('next: every active agent has the new root: meshid ca rotate activate');

    const activated = await meshid('rotate', 'activate');
    expect(activated).toMatch(/^root\s+[0-9a-f]{40}\s+old\s/m);
    expect(activated).toMatch(/next: SVIDs from the old root may be valid until \d{4}-\d\d-\d\dT[\d:.]+Z; after that: meshid ca rotate retire/);

    const refused = await meshid('rotate', 'retire').catch((err: grpc.ServiceError) => err);
    expect(refused).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: expect.stringContaining('may be valid until') });

    const status = JSON.parse(await meshid('rotate', 'retire', '--force', '--json')) as { phase: string; authorities: { kind: string; state: string }[] };
    expect(status.phase).toBe('idle');
    expect(status.authorities.filter((a) => a.kind === 'root').map((a) => a.state)).toEqual(['retired', 'active']);
  });

  it('rejects unknown steps and options', async () => {
    await expect(meshid('rotate', 'spin')).rejects.toThrow(new UsageError('unknown step "spin"; usage: meshid ca rotate prepare | activate [--force] | retire [--force] | status'));
    await expect(meshid('rotate')).rejects.toBeInstanceOf(UsageError);
    await expect(meshid('rotate', 'prepare', '--force')).rejects.toThrow('unknown option --force');
  });
});
