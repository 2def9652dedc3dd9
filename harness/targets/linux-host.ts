// The linux-host target: this machine's kernel, through the native agent
// (harness/agent) run as a child process (agent/child.ts). The agent is
// built on first use (and cached); a fresh one replaces one that died or
// stopped answering at the next spawn().

import { buildAgent } from '../agent/build.ts';
import { startAgentProcess } from '../agent/child.ts';
import { agentTarget } from '../agent/client.ts';
import type { Target } from '../target.ts';

export interface LinuxHostOptions {
  /** per request (default 60 s) */
  readonly timeoutMs?: number;
}

export async function linuxHostTarget(options: LinuxHostOptions = {}): Promise<Target> {
  const agent = await buildAgent();
  return agentTarget({
    name: 'linux-host',
    start: async () => startAgentProcess(agent, [], { procPorts: true }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}
