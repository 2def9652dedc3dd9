// Calls and their outcomes as text, the way a C programmer writes them
// (flag names, errno names), with what targets choose freely masked or
// named (harness/calls/names.ts): page frame numbers and swap slots are
// masked, the flags of each pagemap entry kept.

import * as U from '../../uapi/linux.ts';
import { isErr, type Ret } from '../../uapi/linux.ts';
import type { MemResult, PmScanArg, PmScanResult } from '../target.ts';
import type { CallNames } from './names.ts';

const hex = (n: bigint | number) => `0x${n.toString(16)}`;

/** Bit flags as "A|B", with any bits left over in hex; `none` for 0. A negative value is its u64 (two's complement). */
function flagNames(value: number | bigint, names: readonly (readonly [number | bigint, string])[], none = '0'): string {
  let rest = BigInt.asUintN(64, BigInt(value));
  const out: string[] = [];
  for (const [bit, name] of names) {
    const b = BigInt(bit);
    if (b !== 0n && (rest & b) === b) {
      out.push(name);
      rest &= ~b;
    }
  }
  if (rest) out.push(hex(rest));
  return out.length ? out.join('|') : none;
}

export const protNames = (p: number) =>
  flagNames(p, [[U.PROT_READ, 'PROT_READ'], [U.PROT_WRITE, 'PROT_WRITE'], [U.PROT_EXEC, 'PROT_EXEC']], 'PROT_NONE');

export const mapFlagNames = (f: number) =>
  flagNames(f, [
    [U.MAP_SHARED, 'MAP_SHARED'],
    [U.MAP_PRIVATE, 'MAP_PRIVATE'],
    [U.MAP_FIXED, 'MAP_FIXED'],
    [U.MAP_ANONYMOUS, 'MAP_ANONYMOUS'],
    [U.MAP_NORESERVE, 'MAP_NORESERVE'],
    [U.MAP_POPULATE, 'MAP_POPULATE'],
    [U.MAP_HUGETLB, 'MAP_HUGETLB'],
    [U.MAP_FIXED_NOREPLACE, 'MAP_FIXED_NOREPLACE'],
  ]);

export const mpolFlagNames = (f: number) => flagNames(f, [[U.MPOL_MF_MOVE, 'MPOL_MF_MOVE'], [U.MPOL_MF_MOVE_ALL, 'MPOL_MF_MOVE_ALL']]);
export const mremapFlagNames = (f: number) =>
  flagNames(f, [[U.MREMAP_MAYMOVE, 'MREMAP_MAYMOVE'], [U.MREMAP_FIXED, 'MREMAP_FIXED'], [U.MREMAP_DONTUNMAP, 'MREMAP_DONTUNMAP']]);

const ADVICE: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(U)
    .filter(([k, v]) => k.startsWith('MADV_') && typeof v === 'number')
    .map(([k, v]) => [v as number, k]),
);
export const shmFlagNames = (f: number) =>
  flagNames(f, [[U.IPC_CREAT, 'IPC_CREAT'], [U.SHM_HUGETLB, 'SHM_HUGETLB'], [U.SHM_R, 'SHM_R'], [U.SHM_W, 'SHM_W']]);

export const adviceName = (a: number) => ADVICE[a] ?? String(a);

const CATEGORIES: readonly (readonly [number, string])[] = [
  [U.PAGE_IS_WPALLOWED, 'WPALLOWED'],
  [U.PAGE_IS_WRITTEN, 'WRITTEN'],
  [U.PAGE_IS_FILE, 'FILE'],
  [U.PAGE_IS_PRESENT, 'PRESENT'],
  [U.PAGE_IS_SWAPPED, 'SWAPPED'],
  [U.PAGE_IS_PFNZERO, 'PFNZERO'],
  [U.PAGE_IS_HUGE, 'HUGE'],
  [U.PAGE_IS_SOFT_DIRTY, 'SOFT_DIRTY'],
  [U.PAGE_IS_GUARD, 'GUARD'],
];
export const categoryNames = (c: number) => flagNames(c, CATEGORIES);

export const uffdFeatureNames = (f: bigint) =>
  flagNames(f, [
    [U.UFFD_FEATURE_PAGEFAULT_FLAG_WP, 'PAGEFAULT_FLAG_WP'],
    [U.UFFD_FEATURE_EVENT_FORK, 'EVENT_FORK'],
    [U.UFFD_FEATURE_EVENT_REMAP, 'EVENT_REMAP'],
    [U.UFFD_FEATURE_EVENT_REMOVE, 'EVENT_REMOVE'],
    [U.UFFD_FEATURE_MISSING_HUGETLBFS, 'MISSING_HUGETLBFS'],
    [U.UFFD_FEATURE_MISSING_SHMEM, 'MISSING_SHMEM'],
    [U.UFFD_FEATURE_EVENT_UNMAP, 'EVENT_UNMAP'],
    [U.UFFD_FEATURE_SIGBUS, 'SIGBUS'],
    [U.UFFD_FEATURE_THREAD_ID, 'THREAD_ID'],
    [U.UFFD_FEATURE_MINOR_HUGETLBFS, 'MINOR_HUGETLBFS'],
    [U.UFFD_FEATURE_MINOR_SHMEM, 'MINOR_SHMEM'],
    [U.UFFD_FEATURE_EXACT_ADDRESS, 'EXACT_ADDRESS'],
    [U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM, 'WP_HUGETLBFS_SHMEM'],
    [U.UFFD_FEATURE_WP_UNPOPULATED, 'WP_UNPOPULATED'],
    [U.UFFD_FEATURE_POISON, 'POISON'],
    [U.UFFD_FEATURE_WP_ASYNC, 'WP_ASYNC'],
    [U.UFFD_FEATURE_MOVE, 'MOVE'],
  ]);

