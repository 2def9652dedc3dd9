// Runs a sequence of the fuzzer's calls on a target, in a fresh process,
// and returns the call log (harness/calls/record.ts): a memfd to map first,
// the calls, then what every area ends up as (smaps and pagemap).

import { CallRecorder, type CallLine } from '../../harness/calls/record.ts';
import type { Proc, Target, Thread } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { ARENA, MEMFD_PAGES, PAGE, REGISTERED, SLOT_PAGES, SLOTS, slotRanges, type Call, type Ref } from './calls.ts';
import { OracleWatch, type CallRange, type Judge, type OracleCaps, type Violation } from './oracles.ts';

/** How much of an area a target chose the closing pagemap reads. */
const CHOSEN_PAGES = 1024;

const bytes = (n: number) => BigInt(n) * PAGE;
const HPAGE = 2n << 20n;
const IPC_PRIVATE = 0;
const inArena = (a: bigint) => a >= ARENA && a < ARENA + bytes(SLOTS * SLOT_PAGES);

/** The byte a store writes: where it came from shows in what a later load reads. */
export const storeByte = (index: number) => (index % 255) + 1;

class Runner {
  private uffd = -1;
  /** the features the userfaultfd was given: without UFFD_FEATURE_SIGBUS a missing or minor fault would wait for a handler */
  private sigbus = false;
  private readonly threads: Thread[] = [];
  /** the areas the target chose, in order: start and pages */
  private readonly chosen: (readonly [bigint, number])[] = [];
  /**
   * A range was registered for uffd-wp: MADV_GUARD_INSTALL is not made from
   * then on. Over a uffd-wp marker, which the zap it retries with leaves,
   * the kernel restarts it for ever (madvise_guard_install(): measured on
   * the host's 6.18; 7.2 has the same loop).
   */
  private wpRegistered = false;
  /** the area the last uffd_setup mapped (REGISTERED): start and pages */
  private registered: readonly [bigint, number] | undefined;

  constructor(
    private readonly proc: Proc,
    private readonly memfd: number,
    /** told of the pages each store, fill, increment or atomic add wrote, once it completed, and of each area a call mapped */
    private readonly watch?: Pick<OracleWatch, 'wrote' | 'mapped' | 'forked'>,
  ) {}

  private async wrote(index: number, pages: readonly bigint[]): Promise<void> {
    await this.watch?.wrote(index, pages);
  }

  /** A call's range: its first page and how many pages, for the calls that have one. */
  rangeOf(c: Call): CallRange {
    if (!('at' in c) || !('pages' in c) || typeof c.pages !== 'number') return null;
    return [this.addr(c.at) & ~(PAGE - 1n), this.fit(c.at, c.pages, Number(PAGE))];
  }

  /** the pages of [start, start + len) */
  private static pages(start: bigint, len: number): bigint[] {
    const first = start & ~(PAGE - 1n);
    return Array.from({ length: len > 0 ? Number((start + BigInt(len) - 1n - first) / PAGE) + 1 : 0 }, (_, i) => first + BigInt(i) * PAGE);
  }

  /** The area a ref names a page of, where it is not a slot: one the target chose, or the registered one. */
  private area(r: Ref): readonly [bigint, number] | undefined {
    return r.base === REGISTERED ? this.registered : this.chosen[r.base - SLOTS];
  }

  /** A slot's page, or a page within an area the target chose or uffd_setup mapped (slot 0's while there is none). */
  addr(r: Ref): bigint {
    const chosen = this.area(r);
    if (chosen) return chosen[0] + bytes(r.page % Math.max(1, chosen[1]));
    return ARENA + bytes((Math.max(r.base, 0) % SLOTS) * SLOT_PAGES + r.page);
  }

  /** `n` units of `unit` bytes from `r`, fewer where they would run past the end of an area the target chose. */
  fit(r: Ref, n: number, unit: number, offset = 0): number {
    const chosen = this.area(r);
    if (!chosen) return n;
    const room = Math.max(1, chosen[1]) * Number(PAGE) - (r.page % Math.max(1, chosen[1])) * Number(PAGE) - offset;
    return Math.min(n, Math.floor(room / unit));
  }

