// A process as the kernel sees it: an mm and a file-descriptor table over
// the shared tmpfs (open, close, unlink, ftruncate, memfd_create, write,
// stat), its System V attaches, and its threads' fault counts.

import * as U from '../../uapi/linux.ts';
import { Errno, isErr, type Ret } from '../../uapi/linux.ts';
import { Mm } from './mm.ts';
import { exitMmap } from './mmap.ts';
import { fput, iput } from './file-table.ts';
import { type Inode, shmemSetattrSize, shmemWrite } from './shmem.ts';
import type { System } from './system.ts';
import { vfsFallocate } from './falloc.ts';
import { dupMmap } from './fork.ts';
import { UffdCtx, type UffdEvent, userfaultfdPoll, userfaultfdRead, userfaultfdRelease, type UffdFaultMsg, type UffdEventMsg } from './userfaultfd.ts';

/** struct file of a tmpfs or hugetlbfs inode */
interface OpenFile {
  readonly kind: 'file';
  readonly inode: Inode;
  readonly writable: boolean;
  /** f_pos */
  pos: bigint;
}

/** struct pipe_inode_info: the bytes written and not yet read, and how many ends are open */
class Pipe {
  data: number[] = [];
  readers = 1;
  writers = 1;
}

/** PIPE_DEF_BUFFERS pages: what a pipe holds before a write must wait */
const PIPE_BUF_SIZE = 16 * 4096;

interface PipeEnd {
  readonly kind: 'pipe';
  readonly pipe: Pipe;
  readonly write: boolean;
}

interface UffdFile {
  readonly kind: 'uffd';
  readonly ctx: UffdCtx;
}

/** /dev/userfaultfd, open: USERFAULTFD_IOC_NEW makes userfaultfds */
interface DevUserfaultfd {
  readonly kind: 'dev-userfaultfd';
}

/** An open file: what it is, f_count (fork() shares it), and f_flags (the access mode, O_NONBLOCK) */
type File = (OpenFile | PipeEnd | UffdFile | DevUserfaultfd) & { count: number; flags: number };

/** A slot of the descriptor table: the file, and close-on-exec */
interface Fd {
  readonly file: File;
  cloexec: boolean;
}

/** fcntl(F_SETFL) changes only these (SETFL_MASK, of the flags modelled) */
const SETFL_MASK = U.O_NONBLOCK;
/** DEFAULT_POLLMASK: what a file without a poll method always says */
const DEFAULT_POLLMASK = 0x145;
const POLLOUT = 0x4;
/** USERFAULTFD_IOC_NEW takes userfaultfd(2)'s flags */
const UFFD_SHARED_FCNTL_FLAGS = U.O_CLOEXEC | U.O_NONBLOCK;

/** A thread's state as /proc/TID/status names it: 'R' running, 'S' sleeping, 'D' uninterruptible (an event wait) */
export type ThreadState = 'R' | 'S' | 'D';

const MFD_ALLOW_SEALING = 0x2;
const MFD_EXEC = 0x10;
/** MFD_HUGE_SHIFT: a hugetlb memfd's page size, log2, in bits 26-31 */
const MFD_HUGE_MASK = 0x3f << 26;

/** A message as read(2) gives it: a FORK's context became the descriptor ufd */
export type UffdReadMsg = UffdFaultMsg | Exclude<UffdEventMsg, { event: 'FORK' }> | { readonly event: 'FORK'; readonly ufd: number };

// pipe_write(): what fits; EAGAIN when nothing does (a full pipe would make a blocking write wait, which is not modelled)
function pipeWrite(p: PipeEnd & { flags: number }, data: Uint8Array): Ret<number> {
  if (!p.write) return new Errno('EBADF', 'write');
  if (p.pipe.readers === 0) return new Errno('EPIPE', 'write');
  const room = PIPE_BUF_SIZE - p.pipe.data.length;
  if (room === 0) {
    if (p.flags & U.O_NONBLOCK) return new Errno('EAGAIN', 'write');
    throw new Error('write: a write to a full pipe waits, which is not modelled');
  }
  const n = Math.min(room, data.length);
  for (let i = 0; i < n; i++) p.pipe.data.push(data[i]!);
  return n;
}

/** The agent's working directory is "/" in the guests: a relative path resolves from there. */
const absolute = (path: string): string => (path.startsWith('/') ? path : `/${path.replace(/^\.\//, '')}`);

