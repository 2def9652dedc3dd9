// userfaultfd (mm/userfaultfd.c in 7.2; fs/userfaultfd.c and mm/userfaultfd.c
// before): the context and its ioctls. UFFDIO_API; UFFDIO_REGISTER in
// MISSING, WP and MINOR modes over anonymous, shmem and hugetlb areas, as
// vma_can_userfault() allows them; UFFDIO_WRITEPROTECT (markers in empty
// ptes with UFFD_FEATURE_WP_UNPOPULATED); UFFDIO_WAKE; the non-cooperative
// events fork(), mremap() and MADV_DONTNEED raise (FORK, REMAP, REMOVE) and
// the calls they hold until a read; and the release of the descriptor. The
// ioctls that fill holes (COPY, ZEROPAGE, CONTINUE, POISON) are in
// userfaultfd-fill.ts, UFFDIO_MOVE in userfaultfd-move.ts. A fault the
// context is to handle (handle_userfault(): a missing page of an anonymous,
// shmem or hugetlb area, a minor fault of a cached page not mapped yet, a
// store to a uffd-wp page) queues a message and leaves a waiter: the access
// waits until an ioctl wakes it, then retries. A write to a write-protected
// page is resolved in the kernel instead when the context has
// UFFD_FEATURE_WP_ASYNC.

import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { HPAGE_SIZE } from './hugetlb.ts';
import type { Mm } from './mm.ts';
import { changeProtection } from './mprotect.ts';
import { PAGE_SIZE } from './physmem.ts';
import * as V from './vma.ts';
import type { UffdContext, Vma } from './vma.ts';
import { modifyFlags } from './vma-ops.ts';

const PAGE = BigInt(PAGE_SIZE);
const TASK_SIZE = 1n << 48n;
/** UFFD_API_FEATURES: measured (UFFDIO_API with no features) on Debian's 6.12 and 7.2 arm64 kernels */
const UFFD_API_FEATURES = 0x1ffffn;
/** the features that need the arch's uffd-wp bit (HAVE_ARCH_USERFAULTFD_WP) */
const WP_FEATURES = U.UFFD_FEATURE_PAGEFAULT_FLAG_WP | U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM | U.UFFD_FEATURE_WP_UNPOPULATED | U.UFFD_FEATURE_WP_ASYNC;
const bit = (n: bigint) => 1n << n;
/** UFFD_API_IOCTLS: REGISTER, UNREGISTER, API */
const UFFD_API_IOCTLS = bit(U._UFFDIO_API) | bit(U._UFFDIO_REGISTER) | bit(U._UFFDIO_UNREGISTER);
/** UFFD_API_RANGE_IOCTLS_BASIC: a range with hugetlb in it has no ZEROPAGE or MOVE */
const UFFD_API_RANGE_IOCTLS_BASIC =
  bit(U._UFFDIO_WAKE) | bit(U._UFFDIO_COPY) | bit(U._UFFDIO_WRITEPROTECT) | bit(U._UFFDIO_CONTINUE) | bit(U._UFFDIO_POISON);
const UFFD_API_RANGE_IOCTLS = UFFD_API_RANGE_IOCTLS_BASIC | bit(U._UFFDIO_ZEROPAGE) | bit(U._UFFDIO_MOVE);
const UFFD_API_REGISTER_MODES = U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP | U.UFFDIO_REGISTER_MODE_MINOR;

/** struct uffd_msg of a page fault to handle */
export interface UffdFaultMsg {
  readonly event: 'PAGEFAULT';
  /** UFFD_PAGEFAULT_FLAG_* */
  readonly flags: bigint;
  readonly address: bigint;
  readonly ptid: number;
}

/** struct uffd_msg of a non-cooperative event; a FORK names the child's new context, which the read makes a descriptor */
export type UffdEventMsg =
  | { readonly event: 'FORK'; readonly ctx: UffdCtx }
  | { readonly event: 'REMAP'; readonly from: bigint; readonly to: bigint; readonly len: bigint }
  | { readonly event: 'REMOVE' | 'UNMAP'; readonly start: bigint; readonly end: bigint };

