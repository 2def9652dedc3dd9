// The kernel's bug history as mutants: each bug of
// shared/reference/bugs.md the model can express, put back into the
// reference as a Variant (harness/plugin.ts) named by the bug's id, and
// each it cannot yet, with what it would need. `mmconform mutants` runs the
// suites on each and names the results that kill it.

import type { Variant } from '../harness/plugin.ts';
import { makePteMarkerEntry, PTE_MARKER_UFFD_WP, pteMarkerGet, swpEntry, swpOffset, swpType } from '../model/arm64/swapops.ts';
import { PMD_MASK, PMD_SIZE } from '../model/mm/pgtables.ts';
import { Errno, PM_SOFT_DIRTY } from '../uapi/linux.ts';
import { modifyFlags } from '../model/mm/vma-ops.ts';
import { VM_HUGETLB, VM_MAYBE_GUARD, VM_SHARED, VM_SOFTDIRTY, VM_UFFD_FLAGS, VM_UFFD_WP, VM_WRITE } from '../model/mm/vma.ts';

/** A bug of bugs.md, by its id and its place there. */
export interface Bug {
  /** its id in bugs.md: "sd-mprotect" */
  readonly id: string;
  /** its heading there: "A2" */
  readonly ref: string;
  /** the fix's subject line */
  readonly fix: string;
}

/** A bug put back: the variant of the reference that has it. */
export interface Mutant extends Bug {
  /** what the variant changes, in a line */
  readonly planted: string;
  readonly variant: Variant;
}

/** A bug the model cannot express yet (or ever): what it would take. */
export interface Unexpressed extends Bug {
  readonly needs: string;
  /** true where no model of this kind could express it: a race with hardware or another CPU, device memory, fault injection */
  readonly never?: boolean;
  /** the bug whose fix this one's follows up (bugs.md counts it with that one) */
  readonly followUpOf?: string;
}

const SD = 'reference:rfc'; // a layout with soft-dirty (bit 63, the RFC's)
/** I3's arm64 analogue: the RFC's PTE_PROT_NONE (bit 54), pte_present()'s other bit */
const SWP_SD_ON_PROT_NONE = 1n << 54n;
const PAGE = 4096n;
/** I4's __swp_entry(): the type masked with __SWP_TYPE_BITS (5), not __SWP_TYPE_MASK */
const typeMasked = (e: bigint) => swpEntry(swpType(e) & 5, swpOffset(e));

