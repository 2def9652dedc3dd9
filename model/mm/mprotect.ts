// Changing protection (mm/mprotect.c): mprotect() through mprotect_fixup(),
// and change_protection(), which uffd-wp uses too.

import type { Pte } from '../arm64/pgtable.ts';
import { AttrChange, AttrQuestion, pfnOfWords, wordAt } from '../arm64/pte-words.ts';
import { isGuardMarkerEntry, isPoisonMarkerEntry, PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { splitHugePmd } from './huge-memory.ts';
import { folioPteBatch, keptFor } from './internal.ts';
import { pageAlign, pageAligned, type Mm } from './mm.ts';
import type { Folio } from './physmem.ts';
import { PMD_MASK, PMD_SHIFT, PMD_SIZE, PUD_MASK, PUD_SIZE } from './pgtables.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';
import { modifyFlags } from './vma-ops.ts';

// do_mprotect_pkey(): area by area; an error (a hole, EACCES) leaves the areas before it changed
export function doMprotectPkey(mm: Mm, addr: bigint, len: bigint, prot: number): Ret<0> {
  if (!pageAligned(addr)) return new Errno('EINVAL', 'mprotect');
  if (len === 0n) return 0;
  len = pageAlign(len);
  const end = addr + len;
  if (end >= 1n << 64n) return new Errno('ENOMEM', 'mprotect'); // start + len wraps
  if (prot & ~(U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC)) return new Errno('EINVAL', 'mprotect');
  let cursor = addr;
  while (cursor < end) {
    const v = mm.vmas.overlapping(cursor, end)[0];
    if (!v) break;
    if (v.start > cursor) return new Errno('ENOMEM', 'mprotect');
    const newflags = (v.flags & ~V.VM_ACCESS_FLAGS) | prot;
    // newflags >> 4: the VM_MAY* bits in place of the VM_* ones
    if (newflags & ~(newflags >> 4) & V.VM_ACCESS_FLAGS) return new Errno('EACCES', 'mprotect');
    const e = v.end < end ? v.end : end;
    const err = mprotectFixup(mm, v, cursor, e, newflags);
    if (err) return new Errno(err.name, 'mprotect');
    cursor = e;
  }
  return cursor < end ? new Errno('ENOMEM', 'mprotect') : 0;
}

/**
 * mprotect_fixup(). Making a private area writable charges it (VM_ACCOUNT);
 * making it unwritable gives the charge back only for an anonymous area
 * with no anon_vma yet (nothing was ever written there).
 */
function mprotectFixup(mm: Mm, v: Vma, start: bigint, end: bigint, newflags: number): Errno | null {
  if (newflags === v.flags) return null;
  if (newflags & V.VM_WRITE) {
    if (!(v.flags & (V.VM_ACCOUNT | V.VM_WRITE | V.VM_HUGETLB | V.VM_SHARED | V.VM_NORESERVE))) newflags |= V.VM_ACCOUNT;
  } else if (v.flags & V.VM_ACCOUNT && v.isAnonymous && v.anonVma === null) {
    newflags &= ~V.VM_ACCOUNT;
  }
  const vma = modifyFlags(mm, v, start, end, newflags);
  if (vma instanceof Errno) return vma;
  mm.vmaSetPageProt(vma);
  changeProtection(mm, vma, start, end, mm.vmaWantsManualPteWriteUpgrade(vma));
  return null;
}

/**
 * change_protection() -> change_pte_range() / change_huge_pmd(): every
 * entry of [start, end) to vma's protection, or (uffd) to `prot` with
 * uffd-wp set (MM_CP_UFFD_WP: markers in empty ptes where the area uses
 * them) or cleared (MM_CP_UFFD_WP_RESOLVE).
 */
export function changeProtection(mm: Mm, vma: Vma, start: bigint, end: bigint, tryChangeWritable: boolean, uffd: 'wp' | 'resolve' | null = null, prot = vma.pageProt): void {
  const pg = mm.pg;
  if (vma.flags & V.VM_HUGETLB) return mm.sys.fn.hugetlbChangeProtection(mm, start, end, uffd, prot);
  const modify = (entry: Pte): Pte => {
    let next = pg.pteModify(entry, prot);
    if (uffd === 'wp') next = pg.pteMkuffdWp(next);
    else if (uffd === 'resolve') next = pg.pteClearUffdWp(next);
    return next;
  };
  const markers = uffd === 'wp' && mm.uffdWpUseMarkers(vma);
  const change = mm.arch.protChange(modify);
  // change_huge_pmd()'s pmd_modify(), on the pmd table's words where it is all that changes
  const pmdChange = new AttrChange(modify);
  const pmdPresent = keptFor(mm, makePmdPresent);
  // change_pud_range(): each pmd table the range crosses
  for (let addr = start; addr < end; ) {
    const tableEnd = (addr & PUD_MASK) + PUD_SIZE < end ? (addr & PUD_MASK) + PUD_SIZE : end;
    // change_prepare() and change_pmd_prepare(): markers need the tables down to a pte table
    const first = mm.pt.pmdSlot(addr, markers);
    if (first !== null) changePmdRange(mm, vma, addr, tableEnd, first, tryChangeWritable, uffd, markers, modify, change, pmdChange, pmdPresent);
    addr = tableEnd;
  }
}

/**
 * change_pmd_range() over [addr, end), within one pmd table whose first
 * entry is at slot `first`: each pmd in turn (pmd++), on the table's words,
 * so a huge pmd costs no bigint; an address is made only for a pmd that
 * needs one (a pte table under it, a split, a marker's table).
 */
function changePmdRange(
  mm: Mm,
  vma: Vma,
  addr: bigint,
  end: bigint,
  first: number,
  tryChangeWritable: boolean,
  uffd: 'wp' | 'resolve' | null,
  markers: boolean,
  modify: (pte: Pte) => Pte,
  change: AttrChange,
  pmdChange: AttrChange,
  pmdPresent: AttrQuestion,
): void {
  const w = mm.pt.mem.upperLeafWords(first);
  const base = addr & PMD_MASK;
  const n = Number((end - base + PMD_SIZE - 1n) >> PMD_SHIFT);
  // the first pmd covers its whole 2 MiB when addr is aligned and end past it, the last when end is aligned
  const headWhole = addr === base && base + PMD_SIZE <= end;
  const tailWhole = (end & ~PMD_MASK) === 0n;
  const pmdAddr = (i: number): bigint => (i === 0 ? addr : base + BigInt(i) * PMD_SIZE);
  for (let i = 0, at = wordAt(first); i < n; i++, at += 2) {
    const slot = first + 8 * i;
    if (w[at] === 0 && w[at + 1] === 0) {
      if (!markers) continue;
      mm.pt.pteSlot(pmdAddr(i), true);
    }
    // a huge pmd (pmd_is_huge()): changed whole, or split where the range takes part of it
    if ((w[at]! & 3) !== 3) {
      if ((i > 0 || headWhole) && (i < n - 1 || tailWhole)) {
        if (pmdPresent.of(w[at]!, w[at + 1]!)) changeHugePmd(mm, vma, slot, tryChangeWritable, modify, w, at, pmdChange);
        continue;
      }
      splitHugePmd(mm, base + BigInt(i) * PMD_SIZE);
    }
    const run = mm.pt.pteTableRun(pmdAddr(i), i < n - 1 ? pmdAddr(i + 1) : end);
    if (run !== null) changePteRange(mm, vma, run, tryChangeWritable, uffd, markers, modify, change);
  }
}

const makePmdPresent = (mm: Mm) => new AttrQuestion((p) => mm.pg.pmdPresent(p));

// change_huge_pmd() of a present huge pmd: the new entry on its words, made writable through the helpers where it may be
function changeHugePmd(mm: Mm, vma: Vma, slot: number, tryChangeWritable: boolean, modify: (pte: Pte) => Pte, w: Uint32Array, at: number, change: AttrChange): void {
  const pg = mm.pg;
  if (!tryChangeWritable && change.applyTo(w, at)) return;
  const next = modify(mm.pt.read(slot));
  mm.pt.write(slot, tryChangeWritable && !pg.pteWrite(next) && canChangePteWritable(mm, vma, next) ? pg.pteMkwrite(next) : next);
}

// change_pte_range(): 7.2 changes a large folio's ptes in batches (mprotect_folio_pte_batch()), 6.12 one by one
function changePteRange(
  mm: Mm,
  vma: Vma,
  run: { addr: bigint; end: bigint; slot: number },
  tryChangeWritable: boolean,
  uffd: 'wp' | 'resolve' | null,
  markers: boolean,
  modify: (pte: Pte) => Pte,
  change: AttrChange,
): void {
  const pg = mm.pg;
  const arch = mm.arch;
  const total = Number((run.end - run.addr) >> 12n);
  const w = mm.pt.mem.pteTableWords(run.slot);
  const batch = mm.sys.cfg.kernel.mprotectPteBatch;
  for (let i = 0, nr = 1, at = wordAt(run.slot); i < total; i += nr, at += 2 * nr) {
    nr = 1;
    const slot = run.slot + i * 8;
    // a present, not contiguous entry of a small folio (or none), committed as it comes out: on the table's words
    if (!tryChangeWritable && arch.plain.of(w[at]!, w[at + 1]!)) {
      const folio = batch ? mm.sys.phys.folioAt(pfnOfWords(w[at]!, w[at + 1]!)) : null;
      if ((folio === null || folio.nrPages === 1) && arch.modifyProtWords(w, at, slot, change)) continue;
    }
    const oldpte = arch.ptepGet(slot);
    if (pg.ptePresent(oldpte)) {
      const folio = mm.vmNormalFolio(oldpte);
      if (mm.sys.cfg.kernel.mprotectPteBatch) nr = folioPteBatch(mm, folio, slot, oldpte, total - i, { respectSoftDirty: true, respectWrite: true });
      changePresentPtes(mm, vma, slot, nr, folio, tryChangeWritable, modify);
    } else if (pg.pteNone(oldpte)) {
      if (markers) arch.setPteAt(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
    } else changeSoftleafPte(mm, slot, oldpte, uffd);
  }
}

// change_present_ptes(): one batch off and back on with the new protection, made writable where it may be
function changePresentPtes(mm: Mm, vma: Vma, slot: number, nr: number, folio: Folio | null, tryChangeWritable: boolean, modify: (pte: Pte) => Pte): void {
  const pg = mm.pg;
  const arch = mm.arch;
  const ptent = modify(arch.modifyProtStartPtes(slot, nr));
  if (!tryChangeWritable || pg.pteWrite(ptent)) return arch.modifyProtCommitPtes(slot, ptent, nr);
  // set_write_prot_commit_flush_ptes()
  if (vma.flags & V.VM_SHARED) return arch.modifyProtCommitPtes(slot, canChangeSharedPteWritable(mm, vma, ptent) ? pg.pteMkwrite(ptent) : ptent, nr);
  if (!maybeChangePteWritable(mm, vma, ptent) || !folio?.anon) return arch.modifyProtCommitPtes(slot, ptent, nr);
  // commit_anon_folio_batch(): runs of pages alike in PageAnonExclusive; the exclusive ones go writable
  const first = folio.pageIndex(pg.ptePfn(ptent));
  for (let i = 0; i < nr; ) {
    const exclusive = folio.exclusive(first + i);
    let len = 1;
    while (i + len < nr && folio.exclusive(first + i + len) === exclusive) len++;
    const pte = ptent + BigInt(i) * 4096n;
    arch.modifyProtCommitPtes(slot + i * 8, exclusive ? pg.pteMkwrite(pte) : pte, len);
    i += len;
  }
}

// change_softleaf_pte(): swap entries carry uffd-wp; a resolved uffd-wp marker goes, a guard or poison marker stays as it is
function changeSoftleafPte(mm: Mm, slot: number, oldpte: Pte, uffd: 'wp' | 'resolve' | null): void {
  const pg = mm.pg;
  if (isGuardMarkerEntry(pg.pteToSwpEntry(oldpte)) || isPoisonMarkerEntry(pg.pteToSwpEntry(oldpte))) return;
  if (pg.isPteMarker(oldpte)) {
    if (uffd === 'resolve') mm.arch.pteClear(slot);
    return;
  }
  let newpte = oldpte;
  if (uffd === 'wp') newpte = pg.pteSwpMkuffdWp(newpte);
  else if (uffd === 'resolve') newpte = pg.pteSwpClearUffdWp(newpte);
  if (!pg.pteSame(oldpte, newpte)) mm.arch.setPteAt(slot, newpte);
}

// maybe_change_pte_writable()
function maybeChangePteWritable(mm: Mm, vma: Vma, pte: Pte): boolean {
  if (!(vma.flags & V.VM_WRITE)) return false;
  if (mm.pg.pteProtnone(pte)) return false;
  if (mm.pteNeedsSoftDirtyWp(vma, pte)) return false;
  return !(vma.flags & V.VM_UFFD_WP && mm.pg.pteUffdWp(pte));
}

// can_change_shared_pte_writable()
function canChangeSharedPteWritable(mm: Mm, vma: Vma, pte: Pte): boolean {
  return maybeChangePteWritable(mm, vma, pte) && mm.pg.pteDirty(pte);
}

// can_change_pte_writable()
function canChangePteWritable(mm: Mm, vma: Vma, pte: Pte): boolean {
  if (vma.flags & V.VM_SHARED) return canChangeSharedPteWritable(mm, vma, pte);
  if (!maybeChangePteWritable(mm, vma, pte)) return false;
  const f = mm.vmNormalFolio(pte);
  return f !== null && f.anon && f.exclusive(f.pageIndex(mm.pg.ptePfn(pte)));
}