export type UffdMsg = UffdFaultMsg | UffdEventMsg;

/**
 * struct userfaultfd_wait_queue: a thread waiting in handle_userfault()
 * for its fault to be resolved. Its message is pending until a read takes
 * it; an ioctl whose range holds the address wakes it, read or not.
 */
export class UffdWaiter {
  read = false;
  woken = false;
  constructor(
    readonly ctx: UffdCtx,
    readonly msg: UffdFaultMsg,
  ) {}
}

/** struct userfaultfd_wait_queue on event_wqh: an event whose system call waits until a read takes it (or the context goes) */
export class UffdEvent {
  done = false;
  constructor(
    readonly ctx: UffdCtx,
    readonly msg: UffdEventMsg,
  ) {}
}

/**
 * A system call held in userfaultfd_event_wait_completion(): once every
 * one of `events` is done, it goes on with `resume`, which may wait again.
 */
export class EventWait<T> {
  constructor(
    readonly events: readonly UffdEvent[],
    readonly resume: () => Blocking<T>,
  ) {}
}

/** A system call's outcome where a non-cooperative event may hold it */
export type Blocking<T> = T | EventWait<T>;

/** `then` of what a held call resumes with, once its events are read */
export function afterEvents<T, R>(w: EventWait<T>, then: (t: T) => Blocking<R>): EventWait<R> {
  return new EventWait(w.events, () => {
    const r = w.resume();
    return r instanceof EventWait ? afterEvents(r, then) : then(r);
  });
}

/** struct userfaultfd_ctx */
export class UffdCtx implements UffdContext {
  features = 0n;
  /** UFFDIO_API done: the context is usable */
  ready = false;
  /** fault_pending_wqh and fault_wqh: the threads waiting for this context, in the order they came */
  waiters: UffdWaiter[] = [];
  /** event_wqh: the non-cooperative events not yet read, in the order they came */
  events: UffdEvent[] = [];
  /** events raised and not yet completed (or about to be raised): the filling ioctls say EAGAIN meanwhile */
  mmapChanging = 0;
  /** the descriptor's last reference went: its areas have left it */
  released = false;
  /**
   * @param mm the address space whose faults it handles (ctx->mm)
   * @param flags userfaultfd(2)'s flags: O_NONBLOCK, UFFD_USER_MODE_ONLY
   */
  constructor(
    readonly mm: Mm,
    readonly flags = 0,
  ) {}
}

// userfaultfd_event_wait_completion(): the event goes on event_wqh for a read to take
export function userfaultfdEvent(ctx: UffdCtx, msg: UffdEventMsg, changing = false): UffdEvent {
  const ev = new UffdEvent(ctx, msg);
  // (`changing`: its mmap_changing was raised already, by userfaultfd_unmap_prep())
  if (!changing) ctx.mmapChanging++;
  ctx.events.push(ev);
  return ev;
}

// userfaultfd_event_complete(): the system call that raised it goes on
function eventComplete(ev: UffdEvent): void {
  ev.done = true;
  ev.ctx.mmapChanging--;
  ev.ctx.events = ev.ctx.events.filter((e) => e !== ev);
}

// userfaultfd_api()
export function uffdioApi(mm: Mm, ctx: UffdCtx, api: bigint, features: bigint): Ret<{ features: bigint; ioctls: bigint }> {
  const supported = mm.pg.hasUffdWp ? UFFD_API_FEATURES : UFFD_API_FEATURES & ~WP_FEATURES;
  if (ctx.ready || api !== U.UFFD_API || features & ~supported) return new Errno('EINVAL', 'ioctl');
  // "WP_ASYNC relies on WP_UNPOPULATED, choose it unconditionally"
  ctx.features = features & U.UFFD_FEATURE_WP_ASYNC ? features | U.UFFD_FEATURE_WP_UNPOPULATED : features;
  ctx.ready = true;
  return { features: supported, ioctls: UFFD_API_IOCTLS };
}

