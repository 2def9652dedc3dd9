// One mm's page tables, as Linux reaches them: pgd/pud/pmd/pte offsets that
// allocate missing tables (pte_alloc(), __pmd_alloc()), and walks over the
// populated part of a range. Entries are real arm64 descriptors held in
// PageTableMemory, so the hardware walk (arm64/walk.ts) sees exactly what
// the kernel model wrote.
//
// A slot, the kernel's pte_t * or pmd_t *, is the physical address of a
// descriptor held as a number (PAs are 48 bits): slot arithmetic over a
// table's entries is then number arithmetic, which allocates nothing.

import { PMD_TYPE_MASK, PMD_TYPE_TABLE, PTE_ADDR_MASK, TABLE_AF, TABLE_PXN, levelShift, tableIndex } from '../arm64/hwdef.ts';
import { DESC_NONE, DESC_NOT_TABLE, PageTableMemory } from '../arm64/tables.ts';
import { createRoot } from '../arm64/walk.ts';

export const PMD_SHIFT = 21n;
export const PMD_SIZE = 1n << PMD_SHIFT;
export const PMD_MASK = ~(PMD_SIZE - 1n);
export const PUD_SIZE = 1n << 30n;
export const PUD_MASK = ~(PUD_SIZE - 1n);
const PTRS = 512n;

const isTable = (desc: bigint) => (desc & PMD_TYPE_MASK) === PMD_TYPE_TABLE;
const index = (va: bigint, level: number) => (va >> levelShift(level)) & (PTRS - 1n);
/** pages per entry at each level: a walk indexes with the page number as a number, not the VA as a bigint */
const PAGES_PER_ENTRY = [2 ** 27, 2 ** 18, 2 ** 9, 1];
/**
 * va's page number: a user VA is below 2^48, and as a number it costs no
 * bigint arithmetic (one below 2^53 converts exactly, and one above rounds
 * to at least 2^53, so the number itself tells which it was).
 */
function vpnOf(va: bigint): number {
  // a fault and GUP's follows ask after one address several times in a row: a bigint compare is cheaper than a conversion
  if (va === lastVa) return lastVpn;
  const n = Number(va);
  lastVa = va;
  lastVpn = n < 2 ** 53 ? Math.floor(n / 4096) : Number(va >> 12n);
  return lastVpn;
}
let lastVa = -1n;
let lastVpn = 0;

export class PageTables {
  readonly mem = new PageTableMemory();
  readonly root: bigint;
  private readonly rootFrame: number;
  /** what a new table entry carries besides its type and address */
  private readonly tableBits: bigint;
  // the pmd and pte tables the kernel side's last walks reached, by the region each covers (vpn / 2^18,
  // vpn / 512), while no upper-level table was written since
  private readonly lastTable = [-1, -1, -1, -1].map(() => ({ region: -1, frame: -1, writes: -1 }));
  /** `tableAf`: the kernel sets AF in table entries too */
  constructor(tableAf: boolean) {
    this.root = createRoot(this.mem);
    this.rootFrame = Number(this.root) / 4096;
    this.tableBits = TABLE_PXN | (tableAf ? TABLE_AF : 0n);
  }

  /** The descriptor address of va's entry at level (0-3); null when a table above is missing and !alloc. */
  slot(va: bigint, level: number, alloc: boolean): number | null {
    const vpn = vpnOf(va);
    const frame = this.tableFor(vpn, level, alloc);
    return frame < 0 ? null : slotPa(frame, tableIndex(vpn, level));
  }

  /** The frame of the level-`level` table reaching page vpn, allocating missing ones if alloc; < 0 if none or a leaf is in the way. */
  private tableFor(vpn: number, level: number, alloc: boolean): number {
    const cached = level === 3 ? this.cachedPteTable(vpn) : level === 2 ? this.cachedTable(vpn, 2) : -1;
    if (cached >= 0) return cached;
    // a pte table's walk starts from the pmd table where that is known
    const pmdTable = level === 3 ? this.cachedTable(vpn, 2) : -1;
    let frame = pmdTable >= 0 ? pmdTable : this.rootFrame;
    for (let l = pmdTable >= 0 ? 2 : 0; l < level; l++) {
      const i = tableIndex(vpn, l);
      let next = this.mem.nextTable(frame, i);
      if (next < 0) {
        if (next !== DESC_NONE || !alloc) return next; // a leaf (huge pmd) or nothing there
        // pmd_populate() and friends: user tables carry PXNTable
        const pa = this.mem.allocTable(l + 1);
        this.mem.writeAt(slotPa(frame, i), pa | PMD_TYPE_TABLE | this.tableBits);
        next = Number(pa) / 4096;
      }
      frame = next;
    }
    if (level >= 2) {
      const last = this.lastTable[level]!;
      last.region = Math.floor(vpn / PAGES_PER_ENTRY[level - 1]!);
      last.frame = frame;
      last.writes = this.mem.upperWriteCount;
    }
    return frame;
  }

