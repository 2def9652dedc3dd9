// Target options for the memory behind a kernel, swap=SIZE and hugetlb=N:
// the reference and QEMU targets share them with one default each, so a
// model and a kernel compared side by side get the same swap device and
// hugetlb pool unless a run asks otherwise.

/** swap=SIZE: a 64 MiB swap device */
export const DEFAULT_SWAP_KIB = 64 << 10;
/** hugetlb=N: 2 MiB pages reserved at boot (the kernel's hugepages=N) */
export const DEFAULT_HUGETLB_PAGES = 16;
const SIZE_UNITS: Readonly<Record<string, number>> = { K: 1, M: 1 << 10, G: 1 << 20 };

/** "64M", "512K", "1G" or "0" in KiB; `who` names the target in the error. */
export function parseSwapKiB(value: string, who: string): number {
  const size = /^(\d+)([KMG])$/.exec(value);
  if (value !== '0' && !size) throw new Error(`${who} option swap=${value}: expected a size such as 64M (K, M or G), or 0`);
  return size ? Number(size[1]) * SIZE_UNITS[size[2]!]! : 0;
}

export function parseHugetlbPages(value: string, who: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`${who} option hugetlb=${value}: expected a number of 2 MiB pages`);
  return Number(value);
}
