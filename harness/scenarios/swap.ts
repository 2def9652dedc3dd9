// Swap, as userspace sees it: anonymous pages paged out and back in by a
// load and by a store, a THP split by a partial MADV_PAGEOUT (its
// zero-filled pages become the zero page) and one swapped whole, shmem
// pages going to swap through the page cache, MADV_DONTNEED of a swap entry.
// Each part unmaps what it swapped before its process exits: an exit's
// teardown may finish after the next part has begun, and the swap slots it
// frees decide where the next part's pages go. Each waits for swap
// writeback to end before it unmaps (Player.writebackDone()).

import { MADV_DONTNEED, MADV_HUGEPAGE, MADV_PAGEOUT, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, must } from '../../uapi/linux.ts';
import type { Target } from '../target.ts';
import { play, type Player } from './player.ts';

const PAGE = 4096n;
const HPAGE = 2n << 20n;
const RW = PROT_READ | PROT_WRITE;
const FIELDS = ['Rss', 'AnonHugePages', 'Swap'];

async function hugeAligned(s: Player): Promise<bigint> {
  const raw = must(await s.p.mmap(0n, 2n * HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
  const a = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
  must(await s.p.madvise(a, HPAGE, MADV_HUGEPAGE), 'madvise');
  return a;
}

export function swapScenario(target: Target): Promise<string[]> {
  return play(target, [
    async (s) => {
      const a = must(await s.p.mmap(0n, 4n * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
      await s.write(null, a, 1);
      await s.write(null, a + PAGE, 2);
      await s.p.read(a + 2n * PAGE, 1);
      s.result('anon pageout', await s.p.madvise(a, 4n * PAGE, MADV_PAGEOUT));
      await s.pagemap('anon swapped (written, written, zero page, none)', a, 4);
      await s.smaps('anon smaps', a, FIELDS);
      await s.swaps('swaps (6.12 counts its slots cache: a batch of 64)');
      await s.readBack('page 0 read back', a);
      await s.pagemap('page 0 swapped in by a load', a, 2);
      await s.write(null, a + PAGE, 9);
      await s.pagemap('page 1 swapped in by a store', a, 2);
      await s.p.writeFile(`/proc/${s.p.pid}/clear_refs`, '4');
      s.result('pageout after clear_refs', await s.p.madvise(a, 2n * PAGE, MADV_PAGEOUT));
      await s.pagemap('swapped again', a, 2);
      await s.writebackDone();
      s.result('munmap', await s.p.munmap(a, 4n * PAGE));
      await s.swaps('swaps after munmap');
    },
    async (s) => {
      const a = await hugeAligned(s);
      await s.write(null, a, 1);
      s.result('pageout of 4 pages of a THP', await s.p.madvise(a, 4n * PAGE, MADV_PAGEOUT));
      await s.pagemap('split: the written page swapped, the rest the zero page', a, 6);
      await s.smaps('split THP smaps', a, FIELDS);
      await s.writebackDone();
      s.result('munmap', await s.p.munmap(a, HPAGE));
    },
    async (s) => {
      const a = await hugeAligned(s);
      await s.write(null, a, 1);
      s.result('pageout of a whole THP', await s.p.madvise(a, HPAGE, MADV_PAGEOUT));
      await s.pagemap('THP swapped whole (first pages)', a, 3);
      await s.pagemap('THP swapped whole (last page)', a + HPAGE - PAGE, 1);
      await s.smaps('THP swapped smaps', a, FIELDS);
      await s.readBack('page 1 read back', a + PAGE);
      await s.pagemap('page 1 swapped in alone', a, 3);
      await s.writebackDone();
      s.result('munmap', await s.p.munmap(a, HPAGE));
    },
    async (s) => {
      const a = must(await s.p.mmap(0n, 4n * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0n), 'mmap');
      await s.write(null, a, 1);
      await s.p.read(a + PAGE, 1);
      await s.write(null, a + 2n * PAGE, 3);
      s.result('shmem pageout', await s.p.madvise(a, 4n * PAGE, MADV_PAGEOUT));
      await s.pagemap('shmem ptes emptied', a, 4);
      await s.smaps('shmem smaps (written pages in swap)', a, FIELDS);
      await s.readBack('page 2 read back', a + 2n * PAGE);
      await s.pagemap('page 2 back, page 0 still in swap', a, 4);
      await s.smaps('shmem smaps after', a, FIELDS);
      await s.writebackDone();
      s.result('munmap', await s.p.munmap(a, 4n * PAGE));
      await s.swaps('swaps after the shmem object is gone');
    },
    async (s) => {
      const a = must(await s.p.mmap(0n, 2n * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
      await s.write(null, a, 1);
      s.result('pageout', await s.p.madvise(a, 2n * PAGE, MADV_PAGEOUT));
      s.result('dontneed of a swap entry', await s.p.madvise(a, PAGE, MADV_DONTNEED));
      await s.pagemap('dropped', a, 1);
      await s.readBack('reads zero', a);
    },
  ]);
}
