// The process's own loads and stores: the hardware walk (arm64/walk.ts),
// and on a fault arch/arm64/mm/fault.c's do_page_fault() into
// handle_mm_fault() (fault.ts), then a retry.

import { accessPa, type Access } from '../arm64/walk.ts';
import { FAULT_FLAG_WRITE, handleMmFault, type VmFault } from './fault.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import * as V from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);
const PAGE_OFFSET_MASK = PAGE - 1n;

/**
 * A load or store by the process: the hardware walk, and on a fault the
 * kernel's do_page_fault() and a retry. Returns the pfn reached (a number: PAs are 48 bits) or the signal.
 */
function userAccess(mm: Mm, addr: bigint, acc: Access, current?: FaultCounts): number | 'SIGSEGV' | 'SIGBUS' {
  for (let attempt = 0; attempt < 8; attempt++) {
    const pa = accessPa(mm.pt.mem, mm.pt.root, addr, acc, mm.sys.cfg.hw);
    if (pa >= 0) return Math.floor(pa / PAGE_SIZE);
    const fault = doPageFault(mm, addr, acc);
    if (fault !== 0) return fault;
    // mm_account_fault(): a fault handled without I/O is a minor one
    if (current) current.minFlt++;
  }
  throw new Error(`model bug: access to 0x${addr.toString(16)} keeps faulting`);
}

// arch/arm64/mm/fault.c do_page_fault(): the area must allow the access
function doPageFault(mm: Mm, addr: bigint, acc: Access): VmFault {
  const vma = mm.vmas.lookup(addr);
  if (!vma) return 'SIGSEGV';
  let need: number;
  if (acc === 'exec') need = V.VM_EXEC;
  else if (acc === 'write') need = V.VM_WRITE;
  else need = V.VM_READ | V.VM_WRITE | (mm.sys.cfg.epan ? 0 : V.VM_EXEC);
  if (!(vma.flags & need)) return 'SIGSEGV';
  return handleMmFault(mm, vma, addr, acc === 'write' ? FAULT_FLAG_WRITE : 0);
}

/** A thread's fault counters (task_struct's min_flt), as getrusage(RUSAGE_THREAD) reads them. */
export interface FaultCounts {
  minFlt: number;
}

/** An access that faulted: the signal, and the address it came at. */
export type Signalled = { signal: 'SIGSEGV' | 'SIGBUS'; addr: bigint };

/** A read of len bytes by the process: the bytes, or the signal and the address it came at. */
export function readUser(mm: Mm, addr: bigint, len: number): Uint8Array | Signalled {
  const out = new Uint8Array(len);
  for (let done = 0; done < len; ) {
    const a = addr + BigInt(done);
    const pfn = userAccess(mm, a, 'read');
    if (typeof pfn !== 'number') return { signal: pfn, addr: a };
    const off = Number(a & PAGE_OFFSET_MASK);
    const n = Math.min(len - done, PAGE_SIZE - off);
    out.set(mm.sys.phys.read(BigInt(pfn), off, n), done);
    done += n;
  }
  return out;
}

/** Stores of len bytes from addr in address order, a page at a time; `put(pfn, off, done, n)` stores the n bytes from offset done at the page's off. */
function storeUser(mm: Mm, addr: bigint, len: bigint, put: (pfn: number, off: number, done: number, n: number) => void): null | Signalled {
  for (let done = 0n; done < len; ) {
    const a = addr + done;
    const pfn = userAccess(mm, a, 'write');
    if (typeof pfn !== 'number') return { signal: pfn, addr: a };
    const off = Number(a & PAGE_OFFSET_MASK);
    const n = Number(len - done < PAGE - BigInt(off) ? len - done : PAGE - BigInt(off));
    // the store dirties the pte (hardware DBM, or the write fault did): the folio learns it only when the pte goes
    put(pfn, off, Number(done), n);
    done += BigInt(n);
  }
  return null;
}

/** A write of data by the process: null, or the signal and the address it came at. */
export function writeUser(mm: Mm, addr: bigint, data: Uint8Array): null | Signalled {
  return storeUser(mm, addr, BigInt(data.length), (pfn, off, done, n) => mm.sys.phys.write(BigInt(pfn), off, data.subarray(done, done + n)));
}

/** memset(addr, byte, len) by the process, in address order: null, or the signal and the address it came at. */
export function fillUser(mm: Mm, addr: bigint, len: bigint, byte: number): null | Signalled {
  return storeUser(mm, addr, len, (pfn, off, _done, n) => mm.sys.phys.fill(pfn, off, n, byte));
}

/** `((volatile char *)a)[0]++` at each address in turn, a load then a store: null, or the first signal and its address. */
export function incrementUser(mm: Mm, addrs: readonly bigint[]): null | Signalled {
  for (const a of addrs) {
    const load = userAccess(mm, a, 'read');
    if (typeof load !== 'number') return { signal: load, addr: a };
    const off = Number(a & PAGE_OFFSET_MASK);
    const value = mm.sys.phys.readByte(load, off) + 1;
    const store = userAccess(mm, a, 'write');
    if (typeof store !== 'number') return { signal: store, addr: a };
    mm.sys.phys.writeByte(store, off, value);
  }
  return null;
}

/**
 * `__atomic_add_fetch((int *)a, delta, __ATOMIC_SEQ_CST)` at each address in
 * turn by a thread, as libgcc's __aarch64_ldadd4_acq_rel does it (LDADDAL
 * with LSE, LDAXR/STLXR without): the page is faulted in for reading
 * first, then for writing (measured on the arm64 guests: an add to an
 * unpopulated read-only page maps it, then gets SIGSEGV). null, or the
 * first signal.
 */
export function atomicAddUser(mm: Mm, addrs: readonly bigint[], delta: number, current: FaultCounts): null | Signalled {
  for (const a of addrs) {
    if (a & 3n) throw new Error(`atomic add at 0x${a.toString(16)}: an int is 4-byte aligned`);
    const load = userAccess(mm, a, 'read', current);
    if (typeof load !== 'number') return { signal: load, addr: a };
    const pfn = userAccess(mm, a, 'write', current);
    if (typeof pfn !== 'number') return { signal: pfn, addr: a };
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
