// The Target API: everything a ported test observes goes through it, so the
// same test runs on the reference model, a plugged-in model, or a real
// kernel behind a pipe. Calls mirror the system calls and /proc files the C
// selftests use; failures come back as Errno values, as a syscall returns
// them. Asynchronous because a real kernel sits behind I/O, and because a
// store to a write-protected page can block until a handler resolves it.

import type { Errno, Ret } from '../uapi/linux.ts';

export interface TargetInfo {
  /** as given to --target, e.g. "reference:rfc" or "linux-host" */
  readonly name: string;
  readonly arch: 'arm64' | 'x86_64' | string;
  /** the PTE layout a model uses; null for a real kernel */
  readonly layout: string | null;
  /** the kernel version modelled or running, e.g. "6.12" */
  readonly kernel: string;
  readonly pageSize: number;
}

/** What the target can do; informational (tests probe like the C tests do). */
export interface Caps {
  readonly softDirty: boolean;
  readonly uffdWp: boolean;
  readonly pagemapScan: boolean;
  readonly thp: boolean;
  readonly hugetlb: boolean;
  readonly swap: boolean;
  /** raw page-table descriptors can be read (descriptors()) */
  readonly introspect: boolean;
}

export interface Target {
  info(): Promise<TargetInfo>;
  capabilities(): Promise<Caps>;
  /** A fresh process with its own address space. */
  spawn(): Promise<Proc>;
  close(): Promise<void>;
}

/** A user-space load or store: done, or the signal it raised. */
export type MemResult =
  | { readonly ok: true; readonly data: Uint8Array }
  | { readonly ok: false; readonly signal: 'SIGSEGV' | 'SIGBUS'; readonly addr: bigint };

/**
 * What Proc.checkEach() did: how many addresses it went through, and why it
 * stopped before the end; with an OnSignal, the signals it handled.
 */
export interface CheckResult {
  readonly done: number;
  /**
   * null: every address; else the value a load found where another was expected, the signal of a
   * load or store, or (handler) the calls of the last event, at addrs[done], where one did not go through whole
   */
  readonly stop: null | { readonly value: bigint } | { readonly signal: 'SIGSEGV' | 'SIGBUS'; readonly addr: bigint } | { readonly handler: true };
  /** the signals handled as OnSignal says, in order: at addrs[i], skipped, or its calls made (then the address again) */
  readonly events?: readonly { readonly i: number; readonly signal: 'SIGSEGV' | 'SIGBUS'; readonly addr: bigint; readonly skip: boolean }[];
}

/** What Proc.checkFill() did: how many addresses' bytes all matched, and why it stopped before the end. */
export interface FillCheck {
  readonly done: number;
  /** null: every address; else the first other byte (its offset from addrs[done], and the byte found), or the signal of a load */
  readonly stop: null | { readonly offset: bigint; readonly value: number } | { readonly signal: 'SIGSEGV' | 'SIGBUS'; readonly addr: bigint };
}

/** What move_pages(2) returned, and the status array it filled. */
export interface MovePages {
  readonly ret: number;
  readonly status: readonly number[];
}

/** One page's reading by Proc.pageReadings(): its pagemap entry, and PAGEMAP_SCAN's result where asked. */
export interface PageReading {
  readonly entry: Ret<BigUint64Array>;
  readonly scan: Ret<PmScanResult> | null;
}

/** A field of a LoopCall for the loop's address i: base + i * stride. */
export interface Strided {
  readonly base: bigint;
  readonly stride: bigint;
}

/** A Proc call a loop's signal handler makes for the loop's address i. */
export type LoopCall =
  | { readonly call: 'uffdioCopy'; readonly fd: number; readonly dst: Strided; readonly src: Strided; readonly len: bigint; readonly mode: bigint }
  | { readonly call: 'uffdioWriteprotect'; readonly fd: number; readonly start: Strided; readonly len: bigint; readonly mode: bigint };

