import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import type { Proc } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';
import { CallRecorder } from '../../harness/calls/record.ts';

const A = 0x5000_0000_0000n;
const B = A + 0x12000n;
const errno = (r: unknown) => (U.isErr(r) ? r.name : r);

async function setup(): Promise<{ p: Proc; fd: number }> {
  const p = await (await referenceTarget('')).spawn();
  await p.mmap(A, 0x10000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  await p.mmap(B, 0x4000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  const fd = await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK);
  if (U.isErr(fd)) throw new Error('userfaultfd');
  return { p, fd };
}

// Each measured alike on the host's 6.18 (x86_64), Debian's 6.12 and 7.2 arm64 guests.
describe('userfaultfd ioctls as the kernels answer them', () => {
  test('every ioctl but UFFDIO_API needs an initialised context: EINVAL before it', async () => {
    const { p, fd } = await setup();
    expect(errno(await p.uffdioUnregister(fd, A, 0x1000n))).toBe('EINVAL');
    expect(errno(await p.uffdioWriteprotect(fd, A, 0x1000n, U.UFFDIO_WRITEPROTECT_MODE_WP))).toBe('EINVAL');
  });

  test('UFFD_FEATURE_WP_ASYNC turns WP_UNPOPULATED on: an empty anonymous page gets a marker', async () => {
    const { p, fd } = await setup();
    expect(U.isErr(await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC))).toBe(false);
    await p.write(A, new Uint8Array([1]));
    expect(U.isErr(await p.uffdioRegister(fd, A, 0x10000n, U.UFFDIO_REGISTER_MODE_WP))).toBe(false);
    expect(await p.uffdioWriteprotect(fd, A, 0x10000n, U.UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
    const pm = (await p.pagemap(A, 2)) as BigUint64Array;
    expect([pm[0]! >> 55n, pm[1]! >> 55n]).toEqual([0x106n, 0x84n]); // present uffd-wp exclusive; swapped uffd-wp (the marker)
  });

  // the fuzzer's shrunk sequence, measured on the host's 6.18: userfaultfd_register_range() skips the area
  test('UFFDIO_REGISTER of part of an area registered with more modes already changes nothing: no split', async () => {
    const { p, fd } = await setup();
    expect(U.isErr(await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_SIGBUS))).toBe(false);
    const fd2 = U.must(await p.memfdCreate('shmem', 0), 'memfd_create');
    U.must(await p.ftruncate(fd2, 0x10000n), 'ftruncate');
    const C = A + 0x100000n;
    U.must(await p.mmap(C, 0x10000n, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED | U.MAP_FIXED, fd2, 0n), 'mmap');
    U.must(await p.uffdioRegister(fd, C, 0x10000n, U.UFFDIO_REGISTER_MODE_WP | U.UFFDIO_REGISTER_MODE_MINOR), 'register');
    expect(await p.uffdioRegister(fd, C + 0x4000n, 0x2000n, U.UFFDIO_REGISTER_MODE_WP)).toMatchObject({ ioctls: expect.any(BigInt) });
    const smaps = U.must(await p.readFile('/proc/self/smaps'), 'smaps');
    expect(smaps).toContain(`${C.toString(16)}-${(C + 0x10000n).toString(16)} rw-s`);
  });

  test('UFFDIO_WRITEPROTECT passes over holes, stops at the first area not registered, keeping what it did', async () => {
    const { p, fd } = await setup();
    await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC);
    await p.uffdioRegister(fd, A, 0x10000n, U.UFFDIO_REGISTER_MODE_WP);
    await p.uffdioRegister(fd, B, 0x2000n, U.UFFDIO_REGISTER_MODE_WP);
    // mode WP with DONTWAKE is refused
    expect(errno(await p.uffdioWriteprotect(fd, A, 0x1000n, 3n))).toBe('EINVAL');
    // A, a hole, B's registered half, then its other half: ENOENT, with A and B's first half protected
    expect(errno(await p.uffdioWriteprotect(fd, A, 0x16000n, U.UFFDIO_WRITEPROTECT_MODE_WP))).toBe('ENOENT');
    const pm = [...((await p.pagemap(A, 0x16)) as BigUint64Array)].map((e) => e >> 55n);
    expect(pm).toEqual([...Array<bigint>(16).fill(0x84n), 0n, 0n, 0x84n, 0x84n, 0n, 0n]);
    // no area at all
    expect(errno(await p.uffdioWriteprotect(fd, A + 0x100000n, 0x1000n, U.UFFDIO_WRITEPROTECT_MODE_WP))).toBe('ENOENT');
  });
});

