// A JSON-lines connection to the agent over any duplex byte stream (a
// child's stdin/stdout, a guest's serial console): one request line out,
// one reply line back, matched by id (protocol.schema.json). Replies may
// come in any order: a store blocked in a fault answers late.
//
// The connection fails as a whole, once, and every pending and later call
// rejects with the same one-line Error, when the stream ends or errors,
// when a request goes unanswered for the timeout (a stuck agent is not
// trusted again), or when a line is not a reply to a pending request (the
// stream is out of step). An "error" reply fails only its own call.

import type { Duplex } from 'node:stream';

/** a request field's value: a list only of hex strings (increment's addresses) or of integers (poll's descriptors) */
export type WireValue = string | number | boolean | readonly string[] | readonly number[] | WireObject | readonly WireObject[];
/** A nested object of a request (check_each's on_signal) */
export interface WireObject {
  readonly [key: string]: WireValue;
}
export type Reply = Readonly<Record<string, unknown>>;

export interface ConnectionOptions {
  /** how long a request may go unanswered (default 60 s) */
  readonly timeoutMs?: number;
  /** why the stream ended, if the owner knows (an exit status, the agent's last stderr) */
  readonly describeEnd?: () => string;
  /** what the owner knows of why a proc was killed (the kernel's log lines naming its pid), if anything */
  readonly describeKill?: (pid: number) => string | undefined;
  /**
   * What the stream has to read right now, without waiting (null: nothing,
   * or it cannot tell): lets a caller wait for a short reply without
   * sleeping in the event loop (AgentConnection's spin).
   */
  readonly readNow?: () => Buffer | null;
  /** the requests parked in the agent over every connection to it (shared): none spins while one is */
  readonly parked?: ParkedRequests;
}

/**
 * Requests that may wait in the agent for something another request does
 * (a poll, a read of a userfaultfd or pipe, a fork held by its FORK event),
 * over all connections to one agent. While one is out its reply may come
 * on any connection at any moment, and the test's code that reacts to it
 * must be free to run: no request spins meanwhile.
 */
export class ParkedRequests {
  count = 0;
}

/** How long requests wait for their replies by reading the stream directly, before they sleep in the event loop. */
export const SPIN_MS = 2;

export const DEFAULT_TIMEOUT_MS = 60_000;

interface Pending {
  readonly op: string;
  /** the reply, and its line as it came */
  readonly resolve: (reply: Reply, line: string) => void;
  readonly reject: (error: Error) => void;
  /** when it was sent (performance.now()) */
  readonly sent: number;
  /** it may wait in the agent (ParkedRequests) */
  readonly parks: boolean;
}

const NEWLINE = 0x0a;

