// A recording's observations, kept in columns: a suite such as
// uffd-unit-tests gives millions of them (every page of every test, at each
// step that changed it), which as objects with bigint entries outgrow the
// heap. Each is rebuilt as an Observation when it is read.

import type { PgLevel } from '../target.ts';
import type { Observation } from './record.ts';

/** What compareRecordings() reads: an array of observations is one too. */
export interface Observations {
  readonly length: number;
  at(index: number): Observation | undefined;
}

const LEVELS: readonly PgLevel[] = ['pgd', 'p4d', 'pud', 'pmd', 'pte'];
const LEVEL_INDEX = new Map(LEVELS.map((l, i) => [l, i]));
/** numbers per observation: suite, resultsBefore, step, call, page, first entry, entry count (-1: an error, named by the next), process */
const WIDTH = 9;

/** Strings stored once each, named by their index. */
class Strings {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();
  of(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) this.index.set(s, (i = this.list.push(s) - 1));
    return i;
  }
}

export class ObservationLog implements Observations {
  length = 0;
  private rows = new Int32Array(WIDTH * 1024);
  private values = new BigUint64Array(4096);
  private levels = new Uint8Array(4096);
  private nEntries = 0;
  private readonly strings = new Strings();

  push(o: Observation): void {
    if ((this.length + 1) * WIDTH > this.rows.length) this.rows = grown(this.rows, this.rows.length * 2);
    const entries = o.entries ?? [];
    if (this.nEntries + entries.length > this.values.length) {
      const size = Math.max(this.values.length * 2, this.nEntries + entries.length);
      this.values = grown(this.values, size);
      this.levels = grown(this.levels, size);
    }
    const r = this.length * WIDTH;
    this.rows.set([this.strings.of(o.suite), o.resultsBefore, o.step, this.strings.of(o.call), o.page, this.nEntries, o.entries ? entries.length : -1, this.strings.of(o.error ?? ''), this.strings.of(o.process)], r);
    for (const e of entries) {
      this.values[this.nEntries] = e.value;
      this.levels[this.nEntries++] = LEVEL_INDEX.get(e.level)!;
    }
    this.length++;
  }

  at(index: number): Observation | undefined {
    const i = index < 0 ? this.length + index : index;
    if (i < 0 || i >= this.length) return undefined;
    const col = (k: number) => this.rows[i * WIDTH + k]!;
    const [first, count] = [col(5), col(6)];
    const entries = count < 0 ? null : Array.from({ length: count }, (_, k) => ({ level: LEVELS[this.levels[first + k]!]!, value: this.values[first + k]! }));
    const o = { suite: this.strings.list[col(0)]!, process: this.strings.list[col(8)]!, resultsBefore: col(1), step: col(2), call: this.strings.list[col(3)]!, page: col(4), entries };
    return entries ? o : { ...o, error: this.strings.list[col(7)]! };
  }

  /** every observation, as objects (for a short recording) */
  toArray(): Observation[] {
    return Array.from({ length: this.length }, (_, i) => this.at(i)!);
  }
}

function grown<T extends Int32Array | BigUint64Array | Uint8Array>(a: T, size: number): T {
  const b = new (a.constructor as new (n: number) => T)(size);
  b.set(a as never);
  return b;
}