// Measured line for line on the host's 6.18 and Debian's 7.2 arm64 (the call log of the same calls).
test('uffd-wp on a private shmem mapping: markers, COW faults over them, uffd-wp through MADV_DONTNEED', async () => {
  const rec = new CallRecorder([[A, A + 0x1000000n]]);
  const p = rec.wrap(await (await referenceTarget('')).spawn(), 'test');
  const mfd = (await p.memfdCreate('m', 0)) as number;
  await p.ftruncate(mfd, 0x10000n);
  await p.mmap(A + 0x100000n, 0x10000n, 3, U.MAP_SHARED | U.MAP_FIXED, mfd, 0n);
  await p.write(A + 0x100000n, new Uint8Array([7]));
  await p.write(A + 0x101000n, new Uint8Array([8]));
  await p.mmap(A, 0x8000n, 3, U.MAP_PRIVATE | U.MAP_FIXED, mfd, 0n);
  await p.read(A + 0x1000n, 1);
  await p.write(A + 0x2000n, new Uint8Array([9]));
  const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
  await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC);
  await p.uffdioRegister(fd, A, 0x8000n, U.UFFDIO_REGISTER_MODE_WP);
  await p.uffdioWriteprotect(fd, A, 0x8000n, U.UFFDIO_WRITEPROTECT_MODE_WP);
  await p.pagemap(A, 8);
  await p.write(A + 0x1000n, new Uint8Array([1])); // a protected page cache page: COW
  await p.write(A + 0x3000n, new Uint8Array([2])); // a marker: do_cow_fault() keeps uffd-wp, the store faults again
  await p.read(A + 0x4000n, 1);
  await p.write(A + 0x2000n, new Uint8Array([3]));
  await p.pagemap(A, 8);
  await p.madvise(A, 0x8000n, U.MADV_DONTNEED);
  await p.pagemap(A, 8);
  await p.read(A, 0x5000);
  await p.close(fd);
  await p.pagemap(A, 8);
  expect(rec.lines.slice(10).map((l) => `${l.call} = ${l.outcome}`)).toEqual([
    'UFFDIO_REGISTER(fd1, S0+0x0, 0x8000, 0x2) = ioctls 0x17c',
    'UFFDIO_WRITEPROTECT(fd1, S0+0x0, 0x8000, 0x1) = 0',
    'pagemap(S0+0x0, 8) = PFW x2, PXW, SW x5',
    'store(S0+0x1000, [0x1]) = ok',
    'store(S0+0x3000, [0x2]) = ok',
    'load(S0+0x4000, 1) = ok [0x0]',
    'store(S0+0x2000, [0x3]) = ok',
    'pagemap(S0+0x0, 8) = PFW, PX x3, PFXW, SW x3',
    'madvise(S0+0x0, 0x8000, MADV_DONTNEED) = 0',
    'pagemap(S0+0x0, 8) = SW, - x3, SW x4',
    'load(S0+0x0, 20480) = ok [0x7, 0x0 x4095, 0x8, 0x0 x16383]',
    'close(fd1) = 0',
    'pagemap(S0+0x0, 8) = PF x2, PFX x3, - x3',
  ]);
});

// Measured alike on 7.2 arm64: registering part of a THP and of a huge zero pmd splits the area,
// and the split of the area splits both pmds (__split_vma() -> vma_adjust_trans_huge()).
test('UFFDIO_REGISTER cutting a THP and a huge zero pmd splits both', async () => {
  const p = await (await referenceTarget('')).spawn();
  await p.mmap(A, 0x400000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  await p.madvise(A, 0x400000n, U.MADV_HUGEPAGE);
  await p.write(A, new Uint8Array([1]));
  await p.read(A + 0x200000n, 1);
  const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
  await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC);
  await p.uffdioRegister(fd, A + 0x100000n, 0x200000n, U.UFFDIO_REGISTER_MODE_WP);
  const r = await p.pagemapScan({ start: A, end: A + 0x400000n, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7f, returnMask: 0x7f, vecLen: 8 });
  if (U.isErr(r)) throw new Error(String(r));
  const { PAGE_IS_WPALLOWED: WP, PAGE_IS_WRITTEN: W, PAGE_IS_PRESENT: P, PAGE_IS_PFNZERO: Z } = U;
  expect(r.regions.map((g) => [g.start - A, g.end - A, g.categories])).toEqual([
    [0n, 0x100000n, W | P],
    [0x100000n, 0x200000n, WP | W | P],
    [0x200000n, 0x300000n, WP | W | P | Z],
    [0x300000n, 0x400000n, W | P | Z],
  ]);
});

