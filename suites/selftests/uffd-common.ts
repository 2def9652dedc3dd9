// tools/testing/selftests/mm/uffd-common.c and uffd-common.h: the parts
// uffd-unit-tests.c uses, one TS function per C function (the C names in
// camelCase). uffd_global_test_opts is UffdGlobalTestOpts, with the C's
// globals uffd_test_ops and uffd_test_case_ops carried in it (they are set
// per test, as main() sets them); pointers are bigints, NULL is 0n.
//
// A C thread is an async function started without being awaited (see
// Program below); its calls go to the same Proc as the main thread's, and a
// load or store of the main thread waits, pending, while a fault waits for
// the handler thread to resolve it.

import {
  ERRNO,
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  F_GETFD,
  MADV_DONTNEED,
  MADV_REMOVE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGETLB,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  POLLIN,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  UFFDIO_CONTINUE_MODE_WP,
  UFFDIO_COPY_MODE_WP,
  UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES,
  UFFDIO_WRITEPROTECT_MODE_WP,
  UFFD_API,
  UFFD_EVENT_FORK,
  UFFD_EVENT_PAGEFAULT,
  UFFD_EVENT_REMAP,
  UFFD_EVENT_REMOVE,
  UFFD_EVENT_UNMAP,
  UFFD_PAGEFAULT_FLAG_MINOR,
  UFFD_PAGEFAULT_FLAG_WP,
  UFFD_PAGEFAULT_FLAG_WRITE,
  UFFD_USER_MODE_ONLY,
  isErr,
  type Errno,
} from '../../uapi/linux.ts';
import type { Selftest } from '../../harness/suite.ts';
import type { Proc, Thread, UffdMsg, UffdServer } from '../../harness/target.ts';
import { invert, storeEach } from '../../harness/user-memory.ts';
import { checkHugeShmem, readPmdPagesize } from '../../harness/vm-util.ts';

/** -EEXIST as uffdio_*.copy/mapped/move hold it */
const EEXIST = BigInt(ERRNO.EEXIST);

export const UFFD_FLAGS = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;

export const TEST_ANON = 1;
export const TEST_HUGETLB = 2;
export const TEST_SHMEM = 3;

/**
 * err(): `ksft_print_msg("ERROR: " fmt " (errno=%d, @%s:%d)\n")`, then
 * ksft_exit_fail(). `at` is the C's __FILE__:__LINE__ (the 7.2 sources);
 * errno the failed call's, where one failed (0 otherwise: nothing here
 * keeps C's errno between calls).
 */
export function err(t: Selftest, msg: string, at: string, errno: Errno | number | null = null): never {
  const code = errno === null ? 0 : typeof errno === 'number' ? errno : errno.code;
  t.ksft.printMsg(`ERROR: ${msg} (errno=${code}, @${at})`);
  t.ksft.exitFail();
}

/** `%p`: glibc prints a pointer as 0x and its hex digits, (nil) for NULL */
export function ptr(p: bigint): string {
  return p === 0n ? '(nil)' : `0x${p.toString(16)}`;
}

/** `%"PRId64`/`%ld` of a u64 field holding a negative errno as its two's complement */
export function s64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

/**
 * The program as a process: exit() from any of its threads ends all of
 * them, as C's exit() does. Every call through proc() races the first
 * thread's exit, so a thread waiting (a load pending on a fault another
 * thread was to resolve) unwinds with that exit instead of hanging.
 */
export class Program {
  readonly exited: Promise<never>;
  private end!: (e: unknown) => void;
  private ended = false;
  /** the rejections of calls under way, for exit() to unwind them */
  private readonly waiting = new Set<(e: unknown) => void>();

  constructor() {
    this.exited = new Promise<never>((_, reject) => (this.end = reject));
    this.exited.catch(() => {});
  }

  /** pthread_create(fn): runs fn as a thread; awaiting the promise is pthread_join() */
  thread<T>(fn: () => Promise<T>): Promise<T> {
    const p = fn();
    p.catch((e: unknown) => this.exit(e));
    return p;
  }

  exit(e: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.end(e);
    for (const reject of this.waiting) reject(e);
    this.waiting.clear();
  }

