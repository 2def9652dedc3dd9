// Calls made together, awaited one after the other. A target serves a
// proc's calls in the order they were made (harness/target.ts), so a suite
// can send the next call before the previous one has answered: to a real
// kernel the pair is then one round trip, not two. Only for calls the C
// makes unconditionally one after the other, where a later one reads, or
// writes only what the program never looks at again if an earlier one
// ends it (soft-dirty's map[0]++ after clear_softdirty(): the page is
// freed unread): if an earlier call ends the program (ksft_exit_fail_msg(),
// a fatal signal), the later ones have run on the target too, but nothing
// the program reports depends on them, and their outcome is never looked at.

type Results<T extends readonly unknown[]> = { -readonly [K in keyof T]: Awaited<T[K]> };

/** The results of calls already made, in order; the first failure, in call order, is the one thrown. */
export async function inOrder<T extends readonly Promise<unknown>[]>(...calls: T): Promise<Results<T>> {
  // a later call's failure is no one's to see once an earlier one has failed
  for (const c of calls) c.catch(() => {});
  const results: unknown[] = [];
  for (const c of calls) results.push(await c);
  return results as Results<T>;
}

/** How many reads a ReadAhead keeps sent and unanswered. */
export const READ_AHEAD_WINDOW = 256;

/**
 * A loop of reads the C makes one after the other, a step apart, until an
 * answer ends it (vm_util's range checks): the reads of the next pages go
 * out before this page's answer is looked at, so a real kernel serves a
 * window of them in one round trip, not one each. A read past where the
 * loop stops has run on the target but changed nothing, and its answer is
 * never looked at. `read` only sends: judging an answer (and ending the
 * program over it) is the caller's, in the loop's order. The first read
 * goes alone, since it may learn what the later ones send (a C static).
 * `readMany`, where it gives them, sends the reads of n pages at once.
 */
export class ReadAhead<T> {
  private readonly ahead: Promise<T>[] = [];
  private expected: bigint;
  private next: bigint;
  private first = true;

  constructor(
    private readonly read: (addr: bigint) => Promise<T>,
    start: bigint,
    private readonly end: bigint,
    private readonly step: bigint,
    private readonly window = READ_AHEAD_WINDOW,
    private readonly readMany?: (addr: bigint, n: number) => Promise<T>[] | null,
  ) {
    this.expected = start;
    this.next = start;
  }

  /** The read of `addr`, the loop's next address. */
  at(addr: bigint): Promise<T> {
    if (addr !== this.expected || addr >= this.end) throw new Error(`ReadAhead: 0x${addr.toString(16)} is not the loop's next address`);
    this.expected += this.step;
    const room = this.first ? 1 : this.ahead.length <= this.window / 2 ? this.window - this.ahead.length : 0;
    this.first = false;
    const n = this.next < this.end ? Math.min(room, Number((this.end - this.next + this.step - 1n) / this.step)) : 0;
    const many = n > 1 ? (this.readMany?.(this.next, n) ?? null) : null;
    for (let i = 0; i < n; i++, this.next += this.step) {
      const r = many ? many[i]! : this.read(this.next);
      r.catch(() => {}); // a read past the loop's end fails for nobody
      this.ahead.push(r);
    }
    return this.ahead.shift()!;
  }
}
