// Target options for the memory behind a kernel, swap=SIZE and hugetlb=N:
// the reference and QEMU targets share them with one default each, so a
// model and a kernel compared side by side get the same swap device and
// hugetlb pool unless a run asks otherwise.

/** swap=SIZE: a 64 MiB swap device */
export const DEFAULT_SWAP_KIB = 64 << 10;
/** hugetlb=N: 2 MiB pages reserved at boot (the kernel's hugepages=N) */
export const DEFAULT_HUGETLB_PAGES = 16;
const SIZE_UNITS: Readonly<Record<string, number>> = { K: 1, M: 1 << 10, G: 1 << 20 };

/** mkswap's header: one page; swapon refuses a device with no page besides it ("Empty swap-file") */
const MIN_SWAP_KIB = 8;
/** the header's last_page is 32 bits (union swap_header): 2^32 pages of 4 KiB */
const MAX_SWAP_KIB = 2 ** 34;
/**
 * hugepages=N beyond what the QEMU guests' 1 GiB can spare: 384 pages (768
 * MiB) boot; 512 leave the kernel no memory ("System is deadlocked on
 * memory", measured on 7.2 arm64). The model's machine is theirs.
 */
const MAX_HUGETLB_PAGES = 384;

/** "64M", "512K", "1G" or "0" in KiB; `who` names the target in the error. */
export function parseSwapKiB(value: string, who: string): number {
  const size = /^(\d{1,12})([KMG])$/.exec(value);
  if (value !== '0' && !size) throw new Error(`${who} option swap=${value}: expected a size such as 64M (K, M or G), or 0`);
  const kib = size ? Number(size[1]) * SIZE_UNITS[size[2]!]! : 0;
  if (kib === 0) return 0;
  if (kib % 4) throw new Error(`${who} option swap=${value}: a whole number of 4 KiB pages`);
  if (kib < MIN_SWAP_KIB) throw new Error(`${who} option swap=${value}: swapon refuses a device of the swap header alone: 0 for none, or at least 8K`);
  if (kib > MAX_SWAP_KIB) throw new Error(`${who} option swap=${value}: more than the 16T a swap header can describe (2^32 pages)`);
  return kib;
}

export function parseHugetlbPages(value: string, who: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new Error(`${who} option hugetlb=${value}: expected a number of 2 MiB pages`);
  const n = Number(value);
  if (n > MAX_HUGETLB_PAGES) throw new Error(`${who} option hugetlb=${value}: at most ${MAX_HUGETLB_PAGES} (768 MiB of the QEMU guests' 1 GiB; more leaves the kernel no memory to boot with)`);
  return n;
}

/** numa=N: nodes the memory is split over, the CPU on the first (so first-touch allocations land there), the rest memory alone */
export const DEFAULT_NUMA_NODES = 2;
/** the QEMU guests' 1 GiB split four ways leaves 256 MiB a node */
const MAX_NUMA_NODES = 4;

export function parseNumaNodes(value: string, who: string): number {
  const n = /^\d$/.test(value) ? Number(value) : 0;
  if (n < 1 || n > MAX_NUMA_NODES) throw new Error(`${who} option numa=${value}: expected a number of nodes from 1 to ${MAX_NUMA_NODES}`);
  return n;
}