  /**
   * The call, unless the program exits first. Not Promise.race() with
   * `exited`: each race leaves a reaction on that promise, which never
   * settles while the program runs, and the reaction keeps the call's
   * result (a load's bytes) alive: 1.5 GB over uffd-unit-tests.
   */
  private race<T>(call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.add(reject);
      call.then(
        (v) => {
          this.waiting.delete(reject);
          resolve(v);
        },
        (e: unknown) => {
          this.waiting.delete(reject);
          reject(e);
        },
      );
    });
  }

  /** proc with every call racing the program's end */
  proc<P extends object>(proc: P): P {
    return new Proxy(proc, {
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]): Promise<unknown> => {
          // a thread of a program that has exited makes no more calls
          if (this.ended) return this.exited;
          // exit() rejects it at once: the exit wins over a call whose answer is still to be taken
          const raced = this.race(Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args)));
          if (key === 'threadCreate' || key === 'fork' || key === 'serveUffd')
            return raced.then((r) => (r !== null && typeof r === 'object' && !isErr(r) ? this.proc(r as Thread | Proc) : r));
          return raced;
        };
      },
    });
  }
}

/** struct uffd_test_ops */
export interface UffdTestOps {
  /** allocates gopts.areaSrc (isSrc) or gopts.areaDst: 0, or -errno leaving it NULL */
  allocateArea(t: Selftest, gopts: UffdGlobalTestOpts, isSrc: boolean): Promise<number>;
  releasePages(t: Selftest, gopts: UffdGlobalTestOpts, relArea: bigint): Promise<void>;
  /** the address *start becomes */
  aliasMapping(gopts: UffdGlobalTestOpts, start: bigint, len: bigint, offset: bigint): bigint;
  checkPmdMapping: ((t: Selftest, gopts: UffdGlobalTestOpts, p: bigint, expectNrHpages: number) => Promise<void>) | null;
}

/** struct uffd_test_case_ops: 0, or a negative errno with *errmsg set */
export interface UffdTestCaseOps {
  preAlloc?(t: Selftest, gopts: UffdGlobalTestOpts, errmsg: { msg: string | null }): Promise<number>;
  postAlloc?(t: Selftest, gopts: UffdGlobalTestOpts, errmsg: { msg: string | null }): Promise<number>;
}

/** struct uffd_global_test_opts, and the C's globals uffd_test_ops, uffd_test_case_ops */
export interface UffdGlobalTestOpts {
  nrParallel: bigint;
  nrPages: bigint;
  nrPagesPerCpu: bigint;
  pageSize: bigint;
  areaSrc: bigint;
  areaSrcAlias: bigint;
  areaDst: bigint;
  areaDstAlias: bigint;
  areaRemap: bigint;
  uffd: number;
  uffdFlags: number;
  finished: number;
  pipefd: number[] | null;
  testType: number;
  mapShared: boolean;
  testUffdioWp: boolean;
  countVerify: bigint[] | null;
  testUffdioCopyEexist: boolean;
  readyForFork: boolean;
  /** uffd_test_ops */
  ops: UffdTestOps;
  /** uffd_test_case_ops */
  caseOps: UffdTestCaseOps | null;
  /** sizeof(pthread_mutex_t) in the target's C library: area_count() sits after it */
  mutexSize: bigint;
}

/** A copy of gopts as fork() gives the child its own */
export function forkOpts(gopts: UffdGlobalTestOpts): UffdGlobalTestOpts {
  return { ...gopts, pipefd: gopts.pipefd && [...gopts.pipefd], countVerify: gopts.countVerify && [...gopts.countVerify] };
}

/** Userfaultfd test statistics: struct uffd_args */
export interface UffdArgs {
  cpu: number;
  /** Whether apply wr-protects when installing pages */
  applyWp: boolean;
  missingFaults: number;
  wpFaults: number;
  minorFaults: number;
  gopts: UffdGlobalTestOpts;
  /** A custom fault handler; defaults to uffd_handle_page_fault. */
  handleFault: ((t: Selftest, gopts: UffdGlobalTestOpts, msg: UffdMsg, args: UffdArgs) => Promise<void>) | null;
}

export function uffdArgs(gopts: UffdGlobalTestOpts): UffdArgs {
  return { cpu: 0, applyWp: false, missingFaults: 0, wpFaults: 0, minorFaults: 0, gopts, handleFault: null };
}

/** msg->event: the number the C prints */
export function eventNumber(msg: UffdMsg): number {
  switch (msg.event) {
    case 'PAGEFAULT':
      return UFFD_EVENT_PAGEFAULT;
    case 'FORK':
      return UFFD_EVENT_FORK;
    case 'REMAP':
      return UFFD_EVENT_REMAP;
    case 'REMOVE':
      return UFFD_EVENT_REMOVE;
    case 'UNMAP':
      return UFFD_EVENT_UNMAP;
  }
}

/** pthread_mutex_t starts at page offset 0 */
export function areaMutex(area: bigint, nr: bigint, gopts: UffdGlobalTestOpts): bigint {
  return area + nr * gopts.pageSize;
}

/*
 * count is placed in the page after pthread_mutex_t naturally aligned
 * to avoid non alignment faults on non-x86 archs.
 */
