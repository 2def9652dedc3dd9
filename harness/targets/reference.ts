// The reference target: the model of arm64 Linux mm behind the Target API.
// Spec: "reference[:LAYOUT][@KERNEL][+OPTION=VALUE]...": LAYOUT a built-in
// name or a layout file, KERNEL a modelled kernel version ("7.2", the
// default, or "6.12"), options thp=always|madvise|never, thp_zero=0|1,
// hwaf=0|1, hwdbm=0|1 (FEAT_HAFDBS), epan=0|1, swap=SIZE, hugetlb=N,
// numa=N (nodes with memory, default 2 as the QEMU guests), mmap_rnd=N (pages mmap_base sits lower, as ASLR would put it), zero_page=0|1
// (0: anonymous read faults allocate, as under pvm_no_zero_page=1).

import { kernelLayout } from '../../model/arm64/layout.ts';
import type { Pgtable } from '../../model/arm64/pgtable.ts';
import { DEFAULT_KERNEL, kernelByName, type KernelBehaviour } from '../../model/kernel.ts';
import { doMadvise } from '../../model/mm/madvise.ts';
import { kernelMovePages } from '../../model/mm/migrate.ts';
import { swapoff, swapon } from '../../model/mm/swapfile.ts';
import type { KernelFunctionOverrides } from '../../model/kernel-functions.ts';
import type { MmOverrides } from '../../model/mm/mm.ts';
import { doMmap, vmMmapPgoff, vmMunmap } from '../../model/mm/mmap.ts';
import { doMprotectPkey } from '../../model/mm/mprotect.ts';
import { doMremap } from '../../model/mm/mremap.ts';
import { System, type SystemConfig, type ThpSettings } from '../../model/mm/system.ts';
import { Task } from '../../model/mm/task.ts';
import { atomicAddUser, fillUser, incrementUser, readUser, writeEachUser, writeUser, type Current, type Signalled, type Waiting } from '../../model/mm/user-access.ts';
import { type Blocking, EventWait, UffdCtx, uffdioApi, uffdioRegister, uffdioUnregister, uffdioWake, uffdioWriteprotect } from '../../model/mm/userfaultfd.ts';
import { uffdioContinue, uffdioCopy, uffdioPoison, uffdioZeropage } from '../../model/mm/userfaultfd-fill.ts';
import { uffdioMove } from '../../model/mm/userfaultfd-move.ts';
import { vmFlagsValue } from '../../model/mm/vma.ts';
import { pagemapRead } from '../../model/proc/pagemap.ts';
import { pagemapScan } from '../../model/proc/pagemap-scan.ts';
import { listProcDir, readProcFile, writeProcFile } from '../../model/proc/files.ts';
import { doShmat, doShmdt } from '../../model/ipc/shm.ts';
import * as U from '../../uapi/linux.ts';
import { Errno, isErr, type Ret } from '../../uapi/linux.ts';
import { resolveLayout } from '../layout-file.ts';
import { DEFAULT_HUGETLB_PAGES, DEFAULT_NUMA_NODES, DEFAULT_SWAP_KIB, parseHugetlbPages, parseNumaNodes, parseSwapKiB } from '../memory-options.ts';
import type { Caps, Descriptors, MemResult, MovePages, PgLevel, PmScanArg, PmScanResult, PollFd, Proc, Target, TargetInfo, Thread, UffdioProgress, UffdMsg } from '../target.ts';

const BOOL = { '0': false, '1': true } as const;
const LEVEL_NAMES: readonly PgLevel[] = ['pgd', 'pud', 'pmd', 'pte'];

function option<T>(key: string, value: string, table: Readonly<Record<string, T>>): T {
  const v = table[value];
  if (v === undefined) throw new Error(`reference target option ${key}=${value}: expected one of ${Object.keys(table).join(', ')}`);
  return v;
}

/** CONFIG_ARCH_MMAP_RND_BITS of Debian's arm64 kernels: mmap_base is drawn from 2^18 pages */
const MMAP_RND_BITS = 18;

