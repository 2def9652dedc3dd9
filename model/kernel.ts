// Kernel-version behaviour that changes what the page-table helpers do,
// independent of which bits a layout assigns.

export interface KernelBehaviour {
  /** The kernel version whose helpers the model follows, e.g. "6.12". */
  readonly version: string;
  /**
   * debug_vm_pgtable.c checks pte_mkwrite_novma() on clean and dirty entries:
   * 143937ca51cc (v6.18) added them with its fix (pte_mkwrite_novma() clears
   * PTE_RDONLY only when PTE_DIRTY is set). Debian's 6.12 carries the fix
   * (measured: a page swapped in by a load stays writable-clean) but not
   * the checks.
   */
  readonly debugVmPgtableMkwriteNovma: boolean;
  /**
   * VMA_STICKY_FLAGS (v6.19): a merge keeps VM_SOFTDIRTY if any part had it;
   * before, the merged area took the flags of the area it grew from.
   */
  readonly vmaStickySoftDirty: boolean;
  /** PAGE_IS_GUARD is a PAGEMAP_SCAN category (after 6.12; PM_SCAN_CATEGORIES in 6.12 ends at PAGE_IS_SOFT_DIRTY): before, asking for it is EINVAL. */
  readonly pagemapScanGuard: boolean;
  /**
   * cluster_alloc_swap_entry(): a page goes to a partly used cluster before
   * a free one (measured: 7.2's first swap slot is 1, 6.12's is 0x200).
   */
  readonly swapNonfullFirst: boolean;
  /** mm/swap_slots.c: pages take swap slots from, and free them into, batches of 64 (removed after 6.12) */
  readonly swapSlotsCache: boolean;
  /** a swapon without a priority gets -1 (DEF_SWAP_PRIO, 7.2) or one below the last (--least_priority, from -2: 6.12) */
  readonly swapDefaultPrio: number;
  /** pmd_populate() and friends set AF in table entries (FEAT_HAFT support; measured in 7.2, not in 6.12) */
  readonly tableAf: boolean;
  /** set_huge_zero_folio() marks the huge zero pmd special (measured in 7.2, not in 6.12) */
  readonly hugeZeroPmdSpecial: boolean;
  /**
   * UFFDIO_UNREGISTER only through the context that registered an area
   * (EINVAL otherwise); 6.12 lets any context unregister it (measured: the
   * other context's area loses its registration and its write protection).
   */
  readonly uffdUnregisterOwnCtxOnly: boolean;
  /**
   * check_mremap_params() and check_prep_vma() judge a whole mremap() before
   * anything is unmapped: the new address before the area lookup (EINVAL
   * before EFAULT), the old range before the destination goes. 6.12 checks
   * the new address after the lookup, compares MREMAP_DONTUNMAP's lengths
   * before PAGE_ALIGN(), and unmaps the destination and the shrunk tail
   * before vma_to_resize() (measured: EFAULT, the destination gone).
   */
  readonly mremapEarlyChecks: boolean;
  /**
   * remap_move(): a pure move (MREMAP_FIXED, old_len == new_len) takes every
   * area of the range, the gaps between them kept; 6.12 moves within one
   * area (measured: EFAULT).
   */
  readonly mremapMultiVma: boolean;
  /**
   * is_mergeable_anon_vma(): a range with an anon_vma merges into a
   * neighbour without one; 6.12 wants the neighbour's anon_vma_chain
   * singular, which an empty one is not (measured: mremap growing a written
   * area up to an untouched one leaves two areas on 6.12, one on 7.2).
   */
  readonly mergeIntoNoAnonVma: boolean;
  /** MADV_GUARD_INSTALL and MADV_GUARD_REMOVE (v6.13): 6.12 answers EINVAL (measured) */
  readonly madviseGuard: boolean;
  /**
   * With MGLRU, folio_add_lru() in a fault marks a new folio accessed
   * (PG_referenced), and lru_lazyfree() leaves PG_referenced set (its
   * lru_gen_clear_refs() comes after the folio left its generation); 6.12
   * marked the folio active instead and cleared PG_referenced (measured:
   * smaps Referenced of pages MADV_FREE made old, 8 kB of 8 on 7.2, 0 on 6.12).
   */
  readonly lruGenFaultReferenced: boolean;
  /**
   * MADV_DONTNEED frees a pte table it covered whole and left empty
   * (zap_pte_range() with details->reclaim_pt: CONFIG_PT_RECLAIM, v6.14, set
   * in Debian's 7.2 config); 6.12 keeps it (measured: the pmd reads 0 on
   * 7.2, a pte table of none entries on 6.12).
   */
  readonly ptReclaim: boolean;
  /**
   * Every zap drains the LRU batches first (lru_add_drain() in
   * zap_page_range_single(), unmap_region(), vms_clear_ptes()), 6.12 only
   * (measured: a MADV_FREE'd page is LazyFree after a MADV_DONTNEED of an
   * empty page on 6.12, not on 7.2).
   */
  readonly zapDrainsLru: boolean;
  /**
   * do_swap_page() brings even a SWP_SYNCHRONOUS_IO device's page in through
   * the swap cache, so the new folio is not on the LRU yet and a write fault
   * drains the batches (to judge exclusivity by refcount); 6.12 bypasses the
   * swap cache there (measured: LazyFree after a store to a swapped-out page
   * on 7.2, not on 6.12).
   */
  readonly swapinViaSwapCache: boolean;
  /**
   * do_huge_zero_wp_pmd(): a store to the huge zero pmd maps a new THP (measured on 7.2 arm64 and
   * the host's 6.18: AnonHugePages 2048 kB); 6.12 splits the pmd and maps one 4 KiB page (Rss 4 kB).
   */
  readonly hugeZeroWpThp: boolean;
  /**
   * change_pte_range() changes a large folio's ptes in batches (6.17's
   * "optimize mprotect() by PTE batching"): one get-and-clear, young and
   * dirty gathered over the batch and set on all of it, and set_ptes() that
   * makes whole 64 KiB blocks contiguous; 6.12 changes one pte at a time.
   */
  readonly mprotectPteBatch: boolean;
  /** move_ptes() moves a contiguous block's ptes as one batch (6.17's "optimize mremap() by PTE batching"); 6.12 one by one */
  readonly mremapPteBatch: boolean;
  /**
   * The userfaultfd ioctls reach shmem through vm_uffd_ops (7.x): UFFDIO_COPY
   * and UFFDIO_ZEROPAGE past the end of a shared shmem file are ENOMEM (its
   * alloc_folio() fails), UFFDIO_CONTINUE past it EFAULT (measured on 7.2
   * x86_64); before, EFAULT and EINVAL (measured on the host's 6.18).
   */
  readonly uffdOps: boolean;
}

