// The mm model, scenario by scenario, as the soft-dirty and madv_populate
// selftests drive a kernel.
import { describe, expect, test } from 'vitest';
import { builtinLayout } from '../arm64/layout.ts';
import { kernelByName } from '../kernel.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { pagemapEntry } from '../proc/pagemap.ts';
import { clearRefsWrite } from '../proc/clear-refs.ts';
import { readProcFile } from '../proc/files.ts';
import { doMadvise } from './madvise.ts';
import { doMmap, vmMunmap } from './mmap.ts';
import { doMprotectPkey } from './mprotect.ts';
import { doMremap } from './mremap.ts';
import { System } from './system.ts';
import { Task } from './task.ts';
import { writeUser } from './user-access.ts';

const PAGE = 4096n;

function task(layout = 'rfc', kernel = '7.2'): Task {
  const sys = new System({
    layout: builtinLayout(layout),
    kernel: kernelByName(kernel),
    hw: { hwAF: true, hwDBM: true },
    epan: true,
    thp: { enabled: 'always', useZeroPage: true },
    showPfn: true,
    swapBytes: 64n << 20n,
    hugetlbPages: 0,
  });
  return new Task(sys);
}

function anon(t: Task, len: bigint, prot = U.PROT_READ | U.PROT_WRITE, addr = 0n, extra = 0): bigint {
  const a = doMmap(t.mm, addr, len, prot, U.MAP_PRIVATE | U.MAP_ANONYMOUS | extra, null, 0n);
  if (isErr(a)) throw new Error(String(a));
  return a;
}

const sd = (t: Task, a: bigint) => (pagemapEntry(t.mm, a) & U.PM_SOFT_DIRTY) !== 0n;
const present = (t: Task, a: bigint) => (pagemapEntry(t.mm, a) & U.PM_PRESENT) !== 0n;
const write = (t: Task, a: bigint, v = 1) => expect(writeUser(t.mm, a, new Uint8Array([v]))).toBeNull();
const clearSoftdirty = (t: Task) => expect(clearRefsWrite(t.mm, '4')).toBe(1);

describe('soft-dirty on the rfc layout', () => {
  test('new areas are soft-dirty; clear_refs clears; a write dirties again (test_simple)', () => {
    const t = task();
    const a = anon(t, PAGE);
    expect(sd(t, a)).toBe(true);
    clearSoftdirty(t);
    expect(sd(t, a)).toBe(false);
    write(t, a);
    expect(sd(t, a)).toBe(true);
    clearSoftdirty(t);
    expect(sd(t, a)).toBe(false);
    write(t, a, 2);
    expect(sd(t, a)).toBe(true);
  });

  test('mprotect RO then RW keeps the page write-protected for soft-dirty (test_mprotect anon)', () => {
    const t = task();
    const a = anon(t, PAGE);
    write(t, a);
    clearSoftdirty(t);
    expect(doMprotectPkey(t.mm, a, PAGE, U.PROT_READ)).toBe(0);
    expect(sd(t, a)).toBe(false);
    expect(doMprotectPkey(t.mm, a, PAGE, U.PROT_READ | U.PROT_WRITE)).toBe(0);
    expect(sd(t, a)).toBe(false);
    write(t, a, 2);
    expect(sd(t, a)).toBe(true);
  });

  test('shared file mapping gets write-notify while tracking (test_mprotect file)', () => {
    const t = task();
    const fd = t.open('./soft-dirty-test-file', U.O_RDWR | U.O_CREAT);
    if (isErr(fd)) throw new Error(String(fd));
    t.unlink('./soft-dirty-test-file');
    expect(t.ftruncate(fd, PAGE)).toBe(0);
    const a = doMmap(t.mm, 0n, PAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_SHARED, t.file(fd), 0n);
    if (isErr(a)) throw new Error(String(a));
    write(t, a);
    expect(sd(t, a)).toBe(true);
    clearSoftdirty(t);
    expect(sd(t, a)).toBe(false);
    doMprotectPkey(t.mm, a, PAGE, U.PROT_READ);
    doMprotectPkey(t.mm, a, PAGE, U.PROT_READ | U.PROT_WRITE);
    expect(sd(t, a)).toBe(false);
    write(t, a, 2);
    expect(sd(t, a)).toBe(true);
  });

  test('a THP under MADV_HUGEPAGE is pmd-mapped and tracks soft-dirty (test_hugepage)', () => {
    const t = task();
    const raw = anon(t, 4n << 20n);
    const a = (raw + (2n << 20n) - 1n) & ~((2n << 20n) - 1n);
    expect(doMadvise(t.mm, a, 2n << 20n, U.MADV_HUGEPAGE)).toBe(0);
    write(t, a);
    expect(readProcFile(t, '/proc/self/smaps')).toContain('AnonHugePages:      2048 kB');
    clearSoftdirty(t);
    expect(sd(t, a)).toBe(false);
    write(t, a, 3);
    expect(sd(t, a)).toBe(true);
  });

  for (const [kernel, sticky] of [['7.2', true], ['6.12', false]] as const) {
    test(`VM_SOFTDIRTY across merges: sticky on ${kernel} is ${sticky} (test_merge)`, () => {
      const t = task('rfc', kernel);
      const reserved = anon(t, 5n * PAGE, U.PROT_NONE);
      vmMunmap(t.mm, reserved, 4n * PAGE);
      const map = anon(t, PAGE, U.PROT_READ | U.PROT_WRITE, reserved + PAGE, U.MAP_FIXED);
      clearSoftdirty(t);
      const map2 = anon(t, PAGE, U.PROT_READ | U.PROT_WRITE, reserved + 3n * PAGE, U.MAP_FIXED);
      expect(doMremap(t.mm, map2, PAGE, PAGE, U.MREMAP_FIXED | U.MREMAP_MAYMOVE, reserved + 2n * PAGE)).toBe(reserved + 2n * PAGE);
      expect(t.mm.vmas.all().filter((v) => v.start <= map && v.end >= map + 2n * PAGE)).toHaveLength(1);
      expect([sd(t, map), sd(t, map + PAGE)]).toEqual([sticky, sticky]);
    });
  }
});

