// vm_util.c and hugepage_settings.c as ported: smaps parsing on a real
// smaps file (x86_64, Linux 6.18, with an 8 MiB THP-backed mapping), the
// PAGEMAP_SCAN cross-check and its failure paths, and the sysfs readers.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { Errno, PAGE_IS_SOFT_DIRTY, PAGE_IS_SWAPPED, PM_PRESENT, PM_SOFT_DIRTY, PM_SWAP } from '../uapi/linux.ts';
import { thpIsEnabled } from './hugepage-settings.ts';
import { Ksft } from './ksft.ts';
import type { Proc } from './target.ts';
import { fakeProc, fakeSmaps } from './testing/fake-target.ts';
import {
  checkHugeAnon,
  checkHugeFile,
  checkHugeShmem,
  checkVmflag,
  clearSoftdirty,
  pagemapGetPfn,
  pagemapIsPopulated,
  pagemapIsSoftdirty,
  pagemapIsSwapped,
  readEntriesAhead,
  readPmdPagesize,
  softdirtySupported,
} from './vm-util.ts';
import type { Selftest } from './suite.ts';

const HOST_SMAPS = readFileSync(new URL('fixtures/smaps-6.18-x86_64-thp.txt', import.meta.url), 'utf8');
const THP_VMA = 0x7f055d800000n; // 8192 kB, AnonHugePages 8192 kB, VmFlags rd wr mr mw me ac hg
const HEAP = 0x55c3727f0000n;
const VSYSCALL = 0xffffffffff600000n;
const HPAGE = 2n << 20n;

interface Outcome<T> {
  /** the helper's value, or undefined when it ended the program */
  readonly value: T | undefined;
  readonly out: string;
  readonly code: number;
}

/** Runs a helper inside a test program on `proc`. */
async function inProgram<T>(proc: Proc, helper: (t: Selftest) => Promise<T>): Promise<Outcome<T>> {
  let out = '';
  const ksft = new Ksft((text) => void (out += text));
  let value: T | undefined;
  const code = await ksft.runMain(async () => {
    value = await helper({ proc, ksft, pagesize: 4096n });
  });
  return { value, out, code };
}

const withFiles = (files: Record<string, string | Errno>): Proc => fakeProc({}, files);
const ENOENT = new Errno('ENOENT', 'open');

const hostProc = withFiles({ '/proc/self/smaps': HOST_SMAPS });

describe('smaps (__get_smap_entry, __check_huge, check_vmflag) on a real smaps file', () => {
  test('check_huge_anon: the THP mapping holds four PMD-sized pages, no other count', async () => {
    expect((await inProgram(hostProc, (t) => checkHugeAnon(t, THP_VMA, 4, HPAGE))).value).toBe(true);
    expect((await inProgram(hostProc, (t) => checkHugeAnon(t, THP_VMA, 1, HPAGE))).value).toBe(false);
    expect((await inProgram(hostProc, (t) => checkHugeAnon(t, HEAP, 0, HPAGE))).value).toBe(true);
  });

  test('check_huge_file and check_huge_shmem read their own lines', async () => {
    expect((await inProgram(hostProc, (t) => checkHugeFile(t, THP_VMA, 0, HPAGE))).value).toBe(true);
    expect((await inProgram(hostProc, (t) => checkHugeShmem(t, THP_VMA, 0, HPAGE))).value).toBe(true);
    expect((await inProgram(hostProc, (t) => checkHugeFile(t, THP_VMA, 4, HPAGE))).value).toBe(false);
  });

  test('an address that starts no VMA is no huge page (C compares against (uint64_t)-1)', async () => {
    expect((await inProgram(hostProc, (t) => checkHugeAnon(t, THP_VMA + 0x1000n, 0, HPAGE))).value).toBe(false);
  });

  test('check_vmflag matches whole words of the VmFlags line of that VMA', async () => {
    const flag = async (addr: bigint, f: string): Promise<boolean | undefined> => (await inProgram(hostProc, (t) => checkVmflag(t, addr, f))).value;
    expect(await flag(THP_VMA, 'hg')).toBe(true);
    expect(await flag(HEAP, 'hg')).toBe(false);
    expect(await flag(HEAP, 'wr')).toBe(true);
    expect(await flag(HEAP, 'w')).toBe(false);
    expect(await flag(HEAP, 'sd')).toBe(false); // this host kernel has no soft-dirty
    expect(await flag(VSYSCALL, 'ex')).toBe(true);
  });

  test('addresses are matched as "%08lx-": zero-padded to eight digits', async () => {
    const proc = withFiles({ '/proc/self/smaps': fakeSmaps([[0x10000n, 0x11000n]], 'rd wr sd') });
    expect((await inProgram(proc, (t) => checkVmflag(t, 0x10000n, 'sd'))).value).toBe(true);
  });

  test('as in C, the pattern is searched past the VMA block when the block lacks it', async () => {
    const smaps = '00010000-00011000 rw-p 00000000 00:00 0 \nVmFlags: rd wr \n00020000-00021000 rw-p 00000000 00:00 0 \nAnonHugePages:      2048 kB\n';
    const proc = withFiles({ '/proc/self/smaps': smaps });
    expect((await inProgram(proc, (t) => checkHugeAnon(t, 0x10000n, 1, HPAGE))).value).toBe(true);
  });

  test('no VmFlags for the address ends the program as C does', async () => {
    const { out, code } = await inProgram(hostProc, (t) => checkVmflag(t, 0x1234000n, 'sd'));
    expect(out).toBe('Bail out! check_vmflag: No VmFlags for 0x1234000\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n');
    expect(code).toBe(1);
  });

  test('an unreadable huge-page count is "Reading smap error"', async () => {
    const proc = withFiles({ '/proc/self/smaps': '00010000-00011000 rw-p 00000000 00:00 0 \nAnonHugePages: lots\n' });
    const { out, code } = await inProgram(proc, (t) => checkHugeAnon(t, 0x10000n, 1, HPAGE));
    expect(out).toMatch(/^Bail out! Reading smap error\n/);
    expect(code).toBe(1);
  });

  test('softdirty_supported: "sd" on a new anonymous mapping', async () => {
    expect((await inProgram(fakeProc(), softdirtySupported)).value).toBe(true);
    const noSd = fakeProc({ readFile: async () => fakeSmaps([[0x7f0000000000n, 0x7f0000001000n]], 'rd wr mr mw me ac') });
    expect((await inProgram(noSd, softdirtySupported)).value).toBe(false);
  });
});