/**
 * A test's signal handler in a loop of checkEach(), as data: the k-th signal
 * at one address takes then[k], 'skip' (on to the next address, nothing
 * stored back: the C loop's `continue` from its sigsetjmp()) or calls made in
 * turn, then the address again. Past the list, or after a call that did not
 * go through whole (failed, or a uffd ioctl short of its len), the loop stops.
 */
export interface OnSignal {
  readonly then: readonly ('skip' | readonly LoopCall[])[];
}

/**
 * struct pm_scan_arg, with the output vector given by its length. flags and
 * the four masks are u64 fields: a negative number stands for its two's
 * complement, as a C int or long -1 is sign-extended into them (~0).
 */
export interface PmScanArg {
  readonly start: bigint;
  readonly end: bigint;
  readonly flags: number;
  /** u64: ULONG_MAX is 2^64 - 1 */
  readonly maxPages: bigint;
  readonly categoryInverted: number;
  readonly categoryMask: number;
  readonly categoryAnyofMask: number;
  readonly returnMask: number;
  /** vec_len: how many page_region entries the caller's buffer holds */
  readonly vecLen: number;
  /** the vec pointer is not mapped (vm_util probes support this way: EFAULT) */
  readonly badVec?: boolean;
  /** the vec pointer is NULL (with a nonzero vec_len: EINVAL); not together with badVec */
  readonly nullVec?: boolean;
}

export interface PageRegion {
  readonly start: bigint;
  readonly end: bigint;
  readonly categories: number;
}

export interface PmScanResult {
  /** the ioctl's return value: regions filled */
  readonly ret: number;
  readonly regions: readonly PageRegion[];
  readonly walkEnd: bigint;
}

/** A directory entry as readdir(3) returns it (d_type named). */
export interface DirEntry {
  readonly name: string;
  readonly type: 'dir' | 'file' | 'symlink' | 'other';
}

/** struct stat: the fields a port reads */
export interface Stat {
  readonly size: bigint;
}

/**
 * A thread of a process (pthread_create()). Its calls are served in the
 * order it made them, and run concurrently with the calls of the process's
 * other threads (on the model: in the order made, across all threads).
 */
export interface Thread {
  /** gettid() of the thread */
  readonly tid: number;
  /** madvise(2) from this thread: it may wait in the kernel (a non-cooperative event) while the process serves on */
  madvise(addr: bigint, length: bigint, advice: number): Promise<Ret<0>>;
  /** `__atomic_add_fetch((int *)a, delta, __ATOMIC_SEQ_CST)` at each address in turn; stops at the first signal */
  atomicAdd(addrs: readonly bigint[], delta: number): Promise<MemResult>;
  /** getrusage(RUSAGE_THREAD): the minor faults the thread has taken */
  minflt(): Promise<Ret<bigint>>;
}

/** struct uffd_msg, as read(2) of a userfaultfd gives it: its event, and that event's arguments */
export type UffdMsg =
  | {
      readonly event: 'PAGEFAULT';
      /** UFFD_PAGEFAULT_FLAG_* */
      readonly flags: bigint;
      readonly address: bigint;
      /** the faulting thread's tid with UFFD_FEATURE_THREAD_ID, else 0 */
      readonly ptid: number;
    }
  | { readonly event: 'FORK'; readonly ufd: number }
  | { readonly event: 'REMAP'; readonly from: bigint; readonly to: bigint; readonly len: bigint }
  | { readonly event: 'REMOVE' | 'UNMAP'; readonly start: bigint; readonly end: bigint };

/**
 * A userfaultfd ioctl that reports its progress in its own argument
 * (uffdio_copy.copy, uffdio_zeropage.zeropage): the ioctl's failure (null
 * when it returned 0), and that field as the kernel wrote it (bytes done,
 * or a negative errno); null where the kernel failed before writing it,
 * so the caller's own value is still there.
 */
export interface UffdioProgress {
  readonly error: Errno | null;
  readonly progress: bigint | null;
}

