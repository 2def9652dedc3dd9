// One page (and one PMD-sized page) walked through every entry state the
// model reaches: the zero page, written, write-protected by mprotect,
// present-invalid under PROT_NONE, a swap entry, swapped back in by a load
// and by a store; write-protected by userfaultfd (async mode), a uffd-wp
// marker, a swap entry with uffd-wp, each resolved; the huge zero pmd; a THP
// block written, write-protected and PROT_NONE, and uffd-wp'd then split by
// a store; a hugetlb block read and written; PAGEMAP_SCAN write-protecting
// what it reports (PM_SCAN_WP_MATCHING): written, swapped and zapped pages,
// cut short by max_pages, without a vector, a whole THP block and part of
// one; and uffd-wp on shmem and hugetlb, where markers are kept by zaps
// (and reclaim); and move_pages() of a written page, a read-only one, a
// uffd-wp one and a THP block to another node and back, the entries
// rebuilt from their migration entries; swapoff() bringing swapped pages
// back (a child's shared slot too), and swapon().
// Each step checks what userspace sees
// (pagemap, signals); run under `mmconform compare --descriptors` it is the
// descriptor scenario: every state's raw entry held against a real kernel's.

import {
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_PRIVATE,
  MAP_SHARED,
  PM_FILE,
  PM_MMAP_EXCLUSIVE,
  PM_PRESENT,
  PM_SWAP,
  PM_UFFD_WP,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  isErr,
} from '../../uapi/linux.ts';
import type { Selftest, Suite } from '../../harness/suite.ts';
import type { Proc } from '../../harness/target.ts';
import { thpIsEnabled } from '../../harness/hugepage-settings.ts';
import { checkHugeAnon, checkVmflag, pagemapGetEntry, pagemapGetPfn, pagemapIsSwapped, readPmdPagesize } from '../../harness/vm-util.ts';
import { NOT_ENOUGH_NODES, movePagesTo, otherNode } from '../numa.ts';
import { WP_MATCHING, asyncUffd, asyncUffdOrSkip, haveSwap, mapPages, pagesOf, pmState, scanWritten } from '../uffd-async.ts';

const RW = PROT_READ | PROT_WRITE;

const NAMES = [
  'untouched: no entry',
  'load: the shared zero page',
  'store: a private page',
  'mprotect(PROT_READ): a store faults',
  'mprotect(PROT_NONE): present, a load faults',
  'mprotect(PROT_READ|PROT_WRITE): stores again',
  'MADV_PAGEOUT: a swap entry',
  'load: swapped back in',
  'store: swapped back in',
  'UFFDIO_WRITEPROTECT: a written page uffd-wp',
  'UFFDIO_WRITEPROTECT of an empty page: a uffd-wp marker',
  'MADV_PAGEOUT of a uffd-wp page: a swap entry with uffd-wp',
  'load: swapped back in, still uffd-wp',
  'store on a uffd-wp page: resolved in the kernel (async)',
  'store on a marker: resolved in the kernel',
  'close(userfaultfd): write protection released',
  'mremap of uffd-wp pages (no EVENT_REMAP): uffd-wp and markers dropped',
  'THP load: the huge zero pmd, a file page to pagemap',
  'THP store: a PMD block',
  'THP mprotect(PROT_READ): a store faults',
  'THP mprotect(PROT_NONE): present, a load faults',
  'THP UFFDIO_WRITEPROTECT: a uffd-wp PMD block',
  'THP store on it: the block split, that page resolved',
  'hugetlb load: a PMD block',
  'hugetlb store',
  'PAGEMAP_SCAN(PM_SCAN_WP_MATCHING): the written pages, write-protected again',
  'PAGEMAP_SCAN after it: nothing written',
  'PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) with max_pages 1: the first written page, walk_end at the next',
  'PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) without a vector: every page write-protected',
  'THP PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) of a written block: a uffd-wp PMD block',
  'THP PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) of part of a block: split, that part write-protected',
  'shmem UFFDIO_WRITEPROTECT: a mapped page uffd-wp, an empty one a marker (file memory always)',
  'shmem store on a marker: the page mapped, resolved in the kernel',
  'shmem load on a marker: the page mapped write-protected',
  'shmem MADV_DONTNEED of a uffd-wp page: a marker stays (none for a page not protected)',
  'shmem MADV_PAGEOUT of a uffd-wp page: a marker stays',
  'shmem PAGEMAP_SCAN(PM_SCAN_WP_MATCHING): a zapped page written, given a marker',
  'shmem close(userfaultfd): markers gone, write protection released',
  'hugetlb UFFDIO_WRITEPROTECT: a uffd-wp block, a marker in the empty one (uffd-wp to pagemap, not swapped)',
  'hugetlb store on it and on a marker: resolved in the kernel',
  'hugetlb MADV_DONTNEED of a uffd-wp page: a marker stays',
  'hugetlb PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) of part of a huge page: nothing, walk_end at its start',
  'hugetlb close(userfaultfd): markers gone, write protection released',
  'move_pages: a written page on the other node, exclusive, its data kept; the zero page EFAULT',
  'move_pages of a read-only page: moved back read-only, a store faults',
  'move_pages of a uffd-wp page: uffd-wp still, a store resolved in the kernel (async)',
  'THP move_pages of one page: the whole block on the other node, a block still',
  'swapoff: swapped pages mapped again read-only, uffd-wp and data kept; a store reuses an exclusive one',
  'swapoff of a slot a child shares: one page mapped in both, exclusive in neither',
  'swapon: the device back, empty',
] as const;

