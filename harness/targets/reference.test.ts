// The reference target's own view of its page tables (descriptors()), held
// to the real arm64 values measured on Debian's 6.12 kernel
// (../shared/reference/raw-descriptors.md), and its procs after exit().

import { describe, expect, test } from 'vitest';
import {
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  O_CLOEXEC,
  O_NONBLOCK,
  PAGE_IS_HUGE,
  PAGE_IS_PFNZERO,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PROT_NONE,
  PROT_READ,
  PM_UFFD_WP,
  PROT_WRITE,
  UFFD_API,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  isErr,
} from '../../uapi/linux.ts';
import { pagemapEntry, runs } from '../calls/format.ts';
import type { Descriptors, MemResult, Proc, Ret } from '../target.ts';
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

  test('descriptorsOf(): each address’s walk, in order, as descriptors() gives it', async () => {
    const proc = await (await referenceTarget('')).spawn();
    const a = (await proc.mmap(0n, 3n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
    await proc.write(a, new Uint8Array([1]));
    const addrs = [a + PAGE, 0x1000n, a, a + PAGE];
    expect(await proc.descriptorsOf!(addrs)).toEqual(await Promise.all(addrs.map((x) => proc.descriptors!(x))));
    expect(await proc.descriptorsOf!([])).toEqual([]);
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
  // no UFFD_FEATURE_WP_ASYNC: a write to a protected page waits for a handler, whose message says why
  expect((await proc.write(map, new Uint8Array([1]))).ok).toBe(true);
  expect(await proc.uffdioWriteprotect(fd, map, 4096n, UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
  const store = proc.write(map, new Uint8Array([2]));
  expect(await proc.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: 3n, address: map, ptid: 0 }); // WRITE | WP
  expect(await proc.uffdioWriteprotect(fd, map, 4096n, 0n)).toBe(0);
  expect((await store).ok).toBe(true);
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

describe('fill and increment: stores through the model’s own user-access path', () => {
  const H = 2n << 20n;
  const SCAN_ALL = PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE;

  /** fill/increment, or the same bytes through write(): the fill's in one call; per address a load, then a store of the byte plus one */
  const batched = { fill: (p: Proc, a: bigint, l: bigint, b: number) => p.fill(a, l, b), increment: (p: Proc, as: readonly bigint[]) => p.increment(as) };
  const byWrite = {
    fill: (p: Proc, a: bigint, l: bigint, b: number) => p.write(a, new Uint8Array(Number(l)).fill(b)),
    async increment(p: Proc, addrs: readonly bigint[]): Promise<MemResult> {
      for (const a of addrs) {
        const v = await p.read(a, 1);
        if (!v.ok) return v;
        const w = await p.write(a, Uint8Array.of(v.data[0]! + 1));
        if (!w.ok) return w;
      }
      return { ok: true, data: new Uint8Array(0) };
    },
  };

  /** A 2 MiB aligned 4 MiB area, its first 2 MiB a THP, the whole of it under async uffd-wp when `wp`; the stores; what pagemap, PAGEMAP_SCAN and the bytes say. */
  async function storesOnThp(how: typeof batched, wp: boolean) {
    const proc = await (await referenceTarget('')).spawn();
    const raw = (await proc.mmap(0n, 3n * H, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
    const base = (raw + H - 1n) & ~(H - 1n);
    await proc.madvise(base, 2n * H, MADV_HUGEPAGE);
    await proc.write(base, Uint8Array.of(1));
    if (wp) {
      const fd = (await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK)) as number;
      await proc.uffdioApi(fd, UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED);
      await proc.uffdioRegister(fd, base, 2n * H, UFFDIO_REGISTER_MODE_WP);
      await proc.uffdioWriteprotect(fd, base, 2n * H, UFFDIO_WRITEPROTECT_MODE_WP);
    }
    const outcomes = [
      await how.fill(proc, base + 5n, 3n * PAGE + 100n, 0x5a),
      await how.fill(proc, base + H + 3n * PAGE, 2n * PAGE, 0),
      await how.increment(proc, [base + 6n * PAGE + 1n, base + 6n * PAGE + 1n, base + 2n * PAGE, base + H + 100n * PAGE, base + H - 1n]),
    ];
    const scan = await proc.pagemapScan({ start: base, end: base + 2n * H, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: SCAN_ALL, returnMask: SCAN_ALL, vecLen: 64 });
    const pagemap = runs(Array.from((await proc.pagemap(base, 1024)) as BigUint64Array, pagemapEntry));
    const bytes = await proc.read(base, Number(2n * H));
    return { outcomes, pagemap, scan, bytes: bytes.ok ? Buffer.from(bytes.data).toString('base64') : bytes };
  }

  test.each([false, true])('leave pagemap, PAGEMAP_SCAN and the bytes as the same bytes written one call at a time do (a THP, under async uffd-wp: %s)', async (wp) => {
    const together = await storesOnThp(batched, wp);
    expect(together).toEqual(await storesOnThp(byWrite, wp));
    expect(together.outcomes.every((r) => r.ok)).toBe(true);
    if (!wp) return;
    // a store into the protected THP splits it: only the pages stored to lose their uffd-wp bit
    expect(together.pagemap).toBe('PX x4, PXW x2, PX, PXW x504, PX, SW x3, PX x2, SW x95, PX, SW x411');
    expect(isErr(together.scan) ? null : together.scan.regions.some((g) => g.categories & PAGE_IS_HUGE)).toBe(false);
  });

  test('a fault ends each where a write would end: fill at the first byte of the page it came in, increment at its address', async () => {
    const proc = await (await referenceTarget('')).spawn();
    const a = (await proc.mmap(0n, 4n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
    await proc.mprotect(a + 2n * PAGE, PAGE, PROT_READ);
    expect(await proc.fill(a + 9n, 3n * PAGE, 7)).toEqual({ ok: false, signal: 'SIGSEGV', addr: a + 2n * PAGE });
    expect(await proc.increment([a, a, a + 2n * PAGE + 5n, a + 1n])).toEqual({ ok: false, signal: 'SIGSEGV', addr: a + 2n * PAGE + 5n });
    expect(await proc.read(a, 10)).toEqual({ ok: true, data: Uint8Array.of(2, 0, 0, 0, 0, 0, 0, 0, 0, 7) });
    expect(await proc.read(a + 2n * PAGE - 1n, 2)).toEqual({ ok: true, data: Uint8Array.of(7, 0) });
    await proc.write(a + 3n, Uint8Array.of(0xff));
    expect(await proc.increment([a + 3n])).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(await proc.read(a + 3n, 1)).toEqual({ ok: true, data: Uint8Array.of(0) }); // a char wraps
    await expect(proc.fill(a, 1n, 256)).rejects.toThrow('fill: byte 256 is not in 0..255');
  });

  test('storeEach: each address in turn; a store waiting in a missing fault goes on from there once resolved; a signal ends it', async () => {
    const proc = await (await referenceTarget('')).spawn();
    const a = (await proc.mmap(0n, 4n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
    const fd = (await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK)) as number;
    await proc.uffdioApi(fd, UFFD_API, 0n);
    await proc.uffdioRegister(fd, a + PAGE, PAGE, UFFDIO_REGISTER_MODE_MISSING);
    const data = Uint8Array.of(1, 2, 3);
    const stores = proc.storeEach!([a + 10n, a + PAGE - 1n, a + 3n * PAGE], data);
    // the second store's first byte is in place; its second waits in the fault of the missing page
    expect(await proc.uffdRead(fd)).toMatchObject({ event: 'PAGEFAULT', address: a + PAGE });
    expect(await proc.read(a + PAGE - 1n, 1)).toEqual({ ok: true, data: Uint8Array.of(1) });
    await proc.uffdioZeropage(fd, a + PAGE, PAGE, 0n);
    expect(await stores).toEqual({ ok: true, data: new Uint8Array(0) });
    for (const at of [a + 10n, a + PAGE - 1n, a + 3n * PAGE]) expect(await proc.read(at, 3)).toEqual({ ok: true, data });
    await proc.mprotect(a + 2n * PAGE, PAGE, PROT_READ);
    expect(await proc.storeEach!([a, a + 2n * PAGE + 4n, a + 3n * PAGE + 8n], Uint8Array.of(9))).toEqual({ ok: false, signal: 'SIGSEGV', addr: a + 2n * PAGE + 4n });
    expect(await proc.read(a + 3n * PAGE + 8n, 1)).toEqual({ ok: true, data: Uint8Array.of(0) });
  });

  test('a 20 MiB fill is stored a page at a time, reusing one page of bytes', async () => {
    const proc = await (await referenceTarget('')).spawn();
    const len = 20n << 20n;
    const a = (await proc.mmap(0n, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)) as bigint;
    const t0 = performance.now();
    expect(await proc.fill(a, len, 0xee)).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(performance.now() - t0).toBeLessThan(5000); // ~20 ms measured; a quadratic store would take minutes
    expect(await proc.read(a + len - 2n, 2)).toEqual({ ok: true, data: Uint8Array.of(0xee, 0xee) });
  });
});

describe('memory options bound to what the kernel takes', () => {
  test.each([
    ['+swap=1000000G', 'reference target option swap=1000000G: more than the 16T a swap header can describe (2^32 pages)'],
    ['+swap=4K', 'reference target option swap=4K: swapon refuses a device of the swap header alone: 0 for none, or at least 8K'],
    ['+hugetlb=385', "reference target option hugetlb=385: at most 384 (768 MiB of the QEMU guests' 1 GiB; more leaves the kernel no memory to boot with)"],
  ])('%s: one line', async (spec, message) => {
    await expect(referenceTarget(spec)).rejects.toThrow(message);
  });

  // the swap device keeps a word per cluster it touched, not per cluster it has
  test('the largest swap device, 16384G, costs what it holds', async () => {
    const proc = await (await referenceTarget('+swap=16384G')).spawn();
    expect(String(await proc.readFile('/proc/swaps'))).toContain('/dev/ram0                               partition\t17179869180\t');
  });
});

describe("each kernel's layout", () => {
  test('reference takes its kernel\'s layout unless one is named: v6.10 (with PTE_DEVMAP) at 6.12, v6.17 (without) at 6.18 and 7.2', async () => {
    const layoutOf = async (spec: string) => (await (await referenceTarget(spec)).info()).layout;
    expect(await layoutOf('')).toBe('v6.17');
    expect(await layoutOf('@7.2')).toBe('v6.17');
    expect(await layoutOf('@6.18')).toBe('v6.17');
    expect(await layoutOf('@6.12')).toBe('v6.10');
    expect(await layoutOf(':v6.10@7.2')).toBe('v6.10');
    expect(await layoutOf(':rfc@6.12')).toBe('rfc');
  });
});
