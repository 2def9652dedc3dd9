// The exec target: any program that speaks the native agent's JSON-lines
// protocol (agent/protocol.schema.json) on its stdin and stdout, run as
// `/bin/sh -c CMD` from the caller's working directory. Another model (in
// any language), or a kernel behind ssh, plugs in this way. Every reply is
// checked at the boundary (agent/client.ts): one that answers garbage, hangs
// past the request timeout or dies fails the calls it owed with an Error
// saying why, and the next spawn() starts the program afresh.

import { startAgentProcess } from '../agent/child.ts';
import { agentTarget } from '../agent/client.ts';
import type { Target } from '../target.ts';

export interface ExecOptions {
  /** per request (default 60 s) */
  readonly timeoutMs?: number;
}

/** `command` is what follows "exec:" in the target's name. */
export async function execTarget(command: string, options: ExecOptions = {}): Promise<Target> {
  if (command.trim() === '') throw new Error('no command (use exec:CMD, e.g. exec:"python3 examples/py-model/model.py")');
  return agentTarget({
    name: `exec:${command}`,
    start: async () => startAgentProcess('/bin/sh', ['-c', command], { foreign: true }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}
