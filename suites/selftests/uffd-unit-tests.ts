// tools/testing/selftests/mm/uffd-unit-tests.c, ported function by
// function: the same test table, result names, plan (uffd_count_tests())
// and messages. The helpers of uffd-common.c are in uffd-common.ts.
//
// How the C's constructs become calls of the Target API:
// - a pthread (uffd_poll_thread, fork_event_consumer) is an async function
//   started and not awaited (Program.thread()); pthread_join() awaits it.
//   Its calls go to the same Proc as the main thread's; a load of the main
//   thread that faults stays pending until the handler resolves the fault.
//   `while (!ready_for_fork);` needs nothing: the handler has started once
//   called, and the target serves its calls in the order they were made.
// - fork(): Proc.fork(); the child's code runs against the child's Proc
//   with a Ksft of its own (what it prints goes to the same output), and
//   its exit status is what waitpid() gives: err() in the child ends the
//   child with KSFT_FAIL, as exit() in a C child does.
// - sigsetjmp() and the SIGBUS handler: a load or store reports the
//   SIGBUS it raised, and the port goes on where the C's siglongjmp() lands.
// - the pagemap fds the C opens and closes have no counterpart
//   (Proc.pagemap() reads the process's own pagemap).

import {
  ERRNO,
  F_SETFL,
  MADV_COLLAPSE,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MADV_REMOVE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  O_NONBLOCK,
  O_RDWR,
  PM_UFFD_WP,
  UFFD_API,
  UFFD_FEATURE_EVENT_FORK,
  UFFD_FEATURE_EVENT_REMAP,
  UFFD_FEATURE_EVENT_REMOVE,
  UFFD_FEATURE_MINOR_HUGETLBFS,
  UFFD_FEATURE_MINOR_SHMEM,
  UFFD_FEATURE_MISSING_HUGETLBFS,
  UFFD_FEATURE_MISSING_SHMEM,
  UFFD_FEATURE_MOVE,
  UFFD_FEATURE_PAGEFAULT_FLAG_WP,
  UFFD_FEATURE_POISON,
  UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  UFFD_FEATURE_WP_UNPOPULATED,
  UFFD_PAGEFAULT_FLAG_MINOR,
  UFFD_PAGEFAULT_FLAG_WP,
  UFFD_PAGEFAULT_FLAG_WRITE,
  UFFDIO_COPY_MODE_WP,
  _UFFDIO_CONTINUE,
  _UFFDIO_COPY,
  _UFFDIO_POISON,
  _UFFDIO_WAKE,
  _UFFDIO_WRITEPROTECT,
  _UFFDIO_ZEROPAGE,
  isErr,
  type Errno,
} from '../../uapi/linux.ts';
import { Ksft } from '../../harness/ksft.ts';
import {
  defaultHugePageSize,
  hugetlbFreeDefaultPages,
  hugetlbRestoreSettings,
  hugetlbSaveSettings,
  hugetlbSetNrDefaultPages,
} from '../../harness/hugepage-settings.ts';
import type { Selftest, Suite } from '../../harness/suite.ts';
import type { LoopCall, MemResult, OnSignal, Proc, Strided, UffdMsg } from '../../harness/target.ts';
import { FATAL_SIGNALS, KilledBySignal, checkFill, checkLoop, fillEach, load, loadByte, memset, storeByte } from '../../harness/user-memory.ts';
import { pagemapGetEntry, readPmdPagesize, uffdRegister, uffdRegisterWithIoctls, uffdUnregister } from '../../harness/vm-util.ts';
import {
  Program,
  anonUffdTestOps,
  areaCount,
  copyPage,
  err,
  eventNumber,
  forkOpts,
  hugetlbUffdTestOps,
  movePage,
  pthreadMutexSize,
  ptr,
  s64,
  shmemUffdTestOps,
  uffdArgs,
  uffdGetFeatures,
  uffdOpenDev,
  uffdOpenSys,
  uffdPollThread,
  servedAs,
  uffdReadMsg,
  uffdTestCtxClear,
  uffdTestCtxInit,
  wpRange,
  UFFD_FLAGS,
  type UffdArgs,
  type UffdGlobalTestOpts,
  type UffdTestCaseOps,
  type UffdTestOps,
} from './uffd-common.ts';

/* The unit test doesn't need a large or random size, make it 32MB for now */
const UFFD_TEST_MEM_SIZE = 32n << 20n;

const MEM_ANON = 1 << 0;
const MEM_SHMEM = 1 << 1;
const MEM_SHMEM_PRIVATE = 1 << 2;
const MEM_HUGETLB = 1 << 3;
const MEM_HUGETLB_PRIVATE = 1 << 4;

const MEM_ALL = MEM_ANON | MEM_SHMEM | MEM_SHMEM_PRIVATE | MEM_HUGETLB | MEM_HUGETLB_PRIVATE;

const EAGAIN = BigInt(ERRNO.EAGAIN);
const EINVAL = BigInt(ERRNO.EINVAL);

function ALIGN_UP(x: bigint, alignTo: bigint): bigint {
  return (x + (alignTo - 1n)) & ~(alignTo - 1n);
}

const MAX = (a: bigint, b: bigint): bigint => (a > b ? a : b);

interface MemType {
  readonly name: string;
  readonly memFlag: number;
  readonly memOps: UffdTestOps;
  readonly shared: boolean;
}

const memTypes: readonly MemType[] = [
  { name: 'anon', memFlag: MEM_ANON, memOps: anonUffdTestOps, shared: false },
  { name: 'shmem', memFlag: MEM_SHMEM, memOps: shmemUffdTestOps, shared: true },
  { name: 'shmem-private', memFlag: MEM_SHMEM_PRIVATE, memOps: shmemUffdTestOps, shared: false },
  { name: 'hugetlb', memFlag: MEM_HUGETLB, memOps: hugetlbUffdTestOps, shared: true },
  { name: 'hugetlb-private', memFlag: MEM_HUGETLB_PRIVATE, memOps: hugetlbUffdTestOps, shared: false },
];

/* Arguments to be passed over to each uffd unit test */
interface UffdTestArgs {
  memType: MemType;
}

/**
 * The program's state the C keeps in statics: current_test, and the
 * program (its threads end together); a forked child gets its own.
 */
interface UffdSelftest extends Selftest {
  readonly program: Program;
  readonly current: { test: string };
}

type UffdTestFn = (u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs) => Promise<void>;

interface UffdTestCase {
  readonly name: string;
  readonly uffdFn: UffdTestFn;
  readonly memTargets: number;
  readonly uffdFeatureRequired: bigint;
  readonly testCaseOps?: UffdTestCaseOps;
}

function uffdTestPass(u: UffdSelftest): void {
  u.ksft.testResultPass(u.current.test);
}

function uffdTestStart(u: UffdSelftest, name: string): void {
  u.current.test = name.slice(0, 255); // snprintf into char[256]
}

function uffdTestFail(u: UffdSelftest, reason: string): void {
  u.ksft.printMsg(`failed reason: [${reason}]`);
  u.ksft.testResultFail(u.current.test);
}

function uffdTestSkip(u: UffdSelftest, message: string): void {
  u.ksft.testResultSkip(`${u.current.test} (${message})`);
}

async function testUffdApi(u: UffdSelftest, useDev: boolean): Promise<void> {
  const { proc } = u;

  uffdTestStart(u, `UFFDIO_API (with ${useDev ? '/dev/userfaultfd' : 'syscall'})`);

  let uffd: number;
  if (useDev) uffd = await uffdOpenDev(u, UFFD_FLAGS);
  else uffd = await uffdOpenSys(u, UFFD_FLAGS);
  if (uffd < 0) {
    uffdTestSkip(u, 'cannot open userfaultfd handle');
    return;
  }

  out: {
    /* Test wrong UFFD_API */
    if (!isErr(await proc.uffdioApi(uffd, 0xabn, 0n))) {
      uffdTestFail(u, "UFFDIO_API should fail with wrong api but didn't");
      break out;
    }

    /* Test wrong feature bit */
    if (!isErr(await proc.uffdioApi(uffd, UFFD_API, 1n << 63n))) {
      uffdTestFail(u, "UFFDIO_API should fail with wrong feature but didn't");
      break out;
    }

    /* Test normal UFFDIO_API */
    if (isErr(await proc.uffdioApi(uffd, UFFD_API, 0n))) {
      uffdTestFail(u, 'UFFDIO_API should succeed but failed');
      break out;
    }

    /* Test double requests of UFFDIO_API with a random feature set */
    if (!isErr(await proc.uffdioApi(uffd, UFFD_API, 1n << 0n))) {
      uffdTestFail(u, 'UFFDIO_API should reject initialized uffd');
      break out;
    }

    uffdTestPass(u);
  }
  await proc.close(uffd);
}

async function uffdFeatureSupported(u: UffdSelftest, test: UffdTestCase): Promise<boolean> {
  const features = { value: 0n };

  if (await uffdGetFeatures(u, features)) return false;

  return (features.value & test.uffdFeatureRequired) === test.uffdFeatureRequired;
}

