// The linux-host target: this machine's kernel, through the native agent
// (harness/agent) run as a child process that speaks JSON lines on its
// stdin and stdout. The agent is built on first use (and cached); a fresh
// one replaces one that died or stopped answering at the next spawn().
// Each agent runs in a private temporary directory of its own, removed once
// it has exited: the files a test makes by a relative name (the C
// selftests' `pagemap_ioctl.c.tmp0`) never land in the user's.

import { spawn as spawnProcess, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { buildAgent } from '../agent/build.ts';
import { agentTarget, type AgentLink } from '../agent/client.ts';
import type { Target } from '../target.ts';

export interface LinuxHostOptions {
  /** per request (default 60 s) */
  readonly timeoutMs?: number;
}

/** How long a closed agent gets to exit on its own before it is killed. */
const EXIT_GRACE_MS = 2000;
/** How much of the agent's stderr a failure message quotes. */
const STDERR_TAIL = 2000;

type AgentProcess = ChildProcessByStdio<Writable, Readable, Readable>;

/** Ends the agent's input (it stops its processes and exits), or kills it after `graceMs`. */
async function stop(child: AgentProcess, ended: Promise<void>, graceMs: number): Promise<void> {
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await ended;
  clearTimeout(timer);
}

/** Runs the agent binary at `path` as a child process, its working directory a fresh private one (removed once it has exited). */
export function startAgentProcess(path: string): AgentLink {
  const cwd = mkdtempSync(join(tmpdir(), 'mmconform-agent-'));
  const child: AgentProcess = spawnProcess(path, [], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  // The reading side ends once the process has exited, so the reason is known by then;
  // a write to an agent that is gone is dropped (EPIPE): its end says why.
  const stream = new Duplex({
    read: () => void child.stdout.resume(),
    write: (chunk: Buffer, _encoding, done) => {
      if (child.stdin.writable) child.stdin.write(chunk);
      done();
    },
    final: (done) => {
      child.stdin.end();
      done();
    },
    destroy: (error, done) => {
      child.stdin.destroy();
      child.stdout.destroy();
      done(error);
    },
  });
  child.stdin.on('error', () => {});
  child.stdout.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) child.stdout.pause();
  });
  child.on('close', () => stream.push(null));

  let end: string | null = null;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
  });
  const ended = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      end = signal ? `the agent was killed by ${signal}` : `the agent exited with status ${code}`;
      resolve();
    });
    // it never ran: there is no exit, and no close, to wait for
    child.on('error', (e) => {
      end ??= `the agent could not run: ${e.message}`;
      stream.push(null);
      resolve();
    });
    // its procs die with it (PR_SET_PDEATHSIG): one still making a file is what the retries are for
  }).then(() => rm(cwd, { recursive: true, force: true, maxRetries: 5 }).catch(() => {}));
  return {
    stream,
    describeEnd: () => [end ?? 'the agent closed its output', stderr.trim()].filter(Boolean).join('; stderr: '),
    close: () => stop(child, ended, EXIT_GRACE_MS),
    kill: () => stop(child, ended, 0),
  };
}

export async function linuxHostTarget(options: LinuxHostOptions = {}): Promise<Target> {
  const agent = await buildAgent();
  return agentTarget({
    name: 'linux-host',
    start: async () => startAgentProcess(agent),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}
