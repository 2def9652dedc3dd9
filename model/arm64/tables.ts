// Sparse physical memory that holds only translation tables. Data pages are
// never stored: the model tracks descriptors, not the bytes they map.

import { PAGE_SIZE, PTRS_PER_TABLE } from './hwdef.ts';

/** First PA handed out for tables; any page-aligned PA would do. */
export const TABLE_POOL_BASE = 0x4000_0000n;

const U64_MAX = (1n << 64n) - 1n;

/** What a descriptor is to a walk that only steps through tables: nothing there, something other than a table, or the next table's frame (>= 0). */
export const DESC_NONE = -1;
export const DESC_NOT_TABLE = -2;

/** A table's 512 descriptors, the same memory as 32-bit words (little-endian: low word first), and its level. */
interface Table {
  readonly q: BigUint64Array;
  readonly w: Uint32Array;
  /** 3 for a pte table; a table allocated without its level counts as an upper one (0) */
  readonly level: number;
}

/**
 * The pte table a walk of one 2 MiB region reached, and the table attributes
 * it gathered on the way (TableAttrs as bits: UXN 1, PXN 2, APTable[0] 4,
 * APTable[1] 8). Good while no upper-level entry has been written since: a
 * walk cache that can never be stale, so the model stays without a TLB.
 */
export const WALK_UXN = 1;
export const WALK_PXN = 2;
export const WALK_NO_EL0 = 4;
export const WALK_RDONLY = 8;

/** 512-entry tables keyed by PA, so memory grows with the tables allocated. */
export class PageTableMemory {
  // keyed by the table's frame number as a number (PAs stay far below 2^53): V8 hashes a number
  // several times faster than a bigint, and number arithmetic allocates nothing
  private readonly tables = new Map<number, Table>();
  private nextFrame = TABLE_POOL_BASE;
  // the tables reached last, one per level a walk passes through (pgd, pud, pmd, pte): walks and
  // bulk paths come back to them over and over
  private readonly recentFrame: number[] = [-1, -1, -1, -1];
  private readonly recentTable: (Table | undefined)[] = [undefined, undefined, undefined, undefined];
  private nextRecent = 0;
  // counts writes to upper-level (0-2) tables; the walk cache is good while it stands still
  private upperWrites = 0;
  private cacheWrites = -1;
  private cacheRoot = -1;
  private cacheRegion = -1;
  private cacheFrame = -1;
  /** the table attributes of the cached walk (WALK_* bits) */
  cachedAttrs = 0;

  /** A fresh zero-filled table from a bump allocator, for `level` (0-3, default unknown: upper); returns its PA. */
  allocTable(level = 0): bigint {
    const pa = this.nextFrame;
    this.nextFrame += PAGE_SIZE;
    const q = new BigUint64Array(PTRS_PER_TABLE);
    this.tables.set(Number(pa) / 4096, { q, w: new Uint32Array(q.buffer), level });
    return pa;
  }

  /** how many writes to upper-level tables there have been: a walk remembered before the last one may be stale */
  get upperWriteCount(): number {
    return this.upperWrites;
  }

  /** The pte table a walk from root reached for 2 MiB region `region` (page number / 512), if no upper entry changed since; -1 if none. */
  cachedPteTable(root: number, region: number): number {
    return this.cacheWrites === this.upperWrites && this.cacheRoot === root && this.cacheRegion === region ? this.cacheFrame : -1;
  }

  /** Remembers a walk that reached pte table `frame` through tables only, gathering attrs (WALK_* bits). */
  rememberPteTable(root: number, region: number, frame: number, attrs: number): void {
    this.cacheWrites = this.upperWrites;
    this.cacheRoot = root;
    this.cacheRegion = region;
    this.cacheFrame = frame;
    this.cachedAttrs = attrs;
  }

  /**
   * Steps a walk through the descriptor at index of the table at frame
   * without making a bigint: the next table's frame, DESC_NONE for a zero
   * descriptor, DESC_NOT_TABLE for anything else (bits[1:0] != 0b11).
   */
  nextTable(frame: number, index: number): number {
    const t = this.tableAt(frame);
    if (t === undefined) throw new Error(`frame 0x${frame.toString(16)} is not an allocated table`);
    const lo = t.w[2 * index]!;
    if ((lo & 3) === 3) return (t.w[2 * index + 1]! & 0xffff) * 0x10_0000 + (lo >>> 12); // OA bits [47:12]
    return lo === 0 && t.w[2 * index + 1] === 0 ? DESC_NONE : DESC_NOT_TABLE;
  }

