// MADV_COLLAPSE of shmem, as uffd-unit-tests.c's minor-collapse test makes
// it (and the host's 6.18 and sid arm64's 7.2 pass it): the file's pages
// become one huge folio, mapped by pmd in the calling area (smaps'
// ShmemPmdMapped), its bytes the small pages' bytes.
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { must } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';

const PAGE = 0x1000n;
const HPAGE = 0x200000n;
const RW = U.PROT_READ | U.PROT_WRITE;

/** The smaps block of the area at addr */
async function smapsOf(p: Awaited<ReturnType<Awaited<ReturnType<typeof referenceTarget>>['spawn']>>, addr: bigint): Promise<string> {
  const smaps = must(await p.readFile('/proc/self/smaps'), 'smaps');
  const at = smaps.indexOf(`${addr.toString(16)}-`);
  return smaps.slice(at, smaps.indexOf('VmFlags', at));
}

describe('MADV_COLLAPSE of shmem', () => {
  test('a memfd written through one mapping, collapsed through another: mapped by pmd there, bytes kept', async () => {
    const p = await (await referenceTarget('')).spawn();
    const fd = must(await p.memfdCreate('uffd-test', 0), 'memfd_create');
    must(await p.ftruncate(fd, 2n * HPAGE), 'ftruncate');
    // a 2 MiB-aligned place for both mappings, as shmem_allocate_area() reserves one
    const reserve = must(await p.mmap(0n, 6n * HPAGE, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
    const base = (reserve + HPAGE - 1n) & ~(HPAGE - 1n);
    const dst = must(await p.mmap(base, 2n * HPAGE, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n), 'mmap');
    const alias = must(await p.mmap(base + 3n * HPAGE, 2n * HPAGE, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n), 'mmap');
    for (let i = 0n; i < 1024n; i++) expect((await p.fill(dst + i * PAGE, PAGE, Number(i % 255n))).ok).toBe(true);
    expect(await smapsOf(p, alias)).toContain('ShmemPmdMapped:        0 kB');
    expect(await p.madvise(alias, 2n * HPAGE, U.MADV_COLLAPSE)).toBe(0);
    expect(await smapsOf(p, alias)).toContain('ShmemPmdMapped:     4096 kB');
    for (const i of [0n, 1n, 511n, 512n, 1023n]) expect(await p.read(alias + i * PAGE + 7n, 1), `page ${i}`).toEqual({ ok: true, data: Uint8Array.of(Number(i % 255n)) });
    // the small pages left the other mapping too
    expect(must(await p.pagemap(dst, 1), 'pagemap')[0]! & U.PM_PRESENT).toBe(0n);
  });

  test('a hugetlb area is not for MADV_COLLAPSE: EINVAL', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = must(await p.mmap(0n, HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0n), 'mmap');
    expect(await p.madvise(a, HPAGE, U.MADV_COLLAPSE)).toEqual(new U.Errno('EINVAL', 'madvise'));
  });
});