/** A load or store that must fault (the test goes on: the C would catch it with a SIGSEGV handler). */
async function faults(t: Selftest, addr: bigint, store: boolean): Promise<boolean> {
  const r = store ? await t.proc.write(addr, new Uint8Array([1])) : await t.proc.read(addr, 1);
  return !r.ok && r.signal === 'SIGSEGV';
}

async function ok(t: Selftest, addr: bigint, store: boolean): Promise<boolean> {
  return (store ? await t.proc.write(addr, new Uint8Array([1])) : await t.proc.read(addr, 1)).ok;
}

const present = async (t: Selftest, addr: bigint) => ((await pagemapGetEntry(t, addr)) & PM_PRESENT) !== 0n;

async function smallPage(t: Selftest): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const map = await proc.mmap(0n, pagesize, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(map)) return ksft.exitFailMsg(`mmap failed: ${map}`);
  ksft.testResult(!(await present(t, map)), NAMES[0]);
  ksft.testResult((await ok(t, map, false)) && (await present(t, map)), NAMES[1]);
  ksft.testResult((await ok(t, map, true)) && (await present(t, map)), NAMES[2]);
  await proc.mprotect(map, pagesize, PROT_READ);
  ksft.testResult((await faults(t, map, true)) && (await ok(t, map, false)), NAMES[3]);
  await proc.mprotect(map, pagesize, PROT_NONE);
  ksft.testResult((await faults(t, map, false)) && (await present(t, map)), NAMES[4]);
  await proc.mprotect(map, pagesize, RW);
  ksft.testResult(await ok(t, map, true), NAMES[5]);

  if (!(await haveSwap(t))) {
    ksft.printMsg('no swap');
    for (const name of NAMES.slice(6, 9)) ksft.testResultSkip(name);
  } else {
    await proc.madvise(map, pagesize, MADV_PAGEOUT);
    ksft.testResult(await pagemapIsSwapped(t, map), NAMES[6]);
    ksft.testResult((await ok(t, map, false)) && (await present(t, map)), NAMES[7]);
    await proc.madvise(map, pagesize, MADV_PAGEOUT);
    ksft.testResult((await pagemapIsSwapped(t, map)) && (await ok(t, map, true)) && (await present(t, map)), NAMES[8]);
  }
  await proc.munmap(map, pagesize);
}

async function uffdWp(t: Selftest, swap: boolean): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const UFFD_NAMES = NAMES.slice(9, 17);
  const uffd = await asyncUffdOrSkip(t, UFFD_NAMES);
  if (uffd === null) return;
  const { map, page } = await mapPages(t, 4);
  await ok(t, page(0), true);
  await ok(t, page(2), true);
  const registered = await proc.uffdioRegister(uffd, map, 4n * pagesize, UFFDIO_REGISTER_MODE_WP);
  if (isErr(registered)) return ksft.exitFailMsg(`UFFDIO_REGISTER failed: ${registered}`);
  const wp = await proc.uffdioWriteprotect(uffd, map, 4n * pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  if (isErr(wp)) return ksft.exitFailMsg(`UFFDIO_WRITEPROTECT failed: ${wp}`);
  ksft.testResult((await pmState(t, page(0))) === (PM_PRESENT | PM_UFFD_WP), UFFD_NAMES[0]!);
  // pagemap shows a marker as a swapped entry
  ksft.testResult((await pmState(t, page(1))) === (PM_SWAP | PM_UFFD_WP), UFFD_NAMES[1]!);
  if (!swap) {
    ksft.printMsg('no swap');
    ksft.testResultSkip(UFFD_NAMES[2]!);
    ksft.testResultSkip(UFFD_NAMES[3]!);
  } else {
    await proc.madvise(page(2), pagesize, MADV_PAGEOUT);
    ksft.testResult((await pmState(t, page(2))) === (PM_SWAP | PM_UFFD_WP), UFFD_NAMES[2]!);
    ksft.testResult((await ok(t, page(2), false)) && (await pmState(t, page(2))) === (PM_PRESENT | PM_UFFD_WP), UFFD_NAMES[3]!);
  }
  ksft.testResult((await ok(t, page(0), true)) && (await pmState(t, page(0))) === PM_PRESENT, UFFD_NAMES[4]!);
  ksft.testResult((await ok(t, page(1), true)) && (await pmState(t, page(1))) === PM_PRESENT, UFFD_NAMES[5]!);
  await proc.close(uffd);
  ksft.testResult((await pmState(t, page(2))) === PM_PRESENT && (await pmState(t, page(3))) === 0n, UFFD_NAMES[6]!);
  await proc.munmap(map, 4n * pagesize);
  await uffdWpMremap(t, UFFD_NAMES[7]!, swap);
}

