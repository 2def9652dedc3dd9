// fork(), the non-cooperative userfaultfd events, and the pipes and poll()
// a handler thread uses, on the reference, as the 7.2 kernel's code has them
// (kernel/fork.c, mm/memory.c copy_page_range(), mm/userfaultfd.c) and as
// uffd-unit-tests.c relies on them.

import { describe, expect, test } from 'vitest';
import * as U from '../../uapi/linux.ts';
import { isErr, must } from '../../uapi/linux.ts';
import type { Proc, UffdMsg } from '../target.ts';
import { referenceTarget } from './reference.ts';

const PAGE = 4096n;
const LEN = 32n << 20n;
/** UFFD_FLAGS of uffd-common.h: what the selftest opens its userfaultfds with */
const UFFD_FLAGS = U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY;

async function anonArea(p: Proc, len = LEN): Promise<bigint> {
  return must(await p.mmap(0n, len, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
}

async function uffdWith(p: Proc, features: bigint): Promise<number> {
  const uffd = must(await p.userfaultfd(UFFD_FLAGS), 'userfaultfd');
  must(await p.uffdioApi(uffd, U.UFFD_API, features), 'UFFDIO_API');
  return uffd;
}

const entry = async (p: Proc, a: bigint) => must(await p.pagemap(a, 1), 'pagemap')[0]!;

/** A non-blocking read until a message comes, as uffd-unit-tests.c's uffd_read_msg() loops. */
async function readMsg(p: Proc, uffd: number): Promise<UffdMsg> {
  for (;;) {
    const m = await p.uffdRead(uffd);
    if (!isErr(m)) return m;
    if (m.name !== 'EAGAIN') throw new Error(`read: ${m}`);
  }
}

describe('fork() and uffd-wp (pagemap_test_fork() of uffd-unit-tests.c)', () => {
  test.each([
    ['without UFFD_FEATURE_EVENT_FORK the child drops uffd-wp', false],
    ['with UFFD_FEATURE_EVENT_FORK the child keeps it, present and swapped out', true],
  ])('%s', async (_what, withEvent) => {
    const p = await (await referenceTarget('')).spawn();
    const a = await anonArea(p);
    const uffd = await uffdWith(p, U.UFFD_FEATURE_PAGEFAULT_FLAG_WP | (withEvent ? U.UFFD_FEATURE_EVENT_FORK : 0n));
    must(await p.uffdioRegister(uffd, a, LEN, U.UFFDIO_REGISTER_MODE_WP), 'register');
    expect((await p.write(a, new Uint8Array([1]))).ok).toBe(true);
    must(await p.uffdioWriteprotect(uffd, a, PAGE, U.UFFDIO_WRITEPROTECT_MODE_WP), 'wp');
    for (const state of ['present', 'swapped']) {
      if (state === 'swapped') must(await p.madvise(a, PAGE, U.MADV_PAGEOUT), 'MADV_PAGEOUT');
      expect(await entry(p, a) & U.PM_UFFD_WP, state).toBe(U.PM_UFFD_WP);
      const forked = p.fork();
      const msg = withEvent ? await readMsg(p, uffd) : null;
      const child = must(await forked, 'fork');
      expect(await entry(child, a) & U.PM_UFFD_WP, state).toBe(withEvent ? U.PM_UFFD_WP : 0n);
      await child.exit();
      // the child's userfaultfd, closed only now: its release would reset the child's protection
      if (msg) {
        expect(msg.event).toBe('FORK');
        if (msg.event === 'FORK') must(await p.close(msg.ufd), 'close');
      }
    }
    // the parent's swap entry survives the child's exit: fault it back in, unprotected first
    must(await p.uffdioWriteprotect(uffd, a, PAGE, 0n), 'unprotect');
    expect(await p.write(a, new Uint8Array([2]))).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(await p.read(a, 1)).toEqual({ ok: true, data: new Uint8Array([2]) });
    expect(await entry(p, a) & U.PM_UFFD_WP).toBe(0n);
  });

  test('a private page written after fork() is copied: each process sees its own byte', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = await anonArea(p, PAGE);
    expect((await p.write(a, new Uint8Array([7]))).ok).toBe(true);
    const child = must(await p.fork(), 'fork');
    expect((await child.write(a, new Uint8Array([9]))).ok).toBe(true);
    expect(await p.read(a, 1)).toEqual({ ok: true, data: new Uint8Array([7]) });
    expect(await child.read(a, 1)).toEqual({ ok: true, data: new Uint8Array([9]) });
    await child.exit();
    expect(await p.read(a, 1)).toEqual({ ok: true, data: new Uint8Array([7]) });
  });

  test.each([
    ['a page', false],
    ['a huge page', true],
  ])('a poison marker on %s is copied to the child even without the userfaultfd (copy_pte_marker())', async (_what, huge) => {
    const p = await (await referenceTarget('')).spawn();
    const size = huge ? 2n << 20n : PAGE;
    const a = huge
      ? must(await p.mmap(0n, size, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_HUGETLB, -1, 0n), 'mmap')
      : await anonArea(p, size);
    const uffd = await uffdWith(p, U.UFFD_FEATURE_POISON);
    must(await p.uffdioRegister(uffd, a, size, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    expect(await p.uffdioPoison(uffd, a, size, 0n)).toEqual({ error: null, progress: size });
    const child = must(await p.fork(), 'fork');
    expect(await child.read(a, 1)).toEqual({ ok: false, signal: 'SIGBUS', addr: a });
  });

  test('MADV_DONTFORK leaves the area out of the child', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = await anonArea(p, PAGE);
    must(await p.madvise(a, PAGE, U.MADV_DONTFORK), 'MADV_DONTFORK');
    const child = must(await p.fork(), 'fork');
    expect(await child.read(a, 1)).toEqual({ ok: false, signal: 'SIGSEGV', addr: a });
  });
});

describe('non-cooperative events hold the call that raised them until a read takes them', () => {
  test('mremap() of a registered area: REMAP, and the filling ioctls say EAGAIN meanwhile', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = await anonArea(p, 4n * PAGE);
    const b = await anonArea(p, 4n * PAGE);
    const uffd = await uffdWith(p, U.UFFD_FEATURE_EVENT_REMAP);
    must(await p.uffdioRegister(uffd, a, 4n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    let done = false;
    const moved = p.mremap(a, 4n * PAGE, 4n * PAGE, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, b).then((r) => ((done = true), r));
    await Promise.resolve();
    expect(done).toBe(false);
    expect(await p.uffdioCopy(uffd, b, a, PAGE, 0n)).toEqual({ error: new U.Errno('EAGAIN', 'ioctl'), progress: -11n });
    expect(await readMsg(p, uffd)).toEqual({ event: 'REMAP', from: a, to: b, len: 4n * PAGE });
    expect(await moved).toBe(b);
  });

  test("MADV_DONTNEED of a registered area: REMOVE, read by the parent from the child's userfaultfd", async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = await anonArea(p, 4n * PAGE);
    const uffd = await uffdWith(p, U.UFFD_FEATURE_EVENT_FORK | U.UFFD_FEATURE_EVENT_REMOVE);
    must(await p.uffdioRegister(uffd, a, 4n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    const forked = p.fork();
    const fork = await readMsg(p, uffd);
    if (fork.event !== 'FORK') throw new Error(`expected FORK, read ${fork.event}`);
    const child = must(await forked, 'fork');
    const released = child.madvise(a, 4n * PAGE, U.MADV_DONTNEED);
    expect(await readMsg(p, fork.ufd)).toEqual({ event: 'REMOVE', start: a, end: a + 4n * PAGE });
    expect(await released).toBe(0);
  });

  test('munmap() of a registered area: one UNMAP of the whole range, once the areas are gone', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = await anonArea(p, 4n * PAGE);
    const uffd = await uffdWith(p, U.UFFD_FEATURE_EVENT_UNMAP);
    must(await p.uffdioRegister(uffd, a + PAGE, PAGE, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    must(await p.uffdioRegister(uffd, a + 3n * PAGE, PAGE, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    const unmapped = p.munmap(a, 4n * PAGE);
    expect(await readMsg(p, uffd)).toEqual({ event: 'UNMAP', start: a, end: a + 4n * PAGE });
    expect(await unmapped).toBe(0);
    expect(await p.uffdRead(uffd)).toEqual(new U.Errno('EAGAIN', 'read'));
  });

  test('mremap() moving a registered area onto another, shrunk: the destination\'s UNMAP, REMAP, then the shrink\'s and the source\'s, each read before the next (as on linux-host 6.18)', async () => {
    const p = await (await referenceTarget('')).spawn();
    const a = await anonArea(p, 8n * PAGE);
    const uffd = await uffdWith(p, U.UFFD_FEATURE_EVENT_REMAP | U.UFFD_FEATURE_EVENT_UNMAP);
    must(await p.uffdioRegister(uffd, a, 2n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    must(await p.uffdioRegister(uffd, a + 4n * PAGE, 2n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    const moved = p.mremap(a, 2n * PAGE, PAGE, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, a + 4n * PAGE);
    const dest = { event: 'UNMAP', start: a + 4n * PAGE, end: a + 5n * PAGE };
    expect(await readMsg(p, uffd)).toEqual(dest);
    // each is posted once the one before is read; until the last is, the ioctls say EAGAIN
    expect(await p.uffdRead(uffd)).toEqual({ event: 'REMAP', from: a, to: a + 4n * PAGE, len: PAGE });
    expect(await p.uffdRead(uffd)).toEqual({ event: 'UNMAP', start: a + PAGE, end: a + 2n * PAGE });
    expect(await p.uffdioCopy(uffd, a + 6n * PAGE, a, PAGE, 0n)).toEqual({ error: new U.Errno('EAGAIN', 'ioctl'), progress: -11n });
    expect(await p.uffdRead(uffd)).toEqual({ event: 'UNMAP', start: a, end: a + PAGE });
    expect(await moved).toBe(a + 4n * PAGE);
    // mmap(MAP_FIXED) over a registered area unmaps it: UNMAP too, and MAP_POPULATE faults in only
    // once it is read (vm_mmap_pgoff(); measured alike on linux-host)
    const mapped = p.mmap(a + 4n * PAGE, PAGE, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED | U.MAP_POPULATE, -1, 0n);
    expect(await p.poll([{ fd: uffd, events: U.POLLIN }], 0)).toEqual([U.POLLIN]);
    expect((await entry(p, a + 4n * PAGE)) & U.PM_PRESENT).toBe(0n);
    expect(await readMsg(p, uffd)).toEqual({ event: 'UNMAP', start: a + 4n * PAGE, end: a + 5n * PAGE });
    expect(await mapped).toBe(a + 4n * PAGE);
    expect((await entry(p, a + 4n * PAGE)) & U.PM_PRESENT).toBe(U.PM_PRESENT);
  });

  test("a thread held in MADV_REMOVE by its event is in 'D' until the event is read", async () => {
    const p = await (await referenceTarget('')).spawn();
    const fd = must(await p.memfdCreate('uffd-test', 0), 'memfd_create');
    must(await p.ftruncate(fd, 4n * PAGE), 'ftruncate');
    expect(await p.fallocate(fd, U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE, 0n, 4n * PAGE)).toBe(0);
    const a = must(await p.mmap(0n, 4n * PAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, fd, 0n), 'mmap');
    expect((await p.write(a, new Uint8Array([5]))).ok).toBe(true);
    const uffd = await uffdWith(p, U.UFFD_FEATURE_EVENT_REMOVE);
    must(await p.uffdioRegister(uffd, a, 4n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING), 'register');
    const thread = must(await p.threadCreate(), 'pthread_create');
    const removing = thread.madvise(a, PAGE, U.MADV_REMOVE);
    expect(must(await p.readFile(`/proc/${thread.tid}/status`), 'status')).toContain('State:\tD (disk sleep)\n');
    expect(await readMsg(p, uffd)).toEqual({ event: 'REMOVE', start: a, end: a + PAGE });
    expect(await removing).toBe(0);
    expect(must(await p.readFile(`/proc/${thread.tid}/status`), 'status')).toContain('State:\tS (sleeping)\n');
    // the hole is punched once the event is read: the page's byte is gone (MISSING mode is off again first)
    must(await p.uffdioUnregister(uffd, a, 4n * PAGE), 'unregister');
    expect(await p.read(a, 1)).toEqual({ ok: true, data: new Uint8Array([0]) });
  });
});

describe("a handler thread's pipe, poll() and fcntl()", () => {
  test('poll() waits for a pipe or a userfaultfd to be ready; a read takes the byte', async () => {
    const p = await (await referenceTarget('')).spawn();
    const [r, w] = must(await p.pipe2(U.O_CLOEXEC | U.O_NONBLOCK), 'pipe2');
    const uffd = await uffdWith(p, 0n);
    const fds = [
      { fd: uffd, events: U.POLLIN },
      { fd: r, events: U.POLLIN },
    ];
    expect(await p.poll(fds, 0)).toEqual([0, 0]);
    const polled = p.poll(fds, -1);
    expect(await p.writeFd(w, new Uint8Array([0]))).toBe(1);
    expect(await polled).toEqual([0, U.POLLIN]);
    expect(await p.readFd(r, 1)).toEqual(new Uint8Array([0]));
    expect(await p.readFd(r, 1)).toEqual(new U.Errno('EAGAIN', 'read'));
  });

  test('userfaultfd_poll(): POLLERR on a blocking descriptor; F_SETFL makes it non-blocking', async () => {
    const p = await (await referenceTarget('')).spawn();
    const uffd = must(await p.userfaultfd(U.O_CLOEXEC), 'userfaultfd');
    must(await p.uffdioApi(uffd, U.UFFD_API, 0n), 'UFFDIO_API');
    expect(await p.poll([{ fd: uffd, events: U.POLLIN }], 0)).toEqual([U.POLLERR]);
    expect(await p.fcntl(uffd, U.F_GETFD, 0)).toBe(U.FD_CLOEXEC);
    expect(await p.fcntl(uffd, U.F_SETFL, U.FD_CLOEXEC | U.O_NONBLOCK)).toBe(0);
    expect(await p.fcntl(uffd, U.F_GETFL, 0)).toBe(U.O_RDWR | U.O_NONBLOCK);
    expect(await p.poll([{ fd: uffd, events: U.POLLIN }], 0)).toEqual([0]);
  });

  test('/dev/userfaultfd: USERFAULTFD_IOC_NEW makes a userfaultfd', async () => {
    const p = await (await referenceTarget('')).spawn();
    const dev = must(await p.open('/dev/userfaultfd', U.O_RDWR | U.O_CLOEXEC), 'open');
    const uffd = must(await p.userfaultfdIocNew(dev, UFFD_FLAGS), 'USERFAULTFD_IOC_NEW');
    expect(await p.uffdioApi(uffd, 0xabn, 0n)).toEqual(new U.Errno('EINVAL', 'ioctl'));
    expect(isErr(await p.uffdioApi(uffd, U.UFFD_API, 0n))).toBe(false);
  });
});
