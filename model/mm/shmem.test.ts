// tmpfs files as the kernel maps them: truncation (shmem_setattr()) and
// faults on file pages (do_read_fault() with its fault-around, SIGBUS past
// EOF). Measured on qemu-arm64@current (7.2) and qemu-arm64 (6.12), which
// agree.
import { expect, test } from 'vitest';
import type { Proc } from '../../harness/target.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { memfdOf, smapsFields } from '../../harness/testing/proc.ts';
import * as U from '../../uapi/linux.ts';

const PAGE = 4096n;
const RW = U.PROT_READ | U.PROT_WRITE;
const BASE = 0x5000_0000_0000n;

async function setup(pages: bigint): Promise<{ p: Proc; fd: number }> {
  const p = await (await referenceTarget('')).spawn();
  return { p, fd: await memfdOf(p, pages) };
}

async function map(p: Proc, at: bigint, pages: bigint, prot: number, flags: number, fd: number, offPages = 0n): Promise<bigint> {
  const a = await p.mmap(at, pages * PAGE, prot, flags | U.MAP_FIXED, fd, offPages * PAGE);
  if (U.isErr(a)) throw new Error(String(a));
  return a;
}

/** A byte at addr, or the signal the load raises. */
async function byte(p: Proc, addr: bigint): Promise<number | string> {
  const r = await p.read(addr, 1);
  return r.ok ? r.data[0]! : r.signal;
}

/** Per page: P present, S swapped, - neither; X exclusively mapped, F file (or shared) page. */
async function pages(p: Proc, addr: bigint, n: number): Promise<string> {
  const r = await p.pagemap(addr, n);
  if (U.isErr(r)) throw new Error(String(r));
  return [...r].map((e) => (e & U.PM_PRESENT ? 'P' : e & U.PM_SWAP ? 'S' : '-') + (e & U.PM_MMAP_EXCLUSIVE ? 'X' : '') + (e & U.PM_FILE ? 'F' : '')).join(' ');
}

/** The regions of [addr, addr + n pages) PAGEMAP_SCAN calls written: pte_none within a pte table is, a hole with no table is not. */
async function withTable(p: Proc, addr: bigint, n: bigint): Promise<string> {
  const r = await p.pagemapScan({ start: addr, end: addr + n * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: U.PAGE_IS_WRITTEN, returnMask: U.PAGE_IS_WRITTEN, vecLen: 8 });
  if (U.isErr(r)) throw new Error(String(r));
  return r.regions.map((g) => `[${(g.start - addr) / PAGE},${(g.end - addr) / PAGE})`).join(' ');
}

// shmem_setattr(): unmap_mapping_range(holebegin, 0, even_cows = 1), then shmem_truncate_range()
test('shrinking a file unmaps the pages past its end everywhere, private copies too: SIGBUS there, zeroes once it grows again', async () => {
  const { p, fd } = await setup(4n);
  const shared = await map(p, BASE, 4n, RW, U.MAP_SHARED, fd);
  const priv = await map(p, BASE + 0x200000n, 4n, RW, U.MAP_PRIVATE, fd);
  for (let i = 0n; i < 4n; i++) expect((await p.write(shared + i * PAGE, new Uint8Array([Number(i) + 1]))).ok).toBe(true);
  expect((await p.write(priv + 2n * PAGE, new Uint8Array([9]))).ok).toBe(true); // a COWed copy
  expect(await byte(p, priv + 3n * PAGE)).toBe(4); // the page cache page, mapped
  expect(await pages(p, shared, 4)).toBe('PF PF PXF PF');
  expect(await pages(p, priv, 4)).toBe('PF PF PX PF');

  expect(await p.ftruncate(fd, 2n * PAGE)).toBe(0);
  expect(await pages(p, shared, 4)).toBe('PF PF - -');
  expect(await pages(p, priv, 4)).toBe('PF PF - -');
  // the zap leaves the page tables
  expect(await withTable(p, priv, 4n)).toBe('[0,4)');
  expect([await byte(p, shared), await byte(p, shared + 2n * PAGE), await byte(p, priv + 2n * PAGE), await byte(p, priv + 3n * PAGE)]).toEqual([1, 'SIGBUS', 'SIGBUS', 'SIGBUS']);

  expect(await p.ftruncate(fd, 4n * PAGE)).toBe(0);
  expect([await byte(p, shared + 2n * PAGE), await byte(p, shared + 3n * PAGE), await byte(p, priv + 2n * PAGE), await byte(p, priv + 3n * PAGE)]).toEqual([0, 0, 0, 0]);
});

