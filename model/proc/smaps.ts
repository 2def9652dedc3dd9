// /proc/PID/smaps (fs/proc/task_mmu.c show_smap()): the text vm_util parses.

import type { Mm } from '../mm/mm.ts';
import type { Folio } from '../mm/physmem.ts';
import { PMD_SIZE } from '../mm/pgtables.ts';
import { VM_FLAG_MNEMONICS, VM_HUGETLB, VM_MAYSHARE, VM_READ, VM_SHARED, VM_WRITE, VM_EXEC, type Vma } from '../mm/vma.ts';

const PAGE = 4096n;

interface Mss {
  rss: bigint;
  pss: bigint;
  pssDirty: bigint;
  sharedClean: bigint;
  sharedDirty: bigint;
  privateClean: bigint;
  privateDirty: bigint;
  referenced: bigint;
  anonymous: bigint;
  lazyFree: bigint;
  anonHuge: bigint;
  shmemPmd: bigint;
  filePmd: bigint;
  swap: bigint;
  swapPss: bigint;
  sharedHugetlb: bigint;
  privateHugetlb: bigint;
}

// smaps_pte_entry() / smaps_pmd_entry() / smaps_account()
function account(mm: Mm, vma: Vma): Mss {
  const pg = mm.pg;
  const mss: Mss = { rss: 0n, pss: 0n, pssDirty: 0n, sharedClean: 0n, sharedDirty: 0n, privateClean: 0n, privateDirty: 0n, referenced: 0n, anonymous: 0n, lazyFree: 0n, anonHuge: 0n, shmemPmd: 0n, filePmd: 0n, swap: 0n, swapPss: 0n, sharedHugetlb: 0n, privateHugetlb: 0n };
  const add = (size: bigint, mapcount: number, dirty: boolean, young: boolean, f: Folio) => {
    mss.rss += size;
    if (young || f.referenced) mss.referenced += size;
    if (f.anon) mss.anonymous += size;
    if (f.anon && !f.swapbacked && !dirty) mss.lazyFree += size;
    const share = size / BigInt(Math.max(1, mapcount));
    mss.pss += share;
    if (dirty) mss.pssDirty += share;
    if (mapcount >= 2) {
      if (dirty) mss.sharedDirty += size;
      else mss.sharedClean += size;
    } else if (dirty) mss.privateDirty += size;
    else mss.privateClean += size;
  };
  if (vma.flags & VM_HUGETLB) {
    // smaps_hugetlb_range(): only the hugetlb counters
    for (const { val } of mm.pt.pmdsIn(vma.start, vma.end)) {
      const f = pg.pmdPresent(val) ? mm.sys.phys.folioOf(pg.pmdPfn(val)) : null;
      if (f && f.pmdMapped > 1) mss.sharedHugetlb += PMD_SIZE;
      else if (f) mss.privateHugetlb += PMD_SIZE;
    }
    return mss;
  }
  for (const { addr, val } of mm.pt.pmdsIn(vma.start, vma.end)) {
    if (!mm.pt.pmdIsTable(val)) {
      if (!pg.pmdPresent(val) || mm.sys.phys.isZeroPfn(pg.pmdPfn(val))) continue; // vm_normal_page_pmd(): not the huge zero page
      const f = mm.sys.phys.folioOf(pg.pmdPfn(val));
      if (!f) continue;
      if (f.anon) mss.anonHuge += PMD_SIZE;
      else if (f.mapping?.shmem) mss.shmemPmd += PMD_SIZE;
      else mss.filePmd += PMD_SIZE;
      add(PMD_SIZE, f.pmdMapped, pg.pteDirty(val) || f.dirty, pg.pteYoung(val), f);
      continue;
    }
    const lo = addr > vma.start ? addr : vma.start;
    const hi = addr + PMD_SIZE < vma.end ? addr + PMD_SIZE : vma.end;
    for (let a = lo; a < hi; a += PAGE) {
      const slot = mm.pt.pteSlot(a, false);
      const pte = slot === null ? 0n : mm.arch.ptepGet(slot); // a contiguous block's young and dirty bits
      if (pte !== 0n && !pg.ptePresent(pte)) {
        // a swap entry only this mapping holds (swp_swapcount() == 1)
        if (pg.isSwapEntry(pg.pteToSwpEntry(pte))) {
          mss.swap += PAGE;
          mss.swapPss += PAGE;
        }
        continue;
      }
      if (!pg.ptePresent(pte)) continue;
      const f = mm.vmNormalFolio(pte);
      if (!f) continue;
      const pfn = pg.ptePfn(pte);
      add(PAGE, f.pageMapcount(pfn), pg.pteDirty(pte) || f.dirty, pg.pteYoung(pte), f);
    }
  }
  mss.swap += shmemSwapped(mm, vma);
  return mss;
}

