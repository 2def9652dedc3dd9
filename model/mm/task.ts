// A process as the kernel sees it: an mm and a file-descriptor table over
// the shared tmpfs (open, close, unlink, ftruncate, memfd_create).

import * as U from '../../uapi/linux.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import { Mm } from './mm.ts';
import { exitMmap } from './mmap.ts';
import { type Inode, shmemSetattrSize } from './shmem.ts';
import type { System } from './system.ts';
import { UffdCtx, userfaultfdRelease } from './userfaultfd.ts';

interface OpenFile {
  readonly inode: Inode;
  readonly writable: boolean;
}

/** A descriptor: a tmpfs file, or a userfaultfd */
type Descriptor = OpenFile | UffdCtx;

export class Task {
  readonly pid: number;
  readonly mm: Mm;
  private readonly fds = new Map<number, Descriptor>();

  constructor(readonly sys: System) {
    this.pid = sys.newPid();
    this.mm = new Mm(sys);
  }

  private installFd(f: Descriptor): number {
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
    return this.installFd(new UffdCtx());
  }

  // do_sys_open() on tmpfs; relative paths resolve from "/"
  open(path: string, flags: number): Ret<number> {
    const abs = path.startsWith('/') ? path : `/${path.replace(/^\.\//, '')}`;
    let inode = this.sys.tmpfs.lookup(abs);
    if (!inode) {
      if (!(flags & U.O_CREAT)) return new Errno('ENOENT', 'open');
      inode = this.sys.tmpfs.create(abs);
    }
    const acc = flags & 3;
    if (flags & U.O_TRUNC && acc !== U.O_RDONLY) shmemSetattrSize(this.sys, inode, 0n);
    return this.installFd({ inode, writable: acc === U.O_WRONLY || acc === U.O_RDWR });
  }

  // memfd_create(): an unlinked tmpfs file, named /memfd:NAME in /proc
  memfdCreate(name: string): Ret<number> {
    return this.installFd({ inode: this.sys.tmpfs.create(`/memfd:${name}`, false), writable: true });
  }

  close(fd: number): Ret<0> {
    const f = this.fds.get(fd);
    if (!f) return new Errno('EBADF', 'close');
    this.fds.delete(fd);
    if (f instanceof UffdCtx) userfaultfdRelease(this.mm, f);
    return 0;
  }

  unlink(path: string): Ret<0> {
    const abs = path.startsWith('/') ? path : `/${path.replace(/^\.\//, '')}`;
    return this.sys.tmpfs.unlink(abs) ? 0 : new Errno('ENOENT', 'unlink');
  }

  ftruncate(fd: number, length: bigint): Ret<0> {
    const f = this.file(fd);
    if (!f) return new Errno(this.fds.has(fd) ? 'EINVAL' : 'EBADF', 'ftruncate');
    if (!f.writable || length < 0n) return new Errno('EINVAL', 'ftruncate');
    shmemSetattrSize(this.sys, f.inode, length);
    return 0;
  }

  exit(): void {
    exitMmap(this.mm);
    this.fds.clear();
  }
}