export function areaCount(area: bigint, nr: bigint, gopts: UffdGlobalTestOpts): bigint {
  return (area + nr * gopts.pageSize + gopts.mutexSize + 8n - 1n) & ~(8n - 1n);
}

/**
 * sizeof(pthread_mutex_t) in glibc on the target's arch (the runner's
 * info().arch; else the kernel's machine name, uname -m)
 */
export async function pthreadMutexSize(t: Selftest): Promise<bigint> {
  let arch = t.arch;
  if (arch === undefined) {
    const machine = await t.proc.readFile('/proc/sys/kernel/arch');
    if (isErr(machine)) throw new Error(`/proc/sys/kernel/arch: ${machine} (sizeof(pthread_mutex_t) depends on the arch)`);
    arch = machine.trim();
  }
  switch (arch) {
    case 'x86_64':
      return 40n;
    case 'arm64':
    case 'aarch64':
      return 48n;
    default:
      throw new Error(`sizeof(pthread_mutex_t) on ${arch}: unknown`);
  }
}

async function uffdMemFdCreate(t: Selftest, memSize: bigint, hugetlb: boolean): Promise<number> {
  let memfdFlags = 0;

  if (hugetlb) memfdFlags = MFD_HUGETLB;
  const memFd = await t.proc.memfdCreate('uffd-test', memfdFlags);
  if (isErr(memFd)) err(t, 'memfd_create', 'uffd-common.c:42', memFd);
  let r = await t.proc.ftruncate(memFd, memSize);
  if (isErr(r)) err(t, 'ftruncate', 'uffd-common.c:44', r);
  r = await t.proc.fallocate(memFd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0n, memSize);
  if (isErr(r)) err(t, 'fallocate', 'uffd-common.c:48', r);

  return memFd;
}

async function anonReleasePages(t: Selftest, gopts: UffdGlobalTestOpts, relArea: bigint): Promise<void> {
  const r = await t.proc.madvise(relArea, gopts.nrPages * gopts.pageSize, MADV_DONTNEED);
  if (isErr(r)) err(t, 'madvise(MADV_DONTNEED) failed', 'uffd-common.c:56', r);
}

function setArea(gopts: UffdGlobalTestOpts, isSrc: boolean, area: bigint): void {
  if (isSrc) gopts.areaSrc = area;
  else gopts.areaDst = area;
}

async function anonAllocateArea(t: Selftest, gopts: UffdGlobalTestOpts, isSrc: boolean): Promise<number> {
  const area = await t.proc.mmap(0n, gopts.nrPages * gopts.pageSize, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0n);
  if (isErr(area)) {
    setArea(gopts, isSrc, 0n);
    return -area.code;
  }
  setArea(gopts, isSrc, area);
  return 0;
}

function noopAliasMapping(_gopts: UffdGlobalTestOpts, start: bigint): bigint {
  return start;
}

async function hugetlbReleasePages(t: Selftest, gopts: UffdGlobalTestOpts, relArea: bigint): Promise<void> {
  if (!gopts.mapShared) {
    const r = await t.proc.madvise(relArea, gopts.nrPages * gopts.pageSize, MADV_DONTNEED);
    if (isErr(r)) err(t, 'madvise(MADV_DONTNEED) failed', 'uffd-common.c:79', r);
  } else {
    const r = await t.proc.madvise(relArea, gopts.nrPages * gopts.pageSize, MADV_REMOVE);
    if (isErr(r)) err(t, 'madvise(MADV_REMOVE) failed', 'uffd-common.c:82', r);
  }
}

async function hugetlbAllocateArea(t: Selftest, gopts: UffdGlobalTestOpts, isSrc: boolean): Promise<number> {
  const size = gopts.nrPages * gopts.pageSize;
  const offset = isSrc ? 0n : size;
  let areaAlias = 0n;
  const memFd = await uffdMemFdCreate(t, size * 2n, true);

  const area = await t.proc.mmap(
    0n,
    size,
    PROT_READ | PROT_WRITE,
    (gopts.mapShared ? MAP_SHARED : MAP_PRIVATE) | (isSrc ? 0 : MAP_NORESERVE),
    memFd,
    offset,
  );
  if (isErr(area)) {
    setArea(gopts, isSrc, 0n);
    return -area.code;
  }
  setArea(gopts, isSrc, area);

  if (gopts.mapShared) {
    const alias = await t.proc.mmap(0n, size, PROT_READ | PROT_WRITE, MAP_SHARED, memFd, offset);
    if (isErr(alias)) return -alias.code;
    areaAlias = alias;
  }

  if (areaAlias) {
    if (isSrc) gopts.areaSrcAlias = areaAlias;
    else gopts.areaDstAlias = areaAlias;
  }

  await t.proc.close(memFd);
  return 0;
}

