// Page faults (mm/memory.c handle_mm_fault() and friends, mm/huge_memory.c
// for PMD-mapped THP). Every entry installed is built with the layout's
// helpers, so soft-dirty and uffd-wp end up exactly where the kernel's code
// puts them.

import type { Pgtable, Pte } from '../arm64/pgtable.ts';
import { AttrChange, AttrQuestion, joinWords, pfnOfWords, pfnPteWords, ProtWords, wordAt } from '../arm64/pte-words.ts';
import { keptFor, normalPlainPresent } from './internal.ts';
import { isGuardMarkerEntry, isPoisonMarkerEntry } from '../arm64/swapops.ts';
import { splitHugePmd } from './huge-memory.ts';
import type { Mm } from './mm.ts';
import { HPAGE_PMD_ORDER, type Folio } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import { hugetlbFault } from './hugetlb.ts';
import { shmemGetFolio, shmemUserfaultReason } from './shmem.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';
import { handleUserfault, type UffdCtx, type UffdWaiter } from './userfaultfd.ts';

export const FAULT_FLAG_WRITE = 1 << 0;
/** 0: handled (retry the access); the signal the task gets; or a userfaultfd's waiter, the access waiting for a handler */
/** 0, or what the fault came to: VM_FAULT_SIGSEGV, _SIGBUS, _HWPOISON (a poisoned page), or a wait in a userfaultfd */
export type VmFault = 0 | 'SIGSEGV' | 'SIGBUS' | 'HWPOISON' | UffdWaiter;

const PAGE = 4096n;
/** fault_around_bytes (64 KiB): read faults on files map the neighbours already cached */
const FAULT_AROUND_PAGES = 16n;

// handle_mm_fault() -> __handle_mm_fault()
export function handleMmFault(mm: Mm, vma: Vma, addr: bigint, flags: number): VmFault {
  if (vma.flags & V.VM_HUGETLB) return hugetlbFault(mm, vma, addr, (flags & FAULT_FLAG_WRITE) !== 0);
  const pmdSlot = mm.pt.pmdSlot(addr, true)!;
  // a pte table under the pmd: neither pmd_none() nor huge, so on to the pte
  let ptep = mm.pt.pteSlotUnder(pmdSlot, addr);
  if (ptep === null) {
    const pmd = mm.pt.read(pmdSlot);
    if (pmd === 0n && thpEligible(mm, vma, addr)) {
      const r = doHugePmdAnonymousPage(mm, vma, addr, flags, pmdSlot);
      if (r !== 'fallback') return r;
    } else if (pmd !== 0n && mm.pg.pmdPresent(pmd)) {
      if (flags & FAULT_FLAG_WRITE && !mm.pg.pteWrite(pmd)) {
        const r = doHugePmdWpPage(mm, vma, addr, pmdSlot, pmd);
        if (r !== 'fallback') return r;
      } else {
        // huge_pmd_set_accessed()
        let entry = mm.pg.pteMkyoung(pmd);
        if (flags & FAULT_FLAG_WRITE) entry = mm.pg.pteMkdirty(entry);
        mm.pt.write(pmdSlot, mm.pg.ptepSetAccessFlags(pmd, entry));
        return 0;
      }
    }
    // a huge pmd split on the way has a pte table now
    ptep = mm.pt.pteSlotUnder(pmdSlot, addr);
  }
  // no pte table is allocated here: only a handler that installs an entry makes one (a fault that fails leaves none)
  return handlePteFault(mm, vma, addr, flags, ptep);
}

