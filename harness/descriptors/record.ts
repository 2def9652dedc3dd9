// Descriptor recording: a Proc wrapper that, after every call a test makes,
// reads the raw page-table walk (descriptors()) of each page the test has
// loaded from, stored to or read the pagemap of and that the call could
// have changed, and keeps
// it when it changed. Pages are named by the order the test first touched
// them, not by address, so a run on the model and a run on a real kernel
// line up step for step; a page found outside any VMA (unmapped) is
// dropped after that read, and is a new page if touched again, whether or
// not a later mapping reuses its address (the two sides' address spaces
// need not reuse it alike: a kernel's placement and the model's may differ).
// A step's walks are read together (descriptorsOf(), one round trip to a
// real kernel for thousands of pages) where the target can.

import { Answers, unlessBehindAWait } from '../recorded-order.ts';
import type { Descriptors, MemResult, PgLevel, PmScanArg, PmScanResult, Proc, Ret, Thread } from '../target.ts';
import { isErr } from '../../uapi/linux.ts';
import { ObservationLog } from './observations.ts';
import { PAGE_IS_HUGE, PM_SCAN_WP_MATCHING } from '../../uapi/linux.ts';

const PAGE = 4096n;
/** what one pte table maps (4 KiB pages): a THP or a 2 MiB hugetlb page */
const PMD_SIZE = 512n * PAGE;
/** what one contiguous-pte block maps (CONT_PTES): a change to one pte of it can rewrite all 16 */
const CONT_SIZE = 16n * PAGE;
const pageOf = (a: bigint) => a & ~(PAGE - 1n);
const blockOf = (a: bigint) => a & ~(PMD_SIZE - 1n);
const contOf = (a: bigint) => a & ~(CONT_SIZE - 1n);
/** Calls a userfaultfd can hold until the test answers: a fault (loads and stores) or a non-cooperative event (fork, remap, remove, unmap). */
const MAY_WAIT = /^(load|store|memset|increment|atomic_add|fork|mmap|munmap|mremap|shmdt|madvise\()/;
/** PTE_AF: what a kernel's background aging clears on its own (the comparison forgives it) */
const AF = 1n << 10n;

/** One page's walk after one step of one suite, where it changed. */
export interface Observation {
  readonly suite: string;
  /** which of the suite's processes, by fork lineage: '' the suite's own, '1' its first child, '1.2' that child's second */
  readonly process: string;
  /** results the suite had reported before the step: the step belongs to the test reported next */
  readonly resultsBefore: number;
  /** the step's index among the suite's calls */
  readonly step: number;
  /** the call, without addresses: "madvise(MADV_PAGEOUT)" */
  readonly call: string;
  /** which page: 0 for the first the test touched, and so on */
  readonly page: number;
  /** the entries from the top level down; null when the read failed (its reason in `error`) */
  readonly entries: readonly { readonly level: PgLevel; readonly value: bigint }[] | null;
  readonly error?: string;
}

/** [start, end) */
type Range = readonly [bigint, bigint];

/**
 * Which touched pages a call may change, besides those it accessed: all of
 * them, none, or those in `ranges`; and, in each PMD-size block that meets
 * one of `blocks`, the block's others when one of them shows a change (a
 * huge page split, a hugetlb marker: the call changed pages beyond its
 * ranges there, or nothing did).
 */
export type Reach = 'all' | 'none' | { readonly ranges: readonly Range[]; readonly blocks?: readonly Range[] };

/** What two calls may change together. */
function bothReach(a: Reach, b: Reach): Reach {
  if (a === 'all' || b === 'all') return 'all';
  if (a === 'none') return b;
  if (b === 'none') return a;
  return { ranges: [...a.ranges, ...b.ranges], blocks: [...(a.blocks ?? []), ...(b.blocks ?? [])] };
}

/** A call's reach with the pages it loaded from or stored to. */
const withAccessed = (reach: Reach, accessed: readonly bigint[]): Reach => bothReach(reach, { ranges: accessed.map((a): Range => [a, a + PAGE]) });

/** Ranges sorted and merged, to be asked whether they meet a range. */
class RangeSet {
  readonly starts: bigint[] = [];
  readonly ends: bigint[] = [];
  constructor(ranges: readonly Range[]) {
    for (const [s, e] of [...ranges].filter(([s, e]) => s < e).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const n = this.ends.length;
      if (n && s <= this.ends[n - 1]!) this.ends[n - 1] = e > this.ends[n - 1]! ? e : this.ends[n - 1]!;
      else this.starts.push(s), this.ends.push(e);
    }
  }
  /** whether [s, e) overlaps one of the ranges */
  meets(s: bigint, e: bigint): boolean {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! <= s) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.ends.length && this.starts[lo]! < e;
  }
  /** how many pages the ranges hold */
  pages(): bigint {
    return this.starts.reduce((n, s, i) => n + (this.ends[i]! - s) / PAGE, 0n);
  }
}