function hugetlbAliasMapping(gopts: UffdGlobalTestOpts, start: bigint, _len: bigint, offset: bigint): bigint {
  if (!gopts.mapShared) return start;

  return gopts.areaDstAlias + offset;
}

async function shmemReleasePages(t: Selftest, gopts: UffdGlobalTestOpts, relArea: bigint): Promise<void> {
  const r = await t.proc.madvise(relArea, gopts.nrPages * gopts.pageSize, MADV_REMOVE);
  if (isErr(r)) err(t, 'madvise(MADV_REMOVE) failed', 'uffd-common.c:134', r);
}

async function shmemAllocateArea(t: Selftest, gopts: UffdGlobalTestOpts, isSrc: boolean): Promise<number> {
  const bytes = gopts.nrPages * gopts.pageSize;
  const hpageSize = await readPmdPagesize(t);
  const offset = isSrc ? 0n : bytes;
  const memFd = await uffdMemFdCreate(t, bytes * 2n, false);
  const regionSize = bytes * 2n + hpageSize;

  const reserve = await t.proc.mmap(0n, regionSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(reserve)) {
    await t.proc.close(memFd);
    return -reserve.code;
  }

  const p = reserve;
  let pAlias = p;
  pAlias += bytes;
  pAlias += hpageSize; /* Prevent src/dst VMA merge */

  const area = await t.proc.mmap(p, bytes, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, memFd, offset);
  if (isErr(area)) {
    setArea(gopts, isSrc, 0n);
    await t.proc.munmap(reserve, regionSize);
    await t.proc.close(memFd);
    return -area.code;
  }
  setArea(gopts, isSrc, area);
  if (area !== p) err(t, `mmap of memfd failed at ${ptr(p)}`, 'uffd-common.c:167');

  const areaAlias = await t.proc.mmap(pAlias, bytes, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_SHARED, memFd, offset);
  if (isErr(areaAlias)) {
    setArea(gopts, isSrc, 0n);
    await t.proc.munmap(reserve, regionSize);
    await t.proc.close(memFd);
    return -areaAlias.code;
  }
  if (areaAlias !== pAlias) err(t, `mmap of anonymous memory failed at ${ptr(pAlias)}`, 'uffd-common.c:178');

  if (isSrc) gopts.areaSrcAlias = areaAlias;
  else gopts.areaDstAlias = areaAlias;

  await t.proc.close(memFd);
  return 0;
}

function shmemAliasMapping(gopts: UffdGlobalTestOpts, _start: bigint, _len: bigint, offset: bigint): bigint {
  return gopts.areaDstAlias + offset;
}

async function shmemCheckPmdMapping(t: Selftest, gopts: UffdGlobalTestOpts, _p: bigint, expectNrHpages: number): Promise<void> {
  if (!(await checkHugeShmem(t, gopts.areaDstAlias, expectNrHpages, await readPmdPagesize(t))))
    err(t, `Did not find expected ${expectNrHpages} number of hugepages`, 'uffd-common.c:199');
}

export const anonUffdTestOps: UffdTestOps = {
  allocateArea: anonAllocateArea,
  releasePages: anonReleasePages,
  aliasMapping: noopAliasMapping,
  checkPmdMapping: null,
};

export const shmemUffdTestOps: UffdTestOps = {
  allocateArea: shmemAllocateArea,
  releasePages: shmemReleasePages,
  aliasMapping: shmemAliasMapping,
  checkPmdMapping: shmemCheckPmdMapping,
};

export const hugetlbUffdTestOps: UffdTestOps = {
  allocateArea: hugetlbAllocateArea,
  releasePages: hugetlbReleasePages,
  aliasMapping: hugetlbAliasMapping,
  checkPmdMapping: null,
};

/** userfaultfd_open(): 0, or -1 */
export async function userfaultfdOpen(t: Selftest, gopts: UffdGlobalTestOpts, features: { value: bigint }): Promise<number> {
  gopts.uffd = await uffdOpen(t, UFFD_FLAGS);
  if (gopts.uffd < 0) return -1;
  const flags = await t.proc.fcntl(gopts.uffd, F_GETFD, 0);
  gopts.uffdFlags = isErr(flags) ? -1 : flags;

  const api = await t.proc.uffdioApi(gopts.uffd, UFFD_API, features.value);
  if (isErr(api))
    /* Probably lack of CAP_PTRACE? */
    return -1;
  // uffdio_api.api != UFFD_API: the kernel writes UFFD_API back whenever the ioctl succeeds

  features.value = api.features;
  return 0;
}

