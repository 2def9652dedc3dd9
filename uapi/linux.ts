// The kernel's user API, as the selftests use it: mman.h, fcntl.h, fs.h
// (pagemap, PAGEMAP_SCAN), errno.h. Shared by the model, the harness and the
// ported tests, so all three speak the same numbers.

export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_HUGETLB = 0x40000;
export const MAP_POPULATE = 0x8000;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MAP_FAILED = -1n;

export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;
/** move_pages(2), mbind(2) (uapi/linux/mempolicy.h) */
export const MPOL_MF_MOVE = 1 << 1;
export const MPOL_MF_MOVE_ALL = 1 << 2;

export const MADV_NORMAL = 0;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;
export const MADV_COLLAPSE = 25;
export const MADV_GUARD_INSTALL = 102;
export const MADV_GUARD_REMOVE = 103;

export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_TRUNC = 0o1000;

export const MFD_CLOEXEC = 0x1;
export const MFD_HUGETLB = 0x4;
export const MFD_NOEXEC_SEAL = 0x8;

// include/uapi/linux/ipc.h and shm.h
export const IPC_PRIVATE = 0;
export const IPC_CREAT = 0o1000;
export const IPC_RMID = 0;
export const SHM_HUGETLB = 0o4000;
/** sys/shm.h: the owner's read and write permission bits */
export const SHM_R = 0o400;
export const SHM_W = 0o200;

// /proc/PID/pagemap (fs/proc/task_mmu.c)
export const PM_PFRAME_BITS = 55n;
export const PM_PFRAME_MASK = (1n << PM_PFRAME_BITS) - 1n;
export const PM_SOFT_DIRTY = 1n << 55n;
export const PM_MMAP_EXCLUSIVE = 1n << 56n;
export const PM_UFFD_WP = 1n << 57n;
export const PM_GUARD_REGION = 1n << 58n;
export const PM_FILE = 1n << 61n;
export const PM_SWAP = 1n << 62n;
export const PM_PRESENT = 1n << 63n;

// PAGEMAP_SCAN (include/uapi/linux/fs.h)
export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
export const PAGE_IS_GUARD = 1 << 8;
export const PM_SCAN_WP_MATCHING = 1 << 0;
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;

/** The errno values a Linux system call can return (asm-generic/errno*.h: the same on arm64 and x86_64), by name. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENOLINK: 67,
  EPROTO: 71,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EILSEQ: 84,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EDQUOT: 122,
  ECANCELED: 125,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
} as const;
export type ErrnoName = keyof typeof ERRNO;

/** A failed system call's errno: returned as a value, never thrown. */
export class Errno {
  constructor(
    readonly name: ErrnoName,
    /** the call that failed, for messages */
    readonly call = '',
  ) {}
  get code(): number {
    return ERRNO[this.name];
  }
  toString(): string {
    return this.call ? `${this.call}: ${this.name}` : this.name;
  }
}

/** A system call's result: the value, or the errno. */
export type Ret<T> = T | Errno;

export const isErr = (x: unknown): x is Errno => x instanceof Errno;

/** The value of a call that set-up code cannot go on without; its failure throws, naming `what`. */
export function must<T>(r: Ret<T>, what: string): T {
  if (isErr(r)) throw new Error(`${what}: ${r}`);
  return r;
}

// fcntl.h flags userfaultfd(2) takes (the same on arm64 and x86_64)
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
// fcntl(2) commands (asm-generic/fcntl.h: the same on arm64 and x86_64)
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
// poll(2) events (asm-generic/poll.h)
export const POLLIN = 0x1;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
// fallocate(2) modes (linux/falloc.h)
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;

// include/uapi/linux/userfaultfd.h
export const UFFD_USER_MODE_ONLY = 1;
export const UFFD_API = 0xaan;
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1n << 0n;
export const UFFD_FEATURE_EVENT_FORK = 1n << 1n;
export const UFFD_FEATURE_EVENT_REMAP = 1n << 2n;
export const UFFD_FEATURE_EVENT_REMOVE = 1n << 3n;
export const UFFD_FEATURE_MISSING_HUGETLBFS = 1n << 4n;
export const UFFD_FEATURE_MISSING_SHMEM = 1n << 5n;
export const UFFD_FEATURE_EVENT_UNMAP = 1n << 6n;
export const UFFD_FEATURE_SIGBUS = 1n << 7n;
export const UFFD_FEATURE_THREAD_ID = 1n << 8n;
export const UFFD_FEATURE_MINOR_HUGETLBFS = 1n << 9n;
export const UFFD_FEATURE_MINOR_SHMEM = 1n << 10n;
export const UFFD_FEATURE_EXACT_ADDRESS = 1n << 11n;
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1n << 12n;
export const UFFD_FEATURE_WP_UNPOPULATED = 1n << 13n;
export const UFFD_FEATURE_POISON = 1n << 14n;
export const UFFD_FEATURE_WP_ASYNC = 1n << 15n;
export const UFFD_FEATURE_MOVE = 1n << 16n;
export const UFFDIO_REGISTER_MODE_MISSING = 1n;
export const UFFDIO_REGISTER_MODE_WP = 2n;
export const UFFDIO_REGISTER_MODE_MINOR = 4n;
export const UFFDIO_WRITEPROTECT_MODE_WP = 1n;
export const UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 2n;
export const UFFDIO_COPY_MODE_DONTWAKE = 1n;
export const UFFDIO_COPY_MODE_WP = 2n;
export const UFFDIO_ZEROPAGE_MODE_DONTWAKE = 1n;
export const UFFDIO_CONTINUE_MODE_DONTWAKE = 1n;
export const UFFDIO_CONTINUE_MODE_WP = 2n;
export const UFFDIO_MOVE_MODE_DONTWAKE = 1n;
export const UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES = 2n;
export const UFFDIO_POISON_MODE_DONTWAKE = 1n;
// the ioctls' numbers within UFFDIO (bits of uffdio_api.ioctls and uffdio_register.ioctls)
export const _UFFDIO_REGISTER = 0x00n;
export const _UFFDIO_UNREGISTER = 0x01n;
export const _UFFDIO_WAKE = 0x02n;
export const _UFFDIO_COPY = 0x03n;
export const _UFFDIO_ZEROPAGE = 0x04n;
export const _UFFDIO_MOVE = 0x05n;
export const _UFFDIO_WRITEPROTECT = 0x06n;
export const _UFFDIO_CONTINUE = 0x07n;
export const _UFFDIO_POISON = 0x08n;
export const _UFFDIO_API = 0x3fn;
export const UFFD_EVENT_PAGEFAULT = 0x12;
export const UFFD_EVENT_FORK = 0x13;
export const UFFD_EVENT_REMAP = 0x14;
export const UFFD_EVENT_REMOVE = 0x15;
export const UFFD_EVENT_UNMAP = 0x16;
export const UFFD_PAGEFAULT_FLAG_WRITE = 1n << 0n;
export const UFFD_PAGEFAULT_FLAG_WP = 1n << 1n;
export const UFFD_PAGEFAULT_FLAG_MINOR = 1n << 2n;
/** _IOWR(UFFDIO, _UFFDIO_WRITEPROTECT, struct uffdio_writeprotect): the ioctl number itself */
export const UFFDIO_WRITEPROTECT = 0xc018aa06n;