/** struct pollfd without its revents: the descriptor and the events (POLLIN, ...) polled for */
export interface PollFd {
  readonly fd: number;
  readonly events: number;
}

/**
 * The selftests' userfaultfd handler thread: uffd-common.c's
 * uffd_poll_thread() polling the userfaultfd and a pipe, with the fault
 * handler `missing` names, over uffd_global_test_opts' areas.
 */
export interface UffdServer {
  readonly uffd: number;
  /** the pipe's read end: its byte stops the thread */
  readonly pipe: number;
  readonly pageSize: bigint;
  /** area_dst (a REMAP message moves it), area_src, area_dst_alias, and nr_pages * page_size */
  readonly dst: bigint;
  readonly src: bigint;
  readonly dstAlias: bigint;
  readonly size: bigint;
  /**
   * A missing fault: UFFDIO_COPY of its page (uffd_handle_page_fault(), which
   * also lifts a WP fault and bit-flips a MINOR one), UFFDIO_MOVE of the
   * moveLen bytes around it (uffd_move_handle_fault()), or a copy of an odd
   * page and UFFDIO_POISON of an even one (uffd_poison_handle_fault())
   */
  readonly missing: 'copy' | 'move' | 'poison';
  readonly moveLen: bigint;
  /** args->apply_wp: pages copied or continued write-protected */
  readonly applyWp: boolean;
}

/** A page-table level as Linux names it; folded levels are not reported. */
export type PgLevel = 'pgd' | 'p4d' | 'pud' | 'pmd' | 'pte';

/** One entry of a walk: its raw value and where it sits in physical memory. */
export interface DescriptorEntry {
  readonly level: PgLevel;
  readonly value: bigint;
  readonly phys: bigint;
}

/** The raw walk of one user address, as the kernel's page tables hold it. */
export interface Descriptors {
  /** from the top level down to the leaf, a none entry, or a non-present one */
  readonly entries: readonly DescriptorEntry[];
  /** vm_flags and pgprot_val(vm_page_prot) of the VMA holding the address; null outside any VMA */
  readonly vmFlags: bigint | null;
  readonly pageProt: bigint | null;
}

/**
 * One process. It serves its calls in the order they were made, each one
 * taking effect after the one made before it, even when the caller has not
 * awaited that one yet (harness/in-order.ts sends calls together that way):
 * loads and stores on worker threads (a process with a userfaultfd, on a
 * real kernel) are the one exception, as a thread's would be.
 */