// handle_pte_fault(): `slot` is vmf->pte, null where the pmd has no pte table
function handlePteFault(mm: Mm, vma: Vma, addr: bigint, flags: number, slot: number | null): VmFault {
  const pg = mm.pg;
  // do_pte_missing()
  if (slot === null || mm.pt.noneAt(slot)) return vma.isAnonymous ? doAnonymousPage(mm, vma, addr, flags, false, slot) : doFault(mm, vma, addr, flags, false);
  const orig = mm.arch.ptepGet(slot);
  if (!pg.ptePresent(orig)) {
    // do_swap_page() -> handle_pte_marker(): a poisoned page (UFFDIO_POISON) is VM_FAULT_HWPOISON, before all else;
    // hitting a guard page is always fatal
    if (isPoisonMarkerEntry(pg.pteToSwpEntry(orig))) return 'HWPOISON';
    if (isGuardMarkerEntry(pg.pteToSwpEntry(orig))) return 'SIGSEGV';
    if (pg.pteMarkerUffdWp(orig)) {
      // pte_marker_handle_uffd_wp(): a marker left after unregistering is just cleared
      if (!(vma.flags & V.VM_UFFD_WP)) {
        mm.arch.pteClear(slot);
        return 0;
      }
      // do_pte_missing()
      return vma.isAnonymous ? doAnonymousPage(mm, vma, addr, flags, true, slot) : doFault(mm, vma, addr, flags, true);
    }
    return doSwapPage(mm, vma, addr, flags, slot, orig);
  }
  if (pg.pteProtnone(orig)) return 'SIGSEGV';
  let entry = orig;
  if (flags & FAULT_FLAG_WRITE) {
    if (!pg.pteWrite(entry)) return doWpPage(mm, vma, addr, slot, orig);
    entry = pg.pteMkdirty(entry);
  }
  entry = pg.pteMkyoung(entry);
  mm.arch.ptepSetAccessFlags(slot, entry);
  return 0;
}

// do_swap_page() from a SWP_SYNCHRONOUS_IO device: read into a new folio, free the slot
function doSwapPage(mm: Mm, vma: Vma, addr: bigint, flags: number, slot: number, orig: Pte): VmFault {
  const pg = mm.pg;
  const e = pg.pteToSwpEntry(orig);
  const swap = mm.sys.swap;
  if (!pg.isSwapEntry(e) || !swap) return 'SIGBUS'; // markers and migration entries are not made yet
  const offset = pg.swpOffset(e);
  const f = newAnonFolio(mm, vma, 0);
  // a folio read in through the swap cache is not on the LRU yet: a write fault drains the batches
  if (flags & FAULT_FLAG_WRITE && mm.sys.cfg.kernel.swapinViaSwapCache) mm.sys.lru.drain();
  mm.sys.phys.setPageData(f.pfn, swap.read(offset));
  swap.free(offset);
  f.dirty = true; // folio_free_swap()
  let pte = pg.pfnPte(f.pfn, vma.pageProt);
  if (pg.pteSwpSoftDirty(orig)) pte = pg.pteMksoftDirty(pte);
  if (pg.pteSwpUffdWp(orig)) pte = pg.pteMkuffdWp(pte);
  let write = (flags & FAULT_FLAG_WRITE) !== 0;
  // the swap pte says exclusive (v6.12's swapcache bypass assumes it; the model's entries always say so)
  f.setExclusive(0, pg.pteSwpExclusive(orig));
  if (f.exclusive(0)) {
    const uffdWp = (vma.flags & V.VM_UFFD_WP) !== 0 && pg.pteUffdWp(pte);
    if (vma.flags & V.VM_WRITE && !uffdWp && !mm.pteNeedsSoftDirtyWp(vma, pte)) {
      pte = pg.pteMkwrite(pte);
      if (write) pte = pg.pteMkdirty(pte);
      write = false;
    }
  }
  f.setMapcount(0, 1);
  mm.arch.setPteAt(slot, pte);
  return write ? doWpPage(mm, vma, addr, slot, pte) : 0;
}

/**
 * A new anonymous folio, mapped exclusively by this area
 * (folio_add_new_anon_rmap(RMAP_EXCLUSIVE)), and put on the LRU from a
 * fault (folio_add_lru_vma()), which marks it accessed under MGLRU.
 */
export function newAnonFolio(mm: Mm, vma: Vma, order: number): Folio {
  vma.anonVma ??= mm.sys.newAnonVma();
  const f = mm.sys.phys.alloc(order, true);
  f.setExclusive(0, true, f.nrPages);
  f.referenced = mm.sys.cfg.kernel.lruGenFaultReferenced;
  return f;
}

// an entry built on words before it is set
const scratch = new Uint32Array(2);
// a new anonymous page's entry in a writable area: pte_mkwrite(pte_mkdirty(mk_pte()))
const makeAnonPte = (mm: Mm) => ({ prot: new ProtWords(), writable: new AttrChange((p) => mm.pg.pteMkwrite(mm.pg.pteMkdirty(p))) });