async function munmapArea(t: Selftest, gopts: UffdGlobalTestOpts, area: 'areaSrc' | 'areaSrcAlias' | 'areaDst' | 'areaDstAlias' | 'areaRemap'): Promise<void> {
  if (gopts[area]) {
    const r = await t.proc.munmap(gopts[area], gopts.nrPages * gopts.pageSize);
    if (isErr(r)) err(t, 'munmap', 'uffd-common.c:282', r);
  }

  gopts[area] = 0n;
}

export async function uffdTestCtxClear(t: Selftest, gopts: UffdGlobalTestOpts): Promise<void> {
  if (gopts.pipefd) {
    for (let i = 0; i < Number(gopts.nrParallel) * 2; ++i) {
      const r = await t.proc.close(gopts.pipefd[i] ?? -1);
      if (isErr(r)) err(t, 'close pipefd', 'uffd-common.c:294', r);
    }
    gopts.pipefd = null;
  }

  if (gopts.countVerify) gopts.countVerify = null;

  if (gopts.uffd !== -1) {
    const r = await t.proc.close(gopts.uffd);
    if (isErr(r)) err(t, 'close uffd', 'uffd-common.c:307', r);
    gopts.uffd = -1;
  }

  await munmapArea(t, gopts, 'areaSrc');
  await munmapArea(t, gopts, 'areaSrcAlias');
  await munmapArea(t, gopts, 'areaDst');
  await munmapArea(t, gopts, 'areaDstAlias');
  await munmapArea(t, gopts, 'areaRemap');
}

export async function uffdTestCtxInit(t: Selftest, gopts: UffdGlobalTestOpts, features: bigint, errmsg: { msg: string | null }): Promise<number> {
  gopts.areaSrcAlias = 0n;
  gopts.areaDstAlias = 0n;
  gopts.areaRemap = 0n;

  if (gopts.caseOps?.preAlloc) {
    const ret = await gopts.caseOps.preAlloc(t, gopts, errmsg);
    if (ret) return ret;
  }

  let ret = await gopts.ops.allocateArea(t, gopts, true);
  ret |= await gopts.ops.allocateArea(t, gopts, false);
  if (ret) {
    errmsg.msg = 'memory allocation failed';
    return ret;
  }

  if (gopts.caseOps?.postAlloc) {
    ret = await gopts.caseOps.postAlloc(t, gopts, errmsg);
    if (ret) return ret;
  }

  const f = { value: features };
  ret = await userfaultfdOpen(t, gopts, f);
  if (ret) {
    errmsg.msg = 'possible lack of privilege';
    return ret;
  }

  gopts.countVerify = [];

  // `*area_mutex() = PTHREAD_MUTEX_INITIALIZER` (all zero bytes), `*area_count() = 1`
  // and the placeholder after it: one store a page, the pages' stores made together
  const init = new Uint8Array(Number(gopts.mutexSize) + 16);
  const view = new DataView(init.buffer);
  const countAt = Number(areaCount(0n, 0n, gopts));
  view.setBigUint64(countAt, 1n, true);
  /*
   * In the transition between 255 to 256, powerpc will
   * read out of order in my_bcmp and see both bytes as
   * zero, so leave a placeholder below always non-zero
   * after the count, to avoid my_bcmp to trigger false
   * positives.
   */
  view.setBigUint64(countAt + 8, 1n, true);
  const pages: bigint[] = [];
  for (let nr = 0n; nr < gopts.nrPages; nr++) {
    gopts.countVerify.push(1n);
    pages.push(areaMutex(gopts.areaSrc, nr, gopts));
  }
  await storeEach(t.proc, pages, init.subarray(0, countAt + 16));

  /*
   * After initialization of area_src, we must explicitly release pages
   * for area_dst to make sure it's fully empty.  Otherwise we could have
   * some area_dst pages be erroneously initialized with zero pages,
   * hence we could hit memory corruption later in the test.
   *
   * One example is when THP is globally enabled, above allocate_area()
   * calls could have the two areas merged into a single VMA (as they
   * will have the same VMA flags so they're mergeable).  When we
   * initialize the area_src above, it's possible that some part of
   * area_dst could have been faulted in via one huge THP that will be
   * shared between area_src and area_dst.  It could cause some of the
   * area_dst won't be trapped by missing userfaults.
   *
   * This release_pages() will guarantee even if that happened, we'll
   * proactively split the thp and drop any accidentally initialized
   * pages within area_dst.
   */
  await gopts.ops.releasePages(t, gopts, gopts.areaDst);

  gopts.pipefd = [];
  for (let cpu = 0n; cpu < gopts.nrParallel; cpu++) {
    const fds = await t.proc.pipe2(O_CLOEXEC | O_NONBLOCK);
    if (isErr(fds)) err(t, 'pipe', 'uffd-common.c:397', fds);
    gopts.pipefd.push(fds[0], fds[1]);
  }

  return 0;
}

