// One process's address space (mm_struct): its areas, its page tables, and
// the small helpers the code over them shares (include/linux/mm.h,
// include/linux/userfaultfd_k.h, vma_set_page_prot()). The code that
// changes it sits in files named after the kernel's: mmap.ts (mm/mmap.c),
// vma-ops.ts (mm/vma.c), mprotect.ts, mremap.ts, madvise.ts, memory.ts
// (zaps, mm/memory.c), huge-memory.ts (mm/huge_memory.c) and fault.ts;
// user-access.ts has the process's own loads and stores.

import { ContPte } from '../arm64/contpte.ts';
import type { Pgtable, Pte } from '../arm64/pgtable.ts';
import { vmGetPageProt } from '../arm64/prot.ts';
import * as U from '../../uapi/linux.ts';
import { PAGE_SIZE, type Folio } from './physmem.ts';
import { PageTables } from './pgtables.ts';
import type { System } from './system.ts';
import * as V from './vma.ts';
import { Vma, VmaList } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);
const PAGE_MASK = ~(PAGE - 1n);
export const TASK_SIZE = 1n << 48n;
/** mmap_base without randomisation: top-down allocation starts here */
export const MMAP_BASE = 0xffff_8000_0000n;
/** [vvar] and [vdso] of Debian's 7.2 arm64 kernel: 4 pages and 2 (measured, /proc/self/maps) */
const VDSO_SIZE = 6n * PAGE;

/** offset_in_page(x) == 0 */
export const pageAligned = (x: bigint) => (x & (PAGE - 1n)) === 0n;
/** PAGE_ALIGN() */
export const pageAlign = (x: bigint) => (x + PAGE - 1n) & PAGE_MASK;

/** The kernel functions an Mm holds that a variant of the model may replace (harness/plugin.ts: a variant's `mm`). */
export const MM_FUNCTIONS = ['vmaSoftDirtyEnabled', 'pteNeedsSoftDirtyWp', 'vmaWantsWritenotify', 'vmaWantsManualPteWriteUpgrade', 'vmNormalFolio', 'uffdWpUseMarkers', 'uffdWpAsync'] as const;
export type MmFunction = (typeof MM_FUNCTIONS)[number];
/** Replacements for some of MM_FUNCTIONS: each is made from the model's own (bound to the mm) and the mm. */
export type MmOverrides = { readonly [K in MmFunction]?: (original: Mm[K], mm: Mm) => Mm[K] };

export class Mm {
  readonly vmas = new VmaList();
  readonly pt: PageTables;
  /** the arch's pte API over pt (ptep_get(), set_ptes() and friends): what core mm uses for ptes */
  readonly arch: ContPte;

  /** mmap_base: where top-down allocation starts, arch_mmap_rnd() pages below MMAP_BASE */
  readonly mmapBase: bigint;

  /** task_pid_vnr(current): the thread whose call runs now (the process's own pid but within asCurrent()) */
  currentTid = 0;

  /** `fn` run as another thread of the process (current), the process's own thread again after */
  asCurrent<T>(tid: number, fn: () => T): T {
    const own = this.currentTid;
    this.currentTid = tid;
    try {
      return fn();
    } finally {
      this.currentTid = own;
    }
  }

  /** `exec`: a process's first mm, with the special mappings exec sets up; fork() copies its parent's instead */
  constructor(
    readonly sys: System,
    exec = true,
  ) {
    if (sys.cfg.mmOverrides) this.override(sys.cfg.mmOverrides);
    this.mmapBase = MMAP_BASE - (sys.cfg.mmapRnd ?? 0n) * PAGE;
    this.pt = new PageTables(sys.cfg.kernel.tableAf);
    this.arch = new ContPte(this.pt, sys.pg, sys.phys);
    sys.mms.add(this);
    if (exec) this.installSpecialMapping();
  }

  /** A variant's kernel functions in place of the model's, on this mm alone. */
  private override(overrides: MmOverrides): void {
    const own = this as Record<MmFunction, unknown>;
    for (const name of MM_FUNCTIONS) {
      const make = overrides[name] as ((original: unknown, mm: Mm) => unknown) | undefined;
      if (make) own[name] = make(Mm.prototype[name].bind(this), this);
    }
  }