// mmap_rnd=N: arch_mmap_rnd() as a kernel might have drawn it, in pages
function parseMmapRnd(value: string): bigint {
  if (!/^\d+$/.test(value) || Number(value) >= 2 ** MMAP_RND_BITS) throw new Error(`reference target option mmap_rnd=${value}: expected a number of pages below 2^${MMAP_RND_BITS}`);
  return BigInt(value);
}

/** Parses "[:LAYOUT][@KERNEL][+OPTION=VALUE]..." into a system configuration. */
export async function referenceConfig(spec: string): Promise<SystemConfig> {
  const [head = '', ...opts] = spec.split('+');
  const m = /^(?::([^@]+))?(?:@(.+))?$/.exec(head);
  if (!m) throw new Error(`bad reference target "reference${spec}": use reference[:LAYOUT][@KERNEL][+OPTION=VALUE]...`);
  const kernel = m[2] ? kernelByName(m[2]) : DEFAULT_KERNEL;
  const layout = m[1] ? await resolveLayout(m[1]) : kernelLayout(kernel.version);
  // QEMU -cpu max: FEAT_HAFDBS and FEAT_EPAN; THP as Debian's kernels ship it
  let thp: ThpSettings = { enabled: 'always', useZeroPage: true };
  let hw = { hwAF: true, hwDBM: true };
  let epan = true;
  let swapKiB = DEFAULT_SWAP_KIB;
  let hugetlbPages = DEFAULT_HUGETLB_PAGES;
  let numaNodes = DEFAULT_NUMA_NODES;
  let mmapRnd = 0n;
  let readFaultZeroPage = true;
  for (const o of opts) {
    const [key = '', value = ''] = o.split('=');
    if (key === 'thp') thp = { ...thp, enabled: option(key, value, { always: 'always', madvise: 'madvise', never: 'never' } as const) };
    else if (key === 'thp_zero') thp = { ...thp, useZeroPage: option(key, value, BOOL) };
    else if (key === 'hwaf') hw = { ...hw, hwAF: option(key, value, BOOL) };
    else if (key === 'hwdbm') hw = { ...hw, hwDBM: option(key, value, BOOL) };
    else if (key === 'epan') epan = option(key, value, BOOL);
    else if (key === 'swap') swapKiB = parseSwapKiB(value, 'reference target');
    else if (key === 'hugetlb') hugetlbPages = parseHugetlbPages(value, 'reference target');
    else if (key === 'numa') numaNodes = parseNumaNodes(value, 'reference target');
    else if (key === 'mmap_rnd') mmapRnd = parseMmapRnd(value);
    else if (key === 'zero_page') readFaultZeroPage = option(key, value, BOOL);
    else throw new Error(`unknown reference target option "${o}" (known: thp, thp_zero, hwaf, hwdbm, epan, swap, hugetlb, numa, mmap_rnd, zero_page)`);
  }
  if (hw.hwDBM && !hw.hwAF) throw new Error('reference target: hwdbm=1 needs hwaf=1 (TCR.HD requires TCR.HA)');
  return { layout, kernel, hw, epan, thp, showPfn: true, swapBytes: BigInt(swapKiB) << 10n, hugetlbPages, numaNodes, mmapRnd, readFaultZeroPage };
}

/** What a variant of the reference changes (harness/plugin.ts builds these from a Variant). */
export interface ReferenceChanges {
  /** TargetInfo.name, in place of "reference" and the spec */
  readonly name?: string;
  /** the page-table helpers, replaced */
  readonly mutate?: (pg: Pgtable) => Pgtable;
  /** kernel behaviour switches, changed */
  readonly kernel?: Partial<Omit<KernelBehaviour, 'version'>>;
  /** kernel functions of each mm, replaced */
  readonly mm?: MmOverrides;
  /** the kernel functions of model/kernel-functions.ts, replaced */
  readonly functions?: KernelFunctionOverrides;
}

