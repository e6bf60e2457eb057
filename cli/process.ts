import type { Args } from './args.js';

/** Dotted config keys given as flags (`--svid.maxTtl=24h`); `reserved` options are the command's own. */
export function configFlags(args: Args, reserved: readonly string[] = ['config']): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const [name, values] of args.options) if (!reserved.includes(name)) flags[name] = values[values.length - 1]!;
  return flags;
}

/** Resolves when SIGINT/SIGTERM arrives and everything has shut down gracefully (last started, first closed). */
export function runUntilSignal(servers: { close(): Promise<void> }[]): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      console.error(`meshid: ${signal} received, shutting down (in-flight requests finish first)`);
      Promise.all([...servers].reverse().map((s) => s.close())).then(
        () => resolve(0),
        (err: unknown) => {
          console.error(`meshid: shutdown failed: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop).on('SIGTERM', stop);
  });
}
