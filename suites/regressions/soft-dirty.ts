// Historical soft-dirty and pagemap-reporting bugs (shared/reference/bugs.md,
// areas A and B, C2 where soft-dirty meets migration, and F7 where it meets hugetlb), each as the minimal scenario that shows it: one result per
// bug id. A kernel that has the bug fails that result; the model must not.
// The mutant catalogue will put each bug back into the model and expect this
// suite to catch it.

import { MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_PRIVATE, MAP_SHARED, MREMAP_FIXED, MREMAP_MAYMOVE, PM_FILE, PM_PRESENT, PROT_NONE, PROT_READ, PROT_WRITE, isErr } from '../../uapi/linux.ts';
import type { Ksft } from '../../harness/ksft.ts';
import type { Selftest, Suite } from '../../harness/suite.ts';
import { loadByte, storeByte } from '../../harness/user-memory.ts';
import { clearSoftdirty, pagemapGetEntry, pagemapIsSoftdirty, softdirtySupported } from '../../harness/vm-util.ts';
import { NOT_ENOUGH_NODES, movePagesTo, otherNode } from '../numa.ts';

const HPAGE = 2n << 20n;
const NO_SOFT_DIRTY = 'soft-dirty is not supported';

const NAMES = {
  writenotify: 'sd-writenotify: shared page read-faulted after clear_refs is soft-dirty once written',
  mprotect: 'sd-mprotect: mprotect(RO) then mprotect(RW) after clear_refs keeps write faults for soft-dirty',
  merge: 'sd-vma-merge: a clean area merged with a new soft-dirty one is soft-dirty',
  holeVmflag: 'sd-hole-vmflag: an untouched new area with no page tables reads soft-dirty',
  holeBefore: 'sd-hole-before: an unmapped page before an area reads as 0',
  hugetlbWritenotify: 'hugetlb-sd-writenotify: a shared hugetlb page written after mprotect and clear_refs stays the shared page, writable',
  migration: 'sd-migration: a page written since clear_refs is soft-dirty after move_pages, one not written is clean until written',
};

async function mapAnon(t: Selftest, len: bigint, prot: number, flags: number, addr = 0n): Promise<bigint> {
  const map = await t.proc.mmap(addr, len, prot, flags | MAP_ANONYMOUS, -1, 0n);
  if (isErr(map)) t.ksft.exitFailMsg(`mmap failed: ${map}`);
  return map;
}

// A1 (v3.18, 64e455079e1b): shmem/shared-anon areas had no write-notify after clear_refs
async function sdWritenotify(t: Selftest, sd: boolean): Promise<void> {
  const ksft: Ksft = t.ksft;
  if (!sd) return ksft.testResultSkip(NAMES.writenotify);
  const map = await mapAnon(t, t.pagesize, PROT_READ | PROT_WRITE, MAP_SHARED);
  await clearSoftdirty(t);
  await loadByte(t.proc, map);
  const cleanAfterRead = !(await pagemapIsSoftdirty(t, map));
  await storeByte(t.proc, map, 1);
  ksft.testResult(cleanAfterRead && (await pagemapIsSoftdirty(t, map)), NAMES.writenotify);
  await t.proc.munmap(map, t.pagesize);
}

