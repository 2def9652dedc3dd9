// hugetlb, as userspace sees it: MAP_HUGETLB mappings private, shared and
// MAP_NORESERVE against a pool of 2 MiB pages, with the reservations mmap()
// takes and faults consume (HugePages_Rsvd), the huge-page alignment every
// split needs, MADV_DONTNEED giving a private page's reservation back,
// mremap in whole huge pages, clear_refs, the pool running dry, and
// nr_hugepages shrunk below what is in use (surplus pages, gone with their
// reservations), and mremap moving a reservation. Run on a target with the
// default pool of 16 pages; it leaves the pool as it found it but for the
// one reservation mremap leaks on both kernels.

import { MADV_DONTNEED, MADV_HUGEPAGE, MADV_PAGEOUT, MADV_POPULATE_WRITE, MAP_ANONYMOUS, MAP_FIXED, MAP_HUGETLB, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ, PROT_WRITE, must } from '../../uapi/linux.ts';
import type { Target } from '../target.ts';
import { play } from './player.ts';

const PAGE = 4096n;
const H = 2n << 20n;
const RW = PROT_READ | PROT_WRITE;
const FIELDS = ['Size', 'KernelPageSize', 'MMUPageSize', 'Rss', 'AnonHugePages', 'Shared_Hugetlb', 'Private_Hugetlb', 'THPeligible', 'VmFlags'];