export async function referenceTarget(spec: string, changes: ReferenceChanges = {}): Promise<Target> {
  const base = await referenceConfig(spec);
  const cfg: SystemConfig = {
    ...base,
    kernel: { ...base.kernel, ...changes.kernel },
    ...(changes.mutate ? { mutate: changes.mutate } : {}),
    ...(changes.mm ? { mmOverrides: changes.mm } : {}),
    ...(changes.functions ? { functions: changes.functions } : {}),
  };
  const sys = new System(cfg);
  const waits = new Waits();
  const name = changes.name ?? `reference${spec}`;
  return {
    info: async (): Promise<TargetInfo> => ({ name, arch: 'arm64', layout: cfg.layout.name, kernel: cfg.kernel.version, pageSize: 4096 }),
    capabilities: async (): Promise<Caps> => ({
      softDirty: sys.pg.hasSoftDirty,
      uffdWp: sys.pg.hasUffdWp,
      pagemapScan: true,
      thp: true,
      hugetlb: cfg.hugetlbPages > 0,
      swap: cfg.swapBytes > 0n,
      introspect: true,
    }),
    spawn: async () => new ReferenceProc(new Task(sys), waits),
    close: async () => {},
  };
}

/**
 * A call waiting in the model: an access in a userfaultfd's handler, a
 * read or poll with nothing to take, a system call held by an event.
 */
interface Parked {
  ready(): boolean;
  resume(): void;
}

/**
 * The calls waiting in one modelled system, in the order they began to: a
 * call of one process (a read of a userfaultfd) may let another's go on
 * (a child's mremap held by its REMAP event).
 */
class Waits {
  private readonly parked: Parked[] = [];
  park(p: Parked): void {
    this.parked.push(p);
  }
  /** Resumes the waiting calls that can go on now, until none can (a resumed call may let another go on). */
  settle(): void {
    for (let p = this.parked.find((q) => q.ready()); p; p = this.parked.find((q) => q.ready())) {
      this.parked.splice(this.parked.indexOf(p), 1);
      p.resume();
    }
  }
}

/** The bytes stored: nothing to return. */
const NO_DATA = new Uint8Array(0);

/** A modelled process behind the Proc interface; the heap is glibc's mmap path. */
class ReferenceProc implements Proc {
  private exited = false;
  /** the C library's heap: each aligned_alloc()'s mapping, by the pointer returned */
  private readonly allocations = new Map<bigint, bigint>();
  constructor(
    private readonly task: Task,
    private readonly waits: Waits,
  ) {}

  private settle(): void {
    this.waits.settle();
  }

  /**
   * A system call a non-cooperative userfaultfd event may hold: it returns
   * once a read has taken each event it raised, going on in between as the
   * kernel does. `waiting` says when it starts and stops waiting.
   */
  private blocking<T>(r: Blocking<T>, waiting?: (on: boolean) => void): Promise<T> {
    return new Promise((resolve) => {
      const step = (x: Blocking<T>): void => {
        if (!(x instanceof EventWait)) {
          waiting?.(false);
          resolve(x);
          return;
        }
        waiting?.(true);
        this.waits.park({ ready: () => x.events.every((e) => e.done), resume: () => step(x.resume()) });
      };
      step(r);
      this.settle();
    });
  }

  /**
   * A load or store, run from where it stopped each time: one that waits
   * on a userfaultfd stays pending (the process's other calls go on) until
   * a wake lets it retry.
   */
  private access(run: (from: number, value?: number) => null | Signalled | Waiting, data: () => Uint8Array): Promise<MemResult> {
    return new Promise((resolve) => {
      const attempt = (from: number, value?: number): void => {
        const r = run(from, value);
        if (r === null) resolve({ ok: true, data: data() });
        else if ('signal' in r) resolve({ ok: false, signal: r.signal, addr: r.addr });
        else this.waits.park({ ready: () => r.waiter.woken, resume: () => attempt(r.done, r.value) });
      };
      attempt(0);
      this.settle();
    });
  }

  /** A userfaultfd call that may wake waiters: they go on before it returns, as woken threads run on */
  private waking<T>(r: T): T {
    this.settle();
    return r;
  }

  get pid(): number {
    return this.task.pid;
  }
  /** The task, while it lives: a call after exit() fails as it does on a real target. */
  private get live(): Task {
    if (this.exited) throw new Error(`reference: proc ${this.task.pid} has exited`);
    return this.task;
  }
  private get mm() {
    return this.live.mm;
  }

