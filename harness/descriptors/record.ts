// Descriptor recording: a Proc wrapper that, after every call a test makes,
// reads the raw page-table walk (descriptors()) of each page the test has
// loaded from, stored to or read the pagemap of and that the call could
// have changed, and keeps
// it when it changed. Pages are named by the order the test first touched
// them, not by address, so a run on the model and a run on a real kernel
// line up step for step; an unmapped page is read a last time and dropped.

import type { Descriptors, MemResult, PgLevel, PmScanArg, Proc, Ret, Thread } from '../target.ts';
import { isErr } from '../../uapi/linux.ts';
import { MREMAP_DONTUNMAP, PM_SCAN_WP_MATCHING } from '../../uapi/linux.ts';

const PAGE = 4096n;
const pageOf = (a: bigint) => a & ~(PAGE - 1n);

/** One page's walk after one step of one suite, where it changed. */
export interface Observation {
  readonly suite: string;
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

/** Which touched pages a call may change: those in a range, all of them, or only those it accessed. */
type Reach = { readonly range: readonly [bigint, bigint] } | 'all' | 'none';

export class DescriptorRecorder {
  readonly observations: Observation[] = [];

  /** Wraps a suite's process; `resultsSoFar` says how many results the suite has reported. */
  wrap(proc: Proc, suite: string, resultsSoFar: () => number): Proc {
    const describe = proc.descriptors?.bind(proc);
    if (!describe) throw new Error('descriptors: the target cannot read page tables (its capabilities say introspect: false)');
    const touched = new Map<bigint, number>();
    /** each page's last walk, as a key, to keep only changes */
    const last = new Map<number, string>();
    let nextPage = 0;
    let step = 0;
    /** `unmapped`: the range the call left without a mapping, whose pages are read a last time and dropped */
    const record = async (call: string, reach: Reach, accessed: readonly bigint[] = [], unmapped: readonly [bigint, bigint] | null = null) => {
      const resultsBefore = resultsSoFar();
      for (const a of accessed) if (!touched.has(a)) touched.set(a, nextPage++);
      const hit = new Set(accessed);
      const inReach = (a: bigint) => hit.has(a) || reach === 'all' || (reach !== 'none' && a >= reach.range[0] && a < reach.range[1]);
      for (const [addr, page] of [...touched].filter(([a]) => inReach(a))) {
        const d: Ret<Descriptors> = await describe(addr);
        const entries = isErr(d) ? null : d.entries.map((e) => ({ level: e.level, value: e.value }));
        const key = entries ? entries.map((e) => e.value.toString(16)).join(' ') : String(d);
        if (unmapped && addr >= unmapped[0] && addr < unmapped[1]) touched.delete(addr);
        if (last.get(page) === key) continue;
        last.set(page, key);
        this.observations.push({ suite, resultsBefore, step, call, page, entries, ...(isErr(d) ? { error: String(d) } : {}) });
      }
      step++;
    };
    const span = (addr: bigint, len: number): bigint[] => {
      const out: bigint[] = [];
      for (let a = pageOf(addr); a < addr + BigInt(Math.max(len, 1)); a += PAGE) out.push(a);
      return out;
    };
    const ranged = (addr: bigint, len: bigint): Reach => ({ range: [pageOf(addr), addr + len] });
    // Records are taken one call at a time, in the order the calls were made: calls a suite makes
    // together (harness/in-order.ts) then give the same steps whenever each target answers.
    let recorded: Promise<unknown> = Promise.resolve();
    // A call made while another thread's call is under way races with it on a real kernel: what it
    // changed is read at the next step that does not race.
    let threadCallsInFlight = 0;
    const after = <T>(
      result: Promise<T>,
      call: string,
      reach: (r: T) => Reach,
      accessed: readonly bigint[] = [],
      unmapped: (r: T) => readonly [bigint, bigint] | null = () => null,
      racing = threadCallsInFlight > 0,
    ): Promise<T> => {
      result.catch(() => {}); // its failure reaches the suite through `done`, once the records before it are taken
      if (racing) {
        for (const a of accessed) if (!touched.has(a)) touched.set(a, nextPage++);
        return result;
      }
      const done = recorded.then(async () => {
        const r = await result;
        await record(call, reach(r), accessed, unmapped(r));
        return r;
      });
      recorded = done.catch(() => {});
      return done;
    };
    const wrapThread = (th: Thread): Thread => ({
      atomicAdd: (addrs, delta) => {
        const racing = threadCallsInFlight > 0;
        threadCallsInFlight++;
        const settled = th.atomicAdd(addrs, delta).finally(() => threadCallsInFlight--);
        return after(settled, 'atomic_add', () => 'none', [...new Set(addrs.map(pageOf))], () => null, racing);
      },
      minflt: () => {
        threadCallsInFlight++;
        return th.minflt().finally(() => threadCallsInFlight--);
      },
    });

    return {
      get pid() {
        return proc.pid;
      },
      mmap: (addr, length, prot, flags, fd, offset) =>
        after(proc.mmap(addr, length, prot, flags, fd, offset), 'mmap', (r) => (isErr(r) ? 'none' : ranged(r, length))),
      munmap: (addr, length) => after(proc.munmap(addr, length), 'munmap', () => ranged(addr, length), [], (r) => (isErr(r) ? null : [addr, addr + length])),
      mprotect: (addr, length, p) => after(proc.mprotect(addr, length, p), `mprotect(${p})`, () => ranged(addr, length)),
      // a move leaves the old range unmapped (but with MREMAP_DONTUNMAP), a shrink its tail
      mremap: (oldAddr, oldSize, newSize, flags, newAddr) =>
        after(proc.mremap(oldAddr, oldSize, newSize, flags, newAddr), 'mremap', () => 'all', [], (r) => {
          if (isErr(r)) return null;
          if (r !== oldAddr) return flags & MREMAP_DONTUNMAP ? null : [oldAddr, oldAddr + oldSize];
          return newSize < oldSize ? [oldAddr + newSize, oldAddr + oldSize] : null;
        }),
      madvise: (addr, length, advice) => after(proc.madvise(addr, length, advice), `madvise(${advice})`, () => ranged(addr, length)),
      open: (path, flags, mode) => proc.open(path, flags, mode),
      // closing a userfaultfd resolves what it protected
      close: (fd) => after(proc.close(fd), 'close', () => 'all'),
      unlink: (path) => proc.unlink(path),
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
        arg.flags & PM_SCAN_WP_MATCHING ? after(proc.pagemapScan(arg), 'PAGEMAP_SCAN(WP)', () => ranged(arg.start, arg.end - arg.start)) : proc.pagemapScan(arg),
      userfaultfd: (flags) => proc.userfaultfd(flags),
      uffdioApi: (fd, api, features) => proc.uffdioApi(fd, api, features),
      uffdioRegister: (fd, start, len, mode) => after(proc.uffdioRegister(fd, start, len, mode), 'UFFDIO_REGISTER', () => ranged(start, len)),
      uffdioWriteprotect: (fd, start, len, mode) => after(proc.uffdioWriteprotect(fd, start, len, mode), `UFFDIO_WRITEPROTECT(${mode})`, () => ranged(start, len)),
      uffdioUnregister: (fd, start, len) => after(proc.uffdioUnregister(fd, start, len), 'UFFDIO_UNREGISTER', () => ranged(start, len)),
      descriptors: describe,
      exit: () => proc.exit(),
    };
  }
}
