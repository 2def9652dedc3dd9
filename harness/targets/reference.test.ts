// The reference target's own view of its page tables (descriptors()), held
// to the real arm64 values measured on Debian's 6.12 kernel
// (../shared/reference/raw-descriptors.md), and its procs after exit().

import { describe, expect, test } from 'vitest';
import {
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  O_CLOEXEC,
  O_NONBLOCK,
  PROT_NONE,
  PROT_READ,
  PM_UFFD_WP,
  PROT_WRITE,
  UFFD_API,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  isErr,
} from '../../uapi/linux.ts';
import type { Descriptors, Ret } from '../target.ts';
import { referenceTarget } from './reference.ts';

/** output-address bits 12-49, which differ from boot to boot */
const OA = ((1n << 50n) - 1n) & ~0xfffn;
const PAGE = 4096n;
const HPAGE = 2n << 20n;

function masked(d: Ret<Descriptors>): string[] {
  if (isErr(d)) throw new Error(String(d));
  return d.entries.map((e) => `${e.level} ${(e.value & ~OA).toString(16).padStart(16, '0')}`);
}

describe('descriptors()', () => {
  test('pgd, pud, pmd tables with PXNTable, then the pte, as the real 6.12 arm64 kernel holds them', async () => {
    const proc = await (await referenceTarget('@6.12')).spawn();
    const raw = (await proc.mmap(0n, 2n * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
    const a = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
    await proc.madvise(a, HPAGE, MADV_NOHUGEPAGE);
    await proc.write(a, new Uint8Array([1]));
    await proc.read(a + PAGE, 1);
    const tables = ['pgd 0800000000000003', 'pud 0800000000000003', 'pmd 0800000000000003'];
    expect(masked(await proc.descriptors!(a))).toEqual([...tables, 'pte 00e8000000000f43']); // written: DBM, DIRTY(55)
    expect(masked(await proc.descriptors!(a + PAGE))).toEqual([...tables, 'pte 0160000000000fc3']); // the zero page: RDONLY, SPECIAL(56)
    expect(masked(await proc.descriptors!(a + 2n * PAGE))).toEqual([...tables, 'pte 0000000000000000']);
    await proc.mprotect(a, PAGE, PROT_NONE);
    expect(masked(await proc.descriptors!(a))).toEqual([...tables, 'pte 00e0000000000f82']); // present-invalid: nG(11), no VALID
    const d = await proc.descriptors!(a);
    expect(isErr(d) ? null : [d.vmFlags, d.pageProt]).toEqual([0x40100070n, 0x60000000000f82n]);
  });

  test('a walk stops at an empty level, and an address outside any area has no vm_flags', async () => {
    const proc = await (await referenceTarget('')).spawn();
    const d = await proc.descriptors!(0x1000n);
    expect(isErr(d) ? null : { levels: d.entries.map((e) => e.level), vmFlags: d.vmFlags, pageProt: d.pageProt }).toEqual({ levels: ['pgd'], vmFlags: null, pageProt: null });
  });
});

test('a proc after exit(): each call fails with one line, and the target spawns on', async () => {
  const target = await referenceTarget('');
  const proc = await target.spawn();
  await proc.exit();
  await expect(proc.readFile('/proc/meminfo')).rejects.toThrow(`reference: proc ${proc.pid} has exited`);
  expect((await target.spawn()).pid).toBe(proc.pid + 1);
});

test('userfaultfd ioctls answer as Debian 6.12 and 7.2 arm64 and this host did (measured): features, ioctls and errnos', async () => {
  const proc = await (await referenceTarget('')).spawn();
  const fd = (await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK)) as number;
  expect(await proc.uffdioApi(fd, UFFD_API, 0n)).toEqual({ features: 0x1ffffn, ioctls: 0x8000000000000003n });
  expect(String(await proc.uffdioApi(fd, UFFD_API, 0n))).toBe('ioctl: EINVAL'); // once only
  const other = (await proc.userfaultfd(O_CLOEXEC)) as number;
  expect(String(await proc.uffdioRegister(other, 0x10000n, 4096n, UFFDIO_REGISTER_MODE_WP))).toBe('ioctl: EINVAL'); // before UFFDIO_API
  expect(String(await proc.uffdioApi(other, 0xabn, 0n))).toBe('ioctl: EINVAL');
  expect(String(await proc.uffdioApi(other, UFFD_API, 1n << 62n))).toBe('ioctl: EINVAL');
  const map = (await proc.mmap(0n, 2n * 4096n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
  expect(await proc.uffdioRegister(fd, map, 4096n, UFFDIO_REGISTER_MODE_WP)).toEqual({ ioctls: 0x17cn });
  expect(String(await proc.uffdioRegister(fd, map + 4096n, 4096n, 0n))).toBe('ioctl: EINVAL');
  expect(String(await proc.uffdioRegister(fd, map + 1n, 4096n, UFFDIO_REGISTER_MODE_WP))).toBe('ioctl: EINVAL');
  expect(String(await proc.uffdioWriteprotect(fd, map + 4096n, 4096n, UFFDIO_WRITEPROTECT_MODE_WP))).toBe('ioctl: ENOENT'); // not registered
  expect(String(await proc.uffdioRegister(fd, 0x10000n, 4096n, UFFDIO_REGISTER_MODE_WP))).toBe('ioctl: EINVAL'); // no area there
  const busy = (await proc.userfaultfd(O_CLOEXEC)) as number;
  await proc.uffdioApi(busy, UFFD_API, 0n);
  expect(String(await proc.uffdioRegister(busy, map, 4096n, UFFDIO_REGISTER_MODE_WP))).toBe('ioctl: EBUSY'); // another context's
  expect(String(await proc.uffdioWriteprotect(fd, map, 4096n, 4n))).toBe('ioctl: EINVAL');
  // no UFFD_FEATURE_WP_ASYNC: a write to a protected page would wait for a handler, which the model does not have
  expect((await proc.write(map, new Uint8Array([1]))).ok).toBe(true);
  expect(await proc.uffdioWriteprotect(fd, map, 4096n, UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
  await expect(proc.write(map, new Uint8Array([1]))).rejects.toThrow('sync mode is not modelled');
});

test('UFFDIO_UNREGISTER answers as the host, 6.12 and 7.2 arm64 did (measured): errnos, and which context may unregister', async () => {
  for (const [spec, otherCtx] of [['@6.12', '0'], ['', 'ioctl: EINVAL']] as const) {
    const proc = await (await referenceTarget(spec)).spawn();
    const open = async () => {
      const fd = (await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK)) as number;
      await proc.uffdioApi(fd, UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED);
      return fd;
    };
    const [fd, other] = [await open(), await open()];
    const map = (await proc.mmap(0n, 2n * 4096n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
    expect(String(await proc.uffdioUnregister(fd, map + 1n, 4096n))).toBe('ioctl: EINVAL');
    expect(String(await proc.uffdioUnregister(fd, map, 0n))).toBe('ioctl: EINVAL');
    expect(String(await proc.uffdioUnregister(fd, 0x10000n, 4096n))).toBe('ioctl: EINVAL'); // no area there
    expect(await proc.uffdioUnregister(fd, map, 4096n)).toBe(0); // not registered: nothing to do
    await proc.uffdioRegister(fd, map, 2n * 4096n, UFFDIO_REGISTER_MODE_WP);
    await proc.uffdioWriteprotect(fd, map, 2n * 4096n, UFFDIO_WRITEPROTECT_MODE_WP);
    // 6.12 lets another context unregister the area (and reset its protection); later kernels refuse
    expect(String(await proc.uffdioUnregister(other, map, 4096n))).toBe(otherCtx);
    expect(await proc.uffdioUnregister(fd, map, 2n * 4096n)).toBe(0);
    expect(Array.from((await proc.pagemap(map, 2)) as BigUint64Array, (e) => e & PM_UFFD_WP)).toEqual([0n, 0n]);
  }
});

test('uffd-wp over hugetlb answers as 6.12 arm64 did (measured): the basic ioctls for a range with hugetlb in it, huge page boundaries', async () => {
  const proc = await (await referenceTarget('@6.12')).spawn();
  const H = 2n << 20n;
  const raw = (await proc.mmap(0n, 4n * H, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
  const base = (raw + H - 1n) & ~(H - 1n);
  await proc.mmap(base, H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED, -1, 0n);
  await proc.mmap(base + H, H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0n);
  const fd = (await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK)) as number;
  await proc.uffdioApi(fd, UFFD_API, UFFD_FEATURE_WP_ASYNC);
  expect(String(await proc.uffdioRegister(fd, base + 4096n, H, UFFDIO_REGISTER_MODE_WP))).toBe('ioctl: EINVAL');
  expect(String(await proc.uffdioRegister(fd, base, 4096n, UFFDIO_REGISTER_MODE_WP))).toBe('ioctl: EINVAL');
  expect(await proc.uffdioRegister(fd, base, 2n * H, UFFDIO_REGISTER_MODE_WP)).toEqual({ ioctls: 0x14cn });
  expect(String(await proc.uffdioWriteprotect(fd, base + 4096n, 4096n, UFFDIO_WRITEPROTECT_MODE_WP))).toBe('ioctl: EINVAL');
  expect(String(await proc.uffdioUnregister(fd, base + 4096n, 4096n))).toBe('ioctl: EINVAL');
  expect(await proc.uffdioUnregister(fd, base + H + 4096n, 4096n)).toBe(0);
  expect(await proc.uffdioUnregister(fd, base, 2n * H)).toBe(0);
});

test('a layout without a uffd-wp bit (v6.9) offers no write-protect features', async () => {
  const proc = await (await referenceTarget(':v6.9')).spawn();
  const fd = (await proc.userfaultfd(O_CLOEXEC)) as number;
  expect(await proc.uffdioApi(fd, UFFD_API, 0n)).toEqual({ features: 0x1ffffn & ~0xb001n, ioctls: 0x8000000000000003n });
});
