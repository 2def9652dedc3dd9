// Raw descriptors from the real kernels (Proc.descriptors(), through the
// guest's mmconform_pgwalk module, kmod/): the entries Linux writes for an
// anonymous page written, the shared zero page read, and a THP, on each of
// the four kernels, with the exact bits measured (shared/reference/
// raw-descriptors.md) once the output address is masked off, and that
// output address checked against pagemap's PFN; and a guest without the
// module, which boots all the same. Each target skips, saying
// why, where its kernel, QEMU or the headers to build kmod/ are missing:
// npm run setup:kernels provides them.

import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import {
  bit,
  genmask,
  PMD_TYPE_SECT,
  PMD_TYPE_TABLE,
  PTE_AF,
  PTE_DBM,
  PTE_NG,
  PTE_PXN,
  PTE_RDONLY,
  PTE_SHARED,
  PTE_TYPE_PAGE,
  PTE_USER,
  PTE_UXN,
  PTE_VALID,
  TABLE_PXN,
} from '../../model/arm64/hwdef.ts';
import { Errno, MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, isErr, type Ret } from '../../uapi/linux.ts';
import { cachedKernel, HEADERS_DIR, HEADERS_MANIFEST, kernelDir, KMOD_BUILDS_DIR } from '../qemu/kernel-cache.ts';
import type { Descriptors, Proc, Target } from '../target.ts';
import { descriptorsUnavailable, parseQemuSpec, qemuTarget, qemuUnavailable } from './qemu.ts';

const BOOT_TIMEOUT_MS = 180_000;
const PAGE = 4096n;
const PMD_SIZE = 2n << 20n;
/** pagemap's PFN field, bits 0-54 */
const PM_PFN_MASK = genmask(54, 0);

// arm64 software bits (arch/arm64/include/asm/pgtable-prot.h), as every layout has them
const PTE_DIRTY = bit(55);
const PTE_SPECIAL = bit(56);
/** FEAT_HAFT: from 7.x Linux sets AF in the table descriptors it makes (pgalloc.h: PMD_TABLE_AF) */
const TABLE_AF = bit(10);

// x86 (arch/x86/include/asm/pgtable_types.h)
const _PAGE_PRESENT = bit(0);
const _PAGE_RW = bit(1);
const _PAGE_USER = bit(2);
const _PAGE_ACCESSED = bit(5);
const _PAGE_DIRTY = bit(6);
const _PAGE_PSE = bit(7);
const _PAGE_SPECIAL = bit(9);
const _PAGE_SOFT_DIRTY = bit(11);
const _PAGE_NX = bit(63);
const _KERNPG_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY;

// vm_flags (include/linux/mm.h)
const VM_READ = 0x1n;
const VM_WRITE = 0x2n;
const VM_MAYREAD = 0x10n;
const VM_MAYWRITE = 0x20n;
const VM_MAYEXEC = 0x40n;
const VM_ACCOUNT = 0x100000n;
const VM_SOFTDIRTY = 0x8000000n;
const VM_HUGEPAGE = 0x20000000n;

interface Expected {
  /** the levels a walk to a pte passes, the folded ones left out */
  readonly levels: readonly string[];
  /** where a descriptor keeps its output address */
  readonly oa: bigint;
  /** a table descriptor, its next-table address masked off */
  readonly table: bigint;
  /** a pte of an anonymous page written */
  readonly written: bigint;
  /** a pte of the shared zero page, after a read of an untouched anonymous page */
  readonly zeroPage: bigint;
  /** a pmd of a THP written */
  readonly thp: bigint;
  /** vm_flags and vm_page_prot of a private anonymous read-write mapping */
  readonly vmFlags: bigint;
  readonly pageProt: bigint;
  /** the access flag, which reclaim clears whenever it ages pages */
  readonly accessed: bigint;
}

const ARM64 = {
  levels: ['pgd', 'pud', 'pmd', 'pte'],
  oa: genmask(49, 12),
  table: TABLE_PXN | PMD_TYPE_TABLE,
  written: PTE_VALID | PTE_TYPE_PAGE | PTE_USER | PTE_AF | PTE_NG | PTE_SHARED | PTE_DBM | PTE_PXN | PTE_UXN | PTE_DIRTY,
  zeroPage: PTE_VALID | PTE_TYPE_PAGE | PTE_USER | PTE_RDONLY | PTE_AF | PTE_NG | PTE_SHARED | PTE_PXN | PTE_UXN | PTE_SPECIAL,
  // a block: bit 1 clear
  thp: PMD_TYPE_SECT | PTE_USER | PTE_AF | PTE_NG | PTE_SHARED | PTE_DBM | PTE_PXN | PTE_UXN | PTE_DIRTY,
  vmFlags: VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT,
  // PAGE_READONLY: a private writable mapping is write-protected until written (COW)
  pageProt: PTE_VALID | PTE_TYPE_PAGE | PTE_USER | PTE_RDONLY | PTE_AF | PTE_NG | PTE_SHARED | PTE_PXN | PTE_UXN,
  accessed: PTE_AF,
} as const satisfies Expected;