// G4 mremap-uffd-clear (0cef0bb836e3, v6.13; 6.12.11): a moved page keeps no uffd-wp where its new area is not registered
async function uffdWpMremap(t: Selftest, name: string, swap: boolean): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const uffd = await asyncUffd(t);
  if (typeof uffd === 'string') return ksft.testResultSkip(name);
  const map = await proc.mmap(0n, 6n * pagesize, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(map)) return ksft.exitFailMsg(`mmap failed: ${map}`);
  await ok(t, map, true);
  await ok(t, map + 2n * pagesize, true);
  await proc.uffdioRegister(uffd, map, 3n * pagesize, UFFDIO_REGISTER_MODE_WP);
  await proc.uffdioWriteprotect(uffd, map, 3n * pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  if (swap) await proc.madvise(map + 2n * pagesize, pagesize, MADV_PAGEOUT);
  const to = map + 3n * pagesize;
  const moved = await proc.mremap(map, 3n * pagesize, 3n * pagesize, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  const states = isErr(moved) ? [] : [await pmState(t, to), await pmState(t, to + pagesize), await pmState(t, to + 2n * pagesize)];
  ksft.testResult(states.join() === [PM_PRESENT, 0n, swap ? PM_SWAP : PM_PRESENT].join() && !(await checkVmflag(t, to, 'uw')), name);
  await proc.close(uffd);
  await proc.munmap(to, 3n * pagesize);
}

/** A PMD-aligned, MADV_HUGEPAGE area of one huge page, inside the mapping returned (unmap that). */
async function hugeArea(t: Selftest, hpage: bigint): Promise<{ raw: bigint; map: bigint } | null> {
  const raw = await t.proc.mmap(0n, 2n * hpage, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(raw)) return null;
  const map = (raw + hpage - 1n) & ~(hpage - 1n);
  await t.proc.madvise(map, hpage, MADV_HUGEPAGE);
  return { raw, map };
}

/**
 * Whether THP steps can run: skipped (with why) where THP is off or there is
 * no PMD size, as on a kernel without THP; where THP is on but a store
 * made no PMD block, they fail instead: that is the behaviour under test.
 */
async function thpSteps(t: Selftest, hpage: bigint, huge: boolean, names: readonly string[]): Promise<'run' | 'done'> {
  if (hpage === 0n || !(await thpIsEnabled(t))) {
    t.ksft.printMsg('no THP');
    for (const name of names) t.ksft.testResultSkip(name);
    return 'done';
  }
  if (huge) return 'run';
  t.ksft.printMsg('THP is enabled, but a store to a huge-aligned MADV_HUGEPAGE area made no PMD block');
  for (const name of names) t.ksft.testResultFail(name);
  return 'done';
}

async function thp(t: Selftest): Promise<void> {
  const { proc, ksft } = t;
  const THP_NAMES = NAMES.slice(17, 21);
  const hpage = await readPmdPagesize(t);
  const zero = hpage === 0n ? null : await hugeArea(t, hpage);
  const area = hpage === 0n ? null : await hugeArea(t, hpage);
  // the huge zero page: reading an untouched huge area maps it, when use_zero_page allows
  const zeroPmd = zero !== null && (await ok(t, zero.map, false)) && ((await pagemapGetEntry(t, zero.map)) & (PM_PRESENT | PM_FILE)) === (PM_PRESENT | PM_FILE);
  const huge = area !== null && (await ok(t, area.map, true)) && (await checkHugeAnon(t, area.map, 1, hpage));
  if ((await thpSteps(t, hpage, huge, THP_NAMES)) === 'run' && area !== null) {
    const useZeroPage = await proc.readFile('/sys/kernel/mm/transparent_hugepage/use_zero_page');
    if (!isErr(useZeroPage) && useZeroPage.trim() === '1') ksft.testResult(zeroPmd, NAMES[17]);
    else {
      ksft.printMsg('no huge zero page (use_zero_page is 0)');
      ksft.testResultSkip(NAMES[17]);
    }
    ksft.testResult(huge, NAMES[18]);
    await proc.mprotect(area.map, hpage, PROT_READ);
    ksft.testResult((await faults(t, area.map, true)) && (await checkHugeAnon(t, area.map, 1, hpage)), NAMES[19]);
    await proc.mprotect(area.map, hpage, PROT_NONE);
    ksft.testResult((await faults(t, area.map, false)) && (await present(t, area.map)), NAMES[20]);
  }
  for (const a of [zero, area]) if (a) await proc.munmap(a.raw, 2n * hpage);
}

async function thpUffdWp(t: Selftest): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const hpage = await readPmdPagesize(t);
  const area = hpage === 0n ? null : await hugeArea(t, hpage);
  const huge = area !== null && (await ok(t, area.map, true)) && (await checkHugeAnon(t, area.map, 1, hpage));
  const steps = await thpSteps(t, hpage, huge, NAMES.slice(21, 23));
  const uffd = steps === 'run' ? await asyncUffd(t) : 'no THP';
  if (steps === 'run' && typeof uffd === 'string') {
    ksft.printMsg(uffd);
    for (const name of NAMES.slice(21, 23)) ksft.testResultSkip(name);
  }
  if (area && typeof uffd !== 'string') {
    await proc.uffdioRegister(uffd, area.map, hpage, UFFDIO_REGISTER_MODE_WP);
    await proc.uffdioWriteprotect(uffd, area.map, hpage, UFFDIO_WRITEPROTECT_MODE_WP);
    ksft.testResult((await pmState(t, area.map)) === (PM_PRESENT | PM_UFFD_WP) && (await checkHugeAnon(t, area.map, 1, hpage)), NAMES[21]);
    const resolved = (await ok(t, area.map + pagesize, true)) && (await pmState(t, area.map + pagesize)) === PM_PRESENT;
    ksft.testResult(resolved && (await pmState(t, area.map)) === (PM_PRESENT | PM_UFFD_WP) && !(await checkHugeAnon(t, area.map, 1, hpage)), NAMES[22]);
    // closed with the split THP mapped: releasing its ptes refolds what the store unfolded (arm64's contpte)
    await proc.close(uffd);
    await proc.munmap(area.raw, 2n * hpage);
    return;
  }
  if (area) await proc.munmap(area.raw, 2n * hpage);
}