  /** The level-`level` table reaching page vpn as this side's last walk to that level left it; -1 when not known fresh. */
  private cachedTable(vpn: number, level: number): number {
    const last = this.lastTable[level]!;
    return Math.floor(vpn / PAGES_PER_ENTRY[level - 1]!) === last.region && last.writes === this.mem.upperWriteCount ? last.frame : -1;
  }

  /** The pte table reaching page vpn as a walk left it, this side's or the hardware's; -1 when neither is known fresh. */
  private cachedPteTable(vpn: number): number {
    const cached = this.cachedTable(vpn, 3);
    return cached >= 0 ? cached : this.mem.cachedPteTable(this.rootFrame, Math.floor(vpn / 512));
  }

  /**
   * The entries a walk of va reads, from the root down to the last level,
   * an empty entry, or one that is not a table (a leaf, a block, a swap
   * entry): what a reader of the real tables sees (Target descriptors()).
   */
  walk(va: bigint): { level: number; value: bigint; phys: bigint }[] {
    const out: { level: number; value: bigint; phys: bigint }[] = [];
    let base = this.root;
    for (let level = 0; level <= 3; level++) {
      const phys = base + index(va, level) * 8n;
      const value = this.mem.read(phys);
      out.push({ level, value, phys });
      if (level === 3 || !isTable(value)) break;
      base = value & PTE_ADDR_MASK;
    }
    return out;
  }

  /** The leaf entry mapping va and its level, in one walk: the huge pmd, or the pte (0 when none). */
  leaf(va: bigint): { level: 2 | 3; val: bigint } {
    const vpn = vpnOf(va);
    const cached = this.cachedPteTable(vpn);
    if (cached >= 0) return { level: 3, val: this.mem.readAt(slotPa(cached, vpn % 512)) };
    const pmdTable = this.tableFor(vpn, 2, false);
    if (pmdTable < 0) return { level: 3, val: 0n };
    const i = tableIndex(vpn, 2);
    const pteTable = this.mem.nextTable(pmdTable, i);
    if (pteTable === DESC_NONE) return { level: 3, val: 0n };
    if (pteTable === DESC_NOT_TABLE) return { level: 2, val: this.mem.readAt(slotPa(pmdTable, i)) };
    return { level: 3, val: this.mem.readAt(slotPa(pteTable, tableIndex(vpn, 3))) };
  }

  /** pmd_offset() after allocating the levels above */
  pmdSlot(va: bigint, alloc: boolean): number | null {
    return this.slot(va, 2, alloc);
  }

  /** The pte slot of va: null when the pmd is none, a huge leaf, or !alloc and missing. */
  pteSlot(va: bigint, alloc: boolean): number | null {
    return this.slot(va, 3, alloc);
  }

  /** pte_offset_map(): the pte slot of va under the pmd at pmdSlot; null when that pmd holds no pte table */
  pteSlotUnder(pmdSlot: number, va: bigint): number | null {
    const table = this.mem.nextTable(Math.floor(pmdSlot / 4096), (pmdSlot % 4096) / 8);
    return table < 0 ? null : slotPa(table, tableIndex(vpnOf(va), 3));
  }

  /** pte_none() of the entry at slot, on its words */
  noneAt(slot: number): boolean {
    const w = this.mem.pteTableWords(slot);
    const at = (slot % 4096) / 4;
    return w[at] === 0 && w[at + 1] === 0;
  }

  read(slot: number): bigint {
    return this.mem.readAt(slot);
  }
  pteTableWords(slot: number): Uint32Array {
    return this.mem.pteTableWords(slot);
  }
  write(slot: number, val: bigint): void {
    this.mem.writeAt(slot, val);
  }

  /** The pmd value for va (0 when no table reaches it). */
  pmdVal(va: bigint): bigint {
    const s = this.pmdSlot(va, false);
    return s === null ? 0n : this.mem.readAt(s);
  }

  /** The pte value for va (0 when none or under a huge pmd). */
  pteVal(va: bigint): bigint {
    const s = this.pteSlot(va, false);
    return s === null ? 0n : this.mem.readAt(s);
  }

  /** pmd_is_table: the pmd points at a pte table. */
  pmdIsTable(desc: bigint): boolean {
    return isTable(desc);
  }

