// The layer rule in eslint.config.js (issue #10): a back-import across the plugin boundary fails `npm run lint`.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const eslint = new ESLint({ cwd: REPO });

async function restricted(file: string, specifier: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from '${specifier}';\nexport const y = x;\n`, { filePath: path.join(REPO, file) });
  return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

describe('import boundaries', () => {
  it.each([
    ['plugins/upstream/vault/probe.ts', '../../../ca-server/datastore/datastore.js'],
    ['plugins/attestor/join-token/probe.ts', '../../../node-agent/agent.js'],
    ['ca-server/server-probe.ts', '../plugins/upstream/vault/vault-authority.js'],
    ['ca-server/attestation/probe.ts', '../../plugins/attestor/k8s-jwt/jwt-verifier.js'],
    ['core/x509/probe.ts', '../../ca-server/authority/manager.js'],
    ['core/probe.ts', '../plugins/api/plugin.js'],
    ['node-agent/probe.ts', '../ca-server/server.js'],
  ])('%s may not import %s', async (file, specifier) => {
    expect(await restricted(file, specifier)).toHaveLength(1);
  });

  it.each([
    ['plugins/upstream/vault/probe.ts', '../../api/upstream-authority.js'],
    ['plugins/upstream/vault/probe.ts', '../../../core/x509/chain.js'],
    ['ca-server/server-probe.ts', '../plugins/api/upstream-authority.js'],
    ['ca-server/plugin-catalog.ts', '../plugins/upstream/vault/index.js'],
    ['node-agent/probe.ts', '../core/backoff.js'],
  ])('%s may import %s', async (file, specifier) => {
    expect(await restricted(file, specifier)).toEqual([]);
  });
});