  /**
   * arch_setup_additional_pages() at exec: [vvar] and [vdso], the first
   * areas mapped top-down from mmap_base, as one area. A process has read
   * the clock through vvar by the time a test runs, so its pte table is
   * there: the areas a test maps next share it (PAGEMAP_SCAN reports their
   * empty ptes written, as measured on the host and 7.2 arm64), and a
   * hugetlb walk below finds a pmd table (PAGE_IS_HUGE, measured).
   */
  private installSpecialMapping(): void {
    const flags = V.VM_READ | V.VM_MAYREAD | V.VM_PFNMAP | V.VM_DONTEXPAND;
    const vdso = new Vma(this.mmapBase - VDSO_SIZE, this.mmapBase, flags, (this.mmapBase - VDSO_SIZE) >> 12n, null, 0n);
    vdso.name = '[vvar]';
    this.vmas.insert(vdso);
    this.vmaSetPageProt(vdso);
    // vmf_insert_pfn(): a special pte, no struct page behind it for the rest of mm
    this.pt.write(this.pt.pteSlot(vdso.start, true)!, this.pg.pteMkspecial(this.pg.pfnPte(this.sys.phys.zeroPfn, vdso.pageProt)));
  }

  get pg(): Pgtable {
    return this.sys.pg;
  }

  // --- soft-dirty and write-notify (include/linux/mm.h, mm/mmap.c) -------------

  /** VM_SOFTDIRTY, or 0 where the page tables have no soft-dirty bit */
  get vmSoftdirty(): number {
    return this.pg.hasSoftDirty ? V.VM_SOFTDIRTY : 0;
  }
  // vma_soft_dirty_enabled(): tracking is on while VM_SOFTDIRTY is clear
  vmaSoftDirtyEnabled(vma: Vma): boolean {
    return this.pg.hasSoftDirty && (vma.flags & V.VM_SOFTDIRTY) === 0;
  }
  // pte_needs_soft_dirty_wp()
  pteNeedsSoftDirtyWp(vma: Vma, pte: Pte): boolean {
    return this.vmaSoftDirtyEnabled(vma) && !this.pg.pteSoftDirty(pte);
  }
  // vma_wants_writenotify(): tmpfs has no page_mkwrite and no writeback
  vmaWantsWritenotify(vma: Vma, prot: bigint): boolean {
    if ((vma.flags & (V.VM_WRITE | V.VM_SHARED)) !== (V.VM_WRITE | V.VM_SHARED)) return false;
    // "the open routine did something to the protections": so does writenotify itself, once applied
    // (vm_pgprot_modify() takes all but the memory type from the flags; tmpfs has no page_mkwrite to ask first)
    if (prot !== this.pageProtFor(vma.flags)) return false;
    // hugetlb has no soft-dirty tracking (f96f7a40874d)
    if (this.vmaSoftDirtyEnabled(vma) && !(vma.flags & V.VM_HUGETLB)) return true;
    return (vma.flags & V.VM_UFFD_WP) !== 0;
  }
  // vma_set_page_prot()
  vmaSetPageProt(vma: Vma): void {
    let flags = vma.flags;
    if (this.vmaWantsWritenotify(vma, this.pageProtFor(flags))) flags &= ~V.VM_SHARED;
    vma.pageProt = this.pageProtFor(flags);
  }
  // vma_wants_manual_pte_write_upgrade(): never for a shared area whose protection writenotify already changed
  vmaWantsManualPteWriteUpgrade(vma: Vma): boolean {
    if (vma.flags & V.VM_SHARED) return this.vmaWantsWritenotify(vma, vma.pageProt);
    return (vma.flags & V.VM_WRITE) !== 0;
  }

  // --- entries: the folio behind one, an area's protection, the leaf -----------

  /** vm_normal_page(): the folio behind a present pte, none for special ones (zero page) */
  vmNormalFolio(pte: Pte): Folio | null {
    if (this.pg.pteSpecial(pte)) return null;
    return this.sys.phys.folioOf(this.pg.ptePfn(pte));
  }

  /** vm_get_page_prot() */
  pageProtFor(flags: number): bigint {
    return vmGetPageProt(this.sys.prots, flags);
  }

  /** The leaf entry mapping addr and its level, for /proc readers. */
  leaf(addr: bigint): { level: 2 | 3; val: bigint } {
    return this.pt.leaf(addr);
  }

  // --- userfaultfd (include/linux/userfaultfd_k.h) -----------------------------

  // userfaultfd_wp_use_markers(): file memory always, anonymous only with UFFD_FEATURE_WP_UNPOPULATED
  uffdWpUseMarkers(vma: Vma): boolean {
    if (!(vma.flags & V.VM_UFFD_WP)) return false;
    return !vma.isAnonymous || ((vma.uffdCtx?.features ?? 0n) & U.UFFD_FEATURE_WP_UNPOPULATED) !== 0n;
  }

  // userfaultfd_wp_async()
  uffdWpAsync(vma: Vma): boolean {
    return ((vma.uffdCtx?.features ?? 0n) & U.UFFD_FEATURE_WP_ASYNC) !== 0n;
  }
}
