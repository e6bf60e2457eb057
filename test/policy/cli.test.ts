// `meshid policy lint` / `meshid policy check`: output and exit codes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parseArgs, UsageError } from '../../cli/args.js';
import { EXIT_DENIED, EXIT_INVALID, parseWorkload, runPolicyCommand } from '../../cli/policy-command.js';

const dir = mkdtempSync(path.join(tmpdir(), 'meshid-policy-cli-'));
const POLICIES = path.join(dir, 'policies.yaml');
writeFileSync(
  POLICIES,
  `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-frontend, namespace: prod}
spec:
  selector: {matchLabels: {app: shop}}
  rules:
  - from: [{source: {namespaces: [frontend]}}]
    to: [{operation: {methods: [GET], paths: ["/items*"]}}]
  - when: [{key: "request.headers[x-debug]", values: ["1"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-plaintext, namespace: istio-system}
spec:
  action: DENY
  rules: [{from: [{source: {notPrincipals: ["*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-all, namespace: istio-system}
spec:
  action: AUDIT
  rules: [{}]
`,
);
const BAD = path.join(dir, 'bad.yaml');
writeFileSync(BAD, 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x, namespace: prod}\nspec: {rules: [{to: [{operation: {methods: GET}}]}]}\n');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `meshid policy <argv>`; returns the exit code and what went to stdout / stderr. */
async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(line));
  vi.spyOn(console, 'error').mockImplementation((line: string) => void err.push(line));
  const args = parseArgs(['policy', ...argv]);
  const code = await runPolicyCommand(args.positionals[1], args);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

afterEach(() => vi.restoreAllMocks());

describe('meshid policy lint', () => {
  it('accepts valid files (exit 0)', async () => {
    expect(await run('lint', POLICIES)).toEqual({ code: 0, out: 'ok: 3 policies valid', err: '' });
  });

  it('prints every issue with file, policy and field (exit 2)', async () => {
    expect(await run('lint', POLICIES, BAD)).toEqual({
      code: EXIT_INVALID,
      out: '',
      err: `${BAD}: prod/x: spec.rules[0].to[0].operation.methods: expected a list of strings, got string "GET"`,
    });
  });

  it('reports duplicates across files', async () => {
    const copy = path.join(dir, 'copy.yaml');
    writeFileSync(copy, 'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: audit-all, namespace: istio-system}\n');
    const res = await run('lint', POLICIES, copy);
    expect(res.code).toBe(EXIT_INVALID);
    expect(res.err).toBe(`${copy}: istio-system/audit-all: metadata.name: duplicate policy (also defined in ${POLICIES})`);
  });

  it('answers in JSON with --json', async () => {
    const res = await run('lint', BAD, '--json');
    expect(JSON.parse(res.out)).toMatchObject({ valid: false, issues: [{ origin: BAD, policy: 'prod/x', path: 'spec.rules[0].to[0].operation.methods' }] });
  });
});

describe('meshid policy check', () => {
  const check = (...extra: string[]) => run('check', '--policies', POLICIES, '--to', 'prod/app=shop', ...extra);

  it('allows and names the policy and rule (exit 0)', async () => {
    expect(await check('--from', 'spiffe://td.example/ns/frontend/sa/web', '--path', '/items/7')).toEqual({
      code: 0,
      out: 'ALLOW  allowed by prod/allow-frontend rule 0\n  decided by ALLOW policy prod/allow-frontend, rule 0\n  audited by istio-system/audit-all, rule 0',
      err: '',
    });
  });

  it('uses headers, methods and the second rule', async () => {
    const res = await check('--from', 'spiffe://td.example/ns/ops/sa/x', '--method', 'DELETE', '--header', 'X-Debug=1');
    expect(res.code).toBe(0);
    expect(res.out).toContain('allowed by prod/allow-frontend rule 1');
  });

  it('denies by a DENY policy (exit 3): plaintext has no principal', async () => {
    const res = await check('--path', '/items');
    expect(res.code).toBe(EXIT_DENIED);
    expect(res.out.split('\n')[0]).toBe('DENY  denied by istio-system/deny-plaintext rule 0');
  });

  it('denies when no ALLOW policy matches (exit 3)', async () => {
    const res = await check('--from', 'spiffe://td.example/ns/ops/sa/x', '--json');
    expect(res.code).toBe(EXIT_DENIED);
    expect(JSON.parse(res.out)).toEqual({
      allowed: false,
      action: null,
      policy: null,
      ruleIndex: null,
      reason: 'denied: no ALLOW policy matched',
      audit: [{ policy: 'istio-system/audit-all', ruleIndex: 0 }],
    });
  });

  it('takes a SPIFFE ID as the destination workload', async () => {
    const res = await run('check', POLICIES, '--to', 'spiffe://td.example/ns/prod/sa/shop', '--from', 'spiffe://td.example/ns/ops/sa/x');
    expect(res.out).toContain('ALLOW  allowed: no ALLOW policy applies'); // the ALLOW policy selects app=shop only
  });

  it('exits 2 on invalid policies and rejects bad input with a usage error', async () => {
    expect((await run('check', '--policies', BAD, '--to', 'prod')).code).toBe(EXIT_INVALID);
    await expect(run('check', '--policies', POLICIES, '--to', 'prod', '--from', 'web')).rejects.toThrow(/--from: SPIFFE ID must start with "spiffe:\/\/"/);
    await expect(run('check', '--policies', POLICIES, '--to', 'prod', '--port', 'http')).rejects.toThrow(UsageError);
    await expect(run('check', '--policies', POLICIES, '--to', 'prod', '--claims', '[1]')).rejects.toThrow(/--claims must be a JSON object/);
    await expect(run('check', '--policies', POLICIES, '--to', 'prod', '--bogus', 'x')).rejects.toThrow(/unknown option --bogus/);
    await expect(run('check', '--policies', POLICIES)).rejects.toThrow(/--to is required/);
    await expect(run('frobnicate')).rejects.toThrow(/unknown policy command "frobnicate"/);
  });

  it('parses workloads', () => {
    expect(parseWorkload('prod')).toEqual({ namespace: 'prod', labels: {} });
    expect(parseWorkload('prod/app=web,version=v1')).toEqual({ namespace: 'prod', labels: { app: 'web', version: 'v1' } });
    expect(parseWorkload('spiffe://td.example/vm/db')).toEqual({ spiffeId: 'spiffe://td.example/vm/db', labels: {} });
    expect(() => parseWorkload('Prod')).toThrow(UsageError);
    expect(() => parseWorkload('prod/app')).toThrow(/label "app" is not NAME=VALUE/);
  });
});
