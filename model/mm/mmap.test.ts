// mmap() as the kernel does it: MAP_POPULATE's faults, VM_ACCOUNT, and the
// flags of a shared mapping of a file opened read-only. Each behaviour was
// measured on qemu-arm64@current (7.2) and qemu-arm64 (6.12), which agree.
import { describe, expect, test } from 'vitest';
import type { Proc } from '../../harness/target.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { memfdOf, smapsFields } from '../../harness/testing/proc.ts';
import * as U from '../../uapi/linux.ts';

const PAGE = 4096n;
const RW = U.PROT_READ | U.PROT_WRITE;

const FIELDS = ['Rss', 'Pss_Dirty', 'Private_Clean', 'Private_Dirty', 'Anonymous'];
const kB = (rss: number, pssDirty: number, privateClean: number, privateDirty: number, anonymous: number) => [
  `Rss: ${rss} kB`,
  `Pss_Dirty: ${pssDirty} kB`,
  `Private_Clean: ${privateClean} kB`,
  `Private_Dirty: ${privateDirty} kB`,
  `Anonymous: ${anonymous} kB`,
];

async function spawnWithMemfd(pages: bigint): Promise<{ p: Proc; fd: number }> {
  const p = await (await referenceTarget('')).spawn();
  return { p, fd: await memfdOf(p, pages) };
}

async function populated(p: Proc, prot: number, flags: number, fd: number, pages = 4n): Promise<bigint> {
  const a = await p.mmap(0n, pages * PAGE, prot, flags | U.MAP_POPULATE, fd, 0n);
  if (U.isErr(a)) throw new Error(String(a));
  return a;
}

// populate_vma_page_range(): FOLL_WRITE only where (vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE,
// a read fault (FOLL_FORCE) elsewhere, and nothing at all in a PROT_NONE area
describe('MAP_POPULATE', () => {
  test('a private writable area is write-faulted: its own dirty anonymous pages, also when write-only or MAP_NORESERVE', async () => {
    const { p, fd } = await spawnWithMemfd(16n);
    for (const [prot, flags, f] of [
      [RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1],
      [U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1],
      [RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE, -1],
      [RW, U.MAP_PRIVATE, fd],
      [U.PROT_WRITE, U.MAP_PRIVATE, fd],
    ] as const) {
      const a = await populated(p, prot, flags, f);
      expect(await smapsFields(p, a, FIELDS)).toEqual(kB(16, 16, 0, 16, 16));
      const pm = await p.pagemap(a, 4);
      if (U.isErr(pm)) throw new Error(String(pm));
      expect([...pm].every((e) => (e & (U.PM_PRESENT | U.PM_MMAP_EXCLUSIVE | U.PM_FILE)) === (U.PM_PRESENT | U.PM_MMAP_EXCLUSIVE))).toBe(true);
    }
  });

  test('a shared area is read-faulted, so its pages stay clean, also when write-only', async () => {
    const { p, fd } = await spawnWithMemfd(16n);
    for (const [prot, flags, f] of [
      [RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1],
      [U.PROT_WRITE, U.MAP_SHARED | U.MAP_ANONYMOUS, -1],
      [RW, U.MAP_SHARED, fd],
    ] as const) {
      const a = await populated(p, prot, flags, f);
      expect(await smapsFields(p, a, FIELDS)).toEqual(kB(16, 0, 16, 0, 0));
    }
  });

  test('a private read-only area is read-faulted: the zero page, or the clean page cache pages', async () => {
    const { p, fd } = await spawnWithMemfd(16n);
    const anon = await populated(p, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1);
    expect(await smapsFields(p, anon, FIELDS)).toEqual(kB(0, 0, 0, 0, 0));
    const pm = await p.pagemap(anon, 4);
    if (U.isErr(pm)) throw new Error(String(pm));
    expect([...pm].every((e) => (e & (U.PM_PRESENT | U.PM_MMAP_EXCLUSIVE)) === U.PM_PRESENT)).toBe(true);
    const file = await populated(p, U.PROT_READ, U.MAP_PRIVATE, fd);
    expect(await smapsFields(p, file, FIELDS)).toEqual(kB(16, 0, 16, 0, 0));
  });

  test('a PROT_NONE area is not populated at all', async () => {
    const { p, fd } = await spawnWithMemfd(16n);
    for (const [flags, f] of [
      [U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1],
      [U.MAP_SHARED | U.MAP_ANONYMOUS, -1],
      [U.MAP_SHARED, fd],
      [U.MAP_PRIVATE, fd],
    ] as const) {
      const a = await populated(p, U.PROT_NONE, flags, f);
      expect(await smapsFields(p, a, ['Rss'])).toEqual(['Rss: 0 kB']);
      const pm = await p.pagemap(a, 4);
      if (U.isErr(pm)) throw new Error(String(pm));
      expect([...pm].every((e) => e === 0n)).toBe(true);
    }
  });

  test('populating a file area stops at EOF', async () => {
    const { p, fd } = await spawnWithMemfd(2n);
    const priv = await populated(p, RW, U.MAP_PRIVATE, fd);
    expect(await smapsFields(p, priv, FIELDS)).toEqual(kB(8, 8, 0, 8, 8));
    const shared = await populated(p, RW, U.MAP_SHARED, fd);
    expect(await smapsFields(p, shared, FIELDS)).toEqual(kB(8, 0, 8, 0, 0));
  });
});