// do_anonymous_page()
/** `uffdWp`: the pte was a uffd-wp marker (vmf_orig_pte_uffd_wp()), which the new entry keeps; `ptep`: the pte's slot, null before pte_alloc() */
function doAnonymousPage(mm: Mm, vma: Vma, addr: bigint, flags: number, uffdWp: boolean, ptep: number | null): VmFault {
  const pg = mm.pg;
  if (vma.flags & V.VM_SHARED) return 'SIGBUS';
  const slot = ptep ?? mm.pt.pteSlot(addr, true)!; // pte_alloc()
  let entry: Pte;
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  // the zero page for reads, where the kernel has one for them (SystemConfig.readFaultZeroPage)
  if (!write && mm.sys.cfg.readFaultZeroPage !== false) {
    // deliver the fault to userland, with the pte table there already
    if (vma.flags & V.VM_UFFD_MISSING) return handleUserfault(vma.uffdCtx as UffdCtx, addr, false, V.VM_UFFD_MISSING);
    entry = pg.pteMkspecial(pg.pfnPte(mm.sys.phys.zeroPfn, vma.pageProt));
  } else {
    // vmf_anon_prepare() comes first: the area has its anon_vma even when userland gets the fault
    vma.anonVma ??= mm.sys.newAnonVma();
    if (vma.flags & V.VM_UFFD_MISSING) return handleUserfault(vma.uffdCtx as UffdCtx, addr, write, V.VM_UFFD_MISSING);
    // map_anon_folio_pte_pf(), on words: the helpers' change worked out once per protection
    const f = newAnonFolio(mm, vma, 0);
    f.setMapcount(0, 1);
    const anon = keptFor(mm, makeAnonPte);
    pfnPteWords(scratch, 0, f.pfnNr, anon.prot.of(vma.pageProt));
    if (!(vma.flags & V.VM_WRITE) || anon.writable.applyTo(scratch, 0)) {
      if (!uffdWp) {
        mm.arch.setPteAtWords(slot, scratch[0]!, scratch[1]!);
        return 0;
      }
      entry = joinWords(scratch[0]!, scratch[1]!);
    } else entry = pg.pteMkwrite(pg.pteMkdirty(pg.pfnPte(f.pfn, vma.pageProt)));
  }
  if (uffdWp) entry = pg.pteMkuffdWp(entry);
  mm.arch.setPteAt(slot, entry);
  return 0;
}

/** A write to a uffd-wp entry: null where async mode resolves it here (it goes on as any write fault); otherwise handle_userfault(VM_UFFD_WP). */
export function uffdWpWrite(mm: Mm, vma: Vma, addr: bigint): UffdWaiter | 'SIGBUS' | null {
  return mm.uffdWpAsync(vma) ? null : handleUserfault(vma.uffdCtx as UffdCtx, addr, true, V.VM_UFFD_WP);
}

// do_fault(): do_read_fault(), do_cow_fault() or do_shared_fault(); `uffdWp`: over a uffd-wp marker (vmf_orig_pte_uffd_wp())
function doFault(mm: Mm, vma: Vma, addr: bigint, flags: number, uffdWp: boolean): VmFault {
  const inode = vma.file!;
  const index = vma.pageIndex(addr);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  // do_read_fault() maps the cached neighbours before ->fault() looks the page up, even one past EOF;
  // should_fault_around(): not in areas registered for uffd-wp or minor faults (uffd_disable_fault_around())
  if (!write && !(vma.flags & (V.VM_UFFD_WP | V.VM_UFFD_MINOR))) doFaultAround(mm, vma, addr);
  // do_cow_fault(): vmf_anon_prepare() gives the area its anon_vma before ->fault() can fail
  if (write && !(vma.flags & V.VM_SHARED)) vma.anonVma ??= mm.sys.newAnonVma();
  // shmem_fault(): SIGBUS past EOF, and no pte table for it
  if (index >= (inode.size + PAGE - 1n) / PAGE) return 'SIGBUS';
  // shmem_get_folio_gfp(): a cached page to a MINOR context, a hole to a MISSING one (measured: a read
  // of a cached page through a MISSING area maps it, and a read of a hole through a MINOR one allocates)
  const reason = shmemUserfaultReason(vma, inode, index);
  if (reason) return handleUserfault(vma.uffdCtx as UffdCtx, addr, write, reason);
  // a folio shmem_get_folio() allocates (or reads back from swap) goes on the LRU from this fault (newAnonFolio())
  const fresh = !inode.pages.has(index);
  const cache = shmemGetFolio(mm.sys, inode, index);
  if (fresh) cache.referenced = mm.sys.cfg.kernel.lruGenFaultReferenced;
  const slot = mm.pt.pteSlot(addr, true)!; // finish_fault()
  if (!write) {
    if (mm.pt.read(slot) === 0n || uffdWp) setPteRange(mm, vma, slot, cache, false, false, uffdWp);
    return 0;
  }
  if (!(vma.flags & V.VM_SHARED)) {
    // do_cow_fault(): a private copy of the page cache page; over a marker it goes in uffd-wp, and the store faults again
    const f = newAnonFolio(mm, vma, 0);
    mm.sys.phys.copyPage(f.pfn, cache.pfn);
    setPteRange(mm, vma, slot, f, true, false, uffdWp);
    return 0;
  }
  // do_shared_fault(): tmpfs has no ->page_mkwrite; over a marker the pte goes in write-protected, and the store faults again
  cache.dirty = true;
  setPteRange(mm, vma, slot, cache, true, false, uffdWp);
  return 0;
}

