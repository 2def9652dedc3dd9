// userfaultfd on shmem and hugetlb, UFFDIO_CONTINUE and UFFDIO_POISON. Every
// value here was measured the same on Debian's 7.2 x86_64 kernel (QEMU) and,
// where no 7.2 is named, on the host's 6.18 too (C programs making the same
// calls; pagemap flags compared without soft-dirty, which the layouts differ on).
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import type { MemResult, Proc } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';

const PAGE = 0x1000n;
const HPAGE = 0x200000n;
const RW = U.PROT_READ | U.PROT_WRITE;
const errno = (r: unknown) => (U.isErr(r) ? r.name : r);
const bit = (n: bigint) => 1n << n;
/** pagemap flags without soft-dirty: present, swap, file, exclusive */
const PM_MASK = U.PM_PRESENT | U.PM_SWAP | U.PM_FILE | U.PM_MMAP_EXCLUSIVE;
const { PM_PRESENT: P, PM_FILE: F, PM_MMAP_EXCLUSIVE: X, PM_SWAP: S } = U;
const res = (r: { error: U.Errno | null; progress: bigint | null }) => [errno(r.error), r.progress];

async function pm(p: Proc, a: bigint): Promise<bigint> {
  return ((await p.pagemap(a, 1)) as BigUint64Array)[0]! & PM_MASK;
}

