// What a scenario sees of one process, written down as lines: pagemap with
// page frames masked, a few smaps fields of one area, the hugetlb counters,
// the result of each call. Lines, not values, so a model and a real kernel
// can be held to each other (and to a recorded run) line for line.

import { PM_PFRAME_MASK, PM_PRESENT, PROT_READ, MAP_ANONYMOUS, MAP_PRIVATE, isErr, must } from '../../uapi/linux.ts';
import type { Proc, Ret, Target } from '../target.ts';

const PAGE = 4096n;
const HUGEPAGES = '/sys/kernel/mm/hugepages/hugepages-2048kB';

export class Player {
  readonly lines: string[] = [];
  private zeroPfn = -1n;
  constructor(readonly p: Proc) {}

  /** Learns the zero page's frame, so pagemap lines can name it. */
  async init(): Promise<void> {
    const a = must(await this.p.mmap(0n, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0n), 'mmap');
    await this.p.read(a, 1);
    this.zeroPfn = must(await this.p.pagemap(a, 1), 'pagemap')[0]! & PM_PFRAME_MASK;
    must(await this.p.munmap(a, PAGE), 'munmap');
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

  /** Some smaps fields of the area starting at addr (VmFlags included if asked) */
  async smaps(label: string, addr: bigint, fields: readonly string[]): Promise<void> {
    const text = must(await this.p.readFile(`/proc/${this.p.pid}/smaps`), 'smaps');
    const block = text.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/).find((b) => BigInt(`0x${b.split('-')[0]}`) === addr) ?? '';
    const lines = block.split('\n');
    const shown = fields.map((f) => `${f} ${(lines.find((l) => l.startsWith(`${f}:`)) ?? '?').slice(f.length + 1).trim().replace(/\s+/g, ' ')}`);
    this.lines.push(`${label}: ${shown.join(', ')}`);
  }

  /** HugePages_* of /proc/meminfo and the 2 MiB hstate's sysfs counters */
  async hugetlbCounters(label: string): Promise<void> {
    const meminfo = must(await this.p.readFile('/proc/meminfo'), 'meminfo');
    const lines = meminfo.split('\n').filter((l) => /^(HugePages_|Hugepagesize|Hugetlb)/.test(l));
    const sysfs: string[] = [];
    for (const f of ['nr_hugepages', 'free_hugepages', 'resv_hugepages', 'surplus_hugepages']) {
      sysfs.push(`${f}=${must(await this.p.readFile(`${HUGEPAGES}/${f}`), f).trim()}`);
    }
    this.lines.push(`${label}: ${lines.map((l) => l.replace(/\s+/g, ' ')).join(', ')} | ${sysfs.join(' ')}`);
  }

  /**
   * Waits, up to 5 s, for /proc/meminfo's Writeback to come to 0 kB, and
   * writes nothing down. A page MADV_PAGEOUT sent to swap is under
   * writeback for a while; an munmap meanwhile cannot take it out of the
   * swap cache, so its slot stays used (free_swap_and_cache()), and what
   * /proc/swaps shows then depends on how fast the guest's disk was (a
   * guest under load kept two slots more). A target without the line
   * (the model writes back at once) does not wait.
   */
  async writebackDone(): Promise<void> {
    const deadline = performance.now() + 5000;
    for (;;) {
      const meminfo = await this.p.readFile('/proc/meminfo');
      const kb = isErr(meminfo) ? undefined : /^Writeback:\s+(\d+) kB$/m.exec(meminfo)?.[1];
      if (kb === undefined || kb === '0' || performance.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** /proc/swaps' device line: size, used, priority */
  async swaps(label: string): Promise<void> {
    const text = must(await this.p.readFile('/proc/swaps'), 'swaps');
    const line = text.split('\n')[1] ?? '';
    this.lines.push(`${label}: ${line.trim().split(/\s+/).slice(1).join(' ') || 'no swap'}`);
  }

  /** A call's result: 0, "ok" for an address, or the errno's name */
  result(label: string, r: Ret<bigint | number>): void {
    this.lines.push(`${label}: ${isErr(r) ? r.name : typeof r === 'bigint' ? 'ok' : r}`);
  }

  async write(label: string | null, addr: bigint, byte: number): Promise<void> {
    const r = await this.p.write(addr, new Uint8Array([byte]));
    if (label !== null) this.lines.push(`${label}: ${r.ok ? 'ok' : r.signal}`);
    else if (!r.ok) throw new Error(`store to 0x${addr.toString(16)}: ${r.signal}`);
  }

  /** The pathname smaps gives the area starting at addr ("" for anonymous memory) */
  async mapName(label: string, addr: bigint): Promise<void> {
    const text = must(await this.p.readFile(`/proc/${this.p.pid}/smaps`), 'smaps');
    const head = text.split('\n').find((l) => /^[0-9a-f]+-/.test(l) && BigInt(`0x${l.split('-')[0]}`) === addr);
    this.lines.push(`${label}: ${head === undefined ? '?' : (/^\S+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(head)?.[1] ?? '?')}`);
  }

  /** PAGEMAP_SCAN of n pages from addr, every category: its regions, in pages from addr */
  async categories(label: string, addr: bigint, n: number): Promise<void> {
    const all = 0xff; // every category 6.12 has (PAGE_IS_GUARD came in 6.14)
    const r = must(
      await this.p.pagemapScan({ start: addr, end: addr + BigInt(n) * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: all, returnMask: all, vecLen: n }),
      'PAGEMAP_SCAN',
    );
    const regions = r.regions.map((g) => `${(g.start - addr) / PAGE}..${(g.end - addr) / PAGE} 0x${g.categories.toString(16)}`);
    this.lines.push(`${label}: ${regions.join(', ') || 'none'}`);
  }

  async readBack(label: string, addr: bigint): Promise<void> {
    const r = await this.p.read(addr, 1);
    this.lines.push(`${label}: ${r.ok ? r.data[0] : r.signal}`);
  }
}

/** Plays parts of a scenario, each in a fresh process, and returns all their lines. */
export async function play(target: Target, parts: readonly ((s: Player) => Promise<void>)[]): Promise<string[]> {
  const lines: string[] = [];
  for (const part of parts) {
    const p = await target.spawn();
    const s = new Player(p);
    await s.init();
    await part(s);
    await p.exit();
    lines.push(...s.lines);
  }
  return lines;
}
