// The Target API over the agent: each Proc call against the real agent on
// this machine's kernel (values, Errno values, faults as MemResults), and
// against a scripted fake agent, replies that break the protocol's promises
// (each such call rejects with an Error; nothing crashes).

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  Errno,
  F_GETFL,
  F_SETFL,
  FALLOC_FL_PUNCH_HOLE,
  IPC_CREAT,
  IPC_RMID,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  O_CLOEXEC,
  O_CREAT,
  O_NONBLOCK,
  O_RDWR,
  PAGE_IS_PRESENT,
  PM_PRESENT,
  PROT_NONE,
  PROT_READ,
  POLLIN,
  POLLNVAL,
  PROT_WRITE,
  UFFD_API,
  UFFD_FEATURE_EVENT_FORK,
  UFFD_FEATURE_EVENT_REMAP,
  UFFD_FEATURE_EVENT_REMOVE,
  UFFD_FEATURE_EVENT_UNMAP,
  UFFD_FEATURE_THREAD_ID,
  UFFD_FEATURE_MINOR_SHMEM,
  UFFD_FEATURE_MOVE,
  UFFD_FEATURE_POISON,
  UFFDIO_REGISTER_MODE_MINOR,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  isErr,
  type Ret,
} from '../../uapi/linux.ts';
import type { PmScanArg, Proc, Target, UffdMsg } from '../target.ts';
import { AGENT } from '../testing/agent.ts';
import { startAgentProcess } from './child.ts';
import { inOrder } from '../in-order.ts';
import { repeat } from '../repeat.ts';
import { DESCRIPTORS_BATCH, INCREMENT_BATCH, agentTarget, archOf, type AgentLink } from './client.ts';

const PAGE = 4096n;

function ok<T>(r: Ret<T>): T {
  if (isErr(r)) throw new Error(`unexpected ${r}`);
  return r;
}