/** pagemap_check_wp(): `line` is where the C uses the macro (its __LINE__) */
function pagemapCheckWp(u: UffdSelftest, value: bigint, wp: boolean, line: number): void {
  if (((value & PM_UFFD_WP) !== 0n) !== wp) err(u, `pagemap uffd-wp bit error: 0x${value.toString(16)}`, `uffd-unit-tests.c:${line}`);
}

interface ForkEventArgs {
  gopts: UffdGlobalTestOpts;
  childUffd: number;
}

async function forkEventConsumer(u: UffdSelftest, args: ForkEventArgs): Promise<null> {
  const msg: { value: UffdMsg | null } = { value: null };

  args.gopts.readyForFork = true;

  /* Read until a full msg received */
  while (await uffdReadMsg(u, args.gopts, msg));

  const m = msg.value!;
  if (m.event !== 'FORK') err(u, `wrong message: ${eventNumber(m)}\n`, 'uffd-unit-tests.c:207');

  /* Just to be properly freed later */
  args.childUffd = m.ufd;
  return null;
}

interface PinArgs {
  gupFd: number;
  pinned: boolean;
}

/*
 * Returns 0 if succeed, <0 for errors.  pin_pages() needs to be paired
 * with unpin_pages().  Currently it needs to be RO longterm pin to satisfy
 * all needs of the test cases (e.g., trigger unshare, trigger fork() early
 * CoW, etc.).
 */
async function pinPages(u: UffdSelftest, args: PinArgs, _buffer: bigint, _size: bigint): Promise<number> {
  if (args.pinned) err(u, 'already pinned', 'uffd-unit-tests.c:235');

  const fd = await u.proc.open('/sys/kernel/debug/gup_test', O_RDWR);
  if (isErr(fd)) return -fd.code;
  args.gupFd = fd;

  // ioctl(gup_fd, PIN_LONGTERM_TEST_START): the Target API has no gup_test ioctls
  await u.proc.close(fd);
  throw new Error('/sys/kernel/debug/gup_test opened: PIN_LONGTERM_TEST_START is not in the Target API');
}

async function unpinPages(u: UffdSelftest, args: PinArgs): Promise<void> {
  if (!args.pinned) err(u, 'unpin without pin first', 'uffd-unit-tests.c:253');
  throw new Error('PIN_LONGTERM_TEST_STOP is not in the Target API');
}

/** A copy of the parent's kselftest counts, as fork() gives the child: what it prints goes to the same output. */
function forkKsft(parent: Ksft): Ksft {
  let copying = true;
  const ksft = new Ksft((text) => {
    if (!copying) parent.printf(text);
  });
  if (parent.plan !== null) ksft.setPlan(parent.plan);
  for (const r of parent.results) {
    if (r.status === 'pass') ksft.testResultPass(r.name);
    else if (r.status === 'skip') ksft.testResultSkip(r.name);
    else if (r.status === 'xfail') ksft.testResultXfail(r.name);
    else ksft.testResultFail(r.name);
  }
  copying = false;
  return ksft;
}

/**
 * The child of a fork(): runs `child` in it, which returns the status it
 * _exit()s with; waitpid()'s status comes back (a signal that killed the
 * child gives its number, nonzero as in C).
 */
async function runChild(u: UffdSelftest, childProc: Proc, child: (c: UffdSelftest) => Promise<number>): Promise<number> {
  const ksft = forkKsft(u.ksft);
  const c: UffdSelftest = { ...u, proc: childProc, ksft, current: { ...u.current } };
  let status: number;
  try {
    status = await ksft.runMain(async () => ksft.exit(await child(c)));
  } catch (e) {
    if (!(e instanceof KilledBySignal)) throw e;
    status = FATAL_SIGNALS[e.signal].number;
  }
  await childProc.exit();
  return status;
}

async function forkOrDie(u: UffdSelftest, at: string): Promise<Proc> {
  const child = await u.proc.fork();
  if (isErr(child)) err(u, 'fork', at, child);
  return child;
}

async function pagemapTestFork(u: UffdSelftest, gopts: UffdGlobalTestOpts, withEvent: boolean, testPin: boolean): Promise<number> {
  const args: ForkEventArgs = { gopts, childUffd: -1 };
  let thread: Promise<null> | null = null;

  /* Prepare a thread to resolve EVENT_FORK */
  if (withEvent) {
    gopts.readyForFork = false;
    thread = u.program.thread(() => forkEventConsumer(u, args));
    /* Wait for the poll_thread to start executing before forking */
  }

  const childOpts = forkOpts(gopts);
  const child = await u.proc.fork();
  // fork() failing returns -1 to the C, which waits for no child and reads an unset status
  if (isErr(child)) throw new Error(`fork(): ${child}`);
  const result = await runChild(u, child, async (c) => {
    /* Open the pagemap fd of the child itself */
    const pin: PinArgs = { gupFd: -1, pinned: false };

    if (testPin && (await pinPages(c, pin, childOpts.areaDst, childOpts.pageSize)))
      /*
       * Normally when reach here we have pinned in
       * previous tests, so shouldn't fail anymore
       */
      err(c, 'pin page failed in child', 'uffd-unit-tests.c:289');

    const value = await pagemapGetEntry(c, childOpts.areaDst);
    /*
     * After fork(), we should handle uffd-wp bit differently:
     *
     * (1) when with EVENT_FORK, it should persist
     * (2) when without EVENT_FORK, it should be dropped
     */
    pagemapCheckWp(c, value, withEvent, 298);
    if (testPin) await unpinPages(c, pin);
    /* Succeed */
    return 0;
  });

  if (thread) {
    await thread;
    if (args.childUffd < 0) err(u, "Didn't receive child uffd", 'uffd-unit-tests.c:310');
    await u.proc.close(args.childUffd);
  }

  return result;
}

async function uffdWpUnpopulatedTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  const { proc } = u;

  if (await uffdRegister(u, gopts.uffd, gopts.areaDst, gopts.nrPages * gopts.pageSize, false, true, false))
    err(u, 'register failed', 'uffd-unit-tests.c:324');

  /* Test applying pte marker to anon unpopulated */
  await wpRange(u, gopts.uffd, gopts.areaDst, gopts.pageSize, true);
  let value = await pagemapGetEntry(u, gopts.areaDst);
  pagemapCheckWp(u, value, true, 331);

  /* Test unprotect on anon pte marker */
  await wpRange(u, gopts.uffd, gopts.areaDst, gopts.pageSize, false);
  value = await pagemapGetEntry(u, gopts.areaDst);
  pagemapCheckWp(u, value, false, 336);

  /* Test zap on anon marker */
  await wpRange(u, gopts.uffd, gopts.areaDst, gopts.pageSize, true);
  let r = await proc.madvise(gopts.areaDst, gopts.pageSize, MADV_DONTNEED);
  if (isErr(r)) err(u, 'madvise(MADV_DONTNEED) failed', 'uffd-unit-tests.c:341', r);
  value = await pagemapGetEntry(u, gopts.areaDst);
  pagemapCheckWp(u, value, false, 343);

  /* Test fault in after marker removed */
  await storeByte(proc, gopts.areaDst, 1);
  value = await pagemapGetEntry(u, gopts.areaDst);
  pagemapCheckWp(u, value, false, 348);
  /* Drop it to make pte none again */
  r = await proc.madvise(gopts.areaDst, gopts.pageSize, MADV_DONTNEED);
  if (isErr(r)) err(u, 'madvise(MADV_DONTNEED) failed', 'uffd-unit-tests.c:351', r);

  /* Test read-zero-page upon pte marker */
  await wpRange(u, gopts.uffd, gopts.areaDst, gopts.pageSize, true);
  await loadByte(proc, gopts.areaDst);
  /* Drop it to make pte none again */
  r = await proc.madvise(gopts.areaDst, gopts.pageSize, MADV_DONTNEED);
  if (isErr(r)) err(u, 'madvise(MADV_DONTNEED) failed', 'uffd-unit-tests.c:358', r);

  uffdTestPass(u);
}