// A handler's side: sync faults, their messages and the ioctls that resolve them (as the host's 6.18 answers: harness/agent/client.test.ts).
describe('a fault that waits for a handler', () => {
  const PAGE = 0x1000n;
  async function missing(features = 0n): Promise<{ p: Proc; fd: number }> {
    const p = await (await referenceTarget('')).spawn();
    await p.mmap(A, 0x10000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
    await p.mmap(B, 0x4000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
    const fd = (await p.userfaultfd(U.O_CLOEXEC)) as number;
    await p.uffdioApi(fd, U.UFFD_API, features);
    return { p, fd };
  }

  test('UFFDIO_REGISTER answers the ioctls of its modes; MINOR on anonymous memory and no mode are EINVAL', async () => {
    const { p, fd } = await missing();
    const bit = (n: bigint) => 1n << n;
    const base = bit(U._UFFDIO_WAKE) | bit(U._UFFDIO_COPY) | bit(U._UFFDIO_ZEROPAGE) | bit(U._UFFDIO_MOVE) | bit(U._UFFDIO_POISON);
    expect(await p.uffdioRegister(fd, A, PAGE, U.UFFDIO_REGISTER_MODE_MISSING)).toEqual({ ioctls: base });
    expect(await p.uffdioRegister(fd, A, PAGE, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP)).toEqual({ ioctls: base | bit(U._UFFDIO_WRITEPROTECT) });
    expect(errno(await p.uffdioRegister(fd, A, PAGE, U.UFFDIO_REGISTER_MODE_MINOR))).toBe('EINVAL');
    expect(errno(await p.uffdioRegister(fd, A, PAGE, 0n))).toBe('EINVAL');
  });

  test('a load of a missing page waits; its message names the page; UFFDIO_COPY fills it and the load goes on', async () => {
    const { p, fd } = await missing();
    await p.uffdioRegister(fd, A, 0x10000n, U.UFFDIO_REGISTER_MODE_MISSING);
    let done = false;
    const load = p.read(A + PAGE + 0x10n, 1).then((r) => ((done = true), r));
    expect(await p.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: 0n, address: A + PAGE, ptid: 0 });
    expect(done).toBe(false);
    await p.write(B, new Uint8Array(0x20).fill(7));
    expect(await p.uffdioCopy(fd, A + PAGE, B, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
    expect(await load).toEqual({ ok: true, data: new Uint8Array([7]) });
    // the page is there now: a second copy finds it
    const again = await p.uffdioCopy(fd, A + PAGE, B, PAGE, 0n);
    expect([errno(again.error), again.progress]).toEqual(['EEXIST', -17n]);
  });

  test('UFFD_FEATURE_THREAD_ID: the message names the faulting thread, the process itself or another', async () => {
    const { p, fd } = await missing(U.UFFD_FEATURE_THREAD_ID);
    await p.uffdioRegister(fd, A, 0x10000n, U.UFFDIO_REGISTER_MODE_MISSING);
    const load = p.read(A, 1);
    expect(await p.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: 0n, address: A, ptid: p.pid });
    const thread = U.must(await p.threadCreate(), 'pthread_create');
    const add = thread.atomicAdd([A + PAGE], 1);
    expect(await p.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: 0n, address: A + PAGE, ptid: thread.tid });
    expect(await p.uffdioZeropage(fd, A, 2n * PAGE, 0n)).toEqual({ error: null, progress: 2n * PAGE });
    expect(await load).toEqual({ ok: true, data: new Uint8Array([0]) });
    // the add retries: the write fault of the zero page is the kernel's own, no message
    expect((await add).ok).toBe(true);
  });

  test('a store waits with UFFD_PAGEFAULT_FLAG_WRITE; DONTWAKE leaves it waiting until UFFDIO_WAKE', async () => {
    const { p, fd } = await missing();
    await p.uffdioRegister(fd, A, 0x10000n, U.UFFDIO_REGISTER_MODE_MISSING);
    let done = false;
    const store = p.write(A, new Uint8Array([9])).then((r) => ((done = true), r));
    expect(await p.uffdRead(fd)).toMatchObject({ event: 'PAGEFAULT', flags: U.UFFD_PAGEFAULT_FLAG_WRITE, address: A });
    expect(await p.uffdioZeropage(fd, A, PAGE, U.UFFDIO_ZEROPAGE_MODE_DONTWAKE)).toEqual({ error: null, progress: PAGE });
    await p.pagemap(A, 1);
    expect(done).toBe(false);
    expect(await p.uffdioWake(fd, A, PAGE)).toBe(0);
    expect((await store).ok).toBe(true);
    expect(await p.read(A, 1)).toEqual({ ok: true, data: new Uint8Array([9]) });
  });

  test('UFFD_FEATURE_SIGBUS: the fault is SIGBUS and no message is queued; O_NONBLOCK reads give EAGAIN (EINVAL before UFFDIO_API)', async () => {
    const p = await (await referenceTarget('')).spawn();
    await p.mmap(A, 0x10000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
    const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
    expect(errno(await p.uffdRead(fd))).toBe('EINVAL'); // before UFFDIO_API (as the host answered the fuzzer)
    await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_SIGBUS);
    await p.uffdioRegister(fd, A, 0x10000n, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(await p.read(A, 1)).toEqual({ ok: false, signal: 'SIGBUS', addr: A });
    expect(errno(await p.uffdRead(fd))).toBe('EAGAIN');
  });

  test('UFFDIO_ZEROPAGE maps the zero page once; a second is EEXIST with -EEXIST in the field', async () => {
    const { p, fd } = await missing();
    await p.uffdioRegister(fd, A, PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(await p.uffdioZeropage(fd, A, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
    const again = await p.uffdioZeropage(fd, A, PAGE, 0n);
    expect([errno(again.error), again.progress]).toEqual(['EEXIST', -17n]);
    expect(await p.read(A, 4)).toEqual({ ok: true, data: new Uint8Array(4) });
  });

  test('a sync uffd-wp store waits with FLAG_WP; resolving the protection wakes it', async () => {
    const { p, fd } = await missing(U.UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    await p.write(A, new Uint8Array([1]));
    await p.uffdioRegister(fd, A, PAGE, U.UFFDIO_REGISTER_MODE_WP);
    await p.uffdioWriteprotect(fd, A, PAGE, U.UFFDIO_WRITEPROTECT_MODE_WP);
    const store = p.write(A, new Uint8Array([2]));
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_WRITE | U.UFFD_PAGEFAULT_FLAG_WP, address: A });
    expect(await p.uffdioWriteprotect(fd, A, PAGE, 0n)).toBe(0);
    expect((await store).ok).toBe(true);
    expect(await p.read(A, 1)).toEqual({ ok: true, data: new Uint8Array([2]) });
  });
});

test('mremap without UFFD_FEATURE_EVENT_REMAP takes the new area out of its context in every mode (userfaultfd_reset_ctx())', async () => {
  const p = await (await referenceTarget('')).spawn();
  const memfd = (await p.memfdCreate('minor', 0)) as number;
  await p.ftruncate(memfd, 0x4000n);
  const map = (await p.mmap(0n, 0x4000n, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, memfd, 0n)) as bigint;
  const fd = (await p.userfaultfd(U.O_CLOEXEC)) as number;
  await p.uffdioApi(fd, U.UFFD_API, 0n);
  expect(U.isErr(await p.uffdioRegister(fd, map, 0x4000n, U.UFFDIO_REGISTER_MODE_MINOR | U.UFFDIO_REGISTER_MODE_MISSING))).toBe(false);
  const UFFD_FLAGS = (1n << 9n) | (1n << 12n) | (1n << 41n); // VM_UFFD_MISSING, VM_UFFD_WP, VM_UFFD_MINOR
  const flags = async (a: bigint) => ((await p.descriptors!(a)) as { vmFlags: bigint }).vmFlags & UFFD_FLAGS;
  expect(await flags(map)).toBe((1n << 9n) | (1n << 41n));
  expect(await p.mremap(map, 0x4000n, 0x4000n, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, A)).toBe(A);
  expect(await flags(A)).toBe(0n);
});
