/** Parsed command line: positionals plus `--name value` / `--name=value` options (repeatable). */
export interface Args {
  positionals: string[];
  options: Map<string, string[]>;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `booleans` lists options that take no value (e.g. --help, --json). */
export function parseArgs(argv: readonly string[], booleans: readonly string[] = ['help', 'json']): Args {
  const positionals: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (booleans.includes(name)) value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    options.set(name, [...(options.get(name) ?? []), value]);
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

export function flag(args: Args, name: string): boolean {
  return option(args, name) === 'true';
}

/** Rejects options the command does not take, so a typo never silently changes nothing. */
export function allowOptions(args: Args, names: readonly string[]): void {
  for (const name of args.options.keys()) {
    if (!names.includes(name)) throw new UsageError(`unknown option --${name} (this command takes: ${names.map((n) => `--${n}`).join(', ')})`);
  }
}
