// tools/testing/selftests/mm/pagemap_ioctl.c (7.2), ported line for line:
// one function per C function, the same result names, messages and plan.
// The C's globals (uffd, page_size, hpage_size) are the fields of `G`; its
// pagemap_fd is Proc.pagemapScan(). Its `struct page_region` arrays are
// PageRegionVec: a scan overwrites only the entries it returns, so a result
// that reads vec[0] after a scan that found nothing sees the earlier
// scan's entry, as the C does. A C loop of `mem[i]++` is one increment()
// of the same addresses in the same order, and memset() one fill(). argv[0]
// is the process's own binary, /proc/self/exe; the files the C creates in
// its working directory are created in the target's.

import {
  IPC_CREAT,
  IPC_RMID,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGETLB,
  MFD_NOEXEC_SEAL,
  O_CLOEXEC,
  O_CREAT,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  PAGE_IS_FILE,
  PAGE_IS_HUGE,
  PAGE_IS_PFNZERO,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SHM_HUGETLB,
  SHM_R,
  SHM_W,
  UFFD_API,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  UFFD_FEATURE_WP_UNPOPULATED,
  UFFD_USER_MODE_ONLY,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT,
  UFFDIO_WRITEPROTECT_MODE_WP,
  isErr,
  type Errno,
  type Ret,
} from '../../uapi/linux.ts';
import { GlibcRand } from '../../harness/glibc-rand.ts';
import { defaultHugePageSize, hugetlbSetupDefault } from '../../harness/hugepage-settings.ts';
import { inOrder } from '../../harness/in-order.ts';
import type { Ksft } from '../../harness/ksft.ts';
import { scanLoop } from '../../harness/scan-loop.ts';
import { strerror } from '../../harness/strerror.ts';
import type { Selftest, Suite } from '../../harness/suite.ts';
import type { PageRegion, Proc, Thread } from '../../harness/target.ts';
import { KilledBySignal, memset, increment } from '../../harness/user-memory.ts';
import { detectHugeZeropage, forceReadPages, readPmdPagesize } from '../../harness/vm-util.ts';

const PAGEMAP_BITS_ALL =
  PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE;
const PAGEMAP_NON_WRITTEN_BITS =
  PAGE_IS_WPALLOWED | PAGE_IS_FILE | PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE;
const WP = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

const TEST_ITERATIONS = 100;
const PROGNAME = '/proc/self/exe';
const FILE = 'pagemap_ioctl.c';

/** The C program's globals. */
interface G {
  readonly t: Selftest;
  readonly proc: Proc;
  readonly ksft: Ksft;
  uffd: number;
  pageSize: bigint;
  hpageSize: bigint;
  extraThreadFaults: bigint;
}

/** A calloc'd `struct page_region[n]`: a scan writes only the entries it returns. */
class PageRegionVec {
  readonly entries: PageRegion[];
  constructor(n: number) {
    this.entries = Array.from({ length: n }, () => ({ start: 0n, end: 0n, categories: 0 }));
  }
  at(i: number): PageRegion {
    return this.entries[i] ?? { start: 0n, end: 0n, categories: 0 };
  }
}

/** LEN(region) */
function len(g: G, r: PageRegion): bigint {
  return (r.end - r.start) / g.pageSize;
}

/** A syscall's return value as C sees it: -1 on failure. */
function val(r: Ret<number>): number {
  return isErr(r) ? -1 : r;
}

/** The C's `errno, strerror(errno)` in "%d %s". */
function errnoStr(e: Errno): string {
  return `${e.code} ${strerror(e)}`;
}

/** int -1 widened into a u64 field: ~0 */
const u64 = (n: number | bigint): bigint => BigInt.asUintN(64, BigInt(n));

/** pagemap_ioc(): the ioctl, its return value, and arg.walk_end. */
async function pagemapIoc(
  g: G,
  start: bigint,
  length: bigint,
  vec: PageRegionVec | null,
  vecLen: number | bigint,
  flag: number,
  maxPages: number | bigint,
  requiredMask: number,
  anyofMask: number,
  excludedMask: number,
  returnMask: number,
): Promise<{ ret: Ret<number>; walkEnd: bigint }> {
  const r = await g.proc.pagemapScan({
    start,
    end: start + length,
    vecLen: Number(vecLen),
    ...(vec === null ? { nullVec: true } : {}),
    flags: flag,
    maxPages: u64(maxPages),
    categoryMask: requiredMask,
    categoryAnyofMask: anyofMask,
    categoryInverted: excludedMask,
    returnMask,
  });
  if (isErr(r)) return { ret: r, walkEnd: 0n };
  if (vec) r.regions.forEach((region, i) => (vec.entries[i] = region));
  return { ret: r.ret, walkEnd: r.walkEnd };
}

/** pagemap_ioctl(): the ioctl's return value (an Errno for -1). */
async function pagemapIoctl(
  g: G,
  start: bigint,
  length: bigint,
  vec: PageRegionVec | null,
  vecLen: number | bigint,
  flag: number,
  maxPages: number | bigint,
  requiredMask: number,
  anyofMask: number,
  excludedMask: number,
  returnMask: number,
): Promise<Ret<number>> {
  return (await pagemapIoc(g, start, length, vec, vecLen, flag, maxPages, requiredMask, anyofMask, excludedMask, returnMask)).ret;
}

/** The C's `if (ret < 0) ksft_exit_fail_msg("error %ld %d %s\n", ret, errno, strerror(errno))`. */
function check(g: G, ret: Ret<number>): number {
  if (isErr(ret)) g.ksft.exitFailMsg(`error -1 ${errnoStr(ret)}`);
  return ret;
}

async function initUffd(g: G): Promise<number> {
  const { proc } = g;
  const uffd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
  if (isErr(uffd)) return -1;
  g.uffd = uffd;

  const features = UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
  const api = await proc.uffdioApi(uffd, UFFD_API, features);
  if (isErr(api)) return -1;

  // uffdio_api.api is UFFD_API (0xaa) on success: `api & UFFDIO_REGISTER_MODE_WP` is always set
  if (
    !(UFFD_API & UFFDIO_REGISTER_MODE_WP) ||
    !(api.features & UFFD_FEATURE_WP_UNPOPULATED) ||
    !(api.features & UFFD_FEATURE_WP_ASYNC) ||
    !(api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
  )
    return -1;

  return 0;
}

async function wpInit(g: G, addr: bigint, size: bigint): Promise<number> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const reg = await proc.uffdioRegister(g.uffd, addr, size, UFFDIO_REGISTER_MODE_WP);
  if (isErr(reg)) ksft.exitFailMsg(`ioctl(UFFDIO_REGISTER) ${errnoStr(reg)}`);

  // the C tests the ioctl's number, not its bit (1 << _UFFDIO_WRITEPROTECT): bit 2 is in both
  if (!(reg.ioctls & UFFDIO_WRITEPROTECT)) ksft.exitFailMsg('ioctl set is incorrect');

  if (isErr(await proc.uffdioWriteprotect(g.uffd, addr, size, UFFDIO_WRITEPROTECT_MODE_WP)))
    ksft.exitFailMsg('ioctl(UFFDIO_WRITEPROTECT)');

  return 0;
}

async function wpFree(g: G, addr: bigint, size: bigint): Promise<number> {
  if (isErr(await g.proc.uffdioUnregister(g.uffd, addr, size))) g.ksft.exitFailMsg('ioctl unregister failure');
  return 0;
}