async function uffdWpForkTestCommon(u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs, withEvent: boolean): Promise<void> {
  const { proc } = u;

  if (await uffdRegister(u, gopts.uffd, gopts.areaDst, gopts.nrPages * gopts.pageSize, false, true, false))
    err(u, 'register failed', 'uffd-unit-tests.c:371');

  out: {
    /* Touch the page */
    await storeByte(proc, gopts.areaDst, 1);
    await wpRange(u, gopts.uffd, gopts.areaDst, gopts.pageSize, true);
    let value = await pagemapGetEntry(u, gopts.areaDst);
    pagemapCheckWp(u, value, true, 379);
    if (await pagemapTestFork(u, gopts, withEvent, false)) {
      uffdTestFail(u, `Detected ${withEvent ? 'missing' : 'stall'} uffd-wp bit in child in present pte`);
      break out;
    }

    /*
     * This is an attempt for zapping the pgtable so as to test the
     * markers.
     *
     * For private mappings, PAGEOUT will only work on exclusive ptes
     * (PM_MMAP_EXCLUSIVE) which we should satisfy.
     *
     * For shared, PAGEOUT may not work.  Use DONTNEED instead which
     * plays a similar role of zapping (rather than freeing the page)
     * to expose pte markers.
     */
    if (args.memType.shared) {
      const r = await proc.madvise(gopts.areaDst, gopts.pageSize, MADV_DONTNEED);
      if (isErr(r)) err(u, 'MADV_DONTNEED', 'uffd-unit-tests.c:399', r);
    } else {
      /*
       * NOTE: ignore retval because private-hugetlb doesn't yet
       * support swapping, so it could fail.
       */
      await proc.madvise(gopts.areaDst, gopts.pageSize, MADV_PAGEOUT);
    }

    /* Uffd-wp should persist even swapped out */
    value = await pagemapGetEntry(u, gopts.areaDst);
    pagemapCheckWp(u, value, true, 410);
    if (await pagemapTestFork(u, gopts, withEvent, false)) {
      uffdTestFail(u, `Detected ${withEvent ? 'missing' : 'stall'} uffd-wp bit in child in zapped pte`);
      break out;
    }

    /* Unprotect; this tests swap pte modifications */
    await wpRange(u, gopts.uffd, gopts.areaDst, gopts.pageSize, false);
    value = await pagemapGetEntry(u, gopts.areaDst);
    pagemapCheckWp(u, value, false, 420);

    /* Fault in the page from disk */
    await storeByte(proc, gopts.areaDst, 2);
    value = await pagemapGetEntry(u, gopts.areaDst);
    pagemapCheckWp(u, value, false, 425);
    uffdTestPass(u);
  }
  if (await uffdUnregister(u, gopts.uffd, gopts.areaDst, gopts.nrPages * gopts.pageSize)) err(u, 'unregister failed', 'uffd-unit-tests.c:429');
}

function uffdWpForkTest(u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs): Promise<void> {
  return uffdWpForkTestCommon(u, gopts, args, false);
}

function uffdWpForkWithEventTest(u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs): Promise<void> {
  return uffdWpForkTestCommon(u, gopts, args, true);
}

async function uffdWpForkPinTestCommon(u: UffdSelftest, gopts: UffdGlobalTestOpts, _args: UffdTestArgs, withEvent: boolean): Promise<void> {
  const pinArgs: PinArgs = { gupFd: -1, pinned: false };

  if (await uffdRegister(u, gopts.uffd, gopts.areaDst, gopts.pageSize, false, true, false)) err(u, 'register failed', 'uffd-unit-tests.c:451');

  /* Touch the page */
  await storeByte(u.proc, gopts.areaDst, 1);
  await wpRange(u, gopts.uffd, gopts.areaDst, gopts.pageSize, true);

  /*
   * 1. First pin, then fork().  This tests fork() special path when
   * doing early CoW if the page is private.
   */
  if (await pinPages(u, pinArgs, gopts.areaDst, gopts.pageSize)) {
    uffdTestSkip(u, 'Possibly CONFIG_GUP_TEST missing or unprivileged');
    await uffdUnregister(u, gopts.uffd, gopts.areaDst, gopts.pageSize);
    return;
  }

  out: {
    if (await pagemapTestFork(u, gopts, withEvent, false)) {
      uffdTestFail(u, `Detected ${withEvent ? 'missing' : 'stall'} uffd-wp bit in early CoW of fork()`);
      await unpinPages(u, pinArgs);
      break out;
    }

    await unpinPages(u, pinArgs);

    /*
     * 2. First fork(), then pin (in the child, where test_pin==true).
     * This tests COR, aka, page unsharing on private memories.
     */
    if (await pagemapTestFork(u, gopts, withEvent, true)) {
      uffdTestFail(u, `Detected ${withEvent ? 'missing' : 'stall'} uffd-wp bit when RO pin`);
      break out;
    }
    uffdTestPass(u);
  }
  if (await uffdUnregister(u, gopts.uffd, gopts.areaDst, gopts.pageSize)) err(u, 'register failed', 'uffd-unit-tests.c:492');
}

function uffdWpForkPinTest(u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs): Promise<void> {
  return uffdWpForkPinTestCommon(u, gopts, args, false);
}

function uffdWpForkPinWithEventTest(u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs): Promise<void> {
  return uffdWpForkPinTestCommon(u, gopts, args, true);
}

/** The addresses of nrPages pages from p. */
function pagesFrom(gopts: UffdGlobalTestOpts, p: bigint): bigint[] {
  return Array.from({ length: Number(gopts.nrPages) }, (_, i) => p + BigInt(i) * gopts.pageSize);
}

/** The C's byte loop over nrPages pages from p, each checked against its byte: where it stops, or null. */
async function pageOtherThan(u: UffdSelftest, gopts: UffdGlobalTestOpts, p: bigint, byteOf: (nr: number) => number): Promise<{ nr: number; offset: bigint } | null> {
  const r = await checkFill(u.proc, pagesFrom(gopts, p), gopts.pageSize, Uint8Array.from({ length: Number(gopts.nrPages) }, (_, i) => byteOf(i)));
  if (r.stop === null) return null;
  if ('signal' in r.stop) throw new KilledBySignal(r.stop.signal, r.stop.addr);
  return { nr: r.done, offset: r.stop.offset };
}

async function checkMemoryContents(u: UffdSelftest, gopts: UffdGlobalTestOpts, p: bigint): Promise<void> {
  if (await pageOtherThan(u, gopts, p, (i) => ~(i % 255) & 0xff)) err(u, 'unexpected page contents', 'uffd-unit-tests.c:516');
}

async function uffdMinorTestCommon(u: UffdSelftest, gopts: UffdGlobalTestOpts, testCollapse: boolean, testWp: boolean): Promise<void> {
  const args = uffdArgs(gopts);

  /*
   * NOTE: MADV_COLLAPSE is not yet compatible with WP, so testing
   * both do not make much sense.
   */
  if (testCollapse && testWp) throw new Error('assert(!(test_collapse && test_wp))');

  if (
    await uffdRegister(
      u,
      gopts.uffd,
      gopts.areaDstAlias,
      gopts.nrPages * gopts.pageSize,
      /* NOTE! MADV_COLLAPSE may not work with uffd-wp */
      false,
      testWp,
      true,
    )
  )
    err(u, 'register failure', 'uffd-unit-tests.c:538');

  /*
   * After registering with UFFD, populate the non-UFFD-registered side of
   * the shared mapping. This should *not* trigger any UFFD minor faults.
   */
  // for (p = 0; p < nr_pages; ++p) memset(area_dst + p * page_size, p % ((uint8_t)-1), page_size);
  await fillEach(u.proc, pagesFrom(gopts, gopts.areaDst), gopts.pageSize, Uint8Array.from({ length: Number(gopts.nrPages) }, (_, p) => p % 255));

  args.applyWp = testWp;
  const uffdMon = u.program.thread(() => uffdPollThread(u, args));

  /*
   * Read each of the pages back using the UFFD-registered mapping. We
   * expect that the first time we touch a page, it will result in a minor
   * fault. uffd_poll_thread will resolve the fault by bit-flipping the
   * page's contents, and then issuing a CONTINUE ioctl.
   */
  await checkMemoryContents(u, gopts, gopts.areaDstAlias);

  await pipeWrite(u, gopts, 'uffd-unit-tests.c:561');
  await uffdMon;

  if (testCollapse) {
    if (isErr(await u.proc.madvise(gopts.areaDstAlias, gopts.nrPages * gopts.pageSize, MADV_COLLAPSE))) {
      /* It's fine to fail for this one... */
      uffdTestSkip(u, 'MADV_COLLAPSE failed');
      return;
    }

    await gopts.ops.checkPmdMapping!(u, gopts, gopts.areaDst, Number((gopts.nrPages * gopts.pageSize) / (await readPmdPagesize(u))));
    /*
     * This won't cause uffd-fault - it purely just makes sure there
     * was no corruption.
     */
    await checkMemoryContents(u, gopts, gopts.areaDstAlias);
  }

  if (args.missingFaults !== 0 || BigInt(args.minorFaults) !== gopts.nrPages) uffdTestFail(u, 'stats check error');
  else uffdTestPass(u);
}

function uffdMinorTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdMinorTestCommon(u, gopts, false, false);
}

function uffdMinorWpTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdMinorTestCommon(u, gopts, false, true);
}

function uffdMinorCollapseTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdMinorTestCommon(u, gopts, true, false);
}

/** `write(gopts->pipefd[1], &c, sizeof(c)) != sizeof(c)`: err() at `at` */
async function pipeWrite(u: UffdSelftest, gopts: UffdGlobalTestOpts, at: string): Promise<void> {
  const n = await u.proc.writeFd(gopts.pipefd?.[1] ?? -1, Uint8Array.of(0));
  if (n !== 1) err(u, 'pipe write', at, isErr(n) ? n : null);
}

