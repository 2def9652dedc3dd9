// Descriptor comparison (compare --descriptors): how two recordings are held
// to each other, that a deliberately wrong helper in the model is caught on
// the first step that exercises it, and, where the QEMU kernels are set up,
// that the model matches the real arm64 kernels bit for bit over every suite.

import { describe, expect, test } from 'vitest';
import { builtinLayout } from '../../model/arm64/layout.ts';
import { PTE_DBM } from '../../model/arm64/hwdef.ts';
import { pgtable, type Pgtable } from '../../model/arm64/pgtable.ts';
import { SUITES } from '../../suites/index.ts';
import {
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  O_CLOEXEC,
  O_NONBLOCK,
  PAGE_IS_HUGE,
  PAGE_IS_WRITTEN,
  PM_SCAN_WP_MATCHING,
  PROT_READ,
  PROT_WRITE,
  UFFD_API,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  Errno,
  isErr,
  type Ret,
} from '../../uapi/linux.ts';
import { runSuites, type RunReport } from '../runner.ts';
import type { PmScanArg, Proc, Target } from '../target.ts';
import { descriptorsUnavailable, parseQemuSpec, qemuTarget } from '../targets/qemu.ts';
import { referenceTarget } from '../targets/reference.ts';
import { bitNamer, compareRecordings, differencesText, summarizeDifferences, type DescriptorDifference } from './compare.ts';
import { ObservationLog } from './observations.ts';
import { DescriptorRecorder, wpScanReach, type Observation } from './record.ts';

const BOOT_TIMEOUT_MS = 300_000;
const layout = builtinLayout('v6.10');
const namer = bitNamer(layout, pgtable(layout));

/**
 * The suites whose walks are held to the real arm64 kernels' here. Not
 * uffd-unit-tests: recorded, it takes some 28 minutes a kernel in a TCG
 * guest, so it is compared by hand (docs/real-kernels.md, Comparing
 * descriptors with the model).
 */
const DESCRIBED = SUITES.filter((s) => s.name !== 'uffd-unit-tests');

/** Those but pagemap_ioctl, which alone takes 23 s a model run: for the tests of the recorder and of a mutant on the model only. */
const QUICK = DESCRIBED.filter((s) => s.name !== 'pagemap_ioctl');

/** Runs suites on a target with a recorder; returns the report and the recording. */
async function recorded(target: Target, suites = DESCRIBED): Promise<{ report: RunReport; observations: Observation[] }> {
  const recorder = new DescriptorRecorder();
  const report = await runSuites(target, 'target', suites, { stdout: () => {}, stderr: () => {}, wrapProc: recorder.wrap.bind(recorder) });
  return { report, observations: recorder.observations };
}

function differences(a: Awaited<ReturnType<typeof recorded>>, b: Awaited<ReturnType<typeof recorded>>): DescriptorDifference[] {
  return compareRecordings(a.observations, b.observations, namer, (suite, n) => a.report.suites.find((s) => s.name === suite)?.results[n]?.name ?? null);
}

const obs = (step: number, page: number, values: readonly bigint[], call = 'store', process = ''): Observation => ({
  suite: 's',
  process,
  resultsBefore: 0,
  step,
  call,
  page,
  entries: values.map((value, i) => ({ level: (['pgd', 'pud', 'pmd', 'pte'] as const)[i]!, value })),
});

