// Sparse physical memory that holds only translation tables. Data pages are
// never stored: the model tracks descriptors, not the bytes they map.

import { PAGE_SIZE, PTRS_PER_TABLE } from './hwdef.ts';

/** First PA handed out for tables; any page-aligned PA would do. */
export const TABLE_POOL_BASE = 0x4000_0000n;

const PAGE_OFFSET_MASK = PAGE_SIZE - 1n;
const U64_MAX = (1n << 64n) - 1n;

/** 512-entry tables keyed by PA, so memory grows with the tables allocated. */
export class PageTableMemory {
  // keyed by the table's frame number as a number: V8 hashes a number several times faster than a bigint
  private readonly tables = new Map<number, BigUint64Array>();
  private nextFrame = TABLE_POOL_BASE;
  // the table reached last: walks and bulk paths touch one table many times in a row
  private lastPa = -1n;
  private lastTable: BigUint64Array | undefined;

  /** A fresh zero-filled table from a bump allocator; returns its PA. */
  allocTable(): bigint {
    const pa = this.nextFrame;
    this.nextFrame += PAGE_SIZE;
    this.tables.set(Number(pa >> 12n), new BigUint64Array(PTRS_PER_TABLE));
    return pa;
  }

  read(descPa: bigint): bigint {
    const { table, index } = this.locate(descPa);
    return table[index]!; // locate() keeps index within 0..511
  }

  write(descPa: bigint, val: bigint): void {
    const { table, index } = this.locate(descPa);
    table[index] = checkU64(val);
  }

  /** Compare-and-swap of one descriptor, as the walker's atomic update and Linux's cmpxchg loops do. */
  cmpxchg(descPa: bigint, expected: bigint, next: bigint): boolean {
    const { table, index } = this.locate(descPa);
    if (table[index] !== expected) return false;
    table[index] = checkU64(next);
    return true;
  }

  /** A whole table, for bulk readers that walk 512 entries at once; do not write through it. */
  table(pa: bigint): BigUint64Array {
    const t = this.tableAt(pa);
    if (t === undefined || (pa & PAGE_OFFSET_MASK) !== 0n) throw new Error(`PA 0x${pa.toString(16)} is not an allocated table`);
    return t;
  }

  private tableAt(base: bigint): BigUint64Array | undefined {
    if (base === this.lastPa) return this.lastTable;
    const t = this.tables.get(Number(base >> 12n));
    if (t !== undefined) {
      this.lastPa = base;
      this.lastTable = t;
    }
    return t;
  }

  tableCount(): number {
    return this.tables.size;
  }

  // A descriptor address outside any table is a bug in the model, not a fault.
  private locate(descPa: bigint): { table: BigUint64Array; index: number } {
    if ((descPa & 7n) !== 0n) throw new Error(`descriptor PA 0x${descPa.toString(16)} is not 8-byte aligned`);
    const table = this.tableAt(descPa & ~PAGE_OFFSET_MASK);
    if (table === undefined) throw new Error(`PA 0x${descPa.toString(16)} is not inside an allocated table`);
    return { table, index: Number((descPa & PAGE_OFFSET_MASK) >> 3n) };
  }
}

// BigUint64Array would silently wrap; a descriptor outside u64 is a model bug.
function checkU64(val: bigint): bigint {
  if (val < 0n || val > U64_MAX) throw new Error(`descriptor 0x${val.toString(16)} does not fit in 64 bits`);
  return val;
}
