import { loadCaServerConfig, type CaServerConfig } from '../ca-server/config.js';
import { startCaServer, type CaServer } from '../ca-server/server.js';
import { createLogger } from '../core/log.js';
import { option, type Args } from './args.js';

/** Dotted config keys given as flags (`--svid.maxTtl=24h`); --config names the YAML file. */
export function configFlags(args: Args, reserved: readonly string[] = ['config']): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const [name, values] of args.options) if (!reserved.includes(name)) flags[name] = values[values.length - 1]!;
  return flags;
}

/** Resolves when SIGINT/SIGTERM arrives and everything has shut down gracefully. */
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

export async function startFromArgs(args: Args, overrides: Record<string, string> = {}): Promise<{ config: CaServerConfig; server: CaServer }> {
  const config = loadCaServerConfig({
    file: option(args, 'config'),
    env: process.env,
    flags: { ...overrides, ...configFlags(args) },
  });
  const server = await startCaServer(config, createLogger({ name: 'meshid-ca', level: config.logLevel }));
  return { config, server };
}

export async function runServer(args: Args): Promise<number> {
  const { server } = await startFromArgs(args);
  return runUntilSignal([server]);
}