async function hugetlb(t: Selftest): Promise<void> {
  const { proc, ksft } = t;
  const hpage = 2n << 20n;
  const map = await proc.mmap(0n, hpage, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n);
  if (isErr(map)) {
    ksft.printMsg(`no free hugetlb page: ${map.name}`);
    for (const name of NAMES.slice(23, 25)) ksft.testResultSkip(name);
    return;
  }
  ksft.testResult((await ok(t, map, false)) && (await present(t, map)), NAMES[23]);
  ksft.testResult((await ok(t, map, true)) && (await present(t, map + hpage / 2n)), NAMES[24]);
  await proc.munmap(map, hpage);
}

// fs/proc/task_mmu.c pagemap_scan_pmd_entry() / pagemap_scan_pte_hole() / make_uffd_wp_pte()
async function scanWp(t: Selftest, swap: boolean): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const SCAN_NAMES = NAMES.slice(25, 29);
  const uffd = await asyncUffdOrSkip(t, SCAN_NAMES);
  if (uffd === null) return;
  const { map, page } = await mapPages(t, 6);
  const end = page(6);
  await proc.uffdioRegister(uffd, map, 6n * pagesize, UFFDIO_REGISTER_MODE_WP);
  await proc.uffdioWriteprotect(uffd, map, 6n * pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  // written: 0 present, 2 zapped (no marker left: it was written), 4 swapped out (or present); 1, 3 and 5 keep their markers
  for (const i of [0, 2, 4]) await ok(t, page(i), true);
  await proc.madvise(page(2), pagesize, MADV_DONTNEED);
  if (swap) await proc.madvise(page(4), pagesize, MADV_PAGEOUT);
  const first = await scanWritten(t, map, end, WP_MATCHING);
  const states = [await pmState(t, page(0)), await pmState(t, page(2)), await pmState(t, page(4))];
  ksft.testResult(
    pagesOf(first, map, pagesize) === '0-0 2-2 4-4' && states.join() === [PM_PRESENT | PM_UFFD_WP, PM_SWAP | PM_UFFD_WP, (swap ? PM_SWAP : PM_PRESENT) | PM_UFFD_WP].join(),
    SCAN_NAMES[0]!,
  );
  ksft.testResult(pagesOf(await scanWritten(t, map, end, 0), map, pagesize) === '', SCAN_NAMES[1]!);
  // the walk goes on past max_pages to the next page it would report, and stops there
  await ok(t, page(1), true);
  await ok(t, page(3), true);
  const cut = await scanWritten(t, map, end, WP_MATCHING, 1n);
  ksft.testResult(
    pagesOf(cut, map, pagesize) === '1-1' && !isErr(cut) && cut.walkEnd === page(3) && (await pmState(t, page(1))) === (PM_PRESENT | PM_UFFD_WP) && (await pmState(t, page(3))) === PM_PRESENT,
    SCAN_NAMES[2]!,
  );
  const noVector = await scanWritten(t, map, end, WP_MATCHING, 0n, 0);
  ksft.testResult(!isErr(noVector) && noVector.ret === 0 && (await pmState(t, page(3))) === (PM_PRESENT | PM_UFFD_WP) && pagesOf(await scanWritten(t, map, end, 0), map, pagesize) === '', SCAN_NAMES[3]!);
  await proc.close(uffd);
  await proc.munmap(map, 6n * pagesize);
}