  /** an area a call mapped at r (an errno: none), moved there by mremap() or new */
  private choose(r: bigint | U.Errno, pages: number, moved = false): void {
    if (isErr(r)) return;
    this.watch?.mapped(r, pages, moved);
    if (!inArena(r)) this.chosen.push([r, pages]);
  }

  async run(c: Call, index: number): Promise<void> {
    const p = this.proc;
    switch (c.op) {
      case 'mmap': {
        const place = { fixed: U.MAP_FIXED, noreplace: U.MAP_FIXED_NOREPLACE, hint: 0, any: 0 }[c.place];
        const flags =
          (c.shared ? U.MAP_SHARED : U.MAP_PRIVATE) |
          place |
          (c.backing === 'memfd' ? 0 : U.MAP_ANONYMOUS) |
          (c.backing === 'hugetlb' ? U.MAP_HUGETLB : 0) |
          (c.populate ? U.MAP_POPULATE : 0) |
          (c.noreserve ? U.MAP_NORESERVE : 0);
        const fd = c.backing === 'memfd' ? this.memfd : -1;
        const off = c.backing === 'memfd' ? bytes(c.offPages) : 0n;
        return this.choose(await p.mmap(c.place === 'any' ? 0n : this.addr(c.at), bytes(c.pages), c.prot, flags, fd, off), c.pages);
      }
      case 'munmap':
        return void (await p.munmap(this.addr(c.at), bytes(c.pages)));
      case 'mprotect':
        return void (await p.mprotect(this.addr(c.at), bytes(c.pages), c.prot));
      case 'mremap': {
        const fixed = (c.flags & U.MREMAP_FIXED) !== 0;
        return this.choose(await p.mremap(this.addr(c.at), bytes(c.oldPages), bytes(c.newPages), c.flags, fixed ? this.addr(c.to) : undefined), c.newPages, true);
      }
      case 'madvise':
        if (c.advice === U.MADV_GUARD_INSTALL && this.wpRegistered) return;
        return void (await p.madvise(this.addr(c.at), bytes(c.pages), c.advice));
      case 'load':
        return void (await p.read(this.addr(c.at) + BigInt(c.offset), this.fit(c.at, c.len, 1, c.offset)));
      case 'store': {
        const at = this.addr(c.at) + BigInt(c.offset);
        const len = this.fit(c.at, c.len, 1, c.offset);
        if ((await p.write(at, new Uint8Array(len).fill(storeByte(index)))).ok) await this.wrote(index, Runner.pages(at, len));
        return;
      }
      case 'fill': {
        const at = this.addr(c.at);
        const len = bytes(this.fit(c.at, c.pages, Number(PAGE)));
        if ((await p.fill(at, len, storeByte(index))).ok) await this.wrote(index, Runner.pages(at, Number(len)));
        return;
      }
      case 'increment': {
        const n = this.fit(c.at, c.pages, Number(PAGE));
        const start = this.addr(c.at);
        const addrs = Array.from({ length: Math.ceil(n / c.step) }, (_, i) => start + bytes(i * c.step) + BigInt(i % 8));
        if ((await p.increment(addrs)).ok) await this.wrote(index, addrs);
        return;
      }
      case 'atomic_add': {
        while (this.threads.length <= c.thread) {
          const th = await p.threadCreate();
          if (isErr(th)) return;
          this.threads.push(th);
        }
        const at = this.addr(c.at) + 4n * BigInt(index % 1024);
        if ((await this.threads[c.thread]!.atomicAdd([at], 1)).ok) await this.wrote(index, [at]);
        return;
      }
      case 'shm': {
        const id = await p.shmget(IPC_PRIVATE, bytes(c.pages), U.IPC_CREAT | U.SHM_R | U.SHM_W | (c.hugetlb ? U.SHM_HUGETLB : 0));
        if (isErr(id)) return;
        const at = await p.shmat(id, 0n, 0);
        await p.shmctl(id, U.IPC_RMID);
        return this.choose(at, c.hugetlb ? Number((bytes(c.pages) + HPAGE - 1n) / HPAGE) * 512 : c.pages);
      }
      case 'write_fd':
        return void (await p.writeFd(this.memfd, new Uint8Array(c.len).fill(storeByte(index))));
      case 'pagemap':
        return void (await p.pagemap(this.addr(c.at), this.fit(c.at, c.pages, Number(PAGE))));
      case 'move_pages': {
        const addrs = Array.from({ length: c.pages }, (_, i) => this.addr(c.at) + BigInt(i) * PAGE);
        return void (await p.movePages(addrs, c.stat ? null : addrs.map(() => c.node), c.flags));
      }
      case 'scan': {
        const start = this.addr(c.at);
        return void (await p.pagemapScan({
          start,
          end: start + bytes(this.fit(c.at, c.pages, Number(PAGE))),
          flags: c.flags,
          maxPages: BigInt.asUintN(64, BigInt(c.maxPages)),
          categoryInverted: c.inverted,
          categoryMask: c.mask,
          categoryAnyofMask: c.anyof,
          returnMask: c.ret,
          vecLen: c.vecLen,
          ...(c.nullVec ? { nullVec: true } : {}),
        }));
      }
      case 'smaps':
        return void (await p.readFile('/proc/self/smaps'));
      case 'clear_refs':
        return void (await p.writeFile('/proc/self/clear_refs', c.data));
      case 'ftruncate':
        return void (await p.ftruncate(this.memfd, bytes(c.pages)));
      case 'userfaultfd': {
        const fd = await p.userfaultfd(c.flags);
        if (!isErr(fd)) [this.uffd, this.sigbus] = [fd, false];
        return;
      }
      case 'uffdio_api': {
        const r = await p.uffdioApi(this.uffd, U.UFFD_API, c.features);
        if (!isErr(r)) this.sigbus = (c.features & U.UFFD_FEATURE_SIGBUS) !== 0n;
        return;
      }
      case 'uffdio_register': {
        // MISSING and MINOR only where a fault raises SIGBUS: one waiting for a handler would wait for ever
        const mode = this.sigbus ? BigInt(c.mode ?? U.UFFDIO_REGISTER_MODE_WP) : U.UFFDIO_REGISTER_MODE_WP;
        const r = await p.uffdioRegister(this.uffd, this.addr(c.at), bytes(c.pages), mode);
        if (!isErr(r) && mode & U.UFFDIO_REGISTER_MODE_WP) this.wpRegistered = true;
        return;
      }
      case 'uffdio_writeprotect':
        return void (await p.uffdioWriteprotect(this.uffd, this.addr(c.at), bytes(c.pages), c.wp ? U.UFFDIO_WRITEPROTECT_MODE_WP : 0n));
      case 'uffdio_unregister':
        return void (await p.uffdioUnregister(this.uffd, this.addr(c.at), bytes(c.pages)));
      case 'uffdio_wake':
        return void (await p.uffdioWake(this.uffd, this.addr(c.at), bytes(c.pages)));
      case 'uffd_read':
        return void (await p.uffdRead(this.uffd));
      case 'uffdio_copy':
        return void (await p.uffdioCopy(this.uffd, this.addr(c.at), this.addr(c.from), bytes(this.fit(c.from, c.pages, Number(PAGE))), BigInt(c.mode)));
      case 'uffdio_zeropage':
        return void (await p.uffdioZeropage(this.uffd, this.addr(c.at), bytes(c.pages), BigInt(c.mode)));
      case 'uffdio_continue':
        return void (await p.uffdioContinue(this.uffd, this.addr(c.at), bytes(c.pages), BigInt(c.mode)));
      case 'uffdio_poison':
        return void (await p.uffdioPoison(this.uffd, this.addr(c.at), bytes(c.pages), 0n));
      case 'uffdio_move':
        return void (await p.uffdioMove(this.uffd, this.addr(c.at), this.addr(c.from), bytes(c.pages), BigInt(c.mode)));
      case 'uffd_setup':
        this.registered = [this.addr(c.at), c.pages];
        await this.run({ op: 'mmap', at: c.at, place: 'fixed', pages: c.pages, prot: U.PROT_READ | U.PROT_WRITE, shared: c.shared, backing: c.backing, populate: false, noreserve: false, offPages: 0 }, index);
        await this.run({ op: 'userfaultfd', flags: c.flags }, index);
        await this.run({ op: 'uffdio_api', features: c.features }, index);
        return this.run({ op: 'uffdio_register', at: c.at, pages: c.pages, mode: c.mode }, index);
      case 'fork': {
        const child = await p.fork();
        if (isErr(child)) return;
        try {
          const smaps = await child.readFile('/proc/self/smaps');
          const slots: (readonly [bigint, BigUint64Array])[] = [];
          for (const [start] of slotRanges()) {
            const e = await child.pagemap(start, SLOT_PAGES);
            if (!isErr(e)) slots.push([start, e]);
          }
          if (!isErr(smaps)) this.watch?.forked(index, smaps, slots);
        } finally {
          await child.exit();
        }
        return;
      }
      case 'close_uffd': {
        if (this.uffd < 0) return;
        await p.close(this.uffd);
        this.uffd = -1;
        return;
      }
    }
  }

