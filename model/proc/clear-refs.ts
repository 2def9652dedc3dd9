// /proc/PID/clear_refs (fs/proc/task_mmu.c clear_refs_write()).

import { Errno, type Ret } from '../../uapi/linux.ts';
import { wordAt } from '../arm64/pte-words.ts';
import { keptFor } from '../mm/internal.ts';
import type { Mm } from '../mm/mm.ts';
import { VM_HUGETLB, VM_PFNMAP, VM_SOFTDIRTY } from '../mm/vma.ts';

export const CLEAR_REFS_ALL = 1;
export const CLEAR_REFS_ANON = 2;
export const CLEAR_REFS_MAPPED = 3;
export const CLEAR_REFS_SOFT_DIRTY = 4;
export const CLEAR_REFS_MM_HIWATER_RSS = 5;

/** char buffer[PROC_NUMBUF]: what clear_refs_write() reads of a write, at most */
const PROC_NUMBUF = 13;

// kstrtoint(strstrip(buffer), 10): a C string (it ends at the first NUL), blanks stripped, one int
function kstrtoint(bytes: Uint8Array): Ret<number> {
  const nul = bytes.indexOf(0);
  const text = new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul)).replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
  if (!/^(-|\+?)\d+$/.test(text)) return new Errno('EINVAL', 'write');
  const v = Number(text);
  return v < -(2 ** 31) || v >= 2 ** 31 ? new Errno('ERANGE', 'write') : v;
}

/** write(2) of text to the file: the bytes taken (at most PROC_NUMBUF - 1), or the errno. */
export function clearRefsWrite(mm: Mm, text: string): Ret<number> {
  const bytes = new TextEncoder().encode(text).subarray(0, PROC_NUMBUF - 1);
  const type = kstrtoint(bytes);
  if (typeof type !== 'number') return type;
  if (type < CLEAR_REFS_ALL || type > CLEAR_REFS_MM_HIWATER_RSS) return new Errno('EINVAL', 'write');
  if (type === CLEAR_REFS_MM_HIWATER_RSS) return bytes.length;
  if (type === CLEAR_REFS_SOFT_DIRTY) {
    for (const vma of mm.vmas.all()) {
      if (!(vma.flags & VM_SOFTDIRTY)) continue;
      vma.flags &= ~VM_SOFTDIRTY;
      mm.vmaSetPageProt(vma);
    }
  }
  for (const vma of mm.vmas.all()) {
    // clear_refs_test_walk(); the walk has no hugetlb_entry, so hugetlb areas keep their entries
    if (vma.flags & (VM_PFNMAP | VM_HUGETLB)) continue;
    if (type === CLEAR_REFS_ANON && vma.file) continue;
    if (type === CLEAR_REFS_MAPPED && !vma.file) continue;
    clearRefsRange(mm, vma.start, vma.end, type === CLEAR_REFS_SOFT_DIRTY);
  }
  return bytes.length;
}

// clear_refs_pte_range(): soft-dirty mode write-protects and clears; the others age
function clearRefsRange(mm: Mm, start: bigint, end: bigint, softDirty: boolean): void {
  const pg = mm.pg;
  for (const { slot, val } of [...mm.pt.pmdsIn(start, end)]) {
    if (mm.pt.pmdIsTable(val)) continue;
    if (softDirty) mm.pt.write(slot, clearSoftDirtyPmd(mm, val));
    else if (pg.pmdPresent(val)) {
      // the accessed bit, and the folio's referenced bit (pmd_folio())
      mm.pt.write(slot, pg.ptepTestAndClearYoung(val)[1]);
      const f = mm.sys.phys.folioOf(pg.pmdPfn(val));
      if (f) f.referenced = false;
    }
  }
  const arch = mm.arch;
  if (softDirty) return clearSoftDirtyPtes(mm, start, end);
  mm.pt.forEachPteSlot(start, end, (_, slot) => {
    const pte = arch.ptepGet(slot);
    // the accessed bit, and the folio's referenced bit (vm_normal_folio(): not the zero page)
    const f = pg.ptePresent(pte) ? mm.vmNormalFolio(pte) : null;
    if (!f) return;
    arch.testAndClearYoungPtes(slot, 1);
    f.referenced = false;
  });
}

// clear_soft_dirty()'s change of a present entry, kept per attribute pattern
const makeClearSoftDirty = (mm: Mm) => mm.arch.protChange((p) => mm.pg.pteClearSoftDirty(mm.pg.pteWrprotect(p)));

/**
 * clear_soft_dirty() of each pte of [start, end): a present entry that is
 * not contiguous on its table's words, its change worked out once per
 * attribute pattern (arm64/pte-words.ts), any other through the helpers.
 */
function clearSoftDirtyPtes(mm: Mm, start: bigint, end: bigint): void {
  const pg = mm.pg;
  if (!pg.hasSoftDirty) return;
  const arch = mm.arch;
  const change = keptFor(mm, makeClearSoftDirty);
  for (const r of mm.pt.pteTableRuns(start, end)) {
    const w = mm.pt.mem.pteTableWords(r.slot);
    const total = Number((r.end - r.addr) >> 12n);
    for (let i = 0, slot = r.slot, at = wordAt(r.slot); i < total; i++, slot += 8, at += 2) {
      if (w[at] === 0 && w[at + 1] === 0) continue; // pte_none()
      if (arch.plain.of(w[at]!, w[at + 1]!) && arch.modifyProtWords(w, at, slot, change)) continue;
      clearSoftDirty(mm, slot, arch.ptepGet(slot));
    }
  }
}

// clear_soft_dirty(): write-protect as well, so the next write faults and marks it again
function clearSoftDirty(mm: Mm, slot: number, pte: bigint): void {
  const pg = mm.pg;
  if (!pg.hasSoftDirty || pg.pteNone(pte)) return;
  if (!pg.ptePresent(pte)) return mm.arch.setPteAt(slot, pg.pteSwpClearSoftDirty(pte));
  mm.arch.modifyProtCommitPtes(slot, pg.pteClearSoftDirty(pg.pteWrprotect(mm.arch.modifyProtStartPtes(slot, 1))), 1);
}

// clear_soft_dirty_pmd(): pmdp_invalidate() keeps young and dirty across the change
function clearSoftDirtyPmd(mm: Mm, pmd: bigint): bigint {
  const pg = mm.pg;
  if (!pg.hasSoftDirty) return pmd;
  if (pg.pmdPresent(pmd)) {
    let next = pmd;
    if (pg.pteDirty(pmd)) next = pg.pteMkdirty(next);
    if (pg.pteYoung(pmd)) next = pg.pteMkyoung(next);
    return pg.pteClearSoftDirty(pg.pteWrprotect(next));
  }
  return pg.isPmdMigrationEntry(pmd) ? pg.pteSwpClearSoftDirty(pmd) : pmd;
}
