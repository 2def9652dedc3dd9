// Each mutant of the catalogue is killed, and by the results named here:
// a change to the model or the suites that lets one survive, or kills it
// for another reason, shows. (Each runs only the suites that kill it; the
// command runs them all.)
import { describe, expect, test } from 'vitest';
import { findSuite } from '../cli/commands/select.ts';
import { MUTANTS, UNEXPRESSED } from './catalogue.ts';
import { runMutants } from './run.ts';

const KILLS: Readonly<Record<string, readonly string[]>> = {
  'sd-writenotify': [
    'soft-dirty: (exit)',
    'soft-dirty: Test test_mprotect-file soft-dirty after rewritten',
    'regressions-soft-dirty: (exit)',
    'regressions-soft-dirty: sd-writenotify: shared page read-faulted after clear_refs is soft-dirty once written',
  ],
  'sd-mprotect': [
    'soft-dirty: (exit)',
    'soft-dirty: Test test_mprotect-anon soft-dirty after rewritten',
    'regressions-soft-dirty: (exit)',
    'regressions-soft-dirty: sd-mprotect: mprotect(RO) then mprotect(RW) after clear_refs keeps write faults for soft-dirty',
  ],
  'sd-vma-merge': [
    'soft-dirty: (exit)',
    'soft-dirty: Test test_merge-anon soft-dirty after remap merge 1st pg',
    'soft-dirty: Test test_merge-anon soft-dirty after remap merge 2nd pg',
    'soft-dirty: Test test_merge-anon soft-dirty after mprotect merge 1st pg',
    'soft-dirty: Test test_merge-anon soft-dirty after mprotect merge 2nd pg',
    'regressions-soft-dirty: (exit)',
    'regressions-soft-dirty: sd-vma-merge: a clean area merged with a new soft-dirty one is soft-dirty',
  ],
  'sd-hole-vmflag': [
    'regressions-soft-dirty: (exit)',
    'regressions-soft-dirty: sd-hole-vmflag: an untouched new area with no page tables reads soft-dirty',
    // the program bails out there (pagemap and PAGEMAP_SCAN disagree), as the C's vm_util does: the rest never run
    'regressions-soft-dirty: sd-hole-before: an unmapped page before an area reads as 0',
    'regressions-soft-dirty: hugetlb-sd-writenotify: a shared hugetlb page written after mprotect and clear_refs stays the shared page, writable',
    'regressions-soft-dirty: sd-migration: a page written since clear_refs is soft-dirty after move_pages, one not written is clean until written',
  ],
  'sd-migration': [
    'regressions-soft-dirty: (exit)',
    'regressions-soft-dirty: sd-migration: a page written since clear_refs is soft-dirty after move_pages, one not written is clean until written',
  ],
  'thp-pmd-uffd-bits': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: thp-pmd-uffd-bits: a uffd-wp THP moved by move_pages is a block still, uffd-wp on every page; a store is recorded for its page alone',
  ],
  'sd-hole-before': ['regressions-soft-dirty: (exit)', 'regressions-soft-dirty: sd-hole-before: an unmapped page before an area reads as 0'],
  'hugetlb-sd-writenotify': [
    'regressions-soft-dirty: (exit)',
    'regressions-soft-dirty: hugetlb-sd-writenotify: a shared hugetlb page written after mprotect and clear_refs stays the shared page, writable',
  ],
  'fork-special': [
    'uffd-unit-tests: (exit)',
    'uffd-unit-tests: wp-fork on anon',
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: fork-marker: a child without UFFD_FEATURE_EVENT_FORK gets no uffd-wp marker, the parent keeps its own',
  ],
  'fork-marker': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: fork-marker: a child without UFFD_FEATURE_EVENT_FORK gets no uffd-wp marker, the parent keeps its own',
  ],
  'khugepaged-uffdwp': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: khugepaged-uffdwp: MADV_COLLAPSE of shmem registered for uffd-wp fails (EINVAL), the protected page a marker still',
  ],
  'hugetlb-fork': ['uffd-unit-tests: (exit)', 'uffd-unit-tests: wp-fork on hugetlb-private'],
  'hugetlb-cp-marker': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: hugetlb-cp-marker: a hugetlb marker protected again stays one; resolved or unregistered it goes; the hole punched after is clean',
    'pte-states: (exit)',
    'pte-states: hugetlb close(userfaultfd): markers gone, write protection released',
  ],
  'mremap-uffd-clear': [
    'pte-states: (exit)',
    'pte-states: mremap of uffd-wp pages (no EVENT_REMAP): uffd-wp and markers dropped',
  ],
  'pmscan-wp-fastpath': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: pmscan-wp-fastpath: PAGEMAP_SCAN without a vector or PM_SCAN_WP_MATCHING protects nothing',
  ],
  'pmscan-swp-uffd': [
    'pagemap_ioctl: (exit)',
    'pagemap_ioctl: sanity_tests_sd Repeated pattern of written and non-written pages',
    'pagemap_ioctl: sanity_tests_sd Repeated pattern of written and non-written pages in parts 498 2 2',
    'pagemap_ioctl: sanity_tests_sd Repeated pattern of written and non-written pages max_pages',
    'pagemap_ioctl: sanity_tests_sd Smaller max_pages',
    'pagemap_ioctl: Smaller vec',
    'pagemap_ioctl: Page testing: all new pages must not be written (dirty)',
    'pagemap_ioctl: Large Page testing: all new pages must not be written (dirty)',
    'pagemap_ioctl: File memory testing: all new pages must not be written (dirty)',
    'pagemap_ioctl: File anonymous memory testing: all new pages must not be written (dirty)',
    'pagemap_ioctl: Test test_simple',
    'pagemap_ioctl: userfaultfd_tests all new pages must not be written (dirty)',
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: pmscan-swp-uffd: protected swap entries are not written; the one written back is',
    'pte-states: (exit)',
    'pte-states: PAGEMAP_SCAN(PM_SCAN_WP_MATCHING): the written pages, write-protected again',
    'pte-states: PAGEMAP_SCAN after it: nothing written',
    'pte-states: PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) with max_pages 1: the first written page, walk_end at the next',
    'pte-states: PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) without a vector: every page write-protected',
    'pte-states: shmem PAGEMAP_SCAN(PM_SCAN_WP_MATCHING): a zapped page written, given a marker',
  ],
  // every swapped-out soft-dirty page looks present; more results in uffd-unit-tests; here, those of the two quick suites
  'x86-swp-sd-bit7': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: pmscan-swp-uffd: protected swap entries are not written; the one written back is',
    'regressions-uffd-wp: hugetlb-cp-marker: a hugetlb marker protected again stays one; resolved or unregistered it goes; the hole punched after is clean',
    'regressions-uffd-wp: thp-pmd-uffd-bits: a uffd-wp THP moved by move_pages is a block still, uffd-wp on every page; a store is recorded for its page alone',
    'pte-states: (exit)',
    'pte-states: MADV_PAGEOUT: a swap entry',
    'pte-states: load: swapped back in',
    'pte-states: store: swapped back in',
    'pte-states: MADV_PAGEOUT of a uffd-wp page: a swap entry with uffd-wp',
    'pte-states: load: swapped back in, still uffd-wp',
    'pte-states: mremap of uffd-wp pages (no EVENT_REMAP): uffd-wp and markers dropped',
    'pte-states: PAGEMAP_SCAN(PM_SCAN_WP_MATCHING): the written pages, write-protected again',
    'pte-states: swapoff: swapped pages mapped again read-only, uffd-wp and data kept; a store reuses an exclusive one',
    // the program's own error line: killed by SIGSEGV, a store to a swapped-out page whose soft-dirty entry reads as a PROT_NONE pte
    'regressions-uffd-wp: selftests: mmconform: regressions-uffd-wp',
  ],
  // 150 results in all (pagemap_ioctl and uffd-unit-tests too); here, those of the two quick suites
  'arm32-swp-type': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: uffd-unreg-reset: UFFDIO_UNREGISTER resets write protection, and a new registration finds none',
    'regressions-uffd-wp: fork-marker: a child without UFFD_FEATURE_EVENT_FORK gets no uffd-wp marker, the parent keeps its own',
    'regressions-uffd-wp: khugepaged-uffdwp: MADV_COLLAPSE of shmem registered for uffd-wp fails (EINVAL), the protected page a marker still',
    'regressions-uffd-wp: hugetlb-cp-marker: a hugetlb marker protected again stays one; resolved or unregistered it goes; the hole punched after is clean',
    'pte-states: (exit)',
    'pte-states: UFFDIO_WRITEPROTECT of an empty page: a uffd-wp marker',
    'pte-states: close(userfaultfd): write protection released',
    'pte-states: mremap of uffd-wp pages (no EVENT_REMAP): uffd-wp and markers dropped',
    'pte-states: PAGEMAP_SCAN(PM_SCAN_WP_MATCHING): the written pages, write-protected again',
    'pte-states: PAGEMAP_SCAN after it: nothing written',
    'pte-states: PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) with max_pages 1: the first written page, walk_end at the next',
    'pte-states: shmem UFFDIO_WRITEPROTECT: a mapped page uffd-wp, an empty one a marker (file memory always)',
    'pte-states: shmem load on a marker: the page mapped write-protected',
    'pte-states: shmem MADV_DONTNEED of a uffd-wp page: a marker stays (none for a page not protected)',
    'pte-states: shmem MADV_PAGEOUT of a uffd-wp page: a marker stays',
    'pte-states: shmem PAGEMAP_SCAN(PM_SCAN_WP_MATCHING): a zapped page written, given a marker',
    'pte-states: shmem close(userfaultfd): markers gone, write protection released',
    'pte-states: hugetlb UFFDIO_WRITEPROTECT: a uffd-wp block, a marker in the empty one (uffd-wp to pagemap, not swapped)',
    'pte-states: hugetlb store on it and on a marker: resolved in the kernel',
    'pte-states: hugetlb MADV_DONTNEED of a uffd-wp page: a marker stays',
    'pte-states: hugetlb PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) of part of a huge page: nothing, walk_end at its start',
    'pte-states: hugetlb close(userfaultfd): markers gone, write protection released',
    'pte-states: move_pages: a written page on the other node, exclusive, its data kept; the zero page EFAULT',
    'pte-states: move_pages of a read-only page: moved back read-only, a store faults',
    'pte-states: move_pages of a uffd-wp page: uffd-wp still, a store resolved in the kernel (async)',
    'pte-states: THP move_pages of one page: the whole block on the other node, a block still',
    'pte-states: swapoff: swapped pages mapped again read-only, uffd-wp and data kept; a store reuses an exclusive one',
    'pte-states: swapoff of a slot a child shares: one page mapped in both, exclusive in neither',
    'pte-states: swapon: the device back, empty',
    // the suite's own error line: a marker decoded as swap device 5's entry, which no swapon made
    'pte-states: selftests: mmconform: pte-states',
  ],
  'uffd-unreg-reset': [
    'regressions-uffd-wp: (exit)',
    'regressions-uffd-wp: uffd-unreg-reset: UFFDIO_UNREGISTER resets write protection, and a new registration finds none',
    'regressions-uffd-wp: hugetlb-cp-marker: a hugetlb marker protected again stays one; resolved or unregistered it goes; the hole punched after is clean',
    'pte-states: (exit)',
    'pte-states: close(userfaultfd): write protection released',
    'pte-states: shmem close(userfaultfd): markers gone, write protection released',
    'pte-states: hugetlb close(userfaultfd): markers gone, write protection released',
  ],
};

test('the catalogue: every bug of shared/reference/bugs.md once (29, and G4\'s follow-up), expressed or not; at most 5 of the 29 never expressible', () => {
  const ids = [...MUTANTS, ...UNEXPRESSED].map((b) => b.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.length).toBe(30);
  expect(UNEXPRESSED.filter((u) => u.followUpOf).map((u) => u.ref)).toEqual(['G4b']);
  expect(UNEXPRESSED.filter((u) => u.never && !u.followUpOf).length).toBeLessThanOrEqual(5);
  expect(Object.keys(KILLS).sort()).toEqual(MUTANTS.map((m) => m.id).sort());
});

describe('each mutant is killed, by these results', { timeout: 60_000 }, () => {
  test.each(MUTANTS.map((m) => [m.ref, m.id, m] as const))('%s %s', async (_ref, id, mutant) => {
    const suites = [...new Set(KILLS[id]!.map((k) => k.slice(0, k.indexOf(': '))))].map((n) => findSuite('test', n));
    const report = await runMutants([mutant], [], suites, { progress: () => {} });
    expect(report.outcomes[0]!.kills.map((k) => `${k.suite}: ${k.name}`)).toEqual(KILLS[id]);
  });
});