// pagemap_scan_thp_entry(): a whole block gets a uffd-wp pmd, part of one is split first
async function thpScanWp(t: Selftest): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const THP_SCAN_NAMES = NAMES.slice(29, 31);
  const hpage = await readPmdPagesize(t);
  const areas = hpage === 0n ? [] : [await hugeArea(t, hpage), await hugeArea(t, hpage)];
  let huge = areas.length === 2;
  for (const a of areas) huge = huge && a !== null && (await ok(t, a.map, true)) && (await checkHugeAnon(t, a.map, 1, hpage));
  const steps = await thpSteps(t, hpage, huge, THP_SCAN_NAMES);
  const uffd = steps === 'run' ? await asyncUffd(t) : 'no THP';
  if (steps === 'run' && typeof uffd === 'string') {
    ksft.printMsg(uffd);
    for (const name of THP_SCAN_NAMES) ksft.testResultSkip(name);
  }
  const [whole, part] = areas;
  if (whole && part && typeof uffd !== 'string') {
    // registered, not write-protected: every page counts as written
    for (const a of areas) await proc.uffdioRegister(uffd, a!.map, hpage, UFFDIO_REGISTER_MODE_WP);
    const block = await scanWritten(t, whole.map, whole.map + hpage, WP_MATCHING);
    ksft.testResult(
      pagesOf(block, whole.map, pagesize) === `0-${hpage / pagesize - 1n}` && (await pmState(t, whole.map)) === (PM_PRESENT | PM_UFFD_WP) && (await checkHugeAnon(t, whole.map, 1, hpage)),
      THP_SCAN_NAMES[0]!,
    );
    // a whole 64 KiB block: on arm64 its 16 ptes, alike again, are folded into one contiguous range
    const split = await scanWritten(t, part.map, part.map + 16n * pagesize, WP_MATCHING);
    ksft.testResult(
      pagesOf(split, part.map, pagesize) === '0-15' &&
        (await pmState(t, part.map + 15n * pagesize)) === (PM_PRESENT | PM_UFFD_WP) &&
        (await pmState(t, part.map + 16n * pagesize)) === PM_PRESENT &&
        !(await checkHugeAnon(t, part.map, 1, hpage)),
      THP_SCAN_NAMES[1]!,
    );
  }
  if (typeof uffd !== 'string') await proc.close(uffd);
  for (const a of areas) if (a) await proc.munmap(a.raw, 2n * hpage);
}