/** The signal a load or store raised, as a SIGBUS handler sees it; any other kills the program, as in C. */
function sigbusOf(r: MemResult): boolean {
  if (r.ok) return false;
  if (r.signal !== 'SIGBUS') throw new KilledBySignal(r.signal, r.addr);
  return true;
}

/*
 * For non-cooperative userfaultfd test we fork() a process that will
 * generate pagefaults, will mremap the area monitored by the
 * userfaultfd and at last this process will release the monitored
 * area.
 * For the anonymous and shared memory the area is divided into two
 * parts, the first part is accessed before mremap, and the second
 * part is accessed after mremap. Since hugetlbfs does not support
 * mremap, the entire monitored area is accessed in a single pass for
 * HUGETLB_TEST.
 * The release of the pages currently generates event for shmem and
 * anonymous memory (UFFD_EVENT_REMOVE), hence it is not checked
 * for hugetlb.
 * For signal test(UFFD_FEATURE_SIGBUS), signal_test = 1, we register
 * monitored area, generate pagefaults and test that signal is delivered.
 * Use UFFDIO_COPY to allocate missing page and retry. For signal_test = 2
 * test robustness use case - we release monitored area, fork a process
 * that will generate pagefaults and verify signal is generated.
 * This also tests UFFD_FEATURE_EVENT_FORK event along with the signal
 * feature. Using monitor thread, verify no userfault events are generated.
 */
async function faultingProcess(u: UffdSelftest, gopts: UffdGlobalTestOpts, signalTest: number, wp: boolean): Promise<number> {
  const { proc } = u;
  let signalled = 0n;
  let lastnr = 0n;

  const splitNrPages = (gopts.nrPages + 1n) / 2n;

  if (signalTest) {
    // sigaction(SIGBUS, sighndl): a load's or store's SIGBUS comes back in its MemResult
    lastnr = -1n;
  }

  // `count = *area_count(); if (count != count_verify[nr]) err(); *area_count() = count;`
  // for each page: the pages after one in the same call where the target can (checkLoop)
  const countsOf = (from: bigint, to: bigint, onSignal?: OnSignal) => {
    const at: bigint[] = [];
    for (let n = from; n < to; n++) at.push(areaCount(gopts.areaDst, n, gopts));
    return checkLoop(proc, at, gopts.countVerify?.slice(Number(from), Number(to)) ?? [], true, onSignal);
  };
  // what sighndl()'s jump back to sigsetjmp() leads the loop below to do at page nr, for checkLoop
  const page = (base: bigint): Strided => ({ base, stride: gopts.pageSize });
  const copy: LoopCall = { call: 'uffdioCopy', fd: gopts.uffd, dst: page(gopts.areaDst), src: page(gopts.areaSrc), len: gopts.pageSize, mode: wp ? UFFDIO_COPY_MODE_WP : 0n };
  const unprotect: LoopCall = { call: 'uffdioWriteprotect', fd: gopts.uffd, start: page(gopts.areaDst), len: gopts.pageSize, mode: 0n };
  const onSignal: OnSignal | undefined = signalTest === 1 ? { then: [[copy], [unprotect]] } : signalTest === 2 ? { then: ['skip'] } : undefined;
  const corrupted = (nr: bigint, count: bigint, at: string) => err(u, `nr ${nr} memory corruption ${count} ${gopts.countVerify?.[Number(nr)] ?? 0n}\n`, at);

  let nr = 0n;
  const firstHalf = countsOf(0n, splitNrPages, onSignal);
  pages: for (; nr < splitNrPages; nr++) {
    let steps = 1;
    const offset = nr * gopts.pageSize;

    for (;;) {
      // where sigsetjmp() returns: first directly, then after each SIGBUS
      const r = await firstHalf.at(Number(nr));
      if (r.ok) {
        if (r.value !== (gopts.countVerify?.[Number(nr)] ?? 0n)) corrupted(nr, r.value, 'uffd-unit-tests.c:691');
        /*
         * Trigger write protection if there is by writing
         * the same value back.
         */
        break;
      }
      if (!signalTest || !sigbusOf(r)) throw new KilledBySignal(r.signal, r.addr); // sighndl() aborts without sigbuf

      // the signal handler jumped back to sigsetjmp()
      if (steps === 1 && nr === lastnr) err(u, 'Signal repeated', 'uffd-unit-tests.c:665');

      lastnr = nr;
      if (signalTest === 1) {
        if (steps === 1) {
          /* This is a MISSING request */
          steps++;
          if (await copyPage(u, gopts, offset, wp)) signalled++;
        } else {
          /* This is a WP request */
          if (steps !== 2) throw new Error('assert(steps == 2)');
          await wpRange(u, gopts.uffd, gopts.areaDst + offset, gopts.pageSize, false);
        }
      } else {
        signalled++;
        continue pages;
      }
    }
  }

  if (signalTest) return signalled !== splitNrPages ? 1 : 0;

  const moved = await proc.mremap(gopts.areaDst, gopts.nrPages * gopts.pageSize, gopts.nrPages * gopts.pageSize, MREMAP_MAYMOVE | MREMAP_FIXED, gopts.areaSrc);
  if (isErr(moved)) err(u, 'mremap', 'uffd-unit-tests.c:708', moved);
  gopts.areaDst = moved;
  /* Reset area_src since we just clobbered it */
  gopts.areaSrc = 0n;

  const secondHalf = countsOf(nr, gopts.nrPages);
  for (const from = nr; nr < gopts.nrPages; nr++) {
    const r = await secondHalf.at(Number(nr - from));
    if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
    if (r.value !== (gopts.countVerify?.[Number(nr)] ?? 0n)) {
      corrupted(nr, r.value, 'uffd-unit-tests.c:715');
    }
    /*
     * Trigger write protection if there is by writing
     * the same value back.
     */
  }

  await gopts.ops.releasePages(u, gopts, gopts.areaDst);

  const other = await pageOtherThan(u, gopts, gopts.areaDst, () => 0);
  if (other) err(u, `page ${other.nr} offset ${other.offset} is not zero`, 'uffd-unit-tests.c:730');

  return 0;
}

async function uffdSigbusTestCommon(u: UffdSelftest, gopts: UffdGlobalTestOpts, wp: boolean): Promise<void> {
  const args = uffdArgs(gopts);

  gopts.readyForFork = false;

  await u.proc.fcntl(gopts.uffd, F_SETFL, gopts.uffdFlags | O_NONBLOCK);

  if (await uffdRegister(u, gopts.uffd, gopts.areaDst, gopts.nrPages * gopts.pageSize, true, wp, false))
    err(u, 'register failure', 'uffd-unit-tests.c:751');

  if (await faultingProcess(u, gopts, 1, wp)) err(u, 'faulting process failed', 'uffd-unit-tests.c:754');

  await gopts.ops.releasePages(u, gopts, gopts.areaDst);

  args.applyWp = wp;
  const uffdMon = u.program.thread(() => uffdPollThread(u, args));

  /* Wait for the poll_thread to start executing before forking */

  const childOpts = forkOpts(gopts);
  const child = await forkOrDie(u, 'uffd-unit-tests.c:767');
  const status = await runChild(u, child, (c) => faultingProcess(c, childOpts, 2, wp));
  if (status) err(u, 'faulting process failed', 'uffd-unit-tests.c:774');
  await pipeWrite(u, gopts, 'uffd-unit-tests.c:776');
  const userfaults = (await uffdMon) === null ? 0 : 1; // the thread's return value: NULL

  if (userfaults) uffdTestFail(u, `Signal test failed, userfaults: ${userfaults}`);
  else uffdTestPass(u);
}

function uffdSigbusTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdSigbusTestCommon(u, gopts, false);
}

function uffdSigbusWpTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdSigbusTestCommon(u, gopts, true);
}

async function uffdEventsTestCommon(u: UffdSelftest, gopts: UffdGlobalTestOpts, wp: boolean): Promise<void> {
  const args = uffdArgs(gopts);

  gopts.readyForFork = false;

  await u.proc.fcntl(gopts.uffd, F_SETFL, gopts.uffdFlags | O_NONBLOCK);
  if (await uffdRegister(u, gopts.uffd, gopts.areaDst, gopts.nrPages * gopts.pageSize, true, wp, false))
    err(u, 'register failure', 'uffd-unit-tests.c:810');

  args.applyWp = wp;
  const uffdMon = u.program.thread(() => uffdPollThread(u, args));

  /* Wait for the poll_thread to start executing before forking */

  const childOpts = forkOpts(gopts);
  const child = await forkOrDie(u, 'uffd-unit-tests.c:821');
  const status = await runChild(u, child, (c) => faultingProcess(c, childOpts, 0, wp));
  if (status) err(u, 'faulting process failed', 'uffd-unit-tests.c:828');
  await pipeWrite(u, gopts, 'uffd-unit-tests.c:830');
  await uffdMon;

  if (BigInt(args.missingFaults) !== gopts.nrPages) uffdTestFail(u, 'Fault counts wrong');
  else uffdTestPass(u);
}

function uffdEventsTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdEventsTestCommon(u, gopts, false);
}

function uffdEventsWpTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdEventsTestCommon(u, gopts, true);
}

async function retryUffdioZeropage(u: UffdSelftest, gopts: UffdGlobalTestOpts, zeropage: { start: bigint; len: bigint; zeropage: bigint }): Promise<void> {
  zeropage.start = gopts.ops.aliasMapping(gopts, zeropage.start, zeropage.len, 0n);
  const r = await u.proc.uffdioZeropage(gopts.uffd, zeropage.start, zeropage.len, 0n);
  if (r.progress !== null) zeropage.zeropage = s64(r.progress);
  if (r.error) {
    if (zeropage.zeropage !== -BigInt(ERRNO.EEXIST)) err(u, `UFFDIO_ZEROPAGE error: ${zeropage.zeropage}`, 'uffd-unit-tests.c:858', r.error);
  } else {
    err(u, `UFFDIO_ZEROPAGE error: ${zeropage.zeropage}`, 'uffd-unit-tests.c:861');
  }
}

async function doUffdioZeropage(u: UffdSelftest, gopts: UffdGlobalTestOpts, hasZeropage: boolean): Promise<boolean> {
  const zeropage = { start: gopts.areaDst, len: gopts.pageSize, zeropage: 0n };
  const r = await u.proc.uffdioZeropage(gopts.uffd, zeropage.start, zeropage.len, 0n);
  if (r.progress !== null) zeropage.zeropage = s64(r.progress);
  const res = zeropage.zeropage;
  if (r.error) {
    /* real retval in ufdio_zeropage.zeropage */
    if (hasZeropage) err(u, `UFFDIO_ZEROPAGE error: ${res}`, 'uffd-unit-tests.c:880', r.error);
    else if (res !== -EINVAL) err(u, 'UFFDIO_ZEROPAGE not -EINVAL', 'uffd-unit-tests.c:882', r.error);
  } else if (hasZeropage) {
    if (res !== gopts.pageSize) err(u, 'UFFDIO_ZEROPAGE unexpected size', 'uffd-unit-tests.c:885');
    else await retryUffdioZeropage(u, gopts, zeropage);
    return true;
  } else err(u, 'UFFDIO_ZEROPAGE succeeded', 'uffd-unit-tests.c:890');

  return false;
}

/*
 * Registers a range with MISSING mode only for zeropage test.  Return true
 * if UFFDIO_ZEROPAGE supported, false otherwise. Can't use uffd_register()
 * because we want to detect .ioctls along the way.
 */
async function uffdRegisterDetectZeropage(u: UffdSelftest, uffd: number, addr: bigint, len: bigint): Promise<boolean> {
  const { ret, ioctls } = await uffdRegisterWithIoctls(u, uffd, addr, len, true, false, false);
  if (ret) err(u, 'zeropage register fail', 'uffd-unit-tests.c:907', -ret);

  return (ioctls & (1n << _UFFDIO_ZEROPAGE)) !== 0n;
}

/* exercise UFFDIO_ZEROPAGE */
async function uffdZeropageTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  const hasZeropage = await uffdRegisterDetectZeropage(u, gopts.uffd, gopts.areaDst, gopts.pageSize);
  if (gopts.areaDstAlias)
    /* Ignore the retval; we already have it */
    await uffdRegisterDetectZeropage(u, gopts.uffd, gopts.areaDstAlias, gopts.pageSize);

  if (await doUffdioZeropage(u, gopts, hasZeropage)) {
    const page = await load(u.proc, gopts.areaDst, Number(gopts.pageSize));
    const i = page.findIndex((b) => b !== 0);
    if (i >= 0) err(u, `data non-zero at offset ${i}\n`, 'uffd-unit-tests.c:928');
  }

  if (await uffdUnregister(u, gopts.uffd, gopts.areaDst, gopts.pageSize)) err(u, 'unregister', 'uffd-unit-tests.c:931');

  if (gopts.areaDstAlias && (await uffdUnregister(u, gopts.uffd, gopts.areaDstAlias, gopts.pageSize))) err(u, 'unregister', 'uffd-unit-tests.c:936');

  uffdTestPass(u);
}

async function uffdRegisterPoison(u: UffdSelftest, uffd: number, addr: bigint, len: bigint): Promise<void> {
  const expected = (1n << _UFFDIO_COPY) | (1n << _UFFDIO_POISON);

  const { ret, ioctls } = await uffdRegisterWithIoctls(u, uffd, addr, len, true, false, false);
  if (ret) err(u, 'poison register fail', 'uffd-unit-tests.c:948', -ret);

  if ((ioctls & expected) !== expected) err(u, "registered area doesn't support COPY and POISON ioctls", 'uffd-unit-tests.c:951');
}

async function doUffdioPoison(u: UffdSelftest, gopts: UffdGlobalTestOpts, offset: bigint): Promise<void> {
  const r = await u.proc.uffdioPoison(gopts.uffd, gopts.areaDst + offset, gopts.pageSize, 0n);
  const res = s64(r.progress ?? 0n);

  if (r.error) err(u, `UFFDIO_POISON error: ${res}`, 'uffd-unit-tests.c:967', r.error);
  else if (res !== gopts.pageSize) err(u, `UFFDIO_POISON unexpected size: ${res}`, 'uffd-unit-tests.c:969');
}

async function uffdPoisonHandleFault(u: Selftest, gopts: UffdGlobalTestOpts, msg: UffdMsg): Promise<void> {
  if (msg.event !== 'PAGEFAULT') err(u, `unexpected msg event ${eventNumber(msg)}`, 'uffd-unit-tests.c:979');

  if (msg.flags & (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_MINOR)) err(u, `unexpected fault type ${msg.flags}`, 'uffd-unit-tests.c:983');

  let offset = msg.address - gopts.areaDst;
  offset &= ~(gopts.pageSize - 1n);

  /* Odd pages -> copy zeroed page; even pages -> poison. */
  if (offset & gopts.pageSize) await copyPage(u, gopts, offset, false);
  else await doUffdioPoison(u as UffdSelftest, gopts, offset);
}

servedAs(uffdPoisonHandleFault, 'poison');

/* Make sure to cover odd/even, and minimum duplications */
const UFFD_POISON_TEST_NPAGES = 4n;

/** `%u` of a char: sign-extended to int, printed unsigned */
function charAsUnsigned(b: number): number {
  return b < 0x80 ? b : 0x1_0000_0000 - 0x100 + b;
}

async function uffdPoisonTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  const args = uffdArgs(gopts);
  let nrSigbus = 0n;
  const poisonPages = UFFD_POISON_TEST_NPAGES;

  if (gopts.nrPages < poisonPages) {
    uffdTestSkip(u, 'Too less pages for POISON test');
    return;
  }

  await u.proc.fcntl(gopts.uffd, F_SETFL, gopts.uffdFlags | O_NONBLOCK);

  await uffdRegisterPoison(u, gopts.uffd, gopts.areaDst, poisonPages * gopts.pageSize);
  await memset(u.proc, gopts.areaSrc, 0, poisonPages * gopts.pageSize);

  args.handleFault = uffdPoisonHandleFault;
  const uffdMon = u.program.thread(() => uffdPollThread(u, args));

  // sigaction(SIGBUS, sighndl): a load's SIGBUS comes back in its MemResult

  for (let nr = 0n; nr < poisonPages; ++nr) {
    const offset = nr * gopts.pageSize;
    const bytes = gopts.areaDst + offset;

    const r = await u.proc.read(bytes, Number(gopts.pageSize));
    if (sigbusOf(r)) {
      /*
       * Access below triggered a SIGBUS, which was caught by
       * sighndl, which then jumped here. Count this SIGBUS,
       * and move on to next page.
       */
      ++nrSigbus;
      continue;
    }
    if (!r.ok) continue;

    const i = r.data.findIndex((b) => b !== 0);
    if (i >= 0) err(u, `nonzero byte in area_dst (${ptr(gopts.areaDst)}) at ${ptr(bytes + BigInt(i))}: ${charAsUnsigned(r.data[i]!)}`, 'uffd-unit-tests.c:1046');
  }

  await pipeWrite(u, gopts, 'uffd-unit-tests.c:1052');
  await uffdMon;

  if (nrSigbus !== poisonPages / 2n) err(u, `expected to receive ${poisonPages / 2n} SIGBUS, actually received ${nrSigbus}`, 'uffd-unit-tests.c:1057');

  uffdTestPass(u);
}

