#!/usr/bin/env node
import { status } from '@grpc/grpc-js';
import { ConfigError } from '../core/config-values.js';
import { MeshidError } from '../core/errors.js';
import { runAdminCommand } from './admin-commands.js';
import { runCaCommand } from './ca-command.js';
import { parseArgs, UsageError } from './args.js';
import { describeGrpcError, isGrpcStatus } from './grpc-client.js';
import { runSvidRequest } from './svid-request.js';

const HELP = `meshid — SPIFFE identity and certificate authority for service meshes

Usage:
  meshid dev                               all-in-one dev mode (CA + node agent) under ./.meshid
  meshid server [--config FILE] [--KEY=VALUE ...]
                                           run the CA server (KEY is a dotted config key, e.g. --svid.maxTtl=24h)
  meshid token create [--spiffe-id ID] [--ttl 10m]   create a single-use join token (printed once)
  meshid token list | token revoke ID
  meshid entry create --spiffe-id ID --parent-id AGENT_ID --selector TYPE:KEY:VALUE [--selector ...]
                      [--ttl 1h] [--dns-name NAME ...]
  meshid entry list [--parent-id ID] | entry delete ID
  meshid agent run [--config FILE] [--join-token T] [--KEY=VALUE ...]
                                           run the node agent (SDS + Workload API); see meshid agent run --help
  meshid agent list | agent evict SPIFFE_ID   evict: the agent's SVIDs are refused at once; it may attest again
  meshid agent ban SPIFFE_ID [--reason TEXT] | agent unban SPIFFE_ID | agent bans
                                           ban: evict and refuse re-attestation until unbanned
  meshid bundle show [--format pem|jwks]
  meshid ca rotate prepare | activate [--force] | retire [--force] | status
                                           rotate the self-signed root: publish the next root, switch signing,
                                           then drop the old root (unsafe steps are refused unless --force)
  meshid datastore backup --out FILE [--force] | restore --from FILE [--force] | migrate [--dry-run]
                      [--config FILE]      back up and restore the CA's SQLite datastore (restore: stop the CA
                                           first; PostgreSQL: prints the pg_dump / pg_restore command) and
                                           apply pending schema migrations; see meshid datastore backup --help
  meshid svid request --join-token TOKEN [--server HOST:PORT] [--bundle FILE] [--out DIR]
                                           attest with a join token and write svid.pem, key.pem, bundle.pem
  meshid policy lint FILE|DIR ...          validate AuthorizationPolicy YAML (exit 0 valid, 2 invalid)
  meshid policy check --policies FILE|DIR --to WORKLOAD [--from SPIFFE_ID] [--method GET] [--path /x]
                      [--header NAME=VALUE ...]
                                           decide one request offline and name the deciding policy and rule
                                           (exit 0 allowed, 3 denied); see meshid policy check --help

Admin commands talk to the CA's admin socket: --socket PATH, or MESHID_ADMIN_SOCKET
(default ./.meshid/ca/admin.sock). Add --json for machine-readable output.`;

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['help', 'json', 'force', 'dry-run']);
  const [noun, verb] = args.positionals;
  if (!noun || noun === 'help' || (args.options.has('help') && !verb)) {
    console.log(HELP);
    return noun ? 0 : 2;
  }
  switch (noun) {
    // The server commands load the whole CA (Kubernetes client, SQLite): imported only when run, so the
    // admin commands start fast.
    case 'dev':
      return (await import('./dev.js')).runDev(args);
    case 'server':
      return (await import('./server-command.js')).runServer(args);
    case 'svid':
      if (verb !== 'request') throw new UsageError('usage: meshid svid request --join-token TOKEN ...');
      await runSvidRequest(args);
      return 0;
    case 'agent':
      if (verb === 'run') return (await import('./agent-command.js')).runAgent(args);
      await runAdminCommand(noun, verb, args);
      return 0;
    case 'ca':
      await runCaCommand(verb, args);
      return 0;
    case 'policy':
      return (await import('./policy-command.js')).runPolicyCommand(verb, args);
    case 'datastore':
      return (await import('./datastore-command.js')).runDatastoreCommand(verb, args);
    case 'token':
    case 'entry':
    case 'bundle':
      await runAdminCommand(noun, verb, args);
      return 0;
    default:
      throw new UsageError(`unknown command "${noun}"; run meshid --help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof MeshidError) {
      console.error(`meshid: ${err.message}`);
      process.exitCode = 2;
    } else {
      console.error(`meshid: ${describeGrpcError(err)}`);
      // A request the server refused as invalid is bad input too (exit 2), like a usage error.
      process.exitCode = isGrpcStatus(err, status.INVALID_ARGUMENT) ? 2 : 1;
    }
  },
);
