// The process's own loads and stores: the hardware walk (arm64/walk.ts),
// and on a fault arch/arm64/mm/fault.c's do_page_fault() into
// handle_mm_fault() (fault.ts), then a retry.

import { accessPa, type Access } from '../arm64/walk.ts';
import { FAULT_FLAG_WRITE, handleMmFault, type VmFault } from './fault.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import type { UffdWaiter } from './userfaultfd.ts';
import * as V from './vma.ts';

const PAGE_OFFSET_MASK = BigInt(PAGE_SIZE) - 1n;

/**
 * A load or store by the process: the hardware walk, and on a fault the
 * kernel's do_page_fault() and a retry. Returns the pfn reached (a number:
 * PAs are 48 bits), the signal, or the waiter of a userfaultfd the access
 * now waits on.
 */
function userAccess(mm: Mm, addr: bigint, acc: Access, current?: Current): number | 'SIGSEGV' | 'SIGBUS' | UffdWaiter {
  for (let attempt = 0; attempt < 8; attempt++) {
    const pa = accessPa(mm.pt.mem, mm.pt.root, addr, acc, mm.sys.cfg.hw);
    if (pa >= 0) return Math.floor(pa / PAGE_SIZE);
    const fault = current ? mm.asCurrent(current.tid, () => doPageFault(mm, addr, acc)) : doPageFault(mm, addr, acc);
    if (fault !== 0) return fault;
    // mm_account_fault(): a fault handled without I/O is a minor one
    if (current) current.minFlt++;
  }
  throw new Error(`model bug: access to 0x${addr.toString(16)} keeps faulting`);
}

// arch/arm64/mm/fault.c do_page_fault(): the area must allow the access; a poisoned page is SIGBUS (arm64_force_sig_mceerr())
function doPageFault(mm: Mm, addr: bigint, acc: Access): Exclude<VmFault, 'HWPOISON'> {
  const vma = mm.vmas.lookup(addr);
  if (!vma) return 'SIGSEGV';
  let need: number;
  if (acc === 'exec') need = V.VM_EXEC;
  else if (acc === 'write') need = V.VM_WRITE;
  else need = V.VM_READ | V.VM_WRITE | (mm.sys.cfg.epan ? 0 : V.VM_EXEC);
  if (!(vma.flags & need)) return 'SIGSEGV';
  const fault = handleMmFault(mm, vma, addr, acc === 'write' ? FAULT_FLAG_WRITE : 0);
  return fault === 'HWPOISON' ? 'SIGBUS' : fault;
}

/** Another thread of the process (current): its tid, and its minor faults (min_flt) as getrusage(RUSAGE_THREAD) reads them. */
export interface Current {
  readonly tid: number;
  minFlt: number;
}

/** An access that faulted: the signal, and the address it came at. */
export type Signalled = { signal: 'SIGSEGV' | 'SIGBUS'; addr: bigint };

/**
 * An access waiting in a userfaultfd's handler (handle_userfault()): once
 * the waiter is woken it goes on, from `done` (bytes, or addresses, done
 * already), as the faulting instruction is retried.
 */
export interface Waiting {
  readonly waiter: UffdWaiter;
  readonly done: number;
  /** increment: the value the interrupted store is to write (the load before it is not made again) */
  readonly value?: number;
}

const outcome = (r: 'SIGSEGV' | 'SIGBUS' | UffdWaiter, addr: bigint, done: number, value?: number): Signalled | Waiting =>
  typeof r === 'string' ? { signal: r, addr } : value === undefined ? { waiter: r, done } : { waiter: r, done, value };

/** A read of out.length bytes by the process into out, from byte `from`: null, the signal and the address it came at, or the wait. */
export function readUser(mm: Mm, addr: bigint, out: Uint8Array, from = 0): null | Signalled | Waiting {
  const len = out.length;
  for (let done = from; done < len; ) {
    const a = addr + BigInt(done);
    const pfn = userAccess(mm, a, 'read');
    if (typeof pfn !== 'number') return outcome(pfn, a, done);
    const off = Number(a & PAGE_OFFSET_MASK);
    const n = Math.min(len - done, PAGE_SIZE - off);
    out.set(mm.sys.phys.read(BigInt(pfn), off, n), done);
    done += n;
  }
  return null;
}

