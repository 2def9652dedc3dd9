import { describe, expect, test } from 'vitest';
import * as U from '../../uapi/linux.ts';
import { referenceTarget } from '../targets/reference.ts';
import type { UffdMsg } from '../target.ts';
import { fakeProc } from '../testing/fake-target.ts';
import { pagemapEntry, runs } from './format.ts';
import { CallNames } from './names.ts';
import { CallRecorder } from './record.ts';
import { compareCallLogs } from './compare.ts';
import { namedDifference } from './known-differences.ts';

describe('call names', () => {
  test('addresses: slots by offset, chosen areas in the order chosen, the rest by page offset only', () => {
    const names = new CallNames([[0x1000_0000n, 0x1100_0000n]]);
    expect(names.addr(0x1000_2000n)).toBe('S0+0x2000');
    expect(names.chose(0x7fff_0000_0000n, 0x3000n, true)).toBe('M0+0x0');
    expect(names.addr(0x7fff_0000_2fffn)).toBe('M0+0x2fff');
    expect(names.end(0x7fff_0000_3000n)).toBe('M0+0x3000');
    expect(names.addr(0x7fff_0000_3008n)).toBe('?+0x8');
    expect(names.chose(0x7fff_0000_1000n, 0x1000n, false)).toBe('M0+0x1000');
    expect(names.chose(0x7fff_0000_1000n, 0x1000n, true)).toBe('M1+0x0');
    expect(names.chose(0x1000_3000n, 0x1000n, true)).toBe('S0+0x3000');
  });

  test('descriptors: by the order opened, a closed one no longer named', () => {
    const names = new CallNames();
    expect(names.openedFd(7)).toBe('fd0');
    expect(names.openedFd(3)).toBe('fd1');
    names.closedFd(7);
    expect(names.fd(7)).toBe('fd?');
    expect(names.openedFd(7)).toBe('fd2');
  });

  test('pagemap entries: flags as letters, frame numbers and swap slots masked; runs counted', () => {
    expect(pagemapEntry(U.PM_PRESENT | U.PM_MMAP_EXCLUSIVE | 0x1234n)).toBe('PX');
    expect(pagemapEntry(U.PM_SWAP | U.PM_UFFD_WP | 0x31n)).toBe('SW');
    expect(pagemapEntry(0n)).toBe('-');
    expect(runs(['a', 'a', 'b', 'a'])).toBe('a x2, b, a');
  });
});

