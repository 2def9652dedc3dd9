// A fake Target for the harness's own tests: every call succeeds and
// answers plausibly, with no mm behind it (pagemap entries are all zero,
// PAGEMAP_SCAN is supported and finds nothing, smaps has one block per
// mapping, flagged soft-dirty). A test overrides the calls it cares about.

import { Errno } from '../../uapi/linux.ts';
import type { Caps, Proc, Target, TargetInfo } from '../target.ts';

const PAGE = 4096n;

export const FAKE_INFO: TargetInfo = { name: 'fake', arch: 'arm64', layout: 'v6.10', kernel: '6.12', pageSize: 4096 };

const FAKE_CAPS: Caps = {
  softDirty: true,
  uffdWp: true,
  pagemapScan: true,
  thp: true,
  hugetlb: false,
  swap: false,
  introspect: false,
};

const FILES: Readonly<Record<string, string>> = {
  '/sys/kernel/mm/transparent_hugepage/enabled': 'always [madvise] never\n',
  '/sys/kernel/mm/transparent_hugepage/hpage_pmd_size': '2097152\n',
};

/** smaps text for the given mappings: address line, AnonHugePages, VmFlags. */
export function fakeSmaps(mappings: readonly (readonly [bigint, bigint])[], vmFlags: string): string {
  const hex = (a: bigint): string => a.toString(16).padStart(8, '0');
  return mappings
    .map(([start, end]) => `${hex(start)}-${hex(end)} rw-p 00000000 00:00 0 \nAnonHugePages:         0 kB\nVmFlags: ${vmFlags} \n`)
    .join('');
}

/** `files` adds to or replaces what readFile() finds (smaps included). */
export function fakeProc(overrides: Partial<Proc> = {}, files: Readonly<Record<string, string | Errno>> = {}): Proc {
  let next = 0x7f0000000000n;
  const mappings: [bigint, bigint][] = [];
  const allocate = (alignment: bigint, length: bigint): bigint => {
    const start = ((next + alignment - 1n) / alignment) * alignment;
    next = start + ((length + PAGE - 1n) / PAGE) * PAGE + PAGE;
    mappings.push([start, next - PAGE]);
    return start;
  };
  const proc: Proc = {
    pid: 1,
    mmap: async (addr, length) => (addr !== 0n ? addr : allocate(PAGE, length)),
    munmap: async () => 0,
    mprotect: async () => 0,
    mremap: async (oldAddr, _oldSize, _newSize, _flags, newAddr) => newAddr ?? oldAddr,
    madvise: async () => 0,
    open: async () => 3,
    close: async () => 0,
    unlink: async () => 0,
    swapoff: async () => new Errno('EPERM', 'swapoff'),
    swapon: async () => new Errno('EPERM', 'swapon'),
    ftruncate: async () => 0,
    memfdCreate: async () => 3,
    writeFd: async (_fd, data) => data.length,
    stat: async () => ({ size: PAGE }),
    listDir: async () => new Errno('ENOENT', 'open'),
    shmget: async () => 0,
    shmat: async () => allocate(PAGE, PAGE),
    shmdt: async () => 0,
    shmctl: async () => 0,
    threadCreate: async () => ({ tid: 2, madvise: async () => 0, atomicAdd: async () => ({ ok: true, data: new Uint8Array(0) }), minflt: async () => 0n }),
    alignedAlloc: async (alignment, size) => allocate(alignment, size),
    free: async () => {},
    read: async (_addr, length) => ({ ok: true, data: new Uint8Array(length) }),
    write: async (_addr, data) => ({ ok: true, data }),
    fill: async () => ({ ok: true, data: new Uint8Array(0) }),
    increment: async () => ({ ok: true, data: new Uint8Array(0) }),
    readFile: async (path) =>
      files[path] ?? (path === '/proc/self/smaps' ? fakeSmaps(mappings, 'rd wr mr mw me ac sd') : (FILES[path] ?? new Errno('ENOENT', 'open'))),
    writeFile: async (_path, data) => data.length,
    pagemap: async (_addr, nPages) => new BigUint64Array(nPages),
    pagemapScan: async (arg) =>
      arg.nullVec && arg.vecLen ? new Errno('EINVAL', 'ioctl') : arg.badVec ? new Errno('EFAULT', 'ioctl') : { ret: 0, regions: [], walkEnd: arg.end },
    userfaultfd: async () => new Errno('ENOSYS', 'userfaultfd'),
    uffdioApi: async () => new Errno('EBADF', 'ioctl'),
    uffdioRegister: async () => new Errno('EBADF', 'ioctl'),
    uffdioWriteprotect: async () => new Errno('EBADF', 'ioctl'),
    uffdioUnregister: async () => new Errno('EBADF', 'ioctl'),
    uffdioCopy: async () => ({ error: new Errno('EBADF', 'ioctl'), progress: 0n }),
    uffdioZeropage: async () => ({ error: new Errno('EBADF', 'ioctl'), progress: 0n }),
    uffdioWake: async () => new Errno('EBADF', 'ioctl'),
    uffdRead: async () => new Errno('EBADF', 'read'),
    fork: async () => new Errno('EAGAIN', 'fork'),
    movePages: async () => new Errno('ENOSYS', 'move_pages'),
    pipe2: async () => new Errno('EMFILE', 'pipe2'),
    readFd: async () => new Errno('EBADF', 'read'),
    poll: async (fds) => fds.map(() => 0x20), // POLLNVAL
    fcntl: async () => new Errno('EBADF', 'fcntl'),
    fallocate: async () => new Errno('EBADF', 'fallocate'),
    userfaultfdIocNew: async () => new Errno('EBADF', 'ioctl'),
    uffdioContinue: async () => ({ error: new Errno('EBADF', 'ioctl'), progress: null }),
    uffdioMove: async () => ({ error: new Errno('EBADF', 'ioctl'), progress: null }),
    uffdioPoison: async () => ({ error: new Errno('EBADF', 'ioctl'), progress: null }),
    exit: async () => {},
  };
  return { ...proc, ...overrides };
}

export function fakeTarget(spawn: () => Promise<Proc> = async () => fakeProc(), info: Partial<TargetInfo> = {}): Target {
  return {
    info: async () => ({ ...FAKE_INFO, ...info }),
    capabilities: async () => FAKE_CAPS,
    spawn,
    close: async () => {},
  };
}