export const MUTANTS: readonly Mutant[] = [
  {
    id: 'sd-writenotify',
    ref: 'A1',
    fix: 'mm: softdirty: enable write notifications on VMAs after VM_SOFTDIRTY cleared',
    planted: 'vma_wants_writenotify() ignores soft-dirty tracking',
    variant: {
      name: 'sd-writenotify',
      base: SD,
      mm: {
        vmaWantsWritenotify: (_original, mm) => (vma, prot) => {
          if ((vma.flags & (VM_WRITE | VM_SHARED)) !== (VM_WRITE | VM_SHARED)) return false;
          if (prot !== mm.pageProtFor(vma.flags)) return false;
          return (vma.flags & VM_UFFD_WP) !== 0;
        },
      },
    },
  },
  {
    id: 'sd-mprotect',
    ref: 'A2',
    fix: 'mm/mprotect: fix soft-dirty check in can_change_pte_writable()',
    planted: "the soft-dirty check before mprotect() makes a pte writable tests VM_SOFTDIRTY in the opposite sense",
    variant: {
      name: 'sd-mprotect',
      base: SD,
      mm: { pteNeedsSoftDirtyWp: (_original, mm) => (vma, pte) => (vma.flags & VM_SOFTDIRTY) !== 0 && !mm.pg.pteSoftDirty(pte) },
    },
  },
  {
    id: 'sd-vma-merge',
    ref: 'A4',
    fix: 'mm: propagate VM_SOFTDIRTY on merge',
    planted: "a merged area takes the surviving area's VM_SOFTDIRTY, not the OR of both (the kernel before v6.19)",
    variant: { name: 'sd-vma-merge', base: SD, kernel: { vmaStickySoftDirty: false } },
  },
  {
    id: 'sd-hole-vmflag',
    ref: 'B1',
    fix: 'mm: softdirty: respect VM_SOFTDIRTY in PTE holes',
    planted: 'pagemap_pte_hole() reports every page of a hole not present, never soft-dirty',
    variant: {
      name: 'sd-hole-vmflag',
      base: SD,
      functions: {
        pagemapPteHole: () => (_mm, start, end, put) => {
          for (let addr = start; addr < end; addr += PAGE) put(addr, 0n);
        },
      },
    },
  },
  {
    id: 'sd-hole-before',
    ref: 'B2',
    fix: "mm: softdirty: addresses before VMAs in PTE holes aren't softdirty",
    planted: "pagemap_pte_hole() gives the next area's VM_SOFTDIRTY to the hole before it as well",
    variant: {
      name: 'sd-hole-before',
      base: SD,
      functions: {
        pagemapPteHole: () => (mm, start, end, put) => {
          for (let addr = start; addr < end; addr += PAGE) {
            const vma = mm.vmas.find(addr);
            put(addr, vma && vma.flags & VM_SOFTDIRTY ? PM_SOFT_DIRTY : 0n);
          }
        },
      },
    },
  },
  {
    id: 'hugetlb-sd-writenotify',
    ref: 'F7',
    fix: 'mm/hugetlb: fix hugetlb not supporting softdirty tracking',
    planted: 'vma_wants_writenotify() applies soft-dirty tracking to hugetlb areas',
    variant: {
      name: 'hugetlb-sd-writenotify',
      base: SD,
      mm: {
        vmaWantsWritenotify: (original, mm) => (vma, prot) =>
          original(vma, prot) || ((vma.flags & VM_HUGETLB) !== 0 && (vma.flags & (VM_WRITE | VM_SHARED)) === (VM_WRITE | VM_SHARED) && prot === mm.pageProtFor(vma.flags) && mm.vmaSoftDirtyEnabled(vma)),
      },
    },
  },
  {
    id: 'sd-migration',
    ref: 'C2',
    fix: 'mm: migration: do not lose soft dirty bit if page is in migration state',
    planted: "remove_migration_pte() rebuilds the pte without the migration entry's soft-dirty bit",
    variant: {
      name: 'sd-migration',
      base: SD,
      functions: { removeMigrationPte: (original) => (mm, vma, folio, i, old) => mm.pg.pteClearSoftDirty(original(mm, vma, folio, i, old)) },
    },
  },
  {
    id: 'thp-pmd-uffd-bits',
    ref: 'D2',
    fix: 'mm/userfaultfd: fix a few thp pmd missing uffd-wp bit',
    planted: "remove_migration_pmd() rebuilds the huge pmd without the migration entry's uffd-wp bit",
    variant: {
      name: 'thp-pmd-uffd-bits',
      functions: { removeMigrationPmd: (original) => (mm, vma, slot, folio, old) => original(mm, vma, slot, folio, mm.pg.pteSwpClearUffdWp(old)) },
    },
  },
  {
    id: 'fork-special',
    ref: 'E1',
    fix: 'mm/userfaultfd: fix uffd-wp special cases for fork()',
    planted: "the fork copy keeps a present pte's uffd-wp by the parent's area, not the child's (sub-bug a of five)",
    variant: { name: 'fork-special', functions: { copyEntries: (original) => (mm, _dst, src) => original(mm, src, src) } },
  },
  {
    id: 'fork-marker',
    ref: 'E2',
    fix: 'mm/uffd: fix pte marker when fork() without fork event',
    planted: 'copy_pte_marker() copies a uffd-wp marker whether or not the child keeps uffd-wp',
    variant: { name: 'fork-marker', functions: { copyPteMarker: () => (entry) => pteMarkerGet(entry) } },
  },
  {
    id: 'uffd-unreg-reset',
    ref: 'G2',
    fix: 'mm/uffd: reset write protection when unregister with wp-mode',
    planted: 'userfaultfd_clear_vma() drops the registration without the unprotect pass (uffd_wp_range(..., false))',
    variant: {
      name: 'uffd-unreg-reset',
      functions: {
        userfaultfdClearVma: () => (mm, v, start, end) => {
          const area = modifyFlags(mm, v, start, end, v.flags & ~VM_UFFD_FLAGS, null);
          if (area instanceof Errno) return area;
          mm.vmaSetPageProt(area);
          return null;
        },
      },
    },
  },
  {
    id: 'khugepaged-uffdwp',
    ref: 'D4',
    fix: "mm/khugepaged: don't recycle vma pgtable if uffd-wp registered",
    planted: "file_backed_vma_is_retractable() without its uffd-wp check: MADV_COLLAPSE retracts a registered area's pte table, markers and all",
    variant: { name: 'khugepaged-uffdwp', functions: { fileBackedVmaIsRetractable: () => (vma) => vma.anonVma === null && !(vma.flags & VM_MAYBE_GUARD) } },
  },
  {
    id: 'hugetlb-fork',
    ref: 'F1',
    fix: 'mm/hugetlb: fix uffd-wp during fork()',
    planted: "copy_hugetlb_page_range() keeps uffd-wp, in entries and markers, by the parent's area, not the child's",
    variant: { name: 'hugetlb-fork', functions: { copyHugetlbPageRange: (original) => (_dst, src, dstMm, srcMm) => original(src, src, dstMm, srcMm) } },
  },
  {
    id: 'hugetlb-cp-marker',
    ref: 'F4',
    fix: 'mm/hugetlb: fix PTE marker handling in hugetlb_change_protection()',
    planted: 'hugetlb_change_protection() takes any entry but none down the present path, a marker too (no branch of its own)',
    variant: {
      name: 'hugetlb-cp-marker',
      functions: {
        hugetlbChangeProtection: () => (mm, start, end, uffd, prot) => {
          const pg = mm.pg;
          for (let addr = start & PMD_MASK; addr < end; addr += PMD_SIZE) {
            const slot = mm.pt.pmdSlot(addr, uffd === 'wp');
            if (slot === null) continue;
            const val = mm.pt.read(slot);
            if (val === 0n) {
              if (uffd === 'wp') mm.pt.write(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
              continue;
            }
            // !huge_pte_none(): huge_pte_modify() of whatever is there
            let entry = pg.pmdMkhuge(pg.pteModify(val, prot));
            if (uffd === 'wp') entry = pg.pteMkuffdWp(entry);
            else if (uffd === 'resolve') entry = pg.pteClearUffdWp(entry);
            mm.pt.write(slot, entry);
          }
        },
      },
    },
  },
  {
    id: 'mremap-uffd-clear',
    ref: 'G4',
    fix: 'mm: clear uffd-wp PTE/PMD state on mremap()',
    planted: 'move_ptes() keeps uffd-wp (and markers) where the new area is not registered for it',
    variant: { name: 'mremap-uffd-clear', functions: { movePtes: (original) => (mm, oldAddr, newAddr, extent) => original(mm, oldAddr, newAddr, extent, false) } },
  },
  {
    id: 'pmscan-wp-fastpath',
    ref: 'H2',
    fix: 'mm/pagemap: fix wr-protect even if PM_SCAN_WP_MATCHING not set',
    planted: "PAGEMAP_SCAN's exclusive-WP fast path is taken for no output vector alone, PM_SCAN_WP_MATCHING or not",
    variant: { name: 'pmscan-wp-fastpath', functions: { pagemapScanFastWp: () => (_wpMatching, vecOut) => !vecOut } },
  },
  {
    id: 'pmscan-swp-uffd',
    ref: 'H3',
    fix: 'fs/proc/task_mmu: fix uffd-wp confusion in pagemap_scan_pmd_entry()',
    planted: "PAGEMAP_SCAN's fast paths test uffd-wp with the present pte's accessor on any entry (arm64 keeps a swap entry's elsewhere)",
    variant: { name: 'pmscan-swp-uffd', functions: { pagemapScanPteWp: () => (pg, pte) => pg.pteUffdWp(pte) } },
  },
  {
    id: 'x86-swp-sd-bit7',
    ref: 'I3',
    fix: 'mm: x86: move _PAGE_SWP_SOFT_DIRTY from bit 7 to bit 1',
    planted:
      "the arm64 analogue bugs.md gives: the swap soft-dirty bit on PTE_PROT_NONE (54), which pte_present() accepts, as x86's was on _PAGE_PSE, which pmd_present() accepts (the x86 original waits for the x86-64 model)",
    variant: {
      name: 'x86-swp-sd-bit7',
      base: SD,
      helpers: {
        pteSwpSoftDirty: () => (p) => (p & SWP_SD_ON_PROT_NONE) !== 0n,
        pteSwpMksoftDirty: () => (p) => p | SWP_SD_ON_PROT_NONE,
        pteSwpClearSoftDirty: () => (p) => p & ~SWP_SD_ON_PROT_NONE,
      },
    },
  },
  {
    id: 'arm32-swp-type',
    ref: 'I4',
    fix: 'arm/mm: fix swp type masking in __swp_entry()',
    planted: "__swp_entry() masks the type with the number of type bits (5) instead of the type mask (31), as arm's did: in swp_entry_to_pte() (and _pmd()) and make_pte_marker(), arm64's callers of it",
    variant: {
      name: 'arm32-swp-type',
      helpers: {
        swpEntryToPte: (original) => (e) => original(typeMasked(e)),
        swpEntryToPmd: (original) => (e) => original(typeMasked(e)),
        makePteMarker: (_original, pg) => (marker) => pg.swpEntryToPte(typeMasked(makePteMarkerEntry(marker))),
      },
    },
  },
];

const IN_FLIGHT =
  'a migration entry seen while its migration is in flight: user space meets one only by racing move_pages() with another thread (as migration.c does), which the model, whose move_pages() finishes each migration before it returns, does not interleave';

export const UNEXPRESSED: readonly Unexpressed[] = [
  { id: 'ksm-unmerge-uffdwp', ref: 'A6', fix: 'mm/ksm: fix KSM COW breaking with userfaultfd-wp via FAULT_FLAG_UNSHARE', needs: 'KSM: MADV_MERGEABLE, merging by ksmd, MADV_UNMERGEABLE as an unshare fault' },
  { id: 'pagemap-pmd-swpoff', ref: 'B5', fix: 'mm, pagemap: fix swap offset value for PMD migration entry', needs: `${IN_FLIGHT}: pagemap of a pmd migration entry` },
  { id: 'devpriv-swp-bits', ref: 'C4', fix: 'mm/rmap: fixup copying of soft dirty and uffd ptes (and two more)', needs: 'device-private memory (HMM): user space reaches it only through a test driver', never: true },
  { id: 'thp-split-migr-flags', ref: 'D1', fix: 'mm: thp: fix flags for pmd migration when split', needs: `${IN_FLIGHT}: the split of a migration pmd` },
  { id: 'hugetlb-unshare', ref: 'F2', fix: 'mm/hugetlb: fix uffd-wp bit lost when unsharing happens', needs: 'a read-only long-term pin (FOLL_PIN, gup_test), which none of the kernels here offers to user space' },
  { id: 'hugetlb-cp-migr', ref: 'F5', fix: 'mm/hugetlb: fix uffd-wp handling for migration entries in hugetlb_change_protection()', needs: `${IN_FLIGHT}: UFFDIO_WRITEPROTECT of a hugetlb migration entry` },
  { id: 'mremap-uffd-followup', ref: 'G4b', fix: 'mm/mremap: fix WARN with uffd that has remap events disabled', needs: "a page-table allocation that fails in mremap's move, and a WARN to see", never: true, followUpOf: 'G4' },
  { id: 'zap-marker-nopage', ref: 'G5', fix: 'mm/memory: fix missing pte marker for !page on pte zaps', needs: 'a uffd-wp pte with no struct page in a file area (DAX, or a pfn mapping userfaultfd could register): a zap of anonymous memory drops every marker, and no such file area is reachable, so the bug is invisible to user space here', never: true },
  { id: 'uffd-tlb-race', ref: 'G6', fix: 'mm/userfaultfd: fix memory corruption due to writeprotect', needs: 'a TLB holding stale entries while another CPU writes', never: true },
  { id: 'pmscan-young-dirty', ref: 'H4', fix: 'fs/proc/task_mmu: fix loss of young/dirty bits during pagemap scan', needs: "a hardware update of young or dirty between the scan's read and its write", never: true },
  { id: 'split-pmd-invalidate-core', ref: 'I2', fix: 'mm: fix race between __split_huge_pmd_locked() and GUP-fast', needs: 'GUP-fast on another CPU during a split', never: true },
];
