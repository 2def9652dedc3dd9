// Call recording: a Proc wrapper that writes down every call a test makes
// and what it returned, as a line of C-like text with addresses, file
// descriptors, frame numbers and swap slots named or masked
// (names.ts, format.ts), so two targets' logs compare line for line. The
// differential fuzzer and `compare --calls` both read targets this way.

import { isErr, type Ret } from '../../uapi/linux.ts';
import { IPC_RMID, MAP_ANONYMOUS, MAP_HUGETLB, SHM_HUGETLB } from '../../uapi/linux.ts';
import type { DirEntry, MemResult, MovePages, PmScanArg, Proc, Thread, UffdMsg, UffdioProgress } from '../target.ts';
import { Answers, unlessBehindAWait } from '../recorded-order.ts';
import * as F from './format.ts';
import { CallNames } from './names.ts';

const hex = (n: bigint | number) => `0x${n.toString(16)}`;
/** the default huge page size: 2 MiB on arm64 with 4 KiB pages, and on x86_64 */
const HPAGE = 2n << 20n;

/** The outcome of a call that raced with another thread's */
const RACED = '(raced with another thread)';

/** One call and its outcome. */
export interface CallLine {
  readonly suite: string;
  /** results the suite had reported before the call: the call belongs to the test reported next */
  readonly resultsBefore: number;
  readonly call: string;
  readonly outcome: string;
}

export class CallRecorder {
  readonly lines: CallLine[] = [];

  /** `slots`: ranges the caller places areas in itself, named S0, S1, ... */
  constructor(private readonly slots: readonly (readonly [bigint, bigint])[] = []) {}