/** `p`, or a rejection saying what never came once `ms` have passed: a call that should come back does not hang the test. */
async function within<T>(p: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('on the real agent', () => {
  let target: Target;
  let proc: Proc;

  beforeAll(async () => {
    const { path } = AGENT;
    if (path !== null) target = await agentTarget({ name: 'linux-host', start: async () => startAgentProcess(path, [], { procPorts: true }) });
  });
  afterAll(async () => {
    await target?.close();
  });
  beforeEach(async (ctx) => {
    if (AGENT.path === null) return ctx.skip(AGENT.skip);
    proc = await target.spawn();
    return () => proc.exit();
  });

  const anon = async (len: bigint, prot = PROT_READ | PROT_WRITE): Promise<bigint> =>
    ok(await proc.mmap(0n, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
  /** PAGEMAP_SCAN of `pages` pages from start: no flags, masks or vector but what `with_` gives */
  const scanArg = (start: bigint, pages: bigint, with_: Partial<PmScanArg>): PmScanArg => ({
    start,
    end: start + pages * PAGE,
    flags: 0,
    maxPages: 0n,
    categoryInverted: 0,
    categoryMask: 0,
    categoryAnyofMask: 0,
    returnMask: 0,
    vecLen: 0,
    ...with_,
  });

  test('mmap, write, read, pagemap, clear_refs: a round trip', async () => {
    const addr = await anon(2n * PAGE);
    expect(await proc.write(addr + 1n, Uint8Array.of(1, 2, 3))).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(await proc.read(addr, 5)).toEqual({ ok: true, data: Uint8Array.of(0, 1, 2, 3, 0) });
    const entries = ok(await proc.pagemap(addr, 2));
    expect(entries).toBeInstanceOf(BigUint64Array);
    expect(entries[0]! & PM_PRESENT).toBe(PM_PRESENT);
    expect(entries[1]! & PM_PRESENT).toBe(0n);
    expect(await proc.writeFile('/proc/self/clear_refs', '4')).toBe(1);
    expect(ok(await proc.pagemap(addr, 1))[0]! & PM_PRESENT).toBe(PM_PRESENT);
    expect(await proc.munmap(addr, 2n * PAGE)).toBe(0);
  });

  test('a failed call is an Errno naming the call', async () => {
    expect(await proc.munmap(1n, PAGE)).toEqual(new Errno('EINVAL', 'munmap'));
    expect(await proc.readFile('/nonexistent')).toEqual(new Errno('ENOENT', 'open'));
    expect(await proc.mmap(0n, PAGE, PROT_READ, MAP_SHARED, 12345, 0n)).toEqual(new Errno('EBADF', 'mmap'));
  });

  test('a store to a PROT_READ page is SIGSEGV at its address, and the process goes on', async () => {
    const addr = await anon(PAGE, PROT_READ);
    expect(await proc.write(addr + 8n, Uint8Array.of(1))).toEqual({ ok: false, signal: 'SIGSEGV', addr: addr + 8n });
    expect(ok(await proc.mprotect(addr, PAGE, PROT_READ | PROT_WRITE))).toBe(0);
    expect(await proc.write(addr + 8n, Uint8Array.of(1))).toMatchObject({ ok: true });
  });

  test('mremap moves an area to a fixed address', async () => {
    const reserved = await anon(4n * PAGE, PROT_NONE);
    const src = ok(await proc.mmap(reserved, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0n));
    await proc.write(src, Uint8Array.of(9));
    expect(await proc.mremap(src, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, reserved + 2n * PAGE)).toBe(reserved + 2n * PAGE);
    expect(await proc.read(reserved + 2n * PAGE, 1)).toEqual({ ok: true, data: Uint8Array.of(9) });
  });

  test('files: open, unlink, ftruncate, a shared mapping, close; memfd_create', async () => {
    const name = `/tmp/mmconform-client-test-${process.pid}`;
    const fd = ok(await proc.open(name, O_RDWR | O_CREAT, 0o600));
    expect(await proc.unlink(name)).toBe(0);
    expect(await proc.ftruncate(fd, PAGE)).toBe(0);
    const map = ok(await proc.mmap(0n, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n));
    expect(await proc.write(map, Uint8Array.of(5))).toMatchObject({ ok: true });
    expect(await proc.close(fd)).toBe(0);
    expect(await proc.close(fd)).toEqual(new Errno('EBADF', 'close'));
    expect(ok(await proc.memfdCreate('client-test', 0))).toBeGreaterThan(2);
  });

  test('aligned_alloc and free are the C library’s', async () => {
    const block = ok(await proc.alignedAlloc(2n << 20n, 2n << 20n));
    expect(block % (2n << 20n)).toBe(0n);
    await proc.free(block);
  });

  test('pagemapScan: regions, walkEnd, and EFAULT for a bad vector', async () => {
    const addr = await anon(2n * PAGE);
    await proc.write(addr + PAGE, Uint8Array.of(1));
    const arg = scanArg(addr, 2n, { categoryAnyofMask: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT, vecLen: 8 });
    expect(await proc.pagemapScan(arg)).toEqual({
      ret: 1,
      walkEnd: addr + 2n * PAGE,
      regions: [{ start: addr + PAGE, end: addr + 2n * PAGE, categories: PAGE_IS_PRESENT }],
    });
    expect(await proc.pagemapScan({ ...arg, badVec: true })).toEqual(new Errno('EFAULT', 'ioctl'));
  });

  test('pagemapScanUntil: what pagemapScan from each walk_end gives, up to the pages asked for; a failure of the whole is the first ioctl\'s', async () => {
    const addr = await anon(6n * PAGE);
    await proc.increment([addr, addr + 2n * PAGE, addr + 4n * PAGE]);
    const arg = scanArg(addr, 6n, { categoryMask: PAGE_IS_PRESENT, returnMask: PAGE_IS_PRESENT, vecLen: 1 });
    const oneByOne = [ok(await proc.pagemapScan(arg))];
    oneByOne.push(ok(await proc.pagemapScan({ ...arg, start: oneByOne[0]!.walkEnd })));
    expect(await proc.pagemapScanUntil!(arg, 2n)).toEqual(oneByOne);
    expect(await proc.pagemapScanUntil!({ ...arg, flags: -1 }, 2n)).toEqual([new Errno('EINVAL', 'ioctl')]);
  });

  test('pagemapScan: a NULL vec, and flags and masks sign-extended as a C int -1 is', async () => {
    const addr = await anon(2n * PAGE);
    const arg = { start: addr, end: addr + 2n * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0, returnMask: 0, vecLen: 500 };
    expect(await proc.pagemapScan({ ...arg, nullVec: true })).toEqual(new Errno('EINVAL', 'ioctl'));
    expect(await proc.pagemapScan({ ...arg, nullVec: true, vecLen: 0 })).toEqual({ ret: 0, walkEnd: addr + 2n * PAGE, regions: [] });
    expect(await proc.pagemapScan({ ...arg, flags: -1 })).toEqual(new Errno('EINVAL', 'ioctl'));
    expect(await proc.pagemapScan({ ...arg, returnMask: -1 })).toEqual(new Errno('EINVAL', 'ioctl'));
    expect(await proc.pagemapScan({ ...arg, maxPages: (1n << 64n) - 1n, returnMask: PAGE_IS_PRESENT })).toEqual({ ret: 1, walkEnd: addr + 2n * PAGE, regions: [{ start: addr, end: addr + 2n * PAGE, categories: 0 }] });
  });

  test('descriptors: ENOTTY, this kernel having no mmconform_pgwalk module', async (ctx) => {
    if (existsSync('/dev/mmconform_pgwalk')) return ctx.skip('this kernel has the module loaded');
    expect(await proc.descriptors?.(await anon(PAGE))).toEqual(new Errno('ENOTTY', 'ioctl'));
    expect(await proc.descriptorsOf?.([await anon(PAGE), 0n])).toEqual([new Errno('ENOTTY', 'ioctl'), new Errno('ENOTTY', 'ioctl')]);
  });

  test('fill and increment: memset and p[0]++, a signal reported where a write would report it', async () => {
    const addr = await anon(2n * PAGE);
    expect(await proc.fill(addr + 1n, PAGE, 0xab)).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(await proc.increment([addr, addr + 1n, addr + 1n])).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(await proc.read(addr, 3)).toEqual({ ok: true, data: Uint8Array.of(1, 0xad, 0xab) });
    expect(ok(await proc.mprotect(addr + PAGE, PAGE, PROT_READ))).toBe(0);
    expect(await proc.fill(addr, 2n * PAGE, 0)).toEqual({ ok: false, signal: 'SIGSEGV', addr: addr + PAGE });
    expect(await proc.increment([addr + 2n, addr + PAGE + 5n])).toEqual({ ok: false, signal: 'SIGSEGV', addr: addr + PAGE + 5n });
    expect(await proc.read(addr, 3)).toEqual({ ok: true, data: Uint8Array.of(0, 0, 1) });
  });

  test('an increment longer than one request goes in batches; calls made meanwhile are served after the last', async () => {
    const addr = await anon(PAGE);
    // 2 batches and 3 more: bytes 0-2 incremented 32769 times, byte 3 32768 times (0 mod 256)
    const addrs = Array.from({ length: 2 * INCREMENT_BATCH + 3 }, (_, i) => addr + BigInt(i % 4));
    const [r, data] = await inOrder(proc.increment(addrs), proc.read(addr, 4));
    expect(r).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(data).toEqual({ ok: true, data: Uint8Array.of(1, 1, 1, 0) });
  });

  test('a batch that faults ends the increment: the batches after it are never sent', async () => {
    const addr = await anon(PAGE);
    const addrs = Array.from({ length: 2 * INCREMENT_BATCH + 1 }, () => addr + 1n);
    addrs[INCREMENT_BATCH + 10] = 0x10n;
    addrs[2 * INCREMENT_BATCH] = addr + 2n;
    const [r, data] = await inOrder(proc.increment(addrs), proc.read(addr, 3));
    expect(r).toEqual({ ok: false, signal: 'SIGSEGV', addr: 0x10n });
    expect(data).toEqual({ ok: true, data: Uint8Array.of(0, (INCREMENT_BATCH + 10) % 256, 0) });
  });

  test('writeFd, stat, listDir: write(2), st_size, readdir', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mmconform-client-test-'));
    try {
      const fd = ok(await proc.open(join(dir, 'f'), O_RDWR | O_CREAT, 0o600));
      expect(await proc.writeFd(fd, new Uint8Array(5000).fill(0x63))).toBe(5000);
      expect(await proc.stat(join(dir, 'f'))).toEqual({ size: 5000n });
      await symlink('f', join(dir, 'l'));
      const entries = ok(await proc.listDir(dir));
      expect([...entries].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: 'f', type: 'file' },
        { name: 'l', type: 'symlink' },
      ]);
      expect(await proc.listDir(join(dir, 'f'))).toEqual(new Errno('ENOTDIR', 'opendir'));
      expect(await proc.stat(join(dir, 'none'))).toEqual(new Errno('ENOENT', 'stat'));
      expect(await proc.writeFd(12345, Uint8Array.of(1))).toEqual(new Errno('EBADF', 'write'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('System V shared memory: shmget, shmat, shmdt, shmctl(IPC_RMID); any other command is refused', async () => {
    const shmid = ok(await proc.shmget(0, PAGE, IPC_CREAT | 0o600));
    const addr = ok(await proc.shmat(shmid, 0n, 0));
    expect(await proc.write(addr, Uint8Array.of(3))).toMatchObject({ ok: true });
    expect(await proc.shmctl(shmid, IPC_RMID)).toBe(0);
    expect(await proc.read(addr, 1)).toEqual({ ok: true, data: Uint8Array.of(3) });
    expect(await proc.shmdt(addr)).toBe(0);
    expect(await proc.shmdt(addr)).toEqual(new Errno('EINVAL', 'shmdt'));
    expect(await proc.shmctl(shmid, IPC_RMID)).toEqual(new Errno('EINVAL', 'shmctl'));
    await expect(proc.shmctl(shmid, 2)).rejects.toThrow('agent: shmctl: field "cmd": 2 is not IPC_RMID (0)');
  });

  test('threads: atomicAdd on ints, a fault where it came, minflt read on the thread', async () => {
    const thread = ok(await proc.threadCreate());
    const addr = await anon(4n * PAGE);
    const before = ok(await thread.minflt());
    expect(typeof before).toBe('bigint');
    const pages = [0n, 1n, 2n, 3n].map((i) => addr + i * PAGE);
    expect(await thread.atomicAdd([...pages, addr], -2)).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(ok(await thread.minflt()) - before).toBeGreaterThanOrEqual(4n);
    expect(await proc.read(addr, 4)).toEqual({ ok: true, data: Uint8Array.of(0xfc, 0xff, 0xff, 0xff) }); // -4
    expect(ok(await proc.mprotect(addr + PAGE, PAGE, PROT_READ))).toBe(0);
    expect(await thread.atomicAdd([addr + 4n, addr + PAGE + 8n, addr + 8n], 1)).toEqual({ ok: false, signal: 'SIGSEGV', addr: addr + PAGE + 8n });
    expect(await proc.read(addr + 4n, 8)).toEqual({ ok: true, data: Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0) });
    await expect(thread.atomicAdd([addr + 2n], 1)).rejects.toThrow('is not the address of an int');
  });

  test("a thread's long atomicAdd goes in batches, holding back that thread's later calls but not the process's", async (ctx) => {
    const uffd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK);
    if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
    expect(isErr(await proc.uffdioApi(uffd, UFFD_API, 0n))).toBe(false);
    const [a, b] = [ok(await proc.threadCreate()), ok(await proc.threadCreate())];
    const addr = await anon(2n * PAGE);
    expect(await proc.fill(addr, 2n * PAGE, 0)).toMatchObject({ ok: true });
    expect(isErr(await proc.uffdioRegister(uffd, addr + PAGE, PAGE, UFFDIO_REGISTER_MODE_WP))).toBe(false);
    expect(await proc.uffdioWriteprotect(uffd, addr + PAGE, PAGE, UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
    // two batches, the second's last add blocked on uffd-wp until the page is resolved
    const addrs = Array.from({ length: INCREMENT_BATCH + 1 }, () => addr);
    addrs[INCREMENT_BATCH] = addr + PAGE;
    const settled: string[] = [];
    const long = a.atomicAdd(addrs, 1).then((r) => (settled.push('long'), r));
    const after = a.minflt().then((r) => (settled.push('after'), r));
    // meanwhile the process and the other thread are served
    expect(await b.atomicAdd([addr + 4n], 1)).toMatchObject({ ok: true });
    // the first batch's 65536 adds, then the second's one blocked
    await vi.waitFor(async () => expect(await proc.read(addr, 4)).toEqual({ ok: true, data: Uint8Array.of(0, 0, 1, 0) }));
    expect(settled).toEqual([]);
    expect(await proc.uffdioWriteprotect(uffd, addr + PAGE, PAGE, 0n)).toBe(0);
    expect(await long).toEqual({ ok: true, data: new Uint8Array(0) });
    expect(isErr(await after)).toBe(false);
    expect(settled).toEqual(['long', 'after']);
    expect(await proc.read(addr + PAGE, 1)).toEqual({ ok: true, data: Uint8Array.of(1) });
  });

  describe('userfaultfd: missing faults resolved by the process itself', () => {
    /** A userfaultfd with `flags`, past UFFDIO_API with no features, and two private anonymous pages registered MISSING; null where the kernel refuses one. */
    const missing = async (flags: number): Promise<{ uffd: number; addr: bigint } | null> => {
      const uffd = await proc.userfaultfd(flags);
      if (isErr(uffd)) return null;
      ok(await proc.uffdioApi(uffd, UFFD_API, 0n));
      const addr = await anon(2n * PAGE);
      ok(await proc.uffdioRegister(uffd, addr, 2n * PAGE, UFFDIO_REGISTER_MODE_MISSING));
      return { uffd, addr };
    };

    test("UFFD_FEATURE_THREAD_ID: a thread's fault names its tid (the proc's own accesses run on the agent's workers: a tid of theirs)", async (ctx) => {
      const uffd = await proc.userfaultfd(O_CLOEXEC);
      if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
      ok(await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_THREAD_ID));
      const addr = await anon(2n * PAGE);
      ok(await proc.uffdioRegister(uffd, addr, 2n * PAGE, UFFDIO_REGISTER_MODE_MISSING));
      const thread = ok(await proc.threadCreate());
      const add = thread.atomicAdd([addr], 1);
      // (flags: WRITE on x86_64, whose LOCK XADD faults for writing at once; arm64 faults for reading first)
      expect(await within(proc.uffdRead(uffd), 'the fault')).toMatchObject({ event: 'PAGEFAULT', address: addr, ptid: thread.tid });
      const load = proc.read(addr + PAGE, 1);
      const fault = await within(proc.uffdRead(uffd), 'the load');
      expect(fault).toMatchObject({ event: 'PAGEFAULT', address: addr + PAGE });
      expect(isErr(fault) || fault.event !== 'PAGEFAULT' ? 0 : fault.ptid).toBeGreaterThan(0);
      expect(await proc.uffdioZeropage(uffd, addr, 2n * PAGE, 0n)).toEqual({ error: null, progress: 2n * PAGE });
      expect(await within(load, 'the load')).toEqual({ ok: true, data: Uint8Array.of(0) });
      expect((await within(add, 'the add')).ok).toBe(true);
    });

    test("serveUffd: the handler runs in the agent; the thread's calls are answered from what it did, then go live once it has stopped", async (ctx) => {
      const u = await missing(O_CLOEXEC | O_NONBLOCK);
      if (!u) return ctx.skip('userfaultfd(2) is refused here');
      const src = await anon(2n * PAGE);
      ok(await proc.write(src + PAGE, Uint8Array.of(9)));
      const [pipe, wr] = ok(await proc.pipe2(O_CLOEXEC | O_NONBLOCK));
      const view = await proc.serveUffd!({ uffd: u.uffd, pipe, pageSize: PAGE, dst: u.addr, src, dstAlias: 0n, size: 2n * PAGE, missing: 'copy', moveLen: PAGE, applyWp: false });
      expect(view).not.toBe(proc);
      // resolved by the agent's handler while the port's thread has asked for nothing yet
      expect(await within(proc.read(u.addr + PAGE, 1), 'the load')).toEqual({ ok: true, data: Uint8Array.of(9) });
      const fds = [{ fd: u.uffd, events: 1 }, { fd: pipe, events: 1 }];
      expect(await view.poll(fds, -1)).toEqual([1, 0]);
      expect(await view.uffdRead(u.uffd)).toMatchObject({ event: 'PAGEFAULT', address: u.addr + PAGE });
      // a call other than the one the handler made is the port's thread and the server disagreeing: it rejects
      await expect(view.uffdioCopy(u.uffd, u.addr + PAGE, src, PAGE, 0n)).rejects.toThrow(/the thread asked for uffdio_copy .* where the handler made .*uffdio_copy/);
      ok(await proc.writeFd(wr, Uint8Array.of(1)));
      expect(await view.poll(fds, -1)).toEqual([0, 1]);
      expect(await view.readFd(pipe, 1)).toEqual(Uint8Array.of(1));
      // the handler has stopped: the view's calls go to the proc
      expect(await view.uffdRead(u.uffd)).toEqual(new Errno('EAGAIN', 'read'));
    });

    test('uffdioZeropage fills a hole with the zero page; again, it fails with EEXIST and reports -EEXIST', async (ctx) => {
      const u = await missing(O_CLOEXEC | O_NONBLOCK);
      if (!u) return ctx.skip('userfaultfd(2) is refused here');
      expect(await proc.uffdioZeropage(u.uffd, u.addr, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
      expect(await proc.uffdioZeropage(u.uffd, u.addr, PAGE, 0n)).toEqual({ error: new Errno('EEXIST', 'ioctl'), progress: -17n });
      expect(await proc.read(u.addr, 2)).toEqual({ ok: true, data: new Uint8Array(2) }); // no fault: the page is there
    });

    test('uffdRead of an O_NONBLOCK userfaultfd with no message pending: EAGAIN', async (ctx) => {
      const u = await missing(O_CLOEXEC | O_NONBLOCK);
      if (!u) return ctx.skip('userfaultfd(2) is refused here');
      expect(await proc.uffdRead(u.uffd)).toEqual(new Errno('EAGAIN', 'read'));
    });

    test('a blocking uffdRead waits for a fault while the process serves on; it reports a load waiting in a missing fault, which uffdioCopy resolves', async (ctx) => {
      const u = await missing(O_CLOEXEC);
      if (!u) return ctx.skip('userfaultfd(2) is refused here');
      const page = u.addr + PAGE;
      const message = proc.uffdRead(u.uffd);
      const src = await anon(PAGE);
      expect(await within(proc.write(src + 7n, Uint8Array.of(0x5a)), 'a store while the read waits')).toMatchObject({ ok: true });
      const load = proc.read(page + 7n, 1);
      // the page-aligned address: no UFFD_FEATURE_EXACT_ADDRESS; a load's fault, no tid asked for
      expect(await within(message, 'uffdRead')).toEqual({ event: 'PAGEFAULT', flags: 0n, address: page, ptid: 0 });
      expect(await proc.uffdioCopy(u.uffd, page, src, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
      expect(await within(load, 'the load')).toEqual({ ok: true, data: Uint8Array.of(0x5a) });
      expect(await proc.uffdioCopy(u.uffd, page, src, PAGE, 0n)).toEqual({ error: new Errno('EEXIST', 'ioctl'), progress: -17n });
    });

    test('uffdioWake: a load waiting in a fault retries it, and faults again while the page is missing; uffdioZeropage then resolves it', async (ctx) => {
      const u = await missing(O_CLOEXEC);
      if (!u) return ctx.skip('userfaultfd(2) is refused here');
      const load = proc.read(u.addr, 1);
      const fault = { event: 'PAGEFAULT', flags: 0n, address: u.addr, ptid: 0 };
      expect(await within(proc.uffdRead(u.uffd), 'the first fault')).toEqual(fault);
      expect(await proc.uffdioWake(u.uffd, u.addr, 2n * PAGE)).toBe(0);
      expect(await within(proc.uffdRead(u.uffd), 'the fault retried')).toEqual(fault);
      expect(await proc.uffdioZeropage(u.uffd, u.addr, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
      expect(await within(load, 'the load')).toEqual({ ok: true, data: Uint8Array.of(0) });
      expect(await proc.uffdioWake(u.uffd + 1000, u.addr, PAGE)).toEqual(new Errno('EBADF', 'ioctl'));
    });

    test('non-cooperative events: mremap, MADV_DONTNEED and munmap of a registered area each wait until uffdReads made before them read REMAP (and UNMAP of the old range), REMOVE, UNMAP', async (ctx) => {
      const uffd = await proc.userfaultfd(O_CLOEXEC);
      if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
      ok(await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP));
      const [addr, to] = [await anon(2n * PAGE), await anon(2n * PAGE)];
      ok(await proc.uffdioRegister(uffd, addr, 2n * PAGE, UFFDIO_REGISTER_MODE_MISSING));
      // each call waits in the kernel until its event is read: the read is made first, and waits on a worker
      // two for mremap, read by whichever of two workers comes first
      const moved = [proc.uffdRead(uffd), proc.uffdRead(uffd)];
      expect(ok(await within(proc.mremap(addr, 2n * PAGE, 2n * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to), 'mremap'))).toBe(to);
      expect(await within(Promise.all(moved), 'REMAP and UNMAP')).toEqual(
        expect.arrayContaining([
          { event: 'REMAP', from: addr, to, len: 2n * PAGE },
          { event: 'UNMAP', start: addr, end: addr + 2n * PAGE },
        ]),
      );
      let message = proc.uffdRead(uffd);
      expect(ok(await within(proc.madvise(to, PAGE, MADV_DONTNEED), 'madvise'))).toBe(0);
      expect(await within(message, 'REMOVE')).toEqual({ event: 'REMOVE', start: to, end: to + PAGE });
      message = proc.uffdRead(uffd);
      expect(ok(await within(proc.munmap(to, 2n * PAGE), 'munmap'))).toBe(0);
      expect(await within(message, 'UNMAP')).toEqual({ event: 'UNMAP', start: to, end: to + 2n * PAGE });
    });
    test('non-cooperative events: an mremap, MADV_DONTNEED, munmap or mmap(MAP_FIXED) made first waits on a worker while a later uffdRead reads its event', async (ctx) => {
      const uffd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK);
      if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
      ok(await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP));
      const [addr, to] = [await anon(2n * PAGE), await anon(2n * PAGE)];
      ok(await proc.uffdioRegister(uffd, addr, 2n * PAGE, UFFDIO_REGISTER_MODE_MISSING));
      const moved = proc.mremap(addr, 2n * PAGE, 2n * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
      expect([await nextMessage(uffd), await nextMessage(uffd)]).toEqual(
        expect.arrayContaining([
          { event: 'REMAP', from: addr, to, len: 2n * PAGE },
          { event: 'UNMAP', start: addr, end: addr + 2n * PAGE },
        ]),
      );
      expect(ok(await within(moved, 'mremap'))).toBe(to);
      const advised = proc.madvise(to, PAGE, MADV_DONTNEED);
      expect(await nextMessage(uffd)).toEqual({ event: 'REMOVE', start: to, end: to + PAGE });
      expect(ok(await within(advised, 'madvise'))).toBe(0);
      const mapped = proc.mmap(to, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0n);
      expect(await nextMessage(uffd)).toEqual({ event: 'UNMAP', start: to, end: to + PAGE });
      expect(ok(await within(mapped, 'mmap'))).toBe(to);
      const unmapped = proc.munmap(to, 2n * PAGE);
      expect(await nextMessage(uffd)).toEqual({ event: 'UNMAP', start: to, end: to + 2n * PAGE });
      expect(ok(await within(unmapped, 'munmap'))).toBe(0);
      // what fails still says why, from the worker
      expect(await proc.munmap(to + 1n, PAGE)).toEqual(new Errno('EINVAL', 'munmap'));
      expect(await proc.mremap(to, PAGE, PAGE, 0x80, 0n)).toEqual(new Errno('EINVAL', 'mremap'));
    });
  });

  /** uffdRead until a message comes: again while an O_NONBLOCK userfaultfd has none (EAGAIN), as uffd-unit-tests' handler reads */
  const nextMessage = async (uffd: number): Promise<Ret<UffdMsg>> => {
    let message: Ret<UffdMsg>;
    do message = await within(proc.uffdRead(uffd), 'uffdRead');
    while (isErr(message) && message.name === 'EAGAIN');
    return message;
  };

  describe('fork, pipes and poll', () => {
    test('fork: the child is a Proc of its own, with a copy of the memory and descriptors, threads and forks of its own; exit() reaps it', async () => {
      const addr = await anon(PAGE);
      ok(await proc.write(addr, Uint8Array.of(0x41)));
      const [r, w] = ok(await proc.pipe2(O_CLOEXEC));
      const child = ok(await proc.fork());
      expect(child.pid).not.toBe(proc.pid);
      expect(await child.read(addr, 1)).toEqual({ ok: true, data: Uint8Array.of(0x41) });
      ok(await child.write(addr, Uint8Array.of(0x42)));
      expect(await proc.read(addr, 1)).toEqual({ ok: true, data: Uint8Array.of(0x41) });
      expect(ok(await child.writeFd(w, Uint8Array.of(7)))).toBe(1);
      expect(await proc.readFd(r, 4)).toEqual(Uint8Array.of(7));
      const thread = ok(await child.threadCreate());
      expect(thread.tid).toBeGreaterThan(0);
      expect(await thread.atomicAdd([addr], 1)).toEqual({ ok: true, data: new Uint8Array(0) });
      const grandchild = ok(await child.fork());
      expect(await grandchild.read(addr, 1)).toEqual({ ok: true, data: Uint8Array.of(0x43) });
      await child.exit();
      expect(existsSync(`/proc/${child.pid}`)).toBe(false);
      await expect(child.read(addr, 1)).rejects.toThrow(`proc ${child.pid} exited with status 0`);
      await grandchild.exit();
      expect(await proc.read(addr, 1)).toEqual({ ok: true, data: Uint8Array.of(0x41) });
    });

    test('fork with UFFD_FEATURE_EVENT_FORK: pending until a uffdRead takes the FORK message, made before it or after it', async (ctx) => {
      for (const flags of [O_CLOEXEC, O_CLOEXEC | O_NONBLOCK]) {
        const uffd = await proc.userfaultfd(flags);
        if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
        ok(await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_EVENT_FORK));
        const addr = await anon(PAGE);
        ok(await proc.uffdioRegister(uffd, addr, PAGE, UFFDIO_REGISTER_MODE_MISSING));
        let message: Ret<UffdMsg>;
        let forking: Promise<Ret<Proc>>;
        if (flags & O_NONBLOCK) {
          forking = proc.fork();
          message = await nextMessage(uffd);
        } else {
          const reading = proc.uffdRead(uffd);
          forking = proc.fork();
          message = await within(reading, 'uffdRead');
        }
        const child = ok(await within(forking, 'fork'));
        const fork = ok(message);
        if (fork.event !== 'FORK') throw new Error(`not a FORK message: ${JSON.stringify(fork)}`);
        // the child's missing fault is the child's userfaultfd's, resolved through it
        const load = child.read(addr, 1);
        expect(await nextMessage(fork.ufd)).toMatchObject({ event: 'PAGEFAULT', address: addr });
        expect(await proc.uffdioZeropage(fork.ufd, addr, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
        expect(await within(load, 'the child load')).toEqual({ ok: true, data: Uint8Array.of(0) });
        await child.exit();
        for (const fd of [uffd, fork.ufd]) ok(await proc.close(fd));
      }
    });

    test('pipe2, readFd, poll: a poll with nothing ready waits while the proc serves on; fcntl O_NONBLOCK; fallocate', async () => {
      const [r, w] = ok(await proc.pipe2(0));
      expect(await proc.poll([{ fd: r, events: POLLIN }, { fd: 12345, events: POLLIN }], 0)).toEqual([0, POLLNVAL]);
      const polling = proc.poll([{ fd: r, events: POLLIN }, { fd: w, events: POLLIN }], -1);
      expect(ok(await within(proc.writeFd(w, Uint8Array.of(1, 2)), 'a write while poll waits'))).toBe(2);
      expect(await within(polling, 'poll')).toEqual([POLLIN, 0]);
      expect(await proc.readFd(r, 8)).toEqual(Uint8Array.of(1, 2));
      const reading = proc.readFd(r, 8);
      expect(ok(await within(proc.writeFd(w, Uint8Array.of(3)), 'a write while readFd waits'))).toBe(1);
      expect(await within(reading, 'readFd')).toEqual(Uint8Array.of(3));
      const flags = ok(await proc.fcntl(r, F_GETFL, 0));
      expect(ok(await proc.fcntl(r, F_SETFL, flags | O_NONBLOCK))).toBe(0);
      expect(await proc.readFd(r, 1)).toEqual(new Errno('EAGAIN', 'read'));
      await expect(proc.fcntl(r, 5, 0)).rejects.toThrow('field "cmd": 5 is not a command whose argument is an int');
      const memfd = ok(await proc.memfdCreate('falloc', 0));
      expect(await proc.fallocate(memfd, 0, 0n, 2n * PAGE)).toBe(0);
      expect(await proc.fallocate(memfd, FALLOC_FL_PUNCH_HOLE, 0n, PAGE)).toEqual(new Errno('EOPNOTSUPP', 'fallocate'));
    });
  });

  describe('the rest of UFFDIO', () => {
    test('uffdioMove, uffdioPoison: their progress fields as the kernel wrote them', async (ctx) => {
      const uffd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK);
      if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
      ok(await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_MOVE | UFFD_FEATURE_POISON));
      const [dst, src] = [await anon(2n * PAGE), await anon(PAGE)];
      ok(await proc.write(src, Uint8Array.of(9)));
      ok(await proc.uffdioRegister(uffd, dst, 2n * PAGE, UFFDIO_REGISTER_MODE_MISSING));
      expect(await proc.uffdioMove(uffd, dst, src, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
      expect(await proc.read(dst, 1)).toEqual({ ok: true, data: Uint8Array.of(9) });
      expect(await proc.uffdioMove(uffd, dst + 1n, src, PAGE, 0n)).toEqual({ error: new Errno('EINVAL', 'ioctl'), progress: null });
      expect(await proc.uffdioPoison(uffd, dst + PAGE, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
      expect(await proc.read(dst + PAGE, 1)).toEqual({ ok: false, signal: 'SIGBUS', addr: dst + PAGE });
      expect(await proc.uffdioPoison(uffd, dst, PAGE, 0n)).toEqual({ error: new Errno('EEXIST', 'ioctl'), progress: -17n });
    });

    test('userfaultfdIocNew and uffdioContinue: a MINOR fault of shmem resolved from the page cache', async (ctx) => {
      const dev = await proc.open('/dev/userfaultfd', O_RDWR | O_CLOEXEC);
      if (isErr(dev)) return ctx.skip(`/dev/userfaultfd: ${dev}`);
      const uffd = ok(await proc.userfaultfdIocNew(dev, O_CLOEXEC));
      ok(await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_MINOR_SHMEM));
      const memfd = ok(await proc.memfdCreate('minor', 0));
      ok(await proc.ftruncate(memfd, PAGE));
      const share = async () => ok(await proc.mmap(0n, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0n));
      const [alias, addr] = [await share(), await share()];
      ok(await proc.write(alias, Uint8Array.of(0x33)));
      ok(await proc.uffdioRegister(uffd, addr, PAGE, UFFDIO_REGISTER_MODE_MINOR));
      const load = proc.read(addr, 1);
      expect(await within(proc.uffdRead(uffd), 'the minor fault')).toMatchObject({ event: 'PAGEFAULT', address: addr });
      expect(await proc.uffdioContinue(uffd, addr, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
      expect(await within(load, 'the load')).toEqual({ ok: true, data: Uint8Array.of(0x33) });
      expect(await proc.uffdioContinue(uffd, addr, PAGE, 0n)).toEqual({ error: new Errno('EEXIST', 'ioctl'), progress: -17n });
    });

    test("a thread's madvise waits in the kernel until its REMOVE message is read, while the proc serves on", async (ctx) => {
      const uffd = await proc.userfaultfd(O_CLOEXEC | O_NONBLOCK);
      if (isErr(uffd)) return ctx.skip(`userfaultfd: ${uffd}`);
      ok(await proc.uffdioApi(uffd, UFFD_API, UFFD_FEATURE_EVENT_REMOVE));
      const addr = await anon(PAGE);
      ok(await proc.uffdioRegister(uffd, addr, PAGE, UFFDIO_REGISTER_MODE_MISSING));
      expect(await proc.uffdioZeropage(uffd, addr, PAGE, 0n)).toEqual({ error: null, progress: PAGE });
      const thread = ok(await proc.threadCreate());
      const advised = thread.madvise(addr, PAGE, MADV_DONTNEED);
      expect(await nextMessage(uffd)).toEqual({ event: 'REMOVE', start: addr, end: addr + PAGE });
      expect(await within(advised, 'madvise')).toBe(0);
      expect(await thread.madvise(addr + 1n, PAGE, MADV_DONTNEED)).toEqual(new Errno('EINVAL', 'madvise'));
    });
  });

  test("a thread's calls after its process exited fail at once", async () => {
    const thread = ok(await proc.threadCreate());
    await proc.exit();
    await expect(thread.minflt()).rejects.toThrow(`agent: minflt: proc ${proc.pid} has exited`);
    await expect(thread.atomicAdd([0n], 1)).rejects.toThrow(`agent: atomic_add: proc ${proc.pid} has exited`);
    proc = await target.spawn(); // for the test's own exit
  });

  test('readFile is text; a 64-bit value with the top bit set survives the trip', async () => {
    expect(ok(await proc.readFile('/proc/self/status'))).toMatch(new RegExp(`^Pid:\\s+${proc.pid}$`, 'm'));
    // an address the kernel refuses is still sent whole: (u64)-4096 is not a user address
    expect(await proc.munmap(-PAGE, PAGE)).toEqual(new Errno('EINVAL', 'munmap'));
  });

  // Proc.repeat() (rounds.ts): a loop's rounds run in the proc give what running every round through
  // the harness gives, each round's calls made once, in order; the round whose replies differ is
  // judged by the loop's own code.
  describe('repeat()', () => {
    const byteAt = async (p: Proc, addr: bigint): Promise<number> => {
      const r = await p.read(addr, 1);
      if (!r.ok) throw new Error(`read faulted at 0x${addr.toString(16)}`);
      return r.data[0]!;
    };

    test('5,000 rounds of a store and a pagemap read: every store made once, the body run only for the first rounds', async () => {
      const addr = await anon(PAGE);
      let ran = 0;
      const i = await repeat(proc, 5000, async () => {
        ran++;
        const r = await proc.increment([addr]);
        return r.ok && !isErr(await proc.pagemap(addr, 1));
      });
      expect(i).toBe(5000);
      expect(await byteAt(proc, addr)).toBe(5000 % 256);
      // two rounds to see the loop steady, then rounds in the proc
      expect(ran).toBe(2);
    });

    test('a reply that changes mid-loop is judged by the loop: it breaks at that round, whose calls were each made once', async () => {
      // a page another process writes to while the loop runs: the loop reads it every round
      const file = `rounds-${process.pid}`;
      const other = await target.spawn();
      const map = async (p: Proc): Promise<bigint> => {
        const fd = ok(await p.open(file, O_RDWR | O_CREAT, 0o600));
        ok(await p.ftruncate(fd, PAGE));
        return ok(await p.mmap(0n, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n));
      };
      const [shared, theirs] = [await map(proc), await map(other)];
      await proc.unlink(file);
      const counter = await anon(PAGE);

      let seen = -1;
      const ended = repeat(proc, 1e9, async () => {
        await proc.increment([counter]);
        seen = await byteAt(proc, shared);
        return seen === 0;
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      await other.fill(theirs, 1n, 7);
      const i = await ended;
      expect(seen).toBe(7);
      expect(i).toBeGreaterThan(100);
      // rounds 0 to i each incremented the counter once, the round that broke included
      expect(await byteAt(proc, counter)).toBe((i + 1) % 256);
      await other.exit();
    });

    test('a round with a call the proc may not repeat (mmap) runs through the harness every time, with the same result', async () => {
      let ran = 0;
      const i = await repeat(proc, 50, async () => {
        ran++;
        const a = await anon(PAGE);
        return !isErr(await proc.munmap(a, PAGE));
      });
      expect([i, ran]).toEqual([50, 50]);
    });

    test('exit() while the agent runs its rounds (a suite the runner cut short): the loop stops with why, and the proc exits', async () => {
      const addr = await anon(PAGE);
      const stopped = expect(repeat(proc, 1e9, async () => !isErr(await proc.pagemap(addr, 1)))).rejects.toThrow(`agent: repeat: proc ${proc.pid} has exited`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await proc.exit();
      await stopped;
      proc = await target.spawn(); // for the test's own exit
    });

    test('a loop that breaks in its first rounds, or runs none', async () => {
      const addr = await anon(PAGE);
      expect(await repeat(proc, 10, async () => (await byteAt(proc, addr)) !== 0)).toBe(0);
      expect(await repeat(proc, 0, async () => true)).toBe(0);
    });
  });
});

/** Every op of the protocol, as the native agent's hello lists them. */
const ALL_OPS = Object.keys((JSON.parse(readFileSync(new URL('./protocol.schema.json', import.meta.url), 'utf8')) as { $defs: { ops: object } }).$defs.ops);

/** A scripted agent serving `ops`: answers hello and spawn, then whatever `answer` says to each request. */
function scripted(answer: (request: { id: number; op: string }) => string, ops = ALL_OPS): () => Promise<AgentLink> {
  return async () => {
    const stream: Duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
          const request = JSON.parse(line) as { id: number; op: string };
          const reply =
            request.op === 'hello'
              ? { id: request.id, ok: true, protocol: 1, release: '7.2.0', machine: 'aarch64', page_size: 4096, ops }
              : request.op === 'spawn'
                ? { id: request.id, ok: true, proc: 42 }
                : null;
          stream.push(`${reply ? JSON.stringify(reply) : answer(request)}\n`);
        }
        done();
      },
    });
    return { stream, close: async () => {}, kill: async () => {} };
  };
}

describe('an agent that breaks the protocol: the call rejects with an Error', () => {
  test('info comes from hello: arm64 for aarch64, no layout, the release', async () => {
    const target = await agentTarget({ name: 'fake', start: scripted(() => '') });
    expect(await target.info()).toEqual({ name: 'fake', arch: 'arm64', layout: null, kernel: '7.2.0', pageSize: 4096 });
    expect(archOf('x86_64')).toBe('x86_64');
    await target.close();
  });

  test.each([
    ['an address that is not hex', '"ok":true,"addr":"7f00"', 'agent: mmap reply: "addr" is not a 64-bit hex string'],
    ['an address of 17 digits', '"ok":true,"addr":"0x10000000000000000"', '"addr" is not a 64-bit hex string'],
    ['an errno uapi/linux.ts does not name', '"ok":false,"errno":"ERRNO_200","call":"mmap"', 'agent: mmap failed with ERRNO_200, an errno uapi/linux.ts does not name'],
  ])('%s', async (_what, body, message) => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    const proc = await target.spawn();
    await expect(proc.mmap(0n, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n)).rejects.toThrow(message);
    await target.close();
  });

  test.each([
    ['a signal it does not know', '"ok":true,"signal":"SIGILL","addr":"0x0"', 'agent: read reply: "signal" is not SIGSEGV or SIGBUS'],
    ['data that is not hex', '"ok":true,"data":"zz"', 'agent: read reply: "data" is not bytes in hex'],
    ['a run without its end', '"ok":true,"data":"01*0010"', 'agent: read reply: "data" is not bytes in hex'],
    ['a run of no bytes', '"ok":true,"data":"*000;"', 'agent: read reply: "data" is not bytes in hex'],
    ['no "ok"', '"data":"00"', 'agent: read: reply without "ok"'],
  ])('a read with %s', async (_what, body, message) => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    const proc = await target.spawn();
    await expect(proc.read(0n, 1)).rejects.toThrow(message);
    await target.close();
  });

  test('a read whose bytes come with runs ("*XXcount;"): each run as that many of its byte, in place', async () => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},"ok":true,"data":"01*ab5;02*0012;0304"}`) });
    const proc = await target.spawn();
    expect(await proc.read(0n, 21)).toEqual({ ok: true, data: Uint8Array.from([1, ...Array(5).fill(0xab), 2, ...Array(12).fill(0), 3, 4]) });
    await target.close();
  });

  test.each([
    ['a list of objects', '"ok":true,"ret":0,"walk_end":"0x1000","regions":[]'],
    ['a region cut short', '"ok":true,"ret":1,"walk_end":"0x1000","regions":"0000"'],
    ['upper-case hex', `"ok":true,"ret":1,"walk_end":"0x1000","regions":"${'A'.repeat(48)}"`],
  ])('pagemapScan with regions as %s', async (_what, body) => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    const proc = await target.spawn();
    const arg = { start: 0n, end: PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 8, returnMask: 8, vecLen: 1 };
    await expect(proc.pagemapScan(arg)).rejects.toThrow('agent: pagemap_scan reply: "regions" is not regions in hex, 48 digits each');
    await target.close();
  });

  test.each([
    ['a type it does not know', '"ok":true,"entries":[{"name":"61","type":"fifo"}]', 'agent: list_dir reply: "entries" is not a list of entries, each with its name and type'],
    ['a name that is not hex', '"ok":true,"entries":[{"name":"a","type":"file"}]', 'agent: list_dir reply: "name" is not bytes in hex'],
    ['no list', '"ok":true', 'agent: list_dir reply: "entries" is not a list'],
  ])('listDir with %s', async (_what, body, message) => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    const proc = await target.spawn();
    await expect(proc.listDir('/')).rejects.toThrow(message);
    await target.close();
  });

  test.each([
    ['fork', '"ok":true', (p: Proc) => p.fork(), 'agent: fork reply: "proc" is not an integer'],
    ['pipe2', '"ok":true,"fds":[3]', (p: Proc) => p.pipe2(0), 'agent: pipe2 reply: "fds" is not a list of 2 integers'],
    ['poll', '"ok":true,"revents":[1,1]', (p: Proc) => p.poll([{ fd: 3, events: 1 }], 0), 'agent: poll reply: "revents" is not a list of 1 integers'],
    ['readFd', '"ok":true,"data":"0"', (p: Proc) => p.readFd(3, 1), 'agent: read_fd reply: "data" is not bytes in hex'],
    ['uffdioMove', '"ok":true', (p: Proc) => p.uffdioMove(3, 0n, 0n, PAGE, 0n), 'agent: uffdio_move reply: "move" is not a 64-bit hex string'],
  ])('%s with a reply that breaks its shape', async (_op, body, call, message) => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    await expect(call(await target.spawn())).rejects.toThrow(message);
    await target.close();
  });

  test('uffdRead: a FORK names the new descriptor', async () => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},"ok":true,"event":"FORK","ufd":7}`) });
    expect(await (await target.spawn()).uffdRead(3)).toEqual({ event: 'FORK', ufd: 7 });
    await target.close();
  });

  test.each([
    ['an event uapi/linux.ts does not name', '"ok":true,"event":"EVENT_0x17"', 'agent: uffd_read reply: "event" is not an event uapi/linux.ts names (UFFD_EVENT_*)'],
    ['a fault without its address', '"ok":true,"event":"PAGEFAULT","flags":"0x0","ptid":0', 'agent: uffd_read reply: "address" is not a 64-bit hex string'],
  ])('uffdRead with %s', async (_what, body, message) => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    await expect((await target.spawn()).uffdRead(3)).rejects.toThrow(message);
    await target.close();
  });

  test('uffdioCopy: a success without "copy" is refused; a failure without it is one the kernel never wrote', async () => {
    const refused = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},"ok":true}`) });
    await expect((await refused.spawn()).uffdioCopy(3, 0n, 0n, PAGE, 0n)).rejects.toThrow('agent: uffdio_copy reply: "copy" is not a 64-bit hex string');
    await refused.close();
    const early = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},"ok":false,"errno":"EINVAL","call":"ioctl"}`) });
    expect(await (await early.spawn()).uffdioCopy(3, 1n, 0n, PAGE, 0n)).toEqual({ error: expect.objectContaining({ name: 'EINVAL' }), progress: null });
    await early.close();
  });

  test('a thread: its calls name it; a minflt that is not hex is refused', async () => {
    const requests: Record<string, unknown>[] = [];
    const target = await agentTarget({
      name: 'fake',
      start: scripted((request) => {
        requests.push(request);
        return request.op === 'thread_create' ? `{"id":${request.id},"ok":true,"thread":43}` : `{"id":${request.id},"ok":true,"minflt":12}`;
      }),
    });
    const proc = await target.spawn();
    const thread = await proc.threadCreate();
    if (isErr(thread)) throw new Error(String(thread));
    await expect(thread.minflt()).rejects.toThrow('agent: minflt reply: "minflt" is not a 64-bit hex string');
    expect(requests.map(({ id: _, ...r }) => r)).toEqual([
      { op: 'thread_create', proc: 42 },
      { op: 'minflt', proc: 42, thread: 43 },
    ]);
    await target.close();
  });

  test.each([
    ['a level out of order', '{"level":"pud","value":"0x3","phys":"0x0","folded":false}'],
    ['a level without "folded"', '{"level":"pgd","value":"0x3","phys":"0x0"}'],
  ])('descriptors with %s', async (_what, level) => {
    const body = `"ok":true,"levels":[${level}],"vm_flags":null,"page_prot":null`;
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    const proc = await target.spawn();
    await expect(proc.descriptors?.(0n)).rejects.toThrow('agent: descriptors reply: "levels" is not a list of levels from pgd down');
    await target.close();
  });

  test('an agent that cannot run: opening the target fails, saying why', async () => {
    await expect(agentTarget({ name: 'fake', start: async () => startAgentProcess('/nonexistent/mmconform-agent', []) })).rejects.toThrow(
      'agent: connection closed: the agent could not run: spawn /nonexistent/mmconform-agent ENOENT',
    );
  });

  test('a hello in another protocol version is refused', async () => {
    const start = async (): Promise<AgentLink> => {
      const stream: Duplex = new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, done) {
          const { id } = JSON.parse(chunk.toString('utf8')) as { id: number };
          stream.push(`{"id":${id},"ok":true,"protocol":2}\n`);
          done();
        },
      });
      return { stream, close: async () => {}, kill: async () => {} };
    };
    await expect(agentTarget({ name: 'fake', start })).rejects.toThrow('agent speaks protocol 2; this harness speaks 1');
  });
});