async function wpAddrRange(g: G, addr: bigint, size: bigint): Promise<number> {
  const ret = await pagemapIoctl(g, addr, size, null, 0, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
  if (isErr(ret)) g.ksft.exitFailMsg(`error 1 ${errnoStr(ret)}`);
  return 0;
}

/** gethugetlb_mem(): SysV shm when `shmid` is given (its id is set there), else a private MAP_HUGETLB; null for the C's NULL. */
async function gethugetlbMem(g: G, size: bigint, shmid: { id: number } | null): Promise<bigint | null> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;

  if (shmid) {
    shmid.id = val(await proc.shmget(2, size, SHM_HUGETLB | IPC_CREAT | SHM_R | SHM_W));
    if (shmid.id < 0) return null;

    const mem = await proc.shmat(shmid.id, 0n, 0);
    if (isErr(mem)) {
      await proc.shmctl(shmid.id, IPC_RMID);
      ksft.exitFailMsg('Shared memory attach failure');
    }
    return mem;
  }

  const mem = await proc.mmap(0n, size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_HUGETLB | MAP_PRIVATE, -1, 0n);
  return isErr(mem) ? null : mem;
}

async function userfaultfdTests(g: G): Promise<number> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const numPages = 16n;

  const memSize = numPages * g.pageSize;
  const mem = await proc.mmap(0n, memSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');

  await wpInit(g, mem, memSize);

  /* Change protection of pages differently */
  const eighth = memSize / 8n;
  const prots = [
    PROT_READ | PROT_WRITE,
    PROT_READ,
    PROT_READ | PROT_WRITE,
    PROT_READ,
    PROT_READ | PROT_WRITE,
    PROT_NONE,
    PROT_READ | PROT_WRITE,
    PROT_READ,
  ];
  for (const [i, prot] of prots.entries()) await proc.mprotect(mem + BigInt(i) * eighth, eighth, prot);

  await wpAddrRange(g, mem + memSize / 16n, memSize - 2n * eighth);
  await wpAddrRange(g, mem, memSize);

  const vecSize = memSize / g.pageSize;
  const vec = new PageRegionVec(Number(vecSize));

  const written = await pagemapIoctl(g, mem, memSize, vec, 1, WP, vecSize - 2n, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
  if (isErr(written)) ksft.exitFailMsg(`error -1 ${errnoStr(written)}`);

  ksft.testResult(written === 0, 'userfaultfd_tests all new pages must not be written (dirty)');

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);
  return 0;
}

function getReads(g: G, vec: PageRegionVec, vecSize: number): bigint {
  let sum = 0n;
  for (let i = 0; i < vecSize; i++) sum += len(g, vec.at(i));
  return sum;
}

/** The address of every `step`th page of [mem, mem + size), from the first. */
function everyNthPage(g: G, mem: bigint, size: bigint, step: bigint): bigint[] {
  const addrs: bigint[] = [];
  for (let i = 0n; i < size; i += step * g.pageSize) addrs.push(mem + i);
  return addrs;
}

