import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { ConfigError, section } from './config-values.js';

/** A small text file a setting points at (config file, join token file); errors name the setting. */
export function readConfigText(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

/** The YAML mapping of a `--config` file; undefined file = no file layer. */
export function readYamlConfigFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  const text = readConfigText('--config', file);
  try {
    return section(file, YAML.parse(text));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(file, `not valid YAML: ${(err as Error).message}`);
  }
}
