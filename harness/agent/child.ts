// An agent as a child process of this one, speaking JSON lines on its stdin
// and stdout: the native agent (linux-host), or any program an exec:
// target names. It runs in a private temporary directory of its own unless
// told otherwise, removed once it has exited: the files a test makes by a
// relative name (the C selftests' `pagemap_ioctl.c.tmp0`) never land in the
// user's.

import { spawn as spawnProcess, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, type Readable, type Writable } from 'node:stream';
import type { AgentLink } from './client.ts';
import { readNowFrom } from './read-now.ts';

/** How long a closed agent gets to exit on its own before it is killed. */
const EXIT_GRACE_MS = 2000;
/** How much of the agent's stderr a failure message quotes. */
const STDERR_TAIL = 2000;

type AgentProcess = ChildProcessByStdio<Writable, Readable, Readable>;

/** Ends the agent's input (it stops its processes and exits), or kills it (its whole process group, if it leads one) after `graceMs`. */
async function stop(child: AgentProcess, ended: Promise<void>, graceMs: number, group: boolean): Promise<void> {
  child.stdin.end();
  const kill = () => {
    if (!group || child.pid === undefined) return void child.kill('SIGKILL');
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  const timer = setTimeout(kill, graceMs);
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

export interface AgentProcessOptions {
  /** the native agent's proc ports: pipes past stderr, named to it with --proc-port-fd */
  readonly procPorts?: boolean;
  /**
   * Another program (an exec: target's command): it runs in the caller's
   * working directory, where its own paths are relative to, and leads a
   * process group of its own, which a kill ends whole (a shell's children too).
   */
  readonly foreign?: boolean;
}

/** Runs `file` with `args` as an agent, a child process of this one. */
export function startAgentProcess(file: string, args: readonly string[], options: AgentProcessOptions = {}): AgentLink {
  const ports = options.procPorts ? PROC_PORTS : 0;
  const foreign = options.foreign ?? false;
  const cwd = foreign ? process.cwd() : mkdtempSync(join(tmpdir(), 'mmconform-agent-'));
  const portArgs = Array.from({ length: ports }, (_, i) => ['--proc-port-fd', String(FIRST_PORT_FD + i)]).flat();
  const child: AgentProcess = spawnProcess(file, [...args, ...portArgs], { cwd, detached: foreign, stdio: ['pipe', 'pipe', 'pipe', ...Array<'pipe'>(ports).fill('pipe')] });
  const stream = agentStream(child, child.stdout, child.stdin);
  const portStreams = child.stdio.slice(FIRST_PORT_FD) as Duplex[];
  const procStreams = portStreams.map((p) => agentStream(child, p, p));

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
  }).then(() => (foreign ? undefined : rm(cwd, { recursive: true, force: true, maxRetries: 5 }).catch(() => {})));
  const scratch = Buffer.allocUnsafe(1 << 16);
  const sources = new Map<Duplex, Readable>([[stream, child.stdout], ...procStreams.map((st, i): [Duplex, Readable] => [st, portStreams[i]!])]);
  const readNow = (from: Duplex): Buffer | null => {
    const source = sources.get(from);
    return source ? readNowFrom(source, [source, from], scratch) : null;
  };
  return {
    stream,
    procStreams,
    readNow,
    describeEnd: () => [end ?? 'the agent closed its output', stderr.trim()].filter(Boolean).join('; stderr: '),
    close: () => stop(child, ended, EXIT_GRACE_MS, foreign),
    kill: () => stop(child, ended, 0, foreign),
  };
}