export async function wpRange(t: Selftest, ufd: number, start: bigint, len: bigint, wp: boolean): Promise<void> {
  /* Write protection page faults */
  /* Undo write-protect, do wakeup after that */
  const r = await t.proc.uffdioWriteprotect(ufd, start, len, wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0n);
  if (isErr(r)) err(t, `clear WP failed: address=0x${start.toString(16)}`, 'uffd-common.c:413', r);
}

async function continueRange(t: Selftest, ufd: number, start: bigint, len: bigint, wp: boolean): Promise<void> {
  let mode = 0n;
  if (wp) mode |= UFFDIO_CONTINUE_MODE_WP;

  let r = await t.proc.uffdioContinue(ufd, start, len, mode);
  if (r.error) err(t, `UFFDIO_CONTINUE failed for address 0x${start.toString(16)}`, 'uffd-common.c:428', r.error);

  /*
   * Error handling within the kernel for continue is subtly different
   * from copy or zeropage, so it may be a source of bugs. Trigger an
   * error (-EEXIST) on purpose, to verify doing so doesn't cause a BUG.
   */
  r = await t.proc.uffdioContinue(ufd, start, len, mode);
  const ret = r.error ? -1 : 0;
  const mapped = s64(r.progress ?? 0n); // req.mapped = 0 before the ioctl
  if (ret >= 0 || mapped !== -EEXIST)
    err(t, `failed to exercise UFFDIO_CONTINUE error handling, ret=${ret}, mapped=${mapped}`, 'uffd-common.c:439', r.error);
}

/** uffd_read_msg(): 0 with *msg read, 1 when none was there (EAGAIN, EINTR) */
export async function uffdReadMsg(t: Selftest, gopts: UffdGlobalTestOpts, msg: { value: UffdMsg | null }): Promise<number> {
  const r = await t.proc.uffdRead(gopts.uffd);

  if (isErr(r)) {
    if (r.name === 'EAGAIN' || r.name === 'EINTR') return 1;
    err(t, 'blocking read error', 'uffd-common.c:451', r);
  }
  msg.value = r;

  return 0;
}

export async function uffdHandlePageFault(t: Selftest, gopts: UffdGlobalTestOpts, msg: UffdMsg, args: UffdArgs): Promise<void> {
  if (msg.event !== 'PAGEFAULT') err(t, `unexpected msg event ${eventNumber(msg)}`, 'uffd-common.c:466');

  if (msg.flags & UFFD_PAGEFAULT_FLAG_WP) {
    /* Write protect page faults */
    await wpRange(t, gopts.uffd, msg.address, gopts.pageSize, false);
    args.wpFaults++;
  } else if (msg.flags & UFFD_PAGEFAULT_FLAG_MINOR) {
    /*
     * Minor page faults
     *
     * To prove we can modify the original range for testing
     * purposes, we're going to bit flip this range before
     * continuing.
     *
     * Note that this requires all minor page fault tests operate on
     * area_dst (non-UFFD-registered) and area_dst_alias
     * (UFFD-registered).
     */
    const area = gopts.areaDst + (msg.address - gopts.areaDstAlias);
    await invert(t.proc, area, Number(gopts.pageSize));
    await continueRange(t, gopts.uffd, msg.address, gopts.pageSize, args.applyWp);
    args.minorFaults++;
  } else {
    /*
     * Missing page faults.
     *
     * Here we force a write check for each of the missing mode
     * faults.  It's guaranteed because the only threads that
     * will trigger uffd faults are the locking threads, and
     * their first instruction to touch the missing page will
     * always be pthread_mutex_lock().
     *
     * Note that here we relied on an NPTL glibc impl detail to
     * always read the lock type at the entry of the lock op
     * (pthread_mutex_t.__data.__type, offset 0x10) before
     * doing any locking operations to guarantee that.  It's
     * actually not good to rely on this impl detail because
     * logically a pthread-compatible lib can implement the
     * locks without types and we can fail when linking with
     * them.  However since we used to find bugs with this
     * strict check we still keep it around.  Hopefully this
     * could be a good hint when it fails again.  If one day
     * it'll break on some other impl of glibc we'll revisit.
     */
    if (msg.flags & UFFD_PAGEFAULT_FLAG_WRITE) err(t, 'unexpected write fault', 'uffd-common.c:519');

    let offset = msg.address - gopts.areaDst;
    offset &= ~(gopts.pageSize - 1n);

    if (await copyPage(t, gopts, offset, args.applyWp)) args.missingFaults++;
  }
}