// A2 (v6.0, 76aefad628aa): can_change_pte_writable() tested VM_SOFTDIRTY with the opposite sense
async function sdMprotect(t: Selftest, sd: boolean): Promise<void> {
  const ksft: Ksft = t.ksft;
  if (!sd) return ksft.testResultSkip(NAMES.mprotect);
  const map = await mapAnon(t, t.pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  await storeByte(t.proc, map, 1);
  await clearSoftdirty(t);
  await t.proc.mprotect(map, t.pagesize, PROT_READ);
  await t.proc.mprotect(map, t.pagesize, PROT_READ | PROT_WRITE);
  const clean = !(await pagemapIsSoftdirty(t, map));
  await storeByte(t.proc, map, 2);
  ksft.testResult(clean && (await pagemapIsSoftdirty(t, map)), NAMES.mprotect);
  await t.proc.munmap(map, t.pagesize);
}

// A4 (v6.19, 6707915e030a): VM_SOFTDIRTY was not sticky across a merge (the mremap case)
async function sdVmaMerge(t: Selftest, sd: boolean): Promise<void> {
  const ksft: Ksft = t.ksft;
  if (!sd) return ksft.testResultSkip(NAMES.merge);
  const page = t.pagesize;
  const reserved = await mapAnon(t, 5n * page, PROT_NONE, MAP_PRIVATE);
  await t.proc.munmap(reserved, 4n * page);
  const p1 = await mapAnon(t, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, reserved + page);
  await clearSoftdirty(t);
  const p2 = await mapAnon(t, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, reserved + 3n * page);
  const moved = await t.proc.mremap(p2, page, page, MREMAP_FIXED | MREMAP_MAYMOVE, reserved + 2n * page);
  if (isErr(moved)) ksft.exitFailMsg(`mremap failed: ${moved}`);
  ksft.testResult((await pagemapIsSoftdirty(t, p1)) && (await pagemapIsSoftdirty(t, moved)), NAMES.merge);
  await t.proc.munmap(p1, 2n * page);
}

// B1 (v3.17, 68b5a6524856): pagemap ignored VM_SOFTDIRTY where no page table exists
async function sdHoleVmflag(t: Selftest, sd: boolean): Promise<void> {
  const ksft: Ksft = t.ksft;
  if (!sd) return ksft.testResultSkip(NAMES.holeVmflag);
  const map = await mapAnon(t, 2n * HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  const fresh = await pagemapIsSoftdirty(t, map + HPAGE);
  await clearSoftdirty(t);
  ksft.testResult(fresh && !(await pagemapIsSoftdirty(t, map + HPAGE)), NAMES.holeVmflag);
  await t.proc.munmap(map, 2n * HPAGE);
}

// B2 (v3.18, 81d0fa623c5b): the hole handler applied the next area's VM_SOFTDIRTY before its start
async function sdHoleBefore(t: Selftest): Promise<void> {
  const map = await mapAnon(t, HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  await t.proc.munmap(map, t.pagesize);
  t.ksft.testResult((await pagemapGetEntry(t, map)) === 0n, NAMES.holeBefore);
  await t.proc.munmap(map + t.pagesize, HPAGE - t.pagesize);
}

// F7 (v6.0, f96f7a40874d): soft-dirty write-notify applied to hugetlb, which has neither, so mprotect() left the
// shared page read-only and the write went to CoW (since hugetlb_wp() takes shared areas out first, f96f7a40874d's
// companion fix, that write fault only makes it writable: the fault itself is what shows)
async function hugetlbSdWritenotify(t: Selftest, sd: boolean): Promise<void> {
  const ksft: Ksft = t.ksft;
  if (!sd) return ksft.testResultSkip(NAMES.hugetlbWritenotify);
  const map = await t.proc.mmap(0n, HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n);
  if (isErr(map)) {
    ksft.printMsg(`no free hugetlb page: ${map.name}`);
    return ksft.testResultSkip(NAMES.hugetlbWritenotify);
  }
  await storeByte(t.proc, map, 1);
  await t.proc.mprotect(map, HPAGE, PROT_READ);
  await clearSoftdirty(t);
  await t.proc.mprotect(map, HPAGE, PROT_READ | PROT_WRITE);
  // the second write from a thread of its own, which counts its faults: none, the page writable again
  const thread = await t.proc.threadCreate();
  if (isErr(thread)) ksft.exitFailMsg(`thread_create failed: ${thread}`);
  const before = await thread.minflt();
  const wrote = await thread.atomicAdd([map], 1);
  const after = await thread.minflt();
  if (isErr(before) || isErr(after)) ksft.exitFailMsg('getrusage failed');
  // still the shared page: a file page to pagemap, holding both writes
  const entry = await pagemapGetEntry(t, map);
  const faults = after - before;
  if (faults !== 0n) ksft.printMsg(`the write after mprotect(PROT_READ|PROT_WRITE) took ${faults} fault(s)`);
  ksft.testResult(wrote.ok && faults === 0n && (entry & (PM_PRESENT | PM_FILE)) === (PM_PRESENT | PM_FILE) && (await loadByte(t.proc, map)) === 2, NAMES.hugetlbWritenotify);
  await t.proc.munmap(map, HPAGE);
}

// C2 (v3.12, c3d16e16522f): remove_migration_pte() rebuilt the pte without its soft-dirty bit
async function sdMigration(t: Selftest, sd: boolean): Promise<void> {
  const ksft: Ksft = t.ksft;
  if (!sd) return ksft.testResultSkip(NAMES.migration);
  const map = await mapAnon(t, 2n * t.pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE);
  const pages = [map, map + t.pagesize];
  for (const page of pages) await storeByte(t.proc, page, 1);
  await clearSoftdirty(t);
  await storeByte(t.proc, map, 2);
  const node = await otherNode(t, map);
  if (node === null) {
    ksft.printMsg(NOT_ENOUGH_NODES);
    ksft.testResultSkip(NAMES.migration);
  } else {
    const moved = await movePagesTo(t, pages, node);
    const kept = (await pagemapIsSoftdirty(t, map)) && !(await pagemapIsSoftdirty(t, map + t.pagesize));
    const data = (await loadByte(t.proc, map)) === 2 && (await loadByte(t.proc, map + t.pagesize)) === 1;
    await storeByte(t.proc, map + t.pagesize, 3);
    ksft.testResult(moved && kept && data && (await pagemapIsSoftdirty(t, map + t.pagesize)), NAMES.migration);
  }
  await t.proc.munmap(map, 2n * t.pagesize);
}

async function main(t: Selftest): Promise<void> {
  const ksft: Ksft = t.ksft;
  ksft.printHeader();
  ksft.setPlan(Object.keys(NAMES).length);
  const sd = await softdirtySupported(t);
  if (!sd) ksft.printMsg(NO_SOFT_DIRTY);
  await sdWritenotify(t, sd);
  await sdMprotect(t, sd);
  await sdVmaMerge(t, sd);
  await sdHoleVmflag(t, sd);
  await sdHoleBefore(t);
  await hugetlbSdWritenotify(t, sd);
  await sdMigration(t, sd);
  ksft.finished();
}

export const softDirtyRegressions: Suite = {
  name: 'regressions-soft-dirty',
  source: 'shared/reference/bugs.md: A1 A2 A4 B1 B2 F7 C2',
  tests: Object.values(NAMES),
  run: main,
};
