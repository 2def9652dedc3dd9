import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { AGENT } from '../harness/testing/agent.ts';
import { linuxHostTarget } from '../harness/targets/linux-host.ts';
import { type Call, SLOTS, callSequence } from '../suites/fuzz/calls.ts';
import { runSequence } from '../suites/fuzz/sequence.ts';
import { cReproducer } from './c-reproducer.ts';
import * as U from '../uapi/linux.ts';

const run = promisify(execFile);

describe('the C reproducer', () => {
  // The C program and the agent make the same calls on this kernel: the same log, line for line.
  test('prints on the host what the call log of the same sequence on linux-host holds', async (ctx) => {
    if (AGENT.path === null) return ctx.skip(AGENT.skip);
    const dir = await mkdtemp(join(tmpdir(), 'mmconform-repro-'));
    const host = await linuxHostTarget();
    // pagemap_ioctl.c's argument shapes, which a sample of 8 may not draw: a NULL vec, ~0 flags and masks, ULONG_MAX max_pages
    const scan = { op: 'scan', at: { base: 0, page: 0 }, pages: 4, flags: 0, inverted: 0, mask: 0, anyof: 0, ret: 2, maxPages: 0, vecLen: 3, nullVec: false } as const;
    const edges: Call[] = [
      { op: 'mmap', at: { base: 0, page: 0 }, place: 'fixed', pages: 4, prot: 3, shared: false, backing: 'anon', populate: false, noreserve: false, offPages: 0 },
      { ...scan, nullVec: true },
      { ...scan, nullVec: true, vecLen: 0 },
      { ...scan, flags: -1 },
      { ...scan, flags: 0xff | 3, mask: 0xfff },
      { ...scan, inverted: -1, ret: 0x1000 },
      { ...scan, anyof: 2 ** 40 },
      { ...scan, maxPages: -1 },
      { ...scan, pages: 0, nullVec: true },
    ];
    // the batched memory calls, a thread's add, a SysV segment and write(2), with their faults; move_pages(2)
    const batched: Call[] = [
      { op: 'mmap', at: { base: 1, page: 0 }, place: 'fixed', pages: 8, prot: 3, shared: false, backing: 'anon', populate: false, noreserve: false, offPages: 0 },
      { op: 'mprotect', at: { base: 1, page: 4 }, pages: 1, prot: 1 },
      { op: 'fill', at: { base: 1, page: 1 }, pages: 2 },
      { op: 'fill', at: { base: 1, page: 2 }, pages: 6 },
      { op: 'increment', at: { base: 1, page: 0 }, pages: 4, step: 1 },
      { op: 'increment', at: { base: 1, page: 2 }, pages: 6, step: 2 },
      { op: 'atomic_add', at: { base: 1, page: 5 }, thread: 1 },
      { op: 'atomic_add', at: { base: 1, page: 4 }, thread: 0 },
      { op: 'shm', pages: 3, hugetlb: false },
      { op: 'store', at: { base: SLOTS, page: 1 }, offset: 0, len: 8 },
      { op: 'write_fd', len: 4096 * 3 + 5 },
      { op: 'mmap', at: { base: 2, page: 0 }, place: 'fixed', pages: 4, prot: 3, shared: true, backing: 'memfd', populate: false, noreserve: false, offPages: 0 },
      { op: 'load', at: { base: 2, page: 3 }, offset: 4095, len: 1 },
      // move_pages(2): where each page is, a move (to node 0, the one every kernel has) and the errors
      { op: 'move_pages', at: { base: 1, page: 6 }, pages: 4, node: 0, flags: U.MPOL_MF_MOVE, stat: true },
      { op: 'move_pages', at: { base: 1, page: 0 }, pages: 2, node: 0, flags: U.MPOL_MF_MOVE_ALL, stat: false },
      { op: 'move_pages', at: { base: 1, page: 0 }, pages: 1, node: 2, flags: 0, stat: false },
      { op: 'move_pages', at: { base: 1, page: 0 }, pages: 1, node: 0, flags: 1, stat: false },
      // fork(2): the child's smaps and pagemap, written by the child
      { op: 'fork' },
    ];
    try {
      // a userfaultfd's reads and wakes, which an asynchronous context answers with errors alone, and after its close
      const uffd: Call[] = [
        edges[0]!,
        { op: 'userfaultfd', flags: U.O_CLOEXEC | U.O_NONBLOCK },
        { op: 'uffd_read' },
        { op: 'uffdio_api', features: U.UFFD_FEATURE_WP_ASYNC },
        { op: 'uffdio_register', at: { base: 0, page: 0 }, pages: 4 },
        { op: 'uffdio_wake', at: { base: 0, page: 1 }, pages: 2 },
        { op: 'uffdio_wake', at: { base: 0, page: 1 }, pages: 0 },
        { op: 'fork' },
        { op: 'uffd_read' },
        { op: 'close_uffd' },
        { op: 'uffd_read' },
        { op: 'uffdio_wake', at: { base: 0, page: 1 }, pages: 2 },
      ];
      // faults that raise SIGBUS, and the ioctls that fill, map, move and poison pages without one waiting
      const M = (slot: number, shared: boolean, backing: 'anon' | 'memfd') =>
        ({ op: 'mmap', at: { base: slot, page: 0 }, place: 'fixed', pages: 8, prot: 3, shared, backing, populate: false, noreserve: false, offPages: 0 }) as const;
      const sync: Call[] = [
        M(0, false, 'anon'),
        M(1, false, 'anon'),
        M(2, true, 'memfd'),
        M(3, true, 'memfd'),
        { op: 'fill', at: { base: 1, page: 0 }, pages: 4 },
        { op: 'fill', at: { base: 3, page: 0 }, pages: 2 },
        { op: 'userfaultfd', flags: U.O_CLOEXEC | U.O_NONBLOCK },
        { op: 'uffdio_api', features: U.UFFD_FEATURE_SIGBUS | U.UFFD_FEATURE_PAGEFAULT_FLAG_WP },
        { op: 'uffdio_register', at: { base: 0, page: 0 }, pages: 8, mode: Number(U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP) },
        { op: 'uffdio_register', at: { base: 2, page: 0 }, pages: 8, mode: Number(U.UFFDIO_REGISTER_MODE_MINOR) },
        { op: 'load', at: { base: 0, page: 0 }, offset: 0, len: 8 },
        // not made once a range is registered for uffd-wp (on a marker the kernel restarts it for ever)
        { op: 'madvise', at: { base: 0, page: 0 }, pages: 1, advice: U.MADV_GUARD_INSTALL },
        { op: 'uffdio_copy', at: { base: 0, page: 0 }, from: { base: 1, page: 0 }, pages: 2, mode: Number(U.UFFDIO_COPY_MODE_WP) },
        { op: 'store', at: { base: 0, page: 1 }, offset: 0, len: 8 },
        { op: 'uffdio_copy', at: { base: 0, page: 1 }, from: { base: 1, page: 0 }, pages: 2, mode: 0 },
        { op: 'uffdio_zeropage', at: { base: 0, page: 2 }, pages: 2, mode: 0 },
        { op: 'uffdio_poison', at: { base: 0, page: 4 }, pages: 1 },
        { op: 'load', at: { base: 0, page: 4 }, offset: 0, len: 1 },
        { op: 'uffdio_move', at: { base: 0, page: 6 }, from: { base: 1, page: 2 }, pages: 2, mode: 0 },
        { op: 'uffdio_move', at: { base: 0, page: 5 }, from: { base: 1, page: 5 }, pages: 1, mode: Number(U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES) },
        { op: 'load', at: { base: 2, page: 0 }, offset: 0, len: 1 },
        { op: 'uffdio_continue', at: { base: 2, page: 0 }, pages: 2, mode: Number(U.UFFDIO_CONTINUE_MODE_WP) },
        { op: 'uffdio_continue', at: { base: 2, page: 2 }, pages: 2, mode: 0 },
        { op: 'load', at: { base: 2, page: 1 }, offset: 0, len: 8 },
        { op: 'uffdio_copy', at: { base: 3, page: 0 }, from: { base: 1, page: 0 }, pages: 1, mode: 0 },
      ];
      for (const [i, calls] of [edges, batched, uffd, sync, ...fc.sample(callSequence({ hugetlb: false, uffdWp: true, sameArch: true }), { seed: 11, numRuns: 8 })].entries()) {
        const src = join(dir, `r${i}.c`);
        await writeFile(src, cReproducer({ calls, target: 'reference', against: 'linux-host', seed: 11, difference: { line: 0, target: null, against: null } }));
        await run('cc', ['-O0', '-Wall', '-Werror', '-o', join(dir, `r${i}`), src]);
        const { stdout } = await run(join(dir, `r${i}`), [], { maxBuffer: 64 << 20 });
        const log = await runSequence(host, calls);
        expect(stdout).toBe(log.map((l) => `${l.call} = ${l.outcome}\n`).join(''));
      }
    } finally {
      await host.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