// set_pte_range() for one page of a file folio
function setPteRange(mm: Mm, vma: Vma, slot: number, f: Folio, write: boolean, prefault: boolean, uffdWp = false): void {
  const pg = mm.pg;
  let entry = pg.pfnPte(f.pfn, vma.pageProt);
  // arch_wants_old_prefaulted_pte(): with hardware AF, neighbours go in old
  if (prefault && mm.sys.cfg.hw.hwAF) entry = pg.pteMkold(entry);
  if (write && vma.flags & V.VM_WRITE) entry = pg.pteMkwrite(pg.pteMkdirty(entry));
  else if (write) entry = pg.pteMkdirty(entry);
  if (uffdWp) entry = pg.pteMkuffdWp(entry);
  f.addMapcount(0, 1);
  mm.arch.setPteAt(slot, entry);
}

// do_fault_around() / filemap_map_pages(): the cached pages of a window from the aligned start (or the
// area's, or the pmd's), fault_around_pages long, within area and pmd; the pte table only if one is mapped
function doFaultAround(mm: Mm, vma: Vma, addr: bigint): void {
  const window = FAULT_AROUND_PAGES * PAGE;
  const lo = [addr & ~(window - 1n), vma.start, addr & PMD_MASK].reduce((a, b) => (a > b ? a : b));
  const hi = [lo + window, vma.end, (addr & PMD_MASK) + PMD_SIZE].reduce((a, b) => (a < b ? a : b));
  for (let a = lo; a < hi; a += PAGE) {
    const f = vma.file!.pages.get(vma.pageIndex(a));
    if (!f) continue;
    if (f.nrPages > 1) throw new Error('fault-around: a huge shmem folio mapped by ptes is not modelled');
    const slot = mm.pt.pteSlot(a, true)!;
    if (mm.pt.read(slot) === 0n) setPteRange(mm, vma, slot, f, false, a !== (addr & ~(PAGE - 1n)));
  }
}

// do_wp_page()
function doWpPage(mm: Mm, vma: Vma, addr: bigint, slot: number, orig: Pte): VmFault {
  if (wpReuseWords(mm, vma, slot)) return 0;
  const pg = mm.pg;
  if (vma.flags & V.VM_UFFD_WP && pg.pteUffdWp(orig)) {
    const handler = uffdWpWrite(mm, vma, addr);
    if (handler) return handler;
    orig = pg.pteClearUffdWp(orig);
    mm.arch.setPteAt(slot, orig);
  }
  const f = mm.vmNormalFolio(orig);
  if (vma.flags & (V.VM_SHARED | V.VM_MAYSHARE)) {
    // wp_page_shared() -> wp_page_reuse()
    if (f) f.dirty = true;
    wpPageReuse(mm, vma, slot, orig);
    return 0;
  }
  if (f && f.anon) {
    const i = f.pageIndex(pg.ptePfn(orig));
    // PageAnonExclusive, or wp_can_reuse_anon_folio(): the only mapping of a small folio
    if (f.exclusive(i) || (f.order === 0 && f.pageMapcount(f.pfn) === 1)) {
      f.setExclusive(i, true);
      wpPageReuse(mm, vma, slot, orig);
      return 0;
    }
  }
  return wpPageCopy(mm, vma, slot, orig, f);
}

