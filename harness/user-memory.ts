// The test program's own loads and stores (`map[0]++`, `*map = 1`). A fault
// the kernel answers with a signal kills the C program; here it unwinds the
// port with KilledBySignal, which the runner reports as kselftest's runner
// reports a test binary killed by that signal.

import type { CheckResult, FillCheck, LoopCall, MemResult, OnSignal, Proc, Strided } from './target.ts';

/** Each signal's number, and what the shell prints when it kills a job (strsignal()). */
export const FATAL_SIGNALS = {
  SIGBUS: { number: 7, description: 'Bus error' },
  SIGSEGV: { number: 11, description: 'Segmentation fault' },
} as const;
export type FatalSignal = keyof typeof FATAL_SIGNALS;

export class KilledBySignal extends Error {
  override name = 'KilledBySignal';
  constructor(
    readonly signal: FatalSignal,
    readonly addr: bigint,
  ) {
    super(`killed by ${signal} at 0x${addr.toString(16)}`);
  }
}

export async function load(proc: Proc, addr: bigint, length: number): Promise<Uint8Array> {
  const r = await proc.read(addr, length);
  if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
  if (r.data.length !== length) throw new Error(`read of ${length} bytes at 0x${addr.toString(16)} returned ${r.data.length}`);
  return r.data;
}

export async function store(proc: Proc, addr: bigint, data: Uint8Array): Promise<void> {
  const r = await proc.write(addr, data);
  if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
}

/** `p[b] = ~p[b]` for each of the length bytes from addr, a loop of the program's own: in one call where the target has Proc.invert. */
export async function invert(proc: Proc, addr: bigint, length: number): Promise<void> {
  if (proc.invert) {
    const r = await proc.invert(addr, BigInt(length));
    if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
    return;
  }
  const bytes = await load(proc, addr, length);
  for (let b = 0; b < bytes.length; ++b) bytes[b] = ~bytes[b]! & 0xff;
  await store(proc, addr, bytes);
}

/** How many of a loop's stores or fills go out together where the target has no call for the whole loop. */
const STORES_AHEAD = 256;

/** call(i) for i below n, STORES_AHEAD of them sent before their answers are awaited */
async function ahead(n: number, call: (i: number) => Promise<void>): Promise<void> {
  const calls: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const c = call(i);
    c.catch(() => {});
    calls.push(c);
    if (calls.length >= STORES_AHEAD) for (const p of calls.splice(0)) await p;
  }
  for (const p of calls) await p;
}

/** `memcpy(a, data, n)` at each address in turn, a loop of the program's own: in one call where the target has Proc.storeEach. */
export async function storeEach(proc: Proc, addrs: readonly bigint[], data: Uint8Array): Promise<void> {
  if (!proc.storeEach) return ahead(addrs.length, (i) => store(proc, addrs[i]!, data));
  const r = await proc.storeEach(addrs, data);
  if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
}

/** `memset(addrs[i], bytes[i], length)` for each address in turn, a loop of the program's own: in one call where the target has Proc.fillEach. */
export async function fillEach(proc: Proc, addrs: readonly bigint[], length: bigint, bytes: Uint8Array): Promise<void> {
  if (!proc.fillEach) return ahead(addrs.length, (i) => memset(proc, addrs[i]!, bytes[i]!, length));
  const r = await proc.fillEach(addrs, length, bytes);
  if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
}

/**
 * The byte loops that check the length bytes at each address against its
 * byte, in turn: where the target has no Proc.checkFill, loads of up to
 * LOAD_CHUNK bytes where the addresses follow each other (a load goes
 * through its bytes in order, so it takes the same faults in the same
 * order, each page's at its first byte).
 */
export async function checkFill(proc: Proc, addrs: readonly bigint[], length: bigint, bytes: Uint8Array): Promise<FillCheck> {
  if (proc.checkFill) return proc.checkFill(addrs, length, bytes);
  const perLoad = Math.max(1, Number(LOAD_CHUNK / (length || 1n)));
  const filled: Uint8Array[] = [];
  for (let first = 0; first < addrs.length; ) {
    let n = 1;
    while (n < perLoad && first + n < addrs.length && addrs[first + n] === addrs[first]! + BigInt(n) * length) n++;
    const r = await proc.read(addrs[first]!, Number(BigInt(n) * length));
    if (!r.ok) return { done: first + Number((r.addr - addrs[first]!) / (length || 1n)), stop: r };
    for (let i = 0; i < n; i++) {
      const piece = r.data.subarray(i * Number(length), (i + 1) * Number(length));
      const byte = bytes[first + i]!;
      // the byte loop's answer: a memcmp() with the byte's fill first, as most pages hold it
      if (Buffer.compare(piece, (filled[byte] ??= new Uint8Array(piece.length).fill(byte))) === 0) continue;
      const k = piece.findIndex((b) => b !== byte);
      return { done: first + i, stop: { offset: BigInt(k), value: piece[k]! } };
    }
    first += n;
  }
  return { done: addrs.length, stop: null };
}

/** checkFill()'s largest load */
const LOAD_CHUNK = 4n << 20n;

/** One address of a checkLoop(): the value its load found (stored back, if asked, where it was the one expected), or the signal of the load or the store. */
export type Check = { readonly ok: true; readonly value: bigint } | Extract<MemResult, { ok: false }>;