// uffd-wp on shmem (a memfd, MAP_SHARED): markers whatever the features, kept and left by zaps
// (zap_install_uffd_wp_if_needed()) and by reclaim (try_to_unmap_one()), faults over them through do_fault()
async function shmemUffdWp(t: Selftest, swap: boolean): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const SHMEM_NAMES = NAMES.slice(31, 38);
  const uffd = await asyncUffdOrSkip(t, SHMEM_NAMES);
  if (uffd === null) return;
  const fd = await proc.memfdCreate('pte-states', 0);
  if (isErr(fd)) return ksft.exitFailMsg(`memfd_create failed: ${fd}`);
  await proc.ftruncate(fd, 5n * pagesize);
  const map = await proc.mmap(0n, 5n * pagesize, RW, MAP_SHARED, fd, 0n);
  if (isErr(map)) return ksft.exitFailMsg(`mmap failed: ${map}`);
  const page = (i: number) => map + BigInt(i) * pagesize;
  const states = async () => Promise.all([0, 1, 2, 3, 4].map((i) => pmState(t, page(i))));
  const WP = PM_PRESENT | PM_UFFD_WP;
  const MARKER = PM_SWAP | PM_UFFD_WP;
  for (const i of [0, 1, 4]) await ok(t, page(i), true);
  await proc.uffdioRegister(uffd, map, 5n * pagesize, UFFDIO_REGISTER_MODE_WP);
  await proc.uffdioWriteprotect(uffd, map, 5n * pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  ksft.testResult((await states()).join() === [WP, WP, MARKER, MARKER, WP].join(), SHMEM_NAMES[0]!);
  ksft.testResult((await ok(t, page(2), true)) && (await pmState(t, page(2))) === PM_PRESENT, SHMEM_NAMES[1]!);
  ksft.testResult((await ok(t, page(3), false)) && (await pmState(t, page(3))) === WP, SHMEM_NAMES[2]!);
  await proc.madvise(page(0), pagesize, MADV_DONTNEED);
  // a store first: a zap of a page not write-protected leaves nothing
  await ok(t, page(4), true);
  await proc.madvise(page(4), pagesize, MADV_DONTNEED);
  ksft.testResult((await states()).join() === [MARKER, WP, PM_PRESENT, WP, 0n].join(), SHMEM_NAMES[3]!);
  // Reclaim is best effort: a page still in another CPU's LRU batch is not taken (seen on the
  // host, which has no swap); the guests, with one CPU and swap, always take it.
  if (swap) {
    await proc.madvise(page(1), pagesize, MADV_PAGEOUT);
    ksft.testResult((await pmState(t, page(1))) === MARKER, SHMEM_NAMES[4]!);
  } else {
    ksft.printMsg('no swap');
    ksft.testResultSkip(SHMEM_NAMES[4]!);
  }
  const page1 = swap ? MARKER : WP;
  const scan = await scanWritten(t, map, page(5), WP_MATCHING);
  ksft.testResult(pagesOf(scan, map, pagesize) === '2-2 4-4' && (await states()).join() === [MARKER, page1, WP, WP, MARKER].join(), SHMEM_NAMES[5]!);
  await proc.close(uffd);
  ksft.testResult((await states()).join() === [0n, swap ? 0n : PM_PRESENT, PM_PRESENT, PM_PRESENT, 0n].join(), SHMEM_NAMES[6]!);
  await proc.munmap(map, 5n * pagesize);
  await proc.close(fd);
}

// uffd-wp on hugetlb (private): markers whatever the features, which pagemap shows as uffd-wp only;
// hugetlb_change_protection(), hugetlb_fault()'s uffd-wp path, __unmap_hugepage_range(), pagemap_scan_hugetlb_entry()
async function hugetlbUffdWp(t: Selftest): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const HUGETLB_NAMES = NAMES.slice(38, 43);
  const hpage = 2n << 20n;
  const map = await proc.mmap(0n, 2n * hpage, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n);
  if (isErr(map)) {
    ksft.printMsg(`no free hugetlb pages: ${map.name}`);
    for (const name of HUGETLB_NAMES) ksft.testResultSkip(name);
    return;
  }
  const uffd = await asyncUffdOrSkip(t, HUGETLB_NAMES);
  if (uffd === null) {
    await proc.munmap(map, 2n * hpage);
    return;
  }
  const states = async () => [await pagemapGetEntry(t, map), await pagemapGetEntry(t, map + hpage)].map((e) => e & (PM_PRESENT | PM_SWAP | PM_UFFD_WP));
  await ok(t, map, true);
  await proc.uffdioRegister(uffd, map, 2n * hpage, UFFDIO_REGISTER_MODE_WP);
  await proc.uffdioWriteprotect(uffd, map, 2n * hpage, UFFDIO_WRITEPROTECT_MODE_WP);
  ksft.testResult((await states()).join() === [PM_PRESENT | PM_UFFD_WP, PM_UFFD_WP].join(), HUGETLB_NAMES[0]!);
  const stored = (await ok(t, map + pagesize, true)) && (await ok(t, map + hpage, true));
  ksft.testResult(stored && (await states()).join() === [PM_PRESENT, PM_PRESENT].join(), HUGETLB_NAMES[1]!);
  await proc.uffdioWriteprotect(uffd, map + hpage, hpage, UFFDIO_WRITEPROTECT_MODE_WP);
  await proc.madvise(map + hpage, hpage, MADV_DONTNEED);
  ksft.testResult((await states()).join() === [PM_PRESENT, PM_UFFD_WP].join(), HUGETLB_NAMES[2]!);
  const part = await scanWritten(t, map + pagesize, map + 2n * pagesize, WP_MATCHING);
  ksft.testResult(!isErr(part) && part.ret === 0 && part.walkEnd === map + pagesize && (await states())[0] === PM_PRESENT, HUGETLB_NAMES[3]!);
  await proc.close(uffd);
  ksft.testResult((await states()).join() === [PM_PRESENT, 0n].join(), HUGETLB_NAMES[4]!);
  await proc.munmap(map, 2n * hpage);
}