  /** Wraps a suite's process; `resultsSoFar` says how many results the suite has reported. */
  wrap(proc: Proc, suite: string, resultsSoFar: () => number = () => 0): Proc {
    const names = new CallNames(this.slots);
    const A = (a: bigint) => names.addr(a);
    // The program's own binary (/proc/self/exe) is the agent on a real kernel and a stand-in on the
    // model: its size and its bytes are the target's, so they are named, not shown.
    const PROGRAM = '/proc/self/exe';
    const program = { size: -1n, fds: new Set<number>(), areas: [] as (readonly [bigint, bigint])[] };
    const pageUp = (n: bigint) => (n + 0xfffn) & ~0xfffn;
    const L = (n: bigint) => (program.size < 0n ? hex(n) : n === program.size ? 'st_size' : n === pageUp(program.size) ? 'st_size (pages)' : hex(n));
    const inProgram = (a: bigint) => program.areas.some(([s, e]) => a >= s && a < e);
    // Lines are written one call at a time, in the order the calls were made (harness/in-order.ts
    // sends calls together), each formatted once the calls before it have named what they returned.
    let written: Promise<unknown> = Promise.resolve();
    const answers = new Answers();
    // A call made while another thread's call is under way races with it on a real kernel: its
    // outcome depends on how the threads were scheduled, so only that it was made is compared.
    let threadCallsInFlight = 0;
    const log = <T>(result: Promise<T>, call: () => string, outcome: (r: T) => string, racing = threadCallsInFlight > 0): Promise<T> => {
      result.catch(() => {});
      const earlier = answers.add(result);
      const done = written.then(async () => {
        const resultsBefore = resultsSoFar();
        const text = call();
        try {
          const r = await result;
          this.lines.push({ suite, resultsBefore, call: text, outcome: racing ? RACED : outcome(r) });
          return r;
        } catch (e) {
          // a target that cannot answer (a model that does not model the call, an agent that died) is an outcome too
          this.lines.push({ suite, resultsBefore, call: text, outcome: `fails: ${e instanceof Error ? e.message : String(e)}` });
          throw e;
        }
      });
      written = done.catch(() => {});
      // its line is still written in its place, once the call it waited behind is done
      return unlessBehindAWait(earlier, result, done);
    };
    /** A thread's call: under way until it settles, logged under the thread's name. */
    const onThread = <T>(name: string, result: Promise<T>, call: () => string, outcome: (r: T) => string): Promise<T> => {
      const racing = threadCallsInFlight > 0;
      threadCallsInFlight++;
      const settled = result.finally(() => threadCallsInFlight--);
      return log(settled, () => `${name}: ${call()}`, outcome, racing);
    };
    const wrapThread = (name: string, th: Thread): Thread => ({
      atomicAdd: (addrs, delta) => onThread(name, th.atomicAdd(addrs, delta), () => `atomic_add([${F.addressList(addrs, A)}], ${delta})`, mem),
      // the count includes the faults a write retakes when a reset lands between its fault and its retry
      minflt: () => onThread(name, th.minflt(), () => 'getrusage(RUSAGE_THREAD)', (r) => F.errText(r) ?? 'ru_minflt'),
      tid: th.tid,
      madvise: (addr, length, advice) => onThread(name, th.madvise(addr, length, advice), () => `madvise(${A(addr)}, ${L(length)}, ${advice})`, plain),
    });
    const shmSizes = new Map<number, bigint>();
    const plain = (r: Ret<unknown>) => F.errText(r) ?? String(r);
    const fdOut = (r: Ret<number>) => F.errText(r) ?? names.openedFd(r as number);
    const mem = (r: MemResult) => F.memText(r, names);
    // the ioctl's failure, then its argument's own report: bytes done, or a negative errno
    const progress = (field: string) => (r: UffdioProgress) => `${r.error ? `${F.errText(r.error)}, ` : ''}${field} ${r.progress ?? 'unwritten'}`;
    // a tid is the target's to choose: only whether the kernel gave one compares
    const uffdMsg = (m: UffdMsg) => {
      switch (m.event) {
        case 'PAGEFAULT':
          return `PAGEFAULT ${A(m.address)}, flags ${hex(m.flags)}${m.ptid ? ', ptid set' : ''}`;
        case 'FORK':
          return `FORK ${names.openedFd(m.ufd)}`;
        case 'REMAP':
          return `REMAP ${A(m.from)} -> ${A(m.to)}, ${L(m.len)}`;
        default:
          return `${m.event} ${A(m.start)}..${names.end(m.end)}`;
      }
    };

    return {
      get pid() {
        return proc.pid;
      },
      mmap: (addr, length, prot, flags, fd, offset) =>
        log(
          proc.mmap(addr, length, prot, flags, fd, offset),
          () => `mmap(${A(addr)}, ${L(length)}, ${F.protNames(prot)}, ${F.mapFlagNames(flags)}, ${flags & MAP_ANONYMOUS ? fd : names.fd(fd)}, ${L(offset)})`,
          // a hugetlb mapping's length rounds up to the huge page size (ksys_mmap_pgoff())
          (r) => {
            if (isErr(r)) return F.errText(r)!;
            const name = names.chose(r, flags & MAP_HUGETLB ? (length + HPAGE - 1n) & -HPAGE : length, true);
            if (program.fds.has(fd) && !(flags & MAP_ANONYMOUS)) {
              program.areas.push([r, r + pageUp(length)]);
              names.nameOffset(r, program.size, 'st_size');
              names.nameOffset(r, pageUp(program.size), 'st_size (pages)');
            }
            return name;
          },
        ),
      munmap: (addr, length) =>
        log(proc.munmap(addr, length), () => `munmap(${A(addr)}, ${L(length)})`, (r) => {
          if (!isErr(r)) program.areas = program.areas.filter(([s, e]) => e <= addr || s >= addr + length);
          return plain(r);
        }),
      mprotect: (addr, length, prot) => log(proc.mprotect(addr, length, prot), () => `mprotect(${A(addr)}, ${L(length)}, ${F.protNames(prot)})`, plain),
      mremap: (oldAddr, oldSize, newSize, flags, newAddr) =>
        log(
          proc.mremap(oldAddr, oldSize, newSize, flags, newAddr),
          () => `mremap(${A(oldAddr)}, ${L(oldSize)}, ${L(newSize)}, ${F.mremapFlagNames(flags)}${newAddr === undefined ? '' : `, ${A(newAddr)}`})`,
          (r) => F.errText(r) ?? names.chose(r as bigint, newSize, r !== oldAddr),
        ),
      madvise: (addr, length, advice) => log(proc.madvise(addr, length, advice), () => `madvise(${A(addr)}, ${L(length)}, ${F.adviceName(advice)})`, plain),
      open: (path, flags, mode) =>
        log(proc.open(path, flags, mode), () => `open("${path}", ${hex(flags)})`, (r) => {
          if (path === PROGRAM && !isErr(r)) program.fds.add(r);
          return fdOut(r);
        }),
      close: (fd) =>
        log(
          proc.close(fd),
          () => `close(${names.fd(fd)})`,
          (r) => {
            if (!isErr(r)) {
              names.closedFd(fd);
              program.fds.delete(fd);
            }
            return plain(r);
          },
        ),
      unlink: (path) => log(proc.unlink(path), () => `unlink("${path}")`, plain),
      swapoff: (path) => log(proc.swapoff(path), () => `swapoff("${path}")`, plain),
      swapon: (path, flags) => log(proc.swapon(path, flags), () => `swapon("${path}", ${hex(flags)})`, plain),
      ftruncate: (fd, length) => log(proc.ftruncate(fd, length), () => `ftruncate(${names.fd(fd)}, ${L(length)})`, plain),
      memfdCreate: (name, flags) => log(proc.memfdCreate(name, flags), () => `memfd_create("${name}", ${hex(flags)})`, fdOut),
      writeFd: (fd, data) => log(proc.writeFd(fd, data), () => `write(${names.fd(fd)}, [${F.runs([...data].map((b) => hex(b)))}])`, plain),
      // the program's own binary is the agent's, or the model's stand-in for it
      stat: (path) =>
        log(proc.stat(path), () => `stat("${path}")`, (r) => {
          if (isErr(r)) return F.errText(r)!;
          if (path !== PROGRAM) return `st_size ${hex(r.size)}`;
          program.size = r.size;
          return 'the program';
        }),
      listDir: (path) =>
        log(proc.listDir(path), () => `readdir("${path}")`, (r) => F.errText(r) ?? (r as readonly DirEntry[]).map((e) => (e.type === 'dir' ? `${e.name}/` : e.name)).join(' ')),
      shmget: (key, size, shmflg) =>
        log(
          proc.shmget(key, size, shmflg),
          () => `shmget(${hex(key)}, ${L(size)}, ${F.shmFlagNames(shmflg)})`,
          (r) => {
            if (isErr(r)) return F.errText(r)!;
            shmSizes.set(r, shmflg & SHM_HUGETLB ? (size + HPAGE - 1n) & -HPAGE : size);
            return names.shmid(r);
          },
        ),
      shmat: (shmid, addr, shmflg) =>
        log(
          proc.shmat(shmid, addr, shmflg),
          () => `shmat(${names.shmid(shmid)}, ${A(addr)}, ${hex(shmflg)})`,
          (r) => F.errText(r) ?? names.chose(r as bigint, shmSizes.get(shmid) ?? 0n, true),
        ),
      shmdt: (addr) => log(proc.shmdt(addr), () => `shmdt(${A(addr)})`, plain),
      shmctl: (shmid, cmd) => log(proc.shmctl(shmid, cmd), () => `shmctl(${names.shmid(shmid)}, ${cmd === IPC_RMID ? 'IPC_RMID' : cmd})`, plain),
      threadCreate: async () => {
        const th = await log(proc.threadCreate(), () => 'pthread_create()', (r) => F.errText(r) ?? 'ok');
        return isErr(th) ? th : wrapThread(names.thread(), th);
      },
      alignedAlloc: (alignment, size) =>
        log(proc.alignedAlloc(alignment, size), () => `aligned_alloc(${L(alignment)}, ${L(size)})`, (r) => F.errText(r) ?? names.chose(r as bigint, size, true)),
      free: (addr) => log(proc.free(addr), () => `free(${A(addr)})`, () => ''),
      read: (addr, length) =>
        log(
          proc.read(addr, length),
          () => `load(${A(addr)}, ${inProgram(addr) ? L(BigInt(length)) : length})`,
          (r) => (r.ok && inProgram(addr) ? 'ok (the program\'s bytes)' : mem(r)),
        ),
      write: (addr, data) => log(proc.write(addr, data), () => `store(${A(addr)}, [${F.runs([...data].map((b) => hex(b)))}])`, mem),
      fill: (addr, length, byte) => log(proc.fill(addr, length, byte), () => `memset(${A(addr)}, ${hex(byte)}, ${L(length)})`, mem),
      increment: (addrs) => log(proc.increment(addrs), () => `increment([${F.addressList(addrs, A)}])`, mem),
      readFile: (path) =>
        log(
          proc.readFile(path),
          () => `read("${path}")`,
          (r) => F.errText(r) ?? (/\/smaps$/.test(path) ? F.smapsText(r as string, names) : path === '/proc/meminfo' ? F.meminfoText(r as string) : (r as string).trim()),
        ),
      writeFile: (path, data) => log(proc.writeFile(path, data), () => `write("${path}", ${JSON.stringify(data)})`, plain),
      pagemap: (addr, nPages) =>
        log(
          proc.pagemap(addr, nPages),
          () => `pagemap(${A(addr)}, ${nPages})`,
          (r) => F.errText(r) ?? F.runs([...(r as BigUint64Array)].map(F.pagemapEntry)),
        ),
      pagemapScan: (arg: PmScanArg) => log(proc.pagemapScan(arg), () => F.scanArgText(arg, names), (r) => F.scanResultText(r, names)),
      userfaultfd: (flags) => log(proc.userfaultfd(flags), () => `userfaultfd(${hex(flags)})`, fdOut),
      uffdioApi: (fd, api, features) =>
        log(
          proc.uffdioApi(fd, api, features),
          () => `UFFDIO_API(${names.fd(fd)}, ${hex(api)}, ${F.uffdFeatureNames(features)})`,
          // the features a kernel offers grow with its version: what a test asked for is what compares
          (r) => F.errText(r) ?? `features ${F.uffdFeatureNames((r as { features: bigint }).features & features)}, ioctls ${hex((r as { ioctls: bigint }).ioctls)}`,
        ),
      uffdioRegister: (fd, start, len, mode) =>
        log(
          proc.uffdioRegister(fd, start, len, mode),
          () => `UFFDIO_REGISTER(${names.fd(fd)}, ${A(start)}, ${L(len)}, ${hex(mode)})`,
          (r) => F.errText(r) ?? `ioctls ${hex((r as { ioctls: bigint }).ioctls)}`,
        ),
      uffdioWriteprotect: (fd, start, len, mode) =>
        log(proc.uffdioWriteprotect(fd, start, len, mode), () => `UFFDIO_WRITEPROTECT(${names.fd(fd)}, ${A(start)}, ${L(len)}, ${hex(mode)})`, plain),
      uffdioUnregister: (fd, start, len) =>
        log(proc.uffdioUnregister(fd, start, len), () => `UFFDIO_UNREGISTER(${names.fd(fd)}, ${A(start)}, ${L(len)})`, plain),
      uffdioCopy: (fd, dst, src, len, mode) =>
        log(proc.uffdioCopy(fd, dst, src, len, mode), () => `UFFDIO_COPY(${names.fd(fd)}, ${A(dst)}, ${A(src)}, ${L(len)}, ${hex(mode)})`, progress('copy')),
      uffdioZeropage: (fd, start, len, mode) =>
        log(proc.uffdioZeropage(fd, start, len, mode), () => `UFFDIO_ZEROPAGE(${names.fd(fd)}, ${A(start)}, ${L(len)}, ${hex(mode)})`, progress('zeropage')),
      uffdioWake: (fd, start, len) => log(proc.uffdioWake(fd, start, len), () => `UFFDIO_WAKE(${names.fd(fd)}, ${A(start)}, ${L(len)})`, plain),
      uffdRead: (fd) => log(proc.uffdRead(fd), () => `read(${names.fd(fd)}, struct uffd_msg)`, (r) => F.errText(r) ?? uffdMsg(r as UffdMsg)),
      // the child's calls are written down too, under names of their own
      fork: async () => {
        const child = await log(proc.fork(), () => 'fork()', (r) => F.errText(r) ?? 'child');
        return isErr(child) ? child : this.wrap(child, suite, resultsSoFar);
      },
      movePages: (addrs, nodes, flags) =>
        log(
          proc.movePages(addrs, nodes, flags),
          () => `move_pages(0, ${addrs.length}, [${F.addressList(addrs, A)}], ${nodes === null ? 'NULL' : `[${nodes.join(', ')}]`}, ${F.mpolFlagNames(flags)})`,
          (r) => F.errText(r) ?? `${(r as MovePages).ret}, status [${(r as MovePages).status.join(', ')}]`,
        ),
      pipe2: (flags) => log(proc.pipe2(flags), () => `pipe2(${hex(flags)})`, (r) => F.errText(r) ?? (r as readonly number[]).map((fd) => names.openedFd(fd)).join(', ')),
      readFd: (fd, count) => log(proc.readFd(fd, count), () => `read(${names.fd(fd)}, ${count})`, (r) => F.errText(r) ?? `${(r as Uint8Array).length} bytes`),
      poll: (fds, timeoutMs) =>
        log(proc.poll(fds, timeoutMs), () => `poll([${fds.map((p) => `${names.fd(p.fd)} ${hex(p.events)}`).join(', ')}], ${timeoutMs})`, (r) => F.errText(r) ?? (r as readonly number[]).map(hex).join(', ')),
      fcntl: (fd, cmd, arg) => log(proc.fcntl(fd, cmd, arg), () => `fcntl(${names.fd(fd)}, ${cmd}, ${hex(arg)})`, (r) => F.errText(r) ?? hex(r as number)),
      fallocate: (fd, mode, offset, len) => log(proc.fallocate(fd, mode, offset, len), () => `fallocate(${names.fd(fd)}, ${hex(mode)}, ${L(offset)}, ${L(len)})`, plain),
      userfaultfdIocNew: (fd, flags) => log(proc.userfaultfdIocNew(fd, flags), () => `ioctl(${names.fd(fd)}, USERFAULTFD_IOC_NEW, ${hex(flags)})`, fdOut),
      uffdioContinue: (fd, start, len, mode) =>
        log(proc.uffdioContinue(fd, start, len, mode), () => `UFFDIO_CONTINUE(${names.fd(fd)}, ${A(start)}, ${L(len)}, ${hex(mode)})`, progress('mapped')),
      uffdioMove: (fd, dst, src, len, mode) =>
        log(proc.uffdioMove(fd, dst, src, len, mode), () => `UFFDIO_MOVE(${names.fd(fd)}, ${A(dst)}, ${A(src)}, ${L(len)}, ${hex(mode)})`, progress('move')),
      uffdioPoison: (fd, start, len, mode) =>
        log(proc.uffdioPoison(fd, start, len, mode), () => `UFFDIO_POISON(${names.fd(fd)}, ${A(start)}, ${L(len)}, ${hex(mode)})`, progress('updated')),
      ...(proc.descriptors ? { descriptors: proc.descriptors.bind(proc) } : {}),
      ...(proc.descriptorsOf ? { descriptorsOf: proc.descriptorsOf.bind(proc) } : {}),
      exit: () => proc.exit(),
    };
  }
}
