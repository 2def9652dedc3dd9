// What the mmconform suites share for asynchronous uffd-wp: a userfaultfd
// in that mode, whether the target swaps, the pagemap bits a step looks at,
// and PAGEMAP_SCAN for the written pages (the read-back CRIU and async
// uffd-wp users do), write-protecting them or not.

import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  O_CLOEXEC,
  O_NONBLOCK,
  PAGE_IS_WRITTEN,
  PM_PRESENT,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
  PM_SWAP,
  PM_UFFD_WP,
  PROT_READ,
  PROT_WRITE,
  UFFD_API,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  isErr,
  type Ret,
} from '../uapi/linux.ts';
import type { Selftest } from '../harness/suite.ts';
import type { PmScanResult } from '../harness/target.ts';
import { pagemapGetEntry } from '../harness/vm-util.ts';

/**
 * A userfaultfd in async write-protect mode, markers in empty ptes, or why
 * there is none: only the answers of a kernel without them (userfaultfd(2)
 * ENOSYS or EPERM, UFFDIO_API EINVAL for features it does not know); any
 * other error ends the program.
 */
export async function asyncUffd(t: Selftest): Promise<number | string> {
  const fd = await t.proc.userfaultfd(O_CLOEXEC | O_NONBLOCK);
  if (isErr(fd)) {
    if (fd.name === 'ENOSYS' || fd.name === 'EPERM') return `no asynchronous uffd-wp: ${fd}`;
    t.ksft.exitFailMsg(`userfaultfd failed: ${fd}`);
  }
  const api = await t.proc.uffdioApi(fd, UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED);
  if (isErr(api)) {
    if (api.name === 'EINVAL') return `no asynchronous uffd-wp: ${api}`;
    t.ksft.exitFailMsg(`UFFDIO_API failed: ${api}`);
  }
  return fd;
}

/** `n` private anonymous read-write pages (the program fails without them), and each page's address. */
export async function mapPages(t: Selftest, n: number): Promise<{ map: bigint; page: (i: number) => bigint }> {
  const map = await t.proc.mmap(0n, BigInt(n) * t.pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(map)) t.ksft.exitFailMsg(`mmap failed: ${map}`);
  return { map, page: (i: number) => map + BigInt(i) * t.pagesize };
}

/** asyncUffd(), or null once `names` are skipped for want of one, saying why. */
export async function asyncUffdOrSkip(t: Selftest, names: readonly string[]): Promise<number | null> {
  const uffd = await asyncUffd(t);
  if (typeof uffd !== 'string') return uffd;
  t.ksft.printMsg(uffd);
  for (const name of names) t.ksft.testResultSkip(name);
  return null;
}

export async function haveSwap(t: Selftest): Promise<boolean> {
  const swaps = await t.proc.readFile('/proc/swaps');
  return !isErr(swaps) && swaps.trim().split('\n').length > 1;
}

/** The pagemap bits a step looks at */
const PM_STATE = PM_PRESENT | PM_SWAP | PM_UFFD_WP;
export const pmState = async (t: Selftest, addr: bigint) => (await pagemapGetEntry(t, addr)) & PM_STATE;

/** PAGEMAP_SCAN of [start, end) for the written pages, write-protecting them with `flags` (WP_MATCHING). */
export function scanWritten(t: Selftest, start: bigint, end: bigint, flags: number, maxPages = 0n, vecLen = 16) {
  const w = PAGE_IS_WRITTEN;
  return t.proc.pagemapScan({ start, end, flags, maxPages, categoryInverted: 0, categoryMask: w, categoryAnyofMask: 0, returnMask: w, vecLen });
}

export const WP_MATCHING = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

/** Regions as "first-last" page indexes from base, to compare in one string. */
export const pagesOf = (r: Ret<PmScanResult>, base: bigint, pagesize: bigint): string =>
  isErr(r) ? String(r) : r.regions.map((x) => `${(x.start - base) / pagesize}-${(x.end - base) / pagesize - 1n}`).join(' ');