export const KERNELS: Readonly<Record<string, KernelBehaviour>> = {
  '6.12': { version: '6.12', debugVmPgtableMkwriteNovma: false, vmaStickySoftDirty: false, pagemapScanGuard: false, swapNonfullFirst: false, swapDefaultPrio: -2, swapSlotsCache: true, tableAf: false, hugeZeroPmdSpecial: false, uffdUnregisterOwnCtxOnly: false, mremapEarlyChecks: false, mremapMultiVma: false, mergeIntoNoAnonVma: false, madviseGuard: false, lruGenFaultReferenced: false, ptReclaim: false, zapDrainsLru: true, swapinViaSwapCache: false, hugeZeroWpThp: false, mprotectPteBatch: false, mremapPteBatch: false, uffdOps: false },
  // The host kernel here (6.18.44): 7.2's behaviour but vm_uffd_ops (7.x; measured on it) and
  // VMA_STICKY_FLAGS (6.19; it has no soft-dirty to show it). The suites and the fuzzer agree with it
  // otherwise; what it cannot show (swap, arm64 descriptors) follows 7.2 unmeasured.
  '6.18': { version: '6.18', debugVmPgtableMkwriteNovma: true, vmaStickySoftDirty: false, pagemapScanGuard: true, swapNonfullFirst: true, swapDefaultPrio: -1, swapSlotsCache: false, tableAf: true, hugeZeroPmdSpecial: true, uffdUnregisterOwnCtxOnly: true, mremapEarlyChecks: true, mremapMultiVma: true, mergeIntoNoAnonVma: true, madviseGuard: true, lruGenFaultReferenced: true, ptReclaim: true, zapDrainsLru: false, swapinViaSwapCache: true, hugeZeroWpThp: true, mprotectPteBatch: true, mremapPteBatch: true, uffdOps: false },
  '7.2': { version: '7.2', debugVmPgtableMkwriteNovma: true, vmaStickySoftDirty: true, pagemapScanGuard: true, swapNonfullFirst: true, swapDefaultPrio: -1, swapSlotsCache: false, tableAf: true, hugeZeroPmdSpecial: true, uffdUnregisterOwnCtxOnly: true, mremapEarlyChecks: true, mremapMultiVma: true, mergeIntoNoAnonVma: true, madviseGuard: true, lruGenFaultReferenced: true, ptReclaim: true, zapDrainsLru: false, swapinViaSwapCache: true, hugeZeroWpThp: true, mprotectPteBatch: true, mremapPteBatch: true, uffdOps: true },
};

export function kernelByName(name: string): KernelBehaviour {
  const k = KERNELS[name];
  if (!k) throw new Error(`unknown kernel behaviour "${name}" (known: ${Object.keys(KERNELS).join(', ')})`);
  return k;
}

/**
 * The current upstream tree (Debian sid's linux-source), which the ported
 * selftests come from, is the model's default; '6.12' is Debian trixie's.
 */
export const DEFAULT_KERNEL: KernelBehaviour = kernelByName('7.2');
