// System V shared memory (ipc/shm.c): segments in the system's IPC
// namespace, each a file on tmpfs or, with SHM_HUGETLB, on hugetlbfs,
// attached with a shared mapping of that file. A segment lives until
// IPC_RMID; one removed while attached lives on, keyless, until its last
// mapping goes.

import * as U from '../../uapi/linux.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import { fput } from '../mm/file-table.ts';
import { HPAGE_SIZE, hugeAlign, hugetlbReserve } from '../mm/hugetlb.ts';
import type { Mm } from '../mm/mm.ts';
import { doMmap } from '../mm/mmap.ts';
import type { Inode } from '../mm/shmem.ts';
import type { System } from '../mm/system.ts';
import { doMunmap } from '../mm/vma-ops.ts';
import * as V from '../mm/vma.ts';

const IPC_PRIVATE = 0;
const IPC_EXCL = 0o2000;
const SHM_RDONLY = 0o10000;
const SHM_RND = 0o20000;
const SHM_NORESERVE = 0o10000;
/** IPCMNI_SHIFT: an id is seq << 15 | idx */
const IPCMNI_SHIFT = 15n;
const IPCMNI = 32768;
/** shm_ctlmax, shm_ctlall: ULONG_MAX - 2^24 by default */
const SHMMAX = (1n << 64n) - 1n - (1n << 24n);

interface ShmSegment {
  readonly id: number;
  key: number;
  readonly size: bigint;
  readonly file: Inode;
  /** SHM_DEST: removed while attached */
  dest: boolean;
}

/** The system's IPC namespace, its shm half (struct ipc_ids). */
export class IpcNamespace {
  private readonly segs = new Map<number, ShmSegment>();
  private seq = 0n;
  private lastIdx = -1;

  constructor(private readonly sys: System) {}

  // ksys_shmget() -> ipcget(): find the key, or make a segment
  shmget(key: number, size: bigint, shmflg: number): Ret<number> {
    if (key !== IPC_PRIVATE) {
      const seg = [...this.segs.values()].find((s) => s.key === key);
      if (seg) {
        if ((shmflg & (U.IPC_CREAT | IPC_EXCL)) === (U.IPC_CREAT | IPC_EXCL)) return new Errno('EEXIST', 'shmget');
        // shm_more_checks()
        if (seg.size < size) return new Errno('EINVAL', 'shmget');
        return seg.id;
      }
      if (!(shmflg & U.IPC_CREAT)) return new Errno('ENOENT', 'shmget');
    }
    return this.newseg(key, size, shmflg);
  }

  // newseg()
  private newseg(key: number, size: bigint, shmflg: number): Ret<number> {
    if (size < 1n || size > SHMMAX) return new Errno('EINVAL', 'shmget');
    const name = `/SYSV${(key >>> 0).toString(16).padStart(8, '0')}`;
    let file: Inode;
    if (shmflg & U.SHM_HUGETLB) {
      // hugetlb_file_setup(): the whole segment's huge pages are reserved now
      const hugesize = hugeAlign(size);
      file = this.sys.tmpfs.create(name, false, true);
      file.size = hugesize;
      const flags = shmflg & SHM_NORESERVE ? V.VM_NORESERVE | V.VM_MAYSHARE : V.VM_MAYSHARE;
      if (hugetlbReserve(this.sys.hugetlb, file, 0n, hugesize / HPAGE_SIZE, flags) === false) return new Errno('ENOMEM', 'shmget');
    } else {
      file = this.sys.tmpfs.create(name, false); // shmem_kernel_file_setup()
      file.size = size;
    }
    file.openFiles++;
    // ipc_idr_alloc(): the lowest free index; the sequence moves on when an index is reused
    let idx = 0;
    while ([...this.segs.values()].some((s) => Number(BigInt(s.id) & BigInt(IPCMNI - 1)) === idx)) idx++;
    if (idx >= IPCMNI) return new Errno('ENOSPC', 'shmget');
    if (idx <= this.lastIdx) this.seq++;
    this.lastIdx = idx;
    const id = Number((this.seq << IPCMNI_SHIFT) | BigInt(idx));
    this.segs.set(id, { id, key, size, file, dest: false });
    return id;
  }

  /** shm_obtain_object_check() */
  segment(id: number): ShmSegment | null {
    return this.segs.get(id) ?? null;
  }

  // shmctl(IPC_RMID) -> do_shm_rmid(): destroyed now, or once detached
  rmid(id: number): Ret<0> {
    const seg = this.segs.get(id);
    if (!seg) return new Errno('EINVAL', 'shmctl');
    seg.dest = true;
    seg.key = IPC_PRIVATE;
    if (!this.attached(seg)) this.destroy(seg);
    return 0;
  }

  /** The segment whose file this is (a shm_file_data's), if any. */
  segmentOf(file: Inode): ShmSegment | null {
    return [...this.segs.values()].find((s) => s.file === file) ?? null;
  }

  /** shm_close(): a mapping of file went; the last one of a removed segment destroys it */
  shmClose(file: Inode): void {
    const seg = this.segmentOf(file);
    if (seg?.dest && !this.attached(seg)) this.destroy(seg);
  }

  /** shm_nattch: the areas mapping the segment, in every process */
  private attached(seg: ShmSegment): boolean {
    for (const mm of this.sys.mms) if (mm.vmas.all().some((v) => v.file === seg.file)) return true;
    return false;
  }

  // shm_destroy(): the segment's file reference goes
  private destroy(seg: ShmSegment): void {
    this.segs.delete(seg.id);
    fput(this.sys, seg.file);
  }
}

// do_shmat(): a shared mapping of the segment's whole file
export function doShmat(mm: Mm, shmid: number, addr: bigint, shmflg: number): Ret<bigint> {
  const seg = mm.sys.ipc.segment(shmid);
  if (!seg) return new Errno('EINVAL', 'shmat');
  if (shmflg & ~(SHM_RDONLY | SHM_RND) || addr !== 0n) throw new Error('shmat: only an address the kernel picks is modelled');
  const prot = shmflg & SHM_RDONLY ? U.PROT_READ : U.PROT_READ | U.PROT_WRITE;
  const r = doMmap(mm, 0n, seg.file.size, prot, U.MAP_SHARED, { inode: seg.file, writable: !(shmflg & SHM_RDONLY) }, 0n);
  return r instanceof Errno ? new Errno(r.name, 'shmat') : r;
}

// ksys_shmdt(): the segment attached at addr, every area of it from there
export function doShmdt(mm: Mm, addr: bigint): Ret<0> {
  if (addr & 0xfffn) return new Errno('EINVAL', 'shmdt');
  const first = mm.vmas.lookup(addr);
  const file = first?.start === addr ? first.file : null;
  if (!file || !mm.sys.ipc.segmentOf(file)) return new Errno('EINVAL', 'shmdt');
  for (const v of mm.vmas.overlapping(addr, addr + file.size)) if (v.file === file) doMunmap(mm, v.start, v.end - v.start);
  return 0;
}