async function uffdMoveHandleFaultCommon(u: Selftest, gopts: UffdGlobalTestOpts, msg: UffdMsg, args: UffdArgs, len: bigint): Promise<void> {
  if (msg.event !== 'PAGEFAULT') err(u, `unexpected msg event ${eventNumber(msg)}`, 'uffd-unit-tests.c:1072');

  if (msg.flags & (UFFD_PAGEFAULT_FLAG_WP | UFFD_PAGEFAULT_FLAG_MINOR | UFFD_PAGEFAULT_FLAG_WRITE))
    err(u, `unexpected fault type ${msg.flags}`, 'uffd-unit-tests.c:1076');

  let offset = msg.address - gopts.areaDst;
  offset &= ~(len - 1n);

  if (await movePage(u, gopts, offset, len)) args.missingFaults++;
}

function uffdMoveHandleFault(u: Selftest, gopts: UffdGlobalTestOpts, msg: UffdMsg, args: UffdArgs): Promise<void> {
  return uffdMoveHandleFaultCommon(u, gopts, msg, args, gopts.pageSize);
}

servedAs(uffdMoveHandleFault, 'move');

async function uffdMovePmdHandleFault(u: Selftest, gopts: UffdGlobalTestOpts, msg: UffdMsg, args: UffdArgs): Promise<void> {
  return uffdMoveHandleFaultCommon(u, gopts, msg, args, await readPmdPagesize(u));
}

async function uffdMoveTestCommon(u: UffdSelftest, gopts: UffdGlobalTestOpts, chunkSize: bigint, handleFault: NonNullable<UffdArgs['handleFault']>): Promise<void> {
  const args = uffdArgs(gopts);
  let origAreaSrc = 0n;
  let origAreaDst = 0n;
  let srcOffs = 0n;
  let dstOffs = 0n;

  /* Prevent source pages from being mapped more than once */
  const r = await u.proc.madvise(gopts.areaSrc, gopts.nrPages * gopts.pageSize, MADV_DONTFORK);
  if (isErr(r)) err(u, 'madvise(MADV_DONTFORK) failure', 'uffd-unit-tests.c:1119', r);

  if (await uffdRegister(u, gopts.uffd, gopts.areaDst, gopts.nrPages * gopts.pageSize, true, false, false))
    err(u, 'register failure', 'uffd-unit-tests.c:1123');

  args.handleFault = handleFault;
  const uffdMon = u.program.thread(() => uffdPollThread(u, args));

  const stepSize = chunkSize / gopts.pageSize;
  let stepCount = gopts.nrPages / stepSize;

  if (chunkSize > gopts.pageSize) {
    const alignedSrc = ALIGN_UP(gopts.areaSrc, chunkSize);
    const alignedDst = ALIGN_UP(gopts.areaDst, chunkSize);

    if (alignedSrc !== gopts.areaSrc || alignedDst !== gopts.areaDst) {
      srcOffs = (alignedSrc - gopts.areaSrc) / gopts.pageSize;
      dstOffs = (alignedDst - gopts.areaDst) / gopts.pageSize;
      stepCount--;
    }
    origAreaSrc = gopts.areaSrc;
    origAreaDst = gopts.areaDst;
    gopts.areaSrc = alignedSrc;
    gopts.areaDst = alignedDst;
  }

  const verify = (i: bigint): bigint => gopts.countVerify?.[Number(i)] ?? 0n;

  // The loop's loads of the counts, in its order, with the values it checks them against: in one
  // call where the target can, stopping where one is not (harness/user-memory.ts's checkLoop())
  const addrs: bigint[] = [];
  const expected: bigint[] = [];
  for (let nr = 0n; nr < stepCount * stepSize; nr += stepSize) {
    for (let i = 0n; i < stepSize; i++) addrs.push(areaCount(gopts.areaSrc, nr + i, gopts)), expected.push(verify(srcOffs + nr + i));
    for (let i = 0n; i < stepSize; i++) addrs.push(areaCount(gopts.areaDst, nr + i, gopts)), expected.push(verify(dstOffs + nr + i));
    for (let i = 0n; i < stepSize; i++) addrs.push(areaCount(gopts.areaSrc, nr + i, gopts)), expected.push(0n);
  }
  const loads = checkLoop(u.proc, addrs, expected, false);
  let next = 0;
  /** `*area_count(area, nr + i)`, the loop's next load */
  const count = async (): Promise<bigint> => {
    const r = await loads.at(next++);
    if (!r.ok) throw new KilledBySignal(r.signal, r.addr);
    return r.value;
  };

  /*
   * Read each of the pages back using the UFFD-registered mapping. We
   * expect that the first time we touch a page, it will result in a missing
   * fault. uffd_poll_thread will resolve the fault by moving source
   * page to destination.
   */
  for (let nr = 0n; nr < stepCount * stepSize; nr += stepSize) {
    /* Check area_src content */
    for (let i = 0n; i < stepSize; i++) {
      const c = await count();
      if (c !== verify(srcOffs + nr + i))
        err(u, `nr ${nr + i} source memory invalid ${c} ${verify(srcOffs + nr + i)}\n`, 'uffd-unit-tests.c:1160');
    }

    /* Faulting into area_dst should move the page or the huge page */
    for (let i = 0n; i < stepSize; i++) {
      const c = await count();
      if (c !== verify(dstOffs + nr + i)) err(u, `nr ${nr} memory corruption ${c} ${verify(dstOffs + nr + i)}\n`, 'uffd-unit-tests.c:1168');
    }

    /* Re-check area_src content which should be empty */
    for (let i = 0n; i < stepSize; i++) {
      const c = await count();
      if (c !== 0n) err(u, `nr ${nr} move failed ${c} ${verify(srcOffs + nr + i)}\n`, 'uffd-unit-tests.c:1176');
    }
  }
  if (chunkSize > gopts.pageSize) {
    gopts.areaSrc = origAreaSrc;
    gopts.areaDst = origAreaDst;
  }

  await pipeWrite(u, gopts, 'uffd-unit-tests.c:1186');
  await uffdMon;

  if (BigInt(args.missingFaults) !== stepCount || args.minorFaults !== 0) uffdTestFail(u, 'stats check error');
  else uffdTestPass(u);
}

function uffdMoveTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  return uffdMoveTestCommon(u, gopts, gopts.pageSize, uffdMoveHandleFault);
}

async function uffdMovePmdTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  const r = await u.proc.madvise(gopts.areaDst, gopts.nrPages * gopts.pageSize, MADV_HUGEPAGE);
  if (isErr(r)) err(u, 'madvise(MADV_HUGEPAGE) failure', 'uffd-unit-tests.c:1204', r);
  await uffdMoveTestCommon(u, gopts, await readPmdPagesize(u), uffdMovePmdHandleFault);
}

async function uffdMovePmdSplitTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  const r = await u.proc.madvise(gopts.areaDst, gopts.nrPages * gopts.pageSize, MADV_NOHUGEPAGE);
  if (isErr(r)) err(u, 'madvise(MADV_NOHUGEPAGE) failure', 'uffd-unit-tests.c:1212', r);
  await uffdMoveTestCommon(u, gopts, await readPmdPagesize(u), uffdMovePmdHandleFault);
}

function uffdioVerifyResults(u: UffdSelftest, name: string, ret: number, error: Errno | null, result: bigint): boolean {
  /*
   * Should always return -1 with errno=EAGAIN, with corresponding
   * result field updated in ioctl() args to be -EAGAIN too
   * (e.g. copy.copy field for UFFDIO_COPY).
   */
  if (ret !== -1) {
    uffdTestFail(u, `${name} should have returned -1`);
    return false;
  }

  if (error?.name !== 'EAGAIN') {
    uffdTestFail(u, `${name} should have errno==EAGAIN`);
    return false;
  }

  if (result !== -EAGAIN) {
    uffdTestFail(u, `${name} should have been updated for -EAGAIN`);
    return false;
  }

  return true;
}

/*
 * This defines a function to test one ioctl.  Note that here "field" can
 * be 1 or anything not -EAGAIN.  With that initial value set, we can
 * verify later that it should be updated by kernel (when -EAGAIN
 * returned), by checking whether it is also updated to -EAGAIN.
 *
 * The rest of the argument is zero, as `struct uffdio_##name args = { .field = 1 }` leaves it.
 */
async function uffdioMmapChangingTest(u: UffdSelftest, name: string, ioctl: Promise<{ error: Errno | null; progress: bigint | null }>): Promise<boolean> {
  const r = await ioctl;
  return uffdioVerifyResults(u, name, r.error ? -1 : 0, r.error, r.progress === null ? 1n : s64(r.progress));
}

const THR_STATE_UNKNOWN = 0;
const THR_STATE_UNINTERRUPTIBLE = 1;

function sleepShort(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1)); // usleep(1000)
}

