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
import { readNowFrom } from '../agent/read-now.ts';
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

/** Ports a proc may have to itself (the agent's --proc-port-fd): sockets to this process, past the router. */
const PROC_PORTS = 4;
/** The first of them in the agent: the descriptor after stdin, stdout and stderr. */
const FIRST_PORT_FD = 3;

/**
 * One of the agent's streams (its stdin and stdout, or a proc port) as the
 * connection sees it: the reading side ends once the process has exited,
 * so the reason is known by then; a write to an agent that is gone is
 * dropped (EPIPE): its end says why.
 */
function agentStream(child: AgentProcess, from: Readable, to: Writable): Duplex {
  const stream = new Duplex({
    read: () => void from.resume(),
    write: (chunk: Buffer, _encoding, done) => {
      if (to.writable) to.write(chunk);
      done();
    },
    final: (done) => {
      to.end();
      done();
    },
    destroy: (error, done) => {
      to.destroy();
      from.destroy();
      done(error);
    },
  });
  to.on('error', () => {});
  from.on('error', () => {});
  from.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) from.pause();
  });
  child.on('close', () => stream.push(null));
  return stream;
}

/** Runs the agent binary at `path` as a child process, its working directory a fresh private one (removed once it has exited). */
export function startAgentProcess(path: string): AgentLink {
  const cwd = mkdtempSync(join(tmpdir(), 'mmconform-agent-'));
  const portArgs = Array.from({ length: PROC_PORTS }, (_, i) => ['--proc-port-fd', String(FIRST_PORT_FD + i)]).flat();
  const child: AgentProcess = spawnProcess(path, portArgs, { cwd, stdio: ['pipe', 'pipe', 'pipe', ...Array<'pipe'>(PROC_PORTS).fill('pipe')] });
  const stream = agentStream(child, child.stdout, child.stdin);
  const ports = child.stdio.slice(FIRST_PORT_FD) as Duplex[];
  const procStreams = ports.map((p) => agentStream(child, p, p));

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
      for (const st of [stream, ...procStreams]) st.push(null);
      resolve();
    });
    // its procs die with it (PR_SET_PDEATHSIG): one still making a file is what the retries are for
  }).then(() => rm(cwd, { recursive: true, force: true, maxRetries: 5 }).catch(() => {}));
  const scratch = Buffer.allocUnsafe(1 << 16);
  const sources = new Map<Duplex, Readable>([[stream, child.stdout], ...procStreams.map((st, i): [Duplex, Readable] => [st, ports[i]!])]);
  const readNow = (from: Duplex): Buffer | null => {
    const source = sources.get(from);
    return source ? readNowFrom(source, [source, from], scratch) : null;
  };
  return {
    stream,
    procStreams,
    readNow,
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