/** The fault handlers a target may run where the kernel is (Proc.serveUffd), as UffdServer names them. */
const SERVED = new Map<NonNullable<UffdArgs['handleFault']>, UffdServer['missing']>();

/** `handler` is the one UffdServer's `missing` names (its calls are checked against that as it runs). */
export function servedAs(handler: NonNullable<UffdArgs['handleFault']>, missing: UffdServer['missing']): void {
  SERVED.set(handler, missing);
}

servedAs(uffdHandlePageFault, 'copy');

/** uffd_poll_thread(): start it with Program.thread(); it returns NULL */
export async function uffdPollThread(t: Selftest, args: UffdArgs): Promise<null> {
  const gopts = args.gopts;
  const cpu = args.cpu;

  const handleFault = (args.handleFault ??= uffdHandlePageFault);

  const pipeRead = gopts.pipefd?.[cpu * 2] ?? -1;
  let pollfd = [
    { fd: gopts.uffd, events: POLLIN },
    { fd: pipeRead, events: POLLIN },
  ];

  gopts.readyForFork = true;

  // where the target can, this thread's loop runs where the kernel is, its calls answered from what it did
  const missing = SERVED.get(handleFault);
  if (missing !== undefined && t.proc.serveUffd) {
    const proc = await t.proc.serveUffd({
      uffd: gopts.uffd,
      pipe: pipeRead,
      pageSize: gopts.pageSize,
      dst: gopts.areaDst,
      src: gopts.areaSrc,
      dstAlias: gopts.areaDstAlias,
      size: gopts.nrPages * gopts.pageSize,
      missing,
      moveLen: gopts.pageSize,
      applyWp: args.applyWp,
    });
    t = { ...t, proc };
  }

  for (;;) {
    const revents = await t.proc.poll(pollfd, -1);
    if (isErr(revents)) {
      if (revents.name === 'EINTR' || revents.name === 'EAGAIN') continue;
      err(t, 'poll error: -1', 'uffd-common.c:555', revents);
    }
    const [revents0 = 0, revents1 = 0] = revents;
    if (revents1) {
      if (!(revents1 & POLLIN)) err(t, `pollfd[1].revents ${revents1}`, 'uffd-common.c:559');
      const c = await t.proc.readFd(pipeRead, 1);
      if (isErr(c) || c.length !== 1) err(t, 'read pipefd error', 'uffd-common.c:561', isErr(c) ? c : null);
      break;
    }
    if (!(revents0 & POLLIN)) err(t, `pollfd[0].revents ${revents0}`, 'uffd-common.c:565');
    const m: { value: UffdMsg | null } = { value: null };
    if (await uffdReadMsg(t, gopts, m)) continue;
    const msg = m.value!;
    switch (msg.event) {
      case 'PAGEFAULT':
        await handleFault(t, gopts, msg, args);
        break;
      case 'FORK':
        await t.proc.close(gopts.uffd);
        gopts.uffd = msg.ufd;
        pollfd = [{ fd: gopts.uffd, events: POLLIN }, pollfd[1]!];
        break;
      case 'REMOVE': {
        const r = await t.proc.uffdioUnregister(gopts.uffd, msg.start, msg.end - msg.start);
        if (isErr(r)) err(t, 'remove failure', 'uffd-common.c:585', r);
        break;
      }
      case 'REMAP':
        gopts.areaRemap = gopts.areaDst; /* save for later unmap */
        gopts.areaDst = msg.to;
        break;
      default:
        err(t, `unexpected msg event ${eventNumber(msg)}\n`, 'uffd-common.c:570');
    }
  }

  return null;
}

async function retryCopyPage(t: Selftest, gopts: UffdGlobalTestOpts, copy: { dst: bigint; src: bigint; len: bigint; mode: bigint }, offset: bigint): Promise<void> {
  copy.dst = gopts.ops.aliasMapping(gopts, copy.dst, copy.len, offset);
  const r = await t.proc.uffdioCopy(gopts.uffd, copy.dst, copy.src, copy.len, copy.mode);
  const result = s64(r.progress ?? copy.len); // uffdio_copy.copy still holds the first copy's result
  if (r.error) {
    /* real retval in ufdio_copy.copy */
    if (result !== -EEXIST) err(t, `UFFDIO_COPY retry error: ${result}`, 'uffd-common.c:607', r.error);
  } else {
    err(t, `UFFDIO_COPY retry unexpected: ${result}`, 'uffd-common.c:610');
  }
}