/**
 * A loop's `v = *(u64 *)addrs[i]; if (v != expect[i]) ...;`, with storeBack
 * then `*(u64 *)addrs[i] = v;`, each address's outcome asked for in turn
 * with at(i) (again after a signal: the loop retries it). Where the target
 * has Proc.checkEach, the addresses from i on go in one call, which stops
 * where the loop's code is to judge (a value other than expected, a
 * signal); else each load and store is a call of its own. onSignal says
 * what the loop's code does at a signal, where it is that simple: the call
 * then goes on past the signals it handles, and the loop's code, asking
 * for the outcomes in the order they came, makes the calls that were made
 * for it (Proc.checkEach).
 */
export function checkLoop(
  proc: Proc,
  addrs: readonly bigint[],
  expect: readonly bigint[],
  storeBack: boolean,
  onSignal?: OnSignal,
): { at(i: number): Promise<Check> } {
  /** the outcomes of the last call not yet asked for, in the order the loop meets them */
  let made: Outcomes | null = null;
  /** how many addresses the next call takes: doubled while calls go through whole, small again after a stop (a loop that stops at every address sends each few) */
  let window = FIRST_WINDOW;
  const one = async (i: number): Promise<Check> => {
    const r = await proc.read(addrs[i]!, 8);
    if (!r.ok) return r;
    const value = new DataView(r.data.buffer, r.data.byteOffset, 8).getBigUint64(0, true);
    if (value !== expect[i] || !storeBack) return { ok: true, value };
    const w = await proc.write(addrs[i]!, r.data);
    return w.ok ? { ok: true, value } : w;
  };
  return {
    async at(i) {
      if (!proc.checkEach) return one(i);
      if (made?.next()?.i !== i) {
        if (made?.ahead()) throw new Error(`checkLoop: the loop went to address ${i} where its OnSignal had it go on at ${made.next()?.i}: the OnSignal does not describe the loop`);
        const to = Math.min(addrs.length, i + window);
        const result = await proc.checkEach(addrs.slice(i, to), expect.slice(i, to), storeBack, onSignal && shifted(onSignal, i));
        made = new Outcomes(i, result, expect);
        window = result.stop ? FIRST_WINDOW : window * 2;
      }
      return made.take();
    },
  };
}

/** onSignal for a call from address `from`: its address 0 there. */
function shifted(h: OnSignal, from: number): OnSignal {
  const at = (s: Strided): Strided => ({ base: s.base + BigInt(from) * s.stride, stride: s.stride });
  return {
    then: h.then.map((a) =>
      a === 'skip' ? a : a.map((c): LoopCall => (c.call === 'uffdioCopy' ? { ...c, dst: at(c.dst), src: at(c.src) } : { ...c, start: at(c.start) })),
    ),
  };
}

/** A checkEach() call's outcomes from address `from`, in the loop's order: each address's handled signals, then its value (a skipped one has none). */
class Outcomes {
  /** the address of the next outcome, and the next event */
  private i: number;
  private e = 0;
  /** the last outcome taken was an event whose calls were made, and the address tried again */
  private retry = false;

  constructor(
    private readonly from: number,
    private readonly result: CheckResult,
    private readonly expect: readonly bigint[],
  ) {
    this.i = from;
  }

  /** the next outcome, null past the last */
  next(): { readonly i: number; readonly check: Check } | null {
    const event = this.result.events?.[this.e];
    if (event && this.from + event.i === this.i) return { i: this.i, check: { ok: false, signal: event.signal, addr: event.addr } };
    const end = this.from + this.result.done;
    if (this.i < end) return { i: this.i, check: { ok: true, value: this.expect[this.i]! } };
    const stop = this.result.stop;
    if (this.i > end || stop === null || 'handler' in stop) return null;
    return { i: this.i, check: 'value' in stop ? { ok: true, value: stop.value } : { ok: false, signal: stop.signal, addr: stop.addr } };
  }

  take(): Check {
    const { check } = this.next()!;
    const events = this.result.events ?? [];
    const event = events[this.e];
    if (event && this.from + event.i === this.i) {
      this.e++;
      this.retry = !event.skip && !(this.e === events.length && this.result.stop !== null && 'handler' in this.result.stop);
      if (event.skip) this.i++;
    } else {
      this.retry = false;
      this.i++;
    }
    return check;
  }

  /** whether the agent has gone ahead of the loop: events not taken, or the address tried again after calls */
  ahead(): boolean {
    return this.retry || this.e < (this.result.events?.length ?? 0);
  }
}

/** checkLoop()'s first call: 16 addresses */
const FIRST_WINDOW = 16;

/** `*(char *)addr` */
export async function loadByte(proc: Proc, addr: bigint): Promise<number> {
  return (await load(proc, addr, 1))[0] ?? 0;
}

/** `*(char *)addr = value` (truncated to a byte, as C's char conversion does) */
export async function storeByte(proc: Proc, addr: bigint, value: number): Promise<void> {
  await store(proc, addr, Uint8Array.of(value));
}

/** memset(addr, c, n): c converted to unsigned char, as memset() does */
export async function memset(proc: Proc, addr: bigint, c: number, n: bigint): Promise<void> {
  const r = await proc.fill(addr, n, c & 0xff);
  if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
}

/** `addr[0]++` at each address in turn, as a C loop over them does */
export async function increment(proc: Proc, addrs: readonly bigint[]): Promise<void> {
  const r = await proc.increment(addrs);
  if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
}