async function sanityTestsSd(g: G): Promise<number> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const { pageSize } = g;
  const fn = 'sanity_tests_sd';
  let totalPages = 0n;
  let ret: number;
  let ret2: number;
  let ret3: number;
  const numPages = 1000n;

  let vecSize = numPages / 2n;
  let memSize = numPages * pageSize;

  let vec = new PageRegionVec(Number(vecSize));
  const vec2 = new PageRegionVec(Number(vecSize));

  let mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');

  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  /* 1. wrong operation */
  const io = (...a: Parameters<typeof pagemapIoctl> extends [G, ...infer R] ? R : never) => pagemapIoctl(g, ...a).then(val);

  ksft.testResult((await io(mem, 0n, vec, vecSize, 0, 0, PAGEMAP_BITS_ALL, 0, 0, PAGEMAP_BITS_ALL)) === 0, `${fn} Zero range size is valid`);

  ksft.testResult(
    (await io(mem, memSize, null, vecSize, 0, 0, PAGEMAP_BITS_ALL, 0, 0, PAGEMAP_BITS_ALL)) < 0,
    `${fn} output buffer must be specified with size`,
  );

  ksft.testResult((await io(mem, memSize, vec, 0, 0, 0, PAGEMAP_BITS_ALL, 0, 0, PAGEMAP_BITS_ALL)) === 0, `${fn} output buffer can be 0`);

  ksft.testResult((await io(mem, memSize, null, 0, 0, 0, PAGEMAP_BITS_ALL, 0, 0, PAGEMAP_BITS_ALL)) === 0, `${fn} output buffer can be 0`);

  ksft.testResult((await io(mem, memSize, vec, vecSize, -1, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN)) < 0, `${fn} wrong flag specified`);

  ksft.testResult(
    (await io(mem, memSize, vec, vecSize, WP | 0xff, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN)) < 0,
    `${fn} flag has extra bits specified`,
  );

  ksft.testResult((await io(mem, memSize, vec, vecSize, 0, 0, 0, 0, 0, PAGE_IS_WRITTEN)) >= 0, `${fn} no selection mask is specified`);

  ksft.testResult(
    (await io(mem, memSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, 0, 0)) === 0,
    `${fn} no return mask is specified`,
  );

  ksft.testResult((await io(mem, memSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, 0x1000)) < 0, `${fn} wrong return mask specified`);

  ksft.testResult(
    (await io(mem, memSize, vec, vecSize, WP, 0, 0xfff, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN)) < 0,
    `${fn} mixture of correct and wrong flag`,
  );

  ksft.testResult(
    (await io(mem, memSize, vec, vecSize, WP, 0, 0, 0, PAGEMAP_BITS_ALL, PAGE_IS_WRITTEN)) >= 0,
    `${fn} PAGEMAP_BITS_ALL can be specified with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC`,
  );

  /* 2. Clear area with larger vec size */
  ret = await io(mem, memSize, vec, vecSize, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
  ksft.testResult(ret >= 0, `${fn} Clear area with larger vec size`);

  /* 3. Repeated pattern of written and non-written pages */
  await increment(proc, everyNthPage(g, mem, memSize, 2n));

  ret = check(g, await pagemapIoctl(g, mem, memSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(BigInt(ret) === memSize / (pageSize * 2n), `${fn} Repeated pattern of written and non-written pages`);

  /* 4. Repeated pattern of written and non-written pages in parts */
  ret = check(g, await pagemapIoctl(g, mem, memSize, vec, vecSize, WP, numPages / 2n - 2n, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ret2 = check(g, await pagemapIoctl(g, mem, memSize, vec, 2, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ret3 = check(g, await pagemapIoctl(g, mem, memSize, vec, vecSize, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(
    BigInt(ret + ret3) === numPages / 2n && ret2 === 2,
    `${fn} Repeated pattern of written and non-written pages in parts ${ret} ${ret3} ${ret2}`,
  );

  /* 5. Repeated pattern of written and non-written pages max_pages */
  await increment(proc, [...everyNthPage(g, mem, memSize, 2n), mem + (memSize / pageSize - 1n) * pageSize]);

  ret = check(g, await pagemapIoctl(g, mem, memSize, vec, vecSize, WP, numPages / 2n, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ret2 = check(g, await pagemapIoctl(g, mem, memSize, vec, vecSize, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(BigInt(ret) === numPages / 2n && ret2 === 1, `${fn} Repeated pattern of written and non-written pages max_pages`);

  /* 6. only get 2 dirty pages and clear them as well */
  vecSize = memSize / pageSize;
  await memset(proc, mem, -1, memSize);

  /* get and clear second and third pages */
  ret = check(g, await pagemapIoctl(g, mem + pageSize, 2n * pageSize, vec, 1, WP, 2, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ret2 = check(g, await pagemapIoctl(g, mem, memSize, vec2, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(
    ret === 1 &&
      len(g, vec.at(0)) === 2n &&
      vec.at(0).start === mem + pageSize &&
      ret2 === 2 &&
      len(g, vec2.at(0)) === 1n &&
      vec2.at(0).start === mem &&
      len(g, vec2.at(1)) === vecSize - 3n &&
      vec2.at(1).start === mem + 3n * pageSize,
    `${fn} only get 2 written pages and clear them as well`,
  );

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  /* 7. Two regions */
  const m0 = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(m0)) ksft.exitFailMsg('error nomem');
  const m1 = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(m1)) ksft.exitFailMsg('error nomem');

  await wpInit(g, m0, memSize);
  await wpInit(g, m1, memSize);
  await wpAddrRange(g, m0, memSize);
  await wpAddrRange(g, m1, memSize);

  await memset(proc, m0, 'a'.charCodeAt(0), memSize);
  await memset(proc, m1, 'b'.charCodeAt(0), memSize);

  await wpAddrRange(g, m0, memSize);

  ret = check(g, await pagemapIoctl(g, m1, memSize, vec, 1, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(ret === 1 && len(g, vec.at(0)) === memSize / pageSize, `${fn} Two regions`);

  await wpFree(g, m0, memSize);
  await wpFree(g, m1, memSize);
  await proc.munmap(m0, memSize);
  await proc.munmap(m1, memSize);

  /* 8. Smaller vec */
  memSize = 1050n * pageSize;
  vecSize = memSize / (pageSize * 2n);

  vec = new PageRegionVec(Number(vecSize));

  mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');

  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  check(g, await pagemapIoctl(g, mem, memSize, vec, vecSize, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  await increment(proc, everyNthPage(g, mem, memSize, 2n));

  for (let k = 0; k < 3; k++) {
    ret = check(g, await pagemapIoctl(g, mem, memSize, vec, vecSize, WP, memSize / (pageSize * 5n), PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));
    totalPages += BigInt(ret);
  }

  ksft.testResult(totalPages === memSize / (pageSize * 2n), `${fn} Smaller max_pages`);

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);
  totalPages = 0n;

  /* 9. Smaller vec */
  memSize = 10000n * pageSize;
  vecSize = 50n;

  vec = new PageRegionVec(Number(vecSize));

  mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');

  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  const random = new GlibcRand();
  let count: number;
  for (count = 0; count < TEST_ITERATIONS; count++) {
    let totalWrites = 0n;
    let totalReads = 0n;
    let walkEnd = mem;

    // i as a number: a million bigint steps a run cost more than the stores they choose
    const writes: bigint[] = [];
    for (let i = 0; i < Number(memSize); i += Number(pageSize)) {
      if (random.rand() % 2) {
        writes.push(mem + BigInt(i));
        totalWrites++;
      }
    }
    await increment(proc, writes);

    // the loop's ioctls made where the kernel is, as many as it makes (harness/scan-loop.ts)
    const scans = scanLoop(proc, totalWrites, pageSize);
    while (totalReads < totalWrites) {
      const r = await pagemapIoc({ ...g, proc: scans.proc }, walkEnd, memSize - (walkEnd - mem), vec, vecSize, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
      walkEnd = r.walkEnd;
      ret = check(g, r.ret);

      if (BigInt(ret) > vecSize) break;

      const reads = getReads(g, vec, ret);
      totalReads += reads;
    }
    scans.end();

    if (totalReads !== totalWrites) break;
  }

  ksft.testResult(count === TEST_ITERATIONS, 'Smaller vec');

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  /* 10. Walk_end tester */
  vecSize = 1000n;
  memSize = vecSize * pageSize;

  vec = new PageRegionVec(Number(vecSize));

  mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');

  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  await memset(proc, mem, 0, memSize);

  const walk = async (
    start: bigint,
    length: bigint,
    vecLen: bigint | number,
    flag: number,
    maxPages: bigint | number,
  ): Promise<{ ret: number; walkEnd: bigint }> => {
    const r = await pagemapIoc(g, start, length, vec, vecLen, flag, maxPages, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
    return { ret: check(g, r.ret), walkEnd: r.walkEnd };
  };
  const walkTest = async (
    length: bigint,
    vecLen: bigint | number,
    flag: number,
    maxPages: bigint | number,
    expectRet: bigint,
    expectEnd: bigint,
    name: string,
  ): Promise<void> => {
    const r = await walk(mem, length, vecLen, flag, maxPages);
    ksft.testResult(BigInt(r.ret) === expectRet && r.walkEnd === expectEnd, name);
  };

  await walkTest(0n, vecSize, 0, 0, 0n, mem, 'Walk_end: Same start and end address');
  await walkTest(0n, vecSize, WP, 0, 0n, mem, 'Walk_end: Same start and end with WP');
  await walkTest(0n, 0, WP, 0, 0n, mem, 'Walk_end: Same start and end with 0 output buffer');
  await walkTest(memSize, vecSize, 0, 0, 1n, mem + memSize, 'Walk_end: Big vec');
  await walkTest(memSize, 1, 0, 0, 1n, mem + memSize, 'Walk_end: vec of minimum length');
  await walkTest(memSize, 1, 0, vecSize, 1n, mem + memSize, 'Walk_end: Max pages specified');
  await walkTest(memSize, vecSize, 0, vecSize / 2n, 1n, mem + memSize / 2n, 'Walk_end: Half max pages');
  await walkTest(memSize, vecSize, 0, 1, 1n, mem + pageSize, 'Walk_end: 1 max page');
  await walkTest(memSize, vecSize, 0, -1, 1n, mem + memSize, 'Walk_end: max pages');

  await wpAddrRange(g, mem, memSize);
  await increment(proc, everyNthPage(g, mem, memSize, 2n));

  await walkTest(memSize, vecSize, 0, 0, vecSize / 2n, mem + memSize, 'Walk_end sparse: Big vec');
  await walkTest(memSize, 1, 0, 0, 1n, mem + pageSize * 2n, 'Walk_end sparse: vec of minimum length');
  await walkTest(memSize, 1, 0, vecSize, 1n, mem + pageSize * 2n, 'Walk_end sparse: Max pages specified');
  await walkTest(memSize, vecSize / 2n, 0, vecSize, vecSize / 2n, mem + memSize, 'Walk_end sparse: Max pages specified');
  await walkTest(memSize, vecSize, 0, vecSize, vecSize / 2n, mem + memSize, 'Walk_end sparse: Max pages specified');
  await walkTest(memSize, vecSize, 0, vecSize / 2n, vecSize / 2n, mem + memSize, 'Walk_endsparse : Half max pages');
  await walkTest(memSize, vecSize, 0, 1, 1n, mem + pageSize * 2n, 'Walk_end: 1 max page');

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  return 0;
}

/** The six results of base_tests(), in order. */
const BASE_TESTS = [
  'all new pages must not be written (dirty)',
  'all pages must be written (dirty)',
  'all pages dirty other than first and the last one',
  'PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC',
  'only middle page dirty',
  'only two middle pages dirty',
] as const;

async function baseTests(g: G, prefix: string, mem: bigint, memSize: bigint, skip: boolean): Promise<number> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const { pageSize } = g;

  if (skip) {
    for (const name of BASE_TESTS) ksft.testResultSkip(`${prefix} ${name}`);
    return 0;
  }

  const vecSize = memSize / pageSize;
  const vec = new PageRegionVec(Number(vecSize));
  const fail = (written: Ret<number>): number => {
    if (isErr(written)) ksft.exitFailMsg(`error -1 ${errnoStr(written)}`);
    return written;
  };

  /* 1. all new pages must be not be written (dirty) */
  let written = fail(await pagemapIoctl(g, mem, memSize, vec, 1, WP, vecSize - 2n, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(written === 0, `${prefix} ${BASE_TESTS[0]}`);

  /* 2. all pages must be written */
  await memset(proc, mem, -1, memSize);

  written = fail(await pagemapIoctl(g, mem, memSize, vec, 1, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(written === 1 && len(g, vec.at(0)) === memSize / pageSize, `${prefix} ${BASE_TESTS[1]}`);

  /* 3. all pages dirty other than first and the last one */
  fail(await pagemapIoctl(g, mem, memSize, vec, 1, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  await memset(proc, mem + pageSize, 0, memSize - 2n * pageSize);

  written = fail(await pagemapIoctl(g, mem, memSize, vec, 1, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(written === 1 && len(g, vec.at(0)) >= vecSize - 2n && len(g, vec.at(0)) <= vecSize, `${prefix} ${BASE_TESTS[2]}`);

  written = fail(await pagemapIoctl(g, mem, memSize, vec, 1, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(written === 0, `${prefix} ${BASE_TESTS[3]}`);

  /* 4. only middle page dirty */
  fail(await pagemapIoctl(g, mem, memSize, vec, 1, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  const middle = mem + (vecSize / 2n) * pageSize;
  await increment(proc, [middle]);

  written = fail(await pagemapIoctl(g, mem, memSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

  ksft.testResult(written === 1 && len(g, vec.at(0)) >= 1n, `${prefix} ${BASE_TESTS[4]}`);

  /* 5. only two middle pages dirty and walk over only middle pages */
  fail(await pagemapIoctl(g, mem, memSize, vec, 1, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN | PAGE_IS_HUGE));

  await increment(proc, [middle, middle + pageSize]);

  written = fail(await pagemapIoctl(g, middle, 2n * pageSize, vec, 1, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN | PAGE_IS_HUGE));

  ksft.testResult(written === 1 && vec.at(0).start === middle && len(g, vec.at(0)) === 2n, `${prefix} ${BASE_TESTS[5]}`);

  return 0;
}

async function gethugepage(g: G, mapSize: bigint): Promise<bigint | null> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;

  const map = await proc.alignedAlloc(g.hpageSize, mapSize); // memalign()
  if (isErr(map)) ksft.exitFailMsg(`memalign failed ${errnoStr(map)}`);

  if (isErr(await proc.madvise(map, mapSize, MADV_HUGEPAGE))) return null;

  await memset(proc, map, 0, mapSize);

  return map;
}

async function hpageUnitTests(g: G): Promise<number> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const { pageSize, hpageSize } = g;
  const fn = 'hpage_unit_tests';
  let ret: number;
  const numPages = 10n;
  const mapSize = hpageSize * numPages;
  const vecSize = mapSize / pageSize;
  const fail = (r: Ret<number>): number => {
    if (isErr(r)) ksft.exitFailMsg(`error -1 ${errnoStr(r)}`);
    return r;
  };

  const vec = new PageRegionVec(Number(vecSize));

  let map = await gethugepage(g, mapSize);
  if (map !== null) {
    await wpInit(g, map, mapSize);
    await wpAddrRange(g, map, mapSize);

    /* 1. all new huge page must not be written (dirty) */
    ret = fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(ret === 0, `${fn} all new huge page must not be written (dirty)`);

    /* 2. all the huge page must not be written */
    ret = fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(ret === 0, `${fn} all the huge page must not be written`);

    /* 3. all the huge page must be written and clear dirty as well */
    await memset(proc, map, -1, mapSize);
    ret = fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, WP, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(
      ret === 1 && vec.at(0).start === map && len(g, vec.at(0)) === vecSize && vec.at(0).categories === PAGE_IS_WRITTEN,
      `${fn} all the huge page must be written and clear`,
    );

    /* 4. only middle page written */
    await wpFree(g, map, mapSize);
    await proc.free(map);
    map = await gethugepage(g, mapSize);
    // the C goes on with a NULL map here: its wp_init fails and ends the program
    const m = map ?? 0n;
    await wpInit(g, m, mapSize);
    await wpAddrRange(g, m, mapSize);
    await increment(proc, [m + (vecSize / 2n) * pageSize]);

    ret = fail(await pagemapIoctl(g, m, mapSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(ret === 1 && len(g, vec.at(0)) > 0n, `${fn} only middle page written`);

    await wpFree(g, m, mapSize);
    await proc.free(m);
  } else {
    ksft.testResultSkip(`${fn} all new huge page must be written`);
    ksft.testResultSkip(`${fn} all the huge page must not be written`);
    ksft.testResultSkip(`${fn} all the huge page must be written and clear`);
    ksft.testResultSkip(`${fn} only middle page written`);
  }

  /* 5. clear first half of huge page */
  map = await gethugepage(g, mapSize);
  if (map !== null) {
    await wpInit(g, map, mapSize);
    await wpAddrRange(g, map, mapSize);

    await memset(proc, map, 0, mapSize);

    await wpAddrRange(g, map, mapSize / 2n);

    ret = fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(
      ret === 1 && len(g, vec.at(0)) === vecSize / 2n && vec.at(0).start === map + mapSize / 2n,
      `${fn} clear first half of huge page`,
    );
    await wpFree(g, map, mapSize);
    await proc.free(map);
  } else {
    ksft.testResultSkip(`${fn} clear first half of huge page`);
  }

  /* 6. clear first half of huge page with limited buffer */
  map = await gethugepage(g, mapSize);
  if (map !== null) {
    await wpInit(g, map, mapSize);
    await wpAddrRange(g, map, mapSize);

    await memset(proc, map, 0, mapSize);

    fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, WP, vecSize / 2n, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ret = fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(
      ret === 1 && len(g, vec.at(0)) === vecSize / 2n && vec.at(0).start === map + mapSize / 2n,
      `${fn} clear first half of huge page with limited buffer`,
    );
    await wpFree(g, map, mapSize);
    await proc.free(map);
  } else {
    ksft.testResultSkip(`${fn} clear first half of huge page with limited buffer`);
  }

  /* 7. clear second half of huge page */
  map = await gethugepage(g, mapSize);
  if (map !== null) {
    await wpInit(g, map, mapSize);
    await wpAddrRange(g, map, mapSize);

    await memset(proc, map, -1, mapSize);

    fail(await pagemapIoctl(g, map + mapSize / 2n, mapSize / 2n, vec, vecSize, WP, vecSize / 2n, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ret = fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(ret === 1 && len(g, vec.at(0)) === vecSize / 2n, `${fn} clear second half huge page`);
    await wpFree(g, map, mapSize);
    await proc.free(map);
  } else {
    ksft.testResultSkip(`${fn} clear second half huge page`);
  }

  /* 8. get half huge page */
  map = await gethugepage(g, mapSize);
  if (map !== null) {
    await wpInit(g, map, mapSize);
    await wpAddrRange(g, map, mapSize);

    await memset(proc, map, -1, mapSize);
    // usleep(100): nothing in the kernel waits on it

    ret = fail(await pagemapIoctl(g, map, mapSize, vec, 1, WP, hpageSize / (2n * pageSize), PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(ret === 1 && len(g, vec.at(0)) === hpageSize / (2n * pageSize), `${fn} get half huge page`);

    const ret2 = fail(await pagemapIoctl(g, map, mapSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN));

    ksft.testResult(ret2 === 1 && len(g, vec.at(0)) === (mapSize - hpageSize / 2n) / pageSize, `${fn} get half huge page`);

    await wpFree(g, map, mapSize);
    await proc.free(map);
  } else {
    ksft.testResultSkip(`${fn} get half huge page`);
    ksft.testResultSkip(`${fn} get half huge page`);
  }

  return 0;
}

async function unmappedRegionTests(g: G): Promise<number> {
  const start = 0x10000000n;
  const length = 0x00040000n;
  const vecSize = length / g.pageSize;
  const vec = new PageRegionVec(Number(vecSize));

  /* 1. Get written pages */
  const written = await pagemapIoctl(g, start, length, vec, vecSize, 0, 0, PAGEMAP_NON_WRITTEN_BITS, 0, 0, PAGEMAP_NON_WRITTEN_BITS);
  if (isErr(written)) g.ksft.exitFailMsg(`error -1 ${errnoStr(written)}`);

  g.ksft.testResult(written >= 0, 'unmapped_region_tests Get status of pages');

  return 0;
}

async function testSimple(g: G): Promise<void> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const { pageSize } = g;
  let i: number;
  const vec = new PageRegionVec(1);

  const map = await proc.alignedAlloc(pageSize, pageSize);
  if (isErr(map)) ksft.exitFailMsg('aligned_alloc failed');

  await wpInit(g, map, pageSize);
  await wpAddrRange(g, map, pageSize);

  const scan = (): Promise<number> => pagemapIoctl(g, map, pageSize, vec, 1, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN).then(val);

  for (i = 0; i < TEST_ITERATIONS; i++) {
    if ((await scan()) === 1) {
      ksft.printMsg(`written bit was 1, but should be 0 (i=${i})`);
      break;
    }

    await wpAddrRange(g, map, pageSize);
    /* Write something to the page to get the written bit enabled on the page */
    await increment(proc, [map]);

    if ((await scan()) === 0) {
      ksft.printMsg(`written bit was 0, but should be 1 (i=${i})`);
      break;
    }

    await wpAddrRange(g, map, pageSize);
  }
  await wpFree(g, map, pageSize);
  await proc.free(map);

  ksft.testResult(i === TEST_ITERATIONS, 'Test test_simple');
}

/*
 * A range that was populated and then MADV_DONTNEED'd is genuine pte_none
 * with no uffd-wp marker. Such a pte must read the same regardless of which
 * PAGEMAP_SCAN path serves the request: both the PAGE_IS_WRITTEN fast path and
 * the generic path (reached e.g. via category_anyof_mask) must report every
 * page written.
 */
async function unpopulatedScanTest(g: G): Promise<void> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const fn = 'unpopulated_scan_test';
  const npages = 16;
  const memSize = BigInt(npages) * g.pageSize;
  const regions = new PageRegionVec(16);
  let fast = 0n;
  let slow = 0n;

  const mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg(`${fn} mmap failed`);

  await wpInit(g, mem, memSize);

  /* Populate, then drop: the ptes become pte_none without a marker. */
  await memset(proc, mem, 1, memSize);
  if (isErr(await proc.madvise(mem, memSize, MADV_DONTNEED))) ksft.exitFailMsg(`${fn} MADV_DONTNEED failed`);

  /* Fast path: category_mask == return_mask == PAGE_IS_WRITTEN. */
  let ret = await pagemapIoctl(g, mem, memSize, regions, npages, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);
  if (isErr(ret)) ksft.exitFailMsg(`${fn} fast scan failed`);
  for (let i = 0; i < ret; i++) fast += len(g, regions.at(i));

  /* Generic path: same query expressed via category_anyof_mask. */
  ret = await pagemapIoctl(g, mem, memSize, regions, npages, 0, 0, 0, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN);
  if (isErr(ret)) ksft.exitFailMsg(`${fn} generic scan failed`);
  for (let i = 0; i < ret; i++) slow += len(g, regions.at(i));

  ksft.testResult(
    fast === BigInt(npages) && slow === BigInt(npages),
    `${fn} unpopulated ptes reported written by both paths (${fast}, ${slow} of ${npages})`,
  );

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);
}

async function sanityTests(g: G): Promise<number> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const { pageSize } = g;
  const fn = 'sanity_tests';
  let ret: number;

  /* 1. wrong operation */
  const memSize = 10n * pageSize;
  const vecSize = memSize / pageSize;

  const vec = new PageRegionVec(Number(vecSize));
  let mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');

  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  const io = (
    start: bigint,
    length: bigint,
    flag: number,
    requiredMask: number,
    anyofMask: number,
    excludedMask: number,
    returnMask: number,
  ): Promise<number> => pagemapIoctl(g, start, length, vec, vecSize, flag, 0, requiredMask, anyofMask, excludedMask, returnMask).then(val);

  ksft.testResult((await io(mem, memSize, WP, PAGEMAP_BITS_ALL, 0, 0, PAGEMAP_BITS_ALL)) >= 0, `${fn} WP op can be specified with !PAGE_IS_WRITTEN`);
  ksft.testResult((await io(mem, memSize, 0, PAGEMAP_BITS_ALL, 0, 0, PAGEMAP_BITS_ALL)) >= 0, `${fn} required_mask specified`);
  ksft.testResult((await io(mem, memSize, 0, 0, PAGEMAP_BITS_ALL, 0, PAGEMAP_BITS_ALL)) >= 0, `${fn} anyof_mask specified`);
  ksft.testResult((await io(mem, memSize, 0, 0, 0, PAGEMAP_BITS_ALL, PAGEMAP_BITS_ALL)) >= 0, `${fn} excluded_mask specified`);
  ksft.testResult(
    (await io(mem, memSize, 0, PAGEMAP_BITS_ALL, PAGEMAP_BITS_ALL, 0, PAGEMAP_BITS_ALL)) >= 0,
    `${fn} required_mask and anyof_mask specified`,
  );
  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  const writtenAndPresent = (r: number, m: bigint): boolean =>
    r >= 0 &&
    vec.at(0).start === m &&
    len(g, vec.at(0)) === vecSize &&
    (vec.at(0).categories & (PAGE_IS_WRITTEN | PAGE_IS_PRESENT)) === (PAGE_IS_WRITTEN | PAGE_IS_PRESENT);

  /* 2. Get sd and present pages with anyof_mask */
  mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');
  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  await memset(proc, mem, 0, memSize);

  ret = await io(mem, memSize, 0, 0, PAGEMAP_BITS_ALL, 0, PAGEMAP_BITS_ALL);
  ksft.testResult(writtenAndPresent(ret, mem), `${fn} Get sd and present pages with anyof_mask`);

  /* 3. Get sd and present pages with required_mask */
  ret = await io(mem, memSize, 0, PAGEMAP_BITS_ALL, 0, 0, PAGEMAP_BITS_ALL);
  ksft.testResult(writtenAndPresent(ret, mem), `${fn} Get all the pages with required_mask`);

  /* 4. Get sd and present pages with required_mask and anyof_mask */
  ret = await io(mem, memSize, 0, PAGE_IS_WRITTEN, PAGE_IS_PRESENT, 0, PAGEMAP_BITS_ALL);
  ksft.testResult(writtenAndPresent(ret, mem), `${fn} Get sd and present pages with required_mask and anyof_mask`);

  /* 5. Don't get sd pages */
  ret = await io(mem, memSize, 0, PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN, PAGEMAP_BITS_ALL);
  ksft.testResult(ret === 0, `${fn} Don't get sd pages`);

  /* 6. Don't get present pages */
  ret = await io(mem, memSize, 0, PAGE_IS_PRESENT, 0, PAGE_IS_PRESENT, PAGEMAP_BITS_ALL);
  ksft.testResult(ret === 0, `${fn} Don't get present pages`);

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  /* 8. Find written present pages with return mask */
  mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');
  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  await memset(proc, mem, 0, memSize);

  ret = await io(mem, memSize, WP, 0, PAGEMAP_BITS_ALL, 0, PAGE_IS_WRITTEN);
  ksft.testResult(
    ret >= 0 && vec.at(0).start === mem && len(g, vec.at(0)) === vecSize && vec.at(0).categories === PAGE_IS_WRITTEN,
    `${fn} Find written present pages with return mask`,
  );
  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  /* 9. Memory mapped file */
  let fd = await proc.open(PROGNAME, O_RDONLY);
  if (isErr(fd)) ksft.exitFailMsg(`${fn} Memory mapped file`);

  const sbuf = await proc.stat(PROGNAME);
  if (isErr(sbuf)) ksft.exitFailMsg(`error -1 ${errnoStr(sbuf)}`);

  let fmem = await proc.mmap(0n, sbuf.size, PROT_READ, MAP_PRIVATE, fd, 0n);
  if (isErr(fmem)) ksft.exitFailMsg(`error nomem ${errnoStr(fmem)}`);

  const nrPages = (sbuf.size + pageSize - 1n) / pageSize;
  await forceReadPages(g.t, fmem, Number(nrPages), pageSize);

  ret = val(await pagemapIoctl(g, fmem, sbuf.size, vec, vecSize, 0, 0, 0, PAGEMAP_NON_WRITTEN_BITS, 0, PAGEMAP_NON_WRITTEN_BITS));

  ksft.testResult(
    ret >= 0 && vec.at(0).start === fmem && len(g, vec.at(0)) === nrPages && (vec.at(0).categories & PAGE_IS_FILE) !== 0,
    `${fn} Memory mapped file`,
  );

  await proc.munmap(fmem, sbuf.size);
  await proc.close(fd);

  /* 10. Create and read/write to a memory mapped file */
  const bufSize = pageSize * 10n;

  fd = await proc.open(`${FILE}.tmp2`, O_RDWR | O_CREAT, 0o666);
  if (isErr(fd)) ksft.exitFailMsg(`Read/write to memory: ${strerror(fd)}`);

  // bufSize write(fd, "c", 1) calls: one write of as many 'c's
  if (isErr(await proc.writeFd(fd, new Uint8Array(Number(bufSize)).fill('c'.charCodeAt(0)))))
    ksft.exitFailMsg('Create and read/write to a memory mapped file');

  fmem = await proc.mmap(0n, bufSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0n);
  if (isErr(fmem)) ksft.exitFailMsg(`error nomem ${errnoStr(fmem)}`);

  await wpInit(g, fmem, bufSize);
  await wpAddrRange(g, fmem, bufSize);

  await memset(proc, fmem, 'z'.charCodeAt(0), bufSize);

  // msync(MS_SYNC) of a private mapping: mm/msync.c writes back only VM_SHARED areas

  ret = val(
    await pagemapIoctl(g, fmem, bufSize, vec, vecSize, 0, 0, PAGE_IS_WRITTEN, PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE, 0, PAGEMAP_BITS_ALL),
  );

  ksft.testResult(
    ret >= 0 && vec.at(0).start === fmem && len(g, vec.at(0)) === bufSize / pageSize && (vec.at(0).categories & PAGE_IS_WRITTEN) !== 0,
    `${fn} Read/write to memory`,
  );

  await wpFree(g, fmem, bufSize);
  await proc.munmap(fmem, bufSize);
  await proc.close(fd);

  return 0;
}

async function mprotectTests(g: G): Promise<number> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const { pageSize } = g;
  const fn = 'mprotect_tests';
  let ret: number;
  const vec = new PageRegionVec(1);
  // the second /proc/self/pagemap fd it opens (and never uses) has no counterpart

  const fail = (r: Ret<number>): number => {
    if (isErr(r)) ksft.exitFailMsg(`error -1 ${errnoStr(r)}`);
    return r;
  };
  const scan = async (mem: bigint): Promise<Ret<number>> =>
    pagemapIoctl(g, mem, 2n * pageSize, vec, 1, 0, 0, PAGE_IS_WRITTEN, 0, 0, PAGE_IS_WRITTEN);

  /* 1. Map two pages */
  const mem = await proc.mmap(0n, 2n * pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');
  await wpInit(g, mem, 2n * pageSize);
  await wpAddrRange(g, mem, 2n * pageSize);

  /* Populate both pages. */
  await memset(proc, mem, 1, 2n * pageSize);

  ret = fail(await scan(mem));

  ksft.testResult(ret === 1 && len(g, vec.at(0)) === 2n, `${fn} Both pages written`);

  /* 2. Start tracking */
  await wpAddrRange(g, mem, 2n * pageSize);

  ksft.testResult(val(await scan(mem)) === 0, `${fn} Both pages are not written (dirty)`);

  /* 3. Remap the second page */
  const mem2 = await proc.mmap(mem + pageSize, pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0n);
  if (isErr(mem2)) ksft.exitFailMsg('error nomem');
  await wpInit(g, mem2, pageSize);
  await wpAddrRange(g, mem2, pageSize);

  /* Protect + unprotect. */
  await proc.mprotect(mem, pageSize, PROT_NONE);
  await proc.mprotect(mem, 2n * pageSize, PROT_READ);
  await proc.mprotect(mem, 2n * pageSize, PROT_READ | PROT_WRITE);

  /* Modify both pages. */
  await memset(proc, mem, 2, 2n * pageSize);

  /* Protect + unprotect. */
  await proc.mprotect(mem, pageSize, PROT_NONE);
  await proc.mprotect(mem, pageSize, PROT_READ);
  await proc.mprotect(mem, pageSize, PROT_READ | PROT_WRITE);

  ret = fail(await scan(mem));

  ksft.testResult(ret === 1 && len(g, vec.at(0)) === 2n, `${fn} Both pages written after remap and mprotect`);

  /* 4. Clear and make the pages written */
  await wpAddrRange(g, mem, 2n * pageSize);

  await memset(proc, mem, 'A'.charCodeAt(0), 2n * pageSize);

  ret = fail(await scan(mem));

  ksft.testResult(ret === 1 && len(g, vec.at(0)) === 2n, `${fn} Clear and make the pages written`);

  await wpFree(g, mem, 2n * pageSize);
  await proc.munmap(mem, 2n * pageSize);
  return 0;
}

/* transact test */
const nthreads = 6;
const pagesPerThread = 32n;
const accessPerThread = 8;
const iterCount = 1000;

async function getDirtyPagesReset(g: G, mem: bigint, count: bigint, reset: boolean, pageSize: bigint): Promise<number> {
  const ksft: Ksft = g.ksft;
  const r = await g.proc.pagemapScan({
    start: mem,
    end: mem + count * pageSize,
    vecLen: 256,
    flags: reset ? WP : 0,
    maxPages: count,
    categoryMask: PAGE_IS_WRITTEN,
    categoryAnyofMask: 0,
    categoryInverted: 0,
    returnMask: PAGE_IS_WRITTEN,
  });
  if (isErr(r)) ksft.exitFailMsg('ioctl failed');

  let cnt = 0;
  for (const rgn of r.regions) {
    if (rgn.categories !== PAGE_IS_WRITTEN) ksft.exitFailMsg('wrong flags');
    cnt += Number(len(g, rgn));
  }
  return cnt;
}

/**
 * thread_proc(): one of the threads. Each round of the C's loop is a
 * round() call: between its start and end barriers it adds to its eight
 * ints; after the end barrier it reads its minor faults.
 */
class ThreadProc {
  private currFaults = 0n;

  constructor(
    private readonly g: G,
    private readonly thread: Thread,
    private readonly mem: bigint,
  ) {}

  async start(): Promise<void> {
    const r = await this.thread.minflt();
    if (isErr(r)) this.g.ksft.exitFailMsg('getrusage');
    this.currFaults = r;
  }

  /** __atomic_add_fetch() on the first int of each of its first access_per_thread pages */
  add(): Promise<void> {
    const addrs = Array.from({ length: accessPerThread }, (_, i) => this.mem + BigInt(i) * this.g.pageSize);
    return this.thread.atomicAdd(addrs, 1).then((r) => {
      if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
    });
  }

  async afterEndBarrier(): Promise<void> {
    const r = await this.thread.minflt();
    if (isErr(r)) this.g.ksft.exitFailMsg('getrusage');

    const faults = r - this.currFaults;
    if (faults < BigInt(accessPerThread)) this.g.ksft.exitFailMsg('faults < access_per_thread', { newline: false });

    this.g.extraThreadFaults += faults - BigInt(accessPerThread);
    this.currFaults = r;
  }
}

async function transactTest(g: G, pageSize: bigint): Promise<void> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const fn = 'transact_test';
  let count: number;
  const total = pageSize * BigInt(nthreads) * pagesPerThread;
  const nrPages = BigInt(nthreads) * pagesPerThread;

  const mem = await proc.mmap(0n, total, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg(`Error mmap ${strerror(mem)}.`);

  await wpInit(g, mem, total);
  await wpAddrRange(g, mem, total);

  await memset(proc, mem, 0, total);

  count = await getDirtyPagesReset(g, mem, nrPages, true, pageSize);
  ksft.testResult(count > 0, `${fn} count ${count}`);
  count = await getDirtyPagesReset(g, mem, nrPages, true, pageSize);
  ksft.testResult(count === 0, `${fn} count ${count}`);

  const threads: ThreadProc[] = [];
  for (let i = 0; i < nthreads; i++) {
    const th = await proc.threadCreate();
    if (isErr(th)) ksft.exitFailMsg(`pthread_create ${strerror(th)}`);
    threads.push(new ThreadProc(g, th, mem + pageSize * BigInt(i) * pagesPerThread));
  }
  await Promise.all(threads.map((th) => th.start()));

  const maxCount = nthreads * accessPerThread;
  let extraPages = 0;
  for (let i = 0; i < iterCount; i++) {
    // between the barriers: every thread's adds and the main thread's reset, all at once
    const adds = threads.map((th) => th.add());
    const reset = getDirtyPagesReset(g, mem, nrPages, true, pageSize);
    [count] = await inOrder(reset, ...adds);

    if (count > maxCount) ksft.exitFailMsg(`Too big count ${count} expected ${maxCount}, iter ${i}`);

    // after the end barrier: each thread reads its faults while the main thread resets again
    const after = threads.map((th) => th.afterEndBarrier());
    const [c] = await inOrder(getDirtyPagesReset(g, mem, nrPages, true, pageSize), ...after);
    count += c;

    if (c > maxCount) {
      ksft.testResultFail(` ${fn} count > nthreads`);
      return;
    }

    if (count !== maxCount) {
      /*
       * The purpose of the test is to make sure that no page updates are lost
       * when the page updates and read-resetting soft dirty flags are performed
       * in parallel. However, it is possible that the application will get the
       * soft dirty flags twice on the two consecutive read-resets. This seems
       * unavoidable as soft dirty flag is handled in software through page faults
       * in kernel. While the updating the flags is supposed to be synchronized
       * between page fault handling and read-reset, it is possible that
       * read-reset happens after page fault PTE update but before the application
       * re-executes write instruction. So read-reset gets the flag, clears write
       * access and application gets page fault again for the same write.
       */
      if (count < maxCount) {
        ksft.testResultFail(`Lost update, iter ${i}, ${count} vs ${maxCount}.`);
        return;
      }

      extraPages += count - maxCount;
    }
  }

  // finish = 1 between the barriers: the threads make one last round, then end
  await Promise.all(threads.map((th) => th.add()));
  await Promise.all(threads.map((th) => th.afterEndBarrier()));

  const percent = (100.0 * extraPages) / (iterCount * nthreads * accessPerThread);
  ksft.testResultPass(
    `${fn} Extra pages ${extraPages} (${percent.toFixed(1)}%), extra thread faults ${g.extraThreadFaults}.`,
  );
}

async function zeropfnTests(g: G): Promise<void> {
  const { proc } = g;
  const ksft: Ksft = g.ksft;
  const { pageSize, hpageSize } = g;
  const fn = 'zeropfn_tests';
  const vec = new PageRegionVec(1);

  /* Test with normal memory */
  let memSize = 10n * pageSize;
  let mem = await proc.mmap(0n, memSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');

  /* Touch each page to ensure it's mapped */
  await forceReadPages(g.t, mem, Number(memSize / pageSize), pageSize);

  let ret = await pagemapIoctl(g, mem, memSize, vec, 1, 0, memSize / pageSize, PAGE_IS_PFNZERO, 0, 0, PAGE_IS_PFNZERO);
  if (isErr(ret)) ksft.exitFailMsg(`error -1 ${errnoStr(ret)}`);

  ksft.testResult(ret === 1 && len(g, vec.at(0)) === memSize / pageSize, `${fn} all pages must have PFNZERO set`);

  await proc.munmap(mem, memSize);

  /* Test with huge page if user_zero_page is set to 1 */
  if (!(await detectHugeZeropage(g.t))) {
    ksft.testResultSkip(`${fn} use_zero_page not supported or set to 1`);
    return;
  }

  memSize = 2n * hpageSize;
  const mmapMem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mmapMem)) ksft.exitFailMsg('error nomem');

  /* We need a THP-aligned memory area. */
  mem = (mmapMem + hpageSize) & ~(hpageSize - 1n);

  if (!isErr(await proc.madvise(mem, hpageSize, MADV_HUGEPAGE))) {
    await forceReadPages(g.t, mem, 1, pageSize); // FORCE_READ(*mem)

    ret = await pagemapIoctl(g, mem, hpageSize, vec, 1, 0, 0, PAGE_IS_PFNZERO, 0, 0, PAGE_IS_PFNZERO);
    if (isErr(ret)) ksft.exitFailMsg(`error -1 ${errnoStr(ret)}`);

    ksft.testResult(ret === 1 && len(g, vec.at(0)) === hpageSize / pageSize, `${fn} all huge pages must have PFNZERO set`);
  } else {
    ksft.testResultSkip(`${fn} huge page not supported`);
  }

  await proc.munmap(mmapMem, memSize);
}

async function main(t: Selftest): Promise<void> {
  const { proc } = t;
  const ksft: Ksft = t.ksft;
  const g: G = { t, proc, ksft, uffd: -1, pageSize: 0n, hpageSize: 0n, extraThreadFaults: 0n };

  ksft.printHeader();

  if (await initUffd(g)) ksft.exitSkip('Failed to initialize userfaultfd');

  if (!(await hugetlbSetupDefault(t, 4n))) ksft.printMsg('HugeTLB test will be skipped');

  ksft.setPlan(118);

  g.pageSize = t.pagesize; // getpagesize()
  g.hpageSize = await readPmdPagesize(t);
  const { pageSize, hpageSize } = g;

  // open(PAGEMAP): Proc.pagemapScan() is the ioctl on it

  /* 1. Sanity testing */
  await sanityTestsSd(g);

  /* 2. Normal page testing */
  let memSize = 10n * pageSize;
  let mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');
  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  await baseTests(g, 'Page testing:', mem, memSize, false);

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  /* 3. Large page testing */
  memSize = 512n * 10n * pageSize;
  mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(mem)) ksft.exitFailMsg('error nomem');
  await wpInit(g, mem, memSize);
  await wpAddrRange(g, mem, memSize);

  await baseTests(g, 'Large Page testing:', mem, memSize, false);

  await wpFree(g, mem, memSize);
  await proc.munmap(mem, memSize);

  /* 4. Huge page testing */
  const map = await gethugepage(g, hpageSize);
  if (map !== null) {
    await wpInit(g, map, hpageSize);
    await wpAddrRange(g, map, hpageSize);
    await baseTests(g, 'Huge page testing:', map, hpageSize, false);
    await wpFree(g, map, hpageSize);
    await proc.free(map);
  } else {
    await baseTests(g, 'Huge page testing:', 0n, 0n, true);
  }

  /* 5. SHM Hugetlb page testing */
  memSize = await defaultHugePageSize(t);
  const shmid = { id: -1 };
  let huge = await gethugetlbMem(g, memSize, shmid);
  if (huge !== null) {
    await wpInit(g, huge, memSize);
    await wpAddrRange(g, huge, memSize);

    await baseTests(g, 'Hugetlb shmem testing:', huge, memSize, false);

    await wpFree(g, huge, memSize);
    await proc.shmctl(shmid.id, IPC_RMID);
  } else {
    await baseTests(g, 'Hugetlb shmem testing:', 0n, 0n, true);
  }

  /* 6. Hugetlb page testing */
  huge = await gethugetlbMem(g, memSize, null);
  if (huge !== null) {
    await wpInit(g, huge, memSize);
    await wpAddrRange(g, huge, memSize);

    await baseTests(g, 'Hugetlb mem testing:', huge, memSize, false);

    await wpFree(g, huge, memSize);
  } else {
    await baseTests(g, 'Hugetlb mem testing:', 0n, 0n, true);
  }

  /* 7. File Hugetlb testing */
  memSize = await defaultHugePageSize(t);
  let fd = await proc.memfdCreate('uffd-test', MFD_HUGETLB | MFD_NOEXEC_SEAL);
  if (isErr(fd)) ksft.exitFailMsg(`uffd-test creation failed ${errnoStr(fd)}`);
  mem = await proc.mmap(0n, memSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
  if (!isErr(mem)) {
    await wpInit(g, mem, memSize);
    await wpAddrRange(g, mem, memSize);

    await baseTests(g, 'Hugetlb shmem testing:', mem, memSize, false);

    await wpFree(g, mem, memSize);
    await proc.shmctl(shmid.id, IPC_RMID);
  } else {
    await baseTests(g, 'Hugetlb shmem testing:', 0n, 0n, true);
  }
  await proc.close(fd);

  /* 8. File memory testing */
  let bufSize = pageSize * 10n;

  fd = await proc.open(`${FILE}.tmp0`, O_RDWR | O_CREAT, 0o777);
  if (isErr(fd)) ksft.exitFailMsg(`Create and read/write to a memory mapped file: ${strerror(fd)}`);

  // buf_size write(fd, "c", 1) calls: one write of as many 'c's
  const cs = new Uint8Array(Number(bufSize)).fill('c'.charCodeAt(0));
  if (isErr(await proc.writeFd(fd, cs))) ksft.exitFailMsg('Create and read/write to a memory mapped file');

  const sbuf = await proc.stat(`${FILE}.tmp0`);
  if (isErr(sbuf)) ksft.exitFailMsg(`error -1 ${errnoStr(sbuf)}`);

  let fmem = await proc.mmap(0n, sbuf.size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0n);
  if (isErr(fmem)) ksft.exitFailMsg(`error nomem ${errnoStr(fmem)}`);

  await wpInit(g, fmem, sbuf.size);
  await wpAddrRange(g, fmem, sbuf.size);

  await baseTests(g, 'File memory testing:', fmem, sbuf.size, false);

  await wpFree(g, fmem, sbuf.size);
  await proc.munmap(fmem, sbuf.size);
  await proc.close(fd);

  /* 9. File memory testing */
  bufSize = pageSize * 10n;

  fd = await proc.memfdCreate(`${FILE}.tmp00`, MFD_NOEXEC_SEAL);
  if (isErr(fd)) ksft.exitFailMsg(`Create and read/write to a memory mapped file: ${strerror(fd)}`);

  if (isErr(await proc.ftruncate(fd, bufSize))) ksft.exitFailMsg('Error ftruncate');

  if (isErr(await proc.writeFd(fd, cs))) ksft.exitFailMsg('Create and read/write to a memory mapped file');

  fmem = await proc.mmap(0n, bufSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0n);
  if (isErr(fmem)) ksft.exitFailMsg(`error nomem ${errnoStr(fmem)}`);

  await wpInit(g, fmem, bufSize);
  await wpAddrRange(g, fmem, bufSize);

  await baseTests(g, 'File anonymous memory testing:', fmem, bufSize, false);

  await wpFree(g, fmem, bufSize);
  await proc.munmap(fmem, bufSize);
  await proc.close(fd);

  /* 10. Huge page tests */
  await hpageUnitTests(g);

  /* 11. Iterative test */
  await testSimple(g);

  /* 12. Mprotect test */
  await mprotectTests(g);

  /* 13. Transact test */
  await transactTest(g, pageSize);

  /* 14. Sanity testing */
  await sanityTests(g);

  /*15. Unmapped address test */
  await unmappedRegionTests(g);

  /* 16. Userfaultfd tests */
  await userfaultfdTests(g);

  /* 17. ZEROPFN tests */
  await zeropfnTests(g);

  /* 18. Unpopulated pte scan-path consistency */
  await unpopulatedScanTest(g);

  ksft.finished();
}

export const pagemapIoctlSuite: Suite = {
  name: 'pagemap_ioctl',
  source: 'tools/testing/selftests/mm/pagemap_ioctl.c',
  tests: [
    ...[
      'Zero range size is valid',
      'output buffer must be specified with size',
      'output buffer can be 0',
      'output buffer can be 0',
      'wrong flag specified',
      'flag has extra bits specified',
      'no selection mask is specified',
      'no return mask is specified',
      'wrong return mask specified',
      'mixture of correct and wrong flag',
      'PAGEMAP_BITS_ALL can be specified with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC',
      'Clear area with larger vec size',
      'Repeated pattern of written and non-written pages',
      'Repeated pattern of written and non-written pages in parts 498 2 2',
      'Repeated pattern of written and non-written pages max_pages',
      'only get 2 written pages and clear them as well',
      'Two regions',
      'Smaller max_pages',
    ].map((name) => `sanity_tests_sd ${name}`),
    'Smaller vec',
    'Walk_end: Same start and end address',
    'Walk_end: Same start and end with WP',
    'Walk_end: Same start and end with 0 output buffer',
    'Walk_end: Big vec',
    'Walk_end: vec of minimum length',
    'Walk_end: Max pages specified',
    'Walk_end: Half max pages',
    'Walk_end: 1 max page',
    'Walk_end: max pages',
    'Walk_end sparse: Big vec',
    'Walk_end sparse: vec of minimum length',
    'Walk_end sparse: Max pages specified',
    'Walk_end sparse: Max pages specified',
    'Walk_end sparse: Max pages specified',
    'Walk_endsparse : Half max pages',
    'Walk_end: 1 max page',
    ...[
      'Page testing:',
      'Large Page testing:',
      'Huge page testing:',
      'Hugetlb shmem testing:',
      'Hugetlb mem testing:',
      'Hugetlb shmem testing:',
      'File memory testing:',
      'File anonymous memory testing:',
    ].flatMap((prefix) => BASE_TESTS.map((name) => `${prefix} ${name}`)),
    ...[
      'all new huge page must not be written (dirty)',
      'all the huge page must not be written',
      'all the huge page must be written and clear',
      'only middle page written',
      'clear first half of huge page',
      'clear first half of huge page with limited buffer',
      'clear second half huge page',
      'get half huge page',
      'get half huge page',
    ].map((name) => `hpage_unit_tests ${name}`),
    'Test test_simple',
    'mprotect_tests Both pages written',
    'mprotect_tests Both pages are not written (dirty)',
    'mprotect_tests Both pages written after remap and mprotect',
    'mprotect_tests Clear and make the pages written',
    'transact_test count 192',
    'transact_test count 0',
    'transact_test Extra pages 0 (0.0%), extra thread faults 0.',
    ...[
      'WP op can be specified with !PAGE_IS_WRITTEN',
      'required_mask specified',
      'anyof_mask specified',
      'excluded_mask specified',
      'required_mask and anyof_mask specified',
      'Get sd and present pages with anyof_mask',
      'Get all the pages with required_mask',
      'Get sd and present pages with required_mask and anyof_mask',
      "Don't get sd pages",
      "Don't get present pages",
      'Find written present pages with return mask',
      'Memory mapped file',
      'Read/write to memory',
    ].map((name) => `sanity_tests ${name}`),
    'unmapped_region_tests Get status of pages',
    'userfaultfd_tests all new pages must not be written (dirty)',
    'zeropfn_tests all pages must have PFNZERO set',
    'zeropfn_tests all huge pages must have PFNZERO set',
    'unpopulated_scan_test unpopulated ptes reported written by both paths (16, 16 of 16)',
  ],
  run: main,
};
