// Faults as the kernels take them, where the modelled versions differ.
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import * as U from '../../uapi/linux.ts';
import { BUILTIN_LAYOUTS } from '../arm64/layout.ts';
import { pgtable } from '../arm64/pgtable.ts';
import { AttrChange } from '../arm64/pte-words.ts';
import { expectKeptPerPattern } from '../arm64/pte-words.testing.ts';
import { KERNELS } from '../kernel.ts';
import { wpReuseEntry } from './fault.ts';

const A = 0x5000_0000_0000n;
const THP_SIZE = 2n << 20n;

// Measured on 7.2 arm64 and the host's 6.18 (a THP: AnonHugePages 2048 kB, PAGEMAP_SCAN one HUGE
// region without PFNZERO) and on 6.12 arm64 (split: Rss 4 kB, the zero page either side).
test.each([
  ['', 'AnonHugePages:      2048 kB', [U.PAGE_IS_HUGE]],
  ['@6.12', 'AnonHugePages:         0 kB', [U.PAGE_IS_PFNZERO, 0, U.PAGE_IS_PFNZERO]],
])('reference%s: a store to the huge zero pmd', async (spec, huge, categories) => {
  const p = await (await referenceTarget(spec)).spawn();
  await p.mmap(A, 2n * THP_SIZE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  await p.madvise(A, 2n * THP_SIZE, U.MADV_HUGEPAGE);
  await p.read(A + 0x1000n, 1);
  await p.write(A + 0x1000n, new Uint8Array([5]));
  expect(await p.read(A, 0x2000)).toEqual({ ok: true, data: Uint8Array.from({ length: 0x2000 }, (_, i) => (i === 0x1000 ? 5 : 0)) });
  expect(await p.readFile('/proc/self/smaps')).toContain(huge);
  const r = await p.pagemapScan({ start: A, end: A + THP_SIZE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7f, returnMask: U.PAGE_IS_PFNZERO | U.PAGE_IS_HUGE, vecLen: 8 });
  if (U.isErr(r)) throw new Error(String(r));
  // PFNZERO and HUGE only: the THP's one region, or the zero page either side of the new 4 KiB page
  expect(r.regions.map((g) => g.categories)).toEqual(categories);
});

// Measured on 7.2 x86_64 (the fuzzer's shrunk sequence): __split_huge_pmd_locked() makes the
// ptes of a dirty pmd with pte_mkdirty(), which "may set soft-dirty too on some archs" (x86, and
// the RFC's arm64), and never clears it, so after clear_refs a split THP's pages read soft-dirty.
test('reference:rfc: a dirty THP split after clear_refs: its ptes soft-dirty', async () => {
  const p = await (await referenceTarget(':rfc')).spawn();
  await p.mmap(A, 2n * THP_SIZE, U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  await p.write(A + THP_SIZE + 0x1000n, new Uint8Array(4096).fill(1));
  expect(await p.writeFile('/proc/self/clear_refs', '4')).toBe(1);
  expect(await p.madvise(A + THP_SIZE + 0x1000n, 9n * 0x1000n, U.MADV_NOHUGEPAGE)).toBe(0);
  const pm = (await p.pagemap(A + THP_SIZE, 512)) as BigUint64Array;
  expect([...pm].every((e) => (e & U.PM_PRESENT) !== 0n && (e & U.PM_SOFT_DIRTY) !== 0n)).toBe(true);
});

// do_wp_page()'s reuse on a table's words keeps its change per attribute pattern (arm64/pte-words.ts):
// it must change attributes only, on every layout and kernel, in each kind of area.
describe.each([...BUILTIN_LAYOUTS.values()].flatMap((layout) => Object.entries(KERNELS).map(([k, b]) => [`${layout.name} @${k}`, pgtable(layout, { kernel: b })] as const)))(
  '%s: wp_page_reuse() as kept per pattern',
  (_, pg) => {
    test.each([
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ])('registered for uffd-wp: %s, writable: %s', (uffdArea, writable) => {
      const f = wpReuseEntry(pg, uffdArea, writable);
      expectKeptPerPattern(() => new AttrChange(f), f, (p) => pg.ptePresent(p));
    });
  },
);

// Measured on the host's 6.18.44-fc, booted with pvm_no_zero_page=1: a read fault allocates a
// page of its own (exclusively mapped, in Rss) at pte and THP level, MADV_POPULATE_READ too,
// while UFFDIO_ZEROPAGE still maps the zero page.
test.each([
  ['', '0 kB', 0n],
  ['+zero_page=0', '4 kB', U.PM_MMAP_EXCLUSIVE],
])('reference%s: a read fault of anonymous memory', async (spec, rss, exclusive) => {
  const p = await (await referenceTarget(`+thp=madvise${spec}`)).spawn();
  await p.mmap(A, 4n * THP_SIZE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  expect(await p.read(A, 1)).toEqual({ ok: true, data: Uint8Array.of(0) });
  expect(U.must(await p.pagemap(A, 1), 'pagemap')[0]! & U.PM_MMAP_EXCLUSIVE).toBe(exclusive);
  expect(await p.readFile('/proc/self/smaps')).toContain(`Rss:                   ${rss}`);
  await p.madvise(A + THP_SIZE, THP_SIZE, U.MADV_HUGEPAGE);
  await p.read(A + THP_SIZE, 1);
  expect(await p.readFile('/proc/self/smaps')).toMatch(new RegExp(`AnonHugePages: +${exclusive ? 2048 : 0} kB`));
  const uffd = U.must(await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK), 'userfaultfd');
  U.must(await p.uffdioApi(uffd, U.UFFD_API, 0n), 'UFFDIO_API');
  U.must(await p.uffdioRegister(uffd, A + 3n * THP_SIZE, THP_SIZE, U.UFFDIO_REGISTER_MODE_MISSING), 'UFFDIO_REGISTER');
  expect(await p.uffdioZeropage(uffd, A + 3n * THP_SIZE, 0x1000n, 0n)).toEqual({ error: null, progress: 0x1000n });
  expect(U.must(await p.pagemap(A + 3n * THP_SIZE, 1), 'pagemap')[0]! & U.PM_MMAP_EXCLUSIVE).toBe(0n);
});