/** Stores of len bytes from addr in address order, a page at a time, from byte `from`; `put(pfn, off, done, n)` stores the n bytes from offset done at the page's off. */
function storeUser(mm: Mm, addr: bigint, len: number, from: number, put: (pfn: number, off: number, done: number, n: number) => void): null | Signalled | Waiting {
  for (let done = from; done < len; ) {
    const a = addr + BigInt(done);
    const pfn = userAccess(mm, a, 'write');
    if (typeof pfn !== 'number') return outcome(pfn, a, done);
    const off = Number(a & PAGE_OFFSET_MASK);
    const n = Math.min(len - done, PAGE_SIZE - off);
    // the store dirties the pte (hardware DBM, or the write fault did): the folio learns it only when the pte goes
    put(pfn, off, done, n);
    done += n;
  }
  return null;
}

/** A write of data by the process, from byte `from`: null, the signal and the address it came at, or the wait. */
export function writeUser(mm: Mm, addr: bigint, data: Uint8Array, from = 0): null | Signalled | Waiting {
  return storeUser(mm, addr, data.length, from, (pfn, off, done, n) => mm.sys.phys.write(BigInt(pfn), off, data.subarray(done, done + n)));
}

/**
 * data written at each address in turn by the process (a loop of its own
 * stores), from byte `from` of them all (address i's are the bytes from
 * i * data.length): null, the first signal and its address, or the wait.
 */
export function writeEachUser(mm: Mm, addrs: readonly bigint[], data: Uint8Array, from = 0): null | Signalled | Waiting {
  const len = data.length;
  if (len === 0) return null;
  const first = Math.floor(from / len);
  for (let i = first; i < addrs.length; i++) {
    const r = writeUser(mm, addrs[i]!, data, i === first ? from % len : 0);
    if (r !== null) return 'signal' in r ? r : { waiter: r.waiter, done: i * len + r.done };
  }
  return null;
}

/** memset(addr, byte, len) by the process, in address order, from byte `from`: null, the signal and the address it came at, or the wait. */
export function fillUser(mm: Mm, addr: bigint, len: bigint, byte: number, from = 0): null | Signalled | Waiting {
  return storeUser(mm, addr, Number(len), from, (pfn, off, _done, n) => mm.sys.phys.fill(pfn, off, n, byte));
}

/**
 * `((volatile char *)a)[0]++` at each address in turn, a load then a
 * store, from address `from` (`value`: the store of that one was
 * interrupted, and writes this): null, the first signal and its address,
 * or the wait.
 */
export function incrementUser(mm: Mm, addrs: readonly bigint[], from = 0, value?: number): null | Signalled | Waiting {
  for (let i = from; i < addrs.length; i++) {
    const a = addrs[i]!;
    const off = Number(a & PAGE_OFFSET_MASK);
    let v = value;
    value = undefined;
    if (v === undefined) {
      const load = userAccess(mm, a, 'read');
      if (typeof load !== 'number') return outcome(load, a, i);
      v = (mm.sys.phys.readByte(load, off) + 1) & 0xff;
    }
    const store = userAccess(mm, a, 'write');
    if (typeof store !== 'number') return outcome(store, a, i, v);
    mm.sys.phys.writeByte(store, off, v);
  }
  return null;
}

/**
 * `__atomic_add_fetch((int *)a, delta, __ATOMIC_SEQ_CST)` at each address in
 * turn by a thread, as libgcc's __aarch64_ldadd4_acq_rel does it (LDADDAL
 * with LSE, LDAXR/STLXR without): the page is faulted in for reading
 * first, then for writing (measured on the arm64 guests: an add to an
 * unpopulated read-only page maps it, then gets SIGSEGV). From address
 * `from` (one instruction, or a loop that starts over: a retried add loads
 * again). null, the first signal, or the wait.
 */
export function atomicAddUser(mm: Mm, addrs: readonly bigint[], delta: number, current: Current, from = 0): null | Signalled | Waiting {
  for (let i = from; i < addrs.length; i++) {
    const a = addrs[i]!;
    if (a & 3n) throw new Error(`atomic add at 0x${a.toString(16)}: an int is 4-byte aligned`);
    const load = userAccess(mm, a, 'read', current);
    if (typeof load !== 'number') return outcome(load, a, i);
    const pfn = userAccess(mm, a, 'write', current);
    if (typeof pfn !== 'number') return outcome(pfn, a, i);
    // the little-endian int a byte at a time (aligned: within the page), with nothing allocated
    const off = Number(a & PAGE_OFFSET_MASK);
    const phys = mm.sys.phys;
    let old = 0;
    for (let k = 3; k >= 0; k--) old = (old << 8) | phys.readByte(pfn, off + k);
    const sum = (old + delta) | 0;
    for (let k = 0; k < 4; k++) phys.writeByte(pfn, off + k, (sum >>> (8 * k)) & 0xff);
  }
  return null;
}