describe('page_entry_is(): pagemap read, cross-checked with PAGEMAP_SCAN', () => {
  const region = (categories: number) => async () => ({ ret: 1, regions: [{ start: 0n, end: 4096n, categories }], walkEnd: 4096n });
  const scanning = (entry: bigint, categories: number, badVec = new Errno('EFAULT', 'ioctl')): Proc => {
    const answer = region(categories);
    return fakeProc({
      pagemap: async () => BigUint64Array.of(entry),
      pagemapScan: async (arg) => (arg.badVec ? badVec : answer()),
    });
  };

  test('both say soft-dirty, both say clean', async () => {
    expect((await inProgram(scanning(PM_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY), (t) => pagemapIsSoftdirty(t, 0n))).value).toBe(true);
    expect((await inProgram(scanning(0n, 0), (t) => pagemapIsSoftdirty(t, 0n))).value).toBe(false);
  });

  test('pagemap says soft-dirty, PAGEMAP_SCAN does not: Bail out!, its counts on the same line', async () => {
    const { out, code } = await inProgram(scanning(PM_SOFT_DIRTY, 0), (t) => pagemapIsSoftdirty(t, 0n));
    expect(out).toBe('Bail out! read and ioctl return unmatched results for soft-dirty: 1 0# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n');
    expect(code).toBe(1);
  });

  test('the other way round, for "populated"', async () => {
    const { out } = await inProgram(scanning(0n, PAGE_IS_SWAPPED), (t) => pagemapIsPopulated(t, 0n));
    expect(out).toMatch(/^Bail out! read and ioctl return unmatched results for populated: 0 1#/);
  });

  test('swapped and populated agree through their own bits', async () => {
    expect((await inProgram(scanning(PM_SWAP, PAGE_IS_SWAPPED), (t) => pagemapIsSwapped(t, 0n))).value).toBe(true);
    expect((await inProgram(scanning(PM_SWAP, PAGE_IS_SWAPPED), (t) => pagemapIsPopulated(t, 0n))).value).toBe(true);
  });

  test('no PAGEMAP_SCAN (the probe gets no EFAULT): pagemap alone, no cross-check', async () => {
    const proc = scanning(PM_SOFT_DIRTY, 0, new Errno('EINVAL', 'ioctl'));
    expect((await inProgram(proc, (t) => pagemapIsSoftdirty(t, 0n))).value).toBe(true);
  });

  test('support is probed once per process, with an unmapped vec', async () => {
    const probes: boolean[] = [];
    const proc = fakeProc({
      pagemapScan: async (arg) => {
        probes.push(arg.badVec === true);
        return arg.badVec ? new Errno('EFAULT', 'ioctl') : { ret: 0, regions: [], walkEnd: arg.end };
      },
    });
    await inProgram(proc, async (t) => [await pagemapIsSoftdirty(t, 0n), await pagemapIsSoftdirty(t, 4096n)]);
    expect(probes).toEqual([true, false, false]);
  });

  test('reads in the C\'s order: the entry, the probe (once), the scan; a range read ahead, page after page', async () => {
    const calls: string[] = [];
    const proc = fakeProc({
      pagemap: async (addr) => (calls.push(`pagemap ${addr}`), BigUint64Array.of(0n)),
      pagemapScan: async (arg) => (calls.push(arg.badVec ? 'probe' : `scan ${arg.start}`), arg.badVec ? new Errno('EFAULT', 'ioctl') : { ret: 0, regions: [], walkEnd: arg.end }),
    });
    const { value } = await inProgram(proc, async (t) => {
      const first = await pagemapIsPopulated(t, 0n);
      const reads = readEntriesAhead(t, 4096n, 3n * 4096n);
      const rest = [];
      for (let a = 4096n; a < 4n * 4096n; a += 4096n) rest.push(await pagemapIsPopulated(t, a, reads.at(a)));
      return [first, ...rest];
    });
    expect(value).toEqual([false, false, false, false]);
    expect(calls).toEqual(['pagemap 0', 'probe', 'scan 0', 'pagemap 4096', 'scan 4096', 'pagemap 8192', 'scan 8192', 'pagemap 12288', 'scan 12288']);
  });

  test('the probe succeeding, the scan failing, the pagemap read failing: the C messages', async () => {
    const probeOk = fakeProc({ pagemapScan: async (arg) => ({ ret: 0, regions: [], walkEnd: arg.end }) });
    expect((await inProgram(probeOk, (t) => pagemapIsSoftdirty(t, 0n))).out).toMatch(/^Bail out! PAGEMAP_SCAN succeeded unexpectedly\n/);
    const scanFails = fakeProc({ pagemapScan: async (arg) => new Errno(arg.badVec ? 'EFAULT' : 'EINVAL', 'ioctl') });
    expect((await inProgram(scanFails, (t) => pagemapIsSoftdirty(t, 0n))).out).toMatch(/^Bail out! PAGEMAP_SCAN failed: Invalid argument\n/);
    const readFails = fakeProc({ pagemap: async () => new Errno('EINVAL', 'pread') });
    expect((await inProgram(readFails, (t) => pagemapIsSoftdirty(t, 0n))).out).toMatch(/^Bail out! reading pagemap failed\n/);
  });

  test('pagemap_get_pfn: bits 0-54 when present, -1ul otherwise', async () => {
    const entry = (e: bigint): Proc => fakeProc({ pagemap: async () => BigUint64Array.of(e) });
    expect((await inProgram(entry(PM_PRESENT | PM_SOFT_DIRTY | 0x1234n), (t) => pagemapGetPfn(t, 0n))).value).toBe(0x1234n);
    expect((await inProgram(entry(PM_SWAP | 0x1234n), (t) => pagemapGetPfn(t, 0n))).value).toBe(0xffff_ffff_ffff_ffffn);
  });
});

describe('clear_softdirty()', () => {
  test('writes "4" to /proc/self/clear_refs', async () => {
    const writes: [string, string][] = [];
    const proc = fakeProc({ writeFile: async (path, data) => (writes.push([path, data]), data.length) });
    await inProgram(proc, clearSoftdirty);
    expect(writes).toEqual([['/proc/self/clear_refs', '4']]);
  });

  test('cannot open, or writes nothing: the two C messages', async () => {
    const noFile = fakeProc({ writeFile: async () => new Errno('ENOENT', 'open') });
    expect((await inProgram(noFile, clearSoftdirty)).out).toMatch(/^Bail out! opening clear_refs failed\n/);
    const short = fakeProc({ writeFile: async () => 0 });
    expect((await inProgram(short, clearSoftdirty)).out).toMatch(/^Bail out! writing clear_refs failed\n/);
  });
});

describe('sysfs: read_pmd_pagesize(), thp_is_enabled()', () => {
  const PMD_SIZE = '/sys/kernel/mm/transparent_hugepage/hpage_pmd_size';
  const ENABLED = '/sys/kernel/mm/transparent_hugepage/enabled';

  test('read_pmd_pagesize: the number, or 0 when unreadable or not a number', async () => {
    expect((await inProgram(fakeProc(), readPmdPagesize)).value).toBe(2097152n);
    expect((await inProgram(withFiles({ [PMD_SIZE]: ENOENT }), readPmdPagesize)).value).toBe(0n);
    expect((await inProgram(withFiles({ [PMD_SIZE]: 'huge\n' }), readPmdPagesize)).value).toBe(0n);
  });

  test.each([
    ['always [madvise] never\n', true],
    ['[always] madvise never\n', true],
    ['always madvise [never]\n', false],
  ])('thp_is_enabled with %j: %s', async (text, enabled) => {
    expect((await inProgram(withFiles({ [ENABLED]: text }), thpIsEnabled)).value).toBe(enabled);
  });

  test('no transparent_hugepage directory: not enabled', async () => {
    expect((await inProgram(withFiles({ [ENABLED]: ENOENT }), thpIsEnabled)).value).toBe(false);
  });

  test('unreadable or unparsable: the C prints without kselftest and exits 1', async () => {
    const unreadable = await inProgram(withFiles({ [ENABLED]: new Errno('EACCES', 'open') }), thpIsEnabled);
    expect([unreadable.out, unreadable.code]).toEqual([`${ENABLED}: Permission denied\n`, 1]);
    const noBracket = await inProgram(withFiles({ [ENABLED]: 'always\n' }), thpIsEnabled);
    expect([noBracket.out, noBracket.code]).toEqual(['thp_read_string: Parse failure\n', 1]);
    const unknownMode = await inProgram(withFiles({ [ENABLED]: '[sometimes]\n' }), thpIsEnabled);
    expect([unknownMode.out, unknownMode.code]).toEqual(['Failed to parse enabled\n', 1]);
  });
});
