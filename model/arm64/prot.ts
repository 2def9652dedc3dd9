// User page protections (arch/arm64/include/asm/pgtable-prot.h) and
// vm_get_page_prot() with its protection_map[] (arch/arm64/mm/mmap.c).

import * as hw from './hwdef.ts';
import type { Layout } from './layout.ts';

export const VM_NONE = 0;
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

const { PTE_USER, PTE_RDONLY, PTE_NG, PTE_PXN, PTE_UXN, PTE_VALID } = hw;
const PTE_WRITE = hw.PTE_DBM;
const _PAGE_DEFAULT = hw.PTE_TYPE_PAGE | hw.PTE_AF | hw.PTE_SHARED | hw.PTE_ATTRINDX(hw.MT_NORMAL);

export interface UserProts {
  readonly PAGE_NONE: bigint;
  readonly PAGE_SHARED: bigint;
  readonly PAGE_SHARED_EXEC: bigint;
  readonly PAGE_READONLY: bigint;
  readonly PAGE_READONLY_EXEC: bigint;
  readonly PAGE_EXECONLY: bigint;
}

export function userProts(layout: Layout): UserProts {
  const mark = hw.bit(layout.invalid.style === 'present-invalid' ? layout.invalid.bit : layout.invalid.protNone);
  const readonly = _PAGE_DEFAULT | PTE_USER | PTE_RDONLY | PTE_NG | PTE_PXN | PTE_UXN;
  return {
    PAGE_NONE: (_PAGE_DEFAULT & ~PTE_VALID) | mark | PTE_RDONLY | PTE_NG | PTE_PXN | PTE_UXN,
    // shared+writable pages are clean by default, hence PTE_RDONLY|PTE_WRITE
    PAGE_SHARED: readonly | PTE_WRITE,
    PAGE_SHARED_EXEC: (readonly | PTE_WRITE) & ~PTE_UXN,
    PAGE_READONLY: readonly,
    PAGE_READONLY_EXEC: readonly & ~PTE_UXN,
    PAGE_EXECONLY: _PAGE_DEFAULT | PTE_RDONLY | PTE_NG | PTE_PXN,
  };
}

export interface ProtOptions {
  /** ARM64_HAS_EPAN: exec-only mappings become PAGE_EXECONLY */
  readonly epan: boolean;
}

/** protection_map[16] after adjust_protection_map() */
export function protectionMap(layout: Layout, opts: ProtOptions): readonly bigint[] {
  const p = userProts(layout);
  const execOnly = opts.epan ? p.PAGE_EXECONLY : p.PAGE_READONLY_EXEC;
  return [
    p.PAGE_NONE, // VM_NONE
    p.PAGE_READONLY, // VM_READ
    p.PAGE_READONLY, // VM_WRITE: private writes go through COW
    p.PAGE_READONLY,
    execOnly, // VM_EXEC
    p.PAGE_READONLY_EXEC,
    p.PAGE_READONLY_EXEC,
    p.PAGE_READONLY_EXEC,
    p.PAGE_NONE, // VM_SHARED
    p.PAGE_READONLY,
    p.PAGE_SHARED,
    p.PAGE_SHARED,
    execOnly, // VM_SHARED | VM_EXEC
    p.PAGE_READONLY_EXEC,
    p.PAGE_SHARED_EXEC,
    p.PAGE_SHARED_EXEC,
  ];
}

/** vm_get_page_prot(), for the access and sharing flags (no BTI, MTE or pkeys). */
export function vmGetPageProt(map: readonly bigint[], vmFlags: number): bigint {
  const prot = map[vmFlags & (VM_ACCESS_FLAGS | VM_SHARED)];
  if (prot === undefined) throw new Error(`vm_get_page_prot: bad flags ${vmFlags}`);
  return prot;
}
