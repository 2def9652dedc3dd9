// Proc.repeat() on the agent: a test's loop run where the kernel is. One
// round runs as usual, its requests and replies written down; the agent
// then runs the same requests round after round (the "repeat" op) for as
// long as every reply is the one written down, and stops at the first
// that differs. A round whose calls all answered as the first round's
// would have made the same calls again (the body depends only on its
// calls' results), so it needs no round trip and no turn of JavaScript.
// At a difference the body runs again, its calls up to that one answered
// from what the agent did (they have run), the rest sent as usual; so the
// kernel sees the calls the C would make, in its order, and the test
// judges every reply that could change what it does.

import { replyError, type Reply, type WireValue } from './connection.ts';

/** Ops a round may repeat: the agent's (proc.c, ops[]); loads and stores only while none can block in a fault. */
const REPEATS = new Set(['mprotect', 'madvise', 'read_file', 'write_file', 'pagemap', 'pagemap_scan', 'uffdio_writeprotect', 'descriptors']);
const REPEATS_UNLESS_BLOCKING = new Set(['read', 'write', 'fill', 'increment', 'write_each', 'check_each']);
/** The most requests a round may hold (the agent's MAX_STEPS). */
const MAX_STEPS = 64;
/** How long one repeat request should take: the runner's timeout and an interrupt wait no longer than this for it. */
const REPEAT_MS = 100;

/** One request of a round: the line the agent repeats (id 0), and its reply once it came. */
interface Step {
  readonly request: string;
  reply: Reply | null;
  /** the reply's line without its id: `{"ok":...}` */
  expect: string | null;
}

/** What a proc does for repeat(): send a request (with its line back), and say where its calls go. */
export interface RoundsHost {
  readonly pid: number;
  /** whether a load or store may block in a fault (the process has a userfaultfd): the agent then does not repeat them */
  mayBlock(): boolean;
  requestLine(op: string, fields: Readonly<Record<string, WireValue>>, json?: string): Promise<{ reply: Reply; line: string }>;
  /** routes the proc's requests through `to` until it is set back to null */
  intercept(to: Interceptor | null): void;
}

export type Interceptor = (op: string, fields: Readonly<Record<string, WireValue>>) => Promise<Reply>;

const requestOf = (pid: number, op: string, fields: Readonly<Record<string, WireValue>>): string => JSON.stringify({ id: 0, op, proc: pid, ...fields });

/** Runs body(i) with the host's requests written down: the round, or null if the agent could not repeat it. */
async function recordRound(host: RoundsHost, body: () => Promise<boolean>): Promise<{ go: boolean; steps: readonly Step[] | null }> {
  const steps: Step[] = [];
  let repeatable = true;
  host.intercept(async (op, fields) => {
    repeatable &&= steps.length < MAX_STEPS && fields['thread'] === undefined && (REPEATS.has(op) || (REPEATS_UNLESS_BLOCKING.has(op) && !host.mayBlock()));
    const step: Step = { request: requestOf(host.pid, op, fields), reply: null, expect: null };
    steps.push(step);
    const { reply, line } = await host.requestLine(op, { proc: host.pid, ...fields });
    step.reply = reply;
    step.expect = `{${line.slice(line.indexOf(',') + 1)}`;
    return reply;
  });
  try {
    const go = await body();
    return { go, steps: repeatable && steps.length > 0 && steps.every((s) => s.expect !== null) ? steps : null };
  } finally {
    host.intercept(null);
  }
}

/** Runs body(i) with its first calls answered by `replies` (calls that have run on the target), the rest sent as usual. */
async function replayRound(host: RoundsHost, body: () => Promise<boolean>, replies: readonly { request: string; reply: Reply }[]): Promise<boolean> {
  let next = 0;
  host.intercept(async (op, fields) => {
    const r = replies[next];
    if (r === undefined) return (await host.requestLine(op, { proc: host.pid, ...fields })).reply;
    next++;
    if (requestOf(host.pid, op, fields) !== r.request)
      throw new Error(`agent: repeat: a round made ${op} where the round before, its calls answered alike, made another: the loop depends on more than its calls' results`);
    const wrong = replyError(op, r.reply, JSON.stringify(r.reply));
    if (wrong) throw wrong;
    return r.reply;
  });
  try {
    const go = await body();
    if (next < replies.length) throw new Error('agent: repeat: a round made fewer calls than the round before, its calls answered alike');
    return go;
  } finally {
    host.intercept(null);
  }
}

interface Stop {
  readonly done: number;
  /** the step whose reply differed, and that reply; null when every round ran */
  readonly step: number | null;
  readonly reply: Reply | null;
}

async function repeatRounds(host: RoundsHost, steps: readonly Step[], times: number): Promise<Stop> {
  const json = `,"body":[${steps.map((s) => s.request).join(',')}],"expect":[${steps.map((s) => s.expect).join(',')}]`;
  const { reply } = await host.requestLine('repeat', { proc: host.pid, times }, json);
  if (reply['ok'] !== true) throw new Error(`agent: repeat failed: ${String(reply['errno'])}`);
  const done = reply['done'];
  if (typeof done !== 'number' || !Number.isSafeInteger(done) || done < 0 || done > times) throw new Error('agent: repeat reply: "done" is not a count of rounds');
  if (done === times) return { done, step: null, reply: null };
  const step = reply['step'];
  const stepReply = reply['reply'];
  if (typeof step !== 'number' || steps[step] === undefined) throw new Error('agent: repeat reply: "step" is not a step of the round');
  if (typeof stepReply !== 'object' || stepReply === null || Array.isArray(stepReply)) throw new Error('agent: repeat reply: "reply" is not a reply');
  return { done, step, reply: stepReply as Reply };
}

/** Whether two rounds made the same requests and had the same replies. */
function sameRound(a: readonly Step[], b: readonly Step[]): boolean {
  return a.length === b.length && a.every((s, k) => s.request === b[k]!.request && s.expect === b[k]!.expect);
}

/** Proc.repeat() through `host`: see the top of this file. */
export async function repeatOn(host: RoundsHost, times: number, body: (i: number) => Promise<boolean>): Promise<number> {
  let rounds = 16;
  let i = 0;
  /** the round before, written down */
  let before: readonly Step[] | null = null;
  while (i < times) {
    const { go, steps } = await recordRound(host, () => body(i));
    if (!go) return i;
    i++;
    // Two rounds alike first: a first round may make a call once only (vm_util's PAGEMAP_SCAN probe, kept in a static).
    const steady = steps !== null && before !== null && sameRound(steps, before);
    before = steps;
    if (!steady) continue;
    while (i < times) {
      const ask = Math.min(rounds, times - i);
      const started = performance.now();
      const stop = await repeatRounds(host, steps, ask);
      const took = performance.now() - started;
      if (stop.done === ask) rounds = Math.max(1, Math.min(1 << 16, Math.round((ask * REPEAT_MS) / Math.max(took, 1))));
      i += stop.done;
      if (stop.step === null) continue;
      const replies = [...steps.slice(0, stop.step).map((s) => ({ request: s.request, reply: s.reply! })), { request: steps[stop.step]!.request, reply: stop.reply! }];
      if (!(await replayRound(host, () => body(i), replies))) return i;
      i++;
      before = null; // its calls may answer otherwise from now on: two rounds alike again first
      break;
    }
  }
  return times;
}