describe("the ops an agent's hello lists", () => {
  const few = ['hello', 'spawn', 'exit', 'mmap', 'munmap'];
  const answerMmap = ({ id, op }: { id: number; op: string }) => JSON.stringify(op === 'mmap' ? { id, ok: true, addr: '0x7f0000000000' } : { id, ok: true });

  test('a hello without spawn or exit is refused, naming them', async () => {
    await expect(agentTarget({ name: 'fake', start: scripted(answerMmap, ['hello', 'mmap']) })).rejects.toThrow('agent: hello: "ops" lacks "spawn", "exit"');
  });

  test('a call of an op not listed rejects without being sent; an optional call is absent', async () => {
    const sent: string[] = [];
    const target = await agentTarget({ name: 'fake', start: scripted((r) => (sent.push(r.op), answerMmap(r)), few) });
    const proc = await target.spawn();
    await expect(proc.mremap(0x1000n, 0x1000n, 0x2000n, 0)).rejects.toThrow('agent: does not serve "mremap" (its hello lists the ops it serves)');
    expect(proc.pageReadings).toBeUndefined();
    expect(proc.descriptors).toBeUndefined();
    expect(proc.checkEach).toBeUndefined();
    expect(sent).not.toContain('mremap');
    await target.close();
  });

  test("the capabilities an agent has no ops for are absent, as on a kernel without them", async () => {
    const target = await agentTarget({ name: 'fake', start: scripted(answerMmap, few) });
    expect(await target.capabilities()).toEqual({ softDirty: false, uffdWp: false, pagemapScan: false, thp: false, hugetlb: false, swap: false, introspect: false });
    await target.close();
  });
});

