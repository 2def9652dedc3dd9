// Files and shared memory, as userspace sees them: System V segments on
// hugetlbfs and on tmpfs (reserved at shmget, keys, IPC_RMID while attached,
// destroyed at the last detach), a hugetlbfs memfd (reserved at mmap, grown
// by a writable mapping, freed with its last reference), write(2) to a file
// and what a private mapping of it shows, and the program's own binary
// mapped. Run on a target with the default pool of 16 pages; it leaves the
// pool as it found it.

import {
  IPC_CREAT,
  IPC_RMID,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_HUGETLB,
  MFD_NOEXEC_SEAL,
  O_CREAT,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  SHM_HUGETLB,
  isErr,
  must,
} from '../../uapi/linux.ts';
import type { Target } from '../target.ts';
import { play } from './player.ts';

const PAGE = 4096n;
const H = 2n << 20n;
const RW = PROT_READ | PROT_WRITE;
const FIELDS = ['Size', 'Rss', 'Shared_Hugetlb', 'Private_Hugetlb', 'VmFlags'];
const MODE = 0o600;

export function filesScenario(target: Target): Promise<string[]> {
  return play(target, [
    async (s) => {
      const p = s.p;
      await s.hugetlbCounters('boot');
      const id = must(await p.shmget(2, H, SHM_HUGETLB | IPC_CREAT | MODE), 'shmget');
      await s.hugetlbCounters('shmget reserves the segment');
      s.result('the same key, a larger size', await p.shmget(2, 2n * H, IPC_CREAT | MODE));
      s.lines.push(`the same key, a smaller size, gives the segment: ${(await p.shmget(2, PAGE, 0)) === id}`);
      const a = must(await p.shmat(id, 0n, 0), 'shmat');
      s.lines.push(`attached huge-aligned: ${(a & (H - 1n)) === 0n}`);
      await s.mapName('attached', a);
      await s.smaps('attached smaps', a, FIELDS);
      await s.hugetlbCounters('attaching reserves nothing more');
      await s.write('store', a + PAGE, 7);
      await s.pagemap('a file page', a, 2);
      await s.categories('categories', a, 512);
      await s.hugetlbCounters('the fault takes the reservation');
      s.result('remove while attached', await p.shmctl(id, IPC_RMID));
      s.result('remove again', await p.shmctl(id, IPC_RMID));
      await s.mapName('removed, still attached', a);
      const again = must(await p.shmget(2, H, SHM_HUGETLB | IPC_CREAT | MODE), 'shmget');
      s.lines.push(`the key makes a new segment: ${again !== id}`);
      await s.hugetlbCounters('two segments');
      s.result('remove the unattached one', await p.shmctl(again, IPC_RMID));
      await s.hugetlbCounters('gone at once');
      s.result('detach', await p.shmdt(a));
      await s.hugetlbCounters('the last detach destroys the removed segment');
      s.result('detach again', await p.shmdt(a));
      s.result('a segment larger than the pool', await p.shmget(0, 17n * H, SHM_HUGETLB | IPC_CREAT | MODE));
    },
    async (s) => {
      const p = s.p;
      const id = must(await p.shmget(0, 3n * PAGE, IPC_CREAT | MODE), 'shmget');
      const a = must(await p.shmat(id, 0n, 0), 'shmat');
      await s.mapName('tmpfs segment', a);
      await s.smaps('tmpfs segment smaps', a, FIELDS);
      await s.write('store', a, 7);
      await s.pagemap('after the store', a, 3);
      await s.categories('categories', a, 3);
      s.result('remove', await p.shmctl(id, IPC_RMID));
      await s.readBack('still attached', a);
      s.result('detach', await p.shmdt(a));
    },
    async (s) => {
      const p = s.p;
      const fd = must(await p.memfdCreate('huge', MFD_HUGETLB | MFD_NOEXEC_SEAL), 'memfd_create');
      await s.hugetlbCounters('hugetlb memfd');
      s.result('write(2) to it', await p.writeFd(fd, new Uint8Array(8)));
      s.result('a mapping larger than the pool', await p.mmap(0n, 17n * H, RW, MAP_SHARED, fd, 0n));
      s.result('from an offset not huge-aligned', await p.mmap(0n, H, RW, MAP_SHARED, fd, PAGE));
      const a = must(await p.mmap(0n, PAGE, RW, MAP_SHARED, fd, 0n), 'mmap');
      s.lines.push(`huge-aligned: ${(a & (H - 1n)) === 0n}`);
      await s.mapName('mapped', a);
      await s.smaps('mapped smaps', a, FIELDS);
      await s.hugetlbCounters('mmap reserves, rounded up to a huge page');
      await s.write('store', a, 7);
      await s.categories('categories', a, 512);
      s.result('close', await p.close(fd));
      await s.hugetlbCounters('the mapping keeps the file');
      await s.readBack('still mapped', a);
      s.result('munmap', await p.munmap(a, H));
      await s.hugetlbCounters('the last reference frees its page');
    },
    async (s) => {
      const p = s.p;
      const fd = must(await p.open('scenario-files.tmp', O_RDWR | O_CREAT, MODE), 'open');
      s.result('write 10 pages', await p.writeFd(fd, new Uint8Array(10 * 4096).fill(0x63)));
      s.result('write 3 more bytes', await p.writeFd(fd, new Uint8Array([1, 2, 3])));
      const st = must(await p.stat('scenario-files.tmp'), 'stat');
      s.lines.push(`st_size: ${st.size}`);
      const a = must(await p.mmap(0n, 11n * PAGE, RW, MAP_PRIVATE, fd, 0n), 'mmap');
      await s.readBack('page 0', a);
      await s.readBack('the last bytes', a + 10n * PAGE + 2n);
      await s.categories('read', a, 11);
      await s.write('store', a + PAGE, 7);
      await s.categories('one page copied', a, 11);
      s.result('close', await p.close(fd));
      s.result('munmap', await p.munmap(a, 11n * PAGE));
      s.result('unlink', await p.unlink('scenario-files.tmp'));
      s.result('stat after unlink', await p.stat('scenario-files.tmp').then((r) => (isErr(r) ? r : 0)));
    },
    async (s) => {
      const p = s.p;
      const fd = must(await p.open('/proc/self/exe', O_RDONLY), 'open');
      const size = must(await p.stat('/proc/self/exe'), 'stat').size;
      const pages = Number((size + PAGE - 1n) / PAGE);
      const a = must(await p.mmap(0n, size, PROT_READ, MAP_PRIVATE, fd, 0n), 'mmap');
      for (let i = 0; i < pages; i++) await p.read(a + BigInt(i) * PAGE, 1);
      const r = must(
        await p.pagemapScan({ start: a, end: a + size, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7d, returnMask: 0x7d, vecLen: 10 }),
        'PAGEMAP_SCAN',
      );
      const one = r.ret === 1 && r.regions[0]?.start === a && r.regions[0].end === a + BigInt(pages) * PAGE;
      s.lines.push(`the program, read: one region of every page: ${one}, categories 0x${(r.regions[0]?.categories ?? 0).toString(16)}`);
      s.result('close', await p.close(fd));
    },
  ]);
}