/** A line as an error message shows it: short, on one line. */
function clip(text: string): string {
  const line = text.slice(0, 200).replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 120)}...` : line;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A request for an op the agent's hello did not list: it is never sent. */
export class NotServedError extends Error {
  constructor(readonly op: string) {
    super(`agent: does not serve "${op}" (its hello lists the ops it serves)`);
  }
}

export class AgentConnection {
  /** the ops the agent serves, once its hello has said (null: any) */
  served: ReadonlySet<string> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private partial: Buffer[] = [];
  private failure: Error | null = null;
  private readonly timeoutMs: number;
  /** request lines made this turn, written together when it ends (one write, not one each) */
  private outgoing: string[] = [];
  /** their ids */
  private outgoingIds: number[] = [];
  private flushQueued = false;
  /** one timer for every pending request: it fires for the oldest */
  private watchdog: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly stream: Duplex,
    private readonly options: ConnectionOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    stream.on('data', (chunk: Buffer | string) => this.onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.on('end', () => this.fail(this.endError()));
    stream.on('close', () => this.fail(this.endError()));
    stream.on('error', (e: Error) => this.fail(new Error(`agent: connection failed: ${clip(e.message)}`)));
  }

  /** Why the connection is unusable; null while it works. */
  get failed(): Error | null {
    return this.failure;
  }

  /**
   * Sends `{id, op, ...fields}`; resolves with the reply ("ok" true or false), rejects on an "error" reply.
   * `parks`: it may wait in the agent for another request (ParkedRequests).
   */
  request(op: string, fields: Readonly<Record<string, WireValue>> = {}, parks = false): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => this.enqueue(op, fields, '', resolve, reject, parks));
  }

  /**
   * request(), resolving with the reply's line as well; `json` holds more
   * fields already in JSON (`,"key":value...`), which go after the others.
   */
  requestLine(op: string, fields: Readonly<Record<string, WireValue>>, json = ''): Promise<{ reply: Reply; line: string }> {
    return new Promise((resolve, reject) => this.enqueue(op, fields, json, (reply, line) => resolve({ reply, line }), reject));
  }

  private enqueue(op: string, fields: Readonly<Record<string, WireValue>>, json: string, resolve: Pending['resolve'], reject: Pending['reject'], parks = false): void {
    if (this.failure) return reject(this.failure);
    if (this.served && !this.served.has(op)) return reject(new NotServedError(op));
    const id = this.nextId++;
    this.pending.set(id, { op, resolve, reject, sent: performance.now(), parks });
    if (parks && this.options.parked) this.options.parked.count++;
    const line = JSON.stringify({ id, op, ...fields });
    this.outgoing.push(json ? `${line.slice(0, -1)}${json}}\n` : `${line}\n`);
    if (!parks) this.outgoingIds.push(id);
    this.watchdog ??= setTimeout(() => this.watch(), this.timeoutMs);
    // once the caller has made the calls it makes together (this turn's synchronous code)
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes this turn's requests at once, then waits for their replies as spin() does. */
  private flush(): void {
    this.flushQueued = false;
    if (this.failure) return;
    this.stream.write(this.outgoing.join(''));
    const sent = this.outgoingIds;
    this.outgoing = [];
    this.outgoingIds = [];
    if (this.options.readNow) this.spin(sent);
  }

  /** Fails the connection if its oldest pending request has waited the timeout, or looks again when it will have. */
  private watch(): void {
    this.watchdog = null;
    const oldest = this.pending.values().next();
    if (oldest.done) return;
    const waited = performance.now() - oldest.value.sent;
    if (waited >= this.timeoutMs)
      return this.fail(new Error(`agent: no reply to ${oldest.value.op} in ${this.timeoutMs / 1000} s; the agent is not used again`));
    this.watchdog = setTimeout(() => this.watch(), this.timeoutMs - waited);
  }

  /**
   * Reads replies as they come, for up to SPIN_MS, while requests just
   * sent are pending: a test's next request depends on this reply, and an event
   * loop asleep until it comes costs a scheduler wakeup or three, tens of
   * microseconds each on a virtual CPU (measured: bench/ports.bench.ts).
   */
  private spin(sent: readonly number[]): void {
    const readNow = this.options.readNow!;
    const deadline = performance.now() + SPIN_MS;
    // only for the requests just sent: one parked in the agent (a poll, a store in a fault) would hold every later one for the whole spin
    const waiting = () => sent.some((id) => this.pending.has(id));
    const parked = this.options.parked;
    while (waiting() && !this.failure && (!parked || parked.count === 0) && performance.now() < deadline) {
      const chunk = readNow();
      if (chunk) this.onData(chunk);
    }
  }

  /** Fails every pending and later call with `error` and lets go of the stream. */
  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    if (this.watchdog) clearTimeout(this.watchdog);
    for (const p of this.pending.values()) {
      this.unpark(p);
      p.reject(error);
    }
    this.pending.clear();
    this.partial = [];
    this.outgoing = [];
    this.outgoingIds = [];
    this.stream.destroy();
  }

  /** Ends the stream: the agent sees end of input and stops. */
  close(): void {
    if (this.failure) return;
    this.stream.end();
    this.fail(new Error('agent: connection closed by the harness'));
  }

  private endError(): Error {
    const why = this.options.describeEnd?.();
    return new Error(`agent: connection closed${why ? `: ${clip(why)}` : ''}`);
  }

  private onData(chunk: Buffer): void {
    let from = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl >= 0 && !this.failure; nl = chunk.indexOf(NEWLINE, from)) {
      let line: string;
      if (this.partial.length === 0) line = chunk.toString('utf8', from, nl);
      else {
        this.partial.push(chunk.subarray(from, nl));
        line = Buffer.concat(this.partial).toString('utf8');
        this.partial = [];
      }
      from = nl + 1;
      if (line.trim() !== '') this.onLine(line);
    }
    if (!this.failure && from < chunk.length) this.partial.push(chunk.subarray(from));
  }

  private unpark(p: Pending): void {
    if (p.parks && this.options.parked) this.options.parked.count--;
  }

  private onLine(line: string): void {
    let reply: unknown;
    try {
      reply = JSON.parse(line);
    } catch {
      return this.fail(new Error(`agent: malformed reply: ${clip(line)}`));
    }
    if (!isObject(reply)) return this.fail(new Error(`agent: reply is not a JSON object: ${clip(line)}`));
    const id = reply['id'];
    const pending = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (typeof id !== 'number' || pending === undefined) {
      // id null: the agent could not read a request of ours, or a proc on a port of its own died
      const error = typeof reply['error'] === 'string' ? `${clip(reply['error'])}${killedWhy(reply['error'], this.options.describeKill)}` : `reply to no pending request: ${clip(line)}`;
      return this.fail(new Error(`agent: ${error}`));
    }
    this.pending.delete(id);
    this.unpark(pending);
    // nothing left to watch: a timer armed with nothing pending would hold the process open
    if (this.pending.size === 0 && this.watchdog) {
      clearTimeout(this.watchdog);
      this.watchdog = null;
    }
    const wrong = replyError(pending.op, reply, line, this.options.describeKill);
    if (wrong) pending.reject(wrong);
    else pending.resolve(reply, line);
  }
}

/** The agent's word for a proc that died by a signal (agent.c's child_gone()). */
const KILLED = /^proc (\d+) was killed by SIG\w+/;

/** "; " and what the owner knows of the kill an agent's error reports, or nothing. */
function killedWhy(error: string, describeKill?: (pid: number) => string | undefined): string {
  const pid = KILLED.exec(error)?.[1];
  const why = pid !== undefined ? describeKill?.(Number(pid)) : undefined;
  return why !== undefined ? `; ${why}` : '';
}

/** Why a reply to `op` fails its call: an "error" reply, or one without "ok"; null for a reply. */
export function replyError(op: string, reply: Reply, line: string, describeKill?: (pid: number) => string | undefined): Error | null {
  const error = reply['error'];
  if (typeof error === 'string') return new Error(`agent: ${op}: ${clip(error)}${killedWhy(error, describeKill)}`);
  if (typeof reply['ok'] !== 'boolean') return new Error(`agent: ${op}: reply without "ok": ${clip(line)}`);
  return null;
}