const X86_64 = {
  levels: ['pgd', 'pud', 'pmd', 'pte'],
  oa: genmask(51, 12),
  table: _KERNPG_TABLE | _PAGE_USER,
  // D from the hardware's store, soft-dirty from the kernel's fault
  written: _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY | _PAGE_NX,
  zeroPage: _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_SPECIAL | _PAGE_NX,
  thp: _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_PSE | _PAGE_SOFT_DIRTY | _PAGE_NX,
  vmFlags: VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT | VM_SOFTDIRTY,
  pageProt: _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX,
  accessed: _PAGE_ACCESSED,
} as const satisfies Expected;

const CASES: readonly { readonly target: string; readonly expected: Expected }[] = [
  { target: 'qemu-arm64', expected: ARM64 },
  { target: 'qemu-arm64@current', expected: { ...ARM64, table: ARM64.table | TABLE_AF } },
  { target: 'qemu-x86_64', expected: X86_64 },
  { target: 'qemu-x86_64@current', expected: X86_64 },
];

const unavailable = (name: string) => descriptorsUnavailable(parseQemuSpec(name));

function ok<T>(r: Ret<T>): T {
  if (isErr(r)) throw new Error(`unexpected ${r}`);
  return r;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

describe.each(CASES)('$target', ({ target: name, expected }) => {
  const why = unavailable(name);
  let target: Target;
  let proc: Proc;

  beforeAll(async () => {
    if (why !== undefined) return;
    target = await qemuTarget(name);
    proc = await target.spawn();
  }, BOOT_TIMEOUT_MS);
  afterAll(async () => {
    await target?.close();
  });

  const walk = async (addr: bigint): Promise<Ret<Descriptors>> => {
    if (proc.descriptors === undefined) throw new Error(`${name}: its procs have no descriptors()`);
    return proc.descriptors(addr);
  };
  const pfn = async (addr: bigint): Promise<bigint> => ok(await proc.pagemap(addr, 1))[0]! & PM_PFN_MASK;
  const anon = async (len: bigint): Promise<bigint> => ok(await proc.mmap(0n, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
  /**
   * The walk's entries as hex, the output address masked off, and the
   * leaf's output address as a PFN. The leaf's access flag is read as set:
   * the kernel may age a page between the access and the walk (a THP just
   * written was seen old once on qemu-arm64@current), so a leaf is this or
   * this made old, and nothing else.
   */
  const masked = (d: Descriptors): { levels: string[]; values: string[]; leafPfn: bigint } => ({
    levels: d.entries.map((e) => e.level),
    values: d.entries.map((e, i) => hex((i === d.entries.length - 1 && e.value !== 0n ? e.value | expected.accessed : e.value) & ~expected.oa)),
    leafPfn: (d.entries.at(-1)!.value & expected.oa) >> 12n,
  });

  describe.skipIf(why !== undefined)(`${why ? `(skipped: ${why})` : 'with the module loaded'}`, () => {
    test('capabilities say introspect', async () => {
      expect(await target.capabilities()).toMatchObject({ introspect: true });
    });

    test('an anonymous page written: a dirty, writable pte whose output address is pagemap’s PFN; each table points at the next', async () => {
      const addr = await anon(PAGE);
      await proc.write(addr, Uint8Array.of(1));
      const d = ok(await walk(addr));
      expect(masked(d)).toEqual({
        levels: expected.levels,
        values: [...expected.levels.slice(0, -1).map(() => hex(expected.table)), hex(expected.written)],
        leafPfn: await pfn(addr),
      });
      for (const [i, e] of d.entries.slice(0, -1).entries()) expect(hex(e.value & expected.oa)).toBe(hex(d.entries[i + 1]!.phys & ~(PAGE - 1n)));
      expect({ vmFlags: d.vmFlags, pageProt: d.pageProt }).toEqual({ vmFlags: expected.vmFlags, pageProt: expected.pageProt });
    });

    test('a read of an untouched anonymous page maps the shared zero page, read-only and special', async () => {
      const addr = await anon(PAGE);
      expect(await proc.read(addr, 1)).toEqual({ ok: true, data: Uint8Array.of(0) });
      expect(masked(ok(await walk(addr)))).toEqual({
        levels: expected.levels,
        values: [...expected.levels.slice(0, -1).map(() => hex(expected.table)), hex(expected.zeroPage)],
        leafPfn: await pfn(addr),
      });
    });

    test('a THP written (MADV_HUGEPAGE, 2 MiB aligned): the walk ends at a pmd block', async () => {
      const area = await anon(2n * PMD_SIZE);
      const addr = (area + PMD_SIZE - 1n) & ~(PMD_SIZE - 1n);
      expect(await proc.madvise(addr, PMD_SIZE, MADV_HUGEPAGE)).toBe(0);
      await proc.write(addr, Uint8Array.of(1));
      const d = ok(await walk(addr));
      expect(masked(d)).toEqual({
        levels: expected.levels.slice(0, -1),
        values: [...expected.levels.slice(0, -2).map(() => hex(expected.table)), hex(expected.thp)],
        leafPfn: await pfn(addr),
      });
      expect(d.vmFlags).toBe(expected.vmFlags | VM_HUGEPAGE);
    });

    test('outside any VMA: no vm_flags; beyond the address space: EINVAL', async () => {
      expect(ok(await walk(PAGE))).toMatchObject({ vmFlags: null, pageProt: null });
      expect(await walk(-PAGE)).toEqual(new Errno('EINVAL', 'ioctl'));
    });

    test('descriptorsOf(): many walks at once (more than a request carries), each as descriptors() reads it, failures included', async () => {
      const n = 4100n;
      const area = await anon(n * PAGE);
      await proc.fill(area, n * PAGE, 1);
      const addrs = [...Array.from({ length: Number(n) }, (_, i) => area + BigInt(i) * PAGE), PAGE, -PAGE];
      // the leaves' access flags left out: the kernel may age the pages between the two reads
      const unaged = (w: Ret<Descriptors>) => (isErr(w) ? w : { ...w, entries: w.entries.map((e, i) => (i === w.entries.length - 1 ? { ...e, value: e.value & ~expected.accessed } : e)) });
      const walks = await proc.descriptorsOf!(addrs);
      const one: Ret<Descriptors>[] = [];
      for (const a of addrs) one.push(await walk(a));
      expect(walks.map(unaged)).toEqual(one.map(unaged));
      expect(walks.at(-1)).toEqual(new Errno('EINVAL', 'ioctl'));
    });
  });
});

const arm64 = qemuUnavailable(parseQemuSpec('qemu-arm64'));

test.skipIf(arm64 !== undefined)(`without headers to build kmod/ with, the guest boots without it: one line says so, introspect is false, descriptors() ENOTTY${arm64 ? ` (skipped: ${arm64})` : ''}`, { timeout: BOOT_TIMEOUT_MS }, async () => {
  // a cache holding the kernel alone, as before setup fetched headers
  const cache = mkdtempSync(join(tmpdir(), 'mmconform-no-headers-'));
  const real = kernelDir('arm64', 'stable');
  const dir = join(cache, 'kernels', basename(real));
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(real).filter((f) => ![HEADERS_DIR, HEADERS_MANIFEST, KMOD_BUILDS_DIR].includes(f))) symlinkSync(join(real, f), join(dir, f));
  const said = vi.spyOn(process.stderr, 'write');
  const saved = process.env['MMCONFORM_CACHE'];
  process.env['MMCONFORM_CACHE'] = cache;
  let target: Target | undefined;
  try {
    target = await qemuTarget('qemu-arm64');
    expect(said.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('descriptors'))).toEqual([
      `# qemu-arm64: no raw descriptors: no kernel headers for trixie arm64 ${cachedKernel('arm64', 'stable')?.release}: run npm run setup:kernels\n`,
    ]);
    expect(await target.capabilities()).toMatchObject({ introspect: false, uffdWp: true });
    const proc = await target.spawn();
    const addr = ok(await proc.mmap(0n, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n));
    expect(await proc.descriptors?.(addr)).toEqual(new Errno('ENOTTY', 'ioctl'));
    expect(await proc.descriptorsOf?.([addr])).toEqual([new Errno('ENOTTY', 'ioctl')]);
  } finally {
    if (saved === undefined) delete process.env['MMCONFORM_CACHE'];
    else process.env['MMCONFORM_CACHE'] = saved;
    said.mockRestore();
    await target?.close();
    rmSync(cache, { recursive: true, force: true });
  }
});
