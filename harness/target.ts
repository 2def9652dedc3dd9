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
  ftruncate(fd: number, length: bigint): Promise<Ret<0>>;
  memfdCreate(name: string, flags: number): Promise<Ret<number>>;
  /** malloc-family: aligned_alloc()/memalign() from the C library's heap */
  alignedAlloc(alignment: bigint, size: bigint): Promise<Ret<bigint>>;
  free(addr: bigint): Promise<void>;
  /** loads from user memory, as the process itself would */
  read(addr: bigint, length: number): Promise<MemResult>;
  /** stores to user memory, as the process itself would */
  write(addr: bigint, data: Uint8Array): Promise<MemResult>;
  /** the text of a /proc or /sys file (smaps, transparent_hugepage/enabled, ...) */
  readFile(path: string): Promise<Ret<string>>;
  /** write(2) to a /proc or /sys file (clear_refs, ...): bytes written */
  writeFile(path: string, data: string): Promise<Ret<number>>;
  /** pread(2) of /proc/self/pagemap: one entry per page from addr */
  pagemap(addr: bigint, nPages: number): Promise<Ret<BigUint64Array>>;
  /** ioctl(pagemap_fd, PAGEMAP_SCAN, &arg) */
  pagemapScan(arg: PmScanArg): Promise<Ret<PmScanResult>>;
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
  /** the raw page-table walk of addr (targets whose capabilities say introspect) */
  descriptors?(addr: bigint): Promise<Ret<Descriptors>>;
  exit(): Promise<void>;
}

export type { Errno, Ret };