export function hugetlbScenario(target: Target): Promise<string[]> {
  return play(target, [
    async (s) => {
      const p = s.p;
      await s.hugetlbCounters('boot');
      const a = must(await p.mmap(0n, 3n * H - PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n), 'mmap');
      s.lines.push(`private mapping huge-aligned: ${(a & (H - 1n)) === 0n}`);
      await s.hugetlbCounters('private mmap of 6M-4K reserves 3');
      await s.smaps('private smaps', a, FIELDS);
      await s.readBack('read page 0', a);
      await s.pagemap('read fault maps a whole huge page', a, 2);
      await s.hugetlbCounters('a read fault takes a reserved page');
      await s.write('write page 0', a + 5n, 7);
      await s.write('write page 1', a + H, 7);
      await s.smaps('private smaps, two pages', a, FIELDS);
      await s.hugetlbCounters('two faults');
      s.result('munmap with an unaligned end', await p.munmap(a + 2n * H, PAGE));
      s.result('munmap from an unaligned start', await p.munmap(a + PAGE, H));
      s.result('mprotect of 4K', await p.mprotect(a, PAGE, PROT_READ));
      s.result('dontneed from an unaligned start', await p.madvise(a + PAGE, H, MADV_DONTNEED));
      s.result('dontneed of 4K (rounds down to nothing)', await p.madvise(a, PAGE, MADV_DONTNEED));
      await s.pagemap('page 0 still there', a, 1);
      s.result('dontneed of page 1', await p.madvise(a + H, H + PAGE, MADV_DONTNEED));
      await s.pagemap('page 1 gone', a + H, 1);
      await s.hugetlbCounters('page 1 back in the pool, its reservation restored');
      await s.readBack('page 1 read again', a + H);
      await s.hugetlbCounters('refault takes the reservation');
      s.result('mremap page 1 away', await p.mremap(a + H, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, a + 40n * H));
      s.result('mremap of 4K', await p.mremap(a + 40n * H, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a + 50n * H));
      await s.pagemap('moved page 1', a + 40n * H, 1);
      s.result('mremap page 1 back', await p.mremap(a + 40n * H, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, a + H));
      s.result('pageout', await p.madvise(a, H, MADV_PAGEOUT));
      s.result('populate page 2', await p.madvise(a + 2n * H, H, MADV_POPULATE_WRITE));
      await s.hugetlbCounters('all three faulted');
      s.result('mprotect read-only', await p.mprotect(a, H, PROT_READ));
      s.result('mprotect read-write', await p.mprotect(a, 3n * H, RW));
      await s.pagemap('page 1 after mprotect', a + H, 1);
      await p.writeFile(`/proc/${p.pid}/clear_refs`, '4');
      await s.pagemap('after clear_refs (soft-dirty only from the area)', a + H, 1);
      await s.write('write page 1 again', a + H, 7);
      await s.pagemap('after the write', a + H, 1);
      s.result('munmap page 2', await p.munmap(a + 2n * H, H));
      await s.hugetlbCounters('page 2 back in the pool');
      s.result('munmap the rest', await p.munmap(a, 2n * H));
      await s.hugetlbCounters('all back but the page the 4K mremap moved');
      // unmapped here, not at exit, which the next part may overtake
      s.result('munmap that page', await p.munmap(a + 50n * H, H));
      await s.hugetlbCounters('all back');
    },
    async (s) => {
      const p = s.p;
      const a = must(await p.mmap(0n, H, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n), 'mmap');
      await s.hugetlbCounters('shared mmap reserves in the file');
      await s.smaps('shared smaps', a, FIELDS);
      await s.readBack('shared read', a);
      await s.pagemap('a file page', a, 1);
      await s.write('shared write', a, 7);
      await s.smaps('shared smaps, faulted', a, FIELDS);
      s.result('shared dontneed', await p.madvise(a, H, MADV_DONTNEED));
      await s.pagemap('unmapped', a, 1);
      await s.readBack('the page cache kept it', a);
      await s.hugetlbCounters('shared page in use');
      s.result('shared munmap', await p.munmap(a, H));
      await s.hugetlbCounters('the file is gone with its last mapping');
    },
    async (s) => {
      const p = s.p;
      s.result('private mmap beyond the pool', await p.mmap(0n, 40n * H, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n));
      const a = must(await p.mmap(0n, 40n * H, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE, -1, 0n), 'mmap');
      s.result('MAP_NORESERVE beyond the pool', a);
      await s.hugetlbCounters('nothing reserved');
      await s.smaps('noreserve smaps', a, ['VmFlags']);
      for (let i = 0n; i < 40n; i++) {
        const r = await p.write(a + i * H, new Uint8Array([1]));
        if (!r.ok) {
          s.lines.push(`fault ${i}: ${r.signal}`);
          break;
        }
      }
      await s.hugetlbCounters('pool empty');
      s.result('munmap', await p.munmap(a, 40n * H));
      s.result('MAP_HUGETLB on a bad fd', await p.mmap(0n, H, RW, MAP_PRIVATE | MAP_HUGETLB, 99, 0n));
      // a cut off a huge page boundary fails; the cuts before it stay, and so do the changes made
      const c = must(await p.mmap(0n, 2n * H, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n), 'mmap');
      s.result('MADV_HUGEPAGE of 4K', await p.madvise(c, PAGE, MADV_HUGEPAGE));
      s.result('MADV_HUGEPAGE of the first huge page', await p.madvise(c, H, MADV_HUGEPAGE));
      s.result('mprotect read-only to 4K past it', await p.mprotect(c, H + PAGE, PROT_READ));
      await s.smaps('the first huge page, read-only all the same', c, ['VmFlags']);
      await s.smaps('the second', c + H, ['VmFlags']);
      s.result('munmap', await p.munmap(c, 2n * H));
      const b = must(await p.mmap(0n, 2n * H, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n), 'mmap');
      s.result('MAP_FIXED 4K inside a hugetlb area', await p.mmap(b + PAGE, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0n));
      s.result('MAP_FIXED hugetlb over its second huge page', await p.mmap(b + H, H, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED, -1, 0n));
      await s.hugetlbCounters('the replaced page gave its reservation back, the new one took one');
      s.result('munmap', await p.munmap(b, 2n * H));
    },
    async (s) => {
      const p = s.p;
      const nr = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';
      const before = must(await p.readFile(nr), 'nr_hugepages').trim();
      s.result('nr_hugepages = 4', await p.writeFile(nr, '4'));
      const a = must(await p.mmap(0n, 3n * H, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n), 'mmap');
      await s.write('write page 0', a, 1);
      await s.hugetlbCounters('3 reserved, 1 in use');
      s.result('nr_hugepages = 1', await p.writeFile(nr, '1'));
      await s.hugetlbCounters('what is in use or reserved stays, as surplus');
      s.result('munmap', await p.munmap(a, 3n * H));
      await s.hugetlbCounters('surplus pages leave with their use and their reservations');
      s.result('nr_hugepages = x', await p.writeFile(nr, 'x'));
      s.result(`nr_hugepages = ${before} again`, await p.writeFile(nr, before));
      await s.hugetlbCounters('back');
    },
    // last: both kernels leak a reservation here, which stays for as long as the pool does
    async (s) => {
      const p = s.p;
      const a = must(await p.mmap(0n, 2n * H, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0n), 'mmap');
      const room = must(await p.mmap(0n, 4n * H, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
      const to = (room + H - 1n) & ~(H - 1n);
      s.result('mremap of the unfaulted second page', await p.mremap(a + H, H, H, MREMAP_MAYMOVE | MREMAP_FIXED, to));
      await s.hugetlbCounters('its reservation moved with it');
      await s.write('fault in what stayed', a, 1);
      await s.hugetlbCounters('what stayed lost its reservations with the move (fixup_hugetlb_reservations())');
      s.result('munmap what stayed', await p.munmap(a, H));
      s.result('munmap the moved page', await p.munmap(to, H));
      await s.hugetlbCounters('the stayed page reservation is never given back');
      s.result('munmap the rest', await p.munmap(room, 4n * H));
    },
  ]);
}