describe('descriptors: the walk as the Target API gives it', () => {
  test('descriptorsOf: DESCRIPTORS_BATCH addresses a request, the requests sent together; each walk, or the errno its read failed with, in order', async () => {
    const requests: { id: number; addrs: string[] }[] = [];
    const answer = (request: { id: number; op: string }): string => {
      const { id, addrs } = request as unknown as { id: number; addrs: string[] };
      requests.push({ id, addrs });
      if (requests.length === 1) return ''; // answered once both are in
      const walk = (a: string) =>
        a === '0xffffffffffff0000'
          ? { ok: false, errno: 'EINVAL', call: 'ioctl' }
          : { ok: true, levels: [{ level: 'pgd', value: a, phys: '0x0', folded: false }], vm_flags: null, page_prot: null };
      return requests.map((r) => JSON.stringify({ id: r.id, ok: true, walks: r.addrs.map(walk) })).join('\n');
    };
    const target = await agentTarget({ name: 'fake', start: scripted(answer) });
    const proc = await target.spawn();
    const addrs = [...Array.from({ length: DESCRIPTORS_BATCH }, (_, i) => BigInt(i + 1) << 12n), 0xffffffffffff0000n];
    const walks = await proc.descriptorsOf!(addrs);
    expect(requests.map((r) => r.addrs.length)).toEqual([DESCRIPTORS_BATCH, 1]);
    expect(walks.length).toBe(addrs.length);
    expect(walks[1]).toEqual({ entries: [{ level: 'pgd', value: 0x2000n, phys: 0n }], vmFlags: null, pageProt: null });
    expect(walks.at(-1)).toEqual(new Errno('EINVAL', 'ioctl'));
    await target.close();
  });

  test('descriptorsOf: a reply with another number of walks than addresses asked is refused', async () => {
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => JSON.stringify({ id, ok: true, walks: [] })) });
    const proc = await target.spawn();
    await expect(proc.descriptorsOf!([0x1000n])).rejects.toThrow('agent: descriptors_of reply: "walks" is not a list of 1 walks');
    await target.close();
  });

  const level = (name: string, value: string, phys: string, folded = false): string => JSON.stringify({ level: name, value, phys, folded });

  test('a folded level is merged into the real one above it, with the entry read where its pXd_offset() points (arm64: the real top-level entry)', async () => {
    // as arm64 with a 48-bit VA reads it: pgd_offset() points at entry 0 of the table, p4d_offset() at the address's own
    const levels = [
      level('pgd', '0x800000042e01003', '0x42e02000'),
      level('p4d', '0x800000042f0c003', '0x42e02ff8', true),
      level('pud', '0x800000042f09003', '0x42f0cff0'),
      level('pmd', '0x800000042f08003', '0x42f09c40'),
      level('pte', '0xe8000041cb5f43', '0x42f082d0'),
    ];
    const body = `"ok":true,"levels":[${levels.join(',')}],"vm_flags":"0x100073","page_prot":"0x60000000000fc3"`;
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    const proc = await target.spawn();
    expect(await proc.descriptors?.(0xffffa0000000n)).toEqual({
      entries: [
        { level: 'pgd', value: 0x800000042f0c003n, phys: 0x42e02ff8n },
        { level: 'pud', value: 0x800000042f09003n, phys: 0x42f0cff0n },
        { level: 'pmd', value: 0x800000042f08003n, phys: 0x42f09c40n },
        { level: 'pte', value: 0xe8000041cb5f43n, phys: 0x42f082d0n },
      ],
      vmFlags: 0x100073n,
      pageProt: 0x60000000000fc3n,
    });
    await target.close();
  });

  test('a walk that ends early lists what it read; outside any VMA, no vm_flags or page_prot', async () => {
    const levels = [level('pgd', '0x4978067', '0x4a8a000'), level('p4d', '0x4978067', '0x4a8a000', true), level('pud', '0x0', '0x4978000')];
    const body = `"ok":true,"levels":[${levels.join(',')}],"vm_flags":null,"page_prot":null`;
    const target = await agentTarget({ name: 'fake', start: scripted(({ id }) => `{"id":${id},${body}}`) });
    const proc = await target.spawn();
    expect(await proc.descriptors?.(0x1000n)).toEqual({
      entries: [
        { level: 'pgd', value: 0x4978067n, phys: 0x4a8a000n },
        { level: 'pud', value: 0n, phys: 0x4978000n },
      ],
      vmFlags: null,
      pageProt: null,
    });
    await target.close();
  });
});