/**
 * smap_gather_stats(): a shmem area's pages in swap. A shared or read-only
 * mapping counts them all (shmem_swap_usage()); a private writable one only
 * where its own pte is empty (smaps_pte_hole_lookup()), as COW may have
 * replaced the rest.
 */
function shmemSwapped(mm: Mm, vma: Vma): bigint {
  const inode = vma.file;
  if (!inode) return 0n;
  const first = vma.pgoff;
  const last = vma.pgoff + (vma.end - vma.start) / PAGE;
  const privateWritable = !(vma.flags & VM_SHARED) && (vma.flags & VM_WRITE) !== 0;
  let pages = 0n;
  for (const index of inode.swapped.keys()) {
    if (index < first || index >= last) continue;
    if (privateWritable && mm.pt.pteVal(vma.start + (index - first) * PAGE) !== 0n) continue;
    pages++;
  }
  return pages * PAGE;
}

const kb = (name: string, bytes: bigint) => `${name.padEnd(16)}${String(bytes >> 10n).padStart(8)} kB`;
const hex8 = (v: bigint) => v.toString(16).padStart(8, '0');

// show_map_vma(): the header line
function header(vma: Vma): string {
  const perms = `${vma.flags & VM_READ ? 'r' : '-'}${vma.flags & VM_WRITE ? 'w' : '-'}${vma.flags & VM_EXEC ? 'x' : '-'}${vma.flags & VM_MAYSHARE ? 's' : 'p'}`;
  const file = vma.file;
  const pgoff = file ? vma.pgoff << 12n : 0n;
  const dev = file ? '00:01' : '00:00';
  const ino = file ? file.id : 0;
  const prefix = `${hex8(vma.start)}-${hex8(vma.end)} ${perms} ${hex8(pgoff)} ${dev} ${ino} `;
  if (vma.name) return `${prefix.padEnd(72)} ${vma.name}`;
  if (!file) return prefix;
  const name = file.nlink === 0 ? `${file.path} (deleted)` : file.path;
  return `${prefix.padEnd(72)} ${name}`;
}

export function smapsText(mm: Mm, thpEligible: (vma: Vma) => boolean): string {
  const out: string[] = [];
  for (const vma of mm.vmas.all()) {
    const m = account(mm, vma);
    const pageSize = vma.flags & VM_HUGETLB ? PMD_SIZE : PAGE; // vma_kernel_pagesize()
    const flags = VM_FLAG_MNEMONICS.filter(([f]) => vma.flags & f).map(([, s]) => `${s} `).join('');
    out.push(
      header(vma),
      kb('Size:', vma.end - vma.start),
      kb('KernelPageSize:', pageSize),
      kb('MMUPageSize:', pageSize),
      kb('Rss:', m.rss),
      kb('Pss:', m.pss),
      kb('Pss_Dirty:', m.pssDirty),
      kb('Shared_Clean:', m.sharedClean),
      kb('Shared_Dirty:', m.sharedDirty),
      kb('Private_Clean:', m.privateClean),
      kb('Private_Dirty:', m.privateDirty),
      kb('Referenced:', m.referenced),
      kb('Anonymous:', m.anonymous),
      kb('KSM:', 0n),
      kb('LazyFree:', m.lazyFree),
      kb('AnonHugePages:', m.anonHuge),
      kb('ShmemPmdMapped:', m.shmemPmd),
      kb('FilePmdMapped:', m.filePmd),
      kb('Shared_Hugetlb:', m.sharedHugetlb),
      kb('Private_Hugetlb:', m.privateHugetlb),
      kb('Swap:', m.swap),
      kb('SwapPss:', m.swapPss),
      kb('Locked:', 0n),
      `THPeligible:    ${String(thpEligible(vma) ? 1 : 0).padStart(8)}`,
      `VmFlags: ${flags}`,
    );
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
