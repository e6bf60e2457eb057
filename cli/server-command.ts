import { loadCaServerConfig, type CaServerConfig } from '../ca-server/config.js';
import { startCaServer, type CaServer } from '../ca-server/server.js';
import { createLogger } from '../core/log.js';
import { option, type Args } from './args.js';
import { configFlags, runUntilSignal } from './process.js';

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
