// Historical uffd-wp and PAGEMAP_SCAN bugs (shared/reference/bugs.md,
// areas F, G and H) that asynchronous uffd-wp can show, each as the minimal
// scenario: one result per bug id. A kernel that has the bug fails that
// result; the model must not. E1, F1 and F2 (uffd-wp across fork()) are
// uffd-unit-tests' wp-fork* results; E2 is here, since wp-fork puts its
// markers in shmem, whose page tables a child without uffd-wp does not get,
// and so is D4, which no selftest tries (MADV_COLLAPSE under uffd-wp). G4 (mremap-uffd-clear) is a pte-states step.
// G5 (zap-marker-nopage) needs a uffd-wp pte with no struct page in a file
// area (pfn or DAX mappings): a zap of anonymous memory drops uffd-wp zero
// pages and markers alike ("Zap on anonymous always means dropping
// everything", zap_install_uffd_wp_if_needed(), measured on the host, 6.12
// arm64 and the model), and tmpfs maps page cache pages. D2 is a THP moved
// by move_pages(). The rest need a migration entry seen in flight, pinning
// or concurrency, which the model does not have.

import { MADV_COLLAPSE, MADV_HUGEPAGE, MADV_PAGEOUT, MADV_REMOVE, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, PM_PRESENT, PM_SWAP, PM_UFFD_WP, PROT_NONE, PROT_READ, PROT_WRITE, UFFDIO_REGISTER_MODE_WP, UFFDIO_WRITEPROTECT_MODE_WP, isErr } from '../../uapi/linux.ts';
import type { Ksft } from '../../harness/ksft.ts';
import type { Selftest, Suite } from '../../harness/suite.ts';
import { storeByte } from '../../harness/user-memory.ts';
import { checkHugeAnon, readPmdPagesize } from '../../harness/vm-util.ts';
import { NOT_ENOUGH_NODES, movePagesTo, otherNode } from '../numa.ts';
import { WP_MATCHING, asyncUffdOrSkip, haveSwap, mapPages, pagesOf, pmState, scanWritten } from '../uffd-async.ts';

const NAMES = {
  unregReset: 'uffd-unreg-reset: UFFDIO_UNREGISTER resets write protection, and a new registration finds none',
  forkMarker: 'fork-marker: a child without UFFD_FEATURE_EVENT_FORK gets no uffd-wp marker, the parent keeps its own',
  khugepagedUffdwp: 'khugepaged-uffdwp: MADV_COLLAPSE of shmem registered for uffd-wp fails (EINVAL), the protected page a marker still',
  wpFastpath: 'pmscan-wp-fastpath: PAGEMAP_SCAN without a vector or PM_SCAN_WP_MATCHING protects nothing',
  swpUffd: 'pmscan-swp-uffd: protected swap entries are not written; the one written back is',
  hugetlbCpMarker: 'hugetlb-cp-marker: a hugetlb marker protected again stays one; resolved or unregistered it goes; the hole punched after is clean',
  thpPmdUffdBits: 'thp-pmd-uffd-bits: a uffd-wp THP moved by move_pages is a block still, uffd-wp on every page; a store is recorded for its page alone',
};

/** `pages` private anonymous pages registered for async uffd-wp. */
async function wpArea(t: Selftest, uffd: number, pages: bigint): Promise<bigint> {
  const { map } = await mapPages(t, Number(pages));
  const registered = await t.proc.uffdioRegister(uffd, map, pages * t.pagesize, UFFDIO_REGISTER_MODE_WP);
  if (isErr(registered)) t.ksft.exitFailMsg(`UFFDIO_REGISTER failed: ${registered}`);
  return map;
}

