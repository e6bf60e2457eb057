import * as grpc from '@grpc/grpc-js';
import { durationSeconds } from '../core/config-values.js';
import { loadProto } from '../protos/load.js';
import type { ProtoGrpcType } from '../protos/gen/admin.js';
import type { AdminServiceClient } from '../protos/gen/meshid/v1/AdminService.js';
import { allowOptions, flag, operand, option, requiredOption, UsageError, type Args } from './args.js';
import { call } from './grpc-client.js';

export const DEFAULT_ADMIN_SOCKET = './.meshid/ca/admin.sock';

export function adminClient(args: Args): AdminServiceClient {
  const socket = option(args, 'socket') ?? process.env.MESHID_ADMIN_SOCKET ?? DEFAULT_ADMIN_SOCKET;
  const proto = loadProto<ProtoGrpcType>('meshid/v1/admin.proto');
  return new proto.meshid.v1.AdminService(`unix:${socket}`, grpc.credentials.createInsecure());
}

export const time = (unixSeconds: number) => (unixSeconds ? new Date(unixSeconds * 1000).toISOString() : '-');

export function print(args: Args, value: unknown, table: () => string[][]): void {
  if (flag(args, 'json')) {
    console.log(JSON.stringify(value, null, 2));
    return;
  }
  const rows = table();
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

export const COMMON = ['socket', 'json', 'help'];

/** `meshid token|entry|agent|bundle ...`: thin clients of the admin API on the local Unix socket. */
export async function runAdminCommand(noun: string, verb: string | undefined, args: Args): Promise<void> {
  const client = adminClient(args);
  try {
    switch (`${noun} ${verb ?? ''}`.trim()) {
      case 'token create': {
        allowOptions(args, [...COMMON, 'spiffe-id', 'ttl']);
        const ttl = option(args, 'ttl');
        const res = await call(client, client.CreateJoinToken, {
          spiffe_id: option(args, 'spiffe-id') ?? '',
          ttl_seconds: ttl ? Math.round(durationSeconds('--ttl', ttl)) : 0,
        });
        if (flag(args, 'json')) console.log(JSON.stringify(res, null, 2));
        else {
          console.log(res.value);
          console.error(`join token ${res.token!.id} for ${res.token!.spiffe_id}, expires ${time(res.token!.expires_at)} (single use; shown once)`);
        }
        return;
      }
      case 'token list': {
        allowOptions(args, COMMON);
        const res = await call(client, client.ListJoinTokens, {});
        print(args, res.tokens, () => [
          ['ID', 'SPIFFE ID', 'EXPIRES', 'STATE'],
          ...res.tokens.map((t) => [t.id, t.spiffe_id, time(t.expires_at), t.revoked_at ? 'revoked' : t.used_at ? 'used' : t.expires_at * 1000 < Date.now() ? 'expired' : 'unused']),
        ]);
        return;
      }
      case 'token revoke': {
        allowOptions(args, COMMON);
        const id = operand(args, 'meshid token revoke <id>');
        await call(client, client.RevokeJoinToken, { id });
        console.log(`revoked join token ${id}`);
        return;
      }
      case 'entry create': {
        allowOptions(args, [...COMMON, 'spiffe-id', 'parent-id', 'selector', 'ttl', 'dns-name']);
        const ttl = option(args, 'ttl');
        const entry = await call(client, client.CreateEntry, {
          spiffe_id: requiredOption(args, 'spiffe-id'),
          parent_id: requiredOption(args, 'parent-id'),
          selectors: args.options.get('selector') ?? [],
          ttl_seconds: ttl ? Math.round(durationSeconds('--ttl', ttl)) : 0,
          dns_names: args.options.get('dns-name') ?? [],
        });
        if (flag(args, 'json')) console.log(JSON.stringify(entry, null, 2));
        else console.log(entry.id);
        return;
      }
      case 'entry list': {
        allowOptions(args, [...COMMON, 'parent-id']);
        const res = await call(client, client.ListEntries, { parent_id: option(args, 'parent-id') ?? '' });
        print(args, res.entries, () => [
          ['ID', 'SPIFFE ID', 'PARENT', 'SELECTORS', 'TTL'],
          ...res.entries.map((e) => [e.id, e.spiffe_id, e.parent_id, e.selectors.join(','), e.ttl_seconds ? `${e.ttl_seconds}s` : 'default']),
        ]);
        return;
      }
      case 'entry delete': {
        allowOptions(args, COMMON);
        const id = operand(args, 'meshid entry delete <id>');
        await call(client, client.DeleteEntry, { id });
        console.log(`deleted entry ${id}`);
        return;
      }
      case 'agent list': {
        allowOptions(args, COMMON);
        const res = await call(client, client.ListAgents, {});
        print(args, res.agents, () => [
          ['SPIFFE ID', 'ATTESTATION', 'SVID EXPIRES', 'LAST SEEN', 'SERIAL'],
          ...res.agents.map((a) => [a.spiffe_id, a.attestation_type, time(a.expires_at), time(a.last_seen_at), a.new_serial_number ? `${a.serial_number} (renewing)` : a.serial_number]),
        ]);
        return;
      }
      case 'agent evict': {
        allowOptions(args, COMMON);
        const id = operand(args, 'meshid agent evict <spiffe-id>');
        await call(client, client.EvictAgent, { spiffe_id: id });
        console.log(`evicted ${id}: its SVIDs are refused now; it may attest again (ban it to keep it out)`);
        return;
      }
      case 'agent ban': {
        allowOptions(args, [...COMMON, 'reason']);
        const id = operand(args, 'meshid agent ban <spiffe-id> [--reason TEXT]');
        await call(client, client.BanAgent, { spiffe_id: id, reason: option(args, 'reason') ?? '' });
        console.log(`banned ${id}: its SVIDs are refused now and it cannot attest again until unbanned`);
        return;
      }
      case 'agent unban': {
        allowOptions(args, COMMON);
        const id = operand(args, 'meshid agent unban <spiffe-id>');
        await call(client, client.UnbanAgent, { spiffe_id: id });
        console.log(`unbanned ${id}: it may attest again (with a new join token for VM agents)`);
        return;
      }
      case 'agent bans': {
        allowOptions(args, COMMON);
        const res = await call(client, client.ListAgentBans, {});
        print(args, res.bans, () => [['SPIFFE ID', 'BANNED', 'REASON'], ...res.bans.map((b) => [b.spiffe_id, time(b.banned_at), b.reason])]);
        return;
      }
      case 'bundle show': {
        allowOptions(args, [...COMMON, 'format']);
        const res = await call(client, client.GetBundle, { format: option(args, 'format') ?? 'pem' });
        process.stdout.write(res.content.endsWith('\n') ? res.content : `${res.content}\n`);
        return;
      }
      default:
        throw new UsageError(`unknown command "meshid ${noun} ${verb ?? ''}"; see meshid --help`);
    }
  } finally {
    client.close();
  }
}
