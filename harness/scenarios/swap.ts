// A swap scenario any target can play: anonymous pages, a THP split by a
// partial MADV_PAGEOUT and one swapped whole, shmem, MADV_DONTNEED of a swap
// entry. It returns what userspace sees (pagemap, smaps' Rss, AnonHugePages
// and Swap, data read back) as lines with page frames masked, so a model
// and a real kernel can be held to each other line for line.

import { MADV_DONTNEED, MADV_HUGEPAGE, MADV_PAGEOUT, MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE, PM_PFRAME_MASK, PM_PRESENT, isErr } from '../../uapi/linux.ts';
import type { Proc, Ret, Target } from '../target.ts';

const PAGE = 4096n;
const HPAGE = 2n << 20n;
const RW = PROT_READ | PROT_WRITE;

function must<T>(r: Ret<T>, what: string): T {
  if (isErr(r)) throw new Error(`${what}: ${r.name}`);
  return r;
}

class Player {
  readonly lines: string[] = [];
  private zeroPfn = -1n;
  constructor(private readonly p: Proc) {}

  async init(): Promise<void> {
    const a = must(await this.p.mmap(0n, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
    await this.p.read(a, 1);
    this.zeroPfn = must(await this.p.pagemap(a, 1), 'pagemap')[0]! & PM_PFRAME_MASK;
    await this.p.munmap(a, PAGE);
  }

  /** pagemap entries, a present page's frame shown as "pfn" or "zero" */
  async pagemap(label: string, addr: bigint, n: number): Promise<void> {
    const entries = must(await this.p.pagemap(addr, n), 'pagemap');
    const shown = Array.from(entries, (e) => {
      if (!(e & PM_PRESENT)) return `0x${e.toString(16)}`;
      const frame = e & PM_PFRAME_MASK;
      return `0x${(e & ~PM_PFRAME_MASK).toString(16)}+${frame === this.zeroPfn ? 'zero' : 'pfn'}`;
    });
    this.lines.push(`${label}: ${shown.join(' ')}`);
  }

  /** Rss, AnonHugePages and Swap of the area starting at addr */
  async smaps(label: string, addr: bigint): Promise<void> {
    const text = must(await this.p.readFile(`/proc/${this.p.pid}/smaps`), 'smaps');
    const blocks = text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
    const block = blocks.find((b) => BigInt(`0x${b.split('-')[0]}`) === addr) ?? '';
    const fields = ['Rss', 'AnonHugePages', 'Swap'].map((f) => `${f} ${/^(\w+):\s+(\d+) kB$/m.exec(block.split('\n').find((l) => l.startsWith(`${f}:`)) ?? '')?.[2] ?? '?'}`);
    this.lines.push(`${label}: ${fields.join(', ')}`);
  }

  async madvise(label: string, addr: bigint, len: bigint, advice: number): Promise<void> {
    const r = await this.p.madvise(addr, len, advice);
    this.lines.push(`${label}: ${isErr(r) ? r.name : r}`);
  }

  async write(addr: bigint, byte: number): Promise<void> {
    const r = await this.p.write(addr, new Uint8Array([byte]));
    if (!r.ok) throw new Error(`store to 0x${addr.toString(16)}: ${r.signal}`);
  }

  async readBack(label: string, addr: bigint): Promise<void> {
    const r = await this.p.read(addr, 1);
    this.lines.push(`${label}: ${r.ok ? r.data[0] : r.signal}`);
  }

  async hugeAligned(): Promise<bigint> {
    const raw = must(await this.p.mmap(0n, 2n * HPAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
    const a = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
    must(await this.p.madvise(a, HPAGE, MADV_HUGEPAGE), 'madvise');
    return a;
  }
}

/** Each step's observation; a fresh process per part, as the swap device carries over. */
export async function swapScenario(target: Target): Promise<string[]> {
  const lines: string[] = [];
  const part = async (body: (s: Player, p: Proc) => Promise<void>) => {
    const p = await target.spawn();
    const s = new Player(p);
    await s.init();
    await body(s, p);
    await p.exit();
    lines.push(...s.lines);
  };
  await part(async (s, p) => {
    const a = must(await p.mmap(0n, 4n * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
    await s.write(a, 1);
    await s.write(a + PAGE, 2);
    await p.read(a + 2n * PAGE, 1);
    await s.madvise('anon pageout', a, 4n * PAGE, MADV_PAGEOUT);
    await s.pagemap('anon swapped (written, written, zero page, none)', a, 4);
    await s.smaps('anon smaps', a);
    await s.readBack('page 0 read back', a);
    await s.pagemap('page 0 swapped in by a load', a, 2);
    await s.write(a + PAGE, 9);
    await s.pagemap('page 1 swapped in by a store', a, 2);
    await p.writeFile(`/proc/${p.pid}/clear_refs`, '4');
    await s.madvise('pageout after clear_refs', a, 2n * PAGE, MADV_PAGEOUT);
    await s.pagemap('swapped again', a, 2);
  });
  await part(async (s) => {
    const a = await s.hugeAligned();
    await s.write(a, 1);
    await s.madvise('pageout of 4 pages of a THP', a, 4n * PAGE, MADV_PAGEOUT);
    await s.pagemap('split: the written page swapped, the rest the zero page', a, 6);
    await s.smaps('split THP smaps', a);
  });
  await part(async (s) => {
    const a = await s.hugeAligned();
    await s.write(a, 1);
    await s.madvise('pageout of a whole THP', a, HPAGE, MADV_PAGEOUT);
    await s.pagemap('THP swapped whole (first pages)', a, 3);
    await s.pagemap('THP swapped whole (last page)', a + HPAGE - PAGE, 1);
    await s.smaps('THP swapped smaps', a);
    await s.readBack('page 1 read back', a + PAGE);
    await s.pagemap('page 1 swapped in alone', a, 3);
  });
  await part(async (s, p) => {
    const a = must(await p.mmap(0n, 4n * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0n), 'mmap');
    await s.write(a, 1);
    await p.read(a + PAGE, 1);
    await s.write(a + 2n * PAGE, 3);
    await s.madvise('shmem pageout', a, 4n * PAGE, MADV_PAGEOUT);
    await s.pagemap('shmem ptes emptied', a, 4);
    await s.smaps('shmem smaps (written pages in swap)', a);
    await s.readBack('page 2 read back', a + 2n * PAGE);
    await s.pagemap('page 2 back, page 0 still in swap', a, 4);
    await s.smaps('shmem smaps after', a);
  });
  await part(async (s, p) => {
    const a = must(await p.mmap(0n, 2n * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
    await s.write(a, 1);
    await s.madvise('pageout', a, 2n * PAGE, MADV_PAGEOUT);
    await s.madvise('dontneed of a swap entry', a, PAGE, MADV_DONTNEED);
    await s.pagemap('dropped', a, 1);
    await s.readBack('reads zero', a);
  });
  return lines;
}