export interface Proc {
  readonly pid: number;
  mmap(addr: bigint, length: bigint, prot: number, flags: number, fd: number, offset: bigint): Promise<Ret<bigint>>;
  munmap(addr: bigint, length: bigint): Promise<Ret<0>>;
  mprotect(addr: bigint, length: bigint, prot: number): Promise<Ret<0>>;
  mremap(oldAddr: bigint, oldSize: bigint, newSize: bigint, flags: number, newAddr?: bigint): Promise<Ret<bigint>>;
  madvise(addr: bigint, length: bigint, advice: number): Promise<Ret<0>>;
  open(path: string, flags: number, mode?: number): Promise<Ret<number>>;
  close(fd: number): Promise<Ret<0>>;
  unlink(path: string): Promise<Ret<0>>;
  /** swapoff(2): every page on the swap device read back in, then the device unused */
  swapoff(path: string): Promise<Ret<0>>;
  /** swapon(2) */
  swapon(path: string, flags: number): Promise<Ret<0>>;
  ftruncate(fd: number, length: bigint): Promise<Ret<0>>;
  memfdCreate(name: string, flags: number): Promise<Ret<number>>;
  /** write(2) to a descriptor at its file position: the bytes written */
  writeFd(fd: number, data: Uint8Array): Promise<Ret<number>>;
  /** stat(2) */
  stat(path: string): Promise<Ret<Stat>>;
  /** opendir() and readdir() to the end: the entries but . and .., in the order the file system gives them */
  listDir(path: string): Promise<Ret<readonly DirEntry[]>>;
  /** System V shared memory: shmget(2), shmat(2), shmdt(2) */
  shmget(key: number, size: bigint, shmflg: number): Promise<Ret<number>>;
  shmat(shmid: number, addr: bigint, shmflg: number): Promise<Ret<bigint>>;
  shmdt(addr: bigint): Promise<Ret<0>>;
  /** shmctl(2) with a command that takes no buffer (IPC_RMID) */
  shmctl(shmid: number, cmd: number): Promise<Ret<0>>;
  /**
   * fork(): the child, a process of its own with a copy of this one's
   * address space and descriptors; its exit() ends it, as _exit() and the
   * parent's waitpid() would. With a userfaultfd asking for
   * UFFD_FEATURE_EVENT_FORK it returns once a read has taken the FORK
   * message (a pending call while the process serves on).
   */
  fork(): Promise<Ret<Proc>>;
  /** pipe2(2): the read end, then the write end */
  pipe2(flags: number): Promise<Ret<readonly [number, number]>>;
  /** read(2) of up to count bytes from a descriptor at its position (a pipe, a file): the bytes read */
  readFd(fd: number, count: number): Promise<Ret<Uint8Array>>;
  /**
   * poll(2): each descriptor's revents, in order. With none ready it waits
   * up to timeoutMs (-1: until one is), a pending call while the process
   * serves on.
   */
  poll(fds: readonly PollFd[], timeoutMs: number): Promise<Ret<readonly number[]>>;
  /** fcntl(2) with an int argument (F_GETFD, F_GETFL, F_SETFL): the call's return value */
  fcntl(fd: number, cmd: number, arg: number): Promise<Ret<number>>;
  /** fallocate(2) */
  fallocate(fd: number, mode: number, offset: bigint, len: bigint): Promise<Ret<0>>;
  /**
   * move_pages(2) of this process's pages: each to nodes[i], or, with nodes
   * null, where each one is. ret is the pages not migrated; status[i] is
   * page i's node, or a negated errno (-ENOENT: no page; -EFAULT: no area,
   * or the zero page; -EACCES: shared without MPOL_MF_MOVE_ALL)
   */
  movePages(addrs: readonly bigint[], nodes: readonly number[] | null, flags: number): Promise<Ret<MovePages>>;
  /** pthread_create(): a thread of this process that serves calls */
  threadCreate(): Promise<Ret<Thread>>;
  /**
   * aligned_alloc()/memalign(): a mapping of its own on every target (glibc's choice above its
   * mmap threshold), trimmed to the alignment; free() unmaps it whole
   */
  alignedAlloc(alignment: bigint, size: bigint): Promise<Ret<bigint>>;
  free(addr: bigint): Promise<void>;
  /** loads from user memory, as the process itself would */
  read(addr: bigint, length: number): Promise<MemResult>;
  /** stores to user memory, as the process itself would */
  write(addr: bigint, data: Uint8Array): Promise<MemResult>;
  /** memset(addr, byte, length), as the process itself would: stores in address order */
  fill(addr: bigint, length: bigint, byte: number): Promise<MemResult>;
  /**
   * `p[b] = ~p[b]` for each of the length bytes from addr (a load, then a
   * store), a byte loop of the program's own. Optional:
   * harness/user-memory.ts's invert() loads and stores the bytes where a
   * target has none.
   */
  invert?(addr: bigint, length: bigint): Promise<MemResult>;
  /** `((volatile char *)a)[0]++` at each address in turn (a load, then a store); stops at the first signal */
  increment(addrs: readonly bigint[]): Promise<MemResult>;
  /**
   * write(a, data) at each address in turn, as a loop of the program's own
   * stores; stops at the first signal. Optional: harness/user-memory.ts's
   * storeEach() makes the writes one by one where a target has none.
   */
  storeEach?(addrs: readonly bigint[], data: Uint8Array): Promise<MemResult>;
  /**
   * `v = *(u64 *)a; if (v != expect[i]) break;` and with storeBack
   * `*(u64 *)a = v;` at each address in turn: a test's check of each
   * page's counter (and its write back), in one call. Optional:
   * harness/user-memory.ts's checkLoop() makes the loads and stores one by
   * one where a target has none. With onSignal, a signal is handled as it
   * says; the calls of each event are then the proc's next calls, in order,
   * answered with what they did (another call in their place is an error).
   */
  checkEach?(addrs: readonly bigint[], expect: readonly bigint[], storeBack: boolean, onSignal?: OnSignal): Promise<CheckResult>;
  /**
   * fill(addrs[i], length, bytes[i]) for each address in turn, as a loop of
   * the program's own memsets; stops at the first signal. Optional:
   * harness/user-memory.ts's fillEach() makes the fills one by one where a
   * target has none.
   */
  fillEach?(addrs: readonly bigint[], length: bigint, bytes: Uint8Array): Promise<MemResult>;
  /**
   * `if (p[k] != bytes[i]) ...` over the length bytes at each address in
   * turn, a loop of the program's own loads, stopping at the first byte
   * other than its address's. Optional: harness/user-memory.ts's
   * checkFill() loads the bytes where a target has none.
   */
  checkFill?(addrs: readonly bigint[], length: bigint, bytes: Uint8Array): Promise<FillCheck>;
  /** the text of a /proc or /sys file (smaps, transparent_hugepage/enabled, ...) */
  readFile(path: string): Promise<Ret<string>>;
  /** write(2) to a /proc or /sys file (clear_refs, ...): bytes written */
  writeFile(path: string, data: string): Promise<Ret<number>>;
  /** pread(2) of /proc/self/pagemap: one entry per page from addr */
  pagemap(addr: bigint, nPages: number): Promise<Ret<BigUint64Array>>;
  /** ioctl(pagemap_fd, PAGEMAP_SCAN, &arg) */
  pagemapScan(arg: PmScanArg): Promise<Ret<PmScanResult>>;
  /**
   * A range loop's reads of each of nPages pages from addr in turn: pagemap(page, 1), then with
   * `scan` pagemapScan() of the page alone (scan's fields but start and end), as a loop of
   * vm_util.c's page_entry_is() makes them. Optional: harness/vm-util.ts reads page by page
   * where a target has none.
   */
  pageReadings?(addr: bigint, nPages: number, scan: Omit<PmScanArg, 'start' | 'end'> | null): Promise<readonly PageReading[]>;
  /**
   * The ioctl from arg.start, then again from each one's walk_end to the same end, while the
   * regions found add up to fewer than `pages` pages: each ioctl's result, in order. It stops too
   * at one that fails, one that returns more than vecLen regions, or one that ends at arg.end,
   * and may stop sooner (its caller goes on from the last walk_end). A loop of the selftests'
   * (and CRIU's); optional: harness/scan-loop.ts makes the calls one by one where a target has none.
   */
  pagemapScanUntil?(arg: PmScanArg, pages: bigint): Promise<readonly Ret<PmScanResult>[]>;
  /** userfaultfd(2) */
  userfaultfd(flags: number): Promise<Ret<number>>;
  /** ioctl(fd, UFFDIO_API): the features and ioctls the kernel offers */
  uffdioApi(fd: number, api: bigint, features: bigint): Promise<Ret<{ features: bigint; ioctls: bigint }>>;
  /** ioctl(fd, UFFDIO_REGISTER) of [start, start + len): the ioctls the range allows */
  uffdioRegister(fd: number, start: bigint, len: bigint, mode: bigint): Promise<Ret<{ ioctls: bigint }>>;
  /** ioctl(fd, UFFDIO_WRITEPROTECT): mode UFFDIO_WRITEPROTECT_MODE_WP protects, 0 resolves */
  uffdioWriteprotect(fd: number, start: bigint, len: bigint, mode: bigint): Promise<Ret<0>>;
  /** ioctl(fd, UFFDIO_UNREGISTER) of [start, start + len) */
  uffdioUnregister(fd: number, start: bigint, len: bigint): Promise<Ret<0>>;
  /** ioctl(fd, UFFDIO_COPY): len bytes from src (this process's memory) into the holes at dst; mode UFFDIO_COPY_MODE_* */
  uffdioCopy(fd: number, dst: bigint, src: bigint, len: bigint, mode: bigint): Promise<UffdioProgress>;
  /** ioctl(fd, UFFDIO_ZEROPAGE) of [start, start + len); mode UFFDIO_ZEROPAGE_MODE_DONTWAKE or 0 */
  uffdioZeropage(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress>;
  /** ioctl(fd, USERFAULTFD_IOC_NEW, flags) on an open /dev/userfaultfd: a new userfaultfd */
  userfaultfdIocNew(fd: number, flags: number): Promise<Ret<number>>;
  /** ioctl(fd, UFFDIO_CONTINUE) of [start, start + len): map the page cache's pages there; mode UFFDIO_CONTINUE_MODE_*; progress is uffdio_continue.mapped */
  uffdioContinue(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress>;
  /** ioctl(fd, UFFDIO_MOVE): len bytes of pages moved from src to dst; mode UFFDIO_MOVE_MODE_*; progress is uffdio_move.move */
  uffdioMove(fd: number, dst: bigint, src: bigint, len: bigint, mode: bigint): Promise<UffdioProgress>;
  /** ioctl(fd, UFFDIO_POISON) of [start, start + len); mode UFFDIO_POISON_MODE_DONTWAKE or 0; progress is uffdio_poison.updated */
  uffdioPoison(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress>;
  /** ioctl(fd, UFFDIO_WAKE) of [start, start + len): threads waiting in faults there retry */
  uffdioWake(fd: number, start: bigint, len: bigint): Promise<Ret<0>>;
  /**
   * read(2) of one struct uffd_msg: EAGAIN when none is pending and the
   * descriptor is O_NONBLOCK; otherwise it waits for one (a pending call,
   * while the process's other calls go on).
   */
  uffdRead(fd: number): Promise<Ret<UffdMsg>>;
  /**
   * `for (i = 0; i < times; i++) if (!(await body(i))) break;`, resolving
   * with i: a loop of the test's own. The body makes calls on this proc
   * only and does nothing else but report why it breaks; the calls it
   * makes depend on their results alone (i may only appear in what it
   * reports). So a target may run a round without running body when the
   * round would make the same calls with the same results as one before
   * it (the agent runs such rounds where the kernel is, with no round
   * trip). Optional: harness/repeat.ts loops where a target has none.
   */
  repeat?(times: number, body: (i: number) => Promise<boolean>): Promise<number>;
  /**
   * Runs the handler thread `server` describes where the kernel is, and
   * resolves to the Proc the port's own thread makes its calls through:
   * each is answered with what that handler did, and must be the call it
   * made (it rejects where not: `server` does not describe the thread's
   * code). Once the handler has stopped (at the pipe's byte, or after a
   * reply the port's code is to judge) and every call it made has been
   * asked for, calls go to this proc. The kernel sees the calls the C's
   * thread makes, without a round trip each. Optional: where a target has
   * none, the port's thread makes its calls itself.
   */
  serveUffd?(server: UffdServer): Promise<Proc>;
  /** the raw page-table walk of addr (targets whose capabilities say introspect) */
  descriptors?(addr: bigint): Promise<Ret<Descriptors>>;
  /** descriptors() of each address in turn, read together: each walk, or why it could not be read */
  descriptorsOf?(addrs: readonly bigint[]): Promise<readonly Ret<Descriptors>[]>;
  exit(): Promise<void>;
}

export type { Errno, Ret };