/**
 * What do_wp_page() makes of an entry it reuses as it is, in an area
 * registered for uffd-wp (`uffdArea`) or not, writable or not: set_pte_at()
 * without uffd-wp where the area resolves it, then wp_page_reuse()'s young,
 * dirty and maybe_mkwrite() through __ptep_set_access_flags(). It changes
 * attributes only (model/arm64/pte-words.test.ts holds it to that).
 */
export function wpReuseEntry(pg: Pgtable, uffdArea: boolean, writable: boolean): (orig: Pte) => Pte {
  return (orig) => {
    const q = uffdArea && pg.pteUffdWp(orig) ? pg.pteClearUffdWp(orig) : orig;
    let entry = pg.pteMkdirty(pg.pteMkyoung(q));
    if (writable) entry = pg.pteMkwrite(entry);
    entry = pg.pteMknoncont(entry);
    return pg.pteSame(q, entry) ? q : pg.ptepSetAccessFlags(q, entry);
  };
}

/** wpReuseEntry()'s four changes, each kept per attribute pattern (index: uffd-wp area 2, writable 1), and the uffd-wp question */
const makeReuseWords = (mm: Mm) => ({
  changes: [false, true].flatMap((uffdArea) => [false, true].map((writable) => new AttrChange(wpReuseEntry(mm.pg, uffdArea, writable)))),
  uffdWp: new AttrQuestion((p) => mm.pg.pteUffdWp(p)),
});

/**
 * do_wp_page() on the table's words where it reuses the page as it is: a
 * private area's entry that is not contiguous, of an anonymous page this
 * mapping owns (PageAnonExclusive), with uffd-wp only where an async
 * context resolves it, and whose set_pte_at() folds nothing (not one of
 * contpte's fold candidates), so that its change is wpReuseEntry(). False,
 * with nothing done, for any other entry, which takes the full path.
 */
function wpReuseWords(mm: Mm, vma: Vma, slot: number): boolean {
  if (vma.flags & (V.VM_SHARED | V.VM_MAYSHARE)) return false;
  const w = mm.pt.pteTableWords(slot);
  const at = wordAt(slot);
  const lo = w[at]!;
  const hi = w[at + 1]!;
  if (!normalPlainPresent(mm).of(lo, hi)) return false;
  const words = keptFor(mm, makeReuseWords);
  const uffdArea = (vma.flags & V.VM_UFFD_WP) !== 0;
  if (uffdArea && words.uffdWp.of(lo, hi) && !mm.uffdWpAsync(vma)) return false;
  // PageAnonExclusive() is set only on an anonymous folio's pages: the page's slot answers without the folio
  if (!mm.sys.phys.exclusiveAt(pfnOfWords(lo, hi)) || mm.arch.mayFold(w, at, slot)) return false;
  return words.changes[(uffdArea ? 2 : 0) + (vma.flags & V.VM_WRITE ? 1 : 0)]!.applyTo(w, at);
}

// wp_page_reuse()
function wpPageReuse(mm: Mm, vma: Vma, slot: number, orig: Pte): void {
  const pg = mm.pg;
  let entry = pg.pteMkyoung(orig);
  entry = pg.pteMkdirty(entry);
  if (vma.flags & V.VM_WRITE) entry = pg.pteMkwrite(entry); // maybe_mkwrite()
  mm.arch.ptepSetAccessFlags(slot, entry);
}

// wp_page_copy(): COW into a new exclusive anonymous page
function wpPageCopy(mm: Mm, vma: Vma, slot: number, orig: Pte, old: Folio | null): VmFault {
  const pg = mm.pg;
  const f = newAnonFolio(mm, vma, 0);
  const oldPfn = pg.ptePfn(orig);
  if (!mm.sys.phys.isZeroPfn(oldPfn)) mm.sys.phys.copyPage(f.pfn, oldPfn);
  let entry = pg.pfnPte(f.pfn, vma.pageProt);
  entry = pg.pteMkdirty(entry);
  if (vma.flags & V.VM_WRITE) entry = pg.pteMkwrite(entry);
  f.setMapcount(0, 1);
  // ptep_clear_flush(), then set_pte_at()
  mm.arch.ptepGetAndClear(slot);
  mm.arch.setPteAt(slot, entry);
  if (old) {
    old.addMapcount(old.pageIndex(oldPfn), -1);
    if (old.anon && !old.mapped()) mm.sys.phys.free(old);
  }
  return 0;
}