/** a memfd of n pages mapped shared twice and privately once, and a context (features) */
async function shmem(n: bigint, features = 0n, spec = '') {
  const p = await (await referenceTarget(spec)).spawn();
  const mfd = (await p.memfdCreate('m', 0)) as number;
  await p.ftruncate(mfd, n * PAGE);
  const sh = (await p.mmap(0n, n * PAGE, RW, U.MAP_SHARED, mfd, 0n)) as bigint;
  const al = (await p.mmap(0n, n * PAGE, RW, U.MAP_SHARED, mfd, 0n)) as bigint;
  const pr = (await p.mmap(0n, n * PAGE, RW, U.MAP_PRIVATE, mfd, 0n)) as bigint;
  const src = (await p.mmap(0n, 16n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
  await p.write(src, new Uint8Array(Number(PAGE)).fill(0x5a));
  const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
  await p.uffdioApi(fd, U.UFFD_API, features);
  /** pages i of the file put in the cache with byte b, through a mapping gone again (as write(2) would) */
  const cache = async (b: number, ...pages: bigint[]) => {
    const m = (await p.mmap(0n, n * PAGE, RW, U.MAP_SHARED, mfd, 0n)) as bigint;
    for (const i of pages) await p.write(m + i * PAGE, new Uint8Array([b]));
    await p.munmap(m, n * PAGE);
  };
  return { p, mfd, sh, al, pr, src, fd, cache };
}

describe('shmem', () => {
  test('UFFDIO_REGISTER answers COPY, ZEROPAGE, MOVE and POISON for MISSING; CONTINUE too for MINOR (0x13c, 0x1bc)', async () => {
    const { p, fd, sh, al, pr } = await shmem(16n);
    expect(await p.uffdioRegister(fd, sh, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING)).toEqual({ ioctls: 0x13cn });
    expect(await p.uffdioRegister(fd, al, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MINOR)).toEqual({ ioctls: 0x1bcn });
    expect(await p.uffdioRegister(fd, pr, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_MINOR)).toEqual({ ioctls: 0x1bcn });
  });

  test('a missing fault of a shared mapping waits; UFFDIO_COPY puts the page in the cache, and the alias reads it', async () => {
    const { p, fd, sh, al, src } = await shmem(16n);
    await p.uffdioRegister(fd, sh, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    let done = false;
    const load = p.read(sh + 0x10n, 1).then((r) => ((done = true), r));
    expect(await p.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: 0n, address: sh, ptid: 0 });
    expect(done).toBe(false);
    expect(res(await p.uffdioCopy(fd, sh, src, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await load).toEqual({ ok: true, data: new Uint8Array([0x5a]) });
    expect(await pm(p, sh)).toBe(P | F | X);
    expect(await pm(p, al)).toBe(0n);
    expect(await p.read(al + 1n, 1)).toEqual({ ok: true, data: new Uint8Array([0x5a]) });
    // a store waits with FLAG_WRITE
    const store = p.write(sh + PAGE, new Uint8Array([1]));
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_WRITE, address: sh + PAGE });
    await p.uffdioCopy(fd, sh + PAGE, src, PAGE, 0n);
    expect((await store).ok).toBe(true);
  });

  test('COPY over a page the cache has (shmem_add_to_page_cache()): EEXIST, -17', async () => {
    const { p, fd, sh, src, cache } = await shmem(16n);
    await p.uffdioRegister(fd, sh, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    await cache(1, 4n);
    expect(res(await p.uffdioCopy(fd, sh + 4n * PAGE, src, PAGE, 0n))).toEqual(['EEXIST', -17n]);
  });

  test('a private mapping: a missing page waits and COPY makes it anonymous; a cached page is mapped, neighbours faulted around', async () => {
    const { p, fd, pr, src, cache } = await shmem(16n);
    await cache(3, 0n);
    await cache(4, 1n);
    await p.uffdioRegister(fd, pr, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    const load = p.read(pr + 2n * PAGE, 1);
    expect(await p.uffdRead(fd)).toMatchObject({ flags: 0n, address: pr + 2n * PAGE });
    await p.uffdioCopy(fd, pr + 2n * PAGE, src, PAGE, 0n);
    expect((await load).ok).toBe(true);
    expect(await pm(p, pr + 2n * PAGE)).toBe(P | X);
    // no message for a page in the cache (measured: the thread is done, page 1 mapped by fault-around)
    expect(await p.read(pr, 1)).toEqual({ ok: true, data: new Uint8Array([3]) });
    expect([await pm(p, pr), await pm(p, pr + PAGE)]).toEqual([P | F | X, P | F | X]);
    expect(errno(await p.uffdRead(fd))).toBe('EAGAIN');
  });

  test('minor faults: the alias registered MINOR waits on a cached page (FLAG_MINOR, with WRITE); CONTINUE maps it; a hole is allocated', async () => {
    const { p, fd, sh, al } = await shmem(16n);
    await p.uffdioRegister(fd, al, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MINOR);
    for (let i = 0n; i < 4n; i++) await p.write(sh + i * PAGE, new Uint8Array([Number(i) + 1]));
    let done = false;
    const load = p.read(al + 0x20n, 1).then((r) => ((done = true), r));
    expect(await p.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: U.UFFD_PAGEFAULT_FLAG_MINOR, address: al, ptid: 0 });
    expect(done).toBe(false);
    // the handler may change the page first: it is the cache's
    await p.write(sh + 0x20n, new Uint8Array([0x77]));
    expect(res(await p.uffdioContinue(fd, al, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await load).toEqual({ ok: true, data: new Uint8Array([0x77]) });
    expect(await pm(p, al)).toBe(P | F); // mapped twice
    const store = p.write(al + PAGE, new Uint8Array([9]));
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_MINOR | U.UFFD_PAGEFAULT_FLAG_WRITE, address: al + PAGE });
    await p.uffdioContinue(fd, al + PAGE, PAGE, 0n);
    expect((await store).ok).toBe(true);
    expect(await p.read(sh + PAGE, 1)).toEqual({ ok: true, data: new Uint8Array([9]) });
    // no fault-around under MINOR: page 3 is still unmapped after a read of page 2 ... which itself waits
    const load2 = p.read(al + 2n * PAGE, 1);
    expect(await p.uffdRead(fd)).toMatchObject({ address: al + 2n * PAGE });
    await p.uffdioContinue(fd, al + 2n * PAGE, PAGE, 0n);
    await load2;
    expect(await pm(p, al + 3n * PAGE)).toBe(0n);
    // a hole: no message, a new page of the file
    expect(await p.read(al + 9n * PAGE, 1)).toEqual({ ok: true, data: new Uint8Array([0]) });
    expect(await pm(p, al + 9n * PAGE)).toBe(P | F | X);
    expect(errno(await p.uffdRead(fd))).toBe('EAGAIN');
  });

  test('MINOR|WP: CONTINUE with MODE_WP maps the page write-protected; the store then waits for the protection (minor-wp)', async () => {
    const { p, fd, sh, al } = await shmem(4n, U.UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    await p.uffdioRegister(fd, al, 4n * PAGE, U.UFFDIO_REGISTER_MODE_MINOR | U.UFFDIO_REGISTER_MODE_WP);
    await p.write(sh, new Uint8Array([1]));
    const store = p.write(al, new Uint8Array([2]));
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_MINOR | U.UFFD_PAGEFAULT_FLAG_WRITE });
    expect(res(await p.uffdioContinue(fd, al, PAGE, U.UFFDIO_CONTINUE_MODE_WP))).toEqual([null, PAGE]);
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_WP | U.UFFD_PAGEFAULT_FLAG_WRITE, address: al });
    expect(((await p.pagemap(al, 1)) as BigUint64Array)[0]! & U.PM_UFFD_WP).toBe(U.PM_UFFD_WP);
    await p.uffdioWriteprotect(fd, al, PAGE, 0n);
    expect((await store).ok).toBe(true);
    expect(await p.read(sh, 1)).toEqual({ ok: true, data: new Uint8Array([2]) });
  });

  test('COPY with MODE_WP: the page goes in write-protected, and a store waits for the protection', async () => {
    const { p, fd, sh, src } = await shmem(4n, U.UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    await p.uffdioRegister(fd, sh, 4n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP);
    expect(res(await p.uffdioCopy(fd, sh, src, PAGE, U.UFFDIO_COPY_MODE_WP))).toEqual([null, PAGE]);
    expect(((await p.pagemap(sh, 1)) as BigUint64Array)[0]! & U.PM_UFFD_WP).toBe(U.PM_UFFD_WP);
    const store = p.write(sh, new Uint8Array([1]));
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_WP | U.UFFD_PAGEFAULT_FLAG_WRITE, address: sh });
    await p.uffdioWriteprotect(fd, sh, PAGE, 0n);
    expect((await store).ok).toBe(true);
  });

  test('UFFDIO_CONTINUE: EEXIST where mapped, EFAULT for a hole, a partial range EAGAIN with its bytes, WP needs a WP area', async () => {
    const { p, fd, sh, al, pr, cache } = await shmem(16n);
    await p.uffdioRegister(fd, al, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MINOR);
    await p.uffdioRegister(fd, sh, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    await p.uffdioRegister(fd, pr, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_MINOR);
    await cache(0x5a, 2n, 3n, 4n);
    expect(res(await p.uffdioContinue(fd, al + 4n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await pm(p, al + 4n * PAGE)).toBe(P | F | X);
    expect(res(await p.uffdioContinue(fd, al + 4n * PAGE, PAGE, 0n))).toEqual(['EEXIST', -17n]);
    expect(res(await p.uffdioContinue(fd, al + 5n * PAGE, PAGE, 0n))).toEqual(['EFAULT', -14n]);
    expect(res(await p.uffdioContinue(fd, al + 2n * PAGE, 3n * PAGE, 0n))).toEqual(['EAGAIN', 2n * PAGE]);
    expect(res(await p.uffdioContinue(fd, al + 3n * PAGE, PAGE, U.UFFDIO_CONTINUE_MODE_WP))).toEqual(['EINVAL', -22n]);
    expect(res(await p.uffdioContinue(fd, al, PAGE, 4n))).toEqual(['EINVAL', null]);
    // an area registered MISSING only takes it too
    expect(res(await p.uffdioContinue(fd, sh + 4n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await pm(p, sh + 4n * PAGE)).toBe(P | F);
    // a private area: the cache page read-only, a store copies it
    expect(res(await p.uffdioContinue(fd, pr + 2n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await pm(p, pr + 2n * PAGE)).toBe(P | F);
    expect((await p.write(pr + 2n * PAGE, new Uint8Array([7]))).ok).toBe(true);
    expect(await pm(p, pr + 2n * PAGE)).toBe(P | X);
    expect(await p.read(al + 2n * PAGE, 1)).toEqual({ ok: true, data: new Uint8Array([0x5a]) });
  });

  test('anonymous memory has no CONTINUE: EINVAL', async () => {
    const { p, fd, src } = await shmem(1n);
    await p.uffdioRegister(fd, src, PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(res(await p.uffdioContinue(fd, src + PAGE, PAGE, 0n))).toEqual(['ENOENT', -2n]);
    expect(res(await p.uffdioContinue(fd, src, PAGE, 0n))).toEqual(['EINVAL', -22n]);
  });

  test('UFFDIO_ZEROPAGE: a shared area gets a zeroed page of its own in the cache, a private one the zero page; EEXIST once there', async () => {
    const { p, fd, sh, al, pr } = await shmem(16n);
    await p.uffdioRegister(fd, sh, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    await p.uffdioRegister(fd, pr, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(res(await p.uffdioZeropage(fd, sh, PAGE, 0n))).toEqual([null, PAGE]);
    expect([await pm(p, sh), await pm(p, al)]).toEqual([P | F | X, 0n]);
    expect(res(await p.uffdioZeropage(fd, sh, PAGE, 0n))).toEqual(['EEXIST', -17n]);
    expect(res(await p.uffdioZeropage(fd, pr + PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    const scan = await p.pagemapScan({ start: pr + PAGE, end: pr + 2n * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7f, returnMask: 0x7f, vecLen: 1 });
    expect(U.isErr(scan) ? scan : scan.regions[0]!.categories & U.PAGE_IS_PFNZERO).toBe(U.PAGE_IS_PFNZERO);
  });

  test('past the end of the file: COPY and ZEROPAGE are ENOMEM shared (7.2; EFAULT on 6.12 and 6.18), EFAULT private; CONTINUE EFAULT (EINVAL before 7.x)', async () => {
    for (const [spec, shared, cont] of [
      ['', 'ENOMEM', 'EFAULT'],
      ['@6.12', 'EFAULT', 'EINVAL'],
    ] as const) {
      const { p, mfd, fd, sh, al, pr, src } = await shmem(16n, 0n, spec);
      await p.uffdioRegister(fd, sh, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
      await p.uffdioRegister(fd, al, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MINOR);
      await p.uffdioRegister(fd, pr, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
      await p.ftruncate(mfd, 8n * PAGE);
      const code = { ENOMEM: -12n, EFAULT: -14n, EINVAL: -22n };
      expect(res(await p.uffdioCopy(fd, sh + 10n * PAGE, src, PAGE, 0n))).toEqual([shared, code[shared]]);
      expect(res(await p.uffdioZeropage(fd, sh + 10n * PAGE, PAGE, 0n))).toEqual([shared, code[shared]]);
      expect(res(await p.uffdioCopy(fd, pr + 10n * PAGE, src, PAGE, 0n))).toEqual(['EFAULT', -14n]);
      expect(res(await p.uffdioZeropage(fd, pr + 10n * PAGE, PAGE, 0n))).toEqual(['EFAULT', -14n]);
      expect(res(await p.uffdioContinue(fd, al + 10n * PAGE, PAGE, 0n))).toEqual([cont, code[cont]]);
      expect(res(await p.uffdioPoison(fd, sh + 10n * PAGE, PAGE, 0n))).toEqual(['EFAULT', -14n]);
    }
  });

  // the fuzzer's shrunk sequence (host 6.18 and sid x86_64 7.2): before vm_uffd_ops the copy comes before the end is found
  test('COPY past the end from a source not faulted in yet: 6.18 faults the source in, 7.2 never reads it', async () => {
    for (const [spec, err, present] of [
      ['@6.18', 'EFAULT', U.PM_PRESENT],
      ['', 'ENOMEM', 0n],
    ] as const) {
      const { p, mfd, fd, sh } = await shmem(4n, 0n, spec);
      await p.ftruncate(mfd, PAGE);
      await p.uffdioRegister(fd, sh, 4n * PAGE, U.UFFDIO_REGISTER_MODE_WP);
      expect(errno((await p.uffdioCopy(fd, sh + 2n * PAGE, sh, 2n * PAGE, 0n)).error), spec).toBe(err);
      expect(((await p.pagemap(sh, 1)) as BigUint64Array)[0]! & U.PM_PRESENT, spec).toBe(present);
    }
  });
});

describe('UFFDIO_POISON', () => {
  const sigbus = (addr: bigint): MemResult => ({ ok: false, signal: 'SIGBUS', addr });

  test('a poison marker: swapped in pagemap (type 31 offset 2 on x86; the model its own), SIGBUS on access; EEXIST over anything', async () => {
    const { p, fd, sh, al } = await shmem(16n);
    await p.uffdioRegister(fd, sh, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    await p.uffdioZeropage(fd, sh, PAGE, 0n);
    expect(res(await p.uffdioPoison(fd, sh + 6n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await pm(p, sh + 6n * PAGE)).toBe(S);
    // the frame is swp_type | swp_offset << 5: SWP_PTE_MARKER (31 on x86 and on Debian's arm64 alike), PTE_MARKER_POISONED
    expect(((await p.pagemap(sh + 6n * PAGE, 1)) as BigUint64Array)[0]! & U.PM_PFRAME_MASK).toBe(0x5fn);
    expect(await p.read(sh + 6n * PAGE, 1)).toEqual(sigbus(sh + 6n * PAGE));
    expect(await p.write(sh + 6n * PAGE + 8n, new Uint8Array([1]))).toEqual(sigbus(sh + 6n * PAGE + 8n));
    // the file's page is not poisoned: the alias reads it
    expect((await p.read(al + 6n * PAGE, 1)).ok).toBe(true);
    expect(res(await p.uffdioPoison(fd, sh + 6n * PAGE, PAGE, 0n))).toEqual(['EEXIST', -17n]);
    expect(res(await p.uffdioPoison(fd, sh, PAGE, 0n))).toEqual(['EEXIST', -17n]);
    expect(res(await p.uffdioPoison(fd, sh, PAGE, 2n))).toEqual(['EINVAL', null]);
    const scan = await p.pagemapScan({ start: sh + 6n * PAGE, end: sh + 7n * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7f, returnMask: 0x7f, vecLen: 1 });
    expect(U.isErr(scan) ? scan : scan.regions.map((r) => r.categories)).toEqual([U.PAGE_IS_SWAPPED | U.PAGE_IS_WRITTEN]);
    // MADV_DONTNEED takes it away
    await p.madvise(sh + 6n * PAGE, PAGE, U.MADV_DONTNEED);
    expect(await pm(p, sh + 6n * PAGE)).toBe(0n);
  });

  test('anonymous: uffd-wp resolve, mprotect and UNREGISTER keep it; COPY overwrites it; POISON over a uffd-wp marker is EEXIST', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = (await p.mmap(0n, 4n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    await p.write(a + PAGE, new Uint8Array([1]));
    const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
    await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_UNPOPULATED);
    await p.uffdioRegister(fd, a, 4n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP);
    expect(res(await p.uffdioPoison(fd, a, PAGE, 0n))).toEqual([null, PAGE]);
    await p.uffdioWriteprotect(fd, a, PAGE, U.UFFDIO_WRITEPROTECT_MODE_WP);
    await p.uffdioWriteprotect(fd, a, PAGE, 0n);
    await p.mprotect(a, 4n * PAGE, U.PROT_READ);
    await p.mprotect(a, 4n * PAGE, RW);
    expect(await pm(p, a)).toBe(S);
    expect(await p.write(a, new Uint8Array([1]))).toEqual(sigbus(a));
    await p.uffdioWriteprotect(fd, a + 2n * PAGE, PAGE, U.UFFDIO_WRITEPROTECT_MODE_WP);
    expect(res(await p.uffdioPoison(fd, a + 2n * PAGE, PAGE, 0n))).toEqual(['EEXIST', -17n]);
    expect(res(await p.uffdioCopy(fd, a, a + PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await p.read(a, 1)).toEqual({ ok: true, data: new Uint8Array([1]) });
    expect(res(await p.uffdioPoison(fd, a + 3n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    await p.uffdioUnregister(fd, a, 4n * PAGE);
    expect(await p.read(a + 3n * PAGE, 1)).toEqual(sigbus(a + 3n * PAGE));
  });

  // the fuzzer's shrunk sequence on the host's 6.18 (madvise_free_pte_range(): 6.12 and 7.2 alike)
  test('MADV_FREE clears a poison marker of anonymous memory; a uffd-wp marker stays', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = (await p.mmap(0n, 4n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
    await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC | U.UFFD_FEATURE_WP_UNPOPULATED);
    await p.uffdioRegister(fd, a, 4n * PAGE, U.UFFDIO_REGISTER_MODE_WP);
    expect(res(await p.uffdioPoison(fd, a, PAGE, 0n))).toEqual([null, PAGE]);
    await p.uffdioWriteprotect(fd, a + PAGE, PAGE, U.UFFDIO_WRITEPROTECT_MODE_WP);
    expect(await p.madvise(a, 2n * PAGE, U.MADV_FREE)).toBe(0);
    expect(await pm(p, a)).toBe(0n);
    expect(await pm(p, a + PAGE)).toBe(S);
    expect(await p.read(a, 1)).toEqual({ ok: true, data: new Uint8Array([0]) });
  });

  // the fuzzer's shrunk sequence on the host's 6.18 (faultin_page_range()'s FOLL_HWPOISON)
  test('MADV_POPULATE_(READ|WRITE) over a poison marker: EHWPOISON; a load there is still SIGBUS', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = (await p.mmap(0n, 4n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
    await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_WP_ASYNC);
    await p.uffdioRegister(fd, a, 4n * PAGE, U.UFFDIO_REGISTER_MODE_WP);
    expect(res(await p.uffdioPoison(fd, a + 2n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await p.madvise(a, 4n * PAGE, U.MADV_POPULATE_READ)).toEqual(new U.Errno('EHWPOISON', 'madvise'));
    expect(await p.madvise(a, 4n * PAGE, U.MADV_POPULATE_WRITE)).toEqual(new U.Errno('EHWPOISON', 'madvise'));
    expect(await p.read(a + 2n * PAGE, 1)).toEqual(sigbus(a + 2n * PAGE));
  });

  test('the selftest\'s poison: odd pages copied, even ones poisoned from the handler; a load of each waits, then reads or gets SIGBUS', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = (await p.mmap(0n, 4n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    const src = (await p.mmap(0n, PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
    await p.uffdioApi(fd, U.UFFD_API, 0n);
    expect(await p.uffdioRegister(fd, a, 4n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING)).toMatchObject({ ioctls: 0x13cn });
    const out: MemResult[] = [];
    for (let i = 0n; i < 4n; i++) {
      const load = p.read(a + i * PAGE, 1);
      const msg = await p.uffdRead(fd);
      expect(msg).toMatchObject({ flags: 0n, address: a + i * PAGE });
      if (i & 1n) await p.uffdioCopy(fd, a + i * PAGE, src, PAGE, 0n);
      else await p.uffdioPoison(fd, a + i * PAGE, PAGE, 0n);
      out.push(await load);
    }
    expect(out.map((r) => r.ok)).toEqual([false, true, false, true]);
  });
});

describe('hugetlb', () => {
  async function huge(features = 0n) {
    const p = await (await referenceTarget('')).spawn();
    const hfd = (await p.memfdCreate('h', U.MFD_HUGETLB)) as number;
    await p.ftruncate(hfd, 4n * HPAGE);
    const hs = (await p.mmap(0n, 4n * HPAGE, RW, U.MAP_SHARED, hfd, 0n)) as bigint;
    const ha = (await p.mmap(0n, 4n * HPAGE, RW, U.MAP_SHARED, hfd, 0n)) as bigint;
    const hp = (await p.mmap(0n, 4n * HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0n)) as bigint;
    const src = (await p.mmap(0n, HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    await p.write(src, new Uint8Array(0x100).fill(0x33));
    await p.write(src + HPAGE - 1n, new Uint8Array([0x44]));
    const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
    await p.uffdioApi(fd, U.UFFD_API, features);
    return { p, hs, ha, hp, src, fd };
  }

  test('UFFDIO_REGISTER: WAKE, COPY and POISON (0x10c), CONTINUE with MINOR (0x18c); no ZEROPAGE: EINVAL, -22', async () => {
    const { p, fd, hs, ha, hp } = await huge();
    expect(await p.uffdioRegister(fd, hs, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MISSING)).toEqual({ ioctls: bit(2n) | bit(3n) | bit(8n) });
    expect(await p.uffdioRegister(fd, ha, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MINOR)).toEqual({ ioctls: 0x18cn });
    expect(await p.uffdioRegister(fd, hp, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MINOR | U.UFFDIO_REGISTER_MODE_MISSING)).toEqual({ ioctls: 0x18cn });
    expect(res(await p.uffdioZeropage(fd, hs, HPAGE, 0n))).toEqual(['EINVAL', -22n]);
    expect(res(await p.uffdioZeropage(fd, hs, PAGE, 0n))).toEqual(['EINVAL', -22n]);
    expect(res(await p.uffdioCopy(fd, hs, hs, PAGE, 0n))).toEqual(['EINVAL', -22n]);
    expect(res(await p.uffdioContinue(fd, ha + PAGE, PAGE, 0n))).toEqual(['EINVAL', -22n]);
    expect(res(await p.uffdioPoison(fd, hs + 3n * HPAGE, PAGE, 0n))).toEqual(['EINVAL', -22n]);
  });

  test('a missing fault names the huge page (EXACT_ADDRESS: the byte); COPY fills it whole, shared into the cache; EEXIST after', async () => {
    const { p, fd, hs, ha, hp, src } = await huge();
    await p.uffdioRegister(fd, hs, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    await p.uffdioRegister(fd, hp, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    const load = p.read(hs + 0x1234n, 1);
    expect(await p.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: 0n, address: hs, ptid: 0 });
    expect(res(await p.uffdioCopy(fd, hs, src, HPAGE, 0n))).toEqual([null, HPAGE]);
    expect(await load).toEqual({ ok: true, data: new Uint8Array([0]) });
    expect([await pm(p, hs), await pm(p, ha)]).toEqual([P | F | X, 0n]);
    expect(await p.read(ha + HPAGE - 1n, 1)).toEqual({ ok: true, data: new Uint8Array([0x44]) });
    expect(res(await p.uffdioCopy(fd, hs, src, HPAGE, 0n))).toEqual(['EEXIST', -17n]);
    const store = p.write(hp + HPAGE + 0x5000n, new Uint8Array([1]));
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_WRITE, address: hp + HPAGE });
    await p.uffdioCopy(fd, hp + HPAGE, src, HPAGE, 0n);
    expect((await store).ok).toBe(true);
    expect(await pm(p, hp + HPAGE)).toBe(P | X);
    expect(await p.read(hp + HPAGE, 2)).toEqual({ ok: true, data: new Uint8Array([0x33, 0x33]) });

    const exact = await huge(U.UFFD_FEATURE_EXACT_ADDRESS);
    await exact.p.uffdioRegister(exact.fd, exact.hs, HPAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    void exact.p.read(exact.hs + 0x1234n, 1);
    expect(await exact.p.uffdRead(exact.fd)).toMatchObject({ address: exact.hs + 0x1234n });
  });

  test('minor: a cached huge page read through the MINOR alias waits; CONTINUE maps it; again EEXIST, a hole EFAULT', async () => {
    const { p, fd, hs, ha } = await huge();
    await p.write(hs + 0x10n, new Uint8Array([5]));
    await p.uffdioRegister(fd, ha, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MINOR);
    const load = p.read(ha + 0x10n, 1);
    expect(await p.uffdRead(fd)).toEqual({ event: 'PAGEFAULT', flags: U.UFFD_PAGEFAULT_FLAG_MINOR, address: ha, ptid: 0 });
    expect(res(await p.uffdioContinue(fd, ha, HPAGE, 0n))).toEqual([null, HPAGE]);
    expect(await load).toEqual({ ok: true, data: new Uint8Array([5]) });
    expect(await pm(p, ha)).toBe(P | F);
    expect(res(await p.uffdioContinue(fd, ha, HPAGE, 0n))).toEqual(['EEXIST', -17n]);
    expect(res(await p.uffdioContinue(fd, ha + HPAGE, HPAGE, 0n))).toEqual(['EFAULT', -14n]);
  });

  test('COPY with MODE_WP of a huge page: write-protected; a store waits with FLAG_WP', async () => {
    const { p, fd, hp, src } = await huge(U.UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    await p.uffdioRegister(fd, hp, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP);
    expect(res(await p.uffdioCopy(fd, hp, src, HPAGE, U.UFFDIO_COPY_MODE_WP))).toEqual([null, HPAGE]);
    expect(((await p.pagemap(hp, 1)) as BigUint64Array)[0]! & U.PM_UFFD_WP).toBe(U.PM_UFFD_WP);
    const store = p.write(hp + 0x3000n, new Uint8Array([1]));
    // the huge page's address, as for missing faults (measured on the host's 6.18)
    expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_WP | U.UFFD_PAGEFAULT_FLAG_WRITE, address: hp });
    await p.uffdioWriteprotect(fd, hp, HPAGE, 0n);
    expect((await store).ok).toBe(true);
    expect(await p.read(hp, 1)).toEqual({ ok: true, data: new Uint8Array([0x33]) });
  });

  test('POISON of a huge page: SIGBUS; pagemap reads nothing, PAGEMAP_SCAN HUGE|SWAPPED|WRITTEN', async () => {
    const { p, fd, hs } = await huge();
    await p.uffdioRegister(fd, hs, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    expect(res(await p.uffdioPoison(fd, hs + 2n * HPAGE, HPAGE, 0n))).toEqual([null, HPAGE]);
    expect(await p.read(hs + 2n * HPAGE + 0x10n, 1)).toEqual({ ok: false, signal: 'SIGBUS', addr: hs + 2n * HPAGE + 0x10n });
    expect(await pm(p, hs + 2n * HPAGE)).toBe(0n);
    const scan = await p.pagemapScan({ start: hs + 2n * HPAGE, end: hs + 4n * HPAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7f, returnMask: 0x7f, vecLen: 4 });
    expect(U.isErr(scan) ? scan : scan.regions.map((r) => [r.end - r.start, r.categories])).toEqual([
      [HPAGE, U.PAGE_IS_HUGE | U.PAGE_IS_SWAPPED | U.PAGE_IS_WRITTEN],
      [HPAGE, U.PAGE_IS_HUGE],
    ]);
    expect(res(await p.uffdioPoison(fd, hs + 2n * HPAGE, HPAGE, 0n))).toEqual(['EEXIST', -17n]);
  });
});

// measured on the host's 6.18: pagemap 0x140 after CONTINUE, 0x102 after the store
test('CONTINUE into a private hugetlb mapping maps the cached page read-only; a store copies it, the file keeps its byte', async () => {
  const p = await (await referenceTarget('')).spawn();
  const hfd = (await p.memfdCreate('h', U.MFD_HUGETLB)) as number;
  await p.ftruncate(hfd, 2n * HPAGE);
  const hs = (await p.mmap(0n, 2n * HPAGE, RW, U.MAP_SHARED, hfd, 0n)) as bigint;
  const hp = (await p.mmap(0n, 2n * HPAGE, RW, U.MAP_PRIVATE, hfd, 0n)) as bigint;
  await p.write(hs + 5n, new Uint8Array([6]));
  const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
  await p.uffdioApi(fd, U.UFFD_API, 0n);
  await p.uffdioRegister(fd, hp, 2n * HPAGE, U.UFFDIO_REGISTER_MODE_MINOR);
  const load = p.read(hp + 5n, 1);
  expect(await p.uffdRead(fd)).toMatchObject({ flags: U.UFFD_PAGEFAULT_FLAG_MINOR, address: hp });
  expect(res(await p.uffdioContinue(fd, hp, HPAGE, 0n))).toEqual([null, HPAGE]);
  expect(await load).toEqual({ ok: true, data: new Uint8Array([6]) });
  expect(await pm(p, hp)).toBe(P | F);
  expect((await p.write(hp + 5n, new Uint8Array([7]))).ok).toBe(true);
  expect(await pm(p, hp)).toBe(P | X);
  expect(await p.read(hs + 5n, 1)).toEqual({ ok: true, data: new Uint8Array([6]) });
  expect(await p.read(hp + 5n, 1)).toEqual({ ok: true, data: new Uint8Array([7]) });
});