describe('compareRecordings', () => {
  const table = 0x0800000040001003n;
  const test1 = () => 'test 1';

  test('output addresses are masked; a changed bit is named by the layout', () => {
    const a = [obs(0, 0, [table, table, table, 0x00e8000000001f43n])];
    const b = [obs(0, 0, [table | 0x7000n, table, table, 0x00e0000000002f43n])];
    const d = compareRecordings(a, b, namer, test1);
    expect(d.map((x) => [x.level, x.bits.map((bit) => `${bit.name} ${bit.bit} ${bit.values.join('/')}`)])).toEqual([['pte', ['PTE_DBM (PTE_WRITE) 51 1/0']]]);
    expect(differencesText(summarizeDifferences(d), ['model', 'kernel'])).toBe(
      'descriptors: 1 difference(s) of 1 kind(s), model/kernel\n' +
        '       1 x pte: PTE_DBM (PTE_WRITE) (bit 51) 1/0\n' +
        '           first at s: test 1: step 0 store, page 0 (0x00e8000000001f43 against 0x00e0000000002f43)\n',
    );
  });

  test('differences are printed by kind, the commonest first, each with its count and where it came first', () => {
    const pages = [0, 1, 2];
    const a = [...pages.map((p) => obs(0, p, [table, table, table, 0x00f0000000001f43n])), obs(1, 3, [table, table, table, 0x00e8000000001f43n])];
    const b = [...pages.map((p) => obs(0, p, [table, table, table, 0x00e0000000001f43n])), obs(1, 3, [table, table, table, 0x00e0000000001f43n])];
    const text = differencesText(summarizeDifferences(compareRecordings(a, b, namer, test1)), ['model', 'kernel']);
    expect(text.split('\n').filter((l) => / x /.test(l))).toEqual(['       3 x pte: PTE_CONT (bit 52) 1/0', '       1 x pte: PTE_DBM (PTE_WRITE) (bit 51) 1/0']);
    expect(text).toContain('first at s: test 1: step 0 store, page 0 (0x00f0000000001f43 against 0x00e0000000001f43)');
  });

  test('steps are ordered before pages, whatever the page numbers: a long suite numbers over a million pages', () => {
    const leaf = [table, table, table, 0x00e8000000001f43n];
    const a = [obs(0, 1_000_001, leaf, 'mmap'), obs(1, 0, leaf)];
    const b = [obs(1, 0, leaf)];
    expect(compareRecordings(a, b, namer, test1).map((x) => `${x.step} ${x.page} ${x.detail}`)).toEqual(['0 1000001 the page is first read on one side only (first)']);
  });

  test('an ObservationLog gives back what it was given, and compares as the array would', () => {
    const os = [obs(0, 0, [table, table, 0x00e8000000000f41n]), { ...obs(1, 7, []), entries: null, error: 'ENOTTY' }, obs(2, 3, [table, 0n], 'load')];
    const log = new ObservationLog();
    for (const o of os) log.push(o);
    expect(log.toArray()).toEqual(os);
    expect(log.at(-1)).toEqual(os[2]);
    const other = [obs(0, 0, [table, table, 0x00e0000000000f41n])];
    expect(compareRecordings(log, other, namer, test1)).toEqual(compareRecordings(os, other, namer, test1));
  });

  test('two walks that end at an empty entry agree whatever the level: a real process has tables of its own', () => {
    expect(compareRecordings([obs(0, 0, [0n])], [obs(0, 0, [table, table, 0n])], namer, test1)).toEqual([]);
  });

  test("a leaf the second side's kernel aged (AF cleared) is not a difference; one it made young is", () => {
    const young = [obs(0, 0, [table, table, 0x00e8000000000f41n])];
    const old = [obs(0, 0, [table, table, 0x00e8000000000b41n])];
    expect(compareRecordings(young, old, namer, test1)).toEqual([]);
    expect(compareRecordings(old, young, namer, test1).map((x) => x.bits.map((bit) => bit.name))).toEqual([['PTE_AF']]);
  });

  test('a page changed on one side only is compared with the other side as it stands', () => {
    const a = [obs(0, 0, [table, table, table, 0x00e8000000001f43n]), obs(1, 0, [table, table, table, 0x00e8000000001fc3n])];
    const b = [obs(0, 0, [table, table, table, 0x00e8000000001f43n])];
    expect(compareRecordings(a, b, namer, test1).map((x) => x.bits.map((bit) => bit.bit))).toEqual([[7]]);
  });

  test("a forked child's steps are held to the other side's child's, whichever order the two processes' observations came in", () => {
    const [ro, rw] = [0x00e8000000001fc3n, 0x0068000000001f43n];
    const parent = [obs(0, 0, [table, table, table, rw]), obs(1, 0, [table, table, table, ro], 'fork'), obs(2, 0, [table, table, table, rw])];
    const child = [obs(0, 0, [table, table, table, ro], 'load', '1'), obs(1, 0, [table, table, table, rw], 'store', '1')];
    const a = [parent[0]!, parent[1]!, child[0]!, parent[2]!, child[1]!];
    const b = [parent[0]!, parent[1]!, parent[2]!, child[0]!, child[1]!];
    expect(compareRecordings(a, b, namer, test1)).toEqual([]);
    const [d] = compareRecordings(a, [...b.slice(0, 4), { ...child[1]!, entries: child[0]!.entries }], namer, test1);
    expect(d && differencesText(summarizeDifferences([d]), ['a', 'b'])).toContain('first at s: test 1: child 1: step 1 store, page 0');
  });

  test('recordings that part are reported once, where they part', () => {
    const d = compareRecordings([obs(0, 0, [0n], 'store'), obs(1, 0, [0n])], [obs(0, 0, [0n], 'load'), obs(1, 0, [0n])], namer, test1);
    expect(d.map((x) => x.detail)).toEqual(['the recordings part: store against load']);
  });
});

