// Each oracle fires on a mutant of the catalogue that breaks its promise,
// and stays quiet on the reference, for the same few calls.
import { describe, expect, test } from 'vitest';
import { deriveReference } from '../../harness/plugin.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import type { Target } from '../../harness/target.ts';
import { MUTANTS } from '../../mutants/catalogue.ts';
import * as U from '../../uapi/linux.ts';
import type { Call } from './calls.ts';
import type { OracleName } from './oracles.ts';
import { judgeSequence } from './sequence.ts';

const slot0 = { base: 0, page: 0 };
const anon = (pages: number): Call => ({ op: 'mmap', at: slot0, place: 'fixed', pages, prot: U.PROT_READ | U.PROT_WRITE, shared: false, backing: 'anon', populate: false, noreserve: false, offPages: 0 });
const store: Call = { op: 'store', at: slot0, offset: 0, len: 8 };
/** async uffd-wp over four pages of slot 0, the first written and protected */
const protectedPage: Call[] = [
  { op: 'uffd_setup', flags: U.O_CLOEXEC | U.O_NONBLOCK, features: U.UFFD_FEATURE_WP_ASYNC, at: slot0, pages: 4, mode: Number(U.UFFDIO_REGISTER_MODE_WP), shared: false, backing: 'anon' },
  store,
  { op: 'uffdio_writeprotect', at: slot0, pages: 1, wp: true },
];

async function fired(target: Target, calls: readonly Call[]): Promise<OracleName[]> {
  const { violations } = await judgeSequence(target, calls, await target.capabilities());
  return [...new Set(violations.map((v) => v.oracle))];
}

const mutant = (ref: string) => deriveReference(MUTANTS.find((m) => m.ref === ref)!.variant);

describe('the fuzzer\'s oracles, each on a mutant that breaks its promise', () => {
  test.each([
    // A2: mprotect(PROT_READ|PROT_WRITE) after clear_refs makes the pte writable again, so the next store sets no soft-dirty
    ['soft-dirty-write', 'A2', ':rfc', [anon(1), store, { op: 'clear_refs', data: '4' }, { op: 'mprotect', at: slot0, pages: 1, prot: U.PROT_READ }, { op: 'mprotect', at: slot0, pages: 1, prot: U.PROT_READ | U.PROT_WRITE }, store]],
    // G2: UFFDIO_UNREGISTER leaves the uffd-wp bit behind, and a store to the unregistered page keeps it
    ['uffd-wp-write', 'G2', '', [...protectedPage, { op: 'uffdio_unregister', at: slot0, pages: 4 }, store]],
    // I4: a hugetlb marker's type masked to 5 is no marker to the fault, which comes back for ever (the model gives up and says so)
    ['answers', 'I4', '', [{ ...protectedPage[0]!, pages: 512, backing: 'hugetlb' }, { op: 'uffdio_writeprotect', at: slot0, pages: 512, wp: true }, store]],
    // H3: PAGEMAP_SCAN reads a swap entry's uffd-wp with the present accessor: a protected page swapped out counts as written
    ['pagemap-scan-agree', 'H3', '', [...protectedPage, { op: 'madvise', at: slot0, pages: 1, advice: U.MADV_PAGEOUT }]],
    // C2: remove_migration_pte() drops the soft-dirty a store set after clear_refs
    ['bits-kept', 'C2', ':rfc', [anon(4), { op: 'clear_refs', data: '4' }, store, { op: 'move_pages', at: slot0, pages: 1, node: 1, flags: U.MPOL_MF_MOVE, stat: false }]],
    // H2: a PAGEMAP_SCAN with no vector and no PM_SCAN_WP_MATCHING write-protects the written page all the same
    ['scan-read-only', 'H2', '', [protectedPage[0]!, store, { op: 'scan', at: slot0, pages: 4, flags: 0, maxPages: 0, vecLen: 0, nullVec: true, inverted: 0, mask: U.PAGE_IS_WRITTEN, anyof: 0, ret: U.PAGE_IS_WRITTEN }]],
    // G4: mremap() into an area not registered keeps the moved page's uffd-wp
    ['no-stale-uffd-wp', 'G4', '', [...protectedPage, { op: 'mremap', at: slot0, oldPages: 4, newPages: 4, flags: U.MREMAP_MAYMOVE | U.MREMAP_FIXED, to: { base: 1, page: 0 } }]],
    // A4: an area mapped after clear_refs, merged with the one before it, loses its VM_SOFTDIRTY
    ['soft-dirty-new-area', 'A4', ':rfc', [anon(4), { op: 'clear_refs', data: '4' }, { ...anon(4), at: { base: 0, page: 4 } }]],
    // E2: fork() gives a uffd-wp marker to a child that keeps no registration (a page stored to first: an area with no
    // anon_vma is not copied at all)
    ['no-stale-uffd-wp', 'E2', '', [{ ...protectedPage[0]!, features: U.UFFD_FEATURE_WP_ASYNC | U.UFFD_FEATURE_WP_UNPOPULATED }, store, { op: 'uffdio_writeprotect', at: slot0, pages: 4, wp: true }, { op: 'fork' }]],
    // F4: protecting a hugetlb marker again sends it down the present path: a page where none was
    [
      'wp-maps-nothing',
      'F4',
      '',
      [
        { ...protectedPage[0]!, features: U.UFFD_FEATURE_WP_ASYNC | U.UFFD_FEATURE_WP_UNPOPULATED, pages: 512, backing: 'hugetlb' },
        { op: 'uffdio_writeprotect', at: slot0, pages: 512, wp: true },
        { op: 'uffdio_writeprotect', at: slot0, pages: 512, wp: true },
      ],
    ],
    // B2: the hole before an area reads that area's soft-dirty
    ['pagemap-hole', 'B2', ':rfc', [{ ...anon(4), at: { base: 0, page: 4 } }]],
  ] as const)('%s fires on %s, not on the reference', async (oracle, ref, base, calls) => {
    // others may fire too (G2's unregister already leaves a stale bit before the store)
    expect(await fired(await mutant(ref), calls)).toContain(oracle);
    expect(await fired(await referenceTarget(base), calls)).toEqual([]);
  });
});