async function threadStateGet(u: UffdSelftest, tid: number): Promise<number> {
  const header = 'State:\t';

  const text = await u.proc.readFile(`/proc/${tid}/status`);
  if (isErr(text)) return THR_STATE_UNKNOWN;

  for (const line of text.split('\n')) {
    const p = line.indexOf(header);
    if (p >= 0) {
      /* For example, "State:\tD (disk sleep)" */
      const c = line[p + header.length];
      return c === 'D' ? THR_STATE_UNINTERRUPTIBLE : THR_STATE_UNKNOWN;
    }
  }

  return THR_STATE_UNKNOWN;
}

async function threadStateUntil(u: UffdSelftest, tid: number, state: number): Promise<void> {
  let s: number;

  do {
    s = await threadStateGet(u, tid);
    await sleepShort();
  } while (s !== state);
}

async function uffdConsumeMessage(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  const msg: { value: UffdMsg | null } = { value: null };

  while (await uffdReadMsg(u, gopts, msg));
}

async function uffdMmapChangingTest(u: UffdSelftest, gopts: UffdGlobalTestOpts): Promise<void> {
  const { proc } = u;

  if (await uffdRegister(u, gopts.uffd, gopts.areaDst, gopts.nrPages * gopts.pageSize, true, false, false))
    err(u, 'uffd_register() failed', 'uffd-unit-tests.c:1357');

  /* Create a thread to generate the racy event */
  const thread = await proc.threadCreate();
  if (isErr(thread)) err(u, 'pthread_create() failed', 'uffd-unit-tests.c:1362', thread);

  /*
   * This stores the real PID (which can be different from how tid is
   * defined..) for the child thread: the thread's gettid().
   */
  const pid = thread.tid;
  // uffd_mmap_changing_thread()
  const tid = u.program.thread(async () => {
    /* Inject an event, this will hang solid until the event read */
    const ret = await thread.madvise(gopts.areaDst, gopts.pageSize, MADV_REMOVE);
    if (isErr(ret)) err(u, 'madvise(MADV_REMOVE) failed', 'uffd-unit-tests.c:1332', ret);
    return null;
  });

  /* Wait until the thread hangs at REMOVE event */
  await threadStateUntil(u, pid, THR_STATE_UNINTERRUPTIBLE);

  if (!(await uffdioMmapChangingTest(u, 'UFFDIO_COPY', proc.uffdioCopy(gopts.uffd, 0n, 0n, 0n, 0n)))) return;

  if (!(await uffdioMmapChangingTest(u, 'UFFDIO_ZEROPAGE', proc.uffdioZeropage(gopts.uffd, 0n, 0n, 0n)))) return;

  if (!(await uffdioMmapChangingTest(u, 'UFFDIO_MOVE', proc.uffdioMove(gopts.uffd, 0n, 0n, 0n, 0n)))) return;

  if (!(await uffdioMmapChangingTest(u, 'UFFDIO_POISON', proc.uffdioPoison(gopts.uffd, 0n, 0n, 0n)))) return;

  if (!(await uffdioMmapChangingTest(u, 'UFFDIO_CONTINUE', proc.uffdioContinue(gopts.uffd, 0n, 0n, 0n)))) return;

  /*
   * All succeeded above!  Recycle everything.  Start by reading the
   * event so as to kick the thread roll again..
   */
  await uffdConsumeMessage(u, gopts);

  await tid;

  uffdTestPass(u);
}

async function preventHugepages(u: Selftest, gopts: UffdGlobalTestOpts, errmsg: { msg: string | null }): Promise<number> {
  /* This should be done before source area is populated */
  const r = await u.proc.madvise(gopts.areaSrc, gopts.nrPages * gopts.pageSize, MADV_NOHUGEPAGE);
  if (isErr(r)) {
    /* Ignore only if CONFIG_TRANSPARENT_HUGEPAGE=n */
    if (r.name !== 'EINVAL') {
      errmsg.msg = 'madvise(MADV_NOHUGEPAGE) failed';
      return -r.code;
    }
  }
  return 0;
}

async function requestHugepages(u: Selftest, gopts: UffdGlobalTestOpts, errmsg: { msg: string | null }): Promise<number> {
  /* This should be done before source area is populated */
  const r = await u.proc.madvise(gopts.areaSrc, gopts.nrPages * gopts.pageSize, MADV_HUGEPAGE);
  if (isErr(r)) {
    errmsg.msg = r.name === 'EINVAL' ? 'CONFIG_TRANSPARENT_HUGEPAGE is not set' : 'madvise(MADV_HUGEPAGE) failed';
    return -r.code;
  }
  return 0;
}

const uffdMoveTestCaseOps: UffdTestCaseOps = {
  postAlloc: preventHugepages,
};

const uffdMoveTestPmdCaseOps: UffdTestCaseOps = {
  postAlloc: requestHugepages,
};

/*
 * Test the returned uffdio_register.ioctls with different register modes.
 * Note that _UFFDIO_ZEROPAGE is tested separately in the zeropage test.
 */
async function doRegisterIoctlsTest(u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs, miss: boolean, wp: boolean, minor: boolean): Promise<void> {
  let expected = 1n << _UFFDIO_WAKE;
  const memType = args.memType;

  const { ret, ioctls } = await uffdRegisterWithIoctls(u, gopts.uffd, gopts.areaDst, gopts.pageSize, miss, wp, minor);
  const [m, w, n] = [Number(miss), Number(wp), Number(minor)];

  /*
   * Handle special cases of UFFDIO_REGISTER here where it should
   * just fail with -EINVAL first..
   *
   * Case 1: register MINOR on anon
   * Case 2: register with no mode selected
   */
  if ((minor && memType.memFlag === MEM_ANON) || (!miss && !wp && !minor)) {
    if (ret !== -ERRNO.EINVAL) err(u, `register (miss=${m}, wp=${w}, minor=${n}) failed with wrong errno=${ret}`, 'uffd-unit-tests.c:1465', -ret);
    return;
  }

  /* UFFDIO_REGISTER should succeed, then check ioctls returned */
  if (miss) expected |= 1n << _UFFDIO_COPY;
  if (wp) expected |= 1n << _UFFDIO_WRITEPROTECT;
  if (minor) expected |= 1n << _UFFDIO_CONTINUE;

  if ((ioctls & expected) !== expected)
    err(
      u,
      `unexpected uffdio_register.ioctls (miss=${m}, wp=${w}, minor=${n}): expected=0x${expected.toString(16)}, returned=0x${ioctls.toString(16)}`,
      'uffd-unit-tests.c:1479',
      -ret,
    );

  if (await uffdUnregister(u, gopts.uffd, gopts.areaDst, gopts.pageSize)) err(u, 'unregister', 'uffd-unit-tests.c:1484');
}

async function uffdRegisterIoctlsTest(u: UffdSelftest, gopts: UffdGlobalTestOpts, args: UffdTestArgs): Promise<void> {
  for (const miss of [false, true]) for (const wp of [false, true]) for (const minor of [false, true]) await doRegisterIoctlsTest(u, gopts, args, miss, wp, minor);

  uffdTestPass(u);
}

