import { parseArgs as parseNodeArgs } from 'node:util';

/** Parsed command line: positionals plus `--name value` / `--name=value` options (repeatable). */
export interface Args {
  positionals: string[];
  options: Map<string, string[]>;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Tokenised by node:util's parseArgs (non-strict: commands check their own options with allowOptions, and
 * `meshid server` / `agent run` take any dotted config key). `booleans` lists options that take no value
 * (e.g. --help, --json); any other option takes `--name=value` or the next argument.
 */
export function parseArgs(argv: readonly string[], booleans: readonly string[] = ['help', 'json']): Args {
  const { tokens } = parseNodeArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    tokens: true,
    options: Object.fromEntries(booleans.map((name) => [name, { type: 'boolean' as const }])),
  });
  const positionals: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    let value = token.value;
    if (value === undefined && booleans.includes(token.name)) value = 'true';
    else if (value === undefined) {
      const next = tokens[i + 1];
      if (next?.kind !== 'positional') throw new UsageError(`${token.rawName} needs a value`);
      value = next.value;
      i++;
    }
    options.set(token.name, [...(options.get(token.name) ?? []), value]);
  }
  return { positionals, options };
}

export function option(args: Args, name: string): string | undefined {
  const values = args.options.get(name);
  return values?.[values.length - 1];
}

export function requiredOption(args: Args, name: string): string {
  const value = option(args, name);
  if (value === undefined) throw new UsageError(`--${name} is required`);
  return value;
}

/** The command's object, e.g. the ID in `meshid entry delete <id>` (the third word); `usage` when it is missing. */
export function operand(args: Args, usage: string): string {
  const value = args.positionals[2];
  if (!value) throw new UsageError(`usage: ${usage}`);
  return value;
}

export function flag(args: Args, name: string): boolean {
  return option(args, name) === 'true';
}

/** Rejects options the command does not take, so a typo never silently changes nothing. */
export function allowOptions(args: Args, names: readonly string[]): void {
  for (const name of args.options.keys()) {
    if (!names.includes(name)) throw new UsageError(`unknown option --${name} (this command takes: ${names.map((n) => `--${n}`).join(', ')})`);
  }
}
