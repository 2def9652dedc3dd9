// For tests of the native agent: the binary (or why there is none here),
// and a raw JSON-lines session with it that can send anything at all.

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { buildAgent, NoCompilerError } from '../agent/build.ts';

export type Json = Readonly<Record<string, unknown>>;

/** A reply's bytes field as bytes: hex, with runs written "*XXcount;" (json.c's jw_bytes()). */
export function hexBytes(data: unknown): Buffer {
  if (typeof data !== 'string') throw new Error(`not a bytes field: ${String(data)}`);
  return Buffer.from(data.replace(/\*([0-9a-f]{2})(\d+);/g, (_, byte: string, count: string) => byte.repeat(Number(count))), 'hex');
}

/** The agent binary, or why the tests that need it skip (no C compiler here). */
export const AGENT: { readonly path: string; readonly skip: null } | { readonly path: null; readonly skip: string } = await buildAgent().then(
  (path) => ({ path, skip: null }),
  (e: unknown) => {
    if (e instanceof NoCompilerError) return { path: null, skip: e.message };
    throw e;
  },
);

/** A session with the agent binary over its stdin/stdout, line by line, with no client in between. */
export class RawAgent {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly lines: string[] = [];
  private readonly waiting: ((line: string | null) => void)[] = [];
  private ended = false;
  private nextId = 1000;

  /** Runs `file` (the agent, or a command that runs it) with `args`. */
  constructor(file: string, args: readonly string[] = []) {
    this.child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.on('error', () => {});
    this.child.stderr.resume();
    const rl = createInterface({ input: this.child.stdout });
    rl.on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
    rl.on('close', () => {
      this.ended = true;
      for (const w of this.waiting.splice(0)) w(null);
    });
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Sends text as the last of the input, with no newline after it, and ends the input. */
  sendLast(text: string): void {
    this.child.stdin.end(text);
  }

  /** The next line the agent writes; null at end of output. */
  nextLine(): Promise<string | null> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async next(): Promise<Json> {
    const line = await this.nextLine();
    if (line === null) throw new Error('the agent closed its output');
    return JSON.parse(line) as Json;
  }

  /** Sends a request (an id added) and returns its reply. */
  async ask(request: Readonly<Record<string, unknown>>): Promise<Json> {
    const id = this.nextId++;
    this.send(JSON.stringify({ id, ...request }));
    const reply = await this.next();
    if (reply['id'] !== id) throw new Error(`expected the reply to ${id}, got ${JSON.stringify(reply).slice(0, 200)}`);
    return reply;
  }

  /** A new process of the agent's: its pid. */
  async spawnProc(): Promise<number> {
    const reply = await this.ask({ op: 'spawn' });
    if (typeof reply['proc'] !== 'number') throw new Error(`spawn: ${JSON.stringify(reply)}`);
    return reply['proc'];
  }

  /** Ends its input and waits for it to exit. */
  async close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const exited = this.child.exitCode !== null || this.child.signalCode !== null ? null : once(this.child, 'exit');
    this.child.stdin.end();
    if (exited) await exited;
    return { code: this.child.exitCode, signal: this.child.signalCode };
  }
}