const uffdTests: readonly UffdTestCase[] = [
  {
    /* Test returned uffdio_register.ioctls. */
    name: 'register-ioctls',
    uffdFn: uffdRegisterIoctlsTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired:
      UFFD_FEATURE_MISSING_HUGETLBFS |
      UFFD_FEATURE_MISSING_SHMEM |
      UFFD_FEATURE_PAGEFAULT_FLAG_WP |
      UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
      UFFD_FEATURE_MINOR_HUGETLBFS |
      UFFD_FEATURE_MINOR_SHMEM,
  },
  {
    name: 'zeropage',
    uffdFn: uffdZeropageTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired: 0n,
  },
  {
    name: 'move',
    uffdFn: uffdMoveTest,
    memTargets: MEM_ANON,
    uffdFeatureRequired: UFFD_FEATURE_MOVE,
    testCaseOps: uffdMoveTestCaseOps,
  },
  {
    name: 'move-pmd',
    uffdFn: uffdMovePmdTest,
    memTargets: MEM_ANON,
    uffdFeatureRequired: UFFD_FEATURE_MOVE,
    testCaseOps: uffdMoveTestPmdCaseOps,
  },
  {
    name: 'move-pmd-split',
    uffdFn: uffdMovePmdSplitTest,
    memTargets: MEM_ANON,
    uffdFeatureRequired: UFFD_FEATURE_MOVE,
    testCaseOps: uffdMoveTestPmdCaseOps,
  },
  {
    name: 'wp-fork',
    uffdFn: uffdWpForkTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired: UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  },
  {
    name: 'wp-fork-with-event',
    uffdFn: uffdWpForkWithEventTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired:
      UFFD_FEATURE_PAGEFAULT_FLAG_WP |
      UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
      /* when set, child process should inherit uffd-wp bits */
      UFFD_FEATURE_EVENT_FORK,
  },
  {
    name: 'wp-fork-pin',
    uffdFn: uffdWpForkPinTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired: UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  },
  {
    name: 'wp-fork-pin-with-event',
    uffdFn: uffdWpForkPinWithEventTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired:
      UFFD_FEATURE_PAGEFAULT_FLAG_WP |
      UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
      /* when set, child process should inherit uffd-wp bits */
      UFFD_FEATURE_EVENT_FORK,
  },
  {
    name: 'wp-unpopulated',
    uffdFn: uffdWpUnpopulatedTest,
    memTargets: MEM_ANON,
    uffdFeatureRequired: UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED,
  },
  {
    name: 'minor',
    uffdFn: uffdMinorTest,
    memTargets: MEM_SHMEM | MEM_HUGETLB,
    uffdFeatureRequired: UFFD_FEATURE_MINOR_HUGETLBFS | UFFD_FEATURE_MINOR_SHMEM,
  },
  {
    name: 'minor-wp',
    uffdFn: uffdMinorWpTest,
    memTargets: MEM_SHMEM | MEM_HUGETLB,
    uffdFeatureRequired:
      UFFD_FEATURE_MINOR_HUGETLBFS |
      UFFD_FEATURE_MINOR_SHMEM |
      UFFD_FEATURE_PAGEFAULT_FLAG_WP |
      /*
       * HACK: here we leveraged WP_UNPOPULATED to detect whether
       * minor mode supports wr-protect.  There's no feature flag
       * for it so this is the best we can test against.
       */
      UFFD_FEATURE_WP_UNPOPULATED,
  },
  {
    name: 'minor-collapse',
    uffdFn: uffdMinorCollapseTest,
    /* MADV_COLLAPSE only works with shmem */
    memTargets: MEM_SHMEM,
    /* We can't test MADV_COLLAPSE, so try our luck */
    uffdFeatureRequired: UFFD_FEATURE_MINOR_SHMEM,
  },
  {
    name: 'sigbus',
    uffdFn: uffdSigbusTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired: UFFD_FEATURE_SIGBUS | UFFD_FEATURE_EVENT_FORK,
  },
  {
    name: 'sigbus-wp',
    uffdFn: uffdSigbusWpTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired: UFFD_FEATURE_SIGBUS | UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  },
  {
    name: 'events',
    uffdFn: uffdEventsTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired: UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE,
  },
  {
    name: 'events-wp',
    uffdFn: uffdEventsWpTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired:
      UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  },
  {
    name: 'poison',
    uffdFn: uffdPoisonTest,
    memTargets: MEM_ALL,
    uffdFeatureRequired: UFFD_FEATURE_POISON,
  },
  {
    name: 'mmap-changing',
    uffdFn: uffdMmapChangingTest,
    /*
     * There's no point running this test over all mem types as
     * they share the same code paths.
     *
     * Choose shmem for simplicity, because (1) shmem supports
     * MINOR mode to cover UFFDIO_CONTINUE, and (2) shmem is
     * almost always available (unlike hugetlb).  Here we
     * abused SHMEM for UFFDIO_MOVE, but the test we want to
     * cover doesn't yet need the correct memory type..
     */
    memTargets: MEM_SHMEM,
    /*
     * Any UFFD_FEATURE_EVENT_* should work to trigger the
     * race logically, but choose the simplest (REMOVE).
     *
     * Meanwhile, since we'll cover quite a few new ioctl()s
     * (CONTINUE, POISON, MOVE), skip this test for old kernels
     * by choosing all of them.
     */
    uffdFeatureRequired: UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_MOVE | UFFD_FEATURE_POISON | UFFD_FEATURE_MINOR_SHMEM,
  },
];

/** `!strstr(test->name, test_filter)` */
const filteredOut = (test: UffdTestCase, testFilter: string | null): boolean => testFilter !== null && !test.name.includes(testFilter);

function uffdCountTests(testFilter: string | null): number {
  let count = 0;

  if (testFilter === null) count += 2; /* test_uffd_api(false) + test_uffd_api(true) */

  for (const test of uffdTests) {
    if (filteredOut(test, testFilter)) continue;
    for (const memType of memTypes) if (test.memTargets & memType.memFlag) count++;
  }

  return count;
}

async function uffdSetupHugetlb(t: Selftest): Promise<bigint> {
  await hugetlbSaveSettings(t);
  const hpSize = await defaultHugePageSize(t);

  if (!hpSize) return 0n;

  /* need twice UFFD_TEST_MEM_SIZE, one for src area and one for dst */
  const nrHugepages = (2n * MAX(UFFD_TEST_MEM_SIZE, hpSize * 2n)) / hpSize;
  await hugetlbSetNrDefaultPages(t, nrHugepages);

  if ((await hugetlbFreeDefaultPages(t)) < nrHugepages) return 0n;

  return hpSize;
}

/** main(argc, argv) with `-f TESTNAME` given as testFilter (-l and -h list and print usage: not ported) */
async function main(t: Selftest, testFilter: string | null): Promise<void> {
  const program = new Program();
  const u: UffdSelftest = { ...t, proc: program.proc(t.proc), program, current: { test: '' } };
  const mutexSize = await pthreadMutexSize(u);

  try {
    const hugepageSize = await uffdSetupHugetlb(t); // the atexit() restore must outlive the program's calls

    u.ksft.printHeader();
    u.ksft.setPlan(uffdCountTests(testFilter));

    if (testFilter === null) {
      await testUffdApi(u, false);
      await testUffdApi(u, true);
    }

    for (const test of uffdTests) {
      if (filteredOut(test, testFilter)) continue;
      for (const memType of memTypes) {
        /* Initialize global test options */
        const gopts: UffdGlobalTestOpts = {
          nrParallel: 0n,
          nrPages: 0n,
          nrPagesPerCpu: 0n,
          pageSize: 0n,
          areaSrc: 0n,
          areaSrcAlias: 0n,
          areaDst: 0n,
          areaDstAlias: 0n,
          areaRemap: 0n,
          uffd: 0,
          uffdFlags: 0,
          finished: 0,
          pipefd: null,
          testType: 0,
          mapShared: memType.shared,
          testUffdioWp: false,
          countVerify: null,
          testUffdioCopyEexist: false,
          readyForFork: false,
          ops: memType.memOps,
          caseOps: test.testCaseOps ?? null,
          mutexSize,
        };

        if (!(test.memTargets & memType.memFlag)) continue;

        uffdTestStart(u, `${test.name} on ${memType.name}`);
        if (memType.memFlag & (MEM_HUGETLB_PRIVATE | MEM_HUGETLB)) {
          gopts.pageSize = hugepageSize;
          if (gopts.pageSize === 0n) {
            uffdTestSkip(u, 'not enough HugeTLB pages');
            continue;
          }
        } else {
          gopts.pageSize = u.pagesize;
        }

        /* Ensure we have at least 2 pages */
        gopts.nrPages = MAX(UFFD_TEST_MEM_SIZE, gopts.pageSize * 2n) / gopts.pageSize;

        gopts.nrParallel = 1n;

        /* Initialize test arguments */
        const args: UffdTestArgs = { memType };

        if (!(await uffdFeatureSupported(u, test))) {
          uffdTestSkip(u, 'feature missing');
          continue;
        }
        const errmsg: { msg: string | null } = { msg: null };
        if (await uffdTestCtxInit(u, gopts, test.uffdFeatureRequired, errmsg)) {
          uffdTestSkip(u, errmsg.msg ?? '(null)');
          continue;
        }
        await test.uffdFn(u, gopts, args);
        await uffdTestCtxClear(u, gopts);
      }
    }

    u.ksft.finished();
  } catch (e) {
    // exit() runs the atexit() handler that restores the HugeTLB settings; anything else
    // (a fatal signal, a target's failure) ends the program without it: restore them here
    if (e instanceof Error) await hugetlbRestoreSettings(t).catch(() => {});
    throw e;
  } finally {
    program.exit(new Error('the program has ended'));
  }
}

/** What a complete run prints, in order: every test on each memory type it targets (wp-fork-pin* skip everywhere: no gup_test). */
function testNames(testFilter: string | null): string[] {
  const names = testFilter === null ? ['UFFDIO_API (with syscall)', 'UFFDIO_API (with /dev/userfaultfd)'] : [];
  for (const test of uffdTests) {
    if (filteredOut(test, testFilter)) continue;
    for (const memType of memTypes) {
      if (!(test.memTargets & memType.memFlag)) continue;
      const name = `${test.name} on ${memType.name}`;
      names.push(test.name.startsWith('wp-fork-pin') ? `${name} (Possibly CONFIG_GUP_TEST missing or unprivileged)` : name);
    }
  }
  return names;
}

/** The program, as run with `-f testFilter` (the tests whose name holds it), or without -f (null). */
export function uffdUnitTestsSuite(testFilter: string | null = null): Suite {
  return {
    name: 'uffd-unit-tests',
    source: 'tools/testing/selftests/mm/uffd-unit-tests.c',
    tests: testNames(testFilter),
    run: (t) => main(t, testFilter),
    filtered: (filter) => uffdUnitTestsSuite(filter),
  };
}

export const uffdUnitTests: Suite = uffdUnitTestsSuite();