/** validate_unaligned_range(): whole pages, not empty, inside the address space (a UFFDIO_COPY source may start anywhere) */
export function badUnalignedRange(start: bigint, len: bigint): boolean {
  return len % PAGE !== 0n || len === 0n || start >= TASK_SIZE || len > TASK_SIZE - start;
}

/** validate_range(): validate_unaligned_range() from a page boundary */
export function badRange(start: bigint, len: bigint): boolean {
  return start % PAGE !== 0n || badUnalignedRange(start, len);
}

// vma_can_userfault(): whether an area may be registered in the modes of vm_flags
function vmaCanUserfault(vma: Vma, vmFlags: number, wpAsync: boolean): boolean {
  if (!(vma.flags & V.VM_HUGETLB) && vma.flags & (V.VM_PFNMAP | V.VM_MIXEDMAP)) return false; // VM_SPECIAL
  vmFlags &= V.VM_UFFD_FLAGS;
  // WP alone in an async context: any memory
  if (wpAsync && vmFlags === V.VM_UFFD_WP) return true;
  // vma_uffd_ops(): anonymous, shmem and hugetlb areas have them (the model has no other kind but the special ones above);
  // anon_can_userfault(): no MINOR mode for anonymous memory
  return !(vma.isAnonymous && vmFlags & V.VM_UFFD_MINOR);
}