  /** The descriptor's upper 32 bits (a table descriptor's attributes live in [63:59]). */
  high(frame: number, index: number): number {
    return this.tableAt(frame)!.w[2 * index + 1]!;
  }

  /** The descriptor's lower 32 bits. */
  low(frame: number, index: number): number {
    return this.tableAt(frame)!.w[2 * index]!;
  }

  /** The descriptor at index of the table at frame. */
  entry(frame: number, index: number): bigint {
    return this.tableAt(frame)!.q[index]!;
  }

  read(descPa: bigint): bigint {
    return this.readAt(Number(descPa));
  }

  write(descPa: bigint, val: bigint): void {
    this.writeAt(Number(descPa), val);
  }

  /** read() of a PA held as a number (PAs are 48 bits): the kernel side names its slots so, and a number allocates nothing */
  readAt(pa: number): bigint {
    return this.locate(pa).q[(pa % 4096) / 8]!; // locate() checks the slot is within a table
  }

  writeAt(pa: number, val: bigint): void {
    const t = this.locate(pa);
    if (t.level < 3) this.upperWrites++;
    t.q[(pa % 4096) / 8] = checkU64(val);
  }

  /** Compare-and-swap of one descriptor, as the walker's atomic update and Linux's cmpxchg loops do. */
  cmpxchg(descPa: bigint, expected: bigint, next: bigint): boolean {
    const n = Number(descPa);
    const table = this.locate(n);
    const index = (n % 4096) / 8;
    if (table.q[index] !== expected) return false;
    if (table.level < 3) this.upperWrites++;
    table.q[index] = checkU64(next);
    return true;
  }

  /**
   * The 32-bit words of the upper-level table holding slot, for a writer
   * that changes the attributes of leaf entries (huge pmds) in place. Such
   * a change adds or removes no table, so the walks remembered stay true;
   * a table entry is written with writeAt() alone.
   */
  upperLeafWords(slot: number): Uint32Array {
    const t = this.locate(slot);
    if (t.level >= 3) throw new Error(`PA 0x${slot.toString(16)} is not in an upper-level table`);
    return t.w;
  }

  /**
   * The 32-bit words of the pte table holding slot (its entry is at word
   * (slot % 4096) / 4, low word first): bulk paths read and write a pte
   * table in place, which needs no walk-cache bookkeeping at that level.
   */
  pteTableWords(slot: number): Uint32Array {
    const t = this.locate(slot);
    if (t.level !== 3) throw new Error(`PA 0x${slot.toString(16)} is not in a pte table`);
    return t.w;
  }

  /** A whole table, for bulk readers that walk 512 entries at once; do not write through it. */
  table(pa: bigint): BigUint64Array {
    const n = Number(pa);
    const t = n % 4096 === 0 ? this.tableAt(n / 4096) : undefined;
    if (t === undefined) throw new Error(`PA 0x${pa.toString(16)} is not an allocated table`);
    return t.q;
  }

  private tableAt(frame: number): Table | undefined {
    const recent = this.recentFrame;
    for (let i = 0; i < 4; i++) if (recent[i] === frame) return this.recentTable[i];
    const t = this.tables.get(frame);
    if (t !== undefined) {
      const i = this.nextRecent;
      recent[i] = frame;
      this.recentTable[i] = t;
      this.nextRecent = (i + 1) & 3;
    }
    return t;
  }

  tableCount(): number {
    return this.tables.size;
  }

  // A descriptor address outside any table is a bug in the model, not a fault.
  private locate(pa: number): Table {
    if (pa % 8 !== 0) throw new Error(`descriptor PA 0x${pa.toString(16)} is not 8-byte aligned`);
    const table = this.tableAt(Math.floor(pa / 4096));
    if (table === undefined) throw new Error(`PA 0x${pa.toString(16)} is not inside an allocated table`);
    return table;
  }
}

// BigUint64Array would silently wrap; a descriptor outside u64 is a model bug.
function checkU64(val: bigint): bigint {
  if (val < 0n || val > U64_MAX) throw new Error(`descriptor 0x${val.toString(16)} does not fit in 64 bits`);
  return val;
}