// page migration by move_pages(2): try_to_migrate_one() (set_pmd_migration_entry()), then remove_migration_pte() (_pmd())
async function migration(t: Selftest): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const MIGRATION_NAMES = NAMES.slice(43, 47);
  const map = await proc.mmap(0n, 2n * pagesize, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(map)) return ksft.exitFailMsg(`mmap failed: ${map}`);
  await proc.write(map, new Uint8Array([7]));
  await ok(t, map + pagesize, false);
  // where there is one node (or no NUMA), move_pages() is not tried
  const there = await otherNode(t, map);
  const home = there === null ? null : await proc.movePages([map], null, 0);
  if (there === null || home === null || isErr(home)) {
    ksft.printMsg(NOT_ENOUGH_NODES);
    for (const name of MIGRATION_NAMES) ksft.testResultSkip(name);
    return void (await proc.munmap(map, 2n * pagesize));
  }
  const back = home.status[0]!;
  const state = async (addr: bigint) => (await pagemapGetEntry(t, addr)) & (PM_PRESENT | PM_SWAP | PM_UFFD_WP | PM_MMAP_EXCLUSIVE);
  const moved = await proc.movePages([map, map + pagesize], [there, there], 0);
  const data = await proc.read(map, 1);
  ksft.testResult(
    !isErr(moved) && moved.status.join() === [there, -14].join() && (await state(map)) === (PM_PRESENT | PM_MMAP_EXCLUSIVE) && data.ok && data.data[0] === 7,
    MIGRATION_NAMES[0]!,
  );
  await proc.mprotect(map, pagesize, PROT_READ);
  const readOnly = (await movePagesTo(t, [map], back)) && (await faults(t, map, true));
  await proc.mprotect(map, pagesize, RW);
  ksft.testResult(readOnly && (await ok(t, map, true)), MIGRATION_NAMES[1]!);
  const uffd = await asyncUffd(t);
  if (typeof uffd === 'string') {
    ksft.printMsg(uffd);
    ksft.testResultSkip(MIGRATION_NAMES[2]!);
  } else {
    await proc.uffdioRegister(uffd, map, 2n * pagesize, UFFDIO_REGISTER_MODE_WP);
    await proc.uffdioWriteprotect(uffd, map, pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
    const wp = (await movePagesTo(t, [map], there)) && (await state(map)) === (PM_PRESENT | PM_UFFD_WP | PM_MMAP_EXCLUSIVE);
    const resolved = (await ok(t, map, true)) && pagesOf(await scanWritten(t, map, map + pagesize, 0), map, pagesize) === '0-0';
    ksft.testResult(wp && resolved && (await state(map)) === (PM_PRESENT | PM_MMAP_EXCLUSIVE), MIGRATION_NAMES[2]!);
    await proc.close(uffd);
  }
  await proc.munmap(map, 2n * pagesize);
  const hpage = await readPmdPagesize(t);
  const area = hpage === 0n ? null : await hugeArea(t, hpage);
  const huge = area !== null && (await ok(t, area.map, true)) && (await checkHugeAnon(t, area.map, 1, hpage));
  if ((await thpSteps(t, hpage, huge, MIGRATION_NAMES.slice(3))) === 'run' && area !== null) {
    const moved = await movePagesTo(t, [area.map + 5n * pagesize], there);
    const where = await proc.movePages([area.map, area.map + hpage - pagesize], null, 0);
    ksft.testResult(moved && !isErr(where) && where.status.join() === [there, there].join() && (await checkHugeAnon(t, area.map, 1, hpage)), MIGRATION_NAMES[3]!);
  }
  if (area) await proc.munmap(area.raw, 2n * hpage);
}