  /**
   * Visits every 2 MiB block of [start, end) whose pmd is populated (a pte
   * table or a leaf), skipping empty upper levels: walk_page_range() only
   * descends where tables exist.
   */
  *pmdsIn(start: bigint, end: bigint): Generator<{ addr: bigint; slot: number; val: bigint }> {
    let addr = start & PMD_MASK;
    while (addr < end) {
      const vpn = vpnOf(addr);
      const pud = this.mem.nextTable(this.rootFrame, tableIndex(vpn, 0));
      if (pud < 0) {
        addr = nextBoundary(addr, 0);
        continue;
      }
      const pmd = this.mem.nextTable(pud, tableIndex(vpn, 1));
      if (pmd < 0) {
        addr = nextBoundary(addr, 1);
        continue;
      }
      const slot = slotPa(pmd, tableIndex(vpn, 2));
      const val = this.mem.readAt(slot);
      if (val !== 0n) yield { addr, slot, val };
      addr += PMD_SIZE;
    }
  }

  /**
   * Calls back for every page of [start, end) with its leaf entry: the pte,
   * or the huge pmd (huge = true), or 0. One table walk per 2 MiB, not per page.
   */
  forEachPage(start: bigint, end: bigint, cb: (addr: bigint, val: bigint, huge: boolean) => void): void {
    let addr = start;
    while (addr < end) {
      const stop = (addr & PMD_MASK) + PMD_SIZE < end ? (addr & PMD_MASK) + PMD_SIZE : end;
      const pmd = this.pmdVal(addr);
      if (pmd !== 0n && isTable(pmd)) {
        const t = this.mem.table(pmd & PTE_ADDR_MASK);
        for (let a = addr; a < stop; a += 4096n) cb(a, t[Number((a >> 12n) & 511n)]!, false);
      } else {
        for (let a = addr; a < stop; a += 4096n) cb(a, pmd, pmd !== 0n);
      }
      addr = stop;
    }
  }

  /**
   * Rewrites the ptes of [start, end) that live in pte tables (huge pmds and
   * empty ranges are the caller's business): fn gets each pte, non-zero ones
   * only, and returns its new value.
   */
  updatePtes(start: bigint, end: bigint, fn: (addr: bigint, pte: bigint) => bigint): void {
    for (const { addr, val } of [...this.pmdsIn(start, end)]) {
      if (!isTable(val)) continue;
      const t = this.mem.table(val & PTE_ADDR_MASK);
      const lo = addr > start ? addr : start;
      const hi = addr + PMD_SIZE < end ? addr + PMD_SIZE : end;
      for (let a = lo; a < hi; a += 4096n) {
        const i = Number((a >> 12n) & 511n);
        const pte = t[i]!;
        if (pte !== 0n) this.mem.writeAt(Number(val & PTE_ADDR_MASK) + i * 8, fn(a, pte));
      }
    }
  }

  /**
   * The parts of [start, end) under pte tables, one per table: where each
   * starts and ends and the slot of its first pte (its ptes' slots follow),
   * for loops that step over batches of ptes as the kernel's do.
   */
  *pteTableRuns(start: bigint, end: bigint): Generator<{ addr: bigint; end: bigint; slot: number }> {
    for (const { addr, val } of [...this.pmdsIn(start, end)]) {
      if (!isTable(val)) continue;
      const lo = addr > start ? addr : start;
      const hi = addr + PMD_SIZE < end ? addr + PMD_SIZE : end;
      yield { addr: lo, end: hi, slot: Number(val & PTE_ADDR_MASK) + Number((lo >> 12n) & 511n) * 8 };
    }
  }

  /** pteTableRuns() of a range within one pmd: its run, or null where no pte table is under the pmd. */
  pteTableRun(start: bigint, end: bigint): { addr: bigint; end: bigint; slot: number } | null {
    const slot = this.pteSlot(start, false);
    return slot === null ? null : { addr: start, end, slot };
  }

  /**
   * Visits every pte slot of [start, end) under a pte table, empty ones
   * included (change_pte_range() sees none ptes too); the caller writes.
   */
  forEachPteSlot(start: bigint, end: bigint, fn: (addr: bigint, slot: number, pte: bigint) => void): void {
    for (const { addr, val } of [...this.pmdsIn(start, end)]) {
      if (!isTable(val)) continue;
      const base = Number(val & PTE_ADDR_MASK);
      const lo = addr > start ? addr : start;
      const hi = addr + PMD_SIZE < end ? addr + PMD_SIZE : end;
      for (let a = lo; a < hi; a += 4096n) {
        const slot = base + Number((a >> 12n) & 511n) * 8;
        fn(a, slot, this.mem.readAt(slot));
      }
    }
  }

  /** Drops the pte table under a pmd (free_pte_range()): the range must hold no ptes. */
  freePteTable(pmdSlot: number): void {
    this.mem.writeAt(pmdSlot, 0n);
  }
}

/** The PA of entry i of the table at frame. */
const slotPa = (frame: number, i: number): number => frame * 4096 + i * 8;

/** The first address past va's entry at level (pgd_addr_end() and friends). */
function nextBoundary(va: bigint, level: number): bigint {
  const size = 1n << levelShift(level);
  return (va & ~(size - 1n)) + size;
}
