/**
 * `meshid policy lint <files...>` and `meshid policy check ...`: validate AuthorizationPolicy YAML and ask
 * what the engine decides for one request, offline (the same code the node agent's ext_authz runs).
 *
 * Exit codes: 0 valid / allowed, 3 denied, 2 bad usage or invalid policies.
 */
import { loadPolicyFiles } from '../core/policy/load.js';
import type { Decision, RequestAttributes, WorkloadRef } from '../core/policy/model.js';
import { PolicySet } from '../core/policy/policy-set.js';
import { formatIssue, PolicyValidationError } from '../core/policy/validate.js';
import { SpiffeId } from '../core/spiffeid.js';
import { allowOptions, flag, option, requiredOption, UsageError, type Args } from './args.js';

export const EXIT_ALLOWED = 0;
export const EXIT_DENIED = 3;
export const EXIT_INVALID = 2;

export const POLICY_HELP = `Usage:
  meshid policy lint FILE|DIR ... [--json]
        validate AuthorizationPolicy YAML (exit 0 valid, 2 invalid)
  meshid policy check --policies FILE|DIR [--policies ...] --to WORKLOAD
        [--from SPIFFE_ID] [--method GET] [--path /] [--host HOST] [--header NAME=VALUE ...]
        [--source-ip IP] [--port N] [--claims JSON] [--root-namespace istio-system] [--json]
        decide one request (exit 0 allowed, 3 denied, 2 invalid input)

WORKLOAD is a SPIFFE ID (spiffe://td/ns/prod/sa/web), a namespace (prod), or a namespace with labels
(prod/app=web,version=v1). Without --from the request is plaintext (no peer identity).`;

const CHECK_OPTIONS = ['policies', 'to', 'from', 'method', 'path', 'host', 'header', 'source-ip', 'port', 'claims', 'root-namespace', 'json', 'help'];

export async function runPolicyCommand(verb: string | undefined, args: Args): Promise<number> {
  if (flag(args, 'help') || verb === undefined) {
    console.log(POLICY_HELP);
    return verb === undefined ? EXIT_INVALID : 0;
  }
  const files = [...args.positionals.slice(2), ...(args.options.get('policies') ?? [])];
  switch (verb) {
    case 'lint':
      allowOptions(args, ['policies', 'json', 'help']);
      return lint(files, flag(args, 'json'));
    case 'check':
      allowOptions(args, CHECK_OPTIONS);
      return check(files, args);
    default:
      throw new UsageError(`unknown policy command "${verb}"\n${POLICY_HELP}`);
  }
}

/** Loads and compiles; prints every issue and returns null when the files are invalid. */
async function load(files: string[], json: boolean, rootNamespace?: string): Promise<PolicySet | null> {
  if (files.length === 0) throw new UsageError('name at least one policy file or directory');
  try {
    return new PolicySet(await loadPolicyFiles(files), rootNamespace ? { rootNamespace } : {});
  } catch (err) {
    if (!(err instanceof PolicyValidationError)) throw err;
    if (json) console.log(JSON.stringify({ valid: false, issues: err.issues }, null, 2));
    for (const issue of err.issues) console.error(formatIssue(issue));
    return null;
  }
}

async function lint(files: string[], json: boolean): Promise<number> {
  const set = await load(files, json);
  if (!set) return EXIT_INVALID;
  if (json) console.log(JSON.stringify({ valid: true, policies: set.size }, null, 2));
  else console.log(`ok: ${set.size} ${set.size === 1 ? 'policy' : 'policies'} valid`);
  return 0;
}

async function check(files: string[], args: Args): Promise<number> {
  const json = flag(args, 'json');
  const workload = parseWorkload(requiredOption(args, 'to'));
  const attributes = requestOf(args);
  const set = await load(files, json, option(args, 'root-namespace'));
  if (!set) return EXIT_INVALID;
  const decision = set.evaluate(workload, attributes);
  if (json) console.log(JSON.stringify(decision, null, 2));
  else printDecision(decision);
  return decision.allowed ? EXIT_ALLOWED : EXIT_DENIED;
}

function printDecision(d: Decision): void {
  console.log(`${d.allowed ? 'ALLOW' : 'DENY'}  ${d.reason}`);
  if (d.policy !== null) console.log(`  decided by ${d.action} policy ${d.policy}, rule ${d.ruleIndex}`);
  for (const a of d.audit) console.log(`  audited by ${a.policy}, rule ${a.ruleIndex}`);
}

/** `spiffe://...`, `namespace` or `namespace/name=value,name=value`. */
export function parseWorkload(text: string): WorkloadRef {
  if (text.startsWith('spiffe://')) {
    try {
      return { spiffeId: SpiffeId.parse(text).toString(), labels: {} };
    } catch (err) {
      throw new UsageError(`--to: ${(err as Error).message}`);
    }
  }
  const slash = text.indexOf('/');
  const namespace = slash === -1 ? text : text.slice(0, slash);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
    throw new UsageError(`--to: "${text}" is neither a SPIFFE ID nor NAMESPACE[/LABEL=VALUE,...]`);
  }
  const labels: Record<string, string> = {};
  for (const pair of slash === -1 ? [] : text.slice(slash + 1).split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--to: label "${pair}" is not NAME=VALUE`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { namespace, labels };
}

function requestOf(args: Args): RequestAttributes {
  const from = option(args, 'from');
  if (from !== undefined) {
    try {
      SpiffeId.parse(from);
    } catch (err) {
      throw new UsageError(`--from: ${(err as Error).message}`);
    }
  }
  const headers: Record<string, string> = {};
  for (const pair of args.options.get('header') ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--header "${pair}" is not NAME=VALUE`);
    headers[pair.slice(0, eq).toLowerCase()] = pair.slice(eq + 1);
  }
  const port = option(args, 'port');
  if (port !== undefined && !/^\d{1,5}$/.test(port)) throw new UsageError(`--port "${port}" is not a port number`);
  const host = option(args, 'host') ?? headers['host'];
  return {
    principal: from,
    sourceIp: option(args, 'source-ip'),
    destinationPort: port === undefined ? undefined : Number(port),
    method: option(args, 'method') ?? 'GET',
    path: option(args, 'path') ?? '/',
    host,
    headers: host === undefined ? headers : { ...headers, ':authority': host },
    jwtClaims: claimsOf(option(args, 'claims')),
  };
}

function claimsOf(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError('--claims must be a JSON object, e.g. {"iss":"https://issuer","sub":"alice"}');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError('--claims must be a JSON object');
  return value as Record<string, unknown>;
}
