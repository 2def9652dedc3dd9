import { expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import * as U from '../../uapi/linux.ts';

// Measured on the host's 6.18 (pte-states' THP area, by compare --calls): the mnemonics come in
// bit order, as show_smap_vma_flags() walks them, so uw (bit 12) comes before ac (20) and hg (29).
test('smaps VmFlags in bit order', async () => {
  const proc = await (await referenceTarget('')).spawn();
  const addr = await proc.mmap(0n, 2n << 20n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
  const uffd = await proc.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK);
  if (U.isErr(addr) || U.isErr(uffd)) throw new Error('setup');
  expect(await proc.madvise(addr, 2n << 20n, U.MADV_HUGEPAGE)).toBe(0);
  expect(U.isErr(await proc.uffdioApi(uffd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC))).toBe(false);
  expect(U.isErr(await proc.uffdioRegister(uffd, addr, 2n << 20n, U.UFFDIO_REGISTER_MODE_WP))).toBe(false);
  const smaps = await proc.readFile('/proc/self/smaps');
  expect(smaps).toContain('VmFlags: rd wr mr mw me uw ac hg \n');
});
