import type { AdminServiceClient } from '../protos/gen/meshid/v1/AdminService.js';
import type { RootRotationStatus__Output } from '../protos/gen/meshid/v1/RootRotationStatus.js';
import { adminClient, COMMON, print, time } from './admin-commands.js';
import { allowOptions, flag, UsageError, type Args } from './args.js';
import { call } from './grpc-client.js';

const USAGE = 'usage: meshid ca rotate prepare | activate [--force] | retire [--force] | status';

/** What to do after each step, printed under the status. */
const NEXT: Record<string, (s: RootRotationStatus__Output) => string> = {
  idle: () => 'no root rotation in progress; start one with: meshid ca rotate prepare',
  prepared: (s) =>
    s.agents_acknowledged === s.agents_active
      ? 'every active agent has the new root: meshid ca rotate activate'
      : 'wait until every active agent has acknowledged the bundle with the new root, then: meshid ca rotate activate',
  activated: (s) =>
    s.retire_safe_at * 1000 > Date.now()
      ? `SVIDs from the old root may be valid until ${time(s.retire_safe_at)}; after that: meshid ca rotate retire`
      : 'nothing valid chains to the old root any more: meshid ca rotate retire',
};

/** `meshid ca rotate prepare|activate|retire|status`: root rotation through the CA's admin socket. */
export async function runCaCommand(verb: string | undefined, args: Args): Promise<void> {
  const step = args.positionals[2];
  if (verb !== 'rotate' || !step) throw new UsageError(USAGE);
  const client = adminClient(args);
  try {
    const status = await rotate(client, step, args);
    print(args, status, () => authorityRows(status));
    if (!flag(args, 'json')) {
      console.log('');
      console.log(summary(status));
    }
  } finally {
    client.close();
  }
}

function rotate(client: AdminServiceClient, step: string, args: Args): Promise<RootRotationStatus__Output> {
  switch (step) {
    case 'status':
      allowOptions(args, COMMON);
      return call(client, client.GetRootRotation, {});
    case 'prepare':
      allowOptions(args, COMMON);
      return call(client, client.PrepareRootRotation, {});
    case 'activate':
      allowOptions(args, [...COMMON, 'force']);
      return call(client, client.ActivateRootRotation, { force: flag(args, 'force') });
    case 'retire':
      allowOptions(args, [...COMMON, 'force']);
      return call(client, client.RetireRootRotation, { force: flag(args, 'force') });
    default:
      throw new UsageError(`unknown step "${step}"; ${USAGE}`);
  }
}

function authorityRows(s: RootRotationStatus__Output): string[][] {
  return [
    ['KIND', 'ID', 'STATE', 'NOT AFTER', 'ROOT', 'SUBJECT'],
    ...s.authorities.map((a) => [a.kind, a.id, a.state, time(a.not_after), a.root_id || '-', a.subject]),
  ];
}

function summary(s: RootRotationStatus__Output): string {
  const pending = s.agents_pending.length > 0 ? ` (waiting for ${s.agents_pending.join(', ')})` : '';
  return [
    `root rotation: ${s.phase} (upstream ${s.upstream})`,
    `trust bundle ${s.bundle_sequence}: acknowledged by ${s.agents_acknowledged} of ${s.agents_active} active agents${pending}`,
    `next: ${(NEXT[s.phase] ?? NEXT.idle!)(s)}`,
  ].join('\n');
}