/** thp_vma_allowable_order(PMD_ORDER): the settings and the area's flags allow THP here. */
export function vmaThpAllowed(mm: Mm, vma: Vma): boolean {
  const thp = mm.sys.thp;
  if (!vma.isAnonymous || vma.flags & V.VM_NOHUGEPAGE) return false;
  if (thp.enabled === 'never' || (thp.enabled === 'madvise' && !(vma.flags & V.VM_HUGEPAGE))) return false;
  // thp_vma_suitable_order(): a whole PMD must fit (an anonymous area's vm_pgoff is not checked)
  return ((vma.start + PMD_SIZE - 1n) & PMD_MASK) + PMD_SIZE <= vma.end;
}

function thpEligible(mm: Mm, vma: Vma, addr: bigint): boolean {
  const haddr = addr & PMD_MASK;
  return vmaThpAllowed(mm, vma) && haddr >= vma.start && haddr + PMD_SIZE <= vma.end;
}

// do_huge_pmd_anonymous_page()
function doHugePmdAnonymousPage(mm: Mm, vma: Vma, addr: bigint, flags: number, pmdSlot: number): VmFault | 'fallback' {
  const pg = mm.pg;
  vma.anonVma ??= mm.sys.newAnonVma(); // vmf_anon_prepare()
  // userland gets the fault: on the huge zero page path, or before a THP is allocated
  if (vma.flags & V.VM_UFFD_MISSING) return handleUserfault(vma.uffdCtx as UffdCtx, addr, (flags & FAULT_FLAG_WRITE) !== 0, V.VM_UFFD_MISSING);
  if (!(flags & FAULT_FLAG_WRITE) && mm.sys.thp.useZeroPage && mm.sys.cfg.readFaultZeroPage !== false) {
    // set_huge_zero_folio()
    const entry = pg.pmdMkhuge(pg.pfnPte(mm.sys.phys.hugeZeroPfn, vma.pageProt));
    mm.pt.write(pmdSlot, mm.sys.cfg.kernel.hugeZeroPmdSpecial ? pg.pteMkspecial(entry) : entry);
    return 0;
  }
  mapAnonFolioPmd(mm, vma, pmdSlot);
  return 0;
}

// map_anon_folio_pmd_nopf(): a new THP, dirty, writable where the area is
function mapAnonFolioPmd(mm: Mm, vma: Vma, pmdSlot: number): void {
  const pg = mm.pg;
  const f = newAnonFolio(mm, vma, HPAGE_PMD_ORDER);
  let entry = pg.pmdMkhuge(pg.pfnPte(f.pfn, vma.pageProt));
  entry = pg.pteMkdirty(entry);
  if (vma.flags & V.VM_WRITE) entry = pg.pteMkwrite(entry); // maybe_pmd_mkwrite()
  f.pmdMapped = 1;
  mm.pt.write(pmdSlot, entry);
}

// do_huge_pmd_wp_page(): reuse an exclusive THP, otherwise split and fall back to ptes
function doHugePmdWpPage(mm: Mm, vma: Vma, addr: bigint, pmdSlot: number, orig: bigint): VmFault | 'fallback' {
  const pg = mm.pg;
  // wp_huge_pmd(): a uffd-wp THP is split, and each pte resolved as it is written
  if (vma.flags & V.VM_UFFD_WP && pg.pteUffdWp(orig)) {
    const handler = uffdWpWrite(mm, vma, addr);
    if (handler) return handler;
    splitHugePmd(mm, addr & PMD_MASK);
    return 'fallback';
  }
  // do_huge_zero_wp_pmd(): a store to the huge zero pmd gets a whole THP of its own (6.12 splits it)
  if (mm.sys.cfg.kernel.hugeZeroWpThp && pg.pmdPfn(orig) === mm.sys.phys.hugeZeroPfn) {
    mapAnonFolioPmd(mm, vma, pmdSlot);
    return 0;
  }
  const f = mm.sys.phys.folioOf(pg.pmdPfn(orig));
  if (f && f.anon && f.exclusive(0)) {
    let entry = pg.pteMkdirty(pg.pteMkyoung(orig));
    if (vma.flags & V.VM_WRITE) entry = pg.pteMkwrite(entry);
    mm.pt.write(pmdSlot, pg.ptepSetAccessFlags(orig, entry));
    return 0;
  }
  splitHugePmd(mm, addr & PMD_MASK);
  return 'fallback';
}