  async mmap(addr: bigint, length: bigint, prot: number, flags: number, fd: number, offset: bigint): Promise<Ret<bigint>> {
    const file = flags & U.MAP_ANONYMOUS ? null : this.live.file(fd);
    if (!(flags & U.MAP_ANONYMOUS) && !file) return new Errno('EBADF', 'mmap');
    return this.blocking(vmMmapPgoff(this.mm, addr, length, prot, flags, file, offset));
  }
  munmap(addr: bigint, length: bigint): Promise<Ret<0>> {
    return this.blocking(vmMunmap(this.mm, addr, length));
  }
  async mprotect(addr: bigint, length: bigint, prot: number) {
    return doMprotectPkey(this.mm, addr, length, prot);
  }
  mremap(oldAddr: bigint, oldSize: bigint, newSize: bigint, flags: number, newAddr = 0n): Promise<Ret<bigint>> {
    return this.blocking(doMremap(this.mm, oldAddr, oldSize, newSize, flags, newAddr));
  }
  madvise(addr: bigint, length: bigint, advice: number): Promise<Ret<0>> {
    return this.blocking(doMadvise(this.mm, addr, length, advice));
  }
  async open(path: string, flags: number) {
    return this.live.open(path, flags);
  }
  async close(fd: number) {
    // a userfaultfd's release wakes its waiters
    return this.waking(this.live.close(fd));
  }
  async unlink(path: string) {
    return this.live.unlink(path);
  }
  async swapoff(path: string) {
    return swapoff(this.live.sys, path);
  }
  async swapon(path: string, flags: number) {
    return swapon(this.live.sys, path, flags);
  }
  async ftruncate(fd: number, length: bigint) {
    return this.live.ftruncate(fd, length);
  }
  async memfdCreate(name: string, flags: number) {
    return this.live.memfdCreate(name, flags);
  }
  // a pipe's reader or poller may go on
  async writeFd(fd: number, data: Uint8Array) {
    return this.waking(this.live.writeFd(fd, data));
  }
  async stat(path: string) {
    return this.live.stat(path);
  }
  async listDir(path: string) {
    return listProcDir(path);
  }
  async shmget(key: number, size: bigint, shmflg: number) {
    return this.live.sys.ipc.shmget(key, size, shmflg);
  }
  async shmat(shmid: number, addr: bigint, shmflg: number) {
    return doShmat(this.mm, shmid, addr, shmflg);
  }
  async shmdt(addr: bigint) {
    return doShmdt(this.mm, addr);
  }
  async shmctl(shmid: number, cmd: number): Promise<Ret<0>> {
    if (cmd !== U.IPC_RMID) throw new Error(`shmctl: command ${cmd} is not modelled (only IPC_RMID)`);
    return this.live.sys.ipc.rmid(shmid);
  }
  // a thread shares the mm; the model serves every thread's calls in the order they were made
  async threadCreate(): Promise<Ret<Thread>> {
    const task = this.live;
    const tid = task.newThread();
    const current: Current = { tid, minFlt: 0 };
    return {
      tid,
      atomicAdd: (addrs, delta) => this.access((from) => atomicAddUser(this.mm, addrs, delta, current, from), () => NO_DATA),
      minflt: async () => BigInt(current.minFlt),
      // an event wait is TASK_KILLABLE: /proc shows the thread in 'D' meanwhile
      madvise: (addr, length, advice) => this.blocking(this.mm.asCurrent(tid, () => doMadvise(this.mm, addr, length, advice)), (on) => task.threads.set(tid, on ? 'D' : 'S')),
    };
  }