  /** What every area ends up as. */
  async dump(): Promise<void> {
    await this.proc.readFile('/proc/self/smaps');
    for (const [start] of slotRanges()) await this.proc.pagemap(start, SLOT_PAGES);
    for (const [start, pages] of this.chosen) await this.proc.pagemap(start, Math.min(pages, CHOSEN_PAGES));
  }
}

/** A sequence's call log, and what the oracles found (none where they were not asked for). */
export interface Judged {
  readonly lines: CallLine[];
  readonly violations: Violation[];
}

/**
 * The call log of `calls` run on `target`, judged by the oracles where
 * `caps` is given. A call the target fails to answer (it throws) ends the
 * log with a "fails: ..." line; only a target that cannot start a process
 * throws.
 */
export async function judgeSequence(target: Target, calls: readonly Call[], caps?: OracleCaps): Promise<Judged> {
  const recorder = new CallRecorder(slotRanges());
  const raw = await target.spawn();
  const proc = recorder.wrap(raw, 'fuzz');
  // the oracles read through the unrecorded proc: the call log stays the one a differential run compares
  const watch = caps ? new OracleWatch(raw, caps) : undefined;
  /** the call being made: where a failure to answer happened */
  let at = 0;
  try {
    const memfd = await proc.memfdCreate('fuzz', 0);
    if (isErr(memfd)) throw new Error(`memfd_create: ${memfd.name}`);
    await proc.ftruncate(memfd, bytes(MEMFD_PAGES));
    const runner = new Runner(proc, memfd, watch);
    for (const c of calls) {
      const range = watch ? runner.rangeOf(c) : null;
      await watch?.beforeCall(c, range);
      await runner.run(c, at);
      await watch?.afterCall(c, at, range);
      at++;
    }
    await watch?.end(calls.length);
    await runner.dump();
  } catch (e) {
    // the failure is the log's last line
    watch?.violations.push({ oracle: 'answers', call: at, detail: e instanceof Error ? e.message.split('\n')[0]! : String(e) });
  } finally {
    await proc.exit().catch(() => {});
  }
  return { lines: recorder.lines, violations: watch?.violations ?? [] };
}

/** The call log of `calls` run on `target` (judgeSequence() without the oracles). */
export async function runSequence(target: Target, calls: readonly Call[]): Promise<CallLine[]> {
  return (await judgeSequence(target, calls)).lines;
}

/** The oracles' judge of sequences on one target. */
export async function oracleJudge(target: Target): Promise<Judge> {
  const caps = await target.capabilities();
  return async (calls) => (await judgeSequence(target, calls, caps)).violations;
}