// accountable_mapping(): VM_WRITE without VM_NORESERVE or VM_SHARED, not hugetlb
test('VM_ACCOUNT ("ac") marks private writable areas, not MAP_NORESERVE or shared ones', async () => {
  const { p, fd } = await spawnWithMemfd(16n);
  const flags = async (prot: number, f: number, fdn = -1) => {
    const a = await p.mmap(0n, 4n * PAGE, prot, f, fdn, 0n);
    if (U.isErr(a)) throw new Error(String(a));
    return (await smapsFields(p, a, ['VmFlags']))[0];
  };
  expect(await flags(RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS)).toBe('VmFlags: rd wr mr mw me ac');
  expect(await flags(RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_NORESERVE)).toBe('VmFlags: rd wr mr mw me nr');
  expect(await flags(U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_NORESERVE, fd)).toBe('VmFlags: wr mr mw me nr');
  expect(await flags(RW, U.MAP_PRIVATE, fd)).toBe('VmFlags: rd wr mr mw me ac');
  expect(await flags(U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS)).toBe('VmFlags: rd mr mw me');
  expect(await flags(RW, U.MAP_SHARED | U.MAP_ANONYMOUS)).toBe('VmFlags: rd wr sh mr mw me ms');
});

// do_mmap(): MAP_SHARED of a file without FMODE_WRITE clears VM_MAYWRITE and VM_SHARED, keeping VM_MAYSHARE
test('a shared mapping of a file opened read-only is not VM_SHARED ("sh"), only VM_MAYSHARE ("ms")', async () => {
  const p = await (await referenceTarget('')).spawn();
  const w = await p.open('/tmp/ro', U.O_CREAT | U.O_RDWR, 0o600);
  if (U.isErr(w)) throw new Error(String(w));
  expect(await p.ftruncate(w, 2n * PAGE)).toBe(0);
  const ro = await p.open('/tmp/ro', U.O_RDONLY);
  if (U.isErr(ro)) throw new Error(String(ro));
  expect(U.isErr(await p.mmap(0n, 2n * PAGE, RW, U.MAP_SHARED, ro, 0n))).toBe(true);
  const a = await p.mmap(0n, 2n * PAGE, U.PROT_READ, U.MAP_SHARED, ro, 0n);
  if (U.isErr(a)) throw new Error(String(a));
  expect(await smapsFields(p, a, ['VmFlags'])).toEqual(['VmFlags: rd mr me ms']);
});

