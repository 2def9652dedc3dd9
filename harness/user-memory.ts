// The test program's own loads and stores (`map[0]++`, `*map = 1`). A fault
// the kernel answers with a signal kills the C program; here it unwinds the
// port with KilledBySignal, which the runner reports as kselftest's runner
// reports a test binary killed by that signal.

import type { MemResult, Proc, CheckResult } from './target.ts';

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

/** How many of storeEach()'s writes go out together where the target has no Proc.storeEach. */
const STORES_AHEAD = 256;

/** `memcpy(a, data, n)` at each address in turn, a loop of the program's own: in one call where the target has Proc.storeEach. */
export async function storeEach(proc: Proc, addrs: readonly bigint[], data: Uint8Array): Promise<void> {
  if (proc.storeEach) {
    const r = await proc.storeEach(addrs, data);
    if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
    return;
  }
  const stores: Promise<void>[] = [];
  for (const a of addrs) {
    const s = store(proc, a, data);
    s.catch(() => {});
    stores.push(s);
    if (stores.length >= STORES_AHEAD) for (const p of stores.splice(0)) await p;
  }
  for (const p of stores) await p;
}

/** One address of a checkLoop(): the value its load found (stored back, if asked, where it was the one expected), or the signal of the load or the store. */
export type Check = { readonly ok: true; readonly value: bigint } | Extract<MemResult, { ok: false }>;

/**
 * A loop's `v = *(u64 *)addrs[i]; if (v != expect[i]) ...;`, with storeBack
 * then `*(u64 *)addrs[i] = v;`, each address's outcome asked for in turn
 * with at(i) (again after a
 * signal: the loop retries it). Where the target has Proc.checkEach, the
 * addresses from i on go in one call, which stops where the loop's code is
 * to judge (a value other than expected, a signal); else each load and
 * store is a call of its own.
 */
export function checkLoop(proc: Proc, addrs: readonly bigint[], expect: readonly bigint[], storeBack: boolean): { at(i: number): Promise<Check> } {
  /** the last call, made for the addresses from `from` on */
  let made: { from: number; result: CheckResult } | null = null;
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
      if (made === null || i < made.from || i >= made.from + made.result.done + (made.result.stop ? 1 : 0)) {
        const to = Math.min(addrs.length, i + window);
        made = { from: i, result: await proc.checkEach(addrs.slice(i, to), expect.slice(i, to), storeBack) };
        window = made.result.stop ? FIRST_WINDOW : window * 2;
      }
      const { from, result } = made;
      if (i < from + result.done) return { ok: true, value: expect[i]! };
      made = null;
      const stop = result.stop!;
      return 'value' in stop ? { ok: true, value: stop.value } : { ok: false, signal: stop.signal, addr: stop.addr };
    },
  };
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