  // fork(): the child, once the parent's userfaultfds have read of it where they asked to
  fork(): Promise<Ret<Proc>> {
    const { child, events } = this.live.fork();
    const proc: Proc = new ReferenceProc(child, this.waits);
    return this.blocking(events.length > 0 ? new EventWait(events, () => proc) : proc);
  }
  async pipe2(flags: number) {
    return this.live.pipe2(flags);
  }
  // a blocking read of an empty pipe waits for a writer
  readFd(fd: number, count: number): Promise<Ret<Uint8Array>> {
    const r = this.live.readFd(fd, count);
    if (r !== null) return Promise.resolve(r);
    return new Promise((resolve) => this.waits.park({ ready: () => this.live.readFd(fd, 0) !== null, resume: () => resolve(this.live.readFd(fd, count)!) }));
  }
  /**
   * do_sys_poll(): the model's clock does not run while calls wait, so a
   * poll with a timeout that finds nothing ready times out at once; one
   * without (-1) waits for a descriptor to become ready.
   */
  poll(fds: readonly PollFd[], timeoutMs: number): Promise<Ret<readonly number[]>> {
    const revents = () => fds.map((p) => this.live.pollFd(p.fd, p.events));
    const now = revents();
    if (timeoutMs >= 0 || now.some((r) => r !== 0)) return Promise.resolve(now);
    return new Promise((resolve) => this.waits.park({ ready: () => revents().some((r) => r !== 0), resume: () => resolve(revents()) }));
  }
  async movePages(addrs: readonly bigint[], nodes: readonly number[] | null, flags: number): Promise<Ret<MovePages>> {
    if (nodes !== null && nodes.length !== addrs.length) throw new Error(`movePages: ${nodes.length} nodes for ${addrs.length} addresses`);
    return kernelMovePages(this.mm, addrs, nodes, flags);
  }
  async fcntl(fd: number, cmd: number, arg: number) {
    return this.live.fcntl(fd, cmd, arg);
  }
  async fallocate(fd: number, mode: number, offset: bigint, len: bigint) {
    return this.live.fallocate(fd, mode, offset, len);
  }
  async userfaultfdIocNew(fd: number, flags: number) {
    return this.live.userfaultfdIocNew(fd, flags);
  }

  // aligned_alloc()/memalign(): glibc maps size + alignment and trims the slop
  async alignedAlloc(alignment: bigint, size: bigint): Promise<Ret<bigint>> {
    const page = 4096n;
    const len = ((size + page - 1n) / page) * page;
    const raw = doMmap(this.mm, 0n, len + alignment, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, null, 0n);
    if (isErr(raw)) return raw;
    const start = (raw + alignment - 1n) & ~(alignment - 1n);
    if (start > raw) vmMunmap(this.mm, raw, start - raw);
    const tail = raw + len + alignment - (start + len);
    if (tail > 0n) vmMunmap(this.mm, start + len, tail);
    this.allocations.set(start, len);
    return start;
  }
  // free(): munmap_chunk() of exactly what was allocated, whatever areas it has become
  async free(addr: bigint): Promise<void> {
    const len = this.allocations.get(addr);
    if (len === undefined) throw new Error(`free(0x${addr.toString(16)}): not a pointer aligned_alloc() returned`);
    this.allocations.delete(addr);
    await this.blocking(vmMunmap(this.mm, addr, len));
  }

