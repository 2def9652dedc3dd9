// What the features promise, checked on one target as a sequence runs,
// with no second target to compare with: a plug-in model, or a kernel with
// a bug, is judged by these alone. Each reads the process's pagemap (and
// PAGEMAP_SCAN) through the unrecorded Proc, so the call log stays the one
// a differential run compares.

import type { PmScanResult, Proc } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { PAGE, SLOT_PAGES, slotRanges, type Call } from './calls.ts';

export const ORACLES = {
  answers: 'every call is answered: the target neither dies nor fails to say what the call did',
  'soft-dirty-write':
    "a page a store completed on reads soft-dirty; hugetlb excepted, whose soft-dirty pagemap takes from the area's VM_SOFTDIRTY alone, which clear_refs clears and a write to a page already writable does not set again (7.2's pagemap_hugetlb_range())",
  'uffd-wp-write': 'a store that completed left its page without uffd-wp: asynchronous uffd-wp resolved it, recording it as written',
  'pagemap-scan-agree':
    "PAGEMAP_SCAN says of every present or swapped page what pagemap says: present, swapped, written (not uffd-wp); asked all categories, and asked only which pages are written (the question its fast paths answer)",
} as const;
export type OracleName = keyof typeof ORACLES;

/** A promise broken: by which oracle, after which call of the sequence, and what was read. */
export interface Violation {
  readonly oracle: OracleName;
  /** the index of the call after which it was found; the sequence's length for the end */
  readonly call: number;
  readonly detail: string;
}

/** What the target offers the oracles: soft-dirty to read, PAGEMAP_SCAN to compare. */
export interface OracleCaps {
  readonly softDirty: boolean;
  readonly pagemapScan: boolean;
}

const hex = (a: bigint) => `0x${a.toString(16)}`;
const pageOf = (a: bigint) => a & ~(PAGE - 1n);

/** Whether addr lies in a hugetlb area: smaps gives it a KernelPageSize other than 4 kB. */
async function inHugetlb(proc: Proc, addr: bigint): Promise<boolean> {
  const smaps = await proc.readFile('/proc/self/smaps');
  if (isErr(smaps)) return false;
  for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const [start = '', end = ''] = block.slice(0, block.indexOf(' ')).split('-');
    if (BigInt(`0x${start}`) <= addr && addr < BigInt(`0x${end}`)) return !/^KernelPageSize:\s+4 kB$/m.test(block);
  }
  return false;
}

/**
 * After call `call` completed stores to `pages`: each reads soft-dirty
 * (where the target has it) and not uffd-wp.
 */
export async function afterWrite(proc: Proc, caps: OracleCaps, call: number, pages: readonly bigint[]): Promise<Violation[]> {
  if (pages.length === 0) return [];
  const sorted = [...new Set(pages.map(pageOf))].sort((a, b) => (a < b ? -1 : 1));
  const first = sorted[0]!;
  const entries = await proc.pagemap(first, Number((sorted.at(-1)! - first) / PAGE) + 1);
  if (isErr(entries)) return [];
  const out: Violation[] = [];
  for (const page of sorted) {
    const e = entries[Number((page - first) / PAGE)] ?? 0n;
    const at = `page ${hex(page)}: pagemap ${hex(e)}`;
    if (caps.softDirty && !(e & U.PM_SOFT_DIRTY) && !(await inHugetlb(proc, page))) out.push({ oracle: 'soft-dirty-write', call, detail: `${at}, not soft-dirty after a store` });
    if (e & U.PM_UFFD_WP) out.push({ oracle: 'uffd-wp-write', call, detail: `${at}, uffd-wp after a store completed` });
  }
  return out;
}

const CATEGORIES = U.PAGE_IS_PRESENT | U.PAGE_IS_SWAPPED | U.PAGE_IS_WRITTEN;

/**
 * PAGEMAP_SCAN of [start, end): every page's categories, by page; with
 * `mask` the pages that have all of it (PAGE_IS_WRITTEN alone takes the
 * kernel's fast paths), else those with any category.
 */
async function scanCategories(proc: Proc, start: bigint, end: bigint, mask: number): Promise<Map<bigint, number> | null> {
  const found = new Map<bigint, number>();
  for (let from = start; from < end; ) {
    const r: U.Ret<PmScanResult> = await proc.pagemapScan({
      start: from,
      end,
      flags: 0,
      maxPages: 0n,
      categoryInverted: 0,
      categoryMask: mask,
      categoryAnyofMask: mask ? 0 : CATEGORIES,
      returnMask: mask || CATEGORIES,
      vecLen: 512,
    });
    if (isErr(r)) return null;
    for (const g of r.regions) for (let a = g.start; a < g.end; a += PAGE) found.set(a, g.categories);
    if (r.walkEnd <= from) return null;
    from = r.walkEnd;
  }
  return found;
}

/** At the end of a sequence: over every slot, PAGEMAP_SCAN's categories against pagemap's bits. */
export async function atEnd(proc: Proc, caps: OracleCaps, call: number): Promise<Violation[]> {
  if (!caps.pagemapScan) return [];
  const out: Violation[] = [];
  for (const [start, end] of slotRanges()) {
    const entries = await proc.pagemap(start, SLOT_PAGES);
    if (isErr(entries)) continue;
    for (const mask of [0, U.PAGE_IS_WRITTEN]) {
      const scanned = await scanCategories(proc, start, end, mask);
      if (scanned === null) continue;
      const asked = mask || CATEGORIES;
      for (const [i, e] of entries.entries()) {
        if (!(e & (U.PM_PRESENT | U.PM_SWAP))) continue;
        const page = start + BigInt(i) * PAGE;
        const want = ((e & U.PM_PRESENT ? U.PAGE_IS_PRESENT : 0) | (e & U.PM_SWAP ? U.PAGE_IS_SWAPPED : 0) | (e & U.PM_UFFD_WP ? 0 : U.PAGE_IS_WRITTEN)) & asked;
        const got = (scanned.get(page) ?? 0) & asked;
        if (got !== want)
          out.push({ oracle: 'pagemap-scan-agree', call, detail: `page ${hex(page)}: pagemap ${hex(e)} says categories ${hex(BigInt(want))}, PAGEMAP_SCAN (asked ${hex(BigInt(asked))}) ${hex(BigInt(got))}` });
      }
    }
  }
  return out;
}

/** The oracles' verdict on a sequence (sequence.ts: oracleJudge()). */
export type Judge = (calls: readonly Call[]) => Promise<readonly Violation[]>;

/**
 * Delta debugging (ddmin, greedy), as the differential fuzzer shrinks: drops
 * runs of calls, longest first, while the same oracle still fires; at most
 * `budget` runs. The calls kept, and the violation they show.
 */
export async function shrinkViolation(calls: readonly Call[], judge: Judge, oracle: OracleName, budget = 200): Promise<{ calls: Call[]; violation: Violation }> {
  let best: Call[] = [...calls];
  let shown: Violation | undefined;
  let runs = 0;
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && runs < budget; chunk = chunk === 1 ? 0 : Math.max(1, chunk >> 1)) {
    for (let i = 0; i < best.length && runs < budget; ) {
      const candidate = [...best.slice(0, i), ...best.slice(i + chunk)];
      runs++;
      const v = (await judge(candidate)).find((x) => x.oracle === oracle);
      if (v) {
        best = candidate;
        shown = v;
      } else i += chunk;
    }
  }
  shown ??= (await judge(best)).find((x) => x.oracle === oracle)!;
  return { calls: best, violation: shown };
}
