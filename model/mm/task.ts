// A process as the kernel sees it: an mm and a file-descriptor table over
// the shared tmpfs (open, close, unlink, ftruncate, memfd_create, write,
// stat), its System V attaches, and its threads' fault counts.

import * as U from '../../uapi/linux.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import { Mm } from './mm.ts';
import { exitMmap } from './mmap.ts';
import { fput, iput } from './file-table.ts';
import { type Inode, shmemSetattrSize, shmemWrite } from './shmem.ts';
import type { System } from './system.ts';
import { UffdCtx, userfaultfdRelease } from './userfaultfd.ts';

interface OpenFile {
  readonly inode: Inode;
  readonly writable: boolean;
  /** f_pos */
  pos: bigint;
}

const MFD_ALLOW_SEALING = 0x2;
const MFD_EXEC = 0x10;
/** MFD_HUGE_SHIFT: a hugetlb memfd's page size, log2, in bits 26-31 */
const MFD_HUGE_MASK = 0x3f << 26;

/** A descriptor: a tmpfs file, or a userfaultfd */
type Descriptor = OpenFile | UffdCtx;

/** The agent's working directory is "/" in the guests: a relative path resolves from there. */
const absolute = (path: string): string => (path.startsWith('/') ? path : `/${path.replace(/^\.\//, '')}`);

export class Task {
  readonly pid: number;
  readonly mm: Mm;
  private readonly fds = new Map<number, Descriptor>();

  constructor(readonly sys: System) {
    this.pid = sys.newPid();
    this.mm = new Mm(sys);
  }

  private installFd(f: Descriptor): number {
    if (!(f instanceof UffdCtx)) f.inode.openFiles++;
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, f);
    return fd;
  }

  file(fd: number): OpenFile | null {
    const f = this.fds.get(fd);
    return f && !(f instanceof UffdCtx) ? f : null;
  }

  uffd(fd: number): UffdCtx | null {
    const f = this.fds.get(fd);
    return f instanceof UffdCtx ? f : null;
  }

  // userfaultfd(2): O_CLOEXEC, O_NONBLOCK and UFFD_USER_MODE_ONLY are all it takes
  userfaultfd(flags: number): Ret<number> {
    if (flags & ~(U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY)) return new Errno('EINVAL', 'userfaultfd');
    return this.installFd(new UffdCtx(flags));
  }

  /** path_lookupat() on tmpfs: relative paths resolve from "/", /proc/self/exe to the program */
  private lookup(path: string): Inode | null {
    return path === '/proc/self/exe' ? this.sys.exe : this.sys.tmpfs.lookup(absolute(path));
  }

  // do_sys_open() on tmpfs
  open(path: string, flags: number): Ret<number> {
    let inode = this.lookup(path);
    if (!inode) {
      if (!(flags & U.O_CREAT)) return new Errno('ENOENT', 'open');
      inode = this.sys.tmpfs.create(absolute(path));
    }
    const acc = flags & 3;
    if (flags & U.O_TRUNC && acc !== U.O_RDONLY) shmemSetattrSize(this.sys, inode, 0n);
    return this.installFd({ inode, writable: acc === U.O_WRONLY || acc === U.O_RDWR, pos: 0n });
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
    return this.installFd({ inode: this.sys.tmpfs.create(`/memfd:${name}`, false, hugetlb), writable: true, pos: 0n });
  }

  /** vfs_stat(): the size of the file at path */
  stat(path: string): Ret<{ size: bigint }> {
    const inode = this.lookup(path);
    return inode ? { size: inode.size } : new Errno('ENOENT', 'stat');
  }

  // ksys_write() -> shmem_file_write_iter(): at f_pos, through the page cache; hugetlbfs has no write
  writeFd(fd: number, data: Uint8Array): Ret<number> {
    const f = this.file(fd);
    if (!f) return new Errno(this.fds.has(fd) ? 'EINVAL' : 'EBADF', 'write');
    if (!f.writable) return new Errno('EBADF', 'write');
    if (f.inode.hugetlb) return new Errno('EINVAL', 'write');
    shmemWrite(this.sys, f.inode, f.pos, data);
    f.pos += BigInt(data.length);
    return data.length;
  }

  close(fd: number): Ret<0> {
    const f = this.fds.get(fd);
    if (!f) return new Errno('EBADF', 'close');
    this.fds.delete(fd);
    if (f instanceof UffdCtx) userfaultfdRelease(this.mm, f);
    else fput(this.sys, f.inode);
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
