// The process's own loads and stores: the hardware walk (arm64/walk.ts),
// and on a fault arch/arm64/mm/fault.c's do_page_fault() into
// handle_mm_fault() (fault.ts), then a retry.

import { access as hwAccess, type Access } from '../arm64/walk.ts';
import { FAULT_FLAG_WRITE, handleMmFault, type VmFault } from './fault.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import * as V from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/**
 * A load or store by the process: the hardware walk, and on a fault the
 * kernel's do_page_fault() and a retry. Returns the pfn reached or the signal.
 */
function userAccess(mm: Mm, addr: bigint, acc: Access): { pfn: bigint } | { signal: 'SIGSEGV' | 'SIGBUS' } {
  for (let attempt = 0; attempt < 8; attempt++) {
    const r = hwAccess(mm.pt.mem, mm.pt.root, addr, acc, mm.sys.cfg.hw);
    if (r.ok) return { pfn: r.pa >> 12n };
    const fault = doPageFault(mm, addr, acc);
    if (fault !== 0) return { signal: fault === 'SIGBUS' ? 'SIGBUS' : 'SIGSEGV' };
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

/** A read of len bytes by the process: the bytes, or the signal and the address it came at. */
export function readUser(mm: Mm, addr: bigint, len: number): Uint8Array | { signal: 'SIGSEGV' | 'SIGBUS'; addr: bigint } {
  const out = new Uint8Array(len);
  for (let done = 0; done < len; ) {
    const a = addr + BigInt(done);
    const r = userAccess(mm, a, 'read');
    if ('signal' in r) return { signal: r.signal, addr: a };
    const off = Number(a & (PAGE - 1n));
    const n = Math.min(len - done, PAGE_SIZE - off);
    out.set(mm.sys.phys.read(r.pfn, off, n), done);
    done += n;
  }
  return out;
}

/** A write of data by the process: null, or the signal and the address it came at. */
export function writeUser(mm: Mm, addr: bigint, data: Uint8Array): null | { signal: 'SIGSEGV' | 'SIGBUS'; addr: bigint } {
  for (let done = 0; done < data.length; ) {
    const a = addr + BigInt(done);
    const r = userAccess(mm, a, 'write');
    if ('signal' in r) return { signal: r.signal, addr: a };
    const off = Number(a & (PAGE - 1n));
    const n = Math.min(data.length - done, PAGE_SIZE - off);
    // the store dirties the pte (hardware DBM, or the write fault did): the folio learns it only when the pte goes
    mm.sys.phys.write(r.pfn, off, data.subarray(done, done + n));
    done += n;
  }
  return null;
}