async function wakeRange(t: Selftest, ufd: number, addr: bigint, len: bigint): Promise<void> {
  const r = await t.proc.uffdioWake(ufd, addr, len);
  if (isErr(r)) {
    t.ksft.printf(`error waking ${addr}\n`); // fprintf(stderr): merged into the output by the runner
    t.ksft.exit(1);
  }
}

export async function __copyPage(t: Selftest, gopts: UffdGlobalTestOpts, offset: bigint, retry: boolean, wp: boolean): Promise<number> {
  if (offset >= gopts.nrPages * gopts.pageSize) err(t, `unexpected offset ${offset}\n`, 'uffd-common.c:632');
  const copy = {
    dst: gopts.areaDst + offset,
    src: gopts.areaSrc + offset,
    len: gopts.pageSize,
    mode: wp ? UFFDIO_COPY_MODE_WP : 0n,
  };
  const r = await t.proc.uffdioCopy(gopts.uffd, copy.dst, copy.src, copy.len, copy.mode);
  const result = s64(r.progress ?? 0n); // uffdio_copy.copy = 0 before the ioctl
  if (r.error) {
    /* real retval in ufdio_copy.copy */
    if (result !== -EEXIST) err(t, `UFFDIO_COPY error: ${result}`, 'uffd-common.c:644', r.error);
    await wakeRange(t, gopts.uffd, copy.dst, gopts.pageSize);
  } else if (result !== gopts.pageSize) {
    err(t, `UFFDIO_COPY error: ${result}`, 'uffd-common.c:648');
  } else {
    if (gopts.testUffdioCopyEexist && retry) {
      gopts.testUffdioCopyEexist = false;
      await retryCopyPage(t, gopts, copy, offset);
    }
    return 1;
  }
  return 0;
}

export function copyPage(t: Selftest, gopts: UffdGlobalTestOpts, offset: bigint, wp: boolean): Promise<number> {
  return __copyPage(t, gopts, offset, false, wp);
}

export async function movePage(t: Selftest, gopts: UffdGlobalTestOpts, offset: bigint, len: bigint): Promise<number> {
  if (offset + len > gopts.nrPages * gopts.pageSize) err(t, `unexpected offset ${offset} and length ${len}\n`, 'uffd-common.c:669');
  const dst = gopts.areaDst + offset;
  const src = gopts.areaSrc + offset;
  const r = await t.proc.uffdioMove(gopts.uffd, dst, src, len, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES);
  const result = s64(r.progress ?? 0n); // uffdio_move.move = 0 before the ioctl
  if (r.error) {
    /* real retval in uffdio_move.move */
    if (result !== -EEXIST) err(t, `UFFDIO_MOVE error: ${result}`, 'uffd-common.c:678', r.error);
    await wakeRange(t, gopts.uffd, dst, len);
  } else if (result !== len) {
    err(t, `UFFDIO_MOVE error: ${result}`, 'uffd-common.c:682');
  } else return 1;
  return 0;
}

/** uffd_open_dev(): the new userfaultfd, or -1 */
export async function uffdOpenDev(t: Selftest, flags: number): Promise<number> {
  const fd = await t.proc.open('/dev/userfaultfd', O_RDWR | O_CLOEXEC);
  if (isErr(fd)) return -1;
  const uffd = await t.proc.userfaultfdIocNew(fd, flags);
  await t.proc.close(fd);

  return isErr(uffd) ? -1 : uffd;
}

/** uffd_open_sys(): the new userfaultfd, or -1 */
export async function uffdOpenSys(t: Selftest, flags: number): Promise<number> {
  const uffd = await t.proc.userfaultfd(flags);
  return isErr(uffd) ? -1 : uffd;
}

export async function uffdOpen(t: Selftest, flags: number): Promise<number> {
  let uffd = await uffdOpenSys(t, flags);

  if (uffd < 0) uffd = await uffdOpenDev(t, flags);

  return uffd;
}

/** uffd_get_features(): 0 with *features set, or a negative number */
export async function uffdGetFeatures(t: Selftest, features: { value: bigint }): Promise<number> {
  /*
   * This should by default work in most kernels; the feature list
   * will be the same no matter what we pass in here.
   */
  let fd = await uffdOpen(t, UFFD_USER_MODE_ONLY);

  if (fd < 0)
    /* Maybe the kernel is older than user-only mode? */
    fd = await uffdOpen(t, 0);

  if (fd < 0) return fd;

  const api = await t.proc.uffdioApi(fd, UFFD_API, 0n);
  if (isErr(api)) {
    await t.proc.close(fd);
    return -api.code;
  }

  features.value = api.features;
  await t.proc.close(fd);

  return 0;
}