describe('a recorded process', () => {
  test('each call a line of C, addresses and descriptors named', async () => {
    const target = await referenceTarget('');
    const recorder = new CallRecorder();
    const proc = recorder.wrap(await target.spawn(), 'test');
    const fd = await proc.memfdCreate('x', 0);
    const addr = await proc.mmap(0n, 0x2000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
    if (U.isErr(addr) || U.isErr(fd)) throw new Error('setup');
    await proc.write(addr + 0x1000n, new Uint8Array([1, 1, 2]));
    await proc.read(addr, 2);
    await proc.pagemap(addr, 2);
    await proc.madvise(addr, 0x1000n, 1000);
    await proc.read(addr - 0x1000n, 1);
    expect(recorder.lines.map((l) => `${l.call} = ${l.outcome}`)).toEqual([
      'memfd_create("x", 0x0) = fd0',
      'mmap(0, 0x2000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x0) = M0+0x0',
      'store(M0+0x1000, [0x1 x2, 0x2]) = ok',
      'load(M0+0x0, 2) = ok [0x0 x2]',
      'pagemap(M0+0x0, 2) = P, PX',
      'madvise(M0+0x0, 0x1000, 1000) = -1 EINVAL',
      'load(?+0x0, 1) = SIGSEGV at ?+0x0',
    ]);
  });

  test('memset and increment: a line each; a long address list as its first two, how many more, and its last', async () => {
    const recorder = new CallRecorder();
    const proc = recorder.wrap(await (await referenceTarget('')).spawn(), 'test');
    const addr = await proc.mmap(0n, 0x2000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
    if (U.isErr(addr)) throw new Error('setup');
    await proc.fill(addr + 0x10n, 0x1000n, 0xab);
    await proc.increment([addr, addr + 0x1001n]);
    await proc.increment(Array.from({ length: 5000 }, (_, i) => addr + BigInt(i)));
    await proc.increment([addr + 0x1fffn, addr + 0x2000n, addr]);
    await proc.fill(addr + 0x1ff0n, 0x20n, 0);
    expect(recorder.lines.slice(1).map((l) => `${l.call} = ${l.outcome}`)).toEqual([
      'memset(M0+0x10, 0xab, 0x1000) = ok',
      'increment([M0+0x0, M0+0x1001]) = ok',
      'increment([M0+0x0, M0+0x1, ... 4997 more, M0+0x1387]) = ok',
      'increment([M0+0x1fff, ?+0x0, M0+0x0]) = SIGSEGV at ?+0x0',
      'memset(M0+0x1ff0, 0x0, 0x20) = SIGSEGV at ?+0x0',
    ]);
  });

  test('PAGEMAP_SCAN: u64 flags and masks as the kernel sees them (a C int -1 is ~0), a NULL vec named', async () => {
    const recorder = new CallRecorder();
    const proc = recorder.wrap(await (await referenceTarget('')).spawn(), 'test');
    const addr = await proc.mmap(0n, 0x2000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
    if (U.isErr(addr)) throw new Error('setup');
    const arg = { start: addr, end: addr + 0x2000n, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0, returnMask: U.PAGE_IS_WRITTEN, vecLen: 500 };
    await proc.pagemapScan({ ...arg, nullVec: true });
    await proc.pagemapScan({ ...arg, flags: -1, categoryMask: 0xfff, maxPages: (1n << 64n) - 1n, vecLen: 0, nullVec: true });
    expect(recorder.lines.slice(1).map((l) => `${l.call} = ${l.outcome}`)).toEqual([
      'PAGEMAP_SCAN(M0+0x0..M0+0x2000, flags 0, inverted 0, mask 0, anyof 0, return WRITTEN, max_pages 0, vec_len 500, NULL vec) = -1 EINVAL',
      'PAGEMAP_SCAN(M0+0x0..M0+0x2000, flags WP_MATCHING|CHECK_WPASYNC|0xfffffffffffffffc, inverted 0, mask WPALLOWED|WRITTEN|FILE|PRESENT|SWAPPED|PFNZERO|HUGE|SOFT_DIRTY|GUARD|0xe00, anyof 0, return WRITTEN, max_pages 18446744073709551615, vec_len 0, NULL vec) = -1 EINVAL',
    ]);
  });
});

describe('a recorded userfaultfd', () => {
  test('UFFDIO_COPY and UFFDIO_ZEROPAGE with their progress, failed or not; UFFDIO_WAKE; each message read as its event, a tid masked, a forked descriptor named', async () => {
    const recorder = new CallRecorder();
    const at = 0x7f0000000000n;
    const messages: UffdMsg[] = [
      { event: 'PAGEFAULT', flags: U.UFFD_PAGEFAULT_FLAG_WRITE, address: at + 0x1000n, ptid: 4242 },
      { event: 'PAGEFAULT', flags: 0n, address: at, ptid: 0 },
      { event: 'FORK', ufd: 9 },
      { event: 'REMAP', from: at, to: at + 0x1000n, len: 0x1000n },
      { event: 'UNMAP', start: at, end: at + 0x2000n },
    ];
    const proc = recorder.wrap(
      fakeProc({
        userfaultfd: async () => 5,
        uffdioCopy: async () => ({ error: null, progress: 0x1000n }),
        uffdioZeropage: async () => ({ error: new U.Errno('EEXIST', 'ioctl'), progress: -17n }),
        uffdioWake: async () => 0,
        uffdRead: async () => messages.shift() ?? new U.Errno('EAGAIN', 'read'),
      }),
      'test',
    );
    const fd = await proc.userfaultfd(0);
    const addr = await proc.mmap(0n, 0x2000n, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
    if (U.isErr(addr) || U.isErr(fd) || addr !== at) throw new Error('setup');
    await proc.uffdioCopy(fd, addr + 0x1000n, addr, 0x1000n, U.UFFDIO_COPY_MODE_DONTWAKE);
    await proc.uffdioZeropage(fd, addr, 0x1000n, 0n);
    await proc.uffdioWake(fd, addr, 0x2000n);
    for (let i = 0; i < 6; i++) await proc.uffdRead(fd);
    expect(recorder.lines.slice(2).map((l) => `${l.call} = ${l.outcome}`)).toEqual([
      'UFFDIO_COPY(fd0, M0+0x1000, M0+0x0, 0x1000, 0x1) = copy 4096',
      'UFFDIO_ZEROPAGE(fd0, M0+0x0, 0x1000, 0x0) = -1 EEXIST, zeropage -17',
      'UFFDIO_WAKE(fd0, M0+0x0, 0x2000) = 0',
      'read(fd0, struct uffd_msg) = PAGEFAULT M0+0x1000, flags 0x1, ptid set',
      'read(fd0, struct uffd_msg) = PAGEFAULT M0+0x0, flags 0x0',
      'read(fd0, struct uffd_msg) = FORK fd1',
      'read(fd0, struct uffd_msg) = REMAP M0+0x0 -> M0+0x1000, 0x1000',
      'read(fd0, struct uffd_msg) = UNMAP M0+0x0..M0+0x2000',
      'read(fd0, struct uffd_msg) = -1 EAGAIN',
    ]);
  });
});

describe('named differences', () => {
  const arm64 = { name: 'a', arch: 'arm64', layout: 'v6.10', kernel: '7.2', pageSize: 4096 };
  const x86 = { ...arm64, name: 'b', arch: 'x86_64', layout: null };
  const line = (outcome: string) => ({ suite: 's', resultsBefore: 0, call: 'read("/proc/self/smaps")', outcome });
  test('across architectures, the lines each lets differ, and nothing else', () => {
    const a = line('S0+0x0-S0+0x1000 rw-p 00000000\nRss: 4 kB\nReferenced: 0 kB\nVmFlags: rd wr ');
    const b = line('S0+0x0-S0+0x1000 rw-p 00000000\nRss: 4 kB\nReferenced: 4 kB\nProtectionKey: 0\nVmFlags: rd wr ');
    expect(namedDifference(a, b, arm64, x86)).toBe('x86-protection-key+arm64-old-prefaulted-pte');
    expect(namedDifference(a, b, arm64, { ...arm64, name: 'c' })).toBeNull();
    expect(namedDifference(a, line(b.outcome.replace('Rss: 4', 'Rss: 8')), arm64, x86)).toBeNull();
  });

  test("across architectures, the hstates each lists, and the sysfs files of those the other lacks", () => {
    const call = (c: string, outcome = '0') => ({ suite: 's', resultsBefore: 0, call: c, outcome });
    const dir = 'read("/sys/kernel/mm/hugepages/hugepages-';
    const a = [
      call('readdir("/sys/kernel/mm/hugepages/")', 'hugepages-2048kB/ hugepages-32768kB/ hugepages-64kB/ hugepages-1048576kB/'),
      call(`${dir}2048kB/nr_hugepages")`),
      call(`${dir}32768kB/nr_hugepages")`),
      call(`${dir}64kB/nr_hugepages")`),
      call(`${dir}1048576kB/nr_hugepages")`),
      call('mmap(0, 0x1000, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x0)', 'M0+0x0'),
    ];
    const b = [a[0]!, a[1]!, a[4]!, a[5]!].map((l, i) => (i === 0 ? { ...l, outcome: 'hugepages-2048kB/ hugepages-1048576kB/' } : l));
    const got = compareCallLogs(a, b, [arm64, x86]);
    expect(got.differences).toEqual([]);
    expect(got.named.get('hstates')).toBe(5);
    expect(compareCallLogs(a, b, [arm64, { ...arm64, name: 'c' }]).differences).toHaveLength(1);
  });
});