describe('soft-dirty absent (v6.10)', () => {
  test('clear_refs 4 is accepted and does nothing; no "sd" in VmFlags', () => {
    const t = task('v6.10');
    const a = anon(t, PAGE);
    write(t, a);
    clearSoftdirty(t);
    expect(sd(t, a)).toBe(false);
    const smaps = readProcFile(t, '/proc/self/smaps');
    expect(smaps).toContain('VmFlags: rd wr mr mw me ac \n');
  });
});

describe('MADV_POPULATE', () => {
  test('PROT_READ: populate read works, write is EINVAL', () => {
    const t = task('v6.10');
    const a = anon(t, 2n << 20n, U.PROT_READ);
    expect(doMadvise(t.mm, a, 2n << 20n, U.MADV_POPULATE_READ)).toBe(0);
    const w = doMadvise(t.mm, a, 2n << 20n, U.MADV_POPULATE_WRITE);
    expect(isErr(w) && w.name).toBe('EINVAL');
  });
  test('holes are ENOMEM', () => {
    const t = task('v6.10');
    const a = anon(t, 2n << 20n);
    vmMunmap(t.mm, a + PAGE, PAGE);
    const r = doMadvise(t.mm, a, 2n << 20n, U.MADV_POPULATE_READ);
    expect(isErr(r) && r.name).toBe('ENOMEM');
    const b = doMadvise(t.mm, a + PAGE, PAGE, U.MADV_POPULATE_WRITE);
    expect(isErr(b) && b.name).toBe('ENOMEM');
  });
  test('populate write makes every page present', () => {
    const t = task('v6.10');
    const a = anon(t, 2n << 20n);
    expect(present(t, a)).toBe(false);
    expect(doMadvise(t.mm, a, 2n << 20n, U.MADV_POPULATE_WRITE)).toBe(0);
    for (let i = 0n; i < 512n; i++) expect(present(t, a + i * PAGE)).toBe(true);
  });
});

describe('memory stays proportional to what is touched', () => {
  test('a 64 TiB mapping with ten pages written', () => {
    const t = task('rfc');
    const a = anon(t, 64n << 40n, U.PROT_READ | U.PROT_WRITE, 0n, U.MAP_NORESERVE);
    for (let i = 0n; i < 10n; i++) write(t, a + i * (1n << 32n));
    expect(t.mm.pt.mem.tableCount()).toBeLessThan(40);
    expect(t.sys.phys.storedPages()).toBe(10);
  });
});