// swapoff(2): try_to_unuse() down to unuse_pte(); then swapon(2) of the same device
async function swapoffSwapon(t: Selftest): Promise<void> {
  const { proc, ksft, pagesize } = t;
  const SWAPOFF_NAMES = NAMES.slice(47, 50);
  const swaps = await proc.readFile('/proc/swaps');
  const device = isErr(swaps) ? undefined : swaps.split('\n')[1]?.split(/\s+/)[0];
  const uffd = device ? await asyncUffd(t) : 'no swap';
  if (!device || typeof uffd === 'string') {
    ksft.printMsg(device ? String(uffd) : 'no swap');
    for (const name of SWAPOFF_NAMES) ksft.testResultSkip(name);
    return;
  }
  const { map, page } = await mapPages(t, 3);
  for (let i = 0; i < 3; i++) await proc.fill(page(i), pagesize, i + 1);
  await proc.uffdioRegister(uffd, map, 2n * pagesize, UFFDIO_REGISTER_MODE_WP);
  await proc.uffdioWriteprotect(uffd, page(1), pagesize, UFFDIO_WRITEPROTECT_MODE_WP);
  await proc.madvise(map, 2n * pagesize, MADV_PAGEOUT);
  const state = async (p: Proc, addr: bigint) => {
    const e = await p.pagemap(addr, 1);
    return isErr(e) ? -1n : e[0]! & (PM_PRESENT | PM_SWAP | PM_UFFD_WP | PM_MMAP_EXCLUSIVE);
  };
  const swapped = (await state(proc, page(0))) === PM_SWAP && (await state(proc, page(1))) === (PM_SWAP | PM_UFFD_WP);
  const off = await proc.swapoff(device);
  const back = [await state(proc, page(0)), await state(proc, page(1))].join() === [PM_PRESENT | PM_MMAP_EXCLUSIVE, PM_PRESENT | PM_UFFD_WP | PM_MMAP_EXCLUSIVE].join();
  const byte = async (i: number) => {
    const r = await proc.read(page(i), 1);
    return r.ok ? r.data[0] : -1;
  };
  const data = (await byte(0)) === 1 && (await byte(1)) === 2;
  const pfn = await pagemapGetPfn(t, page(0));
  const reused = (await ok(t, page(0), true)) && (await pagemapGetPfn(t, page(0))) === pfn;
  ksft.testResult(swapped && off === 0 && back && data && reused && pagesOf(await scanWritten(t, map, page(2), 0), map, pagesize) === '0-0', SWAPOFF_NAMES[0]!);
  await proc.close(uffd);
  // a slot the child's pte names too: swap_duplicate() at fork, one folio for both at swapoff
  await proc.swapon(device, 0);
  await proc.madvise(page(2), pagesize, MADV_PAGEOUT);
  const child = await proc.fork();
  if (isErr(child)) return ksft.exitFailMsg(`fork failed: ${child}`);
  const shared = (await proc.swapoff(device)) === 0 && (await state(proc, page(2))) === PM_PRESENT && (await state(child, page(2))) === PM_PRESENT;
  const childPfn = await child.pagemap(page(2), 1);
  ksft.testResult(shared && !isErr(childPfn) && (childPfn[0]! & 0x007fffffffffffffn) === (await pagemapGetPfn(t, page(2))), SWAPOFF_NAMES[1]!);
  await child.exit();
  const on = await proc.swapon(device, 0);
  const listed = await proc.readFile('/proc/swaps');
  const line = isErr(listed) ? [] : (listed.split('\n')[1]?.split(/\s+/) ?? []);
  ksft.testResult(on === 0 && line[0] === device && line[3] === '0', SWAPOFF_NAMES[2]!);
  await proc.munmap(map, 3n * pagesize);
}

async function main(t: Selftest): Promise<void> {
  t.ksft.printHeader();
  t.ksft.setPlan(NAMES.length);
  await smallPage(t);
  await uffdWp(t, await haveSwap(t));
  await thp(t);
  await thpUffdWp(t);
  await hugetlb(t);
  await scanWp(t, await haveSwap(t));
  await thpScanWp(t);
  await shmemUffdWp(t, await haveSwap(t));
  await hugetlbUffdWp(t);
  await migration(t);
  await swapoffSwapon(t);
  t.ksft.finished();
}

export const pteStates: Suite = {
  name: 'pte-states',
  source: 'suites/scenarios/pte-states.ts',
  tests: NAMES,
  run: main,
};
