import { createLogger } from '../core/log.js';
import { startNodeAgent } from '../node-agent/agent.js';
import { loadNodeAgentConfig } from '../node-agent/config.js';
import { flag, option, type Args } from './args.js';
import { configFlags, runUntilSignal } from './process.js';

export const AGENT_USAGE = `Usage: meshid agent run [--config FILE] [--join-token TOKEN] [--KEY=VALUE ...]

Runs the node agent. KEY is a dotted config key (e.g. --mode=k8s, --server.address=ca:15012,
--server.trustBundleFile=bundle.pem); environment variables MESHID_AGENT_<KEY> work too
(MESHID_AGENT_SERVER__ADDRESS). VM mode needs a join token on first start only.`;

/** `meshid agent run`: the node agent until SIGINT/SIGTERM. */
export async function runAgent(args: Args): Promise<number> {
  if (flag(args, 'help')) {
    console.log(AGENT_USAGE);
    return 0;
  }
  const joinToken = option(args, 'join-token');
  const config = loadNodeAgentConfig({
    file: option(args, 'config'),
    env: process.env,
    flags: { ...configFlags(args, ['config', 'join-token', 'help']), ...(joinToken !== undefined ? { joinToken } : {}) },
  });
  const agent = await startNodeAgent(config, createLogger({ name: 'meshid-agent', level: config.logLevel }));
  return runUntilSignal([agent]);
}