// thp_vma_suitable_order(): vm_pgoff is checked against the address only for file areas
test('an anonymous area whose vm_pgoff is out of line with its address (moved by mremap) still gets THPs', async () => {
  const p = await (await referenceTarget('+thp=madvise')).spawn();
  const base = 0x5000_0000_0000n;
  const a = await p.mmap(base + PAGE, 6n << 20n, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  if (U.isErr(a)) throw new Error(String(a));
  expect(await p.madvise(a, 6n << 20n, U.MADV_HUGEPAGE)).toBe(0);
  // a page written first gives the area an anon_vma, so the move keeps vm_pgoff
  expect((await p.write(a + (5n << 20n), new Uint8Array([1]))).ok).toBe(true);
  const to = base + (16n << 20n);
  expect(await p.mremap(a, 4n << 20n, 4n << 20n, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, to)).toBe(to);
  expect(await smapsFields(p, to, ['THPeligible'])).toEqual(['THPeligible: 1']);
  expect((await p.write(to, new Uint8Array([1]))).ok).toBe(true);
  expect(await smapsFields(p, to, ['AnonHugePages'])).toEqual(['AnonHugePages: 2048 kB']);
});

// __thp_get_unmapped_area(): a PMD-multiple anonymous mmap() without a hint searches room for
// len + PMD_SIZE, then takes the PMD boundary in it (top-down: the upper one when the room starts on one)
test('a 2 MiB anonymous area goes where 4 MiB are free, past a 3 MiB hole that has an aligned 2 MiB in it', async () => {
  const p = await (await referenceTarget('')).spawn();
  const M = 1n << 20n;
  const x = await p.mmap(0n, 16n * M, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
  if (U.isErr(x)) throw new Error(String(x));
  expect(x % (2n * M)).toBe(0n);
  // fill whatever is free above x, so the holes below are the highest room
  const smaps = await p.readFile('/proc/self/smaps');
  if (U.isErr(smaps)) throw new Error(String(smaps));
  const above = smaps
    .split('\n')
    .map((l) => /^([0-9a-f]+)-/.exec(l))
    .filter((m) => m !== null)
    .map((m) => BigInt(`0x${m[1]}`))
    .filter((s) => s >= x + 16n * M)
    .reduce((a, b) => (b < a ? b : a), x + 16n * M);
  if (above > x + 16n * M) expect(U.isErr(await p.mmap(x + 16n * M, above - x - 16n * M, U.PROT_NONE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED_NOREPLACE, -1, 0n))).toBe(false);
  expect(await p.munmap(x + 11n * M + M / 2n, 3n * M)).toBe(0);
  expect(await p.mmap(0n, 2n * M, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)).toBe(x - 2n * M);
  expect(await p.munmap(x + 4n * M, 4n * M)).toBe(0);
  expect(await p.mmap(0n, 2n * M, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)).toBe(x + 6n * M);
});

// Measured on 7.2 arm64 and the host: a process's first area mapped top-down shares a pte table with
// what sits just below mmap_base ([vvar], [vdso], the agent's own pages), so PAGEMAP_SCAN reports
// its untouched pages written (pagemap_page_category() of a none pte), not a hole.
test('the first area a process maps shares the pte table of its [vvar]', async () => {
  const p = await (await referenceTarget('')).spawn();
  const m = await p.mmap(0n, 5n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
  if (U.isErr(m)) throw new Error(String(m));
  const r = await p.pagemapScan({ start: m, end: m + 5n * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7f, returnMask: 0x7f, vecLen: 8 });
  expect(r).toEqual({ ret: 1, regions: [{ start: m, end: m + 5n * PAGE, categories: U.PAGE_IS_WRITTEN }], walkEnd: m + 5n * PAGE });
  expect(await p.readFile('/proc/self/smaps')).toMatch(/^[0-9a-f]+-[0-9a-f]+ r--p 00000000 00:00 0 +\[vvar\]$/m);
});

// arch_mmap_rnd(): a kernel draws mmap_base at exec; reference+mmap_rnd=N puts the model's N pages lower.
test('mmap_rnd moves where top-down allocation starts, and nothing else', async () => {
  const at = async (spec: string) => {
    const p = await (await referenceTarget(spec)).spawn();
    return p.mmap(0n, 5n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
  };
  const base = await at('');
  expect(await at('+mmap_rnd=300')).toBe((base as bigint) - 300n * PAGE);
  await expect(referenceTarget('+mmap_rnd=262144')).rejects.toThrow('reference target option mmap_rnd=262144: expected a number of pages below 2^18');
});

// Measured alike on 6.12 and 7.2 arm64: a memfd mapping merges with a neighbour of the same file at
// the following offset (shmem has no vm_ops->close), private or shared; shared anonymous mappings,
// each its own file, never do.
test('file mappings merge where the file and the offsets follow on', async () => {
  const p = await (await referenceTarget('')).spawn();
  const A = 0x5000_0000_0000n;
  const fd = (await p.memfdCreate('m', 0)) as number;
  await p.ftruncate(fd, 0x100000n);
  const at = (off: bigint, flags: number, f: number, pgoff: bigint) => p.mmap(A + off, 0x2000n, RW, flags | U.MAP_FIXED, f, pgoff);
  await at(0n, U.MAP_SHARED, fd, 0n);
  await at(0x2000n, U.MAP_SHARED, fd, 0x2000n);
  await at(0x4000n, U.MAP_SHARED, fd, 0x8000n);
  await at(0x10000n, U.MAP_PRIVATE, fd, 0n);
  await at(0x12000n, U.MAP_PRIVATE, fd, 0x2000n);
  await at(0x20000n, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0n);
  await at(0x22000n, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0n);
  const smaps = (await p.readFile('/proc/self/smaps')) as string;
  const areas = smaps.split('\n').filter((l) => l.startsWith('5000000')).map((l) => l.split(/\s+/).slice(0, 3).join(' '));
  expect(areas).toEqual([
    '500000000000-500000004000 rw-s 00000000',
    '500000004000-500000006000 rw-s 00008000',
    '500000010000-500000014000 rw-p 00000000',
    '500000020000-500000022000 rw-s 00000000',
    '500000022000-500000024000 rw-s 00000000',
  ]);
});