export class Task {
  readonly pid: number;
  readonly mm: Mm;
  private readonly fds = new Map<number, Fd>();
  /** the threads besides the main one, by tid, and what each is doing */
  readonly threads = new Map<number, ThreadState>();

  /** A new process, or (`parent`) the one fork() makes of it, whose mm dupMmap() fills. */
  constructor(
    readonly sys: System,
    parent?: Task,
  ) {
    this.pid = sys.newPid();
    this.mm = new Mm(sys, parent === undefined);
    this.mm.currentTid = this.pid;
    // copy_files(): the same open files, one more reference each
    for (const [fd, slot] of parent?.fds ?? []) {
      slot.file.count++;
      this.fds.set(fd, { ...slot });
    }
  }

  /**
   * copy_process() -> dup_mmap(): the child, and the FORK events the
   * parent's userfaultfds must have read before fork() returns.
   */
  fork(): { child: Task; events: UffdEvent[] } {
    const child = new Task(this.sys, this);
    return { child, events: dupMmap(child.mm, this.mm) };
  }

  /** pthread_create(): a new tid in this process */
  newThread(): number {
    const tid = this.sys.newPid();
    this.threads.set(tid, 'S');
    return tid;
  }

  // fd_install() in the lowest free slot
  private installFd(f: OpenFile | PipeEnd | UffdFile | DevUserfaultfd, flags: number, cloexec: boolean): number {
    if (f.kind === 'file') f.inode.openFiles++;
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, { file: { ...f, count: 1, flags }, cloexec });
    return fd;
  }

  file(fd: number): OpenFile | null {
    const f = this.fds.get(fd)?.file;
    return f?.kind === 'file' ? f : null;
  }

  uffd(fd: number): UffdCtx | null {
    const f = this.fds.get(fd)?.file;
    return f?.kind === 'uffd' ? f.ctx : null;
  }

  /** the descriptor's f_flags have O_NONBLOCK (a read or poll that must not wait) */
  nonblocking(fd: number): boolean {
    return ((this.fds.get(fd)?.file.flags ?? 0) & U.O_NONBLOCK) !== 0;
  }

  /** the errno of an ioctl() or read() on fd that is not what it needs: EBADF for no descriptor at all */
  notA(fd: number, call: string): Errno {
    return new Errno(this.fds.has(fd) ? 'EINVAL' : 'EBADF', call);
  }

  // new_userfaultfd(): an anon inode file, O_RDWR, with userfaultfd(2)'s O_NONBLOCK and O_CLOEXEC
  private newUserfaultfd(flags: number, call: string): Ret<number> {
    if (flags & ~(UFFD_SHARED_FCNTL_FLAGS | U.UFFD_USER_MODE_ONLY)) return new Errno('EINVAL', call);
    return this.installFd({ kind: 'uffd', ctx: new UffdCtx(this.mm, flags) }, U.O_RDWR | (flags & U.O_NONBLOCK), (flags & U.O_CLOEXEC) !== 0);
  }

  // userfaultfd(2)
  userfaultfd(flags: number): Ret<number> {
    return this.newUserfaultfd(flags, 'userfaultfd');
  }

  // userfaultfd_dev_ioctl(USERFAULTFD_IOC_NEW)
  userfaultfdIocNew(fd: number, flags: number): Ret<number> {
    const f = this.fds.get(fd)?.file;
    if (f?.kind !== 'dev-userfaultfd') return f ? new Errno('ENOTTY', 'ioctl') : new Errno('EBADF', 'ioctl');
    return this.newUserfaultfd(flags, 'ioctl');
  }

  /** userfaultfd_read_iter(): the message, a FORK's new context installed as a descriptor here (resolve_userfault_fork()) */
  uffdRead(fd: number): Ret<UffdReadMsg> | null {
    const ctx = this.uffd(fd);
    if (!ctx) return this.notA(fd, 'read');
    const msg = userfaultfdRead(ctx);
    if (msg === null || isErr(msg) || msg.event !== 'FORK') return msg;
    const ufd = this.installFd({ kind: 'uffd', ctx: msg.ctx }, U.O_RDONLY | (msg.ctx.flags & U.O_NONBLOCK), (msg.ctx.flags & U.O_CLOEXEC) !== 0);
    return { event: 'FORK', ufd };
  }

  // do_pipe2(): the read end, then the write end
  pipe2(flags: number): Ret<readonly [number, number]> {
    if (flags & ~(U.O_CLOEXEC | U.O_NONBLOCK)) return new Errno('EINVAL', 'pipe2');
    const pipe = new Pipe();
    const cloexec = (flags & U.O_CLOEXEC) !== 0;
    const r = this.installFd({ kind: 'pipe', pipe, write: false }, U.O_RDONLY | (flags & U.O_NONBLOCK), cloexec);
    const w = this.installFd({ kind: 'pipe', pipe, write: true }, U.O_WRONLY | (flags & U.O_NONBLOCK), cloexec);
    return [r, w];
  }

  /** ksys_read() of a pipe: the bytes, EOF once no writer is left, or null when it would wait */
  readFd(fd: number, count: number): Ret<Uint8Array> | null {
    const f = this.fds.get(fd)?.file;
    if (!f) return new Errno('EBADF', 'read');
    if (f.kind === 'uffd') throw new Error('readFd: a userfaultfd is read with uffdRead()');
    if (f.kind !== 'pipe') throw new Error('readFd: only pipes are modelled');
    if (f.write) return new Errno('EBADF', 'read');
    if (f.pipe.data.length === 0) {
      if (f.pipe.writers === 0) return new Uint8Array(0);
      return f.flags & U.O_NONBLOCK ? new Errno('EAGAIN', 'read') : null;
    }
    return Uint8Array.from(f.pipe.data.splice(0, count));
  }

  /** poll(2) of one descriptor: its revents for `events` (POLLERR, POLLHUP and POLLNVAL always) */
  pollFd(fd: number, events: number): number {
    const f = this.fds.get(fd)?.file;
    if (!f) return U.POLLNVAL;
    let mask: number;
    if (f.kind === 'uffd') mask = userfaultfdPoll(f.ctx, (f.flags & U.O_NONBLOCK) !== 0);
    else if (f.kind === 'pipe' && !f.write) mask = (f.pipe.data.length > 0 ? U.POLLIN : 0) | (f.pipe.writers === 0 ? U.POLLHUP : 0);
    else if (f.kind === 'pipe') mask = (f.pipe.data.length < PIPE_BUF_SIZE ? POLLOUT : 0) | (f.pipe.readers === 0 ? U.POLLERR : 0);
    else mask = DEFAULT_POLLMASK;
    return mask & (events | U.POLLERR | U.POLLHUP);
  }

  // do_fcntl() with an int argument
  fcntl(fd: number, cmd: number, arg: number): Ret<number> {
    const slot = this.fds.get(fd);
    if (!slot) return new Errno('EBADF', 'fcntl');
    switch (cmd) {
      case U.F_GETFD:
        return slot.cloexec ? U.FD_CLOEXEC : 0;
      case U.F_SETFD:
        slot.cloexec = (arg & U.FD_CLOEXEC) !== 0;
        return 0;
      case U.F_GETFL:
        return slot.file.flags;
      case U.F_SETFL:
        slot.file.flags = (slot.file.flags & ~SETFL_MASK) | (arg & SETFL_MASK);
        return 0;
      default:
        throw new Error(`fcntl: command ${cmd} is not modelled`);
    }
  }

  // vfs_fallocate()
  fallocate(fd: number, mode: number, offset: bigint, len: bigint): Ret<0> {
    const f = this.fds.get(fd)?.file;
    if (!f) return new Errno('EBADF', 'fallocate');
    if (f.kind === 'pipe') return new Errno('ESPIPE', 'fallocate');
    if (f.kind !== 'file') return new Errno('ENODEV', 'fallocate');
    return vfsFallocate(this.sys, f.inode, f.writable, mode, offset, len);
  }

  /** path_lookupat() on tmpfs: relative paths resolve from "/", /proc/self/exe to the program */
  private lookup(path: string): Inode | null {
    return path === '/proc/self/exe' ? this.sys.exe : this.sys.tmpfs.lookup(absolute(path));
  }

  // do_sys_open() on tmpfs, and /dev/userfaultfd
  open(path: string, flags: number): Ret<number> {
    const cloexec = (flags & U.O_CLOEXEC) !== 0;
    if (path === '/dev/userfaultfd') return this.installFd({ kind: 'dev-userfaultfd' }, flags & (3 | U.O_NONBLOCK), cloexec);
    let inode = this.lookup(path);
    if (!inode) {
      if (!(flags & U.O_CREAT)) return new Errno('ENOENT', 'open');
      inode = this.sys.tmpfs.create(absolute(path));
    }
    const acc = flags & 3;
    if (flags & U.O_TRUNC && acc !== U.O_RDONLY) shmemSetattrSize(this.sys, inode, 0n);
    return this.installFd({ kind: 'file', inode, writable: acc === U.O_WRONLY || acc === U.O_RDWR, pos: 0n }, flags & (3 | U.O_NONBLOCK), cloexec);
  }

  // memfd_create(): an unlinked tmpfs (or, MFD_HUGETLB, hugetlbfs) file, named /memfd:NAME in /proc
  memfdCreate(name: string, flags: number): Ret<number> {
    const hugetlb = (flags & U.MFD_HUGETLB) !== 0;
    const known = U.MFD_CLOEXEC | MFD_ALLOW_SEALING | U.MFD_HUGETLB | U.MFD_NOEXEC_SEAL | MFD_EXEC;
    if (flags & ~known && !(hugetlb && !(flags & ~(known | MFD_HUGE_MASK)))) return new Errno('EINVAL', 'memfd_create');
    // only the default huge page size (2 MiB: shift 21) is modelled
    const shift = (flags & MFD_HUGE_MASK) >>> 26;
    if (hugetlb && shift !== 0 && shift !== 21) throw new Error(`memfd_create: huge page size 2^${shift} is not modelled`);
    if (flags & U.MFD_NOEXEC_SEAL && flags & MFD_EXEC) return new Errno('EINVAL', 'memfd_create');
    return this.installFd({ kind: 'file', inode: this.sys.tmpfs.create(`/memfd:${name}`, false, hugetlb), writable: true, pos: 0n }, U.O_RDWR, (flags & U.MFD_CLOEXEC) !== 0);
  }

  /** vfs_stat(): the size of the file at path */
  stat(path: string): Ret<{ size: bigint }> {
    const inode = this.lookup(path);
    return inode ? { size: inode.size } : new Errno('ENOENT', 'stat');
  }

  // ksys_write() -> shmem_file_write_iter(): at f_pos, through the page cache; hugetlbfs has no write
  writeFd(fd: number, data: Uint8Array): Ret<number> {
    const p = this.fds.get(fd)?.file;
    if (p?.kind === 'pipe') return pipeWrite(p, data);
    const f = this.file(fd);
    if (!f) return new Errno(this.fds.has(fd) ? 'EINVAL' : 'EBADF', 'write');
    if (!f.writable) return new Errno('EBADF', 'write');
    if (f.inode.hugetlb) return new Errno('EINVAL', 'write');
    shmemWrite(this.sys, f.inode, f.pos, data);
    f.pos += BigInt(data.length);
    return data.length;
  }

  close(fd: number): Ret<0> {
    const slot = this.fds.get(fd);
    if (!slot) return new Errno('EBADF', 'close');
    this.fds.delete(fd);
    const f = slot.file;
    // fput(): the file's last reference releases it
    if (--f.count > 0) return 0;
    if (f.kind === 'uffd') userfaultfdRelease(f.ctx);
    else if (f.kind === 'file') fput(this.sys, f.inode);
    else if (f.kind === 'pipe' && f.write) f.pipe.writers--;
    else if (f.kind === 'pipe') f.pipe.readers--;
    return 0;
  }

  unlink(path: string): Ret<0> {
    const inode = this.sys.tmpfs.lookup(absolute(path));
    if (!inode || !this.sys.tmpfs.unlink(absolute(path))) return new Errno('ENOENT', 'unlink');
    iput(this.sys, inode);
    return 0;
  }

  ftruncate(fd: number, length: bigint): Ret<0> {
    const f = this.file(fd);
    if (!f) return new Errno(this.fds.has(fd) ? 'EINVAL' : 'EBADF', 'ftruncate');
    if (!f.writable || length < 0n) return new Errno('EINVAL', 'ftruncate');
    shmemSetattrSize(this.sys, f.inode, length);
    return 0;
  }

  /** do_exit(): exit_mmap(), then exit_files() */
  exit(): void {
    exitMmap(this.mm);
    for (const fd of [...this.fds.keys()]) this.close(fd);
  }
}