/** A pagemap entry's flags (bits 55-63) as letters, frame number or swap slot masked: "-" for none. */
export function pagemapEntry(e: bigint): string {
  const bits: readonly (readonly [bigint, string])[] = [
    [U.PM_PRESENT, 'P'],
    [U.PM_SWAP, 'S'],
    [U.PM_FILE, 'F'],
    [U.PM_MMAP_EXCLUSIVE, 'X'],
    [U.PM_UFFD_WP, 'W'],
    [U.PM_SOFT_DIRTY, 'D'],
    [U.PM_GUARD_REGION, 'G'],
  ];
  const known = bits.reduce((m, [b]) => m | b, 0n) | U.PM_PFRAME_MASK;
  const letters = bits.filter(([b]) => e & b).map(([, l]) => l).join('');
  const rest = e & ~known;
  return (letters || '-') + (rest ? `+${hex(rest)}` : '');
}

/** Equal neighbours run-length coded: "P x3, - x509". */
export function runs(items: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < items.length; ) {
    let j = i + 1;
    while (j < items.length && items[j] === items[i]) j++;
    out.push(j - i > 1 ? `${items[i]} x${j - i}` : items[i]!);
    i = j;
  }
  return out.join(', ');
}

/** A list of addresses, named: whole up to 4, else the first two, how many more, and the last. */
export function addressList(addrs: readonly bigint[], name: (a: bigint) => string): string {
  if (addrs.length <= 4) return addrs.map(name).join(', ');
  return `${name(addrs[0]!)}, ${name(addrs[1]!)}, ... ${addrs.length - 3} more, ${name(addrs.at(-1)!)}`;
}

export function errText(r: Ret<unknown>): string | null {
  return isErr(r) ? `-1 ${r.name}` : null;
}

export function memText(r: MemResult, names: CallNames): string {
  if (!r.ok) return `${r.signal} at ${names.addr(r.addr)}`;
  return r.data.length ? `ok [${byteRuns(r.data)}]` : 'ok';
}

/** runs() of the bytes' hex, counted on the bytes themselves: a load of megabytes makes no string per byte */
function byteRuns(data: Uint8Array): string {
  const out: string[] = [];
  for (let i = 0; i < data.length; ) {
    const b = data[i]!;
    let j = i + 1;
    while (j < data.length && data[j] === b) j++;
    out.push(j - i > 1 ? `${hex(b)} x${j - i}` : hex(b));
    i = j;
  }
  return out.join(', ');
}

export function scanArgText(a: PmScanArg, names: CallNames): string {
  return (
    `PAGEMAP_SCAN(${names.addr(a.start)}..${names.end(a.end)}, flags ${flagNames(a.flags, [[U.PM_SCAN_WP_MATCHING, 'WP_MATCHING'], [U.PM_SCAN_CHECK_WPASYNC, 'CHECK_WPASYNC']])}, ` +
    `inverted ${categoryNames(a.categoryInverted)}, mask ${categoryNames(a.categoryMask)}, anyof ${categoryNames(a.categoryAnyofMask)}, ` +
    `return ${categoryNames(a.returnMask)}, max_pages ${a.maxPages}, vec_len ${a.vecLen}${a.badVec ? ', bad vec' : ''}${a.nullVec ? ', NULL vec' : ''})`
  );
}

export function scanResultText(r: Ret<PmScanResult>, names: CallNames): string {
  return (
    errText(r) ??
    `${(r as PmScanResult).ret} [${(r as PmScanResult).regions.map((g) => `${names.addr(g.start)}..${names.end(g.end)} ${categoryNames(g.categories)}`).join(', ')}] walk_end ${names.end((r as PmScanResult).walkEnd)}`
  );
}

/** /proc/meminfo's hugetlb lines: the rest (MemTotal, Cached, ...) are the machine's, not the test's */
export function meminfoText(text: string): string {
  return text
    .split('\n')
    .filter((l) => /^(HugePages_|Hugepagesize:|Hugetlb:)/.test(l))
    .join('\n');
}

/** The smaps entries of the areas the log knows, addresses named, device and inode dropped, in the order of their names. */
export function smapsText(text: string, names: CallNames): string {
  const entries: { key: readonly [string, number, bigint]; lines: string[] }[] = [];
  let keep = false;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const start = BigInt(`0x${head[1]}`);
      keep = names.known(start);
      if (!keep) continue;
      const name = names.addr(start);
      const [, kind = '', index = '0', offset = '0'] = /^([SM])(\d+)\+0x([0-9a-f]+)$/.exec(name) ?? [];
      entries.push({ key: [kind, Number(index), BigInt(`0x${offset}`)], lines: [`${name}-${names.end(BigInt(`0x${head[2]}`))} ${head[3]} ${head[4]} ${head[5]}`.trimEnd()] });
    } else if (keep && line) entries.at(-1)!.lines.push(line.replace(/\s+/g, ' '));
  }
  // where a target puts the areas it chooses, among its own, is its choice: so is their order in the file
  const cmp = (a: (typeof entries)[number], b: (typeof entries)[number]) =>
    a.key[0].localeCompare(b.key[0]) || a.key[1] - b.key[1] || (a.key[2] < b.key[2] ? -1 : a.key[2] > b.key[2] ? 1 : 0);
  return entries
    .sort(cmp)
    .flatMap((e) => e.lines)
    .join('\n');
}