  read(addr: bigint, length: number): Promise<MemResult> {
    const out = new Uint8Array(length);
    return this.access((from) => readUser(this.mm, addr, out, from), () => out);
  }
  write(addr: bigint, data: Uint8Array): Promise<MemResult> {
    return this.access((from) => writeUser(this.mm, addr, data, from), () => NO_DATA);
  }
  async fill(addr: bigint, length: bigint, byte: number): Promise<MemResult> {
    if (!Number.isInteger(byte) || byte < 0 || byte > 255) throw new Error(`fill: byte ${byte} is not in 0..255`);
    return this.access((from) => fillUser(this.mm, addr, length, byte, from), () => NO_DATA);
  }
  increment(addrs: readonly bigint[]): Promise<MemResult> {
    return this.access((from, value) => incrementUser(this.mm, addrs, from, value), () => NO_DATA);
  }
  storeEach(addrs: readonly bigint[], data: Uint8Array): Promise<MemResult> {
    return this.access((from) => writeEachUser(this.mm, addrs, data, from), () => NO_DATA);
  }
  async readFile(path: string) {
    return readProcFile(this.live, path);
  }
  async writeFile(path: string, data: string) {
    return writeProcFile(this.live, path, data);
  }
  async pagemap(addr: bigint, nPages: number): Promise<Ret<BigUint64Array>> {
    return pagemapRead(this.mm, addr, nPages);
  }
  async pagemapScan(arg: PmScanArg): Promise<Ret<PmScanResult>> {
    if (arg.badVec && arg.nullVec) throw new Error('pagemapScan: badVec and nullVec together (one vec pointer)');
    return pagemapScan(this.mm, { ...arg, badVec: arg.badVec ?? false, nullVec: arg.nullVec ?? false });
  }
  async userfaultfd(flags: number) {
    return this.live.userfaultfd(flags);
  }
  /** The fd's userfaultfd context, or EBADF (EINVAL for another kind of file, as ioctl() answers) */
  private uffd(fd: number): UffdCtx | Errno {
    return this.live.uffd(fd) ?? this.live.notA(fd, 'ioctl');
  }
  async uffdioApi(fd: number, api: bigint, features: bigint) {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? ctx : uffdioApi(this.mm, ctx, api, features);
  }
  async uffdioRegister(fd: number, start: bigint, len: bigint, mode: bigint) {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? ctx : uffdioRegister(ctx.mm, ctx, start, len, mode);
  }
  async uffdioWriteprotect(fd: number, start: bigint, len: bigint, mode: bigint) {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? ctx : this.waking(uffdioWriteprotect(ctx.mm, ctx, start, len, mode));
  }
  async uffdioUnregister(fd: number, start: bigint, len: bigint) {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? ctx : this.waking(uffdioUnregister(ctx.mm, ctx, start, len));
  }
  async uffdioCopy(fd: number, dst: bigint, src: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? { error: ctx, progress: null } : this.waking(uffdioCopy(ctx.mm, this.mm, ctx, dst, src, len, mode));
  }
  async uffdioZeropage(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? { error: ctx, progress: null } : this.waking(uffdioZeropage(ctx.mm, ctx, start, len, mode));
  }
  async uffdioContinue(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? { error: ctx, progress: null } : this.waking(uffdioContinue(ctx.mm, ctx, start, len, mode));
  }
  async uffdioMove(fd: number, dst: bigint, src: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? { error: ctx, progress: null } : this.waking(uffdioMove(ctx.mm, ctx, dst, src, len, mode));
  }
  async uffdioPoison(fd: number, start: bigint, len: bigint, mode: bigint): Promise<UffdioProgress> {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? { error: ctx, progress: null } : this.waking(uffdioPoison(ctx.mm, ctx, start, len, mode));
  }
  async uffdioWake(fd: number, start: bigint, len: bigint) {
    const ctx = this.uffd(fd);
    return isErr(ctx) ? ctx : this.waking(uffdioWake(ctx, start, len));
  }
  // userfaultfd_read_iter(): a message (or its failure), EAGAIN for a non-blocking descriptor, or a wait for one
  uffdRead(fd: number): Promise<Ret<UffdMsg>> {
    const task = this.live;
    // a read lets the call that raised an event go on
    const msg = this.waking(task.uffdRead(fd));
    if (msg) return Promise.resolve(msg);
    if (task.nonblocking(fd)) return Promise.resolve(new Errno('EAGAIN', 'read'));
    const ctx = task.uffd(fd)!;
    return new Promise((resolve) =>
      this.waits.park({ ready: () => ctx.waiters.some((w) => !w.read) || ctx.events.length > 0, resume: () => resolve(this.waking(task.uffdRead(fd))!) }),
    );
  }
  async descriptors(addr: bigint): Promise<Ret<Descriptors>> {
    return this.walk(addr);
  }
  async descriptorsOf(addrs: readonly bigint[]): Promise<readonly Ret<Descriptors>[]> {
    return addrs.map((a) => this.walk(a));
  }
  // 4 KiB granule, 48-bit VA: levels 0-3 are pgd, pud, pmd, pte (p4d folded)
  private walk(addr: bigint): Descriptors {
    const vma = this.mm.vmas.lookup(addr);
    return {
      entries: this.mm.pt.walk(addr).map((e) => ({ level: LEVEL_NAMES[e.level]!, value: e.value, phys: e.phys })),
      vmFlags: vma ? vmFlagsValue(vma.flags) : null,
      pageProt: vma ? vma.pageProt : null,
    };
  }
  async exit(): Promise<void> {
    this.live.exit();
    this.exited = true;
  }
}