/** The PMD-size blocks in which [s, e) covers part of a block: where a call on the range splits a huge page. */
function partialBlocks(s: bigint, e: bigint): Range[] {
  return [s, e].filter((edge) => edge % PMD_SIZE !== 0n).map((edge): Range => [edge, edge + 1n]);
}

/**
 * What a PAGEMAP_SCAN with PM_SCAN_WP_MATCHING may change (fs/proc/task_mmu.c,
 * pagemap_scan_*()). With an output vector it write-protects only pages it
 * reports (each page or hole goes through pagemap_scan_output() before
 * make_uffd_wp_pte(), make_uffd_wp_pmd(), make_uffd_wp_huge_pte() or
 * uffd_wp_range(), and only what that kept), but beyond them:
 * - pagemap_scan_thp_entry() splits a THP it reports only part of (the
 *   range or max_pages cut it), changing the whole block: a region ends
 *   inside it; or, where the categories asked tell a THP from its split
 *   ptes (PAGE_IS_HUGE), a THP cut by max_pages is split and then not
 *   reported at all, as is every later one: any block of the range;
 * - pagemap_scan_hugetlb_hole_wp() marks the whole huge page of a hole the
 *   range covers part of: a region ends inside it.
 * A scan that failed (EFAULT writing the vector, EPERM from
 * PM_SCAN_CHECK_WPASYNC at a later area) may have protected any page of its
 * range before it did; without a vector, the fast path protects every page
 * of the range and reports none.
 */
export function wpScanReach(arg: PmScanArg, result: Ret<PmScanResult>): Reach {
  const range: Range = [pageOf(arg.start), pageOf(arg.end + PAGE - 1n)];
  if (isErr(result) || arg.vecLen === 0) return { ranges: [range], blocks: partialBlocks(...range) };
  const ranges = result.regions.map((r): Range => [r.start, r.end]);
  const huge = (arg.categoryMask | arg.categoryAnyofMask) & PAGE_IS_HUGE;
  return { ranges, blocks: huge ? [range] : [range, ...ranges].flatMap(([s, e]) => partialBlocks(s, e)) };
}

export interface RecorderOptions {
  /** a write-protecting PAGEMAP_SCAN reaches its whole range, not only what wpScanReach() says it changed (to check that) */
  readonly wholeScanRanges?: boolean;
}

export class DescriptorRecorder {
  readonly log = new ObservationLog();

  /** what was recorded, as objects (for a short recording: `log` keeps a long one compact) */
  get observations(): Observation[] {
    return this.log.toArray();
  }

  constructor(private readonly options: RecorderOptions = {}) {}

