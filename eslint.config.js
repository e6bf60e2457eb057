import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Import boundaries of the architecture (README, Layout): each layer names the layers it must not reach. */
const forbid = (message, ...regexes) => ({
  '@typescript-eslint/no-restricted-imports': ['error', { patterns: regexes.map((regex) => ({ regex, message })) }],
});
const dir = (name) => `(^|/)${name}/`;
const layers = [
  {
    files: ['core/**/*.ts'],
    rules: forbid('core/ is the shared base: it imports no CA server, node agent, plugin or CLI code.', dir('ca-server'), dir('node-agent'), dir('plugins'), dir('cli')),
  },
  {
    files: ['plugins/**/*.ts'],
    rules: forbid('plugins implement plugins/api and use core/ only; what they need from the CA comes through a port in plugins/api.', dir('ca-server'), dir('node-agent'), dir('cli')),
  },
  {
    files: ['ca-server/**/*.ts'],
    ignores: ['ca-server/plugin-catalog.ts'],
    rules: forbid('the CA server sees plugins only through plugins/api; concrete plugins are wired in ca-server/plugin-catalog.ts.', '(^|/)plugins/(?!api/)', dir('node-agent'), dir('cli')),
  },
  {
    files: ['node-agent/**/*.ts'],
    rules: forbid('the node agent talks to the CA over its API only; shared code lives in core/.', dir('ca-server'), dir('plugins'), dir('cli')),
  },
].map((layer) => ({ ...layer, ignores: [...(layer.ignores ?? []), '**/*.test.ts'] }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.meshid/**', 'protos/gen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...layers,
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } } },
);
