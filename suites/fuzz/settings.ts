// The model set up as the kernel it is compared with: THP mode and huge
// zero page, swap size, hugetlb pool and NUMA nodes, read from the kernel itself, and
// whether a read fault maps the zero page, tried on it; for whichever of
// them the model's spec leaves unsaid.

import type { Target } from '../../harness/target.ts';
import { KERNELS } from '../../model/kernel.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { HAS_MEMORY, parseNodeList } from '../numa.ts';

const THP = '/sys/kernel/mm/transparent_hugepage';

/**
 * The modelled kernel version for a release: the newest modelled one not
 * after it ("6.18.44-fc" -> "6.18"), the oldest for one before them all.
 */
export function modelledVersion(release: string): string {
  const key = (v: string) => v.split('.').slice(0, 2).reduce((n, p) => n * 1000 + Number.parseInt(p, 10), 0);
  const versions = Object.keys(KERNELS).sort((a, b) => key(a) - key(b));
  return versions.filter((v) => key(v) <= key(release)).at(-1) ?? versions[0]!;
}

/**
 * `spec` (a reference target's, "reference[:LAYOUT][@KERNEL][+OPTION]...")
 * with the kernel version and the options `kernel` runs with, where `spec`
 * leaves them unsaid: "+thp=...+thp_zero=...+swap=...+hugetlb=...+zero_page=...".
 */
export async function matchingSpec(spec: string, kernel: Target): Promise<string> {
  const [head = '', ...opts] = spec.split('+');
  const version = head.includes('@') ? '' : `@${modelledVersion((await kernel.info()).kernel)}`;
  return `${[head + version, ...opts].join('+')}${await matchingOptions(spec, kernel)}`;
}

/** "+thp=...+thp_zero=...+swap=...+hugetlb=...+numa=...+zero_page=..." as `kernel` runs, less the options `spec` sets. */
async function matchingOptions(spec: string, kernel: Target): Promise<string> {
  const proc = await kernel.spawn();
  try {
    const read = async (path: string) => {
      const r = await proc.readFile(path);
      if (isErr(r)) throw new Error(`reading ${path} on the kernel: ${r.name}`);
      return r;
    };
    const thp = /\[(\w+)\]/.exec(await read(`${THP}/enabled`))?.[1] ?? 'never';
    const zero = (await read(`${THP}/use_zero_page`)).trim();
    // /proc/swaps: a header, then a line a device with its size in KiB
    const swapKiB = (await read('/proc/swaps'))
      .split('\n')
      .slice(1)
      .reduce((sum, line) => sum + Number(line.split(/\s+/)[2] ?? 0), 0);
    const hugetlb = (await read('/proc/sys/vm/nr_hugepages')).trim();
    // a page read in: the zero page, or one of its own (exclusively mapped) where the kernel has none for it
    const page = U.must(await proc.mmap(0n, 4096n, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap on the kernel');
    await proc.read(page, 1);
    const entry = U.must(await proc.pagemap(page, 1), 'pagemap on the kernel')[0] ?? 0n;
    const zeroPage = entry & U.PM_MMAP_EXCLUSIVE ? '0' : '1';
    // a kernel without CONFIG_NUMA has one node and no such file
    const nodes = await proc.readFile(HAS_MEMORY);
    const numa = isErr(nodes) ? 1 : parseNodeList(nodes).length;
    const options: Record<string, string> = { thp, thp_zero: zero, swap: swapKiB ? `${swapKiB}K` : '0', hugetlb, numa: String(numa), zero_page: zeroPage };
    const said = new Set(spec.split('+').slice(1).map((o) => o.split('=')[0]));
    return Object.entries(options)
      .filter(([k]) => !said.has(k))
      .map(([k, v]) => `+${k}=${v}`)
      .join('');
  } finally {
    await proc.exit();
  }
}