  /**
   * Wraps a suite's process; `resultsSoFar` says how many results the suite has reported.
   * A forked child is wrapped too, as `process` plus its place among the forks.
   */
  wrap(proc: Proc, suite: string, resultsSoFar: () => number, process = ''): Proc {
    const describe = proc.descriptors?.bind(proc);
    if (!describe) throw new Error('descriptors: the target cannot read page tables (its capabilities say introspect: false)');
    const touched = new Map<bigint, number>();
    /** each page's last walk, as a key, to keep only changes */
    const last = new Map<number, string>();
    let nextPage = 0;
    /** the calls made so far: a step's index is its call's, raced calls counted, so both sides' steps line up whichever calls raced */
    let calls = 0;
    /** the forks made so far, naming each child */
    let forks = 0;
    const touch = (accessed: readonly bigint[]) => {
      for (const a of accessed) if (!touched.has(a)) touched.set(a, nextPage++);
    };
    /** the touched pages in `ranges`, page-aligned: looked up by address where they hold fewer pages than were touched, else found by a pass over all */
    const touchedIn = (ranges: readonly Range[]): Map<bigint, number> => {
      const out = new Map<bigint, number>();
      const set = new RangeSet(ranges);
      if (set.pages() <= BigInt(touched.size))
        set.starts.forEach((s, i) => {
          for (let a = s; a < set.ends[i]!; a += PAGE) {
            const page = touched.get(a);
            if (page !== undefined) out.set(a, page);
          }
        });
      else for (const [a, page] of touched) if (set.meets(a, a + 1n)) out.set(a, page);
      return out;
    };
    /** every walk of `addrs`, in their order: together where the target reads them so */
    const readAll = async (addrs: readonly bigint[]): Promise<readonly Ret<Descriptors>[]> => {
      if (addrs.length === 0) return [];
      if (proc.descriptorsOf) return proc.descriptorsOf(addrs);
      const out: Ret<Descriptors>[] = [];
      for (const a of addrs) out.push(await describe(a));
      return out;
    };
    const keyOf = (d: Ret<Descriptors>) => (isErr(d) ? String(d) : d.entries.map((e) => e.value.toString(16)).join(' '));
    // a leaf's AF aside: a block's others are read when its first changed, on every side alike, not when a kernel aged it
    const unaged = (key: string | undefined) => key?.replace(/[0-9a-f]+$/, (v) => (BigInt(`0x${v}`) & ~AF).toString(16));
    const record = async (step: number, call: string, reach: Reach, accessed: readonly bigint[] = []) => {
      const resultsBefore = resultsSoFar();
      touch(accessed);
      // arm64's contpte: a call that changes one pte can unfold or fold its whole 64 KiB block
      const reached =
        reach === 'all'
          ? new Map(touched)
          : touchedIn([
              ...[...new Set(accessed.map(contOf))].map((c): Range => [c, c + CONT_SIZE]),
              ...(reach === 'none' ? [] : reach.ranges.map(([s, e]): Range => [contOf(s), contOf(e + CONT_SIZE - 1n)])),
            ]);
      /** by block: the touched pages beyond the reach in blocks the call may have changed beyond it */
      const besides = new Map<bigint, [bigint, number][]>();
      if (typeof reach === 'object' && reach.blocks?.length)
        for (const [addr, page] of touchedIn(reach.blocks.map(([s, e]): Range => [blockOf(s), blockOf(e + PMD_SIZE - 1n)]))) {
          if (reached.has(addr)) continue;
          const inBlock = besides.get(blockOf(addr)) ?? [];
          besides.set(blockOf(addr), inBlock);
          inBlock.push([addr, page]);
        }
      const byPage = (x: readonly [bigint, number], y: readonly [bigint, number]) => x[1] - y[1];
      const pages = [...reached].sort(byPage);
      for (const b of besides.values()) b.sort(byPage);
      // the first of such a block's pages is read with the rest; its others only when that one changed
      const first = [...pages, ...[...besides.values()].map((b) => b[0]!)];
      const walks = new Map<number, { readonly addr: bigint; readonly walk: Ret<Descriptors> }>();
      const take = async (list: readonly [bigint, number][]) =>
        (await readAll(list.map(([a]) => a))).forEach((walk, i) => walks.set(list[i]![1], { addr: list[i]![0], walk }));
      await take(first);
      const changed = (b: readonly [bigint, number][]) => unaged(keyOf(walks.get(b[0]![1])!.walk)) !== unaged(last.get(b[0]![1]));
      await take([...besides.values()].filter(changed).flatMap((b) => b.slice(1)));
      for (const [page, { addr, walk }] of [...walks].sort(([x], [y]) => x - y)) {
        const key = keyOf(walk);
        // an unmapped page is never read again under its number
        const gone = !isErr(walk) && walk.vmFlags === null;
        if (gone) touched.delete(addr);
        const same = last.get(page) === key;
        if (gone) last.delete(page);
        else last.set(page, key);
        if (same) continue;
        const entries = isErr(walk) ? null : walk.entries.map((e) => ({ level: e.level, value: e.value }));
        this.log.push({ suite, process, resultsBefore, step, call, page, entries, ...(isErr(walk) ? { error: String(walk) } : {}) });
      }
    };
    const span = (addr: bigint, len: number): bigint[] => {
      const out: bigint[] = [];
      for (let a = pageOf(addr); a < addr + BigInt(Math.max(len, 1)); a += PAGE) out.push(a);
      return out;
    };
    const ranged = (addr: bigint, len: bigint): Reach => ({ ranges: [[pageOf(addr), addr + len]] });
    // Records are taken one call at a time, in the order the calls were made: calls a suite makes
    // together (harness/in-order.ts) then give the same steps whenever each target answers.
    let recorded: Promise<unknown> = Promise.resolve();
    const answers = new Answers();
    // A call made while another thread's call is under way races with it on a real kernel, and so
    // does the thread's call when calls were made while it was under way (the calls a test makes
    // between two barriers), and so does a call made while one may be waiting on the test (a
    // handler's, Answers.waiting()): none of them records at its own step, and the next step reads
    // every page they may have changed.
    let threadCallsInFlight = 0;
    /** calls made while a thread's call was under way */
    let racingCalls = 0;
    /** what the calls that raced since the last step may have changed */
    let raced: Reach = 'none';
    /** racing calls not answered yet that cannot wait on the test: the next step waits for them */
    const racingAnswers = new Set<Promise<unknown>>();
    /** racing calls not answered yet that may wait on the test: what they change is not known yet, so the next step reads every touched page */
    let racingWaits = 0;
    const race = (reach: Reach) => (raced = bothReach(raced, reach));
    const after = <T>(
      result: Promise<T>,
      call: string,
      reach: (r: T) => Reach,
      accessed: readonly bigint[] = [],
      racing: boolean | Promise<boolean> = threadCallsInFlight > 0 || answers.waiting(),
    ): Promise<T> => {
      result.catch(() => {}); // its failure reaches the suite through `done`, once the records before it are taken
      const step = calls++;
      const mayWait = MAY_WAIT.test(call);
      if (racing === true) {
        racingCalls++;
        touch(accessed);
        if (mayWait) racingWaits++;
        const answered = result
          .then(
            (r) => race(withAccessed(reach(r), accessed)),
            () => race('all'),
          )
          .finally(() => (mayWait ? racingWaits-- : racingAnswers.delete(answered)));
        if (!mayWait) racingAnswers.add(answered);
        return result;
      }
      const earlier = answers.add(result, mayWait);
      const done = recorded.then(async () => {
        const r = await result;
        if (await racing) {
          touch(accessed);
          race(withAccessed(reach(r), accessed));
        } else {
          await Promise.all(racingAnswers);
          const racedToo = racingWaits > 0 ? 'all' : raced;
          raced = 'none';
          await record(step, call, bothReach(reach(r), racedToo), accessed);
        }
        return r;
      });
      recorded = done.catch(() => {});
      return unlessBehindAWait(earlier, result, done);
    };
    const wrapThread = (th: Thread): Thread => ({
      atomicAdd: (addrs, delta) => {
        const racing = threadCallsInFlight > 0;
        const seen = racingCalls;
        threadCallsInFlight++;
        const settled = th.atomicAdd(addrs, delta).finally(() => threadCallsInFlight--);
        const overlapped = () => racingCalls !== seen;
        return after(settled, 'atomic_add', () => 'none', [...new Set(addrs.map(pageOf))], racing || settled.then(overlapped, overlapped));
      },
      minflt: () => {
        threadCallsInFlight++;
        return th.minflt().finally(() => threadCallsInFlight--);
      },
      tid: th.tid,
      madvise: (addr, length, advice) => {
        threadCallsInFlight++;
        return after(th.madvise(addr, length, advice).finally(() => threadCallsInFlight--), `madvise(${advice})`, () => ranged(addr, length));
      },
    });

    return {
      get pid() {
        return proc.pid;
      },
      mmap: (addr, length, prot, flags, fd, offset) =>
        after(proc.mmap(addr, length, prot, flags, fd, offset), 'mmap', (r) => (isErr(r) ? 'none' : ranged(r, length))),
      munmap: (addr, length) => after(proc.munmap(addr, length), 'munmap', () => ranged(addr, length)),
      mprotect: (addr, length, p) => after(proc.mprotect(addr, length, p), `mprotect(${p})`, () => ranged(addr, length)),
      mremap: (oldAddr, oldSize, newSize, flags, newAddr) => after(proc.mremap(oldAddr, oldSize, newSize, flags, newAddr), 'mremap', () => 'all'),
      madvise: (addr, length, advice) => after(proc.madvise(addr, length, advice), `madvise(${advice})`, () => ranged(addr, length)),
      open: (path, flags, mode) => proc.open(path, flags, mode),
      // closing a userfaultfd resolves what it protected
      close: (fd) => after(proc.close(fd), 'close', () => 'all'),
      unlink: (path) => proc.unlink(path),
      // every process's swap entries on the device become ptes
      swapoff: (path) => after(proc.swapoff(path), 'swapoff', () => 'all'),
      swapon: (path, flags) => proc.swapon(path, flags),
      // truncation zaps mappings past the new end
      ftruncate: (fd, length) => after(proc.ftruncate(fd, length), 'ftruncate', () => 'all'),
      memfdCreate: (name, flags) => proc.memfdCreate(name, flags),
      writeFd: (fd, data) => proc.writeFd(fd, data),
      stat: (path) => proc.stat(path),
      listDir: (path) => proc.listDir(path),
      shmget: (key, size, shmflg) => proc.shmget(key, size, shmflg),
      // an attach maps the segment where the kernel chooses, a detach unmaps every area of it
      shmat: (shmid, addr, shmflg) => after(proc.shmat(shmid, addr, shmflg), 'shmat', () => 'all'),
      shmdt: (addr) => after(proc.shmdt(addr), 'shmdt', () => 'all'),
      shmctl: (shmid, cmd) => proc.shmctl(shmid, cmd),
      threadCreate: async () => {
        const th = await proc.threadCreate();
        return isErr(th) ? th : wrapThread(th);
      },
      alignedAlloc: (alignment, size) => proc.alignedAlloc(alignment, size),
      free: (addr) => after(proc.free(addr), 'free', () => 'all'),
      read: (addr, length): Promise<MemResult> => after(proc.read(addr, length), 'load', () => 'none', span(addr, length)),
      write: (addr, data): Promise<MemResult> => after(proc.write(addr, data), 'store', () => 'none', span(addr, data.length)),
      fill: (addr, length, byte): Promise<MemResult> => after(proc.fill(addr, length, byte), 'memset', () => 'none', span(addr, Number(length))),
      increment: (addrs): Promise<MemResult> => after(proc.increment(addrs), 'increment', () => 'none', [...new Set(addrs.map(pageOf))]),
      readFile: (path) => proc.readFile(path),
      // clear_refs and the sysfs knobs reach every page
      writeFile: (path, data) => after(proc.writeFile(path, data), `write ${path.replace(/\/proc\/\d+\//, '/proc/PID/')} ${data.trim()}`, () => 'all'),
      // a page the test looks at through pagemap is one it touched too
      pagemap: (addr, nPages) => after(proc.pagemap(addr, nPages), 'pagemap', () => 'none', span(addr, nPages * Number(PAGE))),
      pagemapScan: (arg: PmScanArg) =>
        arg.flags & PM_SCAN_WP_MATCHING ? after(proc.pagemapScan(arg), 'PAGEMAP_SCAN(WP)', (r) => (this.options.wholeScanRanges ? ranged(arg.start, arg.end - arg.start) : wpScanReach(arg, r))) : proc.pagemapScan(arg),
      userfaultfd: (flags) => proc.userfaultfd(flags),
      uffdioApi: (fd, api, features) => proc.uffdioApi(fd, api, features),
      uffdioRegister: (fd, start, len, mode) => after(proc.uffdioRegister(fd, start, len, mode), 'UFFDIO_REGISTER', () => ranged(start, len)),
      uffdioWriteprotect: (fd, start, len, mode) => after(proc.uffdioWriteprotect(fd, start, len, mode), `UFFDIO_WRITEPROTECT(${mode})`, () => ranged(start, len)),
      uffdioUnregister: (fd, start, len) => after(proc.uffdioUnregister(fd, start, len), 'UFFDIO_UNREGISTER', () => ranged(start, len)),
      uffdioCopy: (fd, dst, src, len, mode) => after(proc.uffdioCopy(fd, dst, src, len, mode), `UFFDIO_COPY(${mode})`, () => ranged(dst, len)),
      uffdioZeropage: (fd, start, len, mode) => after(proc.uffdioZeropage(fd, start, len, mode), `UFFDIO_ZEROPAGE(${mode})`, () => ranged(start, len)),
      // a wake retries faults, and a read reports them: neither changes a page table
      uffdioWake: (fd, start, len) => proc.uffdioWake(fd, start, len),
      uffdRead: (fd) => proc.uffdRead(fd),
      // the child's page tables are recorded as steps of their own, apart from the parent's
      fork: async () => {
        const nth = ++forks;
        const child = await after(proc.fork(), 'fork', () => 'all');
        return isErr(child) ? child : this.wrap(child, suite, resultsSoFar, process === '' ? `${nth}` : `${process}.${nth}`);
      },
      // a page of a large folio moves with the whole folio
      movePages: (addrs, nodes, flags) => (nodes === null ? proc.movePages(addrs, nodes, flags) : after(proc.movePages(addrs, nodes, flags), 'move_pages', () => 'all')),
      pipe2: (flags) => proc.pipe2(flags),
      readFd: (fd, count) => proc.readFd(fd, count),
      poll: (fds, timeoutMs) => proc.poll(fds, timeoutMs),
      fcntl: (fd, cmd, arg) => proc.fcntl(fd, cmd, arg),
      // a punched hole zaps every mapping of the file
      fallocate: (fd, mode, offset, len) => after(proc.fallocate(fd, mode, offset, len), 'fallocate', () => 'all'),
      userfaultfdIocNew: (fd, flags) => proc.userfaultfdIocNew(fd, flags),
      uffdioContinue: (fd, start, len, mode) => after(proc.uffdioContinue(fd, start, len, mode), `UFFDIO_CONTINUE(${mode})`, () => ranged(start, len)),
      // both ranges, and a THP split where either cuts one
      uffdioMove: (fd, dst, src, len, mode) =>
        after(proc.uffdioMove(fd, dst, src, len, mode), `UFFDIO_MOVE(${mode})`, () => ({
          ranges: [
            [pageOf(dst), dst + len],
            [pageOf(src), src + len],
          ],
          blocks: [...partialBlocks(dst, dst + len), ...partialBlocks(src, src + len)],
        })),
      uffdioPoison: (fd, start, len, mode) => after(proc.uffdioPoison(fd, start, len, mode), `UFFDIO_POISON(${mode})`, () => ranged(start, len)),
      descriptors: describe,
      ...(proc.descriptorsOf ? { descriptorsOf: proc.descriptorsOf.bind(proc) } : {}),
      exit: () => proc.exit(),
    };
  }
}