const PAGE = 0x1000n;
const PMD = 0x200000n;
const quiet = { stdout: () => {}, stderr: () => {} };

function ok<T>(r: Ret<T>): T {
  if (isErr(r)) throw new Error(`unexpected ${r}`);
  return r;
}

/** `proc` with some of its methods replaced, or (undefined) taken away. */
function overriding(proc: Proc, methods: { readonly [K in keyof Proc]?: Proc[K] | undefined }): Proc {
  return new Proxy(proc, {
    get(target, key) {
      if (Object.hasOwn(methods, key)) return methods[key as keyof Proc];
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A model's proc, recorded, and how many walks the recorder has read (one call or many at once). */
async function recordedProc(options: ConstructorParameters<typeof DescriptorRecorder>[0] = {}): Promise<{ proc: Proc; recorder: DescriptorRecorder; reads: () => number }> {
  const raw = await (await referenceTarget('')).spawn();
  let reads = 0;
  const counted = overriding(raw, {
    descriptors: (a) => (reads++, raw.descriptors!(a)),
    descriptorsOf: (as) => ((reads += as.length), raw.descriptorsOf!(as)),
  });
  const recorder = new DescriptorRecorder(options);
  return { proc: recorder.wrap(counted, 's', () => 0), recorder, reads: () => reads };
}

/** 2 MiB-aligned private anonymous memory: `len` bytes at the start of a block */
async function blockAligned(proc: Proc, len: bigint): Promise<bigint> {
  const raw = ok(await proc.mmap(0n, len + PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
  return (raw + PMD - 1n) & ~(PMD - 1n);
}

/** An async uffd-wp context with [addr, addr + len) registered (WP_UNPOPULATED: markers where protected). */
async function asyncUffdWp(proc: Proc, addr: bigint, len: bigint): Promise<number> {
  const fd = ok(await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK));
  ok(await proc.uffdioApi(fd, UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED));
  ok(await proc.uffdioRegister(fd, addr, len, UFFDIO_REGISTER_MODE_WP));
  return fd;
}

/** PAGEMAP_SCAN(PM_SCAN_WP_MATCHING) of the written pages of [start, end), into a vector of vecLen regions. */
const wpScan = (start: bigint, end: bigint, more: Partial<PmScanArg> = {}): PmScanArg => ({
  start,
  end,
  flags: PM_SCAN_WP_MATCHING,
  maxPages: 0n,
  categoryInverted: 0,
  categoryMask: PAGE_IS_WRITTEN,
  categoryAnyofMask: 0,
  returnMask: PAGE_IS_WRITTEN,
  vecLen: 16,
  ...more,
});

/** The pages observed at a step, by the order the test touched them. */
const pagesAt = (recorder: DescriptorRecorder, step: number) => recorder.observations.filter((o) => o.step === step).map((o) => o.page);

describe('wpScanReach: what a write-protecting PAGEMAP_SCAN may change (fs/proc/task_mmu.c)', () => {
  const found = { ret: 1, regions: [{ start: 0x403000n, end: 0x405000n, categories: PAGE_IS_WRITTEN }], walkEnd: 0x600000n };
  test('with a vector: the pages it reports, and the blocks where a region ends inside one (a THP split, a hugetlb marker)', () => {
    expect(wpScanReach(wpScan(0x400000n, 0x600000n), found)).toEqual({ ranges: [[0x403000n, 0x405000n]], blocks: [[0x403000n, 0x403001n], [0x405000n, 0x405001n]] });
  });
  test('without one: the whole range, and the blocks its ends cut', () => {
    expect(wpScanReach(wpScan(0x400000n, 0x601000n, { vecLen: 0 }), { ret: 0, regions: [], walkEnd: 0x601000n })).toEqual({
      ranges: [[0x400000n, 0x601000n]],
      blocks: [[0x601000n, 0x601001n]],
    });
  });
  test('failed: the whole range (it may have protected pages before it failed)', () => {
    expect(wpScanReach(wpScan(0x400000n, 0x600000n), new Errno('EFAULT', 'ioctl'))).toEqual({ ranges: [[0x400000n, 0x600000n]], blocks: [] });
  });
  test('categories that tell a THP from its ptes (PAGE_IS_HUGE): every block of the range (one cut by max_pages is split, reported or not)', () => {
    expect(wpScanReach(wpScan(0x400000n, 0x800000n, { categoryMask: PAGE_IS_WRITTEN | PAGE_IS_HUGE, maxPages: 3n }), found)).toEqual({
      ranges: [[0x403000n, 0x405000n]],
      blocks: [[0x400000n, 0x800000n]],
    });
  });
});

describe('DescriptorRecorder', () => {
  test('a step reads the walks of every page in its reach at once (descriptorsOf) and keeps those that changed', async () => {
    const { proc, recorder, reads } = await recordedProc();
    const a = ok(await proc.mmap(0n, 64n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    await proc.madvise(a, 64n * PAGE, MADV_NOHUGEPAGE);
    await proc.fill(a, 64n * PAGE, 1);
    const before = reads();
    await proc.mprotect(a, 64n * PAGE, PROT_READ);
    expect([reads() - before, pagesAt(recorder, 3).length]).toEqual([64, 64]);
  });

  test('a write-protecting PAGEMAP_SCAN reads the 64 KiB blocks of what it reports, and one other page of each block a region ends in, not its whole range', async () => {
    const { proc, recorder, reads } = await recordedProc();
    const a = await blockAligned(proc, 64n * PAGE);
    await proc.madvise(a, 64n * PAGE, MADV_NOHUGEPAGE);
    const uffd = await asyncUffdWp(proc, a, 64n * PAGE);
    await proc.uffdioWriteprotect(uffd, a, 64n * PAGE, UFFDIO_WRITEPROTECT_MODE_WP);
    await proc.fill(a, 64n * PAGE, 1); // pages 0-63, each resolved by its store
    const step = recorder.observations.at(-1)!.step + 1;
    const before = reads();
    await proc.uffdioWriteprotect(uffd, a, 64n * PAGE, UFFDIO_WRITEPROTECT_MODE_WP);
    await proc.write(a + 5n * PAGE, Uint8Array.of(2));
    await proc.write(a + 9n * PAGE, Uint8Array.of(2));
    const scanned = before + 64 + 2 * 16; // each store reads its page's contpte block
    const r = ok(await proc.pagemapScan(wpScan(a, a + 64n * PAGE)));
    expect(r.regions.map((g) => [(g.start - a) / PAGE, (g.end - a) / PAGE])).toEqual([[5n, 6n], [9n, 10n]]);
    // pages 0-15 (the contpte block of pages 5 and 9), and page 16 of their PMD block: unchanged, so no huge page was split there
    expect([reads() - scanned, pagesAt(recorder, step + 3)]).toEqual([17, [5, 9]]);
  });

  test('... and the pages of a THP it reports part of: split, they change too (the whole range would miss those beyond it)', async () => {
    for (const wholeScanRanges of [false, true]) {
      const { proc, recorder } = await recordedProc({ wholeScanRanges });
      const thp = await blockAligned(proc, PMD);
      await proc.madvise(thp, PMD, MADV_HUGEPAGE);
      await proc.fill(thp, PMD, 1); // a written THP, its 512 pages touched
      await asyncUffdWp(proc, thp, PMD); // registered, not protected: every page written
      const r = ok(await proc.pagemapScan(wpScan(thp + PAGE, thp + 2n * PAGE))); // step 4
      expect(r.regions.map((g) => (g.start - thp) / PAGE)).toEqual([1n]);
      // the range's contpte block only, or the whole split THP
      expect(pagesAt(recorder, 4)).toEqual(Array.from({ length: wholeScanRanges ? 16 : 512 }, (_, i) => i));
    }
  });

  test('over the suites, a model recorded with each scan read whole and one recorded as wpScanReach() says give the same walks', async () => {
    const whole = new DescriptorRecorder({ wholeScanRanges: true });
    const narrow = new DescriptorRecorder();
    // pagemap_ioctl too takes 85 s: measured the same, all 1,228,633 observations (docs/porting/pagemap_ioctl.md)
    await runSuites(await referenceTarget(''), 'model', QUICK, { ...quiet, wrapProc: (p, suite, n) => whole.wrap(narrow.wrap(p, suite, n), suite, n) });
    expect(narrow.observations.length).toBeGreaterThan(1000);
    expect(narrow.observations).toEqual(whole.observations);
  });

  test('a page found outside any VMA is dropped: mapped again at its address, it is a new page', async () => {
    const { proc, recorder } = await recordedProc();
    const a = ok(await proc.mmap(0n, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    await proc.write(a, Uint8Array.of(1));
    await proc.munmap(a, PAGE);
    ok(await proc.mmap(a, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0n));
    await proc.write(a, Uint8Array.of(1));
    expect(recorder.observations.map((o) => `${o.call} page ${o.page}${o.entries?.at(-1)?.value === 0n ? ' none' : ''}`)).toEqual([
      'store page 0',
      'munmap page 0 none',
      'store page 1',
    ]);
  });

  test("calls made while a thread's call is under way race with it: none of them records at its own step, and the next step reads every page they reached", async () => {
    const { proc, recorder } = await recordedProc();
    const a = ok(await proc.mmap(0n, 4n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    await proc.madvise(a, 4n * PAGE, MADV_NOHUGEPAGE);
    await proc.pagemap(a + 3n * PAGE, 1); // page 0, untouched by the threads
    const [t0, t1] = [ok(await proc.threadCreate()), ok(await proc.threadCreate())];
    // between two barriers: both threads' adds and the main thread's store, all at once
    await Promise.all([t0.atomicAdd([a], 1), t1.atomicAdd([a + PAGE], 1), proc.write(a + 2n * PAGE, Uint8Array.of(1))]);
    await proc.madvise(a + 3n * PAGE, PAGE, MADV_NOHUGEPAGE);
    expect(recorder.observations.map((o) => `${o.step} ${o.call} page ${o.page}`)).toEqual(['2 pagemap page 0', '6 madvise(15) page 1', '6 madvise(15) page 2', '6 madvise(15) page 3']);
  });

  test("a handler's calls, made while a store waits in its fault, record nothing at their own steps: the store's step reads what they changed, and no other page", async () => {
    const { proc, recorder, reads } = await recordedProc();
    const src = ok(await proc.mmap(0n, 32n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    const dst = ok(await proc.mmap(0n, 32n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    await proc.madvise(src, 32n * PAGE, MADV_NOHUGEPAGE);
    await proc.madvise(dst, 32n * PAGE, MADV_NOHUGEPAGE);
    await proc.fill(src, 32n * PAGE, 1); // pages 0-31, none of them the handler's to change
    const uffd = ok(await proc.userfaultfd(O_CLOEXEC));
    ok(await proc.uffdioApi(uffd, UFFD_API, 0n));
    ok(await proc.uffdioRegister(uffd, dst, 32n * PAGE, UFFDIO_REGISTER_MODE_MISSING));
    const step = recorder.observations.at(-1)!.step + 2;
    const before = reads();
    const store = proc.write(dst + 20n * PAGE, Uint8Array.of(2)); // waits in a missing fault
    const msg = ok(await proc.uffdRead(uffd));
    if (msg.event !== 'PAGEFAULT') throw new Error(`a ${msg.event} message`);
    const copied = await proc.uffdioCopy(uffd, msg.address & ~(PAGE - 1n), src + 3n * PAGE, PAGE, 0n);
    expect(copied.error).toBeNull();
    await store;
    const read = reads() - before;
    await proc.mprotect(src + 31n * PAGE, PAGE, PROT_READ);
    // the page stored to (page 32), the one touched page of its contpte block and of the copy's range; the copy's own step
    // (step + 1) nothing; then page 31
    expect([read, pagesAt(recorder, step), pagesAt(recorder, step + 1), pagesAt(recorder, step + 2)]).toEqual([1, [32], [], [31]]);
  });

  test("a forked child's observations name it by lineage, its steps counted from 0: '1', its own child '1.1', the parent's next '2'", async () => {
    const { proc, recorder } = await recordedProc();
    const a = ok(await proc.mmap(0n, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    await proc.write(a, Uint8Array.of(1));
    const child = ok(await proc.fork());
    await child.write(a, Uint8Array.of(2));
    const grandchild = ok(await child.fork());
    await grandchild.write(a, Uint8Array.of(3));
    const second = ok(await proc.fork());
    await second.write(a, Uint8Array.of(4));
    const seen = recorder.observations.map((o) => `${o.process || '-'} ${o.step} ${o.call}`);
    // (the mmap touches no page, and the second fork finds the parent's already write-protected)
    expect([...new Set(seen)]).toEqual(['- 1 store', '- 2 fork', '1 0 store', '1 1 fork', '1.1 0 store', '2 0 store']);
  });

  test('a target without descriptorsOf is read a walk at a time', async () => {
    const recorder = new DescriptorRecorder();
    const proc = recorder.wrap(overriding(await (await referenceTarget('')).spawn(), { descriptorsOf: undefined }), 's', () => 0);
    const a = ok(await proc.mmap(0n, 2n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    await proc.fill(a, 2n * PAGE, 1);
    expect(pagesAt(recorder, 1)).toEqual([0, 1]);
  });
});

/** pte_modify() that forgets to drop write permission (PTE_WRITE, the DBM bit) when the new protection has none. */
test('memset and increment are recorded as stores are: each page they reach read after the step, kept where it changed', async () => {
  const recorder = new DescriptorRecorder();
  const proc = recorder.wrap(await (await referenceTarget('')).spawn(), 's', () => 0);
  const a = await proc.mmap(0n, 0x4000n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n);
  if (isErr(a)) throw new Error('setup');
  await proc.madvise(a, 0x4000n, MADV_NOHUGEPAGE);
  await proc.fill(a + 0x10n, 0x1000n, 1); // pages 0 and 1
  await proc.increment([a + 0x3000n, a + 0x1008n, a + 0x3001n]); // pages 3 and 1 (unchanged)
  await proc.increment([a + 0x3000n]); // nothing changes
  expect(recorder.observations.map((o) => `${o.step} ${o.call} page ${o.page}`)).toEqual(['2 memset page 0', '2 memset page 1', '3 increment page 2']);
});

const keepsDbm = (pg: Pgtable): Pgtable => ({ ...pg, pteModify: (p, prot) => pg.pteModify(p, prot) | (p & PTE_DBM) });
const FIRST_WRITE_PROTECT = 'mprotect(PROT_READ): a store faults';

test('a wrong helper in the model is caught at the first step that write-protects a page', async () => {
  const model = await recorded(await referenceTarget('@6.12'), QUICK);
  const mutant = await recorded(await referenceTarget('@6.12', { mutate: keepsDbm }), QUICK);
  const first = differences(model, mutant)[0];
  expect(first && { suite: first.suite, test: first.test, call: first.call, level: first.level, bits: first.bits.map((b) => b.name) }).toEqual({
    suite: 'pte-states',
    test: FIRST_WRITE_PROTECT,
    call: 'mprotect(1)',
    level: 'pte',
    bits: ['PTE_DBM (PTE_WRITE)'],
  });
});

/** The issue's own example: pte_wrprotect() that leaves DBM (PTE_WRITE) set, so hardware dirty-bit management lets the next store through. */
const wrprotectKeepsDbm = (pg: Pgtable): Pgtable => ({ ...pg, pteWrprotect: (p) => pg.pteWrprotect(p) | (p & PTE_DBM) });

/** The first result a run gives differently from another, by suite and name. */
function firstDisagreement(a: RunReport, b: RunReport): string | null {
  for (const sa of a.suites) {
    const sb = b.suites.find((s) => s.name === sa.name);
    const r = sa.results.find((x, i) => x.status !== sb?.results[i]?.status);
    if (r) return `${sa.name}: ${r.name}: ${r.status}`;
  }
  return null;
}


test('pte_wrprotect() leaving DBM set is caught at the first test that write-protects a page: soft-dirty clear_refs in test_simple', { timeout: 60_000 }, async () => {
  const suites = SUITES.filter((s) => s.name === 'soft-dirty');
  const model = await runSuites(await referenceTarget(':rfc@6.12'), 'model', suites, quiet);
  const mutant = await runSuites(await referenceTarget(':rfc@6.12', { mutate: wrprotectKeepsDbm }), 'mutant', suites, quiet);
  expect(firstDisagreement(mutant, model)).toBe('soft-dirty: Test test_simple: fail');
});

const x86 = descriptorsUnavailable(parseQemuSpec('qemu-x86_64'));
test.skipIf(x86 !== undefined)(`... and against the real x86_64 kernel, which passes it${x86 ? ` (skipped: ${x86})` : ''}`, { timeout: BOOT_TIMEOUT_MS }, async () => {
  const suites = SUITES.filter((s) => s.name === 'soft-dirty');
  const target = await qemuTarget('qemu-x86_64');
  try {
    const kernel = await runSuites(target, 'qemu-x86_64', suites, quiet);
    const mutant = await runSuites(await referenceTarget(':rfc@6.12', { mutate: wrprotectKeepsDbm }), 'mutant', suites, quiet);
    expect(firstDisagreement(mutant, kernel)).toBe('soft-dirty: Test test_simple: fail');
  } finally {
    await target.close();
  }
});

for (const [reference, qemu] of [
  ['@6.12', 'qemu-arm64'],
  ['@7.2', 'qemu-arm64@current'],
] as const) {
  const why = descriptorsUnavailable(parseQemuSpec(qemu));
  describe.skipIf(why !== undefined)(`reference${reference} against ${qemu}${why ? ` (skipped: ${why})` : ''}`, () => {
    test('every page every suite touches matches bit for bit at every step, and the wrong helper is caught where it first acts', { timeout: BOOT_TIMEOUT_MS }, async () => {
      const target = await qemuTarget(qemu);
      try {
        const kernel = await recorded(target);
        const model = await recorded(await referenceTarget(reference));
        // every suite's results alike, and then every walk
        // (numbers in names masked: transact_test's count of raced pages is the scheduler's)
        const statuses = (r: RunReport) => r.suites.map((s) => [s.name, s.exit.status, ...s.results.map((x) => `${x.status}: ${x.name.replace(/\d+(\.\d+)?/g, '#')}`)]);
        expect(statuses(model.report)).toEqual(statuses(kernel.report));
        expect(differencesText(summarizeDifferences(differences(model, kernel)), ['model', qemu])).toBe(`descriptors: model and ${qemu} agree at every step\n`);
        const mutant = await recorded(await referenceTarget(reference, { mutate: keepsDbm }));
        const first = differences(mutant, kernel)[0];
        // over every suite it first acts in pagemap_ioctl, the third suite, before pte-states' mprotect()
        expect(first && [first.suite, first.test, first.level, first.bits.map((b) => `${b.name} ${b.values.join('/')}`)]).toEqual([
          'pagemap_ioctl',
          'sanity_tests_sd Two regions',
          'pte',
          ['PTE_RDONLY (AP[2]) 1/0'],
        ]);
      } finally {
        await target.close();
      }
    });
  });
}