// truncate_inode_partial_folio(): the page the new size ends in stays, its tail zeroed; holebegin
// rounds up, so a private copy of that page stays mapped
test('a size inside a page keeps that page with its tail zeroed, and a private copy of it', async () => {
  const { p, fd } = await setup(4n);
  const shared = await map(p, BASE, 4n, RW, U.MAP_SHARED, fd);
  const priv = await map(p, BASE + 0x200000n, 4n, RW, U.MAP_PRIVATE, fd);
  expect((await p.write(shared + 2n * PAGE + 0x10n, new Uint8Array([7]))).ok).toBe(true);
  expect((await p.write(shared + 2n * PAGE + 0x900n, new Uint8Array([8]))).ok).toBe(true);
  expect((await p.write(priv + 2n * PAGE + 0x900n, new Uint8Array([6]))).ok).toBe(true);
  expect(await p.ftruncate(fd, 2n * PAGE + 0x800n)).toBe(0);
  expect(await pages(p, shared, 4)).toBe('- - PXF -');
  expect(await pages(p, priv, 4)).toBe('- - PX -');
  expect([await byte(p, shared + 2n * PAGE + 0x10n), await byte(p, shared + 2n * PAGE + 0x900n), await byte(p, shared + 3n * PAGE)]).toEqual([7, 0, 'SIGBUS']);
  expect([await byte(p, priv + 2n * PAGE + 0x10n), await byte(p, priv + 2n * PAGE + 0x900n)]).toEqual([7, 6]);
  expect(await p.ftruncate(fd, 4n * PAGE)).toBe(0);
  expect([await byte(p, shared + 2n * PAGE + 0x10n), await byte(p, shared + 2n * PAGE + 0x900n)]).toEqual([7, 0]);
});

// __do_fault() fails before finish_fault() would allocate the pte table; do_read_fault()'s fault-around
// runs first, and allocates one only to map a cached page below EOF
test('a fault past EOF leaves no pte table, unless the fault-around before it mapped a neighbour', async () => {
  const { p, fd } = await setup(1n);
  const shared = await map(p, BASE, 4n, RW, U.MAP_SHARED, fd);
  const priv = await map(p, BASE + 0x200000n, 4n, RW, U.MAP_PRIVATE, fd);
  expect(await byte(p, shared + 3n * PAGE)).toBe('SIGBUS');
  expect((await p.write(shared + 2n * PAGE, new Uint8Array([1]))).ok).toBe(false);
  expect((await p.write(priv + 2n * PAGE, new Uint8Array([1]))).ok).toBe(false);
  expect(await byte(p, priv + 2n * PAGE)).toBe('SIGBUS');
  expect(await withTable(p, shared, 4n)).toBe('');
  expect(await withTable(p, priv, 4n)).toBe('');

  // page 0 cached through a third mapping: the failing read maps it first
  const other = await map(p, BASE + 0x400000n, 1n, RW, U.MAP_SHARED, fd);
  expect((await p.write(other, new Uint8Array([5]))).ok).toBe(true);
  expect(await byte(p, shared + 3n * PAGE)).toBe('SIGBUS');
  expect(await byte(p, priv + 3n * PAGE)).toBe('SIGBUS');
  expect(await pages(p, shared, 4)).toBe('PF - - -');
  expect(await pages(p, priv, 4)).toBe('PF - - -');
  expect(await withTable(p, shared, 4n)).toBe('[0,4)');
});

// do_fault_around(): from the window's aligned start, or the area's start if later, fault_around_pages
// (16) long, cut at the area's and the pmd's end
test('fault-around maps 16 pages from where the area starts in the window, not to the aligned window end', async () => {
  const { p, fd } = await setup(64n);
  const all = await map(p, BASE + 0x400000n, 64n, RW, U.MAP_SHARED, fd);
  for (let i = 0n; i < 64n; i++) expect((await p.write(all + i * PAGE, new Uint8Array([1]))).ok).toBe(true);
  const a = await map(p, BASE + 5n * PAGE, 40n, U.PROT_READ, U.MAP_SHARED, fd);
  expect(await byte(p, a + PAGE)).toBe(1);
  expect(await pages(p, a, 20)).toBe(`${Array(16).fill('PF').join(' ')} - - - -`);
  // near a pmd's end the window is cut there
  const b = await map(p, BASE + 0x200000n - 8n * PAGE, 40n, U.PROT_READ, U.MAP_SHARED, fd);
  expect(await byte(p, b + 10n * PAGE)).toBe(1);
  expect(await pages(p, b, 26)).toBe(`- - - - - - - - ${Array(16).fill('PF').join(' ')} - -`);
});

// A store through a writable clean pte (hardware DBM) dirties the pte only; zap_present_folio_ptes()
// passes it on to the folio (folio_mark_dirty()) when the pte goes
test('a page cache page written through one mapping is dirty in another only once the writer unmaps it', async () => {
  const { p, fd } = await setup(4n);
  const a = await map(p, BASE, 4n, RW, U.MAP_SHARED | U.MAP_POPULATE, fd);
  const b = await map(p, BASE + 0x200000n, 4n, U.PROT_READ, U.MAP_PRIVATE | U.MAP_POPULATE, fd);
  expect((await p.write(a + PAGE, new Uint8Array([1]))).ok).toBe(true);
  const fields = ['Shared_Clean', 'Shared_Dirty', 'Private_Dirty'];
  expect(await smapsFields(p, a, fields)).toEqual(['Shared_Clean: 12 kB', 'Shared_Dirty: 4 kB', 'Private_Dirty: 0 kB']);
  expect(await smapsFields(p, b, fields)).toEqual(['Shared_Clean: 16 kB', 'Shared_Dirty: 0 kB', 'Private_Dirty: 0 kB']);
  expect(await p.munmap(a, 4n * PAGE)).toBe(0);
  expect(await smapsFields(p, b, fields)).toEqual(['Shared_Clean: 0 kB', 'Shared_Dirty: 0 kB', 'Private_Dirty: 4 kB']);
});