// userfaultfd_register()
export function uffdioRegister(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): Ret<{ ioctls: bigint }> {
  if (!ctx.ready || mode === 0n || mode & ~UFFD_API_REGISTER_MODES) return new Errno('EINVAL', 'ioctl');
  let vmFlags = 0;
  if (mode & U.UFFDIO_REGISTER_MODE_MISSING) vmFlags |= V.VM_UFFD_MISSING;
  if (mode & U.UFFDIO_REGISTER_MODE_WP) {
    if (!mm.pg.hasUffdWp) return new Errno('EINVAL', 'ioctl');
    vmFlags |= V.VM_UFFD_WP;
  }
  if (mode & U.UFFDIO_REGISTER_MODE_MINOR) vmFlags |= V.VM_UFFD_MINOR;
  if (badRange(start, len)) return new Errno('EINVAL', 'ioctl');
  const end = start + len;
  const areas = mm.vmas.overlapping(start, end);
  if (areas.length === 0) return new Errno('EINVAL', 'ioctl'); // measured: no area in the range
  // a hugetlb area from and to huge page boundaries (measured: EINVAL)
  if (areas[0]!.flags & V.VM_HUGETLB && start & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
  const wpAsync = (ctx.features & U.UFFD_FEATURE_WP_ASYNC) !== 0n;
  for (const v of areas) {
    if (!vmaCanUserfault(v, vmFlags, wpAsync)) return new Errno('EINVAL', 'ioctl');
    // UFFDIO_COPY fills holes even without PROT_WRITE: the process must be allowed to write
    if (!(v.flags & V.VM_MAYWRITE)) return new Errno('EPERM', 'ioctl');
    if (v.flags & V.VM_HUGETLB && end <= v.end && end > v.start && end & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
    // another context's area is busy
    if (v.uffdCtx && v.uffdCtx !== ctx) return new Errno('EBUSY', 'ioctl');
  }
  for (const v of areas) {
    // userfaultfd_register_range(): nothing to do where the area has this context and every mode asked for already
    if (v.uffdCtx === ctx && (v.flags & vmFlags) === vmFlags) continue;
    const lo = v.start > start ? v.start : start;
    const hi = v.end < end ? v.end : end;
    // the modes asked for replace those the area had
    const area = modifyFlags(mm, v, lo, hi, (v.flags & ~V.VM_UFFD_FLAGS) | vmFlags, ctx);
    if (area instanceof Errno) return new Errno(area.name, 'ioctl');
    mm.vmaSetPageProt(area);
  }
  let ioctls = areas.some((v) => v.flags & V.VM_HUGETLB) ? UFFD_API_RANGE_IOCTLS_BASIC : UFFD_API_RANGE_IOCTLS;
  // WRITEPROTECT only for WP ranges, CONTINUE only for MINOR ones
  if (!(mode & U.UFFDIO_REGISTER_MODE_WP)) ioctls &= ~bit(U._UFFDIO_WRITEPROTECT);
  if (!(mode & U.UFFDIO_REGISTER_MODE_MINOR)) ioctls &= ~bit(U._UFFDIO_CONTINUE);
  return { ioctls };
}

// userfaultfd_writeprotect() -> mwriteprotect_range(): area by area, holes passed over; the first
// area not registered for uffd-wp (or a hugetlb one cut off a huge page) ends it, with what came before done
export function uffdioWriteprotect(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): Ret<0> {
  if (!ctx.ready) return new Errno('EINVAL', 'ioctl');
  if (ctx.mmapChanging) return new Errno('EAGAIN', 'ioctl');
  if (badRange(start, len)) return new Errno('EINVAL', 'ioctl');
  if (mode & ~(U.UFFDIO_WRITEPROTECT_MODE_WP | U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE)) return new Errno('EINVAL', 'ioctl');
  if (mode === (U.UFFDIO_WRITEPROTECT_MODE_WP | U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE)) return new Errno('EINVAL', 'ioctl');
  const end = start + len;
  const areas = mm.vmas.overlapping(start, end);
  if (areas.length === 0) return new Errno('ENOENT', 'ioctl');
  for (const v of areas) {
    if (!(v.flags & V.VM_UFFD_WP)) return new Errno('ENOENT', 'ioctl');
    if (v.flags & V.VM_HUGETLB && (start | len) & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
    uffdWpRange(mm, v, v.start > start ? v.start : start, v.end < end ? v.end : end, (mode & U.UFFDIO_WRITEPROTECT_MODE_WP) !== 0n);
  }
  // resolving wakes the range's waiters unless told not to
  if (!(mode & (U.UFFDIO_WRITEPROTECT_MODE_WP | U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE))) wakeUserfault(ctx, start, len);
  return 0;
}

// uffd_wp_range()
export function uffdWpRange(mm: Mm, vma: Vma, start: bigint, end: bigint, enable: boolean): void {
  const prot = enable ? mm.pageProtFor(vma.flags & ~V.VM_WRITE) : vma.pageProt;
  const tryChangeWritable = !enable && mm.vmaWantsManualPteWriteUpgrade(vma);
  changeProtection(mm, vma, start, end, tryChangeWritable, enable ? 'wp' : 'resolve', prot);
}

// userfaultfd_clear_vma(): [start, end) of an area leaves its context, write protection reset first (called through mm.sys.fn)
export function userfaultfdClearVma(mm: Mm, v: Vma, start: bigint, end: bigint): Errno | null {
  if (v.flags & V.VM_UFFD_WP) uffdWpRange(mm, v, start, end, false);
  const area = modifyFlags(mm, v, start, end, v.flags & ~V.VM_UFFD_FLAGS, null);
  if (area instanceof Errno) return area;
  mm.vmaSetPageProt(area);
  return null;
}

// userfaultfd_unregister()
export function uffdioUnregister(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint): Ret<0> {
  // userfaultfd_ioctl(): every ioctl but UFFDIO_API needs an initialised context
  if (!ctx.ready || badRange(start, len)) return new Errno('EINVAL', 'ioctl');
  const end = start + len;
  const areas = mm.vmas.overlapping(start, end);
  if (areas.length === 0) return new Errno('EINVAL', 'ioctl');
  // the first area, if hugetlb, from a huge page boundary
  if (areas[0]!.flags & V.VM_HUGETLB && start & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
  // only through the context that registered them, where the kernel checks (every area here could be registered)
  if (mm.sys.cfg.kernel.uffdUnregisterOwnCtxOnly && areas.some((v) => v.uffdCtx && v.uffdCtx !== ctx)) return new Errno('EINVAL', 'ioctl');
  for (const v of areas) {
    if (!v.uffdCtx) continue;
    const lo = v.start > start ? v.start : start;
    const hi = v.end < end ? v.end : end;
    // a missing fault waiting there would otherwise wait for good
    if (v.flags & V.VM_UFFD_MISSING && v.uffdCtx instanceof UffdCtx) wakeUserfault(v.uffdCtx, lo, hi - lo);
    const err = mm.sys.fn.userfaultfdClearVma(mm, v, lo, hi);
    if (err) return new Errno(err.name, 'ioctl');
  }
  return 0;
}

// userfaultfd_release(): every area of the context leaves it, every waiter retries, and every event's system call goes on
export function userfaultfdRelease(ctx: UffdCtx): void {
  ctx.released = true;
  // the whole area: nothing to cut, so nothing fails
  for (const v of [...ctx.mm.vmas.all()].filter((x) => x.uffdCtx === ctx)) ctx.mm.sys.fn.userfaultfdClearVma(ctx.mm, v, v.start, v.end);
  wakeUserfault(ctx, 0n, 0n);
  for (const ev of [...ctx.events]) {
    eventComplete(ev);
    // userfaultfd_release_new(): a fork nobody will hear of drops the child's context too
    if (ev.msg.event === 'FORK') userfaultfdRelease(ev.msg.ctx);
  }
}

// --- faults the context handles, and the threads that wait in them -----------

/**
 * handle_userfault(): with UFFD_FEATURE_SIGBUS the fault is SIGBUS;
 * otherwise the thread queues a message and waits (the waiter returned)
 * until an ioctl wakes it, and then retries the access.
 */
export function handleUserfault(ctx: UffdCtx, addr: bigint, write: boolean, reason: number): UffdWaiter | 'SIGBUS' {
  if (ctx.features & U.UFFD_FEATURE_SIGBUS) return 'SIGBUS';
  let flags = write ? U.UFFD_PAGEFAULT_FLAG_WRITE : 0n;
  if (reason & V.VM_UFFD_WP) flags |= U.UFFD_PAGEFAULT_FLAG_WP;
  if (reason & V.VM_UFFD_MINOR) flags |= U.UFFD_PAGEFAULT_FLAG_MINOR;
  // userfault_msg(): the page's address unless UFFD_FEATURE_EXACT_ADDRESS
  const address = ctx.features & U.UFFD_FEATURE_EXACT_ADDRESS ? addr : addr & ~(PAGE - 1n);
  // UFFD_FEATURE_THREAD_ID: the faulting thread's tid
  const ptid = ctx.features & U.UFFD_FEATURE_THREAD_ID ? ctx.mm.currentTid : 0;
  const waiter = new UffdWaiter(ctx, { event: 'PAGEFAULT', flags, address, ptid });
  ctx.waiters.push(waiter);
  return waiter;
}

/**
 * userfaultfd_read_iter() -> userfaultfd_ctx_read(): the oldest pending
 * fault's message, its waiter moved to fault_wqh; else the oldest event's,
 * its system call let go; null when none is pending (EAGAIN, or a read
 * that waits); EINVAL before UFFDIO_API. A FORK's new context is the
 * caller's to install (resolve_userfault_fork()).
 */
export function userfaultfdRead(ctx: UffdCtx): Ret<UffdMsg> | null {
  if (!ctx.ready) return new Errno('EINVAL', 'read');
  const w = ctx.waiters.find((x) => !x.read);
  if (w) {
    w.read = true;
    return w.msg;
  }
  const ev = ctx.events[0];
  if (!ev) return null;
  eventComplete(ev);
  return ev.msg;
}

// userfaultfd_poll(): EPOLLERR before UFFDIO_API or on a blocking descriptor, else EPOLLIN with a fault or event pending
export function userfaultfdPoll(ctx: UffdCtx, nonblock: boolean): number {
  if (!ctx.ready || !nonblock) return U.POLLERR;
  return ctx.waiters.some((w) => !w.read) || ctx.events.length > 0 ? U.POLLIN : 0;
}

/**
 * dup_userfaultfd() for an area of a forked mm: without
 * UFFD_FEATURE_EVENT_FORK it leaves its context (userfaultfd_reset_ctx());
 * with it, it joins the child's context for its parent's one, made once a
 * fork (`fcs`, orig to new).
 */
export function dupUserfaultfd(vma: Vma, mm: Mm, fcs: Map<UffdCtx, UffdCtx>): void {
  const octx = vma.uffdCtx as UffdCtx | null;
  if (!octx) return;
  if (!(octx.features & U.UFFD_FEATURE_EVENT_FORK)) {
    vma.flags &= ~V.VM_UFFD_FLAGS;
    vma.uffdCtx = null;
    mm.vmaSetPageProt(vma);
    return;
  }
  let ctx = fcs.get(octx);
  if (!ctx) {
    ctx = new UffdCtx(mm, octx.flags);
    ctx.features = octx.features;
    ctx.ready = true;
    octx.mmapChanging++;
    fcs.set(octx, ctx);
  }
  vma.uffdCtx = ctx;
}

// dup_userfaultfd_complete() -> dup_fctx(): a FORK event on each parent context (its mmap_changing already raised by dup_userfaultfd())
export function dupUserfaultfdComplete(fcs: Map<UffdCtx, UffdCtx>): UffdEvent[] {
  return [...fcs].map(([octx, ctx]) => {
    octx.mmapChanging--;
    return userfaultfdEvent(octx, { event: 'FORK', ctx });
  });
}

/**
 * A list of struct userfaultfd_unmap_ctx: the UNMAP events of [start, end)
 * that contexts are owed by an unmap (do_vmi_munmap()'s `uf`).
 */
export class UnmapList {
  private readonly owed: { readonly ctx: UffdCtx; readonly start: bigint; readonly end: bigint }[] = [];

  // userfaultfd_unmap_prep(): an area's context, if it asks for UNMAP events, is owed one of the range (once); mmap_changing raised from now
  prep(vma: Vma, start: bigint, end: bigint): void {
    const ctx = vma.uffdCtx as UffdCtx | null;
    if (!ctx || !(ctx.features & U.UFFD_FEATURE_EVENT_UNMAP)) return;
    if (this.owed.some((u) => u.ctx === ctx && u.start === start && u.end === end)) return;
    ctx.mmapChanging++;
    this.owed.push({ ctx, start, end });
  }

  // userfaultfd_unmap_complete(): once the areas are gone, each UNMAP event in turn, the call held until it is read; then `then`
  complete<T>(then: () => Blocking<T>, from = 0): Blocking<T> {
    const u = this.owed[from];
    if (!u) return then();
    const ev = userfaultfdEvent(u.ctx, { event: 'UNMAP', start: u.start, end: u.end }, true);
    return new EventWait([ev], () => this.complete(then, from + 1));
  }
}

// userfaultfd_remove(): with UFFD_FEATURE_EVENT_REMOVE, a REMOVE event the caller waits on before it zaps
export function userfaultfdRemove(vma: Vma, start: bigint, end: bigint): UffdEvent | null {
  const ctx = vma.uffdCtx as UffdCtx | null;
  if (!ctx || !(ctx.features & U.UFFD_FEATURE_EVENT_REMOVE)) return null;
  return userfaultfdEvent(ctx, { event: 'REMOVE', start, end });
}

// wake_userfault() -> userfaultfd_wake_function(): the waiters whose address is in [start, start + len) (len 0: all)
export function wakeUserfault(ctx: UffdCtx, start: bigint, len: bigint): void {
  const woken = (w: UffdWaiter) => len === 0n || (w.msg.address >= start && w.msg.address < start + len);
  for (const w of ctx.waiters) if (woken(w)) w.woken = true;
  ctx.waiters = ctx.waiters.filter((w) => !w.woken);
}

// userfaultfd_wake()
export function uffdioWake(ctx: UffdCtx, start: bigint, len: bigint): Ret<0> {
  if (!ctx.ready || badRange(start, len)) return new Errno('EINVAL', 'ioctl');
  wakeUserfault(ctx, start, len);
  return 0;
}