// G2 (v6.0, f369b07c8614): unregistering cleared the area's flag but left uffd-wp bits and markers behind
async function unregReset(t: Selftest, uffd: number): Promise<void> {
  const pages = 2n;
  const map = await wpArea(t, uffd, pages);
  await storeByte(t.proc, map, 1);
  await t.proc.uffdioWriteprotect(uffd, map, pages * t.pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  const protectedFirst = (await pmState(t, map)) === (PM_PRESENT | PM_UFFD_WP) && (await pmState(t, map + t.pagesize)) === (PM_SWAP | PM_UFFD_WP);
  const unregistered = await t.proc.uffdioUnregister(uffd, map, pages * t.pagesize);
  const reset = (await pmState(t, map)) === PM_PRESENT && (await pmState(t, map + t.pagesize)) === 0n;
  // registered again, never write-protected: both pages count as written
  await t.proc.uffdioRegister(uffd, map, pages * t.pagesize, UFFDIO_REGISTER_MODE_WP);
  const written = pagesOf(await scanWritten(t, map, map + pages * t.pagesize, 0), map, t.pagesize);
  t.ksft.testResult(protectedFirst && unregistered === 0 && reset && written === '0-1', NAMES.unregReset);
  await t.proc.munmap(map, pages * t.pagesize);
}

// E2 (v6.2, 49d6d7fb6313): fork() gave a uffd-wp marker to a child that does not keep uffd-wp (no UFFD_FEATURE_EVENT_FORK)
async function forkMarker(t: Selftest, uffd: number): Promise<void> {
  const pages = 2n;
  const map = await wpArea(t, uffd, pages);
  // a written page: the area has an anon_vma, so fork() copies its page tables
  await storeByte(t.proc, map, 1);
  await t.proc.uffdioWriteprotect(uffd, map, pages * t.pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  const child = await t.proc.fork();
  if (isErr(child)) t.ksft.exitFailMsg(`fork failed: ${child}`);
  const entries = await child.pagemap(map, Number(pages));
  await child.exit();
  const state = (e: bigint | undefined) => (e ?? -1n) & (PM_PRESENT | PM_SWAP | PM_UFFD_WP);
  const inChild = isErr(entries) ? [] : [state(entries[0]), state(entries[1])];
  const inParent = [await pmState(t, map), await pmState(t, map + t.pagesize)];
  t.ksft.testResult(inChild.join() === [PM_PRESENT, 0n].join() && inParent.join() === [PM_PRESENT | PM_UFFD_WP, PM_SWAP | PM_UFFD_WP].join(), NAMES.forkMarker);
  await t.proc.munmap(map, pages * t.pagesize);
}

// D4 (v5.19, deb4c93a9871): MADV_COLLAPSE must keep the pte table of a shmem area registered for uffd-wp, where the
// markers of its protected pages are: the page cache collapses, the area keeps its small mappings, and the call fails
async function khugepagedUffdwp(t: Selftest, uffd: number): Promise<void> {
  const { proc, pagesize } = t;
  const ksft: Ksft = t.ksft;
  const hpage = 2n << 20n;
  const fd = await proc.memfdCreate('khugepaged-uffdwp', 0);
  if (isErr(fd)) ksft.exitFailMsg(`memfd_create failed: ${fd}`);
  await proc.ftruncate(fd, hpage);
  // a place a huge page fits: the file mapped over the aligned half of a reservation twice its size
  const resv = await proc.mmap(0n, 2n * hpage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(resv)) ksft.exitFailMsg(`mmap failed: ${resv}`);
  const map = (resv + hpage - 1n) & ~(hpage - 1n);
  if (isErr(await proc.mmap(map, hpage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0n))) ksft.exitFailMsg('mmap of the memfd failed');
  await proc.fill(map, hpage, 1);
  await proc.uffdioRegister(uffd, map, hpage, UFFDIO_REGISTER_MODE_WP);
  await proc.uffdioWriteprotect(uffd, map, pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  const collapse = await proc.madvise(map, hpage, MADV_COLLAPSE);
  const states = [await pmState(t, map), await pmState(t, map + pagesize)];
  if (!isErr(collapse) || collapse.name !== 'EINVAL') ksft.printMsg(`MADV_COLLAPSE under uffd-wp: ${isErr(collapse) ? collapse.name : 'done'}`);
  ksft.testResult(isErr(collapse) && collapse.name === 'EINVAL' && states.join() === [PM_SWAP | PM_UFFD_WP, 0n].join(), NAMES.khugepagedUffdwp);
  await proc.munmap(resv, 2n * hpage);
  await proc.close(fd);
}

// H2 (v6.7-rc3): the no-vector fast path write-protected even without PM_SCAN_WP_MATCHING
async function wpFastpath(t: Selftest, uffd: number): Promise<void> {
  const pages = 4n;
  const map = await wpArea(t, uffd, pages);
  for (let i = 0n; i < pages; i += 2n) await storeByte(t.proc, map + i * t.pagesize, 1);
  const end = map + pages * t.pagesize;
  const scan = await scanWritten(t, map, end, 0, 0n, 0);
  const states = [];
  for (let i = 0n; i < pages; i++) states.push(await pmState(t, map + i * t.pagesize));
  t.ksft.testResult(
    !isErr(scan) && scan.ret === 0 && states.join() === [PM_PRESENT, 0n, PM_PRESENT, 0n].join() && pagesOf(await scanWritten(t, map, end, 0), map, t.pagesize) === '0-3',
    NAMES.wpFastpath,
  );
  await t.proc.munmap(map, pages * t.pagesize);
}

// H3 (v6.9, 2c7ad9a590d1): the scan's fast paths read a swap entry's uffd-wp with the present-pte accessor (arm64 keeps it elsewhere)
async function swpUffd(t: Selftest, uffd: number, swap: boolean): Promise<void> {
  if (!swap) {
    t.ksft.printMsg('no swap');
    return t.ksft.testResultSkip(NAMES.swpUffd);
  }
  const pages = 4n;
  const map = await wpArea(t, uffd, pages);
  const page = (i: bigint) => map + i * t.pagesize;
  for (let i = 0n; i < pages; i++) await storeByte(t.proc, page(i), 1);
  await t.proc.madvise(page(2n), 2n * t.pagesize, MADV_PAGEOUT);
  const end = page(pages);
  const protect = await scanWritten(t, map, end, WP_MATCHING, 0n, 0);
  await storeByte(t.proc, page(3n), 2);
  const written = pagesOf(await scanWritten(t, map, end, 0), map, t.pagesize);
  t.ksft.testResult(!isErr(protect) && written === '3-3' && (await pmState(t, page(2n))) === (PM_SWAP | PM_UFFD_WP), NAMES.swpUffd);
  await t.proc.munmap(map, pages * t.pagesize);
}

// F4 (v6.2, 0e678153f5be): hugetlb_change_protection() let a marker fall into the present-pte path, a garbage entry a hole punch then met
async function hugetlbCpMarker(t: Selftest, uffd: number): Promise<void> {
  const { proc, ksft } = t;
  const hpage = 2n << 20n;
  const map = await proc.mmap(0n, hpage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n);
  if (isErr(map)) {
    ksft.printMsg(`no free hugetlb page: ${map.name}`);
    return ksft.testResultSkip(NAMES.hugetlbCpMarker);
  }
  const wp = (mode: bigint) => proc.uffdioWriteprotect(uffd, map, hpage, mode);
  await proc.uffdioRegister(uffd, map, hpage, UFFDIO_REGISTER_MODE_WP);
  await wp(UFFDIO_WRITEPROTECT_MODE_WP);
  const marker = (await pmState(t, map)) === PM_UFFD_WP;
  const again = (await wp(UFFDIO_WRITEPROTECT_MODE_WP)) === 0 && (await pmState(t, map)) === PM_UFFD_WP;
  const resolved = (await wp(0n)) === 0 && (await pmState(t, map)) === 0n;
  await wp(UFFDIO_WRITEPROTECT_MODE_WP);
  const unregistered = (await proc.uffdioUnregister(uffd, map, hpage)) === 0 && (await pmState(t, map)) === 0n;
  const punched = (await proc.madvise(map, hpage, MADV_REMOVE)) === 0 && (await pmState(t, map)) === 0n;
  ksft.testResult(marker && again && resolved && unregistered && punched && (await proc.munmap(map, hpage)) === 0, NAMES.hugetlbCpMarker);
}

// D2 (v5.14, 8f34f1eac382): remove_migration_pmd() dropped uffd-wp, so a protected THP came back writable from migration
async function thpPmdUffdBits(t: Selftest, uffd: number): Promise<void> {
  const { proc, pagesize } = t;
  const ksft: Ksft = t.ksft;
  const hpage = await readPmdPagesize(t);
  const raw = await proc.mmap(0n, 2n * hpage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(raw)) ksft.exitFailMsg(`mmap failed: ${raw}`);
  const map = (raw + hpage - 1n) & ~(hpage - 1n);
  await proc.madvise(map, hpage, MADV_HUGEPAGE);
  await proc.fill(map, hpage, 1);
  const node = await otherNode(t, map);
  if (hpage === 0n || !(await checkHugeAnon(t, map, 1, hpage))) {
    ksft.printMsg('no THP');
    ksft.testResultSkip(NAMES.thpPmdUffdBits);
  } else if (node === null) {
    ksft.printMsg(NOT_ENOUGH_NODES);
    ksft.testResultSkip(NAMES.thpPmdUffdBits);
  } else {
    await proc.uffdioRegister(uffd, map, hpage, UFFDIO_REGISTER_MODE_WP);
    await proc.uffdioWriteprotect(uffd, map, hpage, UFFDIO_WRITEPROTECT_MODE_WP);
    const moved = (await movePagesTo(t, [map], node)) && (await checkHugeAnon(t, map, 1, hpage));
    const entries = await proc.pagemap(map, Number(hpage / pagesize));
    const allWp = !isErr(entries) && entries.every((e) => (e & (PM_PRESENT | PM_SWAP | PM_UFFD_WP)) === (PM_PRESENT | PM_UFFD_WP));
    await storeByte(proc, map + 5n * pagesize, 2);
    const written = pagesOf(await scanWritten(t, map, map + hpage, 0), map, pagesize);
    if (written !== '5-5') ksft.printMsg(`written after the store: ${written || 'none'}`);
    ksft.testResult(moved && allWp && written === '5-5', NAMES.thpPmdUffdBits);
  }
  await proc.munmap(raw, 2n * hpage);
}

async function main(t: Selftest): Promise<void> {
  const ksft: Ksft = t.ksft;
  ksft.printHeader();
  ksft.setPlan(Object.keys(NAMES).length);
  const uffd = await asyncUffdOrSkip(t, Object.values(NAMES));
  if (uffd !== null) {
    await unregReset(t, uffd);
    await forkMarker(t, uffd);
    await khugepagedUffdwp(t, uffd);
    await wpFastpath(t, uffd);
    await swpUffd(t, uffd, await haveSwap(t));
    await hugetlbCpMarker(t, uffd);
    await thpPmdUffdBits(t, uffd);
    await t.proc.close(uffd);
  }
  ksft.finished();
}

export const uffdWpRegressions: Suite = {
  name: 'regressions-uffd-wp',
  source: 'shared/reference/bugs.md: G2 E2 D4 H2 H3 F4 D2',
  tests: Object.values(NAMES),
  run: main,
};
